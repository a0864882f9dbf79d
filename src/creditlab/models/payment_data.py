"""The payment-timing model's data: its settings, one row per invoice with its lateness and
covariates as of a date, and the exact likelihood cells those rows collapse into.

See :mod:`creditlab.models.payment` for the model itself: buckets of days from due date to
payment, right-censoring of open invoices, truncation at the issue date.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from creditlab.errors import ConfigError
from creditlab.kpi import as_timestamp
from creditlab.ledger.schema import (
    AMOUNT,
    COUNTRY,
    CUSTOMER_ID,
    DISPUTED,
    DUE_ON,
    EVENT_ON,
    INVOICE_ID,
    ISSUED_ON,
    KIND,
    PAID_ON,
    PAPERLESS,
)
from creditlab.models.payment_stall import default_events_on, stall_entry

log = logging.getLogger(__name__)

__all__ = [
    "COUNTRY_CALENDAR",
    "COVARIATES",
    "DEFAULT_EDGES",
    "FIT_VERSION",
    "PaymentConfig",
    "bank_holidays",
    "disputed_by",
    "payer_calendars",
    "payment_cells",
    "payment_frame",
]

COUNTRY_CALENDAR = "country"  # holidays: each customer's own country's (customers' country column)
# what a fitted payment model holds (own shapes, the due-week factor, the month-turn lift since 2;
# the lift across lateness buckets since 3): part of the cache key, so a fit cached before a
# change is made afresh
FIT_VERSION = 3
DEFAULT_EDGES = (-21, -14, -10, -7, -4, -2, 0, 2, 4, 7, 10, 14, 21, 30, 45, 60, 90, 120, 180, 365)
COVARIATES = ("disputed", "amount_low", "amount_high", "paperless")
_TRUE_TEXT = {"true", "yes", "y", "1", "electronic", "paperless", "e-invoice", "email"}


def bank_holidays(calendars: tuple[str, ...], first_year: int, last_year: int) -> np.ndarray:
    """The days banks are closed under ``calendars`` from ``first_year`` to ``last_year``, sorted
    (``datetime64[D]``): each a country (ISO code: ``US``, ``DE``, ``GB``; a region after a dash:
    ``DE-BY``) or a financial calendar (``FED``: US banks, ``ECB``: TARGET2 for euro payments),
    from the ``holidays`` package. (In ``PaymentConfig.holidays``, ``country`` stands for each
    customer's own country: :func:`payer_calendars`.) On the HighRadius ledger (US) 0 to 15
    invoices clear on a federal holiday against 123 on a median weekday, and 170 to 260 the day
    after."""
    if not calendars:
        return np.array([], dtype="datetime64[D]")
    import holidays

    years = range(first_year, last_year + 1)
    financial = holidays.list_supported_financial()
    days: set = set()
    for name in calendars:
        country, _, region = name.partition("-")
        try:
            if name in financial:
                found = holidays.financial_holidays(name, years=years)
            else:
                found = holidays.country_holidays(country, subdiv=region or None, years=years)
        except NotImplementedError as err:
            raise ConfigError(
                f"holidays: unknown calendar {name!r} (a country code such as US, DE, GB, a region "
                "such as DE-BY, or a financial calendar such as FED (US banks), ECB (TARGET2: euro "
                "payments), NYSE or LSE)"
            ) from err
        days.update(found)
    return np.array(sorted(days), dtype="datetime64[D]")


def payer_calendars(
    names: tuple[str, ...], countries: np.ndarray, first_year: int, last_year: int
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The bank holidays each payer meets: ``(codes, calendars)``, row ``i`` closed on
    ``calendars[codes[i]]``. Every row has the calendars ``names`` holds; with ``country`` among
    them, each row also its own country's (``countries``: ISO codes; a code the ``holidays``
    package does not know, or none, adds nothing and is logged)."""
    common = bank_holidays(tuple(n for n in names if n != COUNTRY_CALENDAR), first_year, last_year)
    if COUNTRY_CALENDAR not in names:
        return np.zeros(len(countries), dtype=np.int64), [common]
    levels, codes = np.unique(np.asarray(countries, dtype=str), return_inverse=True)
    calendars, unknown = [], []
    for country in levels:
        try:
            own = bank_holidays((country,), first_year, last_year) if country else common[:0]
        except ConfigError:
            own, unknown = common[:0], [*unknown, country]
        calendars.append(np.union1d(common, own))
    if unknown:
        log.info("no holiday calendar for the customers' country codes %s", unknown)
    return codes.astype(np.int64), calendars


@dataclasses.dataclass(frozen=True)
class PaymentConfig:
    """Buckets, covariates and priors of the payment-timing model (printed in the report)."""

    edges: tuple[int, ...] = DEFAULT_EDGES
    covariates: tuple[str, ...] = COVARIATES
    group: str | None = "industry"
    amount_low: float = 0.5
    amount_high: float = 2.0
    prior_cut_sigma: float = 5.0
    prior_gap_days: float = 4.0
    prior_beta_sigma: float = 2.5
    prior_customer_sigma: float = 3.0
    prior_group_sigma: float = 1.5
    centred_min_invoices: int = 8
    centred_min_group_customers: int = 20
    calendar: bool = True
    prior_scale_sigma: float = 0.5
    own_timing_min_invoices: int = 150
    own_shape_min_invoices: int = 5
    prior_weekday_sigma: float = 1.0
    calendar_prior_payments: float | str = "auto"  # "auto": learnt from the customers' calendars
    holidays: tuple[str, ...] = ()
    stall: bool = True
    stall_prior_payments: float = 2.0
    stall_prior_half_days: float = 365.0
    sample_customers: int = 1000
    sample_above: int = 2000

    def __post_init__(self) -> None:
        object.__setattr__(self, "edges", tuple(int(e) for e in self.edges))
        object.__setattr__(self, "covariates", tuple(self.covariates))
        names = (self.holidays,) if isinstance(self.holidays, str) else tuple(self.holidays)
        object.__setattr__(self, "holidays", tuple(str(h) for h in names))
        # an unknown calendar fails here, not at forecast
        bank_holidays(tuple(h for h in self.holidays if h != COUNTRY_CALENDAR), 2000, 2000)
        e = np.asarray(self.edges)
        if len(e) < 5 or np.any(np.diff(e) <= 0) or 0 not in e:
            raise ConfigError("edges must be >= 5 strictly increasing whole days including 0")
        for needed in (30, 60, 90):
            if needed not in e:
                raise ConfigError(f"edges must include {needed} (P(> {needed} DPD) is reported)")
        bad = sorted(set(self.covariates) - set(COVARIATES))
        if bad:
            raise ConfigError(f"unknown covariate(s) {bad}; known: {list(COVARIATES)}")
        if not 0 < self.amount_low < 1 < self.amount_high:
            raise ConfigError("need 0 < amount_low < 1 < amount_high")
        if self.own_shape_min_invoices < 1:
            raise ConfigError("own_shape_min_invoices must be >= 1 (invoices a customer needs)")
        k = self.calendar_prior_payments
        if k != "auto" and (isinstance(k, bool | str) or not k > 0):
            raise ConfigError(
                "calendar_prior_payments must be auto or > 0 (payments' worth of prior)"
            )
        if self.sample_customers < 0 or self.sample_above < self.sample_customers:
            raise ConfigError(
                "need 0 <= sample_customers <= sample_above (sample_customers 0: fit every "
                "customer by NUTS)"
            )
        if self.stall_prior_payments <= 0 or self.stall_prior_half_days <= 0:
            raise ConfigError("stall_prior_payments and stall_prior_half_days must be > 0")


def _flag(values: pd.Series) -> np.ndarray:
    if pd.api.types.is_bool_dtype(values):
        return values.fillna(False).to_numpy(dtype=bool)
    text = values.astype("string").str.strip().str.lower()
    return text.isin(_TRUE_TEXT).fillna(False).to_numpy(dtype=bool)


def disputed_by(invoices: pd.DataFrame, events: pd.DataFrame | None, as_of) -> np.ndarray:
    """Whether each invoice was disputed while it was open, as known on ``as_of``: its own
    ``disputed`` flag, or a ``dispute_opened`` event about it dated on or before ``as_of`` and
    not after the day it was paid (a ledger that keeps disputes in a dispute-management system
    has them as events only; a complaint after the payment did not delay it)."""
    flag = _flag(invoices[DISPUTED]) if DISPUTED in invoices else np.zeros(len(invoices), bool)
    if events is None or events.empty or INVOICE_ID not in events:
        return flag
    t = as_timestamp(as_of)
    ev = events.loc[(events[KIND] == "dispute_opened") & (events[EVENT_ON] <= t)]
    about = ev[INVOICE_ID].astype("string").fillna("")
    first = ev.loc[about != "", EVENT_ON].groupby(about[about != ""]).min()
    opened = pd.to_datetime(invoices[INVOICE_ID].astype("string").map(first))
    paid_on = pd.to_datetime(invoices[PAID_ON])
    while_open = opened.notna() & ~(paid_on < opened)
    return flag | while_open.to_numpy(dtype=bool)


def payment_frame(
    invoices: pd.DataFrame,
    customers: pd.DataFrame,
    as_of,
    config: PaymentConfig | None = None,
    group: str | None = "industry",
    usual: pd.Series | None = None,
    events: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Invoices issued by ``as_of`` with what the model needs, as known on ``as_of``.

    Returns ``invoice_id, customer_id, <group>, issued_on, due_on, amount, terms, paid,
    days_late`` (``paid_on - due_on`` where paid by ``as_of``), ``dpd_now`` (``as_of - due_on``),
    ``due_weekday`` (0 = Monday), ``stall_from`` (the days past due at which the invoice entered
    the stall by ``as_of``, NaN where it did not: :func:`~creditlab.models.payment_stall.stall_entry`
    with the default events of ``events``) and the 0/1 covariates (``disputed``: the invoice's flag
    or a dispute event of ``events``, :func:`disputed_by`). The amount covariates compare an
    invoice with its customer's usual amount: ``usual`` (customer_id -> amount, e.g. medians from
    a training period) or else the median of the customer's invoices in the frame.
    """
    cfg = config or PaymentConfig()
    t = as_timestamp(as_of)
    inv = invoices.loc[invoices[ISSUED_ON] <= t]
    paid = inv[PAID_ON].notna().to_numpy() & (inv[PAID_ON] <= t).fillna(False).to_numpy()
    frame = pd.DataFrame(
        {
            INVOICE_ID: inv[INVOICE_ID].to_numpy(),
            CUSTOMER_ID: inv[CUSTOMER_ID].astype(str).to_numpy(),
            ISSUED_ON: inv[ISSUED_ON].to_numpy(),
            DUE_ON: inv[DUE_ON].to_numpy(),
            AMOUNT: inv[AMOUNT].to_numpy(dtype=float),
            "terms": (inv[DUE_ON] - inv[ISSUED_ON]).dt.days.to_numpy(),
            "paid": paid,
            "days_late": np.where(paid, (inv[PAID_ON] - inv[DUE_ON]).dt.days, np.nan),
            "dpd_now": (t - inv[DUE_ON]).dt.days.to_numpy(),
            "due_weekday": inv[DUE_ON].dt.day_of_week.to_numpy(),
        }
    )
    terms = frame["terms"].to_numpy()
    frame["stall_from"] = stall_entry(inv, t, default_events_on(events, t), terms)
    if group:
        levels = customers.set_index(customers[CUSTOMER_ID].astype(str))[group].astype(str)
        frame[group] = frame[CUSTOMER_ID].map(levels).fillna("unknown").to_numpy()
    if COUNTRY_CALENDAR in cfg.holidays and COUNTRY in customers and group != COUNTRY:
        codes = customers.set_index(customers[CUSTOMER_ID].astype(str))[COUNTRY]
        codes = codes.astype("string").str.strip().str.upper()
        frame[COUNTRY] = frame[CUSTOMER_ID].map(codes).fillna("").to_numpy(dtype=str)
    median = frame.groupby(CUSTOMER_ID)[AMOUNT].transform("median")
    if usual is not None:
        median = frame[CUSTOMER_ID].map(usual).fillna(median)
    ratio = frame[AMOUNT].to_numpy() / median.to_numpy()
    frame["disputed"] = disputed_by(inv, events, t)
    frame["amount_low"] = ratio < cfg.amount_low
    frame["amount_high"] = ratio > cfg.amount_high
    frame["paperless"] = _flag(inv[PAPERLESS]) if PAPERLESS in inv else False
    return frame


def _bucket(days: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bucket index of whole days: ``D <= edges[0]`` is 0, past the last edge ``len(edges)``."""
    return np.searchsorted(edges, days, side="left").astype(np.int64)


def payment_cells(
    frame: pd.DataFrame, edges: Sequence[int], covariates: Sequence[str], weekday: bool = False
):
    """Aggregate invoices into likelihood cells (exact: every term depends only on the cell).

    Returns ``(cells, patterns)``: cells hold ``customer, pattern, lo`` (bucket, or first possible
    bucket of a censored invoice), ``censored``, ``trunc`` (bucket of the issue date),
    ``due_weekday`` (0 for every cell unless ``weekday``) and ``n``; patterns is the 0/1
    covariate matrix of each pattern.
    """
    e = np.asarray(edges)
    paid = frame["paid"].to_numpy()
    late = frame["days_late"].to_numpy()
    # open invoice: D > dpd_now, i.e. D >= dpd_now + 1
    lo = np.where(
        paid,
        _bucket(np.nan_to_num(late).astype(np.int64), e),
        _bucket(frame["dpd_now"].to_numpy() + 1, e),
    )
    trunc = _bucket(-frame["terms"].to_numpy(), e)
    x = frame[list(covariates)].to_numpy(dtype=np.int8) if covariates else np.zeros((len(frame), 0))
    patterns, pattern = np.unique(x, axis=0, return_inverse=True)
    keys = pd.DataFrame(
        {
            "customer": frame["_customer"].to_numpy(),
            "pattern": pattern.ravel(),
            "lo": lo,
            "censored": ~paid,
            "trunc": trunc,
            "due_weekday": frame["due_weekday"].to_numpy() if weekday else 0,
        }
    )
    cells = keys.groupby(list(keys.columns), sort=False).size().rename("n").reset_index()
    return cells, patterns.astype(float)
