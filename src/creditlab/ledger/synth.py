"""Synthetic trade-credit portfolios with known ground truth.

The generator is a small structural model, vectorised with NumPy so 100k customers and millions of
invoices take seconds:

* each customer has an industry and a country (each with its own risk offset), a size (log annual
  revenue), a bureau-like external score, a tenure and a latent risk ``z ~ N(0, 1)``;
* its annual probability of default is ``PD = logistic(eta)`` with
  ``eta = intercept + industry + country + b_size*size + b_score*score + b_tenure*tenure + b_latent*z``
  (size, score and tenure standardised), the coefficients written to ``truth/coefficients.csv``;
  during an optional regime shift one industry's intercept jumps (a downturn);
* defaults happen month by month with hazard ``1 - (1 - PD)^(1/12)``; a defaulting customer stops
  paying, its invoices run 90+ days past due, and most defaults also leave a write-off, insolvency or
  collections-agency event;
* invoices arrive as a seasonal Poisson process scaled by size;
* days from due date to payment start from a customer's readiness to pay: ``R = round(pay_mu +
  industry_days + customer_days + pay_amount_high*[amount > 2x the customer's median] +
  pay_scale*logistic noise)``, the noise truncated so that ``R >= -terms`` (not paid before issue),
  with ``customer_days = pay_customer_sd * (0.7 z + 0.71 noise)`` (slow payers are riskier); in the
  six months before a default 10-40 days are added. With ``payment_process="ledger"`` (the
  default) the payment then behaves as real ledgers do, outside the payment model's family: a
  disputed invoice waits for its dispute to be resolved (lognormal, median ``dispute_days`` after
  the due date); a share of invoices slips (lognormal, median ``slip_days``: a heavy right tail;
  each customer's own share around ``slip_share``); ``drift_share`` of the customers pay
  ``drift_days`` later in the last ``drift_window`` days; and every payment waits for the
  customer's next payment run: any weekday, one or two fixed weekdays, or the last weekday of the
  month (never on a weekend). With ``payment_process="ordinal"`` ``D = R +
  pay_disputed*disputed`` exactly: the model's own family, for recovering its parameters.

Bust-outs (orders far beyond the customer's history, then no payment) are planted by
:mod:`creditlab.ledger.synth_fraud` when ``bust_outs`` > 0.

Relationship events (disputes with their reasons, e-mail reminders and calls that bring some
payments forward, promises to pay, master-data changes, bureau scores and adverse media) come from
:mod:`creditlab.ledger.synth_events`, with what they plant in ``truth/customers.csv`` and
``truth/contacts.csv`` (``relationship_events=False`` leaves them out).

The ledger's defaults (90+ days past due, or a default event) are not the latent ones: disputes and
slips take performing customers' invoices past 90 days, and a default shows months after it
happens. ``exact_defaults=True`` makes them the same, for checking PDs against the truth: every
default leaves an insolvency event on its day, no performing invoice waits more than
``EXACT_MAX_LATE`` days for its payment run to start, and payments do not slip before a default (so
a default the ledger has not reached yet cannot show in it either). Then ``pd_12m`` is the
probability of the default the ledger will show in the 12 months after the end date.

``truth/customers.csv`` holds each customer's true 12-month PD at the end date, its default date and
its payment effect; ``truth/payment.csv`` the payment-delay parameters in days and on the model's
latent scale (days / ``pay_scale``; cutpoint ``j`` = ``(edge_j + 0.5 - pay_mu) / pay_scale``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re

import numpy as np
import pandas as pd

from creditlab.ledger.schema import (
    AMOUNT,
    AMOUNT_PAID,
    ANNUAL_REVENUE,
    CHANNEL,
    COUNTRY,
    CREDIT_LIMIT,
    CURRENCY,
    CUSTOMER_ID,
    DISPUTED,
    DUE_ON,
    EMAIL,
    EVENT_ON,
    EXTERNAL_SCORE,
    INDUSTRY,
    INVOICE_ID,
    ISSUED_ON,
    KIND,
    LANGUAGE,
    NAME,
    ONBOARDED_ON,
    PAID_ON,
    PAYMENT_TERMS_DAYS,
)
from creditlab.ledger.synth_events import relationship_events
from creditlab.ledger.synth_fraud import plant_bust_outs

__all__ = ["PAYMENT_PROCESSES", "SynthConfig", "Portfolio", "synthesize"]

PAYMENT_PROCESSES = ("ledger", "ordinal")
RUN_KINDS = ("any weekday", "one weekday", "two weekdays", "month end")
EXACT_MAX_LATE = 55  # days; plus the wait for a month-end run (at most 31), under 90 days past due

log = logging.getLogger(__name__)

INDUSTRIES = {  # name: (risk offset on the logit scale, typical terms in days, payment days)
    "construction": (0.9, 45, 5.0),
    "retail": (0.5, 30, 1.0),
    "hospitality": (0.8, 30, 3.0),
    "transport": (0.4, 30, 2.0),
    "wholesale": (0.1, 30, 0.0),
    "manufacturing": (-0.1, 60, -1.0),
    "agriculture": (0.2, 60, 3.0),
    "healthcare": (-0.6, 45, -2.0),
    "utilities": (-0.8, 30, -4.0),
    "software": (-0.3, 30, -2.0),
    "media": (0.3, 14, -1.0),
    "professional services": (-0.4, 30, -2.0),
}
COUNTRIES = {"DE": -0.2, "FR": 0.0, "NL": -0.3, "IT": 0.35, "ES": 0.25, "PL": 0.15}
_WORDS_A = [
    "Alpen",
    "Baltic",
    "Cedar",
    "Delta",
    "Elm",
    "Fjord",
    "Granite",
    "Harbor",
    "Iris",
    "Juniper",
    "Kestrel",
    "Linden",
    "Meridian",
    "Nordic",
    "Orchid",
    "Pioneer",
    "Quarry",
    "Riviera",
    "Summit",
    "Tidal",
    "Union",
    "Vertex",
    "Willow",
    "Zenith",
]
_WORDS_B = [
    "Logistics",
    "Foods",
    "Builders",
    "Systems",
    "Trading",
    "Works",
    "Partners",
    "Retail",
    "Media",
    "Farms",
    "Health",
    "Energy",
    "Print",
    "Motors",
    "Textiles",
    "Labs",
]
_SUFFIX = ["GmbH", "SAS", "B.V.", "S.r.l.", "S.L.", "Sp. z o.o.", "& Sons", "Ltd <Group>"]


@dataclasses.dataclass(frozen=True)
class SynthConfig:
    """Size, period and true coefficients of a synthetic portfolio."""

    customers: int = 300
    seed: int = 7
    years: float = 3.0
    end: dt.date = dt.date(2026, 11, 20)
    currency: str = "EUR"
    intercept: float = -3.8
    b_size: float = -0.35
    b_score: float = -0.55
    b_tenure: float = -0.25
    b_latent: float = 0.8
    regime_shift: bool = True
    shift_industry: str = "construction"
    shift_delta: float = 1.2
    invoices_per_month: float = 1.6
    dispute_rate: float = 0.04
    pay_mu: float = -2.0
    pay_scale: float = 2.5
    pay_customer_sd: float = 5.0
    pay_disputed: float = 20.0
    pay_amount_high: float = 5.0
    payment_process: str = "ledger"
    slip_share: float = 0.06
    slip_days: float = 12.0
    dispute_days: float = 35.0
    drift_share: float = 0.1
    drift_days: float = 8.0
    drift_window: int = 120
    exact_defaults: bool = False
    relationship_events: bool = True
    bust_outs: float = 0.0  # share of customers planted as bust-outs (ledger.synth_fraud)

    def __post_init__(self) -> None:
        if self.payment_process not in PAYMENT_PROCESSES:
            raise ValueError(f"payment_process must be one of {PAYMENT_PROCESSES}")


@dataclasses.dataclass
class Portfolio:
    """A generated ledger (canonical tables) and its ground truth."""

    customers: pd.DataFrame
    invoices: pd.DataFrame
    events: pd.DataFrame
    truth_customers: pd.DataFrame
    truth_coefficients: pd.DataFrame
    config: SynthConfig
    truth_payment: pd.DataFrame
    truth_contacts: pd.DataFrame  # contacts' planted and realised effect, per channel


def _logistic(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _month_starts(start: dt.date, n: int) -> np.ndarray:
    return np.array(
        pd.date_range(pd.Timestamp(start).replace(day=1), periods=n, freq="MS"),
        dtype="datetime64[D]",
    )


def _payment_runs(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Each customer's payment-run kind (index into ``RUN_KINDS``) and its run weekdays as a
    (n, 7) boolean table (Monday first; all weekdays for "any weekday" and "month end")."""
    kind = rng.choice(len(RUN_KINDS), n, p=[0.45, 0.3, 0.15, 0.1])
    days = np.zeros((n, 7), dtype=bool)
    days[:, :5] = (kind == 0)[:, None] | (kind == 3)[:, None]
    first = rng.integers(0, 5, n)
    second = (first + rng.integers(2, 4, n)) % 5  # two or three weekdays apart
    days[np.arange(n), first] |= kind >= 1
    days[np.arange(n), second] |= kind == 2
    days[kind == 3] = False
    days[kind == 3, :5] = True
    return kind, days


