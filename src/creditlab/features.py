"""Point-in-time customer features and 12-month default labels.

Everything is computed as of a snapshot date ``s`` from rows dated on or before ``s`` (no
look-ahead): an invoice is known once issued, paid only if ``paid_on <= s``. The default definition
is the project's (``shared/DOMAIN.md``): a customer defaults at the first of (a) an invoice reaching 90
days past due, (b) a write-off, insolvency or collections-agency event. A :class:`Materiality`
threshold (params ``pd_model.default_materiality``) can ask more of (a): that the customer's amount
90+ days past due be material, as the EBA's definition of default does. The label of a snapshot is
``default within the 12 months after s``; customers already in default at ``s`` are not rows of it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

import numpy as np
import pandas as pd

from creditlab.ledger.schema import (
    AMOUNT,
    ANNUAL_REVENUE,
    COUNTRY,
    CREDIT_LIMIT,
    CUSTOMER_ID,
    DEFAULT_EVENTS,
    DISPUTED,
    DUE_ON,
    EVENT_ON,
    EXTERNAL_SCORE,
    FOLLOW_UP,
    IN_DEFAULT,
    INDUSTRY,
    ISSUED_ON,
    KIND,
    ONBOARDED_ON,
    OPEN_AR,
    PAID_ON,
)

__all__ = [
    "DEFAULT_DPD",
    "FEATURES",
    "FEATURE_LABELS",
    "HAZARD_TARGET",
    "Materiality",
    "NO_THRESHOLD",
    "SIGNAL_FEATURES",
    "SNAPSHOT",
    "WINDOW",
    "TARGET",
    "TrainingData",
    "cured_defaults",
    "default_dates",
    "describe_feature",
    "hazard_data",
    "overlap_weights",
    "snapshot_features",
    "thin_file",
    "training_data",
]

log = logging.getLogger(__name__)

DEFAULT_DPD = 90
HORIZON_DAYS = 365
SNAPSHOT, TARGET = "snapshot", "default_12m"
HAZARD_TARGET = "default_in_month"  # the monthly hazard's label (see hazard_data)
WINDOW = "months_observable"  # months after a hazard row's snapshot the data can show
FEATURES = (
    "mean_days_late_12m",
    "late_trend",
    "share_late_12m",
    "max_dpd_3m",
    "max_dpd_6m",
    "max_dpd_12m",
    "utilisation",
    "log_open_ar",
    "tenure_years",
    "log_invoices_12m",
    "dispute_share_12m",
    "external_score",
    "log_revenue",
)

# Features from the relationship events (computed by creditlab.signals.signal_features); the PD
# model adds them where the ledger has such events (``pd_model.signals``)
SIGNAL_FEATURES = (
    "promises_broken_12m",
    "bureau_score_change",
    "bank_change_90d",
    "adverse_media_90d",
)

# What each feature measures, in the words a credit analyst uses (reports and widgets show these).
FEATURE_LABELS = {
    "mean_days_late_12m": "average days late on invoices paid in the last 12 months",
    "late_trend": "days late recently compared with a year ago (positive = paying later)",
    "share_late_12m": "share of invoices paid late in the last 12 months",
    "max_dpd_3m": "most days past due in the last 3 months",
    "max_dpd_6m": "most days past due in the last 6 months",
    "max_dpd_12m": "most days past due in the last 12 months",
    "utilisation": "open receivables as a share of the credit limit",
    "log_open_ar": "open receivables (log scale)",
    "tenure_years": "years as a customer",
    "log_invoices_12m": "invoices in the last 12 months (log scale)",
    "dispute_share_12m": "share of invoices disputed in the last 12 months",
    "external_score": "external credit score (bureau or rating)",
    "log_revenue": "customer's annual revenue (log scale)",
    "promises_broken_12m": "promises to pay broken in the last 12 months",
    "bureau_score_change": "bureau score against its best of the half-year before",
    "bank_change_90d": "bank account changed in the last 90 days",
    "adverse_media_90d": "adverse media in the last 90 days",
}


THIN_FILE_INVOICES, THIN_FILE_YEARS = 3, 0.5  # fewer invoices in 12 months, or a shorter tenure


def thin_file(features: pd.DataFrame) -> np.ndarray:
    """Whether each customer of a :func:`snapshot_features` frame has a *thin file*: fewer than
    ``THIN_FILE_INVOICES`` invoices in the last 12 months or under ``THIN_FILE_YEARS`` of tenure,
    so its PD rests more on its industry, country, score and the priors than on its own record."""
    invoices = np.expm1(features["log_invoices_12m"].to_numpy(dtype=float))
    tenure = features["tenure_years"].to_numpy(dtype=float)
    return (invoices < THIN_FILE_INVOICES - 0.5) | (tenure < THIN_FILE_YEARS)


def describe_feature(name: str) -> str:
    """A predictor's name in plain words: ``share_late_12m`` -> "share of invoices paid late in the
    last 12 months"; ``<feature>_missing`` -> "no data on <feature>"; a column of a user's table
    that is not one of :data:`FEATURES` is shown with spaces for underscores; an interaction
    ``a x b`` reads "<a> together with <b>"."""
    if " x " in name:
        a, b = name.split(" x ", 1)
        return f"{describe_feature(a)} together with {describe_feature(b)}"
    if name.endswith("_missing"):
        return f"no data on {describe_feature(name.removesuffix('_missing'))}"
    return FEATURE_LABELS.get(name, name.replace("_", " "))


def _days(a: np.ndarray, b: np.datetime64) -> np.ndarray:
    return (b - a).astype("timedelta64[D]").astype(float)


@dataclasses.dataclass(frozen=True)
class Materiality:
    """When invoices 90+ days past due make a default: the customer's amount 90+ days past due
    must reach ``amount`` (portfolio currency) and ``share`` of its open receivables on the same
    day. Both 0 (the default): any one invoice 90+ days past due, as ``shared/DOMAIN.md`` defines
    it. The EBA's definition of default for companies uses 500 EUR and 1 %: a large customer
    whose few small invoices cleared late is then not in default."""

    amount: float = 0.0
    share: float = 0.0

    def __post_init__(self) -> None:
        for name in ("amount", "share"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"{name}: expected a number >= 0, got {value!r}")
        if self.share > 1:
            raise ValueError(f"share: expected a share between 0 and 1, got {self.share!r}")

    @property
    def applies(self) -> bool:
        return self.amount > 0 or self.share > 0

    def describe(self, currency: str = "") -> str:
        """The 90+ DPD part of the definition of default in words."""
        if not self.applies:
            return "an invoice 90+ days past due"
        parts = [f"{self.amount:,.0f} {currency}".rstrip()] if self.amount > 0 else []
        parts += [f"{self.share:.0%} of the customer's open receivables"] if self.share > 0 else []
        return f"invoices 90+ days past due adding up to at least {' and '.join(parts)}"


NO_THRESHOLD = Materiality()  # any one invoice 90+ days past due makes a default


def _material_dpd_defaults(
    invoices: pd.DataFrame, late: np.ndarray, hit: np.ndarray, t: np.datetime64, m: Materiality
) -> pd.Series:
    """Each customer's first day, up to ``t``, on which its invoices 90+ days past due and unpaid
    (rows ``late``, reaching 90 days on ``hit``) add up to a material amount (``m``).

    That day is one where an invoice reaches 90 days past due, or where another invoice's payment
    shrinks the open receivables the share is taken of; each such day of a customer with a late
    invoice is checked: its amount 90+ days past due from the late invoices alive then, its open
    receivables from cumulative sums of the customer's issued and paid amounts."""
    if not late.any():
        return pd.Series([], dtype="datetime64[s]")
    cid = invoices[CUSTOMER_ID].to_numpy()
    code, names = pd.factorize(cid)
    amount = invoices[AMOUNT].to_numpy(dtype=float)
    issued = invoices[ISSUED_ON].to_numpy(dtype="datetime64[D]").astype(np.int64)
    paid_d = invoices[PAID_ON].to_numpy(dtype="datetime64[D]")
    paid = np.where(np.isnat(paid_d), np.iinfo(np.int64).max // 4, paid_d.astype(np.int64))
    hit_d, t_d = hit.astype("datetime64[D]").astype(np.int64), int(t.astype(np.int64))
    span = np.int64(1 << 32)  # a customer's days sort inside its own block of keys
    # the days to check: every late invoice's 90th day, and every payment after a customer's first
    first = pd.Series(hit_d[late]).groupby(code[late]).min()
    after = pd.Series(code).map(first).to_numpy()
    pays = ~np.isnan(after) & (paid >= np.nan_to_num(after)) & (paid <= t_d)
    days = pd.DataFrame(
        {
            "c": np.concatenate([code[late], code[pays]]),
            "d": np.concatenate([hit_d[late], paid[pays]]),
        }
    ).drop_duplicates()
    c, d = days["c"].to_numpy(np.int64), days["d"].to_numpy(np.int64)

    def cumulative(day: np.ndarray, keep: np.ndarray) -> np.ndarray:
        """Amount of each checked (customer, day) with ``day`` on or before it."""
        key = code[keep].astype(np.int64) * span + day[keep]
        order = np.argsort(key)
        sums = np.concatenate([[0.0], np.cumsum(amount[keep][order])])
        keys = key[order]
        return (
            sums[np.searchsorted(keys, c * span + d, "right")]
            - sums[np.searchsorted(keys, c * span, "left")]
        )

    everything = np.ones(len(code), bool)
    open_ar = cumulative(issued, everything) - cumulative(paid, paid <= t_d)
    rows = pd.DataFrame({"c": code[late], "h": hit_d[late], "p": paid[late], "a": amount[late]})
    pairs = days.merge(rows, on="c")
    alive = (pairs["h"] <= pairs["d"]) & (pairs["p"] > pairs["d"])
    past_due = (
        pairs.loc[alive].groupby(["c", "d"])["a"].sum().reindex(pd.MultiIndex.from_arrays([c, d]))
    ).to_numpy()
    material = (past_due > 0) & (past_due >= m.amount) & (past_due >= m.share * open_ar)
    when = pd.Series(d[material]).groupby(c[material]).min()
    return pd.Series(when.to_numpy().astype("datetime64[D]"), index=names[when.index.to_numpy()])


def default_dates(
    invoices: pd.DataFrame,
    events: pd.DataFrame,
    as_of: dt.date,
    materiality: Materiality = NO_THRESHOLD,
) -> pd.Series:
    """Each customer's first default date known at ``as_of`` (NaT when none)."""
    t = np.datetime64(pd.Timestamp(as_of).date(), "D")
    due = invoices[DUE_ON].to_numpy(dtype="datetime64[D]")
    paid = invoices[PAID_ON].to_numpy(dtype="datetime64[D]")
    hit = due + np.timedelta64(DEFAULT_DPD, "D")
    late = (hit <= t) & (np.isnat(paid) | (paid > hit))
    if materiality.applies:
        dpd_default = _material_dpd_defaults(invoices, late, hit, t, materiality)
    else:
        dpd_default = pd.Series(hit[late], index=invoices[CUSTOMER_ID].to_numpy()[late])
    ev = events.loc[events[KIND].isin(DEFAULT_EVENTS) & (events[EVENT_ON] <= pd.Timestamp(t))]
    ev_default = pd.Series(ev[EVENT_ON].to_numpy(dtype="datetime64[D]"), index=ev[CUSTOMER_ID])
    both = pd.concat([dpd_default, ev_default])
    return both.groupby(level=0).min().astype("datetime64[s]").rename("default_on")


def cured_defaults(
    invoices: pd.DataFrame,
    events: pd.DataFrame,
    as_of: dt.date,
    months: int,
    materiality: Materiality = NO_THRESHOLD,
) -> pd.Index:
    """The customers in default at ``as_of`` (:func:`default_dates`) whose default has cured by
    then: it came from invoices 90+ days past due, not from a write-off, insolvency or
    collections-agency event (those never cure), and none of their invoices, of any amount, was
    90+ days past due and unpaid on any day of the ``months`` months before ``as_of`` (the
    probation). ``months`` 0: none cures.

    Examples
    --------
    >>> inv = pd.DataFrame({"customer_id": ["A"], "due_on": [pd.Timestamp("2026-01-01")],
    ...     "paid_on": [pd.Timestamp("2026-04-15")], "amount": [100.0],
    ...     "issued_on": [pd.Timestamp("2025-12-01")]})
    >>> ev = pd.DataFrame({"customer_id": [], "event_on": pd.to_datetime([]), "kind": []})
    >>> cured_defaults(inv, ev, dt.date(2026, 8, 1), 3).tolist()
    ['A']
    >>> cured_defaults(inv, ev, dt.date(2026, 6, 1), 3).tolist()
    []
    """
    if months <= 0:
        return pd.Index([], dtype=object)
    return _cured(
        default_dates(invoices, events, as_of, materiality).index, invoices, events, as_of, months
    )


def _cured(
    defaulted: pd.Index, invoices: pd.DataFrame, events: pd.DataFrame, as_of: dt.date, months: int
) -> pd.Index:
    """Of the customers in default at ``as_of`` (``defaulted``), those whose default is over
    (:func:`cured_defaults`)."""
    t = pd.Timestamp(pd.Timestamp(as_of).date())
    by_event = events.loc[
        events[KIND].isin(DEFAULT_EVENTS) & (events[EVENT_ON] <= t), CUSTOMER_ID
    ].unique()
    # 90+ days past due and unpaid on a day after the probation began: it reached day 90 by
    # as_of and was not paid by that day or the probation's first, whichever is later
    hit = pd.to_datetime(invoices[DUE_ON]) + pd.Timedelta(days=DEFAULT_DPD)
    since = t - pd.DateOffset(months=months)
    recent = (hit <= t) & ~(pd.to_datetime(invoices[PAID_ON]) <= hit.clip(lower=since))
    still = invoices.loc[recent, CUSTOMER_ID].unique()
    return defaulted.difference(pd.Index(by_event)).difference(pd.Index(still))


def snapshot_features(
    customers: pd.DataFrame,
    invoices: pd.DataFrame,
    events: pd.DataFrame,
    snapshot: dt.date,
    materiality: Materiality = NO_THRESHOLD,
    cure_months: int = 0,
) -> pd.DataFrame:
    """Features of every customer onboarded at ``snapshot``, and whether it is in default then
    (:func:`default_dates` under ``materiality``; with ``cure_months``, a default that is over by
    then, :func:`cured_defaults`, is not: the state of a customer being scored, never of a
    training row, whose label needs its first default).

    Returns one row per customer: ``customer_id, industry, country, snapshot, in_default`` and the
    :data:`FEATURES` (NaN where a feature has no data, e.g. no invoices due in the last 12 months).
    """
    s = np.datetime64(pd.Timestamp(snapshot).date(), "D")
    known = invoices.loc[invoices[ISSUED_ON] <= pd.Timestamp(s)]
    cid = known[CUSTOMER_ID].to_numpy()
    due = known[DUE_ON].to_numpy(dtype="datetime64[D]")
    issued = known[ISSUED_ON].to_numpy(dtype="datetime64[D]")
    paid = known[PAID_ON].to_numpy(dtype="datetime64[D]")
    open_ = np.isnat(paid) | (paid > s)
    end = np.where(open_, s, paid)  # last day the invoice was unpaid (as far as s knows)
    lateness = (end - due).astype("timedelta64[D]").astype(float)
    age_due = _days(due, s)  # days since due (negative: not yet due)
    age_issued = _days(issued, s)
    since_end = _days(end, s)

    frame = pd.DataFrame({CUSTOMER_ID: cid})
    due_12 = (age_due >= 0) & (age_due < 365)
    frame["_late_12"] = np.where(due_12, np.maximum(lateness, 0), np.nan)
    frame["_is_late_12"] = np.where(due_12, (lateness > 0).astype(float), np.nan)
    frame["_late_recent"] = np.where(due_12 & (age_due < 90), np.maximum(lateness, 0), np.nan)
    frame["_late_older"] = np.where(due_12 & (age_due >= 90), np.maximum(lateness, 0), np.nan)
    for months, days in ((3, 91), (6, 182), (12, 365)):
        frame[f"max_dpd_{months}m"] = np.where(
            (age_due >= 0) & (since_end < days), np.maximum(lateness, 0), 0.0
        )
    frame["_open_ar"] = np.where(open_, known["amount"].to_numpy(dtype=float), 0.0)
    issued_12 = age_issued < 365
    frame["_n_12"] = issued_12.astype(float)
    frame["_disputed_12"] = np.where(issued_12, known[DISPUTED].to_numpy(dtype=float), np.nan)
    g = frame.groupby(CUSTOMER_ID)
    per = pd.DataFrame(
        {
            "mean_days_late_12m": g["_late_12"].mean(),
            "late_trend": g["_late_recent"].mean() - g["_late_older"].mean(),
            "share_late_12m": g["_is_late_12"].mean(),
            "max_dpd_3m": g["max_dpd_3m"].max(),
            "max_dpd_6m": g["max_dpd_6m"].max(),
            "max_dpd_12m": g["max_dpd_12m"].max(),
            OPEN_AR: g["_open_ar"].sum(),
            "invoices_12m": g["_n_12"].sum(),
            "dispute_share_12m": g["_disputed_12"].mean(),
        }
    )
    onboarded = customers[ONBOARDED_ON] <= pd.Timestamp(s)
    cust = customers.loc[onboarded].set_index(CUSTOMER_ID)
    out = cust[[INDUSTRY, COUNTRY]].join(per, how="left")
    out[["max_dpd_3m", "max_dpd_6m", "max_dpd_12m", OPEN_AR, "invoices_12m"]] = out[
        ["max_dpd_3m", "max_dpd_6m", "max_dpd_12m", OPEN_AR, "invoices_12m"]
    ].fillna(0.0)
    limit = cust[CREDIT_LIMIT].astype(float)
    out["utilisation"] = np.where(limit > 0, out[OPEN_AR] / limit, np.nan)
    out["log_open_ar"] = np.log1p(out[OPEN_AR])
    out["tenure_years"] = _days(cust[ONBOARDED_ON].to_numpy(dtype="datetime64[D]"), s) / 365.25
    out["log_invoices_12m"] = np.log1p(out["invoices_12m"])
    out["external_score"] = cust[EXTERNAL_SCORE].astype(float) if EXTERNAL_SCORE in cust else np.nan
    out["log_revenue"] = (
        np.log1p(cust[ANNUAL_REVENUE].astype(float)) if ANNUAL_REVENUE in cust else np.nan
    )
    defaults = default_dates(invoices, events, snapshot, materiality).index
    if cure_months > 0:
        defaults = defaults.difference(_cured(defaults, invoices, events, snapshot, cure_months))
    out[IN_DEFAULT] = out.index.isin(defaults)
    out[SNAPSHOT] = pd.Timestamp(s)
    out = out.reset_index()
    return out[[CUSTOMER_ID, INDUSTRY, COUNTRY, SNAPSHOT, IN_DEFAULT, *FEATURES]]


@dataclasses.dataclass
class TrainingData:
    """Stacked snapshots with labels, split out of time.

    Each training row is labelled in ``train[target]`` with default in the ``period_months`` after
    its snapshot (12 for the classic design, 1 for the monthly hazard); each validation row in
    ``validation[target]`` with default in the ``validation_months`` after the validation snapshot.
    """

    train: pd.DataFrame
    validation: pd.DataFrame
    snapshots: list[dt.date]
    validation_snapshot: dt.date
    target: str = TARGET
    period_months: int = 12
    validation_months: int = 12

    @property
    def hazard(self) -> bool:
        """Whether the rows are a monthly hazard's (see :func:`hazard_data`)."""
        return self.period_months == 1

    @property
    def weights(self) -> np.ndarray:
        """How much each training row counts in the likelihood (:func:`overlap_weights`)."""
        return overlap_weights(self.train, self.hazard)


def overlap_weights(train: pd.DataFrame, hazard: bool) -> np.ndarray:
    """Weights under which every customer-month of the training rows counts once.

    Snapshots a few months apart, each followed for 12 months, overlap: a customer's month of
    exposure, and its default, sit in up to 12 / spacing rows (4 for quarterly snapshots, 12 for
    monthly ones). A likelihood that counted every row fully would be that many times too sure:
    on synthetic low-default ledgers the 90 % intervals then held the true PD for only about half
    of the customers (``benchmarks/pd_coverage.py``). Month ``m`` of a row gets the weight
    ``1 / n``, ``n`` the number of the customer's rows that cover the same calendar month. For the
    monthly hazard that is a (rows, 12) matrix, zero past each row's follow-up; for 12-month labels
    each row's mean over its 12 months.
    """
    snap = pd.to_datetime(train[SNAPSHOT])
    start = (snap.dt.year * 12 + snap.dt.month).to_numpy(dtype=np.int64)
    covered = train[FOLLOW_UP].to_numpy(np.int64) if hazard else np.full(len(train), 12)
    month = np.arange(1, 13)
    inside = month[None, :] <= covered[:, None]
    customer = pd.factorize(train[CUSTOMER_ID])[0].astype(np.int64)
    key = np.stack([np.broadcast_to(customer[:, None], inside.shape), start[:, None] + month])
    _, inverse, counts = np.unique(
        key[:, inside].T, axis=0, return_inverse=True, return_counts=True
    )
    weights = np.zeros(inside.shape)
    weights[inside] = 1.0 / counts[inverse.ravel()]
    return weights if hazard else weights.mean(axis=1)


def _default_on(rows: pd.DataFrame, defaults: pd.Series) -> pd.Series:
    """Each row's customer's first default date from ``defaults`` (NaT when none; also when no
    customer has defaulted, where a mapping would lose the date type)."""
    when = defaults.astype("datetime64[s]").reindex(rows[CUSTOMER_ID].to_numpy())
    return pd.Series(when.to_numpy(), index=rows.index)


def _performing(
    customers: pd.DataFrame,
    invoices: pd.DataFrame,
    events: pd.DataFrame,
    s: dt.date,
    materiality: Materiality,
) -> pd.DataFrame:
    """The features at ``s`` of the customers not in default then (the rows a label can follow)."""
    rows = snapshot_features(customers, invoices, events, s, materiality)
    return rows.loc[~rows[IN_DEFAULT]].drop(columns=IN_DEFAULT)


def _labelled(
    customers: pd.DataFrame,
    invoices: pd.DataFrame,
    events: pd.DataFrame,
    s: dt.date,
    defaults: pd.Series,
    horizon: pd.Timestamp,
    materiality: Materiality,
    target: str = TARGET,
) -> pd.DataFrame:
    """The customers not in default at ``s``, labelled 1 when ``defaults`` (first default dates
    known at the end of the data) puts theirs after ``s`` and on or before ``horizon``."""
    rows = _performing(customers, invoices, events, s, materiality)
    when = _default_on(rows, defaults)
    rows[target] = ((when > pd.Timestamp(s)) & (when <= horizon)).astype(int)
    return rows


def training_data(
    customers: pd.DataFrame,
    invoices: pd.DataFrame,
    events: pd.DataFrame,
    as_of: dt.date,
    *,
    every_months: int = 3,
    min_history_days: int = 180,
    materiality: Materiality = NO_THRESHOLD,
) -> TrainingData:
    """Stack labelled snapshots known at ``as_of``; hold out the latest complete 12-month window.

    The validation snapshot is ``as_of - 12 months`` (its outcome window ends at ``as_of``). Training
    snapshots go back every ``every_months`` from 12 months before the validation snapshot, so no
    training label looks past the validation snapshot, while the ledger has at least
    ``min_history_days`` of history before them. Only rows dated on or before ``as_of`` are used.

    Raises
    ------
    ValueError
        The ledger is too short for a training and a validation window.
    """
    t = pd.Timestamp(as_of)
    inv = invoices.loc[invoices[ISSUED_ON] <= t]
    ev = events.loc[events[EVENT_ON] <= t]
    snaps, validation = snapshot_schedule(
        inv[ISSUED_ON].min(), as_of, every_months, min_history_days
    )
    defaults = default_dates(inv, ev, t.date(), materiality)
    year, m = pd.Timedelta(days=HORIZON_DAYS), materiality
    train = pd.concat(
        [_labelled(customers, inv, ev, s, defaults, pd.Timestamp(s) + year, m) for s in snaps],
        ignore_index=True,
    )
    valid = _labelled(customers, inv, ev, validation, defaults, pd.Timestamp(validation) + year, m)
    log_training(train, valid, snaps, validation)
    return TrainingData(train, valid, snaps, validation)


def _follow_up(
    rows: pd.DataFrame, defaults: pd.Series, s: pd.Timestamp, months: int
) -> pd.DataFrame:
    """``rows`` (the customers of snapshot ``s``) followed for up to ``months`` months: each gets
    :data:`WINDOW` (the months observable), :data:`FOLLOW_UP` (the months it was followed: to the
    month it defaulted in, else the whole window) and :data:`HAZARD_TARGET` (whether it defaulted
    in that last month)."""
    when = _default_on(rows, defaults)
    ends = np.array([s + pd.DateOffset(months=k) for k in range(months + 1)], "datetime64[ns]")
    month = np.searchsorted(ends, when.to_numpy(dtype="datetime64[ns]"), side="left")
    hit = when.notna().to_numpy() & (month >= 1) & (month <= months)
    return rows.assign(
        **{
            WINDOW: months,
            FOLLOW_UP: np.where(hit, month, months),
            HAZARD_TARGET: hit.astype(int),
        }
    )


def hazard_data(
    customers: pd.DataFrame,
    invoices: pd.DataFrame,
    events: pd.DataFrame,
    as_of: dt.date,
    *,
    every_months: int = 3,
    min_history_days: int = 90,
    min_train_months: int = 6,
    hold_out: bool = True,
    materiality: Materiality = NO_THRESHOLD,
) -> TrainingData:
    """Customer-months for a discrete-time (monthly) default hazard, censored at the data's end.

    At each snapshot ``s`` (every ``every_months``, or monthly when that gives fewer than four;
    the first at least ``min_history_days`` after the first invoice), every customer onboarded and
    not in default is followed month by month for up to 12 months (one row, see
    :func:`_follow_up`): each month it survives and the month it defaults in enter the
    likelihood, while months past the end of the data are not observed (censored). So a ledger of
    a few months already gives rows, and every month of exposure counts. The 12-month PD is then
    ``1 - prod_k (1 - h_k)``.

    Out of time, the last 12 months are held out when at least ``min_train_months`` of history
    with outcomes remain before them; on a shorter ledger its last third. Training follow-up stops
    at the validation snapshot; the validation rows are the customers at that snapshot, labelled
    with default within the held-out span (``validation_months``). With ``hold_out=False``
    nothing is held out: snapshots run to a month before ``as_of`` and are followed to it (the
    rows to refit on once the model is validated; no validation rows).

    Raises
    ------
    ValueError
        The ledger is too short for two months of outcomes after ``min_history_days`` of history.
    """
    t = pd.Timestamp(as_of)
    inv = invoices.loc[invoices[ISSUED_ON] <= t]
    ev = events.loc[events[EVENT_ON] <= t]
    start = inv[ISSUED_ON].min() + pd.Timedelta(days=min_history_days)
    span = 0  # whole months from the first possible snapshot to as_of
    while t - pd.DateOffset(months=span + 1) >= start:
        span += 1
    if span < 2:
        raise ValueError(
            f"the ledger from {inv[ISSUED_ON].min():%Y-%m-%d} to {t:%Y-%m-%d} is too short: "
            f"a PD needs {min_history_days} days of history plus two months of outcomes"
        )
    held = 12 if span - 12 >= min_train_months else max(1, span // 3)
    held = held if hold_out else 0
    validation = t - pd.DateOffset(months=held)
    step = every_months if (span - held) // every_months >= 4 else 1
    months_back = [k for k in range(span, held, -1) if (span - k) % step == 0]
    snaps = [t - pd.DateOffset(months=k) for k in months_back]
    defaults = default_dates(inv, ev, t.date(), materiality)
    train = [  # a snapshot k months back is followed to the validation cut, at most 12 months
        _follow_up(_performing(customers, inv, ev, s, materiality), defaults, s, min(12, k - held))
        for s, k in zip(snaps, months_back, strict=True)
    ]
    valid = _labelled(customers, inv, ev, validation, defaults, t, materiality, HAZARD_TARGET)
    train = pd.concat(train, ignore_index=True)
    log_training(train, valid, snaps, validation, HAZARD_TARGET)
    return TrainingData(
        train,
        valid,
        [s.date() for s in snaps],
        validation.date(),
        target=HAZARD_TARGET,
        period_months=1,
        validation_months=held,
    )


def snapshot_schedule(
    first_issue: pd.Timestamp, as_of: dt.date, every_months: int, min_history_days: int
) -> tuple[list[dt.date], dt.date]:
    """Training snapshots (oldest first) and the validation snapshot of :func:`training_data`.

    Raises
    ------
    ValueError
        The ledger is too short for a training and a validation window.
    """
    t = pd.Timestamp(as_of)
    start = pd.Timestamp(first_issue) + pd.Timedelta(days=min_history_days)
    validation = t - pd.DateOffset(years=1)
    snaps, s = [], validation - pd.DateOffset(years=1)
    while s >= start:
        snaps.append(s)
        s -= pd.DateOffset(months=every_months)
    if not snaps:
        raise ValueError(
            f"the ledger from {pd.Timestamp(first_issue):%Y-%m-%d} to {t:%Y-%m-%d} is too short: "
            f"training needs {min_history_days} days of history plus two 12-month windows"
        )
    return [s.date() for s in sorted(snaps)], validation.date()


def log_training(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    snaps: list[dt.date],
    validation: dt.date,
    target: str = TARGET,
) -> None:
    """Log the modelling choice: how many snapshots, rows and defaults the PD model learns from."""
    log.info(
        "training data: %s snapshots, %s rows, %s defaults; out-of-time validation at %s: "
        "%s rows, %s defaults",
        len(snaps),
        f"{len(train):,}",
        int(train[target].sum()),
        validation,
        f"{len(valid):,}",
        int(valid[target].sum()),
    )