def _describe_runs(kind: int, days: np.ndarray) -> str:
    names = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    if RUN_KINDS[kind] in ("one weekday", "two weekdays"):
        return ", ".join(names[k] for k in np.flatnonzero(days))
    return RUN_KINDS[kind]


def _ledger_delays(rng, cfg: SynthConfig, late, due, disputed, cust_of, n: int, end):
    """Readiness delays with what real ledgers add: dispute resolution, slips with a heavy
    right tail, and customers whose payments drift later in the last ``drift_window`` days."""
    resolved = cfg.dispute_days * rng.lognormal(0.0, 0.6, len(late))
    late = np.where(disputed, np.maximum(late, np.round(resolved)), late)
    share = rng.beta(1.0, (1.0 - cfg.slip_share) / cfg.slip_share, n)  # mean slip_share
    slips = rng.random(len(late)) < share[cust_of]
    late = late + slips * np.round(cfg.slip_days * rng.lognormal(0.0, 1.0, len(late)))
    drifting = rng.random(n) < cfg.drift_share
    recent = (end - due).astype(int) < cfg.drift_window
    return late + (drifting[cust_of] & recent) * cfg.drift_days


def _next_run(ready: np.ndarray, kind: np.ndarray, days: np.ndarray) -> np.ndarray:
    """The first payment-run day on or after ``ready``: a run weekday, or for "month end" the
    last weekday of the month."""
    offsets = np.arange(35)
    day = ready[:, None] + offsets.astype("timedelta64[D]")[None, :]  # (m, 35)
    weekday = (day.astype("datetime64[D]").astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    run = days[np.arange(len(ready))[:, None], weekday]
    month = day.astype("datetime64[M]")
    next_weekday = day + np.where(weekday == 4, 3, np.where(weekday == 5, 2, 1)).astype(
        "timedelta64[D]"
    )
    month_end = (weekday < 5) & (next_weekday.astype("datetime64[M]") != month)
    run = np.where((kind == RUN_KINDS.index("month end"))[:, None], month_end, run)
    return ready + run.argmax(axis=1).astype("timedelta64[D]")


def synthesize(config: SynthConfig | None = None) -> Portfolio:
    """Generate a portfolio (see the module docstring for the model).

    Examples
    --------
    >>> p = synthesize(SynthConfig(customers=50, seed=1))
    >>> sorted(p.invoices.columns)[:3]
    ['amount', 'amount_paid', 'currency']
    """
    cfg = config or SynthConfig()
    rng = np.random.default_rng(cfg.seed)
    n = cfg.customers
    start = cfg.end - dt.timedelta(days=int(cfg.years * 365.25))
    n_months = max((cfg.end.year - start.year) * 12 + cfg.end.month - start.month + 1, 6)
    months = _month_starts(start, n_months + 1)
    end = np.datetime64(cfg.end, "D")

    ind_names = np.array(list(INDUSTRIES))
    ind_idx = rng.choice(len(ind_names), n, p=np.full(len(ind_names), 1 / len(ind_names)))
    ctry_names = np.array(list(COUNTRIES))
    ctry_idx = rng.choice(len(ctry_names), n, p=[0.3, 0.2, 0.12, 0.14, 0.14, 0.1])
    ind_off = np.array([INDUSTRIES[k][0] for k in ind_names])
    ind_terms = np.array([INDUSTRIES[k][1] for k in ind_names])
    ctry_off = np.array([COUNTRIES[k] for k in ctry_names])

    latent = rng.normal(size=n)
    size = rng.normal(size=n)  # standardised log revenue
    revenue = np.round(np.exp(14.5 + 1.1 * size), -3)
    score_raw = np.clip(np.round(650 - 60 * (0.7 * latent + 0.7 * rng.normal(size=n))), 300, 850)
    # onboarding: 70 % before the window, the rest spread over it
    before = rng.random(n) < 0.7
    onboard_days = np.where(
        before, -rng.integers(30, 3650, n), rng.integers(0, max(n_months - 3, 1) * 30, n)
    )
    onboarded = months[0] + onboard_days.astype("timedelta64[D]")
    tenure_years = (end - onboarded).astype(float) / 365.25
    size_z = size
    score_z = (score_raw - 650) / 60
    tenure_z = (np.log1p(tenure_years) - 1.6) / 0.8

    shift_k = int(np.where(ind_names == cfg.shift_industry)[0][0])
    shift_start, shift_end = n_months // 2, n_months // 2 + 9
    eta = (
        cfg.intercept
        + ind_off[ind_idx]
        + ctry_off[ctry_idx]
        + cfg.b_size * size_z
        + cfg.b_score * score_z
        + cfg.b_tenure * tenure_z
        + cfg.b_latent * latent
    )

    # month-by-month default with the regime shift applied where it is on
    month_idx = np.arange(n_months)
    shifted = cfg.regime_shift & (month_idx >= shift_start) & (month_idx < shift_end)
    eta_m = eta[:, None] + np.outer(ind_idx == shift_k, shifted * cfg.shift_delta)
    hazard = 1 - (1 - _logistic(eta_m)) ** (1 / 12)
    active_from = np.searchsorted(months, onboarded, side="right") - 1  # month of onboarding
    hit = (rng.random((n, n_months)) < hazard) & (month_idx[None, :] >= active_from[:, None])
    defaulted = hit.any(axis=1)
    default_month = np.where(defaulted, hit.argmax(axis=1), n_months)
    default_on = np.where(
        defaulted,
        months[np.minimum(default_month, n_months - 1)]
        + rng.integers(0, 28, n).astype("timedelta64[D]"),
        np.datetime64("NaT"),
    )

    # invoices: seasonal Poisson counts per customer-month, while active and until 2 months after
    season = 1 + 0.25 * np.sin(2 * np.pi * (month_idx - 2) / 12)
    rate = cfg.invoices_per_month * np.exp(0.35 * size_z)[:, None] * season[None, :]
    alive = (month_idx[None, :] >= np.maximum(active_from, 0)[:, None]) & (
        month_idx[None, :] <= default_month[:, None] + 1
    )
    counts = rng.poisson(rate * alive)
    cust_of = np.repeat(np.repeat(np.arange(n), n_months), counts.ravel())
    month_of = np.repeat(np.tile(month_idx, n), counts.ravel())
    m = len(cust_of)
    days_in = (months[month_of + 1] - months[month_of]).astype(int)
    issued = months[month_of] + (rng.random(m) * days_in).astype("timedelta64[D]")
    issued = np.maximum(issued, onboarded[cust_of])
    keep = issued <= end
    cust_of, month_of, issued, m = cust_of[keep], month_of[keep], issued[keep], int(keep.sum())
    terms = np.where(rng.random(n) < 0.75, ind_terms[ind_idx], rng.choice([14, 30, 45, 60], n))
    due = issued + terms[cust_of].astype("timedelta64[D]")
    typical = np.exp(7.2 + 0.6 * size_z)
    amount = np.round(typical[cust_of] * rng.lognormal(0, 0.5, m), 2) + 1.0

    disputed = rng.random(m) < cfg.dispute_rate * np.exp(0.4 * latent[cust_of])
    pre_default = defaulted[cust_of] & ((default_on[cust_of] - issued).astype(int) < 180)
    ind_pay = np.array([INDUSTRIES[k][2] for k in ind_names])
    pay_effect = ind_pay[ind_idx] + cfg.pay_customer_sd * (
        0.7 * latent + np.sqrt(1 - 0.7**2) * rng.normal(size=n)
    )
    usual = pd.Series(amount).groupby(cust_of).transform("median").to_numpy()
    big = amount > 2 * usual  # over twice the customer's median invoice
    loc = cfg.pay_mu + pay_effect[cust_of] + cfg.pay_amount_high * big
    if cfg.payment_process == "ordinal":
        loc = loc + cfg.pay_disputed * disputed
    # logistic noise truncated so that no invoice is paid before it is issued (D >= -terms)
    floor = _logistic((-terms[cust_of] - 0.5 - loc) / cfg.pay_scale)
    q = floor + rng.random(m) * (1 - floor)
    late = np.round(loc + cfg.pay_scale * np.log(q / (1 - q)))
    late = late + pre_default * rng.integers(10, 40, m) * (not cfg.exact_defaults)
    pay_runs = "as due"  # when each customer pays (the truth of its payment calendar)
    if cfg.payment_process == "ledger":
        runs, run_days = _payment_runs(rng, n)
        pay_runs = [_describe_runs(k, d) for k, d in zip(runs, run_days, strict=True)]
        late = _ledger_delays(rng, cfg, late, due, disputed, cust_of, n, end)
    if cfg.exact_defaults:
        late = np.minimum(late, EXACT_MAX_LATE)
    paid = due + late.astype(int).astype("timedelta64[D]")
    if cfg.payment_process == "ledger":
        paid = _next_run(paid, runs[cust_of], run_days[cust_of])
    # a defaulter stops paying; about half of what it owes is recovered, months late
    unpaid = defaulted[cust_of] & (paid >= default_on[cust_of])
    recovered = unpaid & (rng.random(m) < 0.5)
    late_recovery = due + rng.integers(100, 400, m).astype("timedelta64[D]")
    paid = np.where(recovered, late_recovery, paid)
    paid = np.where((unpaid & ~recovered) | (paid > end), np.datetime64("NaT"), paid)

    # events: most defaults leave one
    kinds = np.array(["write_off", "insolvency", "collections_agency"])
    ev_cust = np.where(defaulted & ((rng.random(n) < 0.7) | cfg.exact_defaults))[0]
    ev_lag = rng.integers(20, 120, len(ev_cust)) * (not cfg.exact_defaults)
    ev_on = default_on[ev_cust] + ev_lag.astype("timedelta64[D]")
    ev_kind = kinds[rng.integers(0, 3, len(ev_cust))]
    if cfg.exact_defaults:
        ev_kind[:] = "insolvency"
    ev_keep = ev_on <= end
    rng.random(m)  # once drew reminders (now synth_events'): kept, so every later draw is the same

    ids = np.char.add("C", np.char.zfill(np.arange(1, n + 1).astype(str), 6))
    names = [
        f"{_WORDS_A[a]} {_WORDS_B[b]} {_SUFFIX[c]}"
        for a, b, c in zip(
            rng.integers(0, len(_WORDS_A), n),
            rng.integers(0, len(_WORDS_B), n),
            rng.integers(0, len(_SUFFIX), n),
            strict=True,
        )
    ]
    monthly_billing = typical * cfg.invoices_per_month * np.exp(0.35 * size_z) * 1.25
    limit = np.round(monthly_billing * rng.uniform(1.5, 3.5, n) * terms / 30, -3) + 1000
    customers = pd.DataFrame(
        {
            CUSTOMER_ID: ids,
            NAME: names,
            INDUSTRY: ind_names[ind_idx],
            COUNTRY: ctry_names[ctry_idx],
            CREDIT_LIMIT: limit,
            PAYMENT_TERMS_DAYS: terms,
            ONBOARDED_ON: onboarded,
            ANNUAL_REVENUE: revenue,
            EXTERNAL_SCORE: score_raw.astype(int),
            # correspondence: German customers in German, the others in English
            LANGUAGE: np.where(ctry_names[ctry_idx] == "DE", "de", "en"),
            EMAIL: [
                f"ap@{re.sub('[^a-z0-9]+', '-', nm.lower()).strip('-')}.example" for nm in names
            ],
        }
    )
    order = np.lexsort((cust_of, issued))
    invoices = pd.DataFrame(
        {
            INVOICE_ID: np.char.add("INV", np.char.zfill(np.arange(1, m + 1).astype(str), 8)),
            CUSTOMER_ID: ids[cust_of[order]],
            ISSUED_ON: issued[order],
            DUE_ON: due[order],
            AMOUNT: amount[order],
            CURRENCY: cfg.currency,
            PAID_ON: paid[order],
            AMOUNT_PAID: np.where(np.isnat(paid[order]), 0.0, amount[order]),
            DISPUTED: disputed[order],
        }
    )
    events = pd.DataFrame(
        {
            CUSTOMER_ID: ids[ev_cust[ev_keep]],
            EVENT_ON: ev_on[ev_keep],
            KIND: ev_kind[ev_keep],
            INVOICE_ID: "",
        }
    ).drop_duplicates()
    relationship = None
    truth_contacts = pd.DataFrame(columns=[CHANNEL, "contacts", "lift_planted", "lift_realised"])
    if cfg.relationship_events:
        by_row = cust_of[order]

        def on_runs(days: np.ndarray, rows: np.ndarray) -> np.ndarray:
            """A payment brought forward still waits for the customer's payment run."""
            return _next_run(days, runs[by_row[rows]], run_days[by_row[rows]])

        snap = on_runs if cfg.payment_process == "ledger" else None
        planted = relationship_events(
            cfg.seed, ids, invoices, latent, score_raw, default_on, onboarded, months[0], end, snap
        )
        events = pd.concat([events, planted.events], ignore_index=True)
        invoices[PAID_ON] = planted.paid_on
        relationship, truth_contacts = planted.truth, planted.contacts
    events = events.sort_values(EVENT_ON, kind="stable", ignore_index=True)

    truth_customers = pd.DataFrame(
        {
            CUSTOMER_ID: ids,
            "pd_12m": _logistic(eta),
            "eta": eta,
            "latent_risk": latent,
            "size_z": size_z,
            "score_z": score_z,
            "tenure_z": tenure_z,
            "defaulted": defaulted,
            "default_on": default_on,
            "pay_effect_days": pay_effect,
            "pay_runs": pay_runs,
        }
    )
    if relationship is not None:
        truth_customers = truth_customers.merge(relationship, on=CUSTOMER_ID)
    if cfg.bust_outs:
        invoices, events, truth_customers = plant_bust_outs(
            cfg.seed, cfg.bust_outs, invoices, events, truth_customers, end
        )
    coef = [
        ("intercept", cfg.intercept),
        ("b_size", cfg.b_size),
        ("b_score", cfg.b_score),
        ("b_tenure", cfg.b_tenure),
        ("b_latent", cfg.b_latent),
    ]
    coef += [(f"industry[{k}]", float(v)) for k, v in zip(ind_names, ind_off, strict=True)]
    coef += [(f"country[{k}]", float(v)) for k, v in zip(ctry_names, ctry_off, strict=True)]
    if cfg.regime_shift:
        coef.append((f"shift[{cfg.shift_industry}]", cfg.shift_delta))
    truth_coefficients = pd.DataFrame(coef, columns=["name", "value"])
    pay = [
        ("pay_mu", cfg.pay_mu),
        ("pay_scale", cfg.pay_scale),
        ("sigma_customer", cfg.pay_customer_sd),
        ("beta[disputed]", cfg.pay_disputed),
        ("beta[amount_high]", cfg.pay_amount_high),
    ]
    pay += [(f"industry[{k}]", float(v)) for k, v in zip(ind_names, ind_pay, strict=True)]
    truth_payment = pd.DataFrame(pay, columns=["name", "days"])
    truth_payment["latent"] = np.where(
        truth_payment["name"].isin(["pay_mu", "pay_scale"]),
        np.nan,
        truth_payment["days"] / cfg.pay_scale,
    )
    log.info(
        "synthesised %s customers, %s invoices, %s events (%s defaults)",
        f"{n:,}",
        f"{m:,}",
        f"{len(events):,}",
        f"{int(defaulted.sum()):,}",
    )
    return Portfolio(
        customers, invoices, events, truth_customers, truth_coefficients, cfg, truth_payment,
        truth_contacts,
    )  # fmt: skip
