"""The collections worklist and the early-warning alerts.

**Worklist**: open invoices whose dunning cadence (from the customer's policy) calls for an action,
ranked by the **expected extra cash from acting** within the contact window where the ledger's
contacts give an estimate of what a reminder or a call does (:mod:`creditlab.models.contact_effect`:
open amount x the extra chance of being paid within the window), then by expected cash at risk =
open amount x P(the invoice goes 90+ days past due or the customer defaults). The invoice part
comes from the provision matrix's roll rates (the chance an invoice in its bucket reaches 91+ DPD
before it is paid) or, where a payment-timing forecast gives one, from that; the customer part is
its 12-month PD. Taken as independent:
``p = 1 - (1 - p_invoice)(1 - PD)``, except where the forecast already holds the customer's
default (the payment-timing model's stall, driven by the PD: ``p`` is its chance the invoice
reaches 90 DPD or its customer defaults while it is open, not combined with the PD again). The
suggested contact day is the weekday the customer usually pays on.

**Alerts** compare this run with the previous one in the store: PD up by more than a threshold,
grade downgrade, a new 30+/60+/90+ DPD, a new dispute; and flag states that need no comparison:
over the limit, utilisation above a threshold, concentration above a threshold.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import numpy as np
import pandas as pd

from creditlab.decisions.settings import DUNNING_STEPS, AlertSettings
from creditlab.kpi import AGING_BUCKETS, BUCKET, DPD
from creditlab.ledger.schema import (
    CREDIT_LIMIT,
    CUSTOMER_ID,
    DISPUTED,
    DUE_ON,
    INVOICE_ID,
    MAX_DPD,
    NAME,
    OPEN_AR,
    PD_MEAN,
)
from creditlab.models.contact_effect import ContactEffect
from creditlab.signals import RECENT_DAYS

__all__ = [
    "ALERT_COLUMNS",
    "CONTACT_KINDS",
    "WORKLIST_COLUMNS",
    "alerts",
    "extra_cash",
    "p_invoice_from_matrix",
    "relationship_action",
    "suggested_action",
    "worklist",
]

WORKLIST_COLUMNS = [
    "rank",
    INVOICE_ID,
    CUSTOMER_ID,
    NAME,
    "policy",
    "open_amount",
    "dpd",
    "bucket",
    "disputed",
    "p_invoice_90dpd",
    "pd_customer",
    "p_at_risk",
    "cash_at_risk",
    "extra_cash",
    "extra_cash_lo",
    "extra_cash_hi",
    "action",
    "relationship",
    "contact_day",
    "contact_on",
    "approval",
]
ALERT_COLUMNS = [CUSTOMER_ID, NAME, "alert", "severity", "detail"]
_ACTIONS = {
    "reminder": "send a reminder",
    "call": "call the customer",
    "hold_orders": "hold new orders",
    "escalate": "escalate (collections / legal)",
}


CONTACT_KINDS = {_ACTIONS["reminder"]: "reminder", _ACTIONS["call"]: "call"}  # effect estimated


def extra_cash(
    customer_ids, signed_dpd, actions, amounts, pd_customer, effect: ContactEffect
) -> np.ndarray:
    """Draws (items x draws) of the extra cash each action brings within the effect's window: the
    open amount times the extra chance of payment (0 for an action that is not a reminder or a
    call, and for a customer already in default, PD 1: its worth is in holds and escalation; NaN
    for a kind the ledger's contacts could not estimate)."""
    kinds = np.array(pd.Series(actions, dtype=object).map(CONTACT_KINDS).fillna(""), dtype=object)
    kinds[pd.Series(pd_customer, dtype=float).fillna(0.0).to_numpy() >= 1.0] = ""
    share = effect.extra_share(customer_ids, signed_dpd, kinds)
    return share * np.asarray(amounts, dtype=float)[:, None]


def suggested_action(days_past_due: int, cadence: Mapping[str, int]) -> str:
    """The latest dunning step the cadence has reached ('' when none yet).

    Examples
    --------
    >>> suggested_action(12, {"reminder": -3, "call": 10, "hold_orders": 30})
    'call the customer'
    """
    step = ""
    for name in DUNNING_STEPS:
        if name in cadence and days_past_due >= cadence[name]:
            step = _ACTIONS[name]
    return step


def _next_weekday(as_of: dt.date, weekday: str | float) -> str:
    names = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
    if not isinstance(weekday, str) or weekday not in names:
        return ""
    ahead = (names.index(weekday) - as_of.weekday() - 1) % 7 + 1
    return (as_of + dt.timedelta(days=ahead)).isoformat()


def relationship_action(
    step: str, invoice_disputed: bool, signals: Mapping | None, as_of: dt.date
) -> tuple[str, str]:
    """The dunning step as the relationship allows it, and the reason in words.

    An open dispute about the invoice or an open complaint holds the dunning (acknowledge it
    instead; a dispute still open when the cadence reaches holding orders or escalating holds
    orders or escalates the dispute); a pending promise to pay waits for its day; broken promises make a reminder a call.
    ``signals`` is the customer's row of :func:`creditlab.signals.customer_signals` (None: the
    ledger has no relationship events).

    Examples
    --------
    >>> relationship_action("send a reminder", False, {"promises_broken": 2,
    ...     "promises_kept": 1}, dt.date(2026, 3, 1))
    ('call the customer', '2 of 3 promises to pay broken in 12 months')
    """
    why: list[str] = []
    if not step:
        return step, ""
    s = signals or {}
    broken, kept = int(s.get("promises_broken", 0) or 0), int(s.get("promises_kept", 0) or 0)
    if broken:
        why.append(f"{broken} of {broken + kept} promises to pay broken in 12 months")
    if s.get("open_disputes", 0) and not invoice_disputed:
        reasons = s.get("dispute_reasons") or ""
        why.append(f"other disputes open ({reasons})" if reasons else "other disputes open")
    pending = s.get("promise_pending_until")
    if invoice_disputed:  # no dunning; a dispute left unresolved past the late steps escalates
        action = {
            _ACTIONS["hold_orders"]: "hold new orders until the dispute is resolved",
            _ACTIONS["escalate"]: "escalate the unresolved dispute (collections / legal)",
        }.get(step, "acknowledge the dispute; no dunning until it is resolved")
        return action, "; ".join(["this invoice is disputed", *why])
    if s.get("open_complaint"):
        return "acknowledge the complaint; no dunning while it is open", "; ".join(
            ["open complaint", *why]
        )
    if pd.notna(pending) and pd.Timestamp(pending) >= pd.Timestamp(as_of):
        day = pd.Timestamp(pending).date().isoformat()
        return f"wait for the promised payment; follow up after {day}", "; ".join(
            [f"promised to pay by {day}", *why]
        )
    if broken and step == _ACTIONS["reminder"]:
        step = _ACTIONS["call"]
    return step, "; ".join(why)


def worklist(
    items: pd.DataFrame,
    customers: pd.DataFrame,
    cadences: Mapping[str, Mapping[str, int]],
    as_of: dt.date,
    p_invoice: np.ndarray,
    signals: pd.DataFrame | None = None,
    disputed: pd.Index | None = None,
    effect: ContactEffect | None = None,
    prob: float = 0.9,
    p_joint: np.ndarray | None = None,
) -> pd.DataFrame:
    """Rank open invoices needing an action by the expected extra cash from acting (where
    ``effect`` estimates one), then by expected cash at risk.

    ``items`` are open items (``kpi.open_items``); ``customers`` has per customer ``customer_id,
    name, policy, dunning, approval, pd_mean, usual_weekday``; ``p_invoice`` is each item's
    probability of reaching 91+ DPD before payment; ``p_joint``, where not NaN, the item's
    probability of reaching it or its customer defaulting while it is open, which is then its
    ``p_at_risk`` as it is (elsewhere ``p_invoice`` and the PD are combined as independent).
    ``signals`` (per customer, :func:`creditlab.signals.customer_signals`) and ``disputed``
    (invoice ids with an open dispute in the events) let the relationship shape each action (:func:`relationship_action`).
    ``effect`` (:func:`creditlab.models.contact_effect.contact_effect`) gives each reminder or call
    its expected extra cash within the contact window, with its ``prob`` interval
    (:func:`extra_cash`); without it those columns are empty and the ranking is by cash at risk.
    """
    t = pd.Timestamp(as_of)
    frame = items[[INVOICE_ID, CUSTOMER_ID, OPEN_AR, DPD, BUCKET, DISPUTED]].copy()
    if disputed is not None:
        frame[DISPUTED] = frame[DISPUTED].astype(bool) | frame[INVOICE_ID].astype(str).isin(
            disputed
        )
    frame["signed_dpd"] = (t - items[DUE_ON]).dt.days.to_numpy()
    frame = frame.merge(customers, on=CUSTOMER_ID, how="left")
    frame["p_invoice_90dpd"] = np.asarray(p_invoice, dtype=float)
    frame["pd_customer"] = frame[PD_MEAN].astype(float)
    independent = 1 - (1 - frame["p_invoice_90dpd"]) * (1 - frame["pd_customer"].fillna(0.0))
    joint = np.full(len(frame), np.nan) if p_joint is None else np.asarray(p_joint, dtype=float)
    frame["p_at_risk"] = np.where(np.isnan(joint), independent, joint)
    frame["cash_at_risk"] = frame[OPEN_AR] * frame["p_at_risk"]
    by_customer = {} if signals is None else signals.set_index(CUSTOMER_ID).to_dict("index")
    steps = [
        relationship_action(
            suggested_action(int(d), cadences[c]), bool(disp), by_customer.get(cid), as_of
        )
        for d, c, disp, cid in zip(
            frame["signed_dpd"], frame["dunning"], frame[DISPUTED], frame[CUSTOMER_ID], strict=True
        )
    ]
    frame["action"] = [a for a, _ in steps]
    frame["relationship"] = [r for _, r in steps]
    frame = frame.loc[frame["action"] != ""].copy()
    frame["contact_day"] = frame["usual_weekday"].fillna("")
    frame["contact_on"] = [_next_weekday(as_of, w) for w in frame["usual_weekday"]]
    frame["extra_cash"] = frame["extra_cash_lo"] = frame["extra_cash_hi"] = np.nan
    if effect is not None and effect.log_r and len(frame):
        draws = extra_cash(
            frame[CUSTOMER_ID], frame["signed_dpd"], frame["action"], frame[OPEN_AR],
            frame["pd_customer"], effect,
        )  # fmt: skip
        frame["extra_cash"] = draws.mean(axis=1)
        frame["extra_cash_lo"] = np.quantile(draws, (1 - prob) / 2, axis=1)
        frame["extra_cash_hi"] = np.quantile(draws, (1 + prob) / 2, axis=1)
    frame["_first"] = frame["extra_cash"].fillna(0.0)
    frame = frame.sort_values(["_first", "cash_at_risk", DPD], ascending=False)
    frame = frame.reset_index(drop=True)
    frame["rank"] = np.arange(1, len(frame) + 1)
    frame = frame.rename(
        columns={OPEN_AR: "open_amount", DPD: "dpd", BUCKET: "bucket", DISPUTED: "disputed"}
    )
    frame["bucket"] = frame["bucket"].astype(str)
    return frame[WORKLIST_COLUMNS]


def p_invoice_from_matrix(
    items: pd.DataFrame, segment: pd.Series, p_reach: Mapping[str, np.ndarray]
) -> np.ndarray:
    """Each open item's P(reaching 91+ DPD before payment), from its segment's roll rates."""
    codes = pd.Categorical(items[BUCKET], categories=list(AGING_BUCKETS)).codes
    seg = segment.to_numpy()
    return np.array(
        [p_reach.get(s, p_reach.get("all"))[c] for s, c in zip(seg, codes, strict=True)]
    )


def alerts(
    now: pd.DataFrame,
    before: pd.DataFrame | None,
    shares: pd.Series,
    settings: AlertSettings,
    arrears: pd.DataFrame | None = None,
    signals: pd.DataFrame | None = None,
    as_of: dt.date | None = None,
    screens: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Early-warning alerts: changes since the previous run, states over thresholds, what the
    relationship events say, and the fraud and bust-out screens.

    ``now`` has per customer ``customer_id, name, pd_mean, grade, grade_rank, open_ar,
    credit_limit, utilisation, max_dpd, new_disputes``; ``before`` (None on a first run) has
    ``customer_id, pd_mean, grade, grade_rank, max_dpd`` at the previous run's as-of date;
    ``shares`` is each customer's share of open AR (index customer_id); ``arrears`` (from the
    payment-timing model, when the run has one) has per open invoice ``customer_id, dpd,
    open_amount, p_dpd30``: invoices not yet 30 days past due with ``p_dpd30 >=
    settings.arrears`` raise a "likely 30+ DPD" alert for their customer, before the arrears.
    ``signals`` (:func:`creditlab.signals.customer_signals` at ``as_of``) raise: a bureau score
    down by ``settings.score_drop`` points or more against its best of the half-year before
    (high at twice that), adverse media and insolvency notices (high), a bank-account change
    (medium: the classic set-up of a payment fraud or a bust-out), each within
    ``signals.RECENT_DAYS``, a promise to pay broken in the last 30 days, and a step up in days
    beyond terms (:func:`creditlab.drift.payment_shifts` columns in ``signals``) of at least
    ``settings.shift_days`` and ``settings.shift_z`` standard errors: "paying later".
    ``screens`` (:func:`creditlab.decisions.screens.bust_out_screens`, in these columns) are added
    as they are.
    """
    rows: list[dict] = []

    def add(frame: pd.DataFrame, alert: str, severity: str, detail) -> None:
        for _, r in frame.iterrows():
            rows.append(
                {
                    CUSTOMER_ID: r[CUSTOMER_ID],
                    NAME: r[NAME],
                    "alert": alert,
                    "severity": severity,
                    "detail": detail(r),
                }
            )

    if before is not None:
        both = now.merge(before, on=CUSTOMER_ID, how="inner", suffixes=("", "_prev"))
        rise = both[PD_MEAN] - both["pd_mean_prev"]
        for severity, sel in (
            ("high", rise >= 2 * settings.pd_increase),
            ("medium", (rise >= settings.pd_increase) & (rise < 2 * settings.pd_increase)),
        ):
            add(
                both.loc[sel],
                "PD up",
                severity,
                lambda r: (
                    f"PD {r['pd_mean_prev']:.1%} -> {r['pd_mean']:.1%} (+{r['pd_mean'] - r['pd_mean_prev']:.1%})"
                ),
            )
        down = both.loc[both["grade_rank"] > both["grade_rank_prev"]]
        add(down, "grade downgrade", "medium", lambda r: f"grade {r['grade_prev']} -> {r['grade']}")
        for days, severity in ((90, "high"), (60, "medium"), (30, "medium")):
            new = both.loc[(both[MAX_DPD] >= days) & (both["max_dpd_prev"] < days)]
            both = both.loc[~both[CUSTOMER_ID].isin(new[CUSTOMER_ID])]
            add(
                new,
                f"new {days}+ DPD",
                severity,
                lambda r: f"oldest open invoice {int(r['max_dpd'])} days past due",
            )
        disputes = now.loc[now["new_disputes"] > 0]
        add(
            disputes,
            "new dispute",
            "medium",
            lambda r: f"{int(r['new_disputes'])} invoice(s) newly disputed",
        )
    if arrears is not None:
        likely = arrears.loc[(arrears[DPD] < 30) & (arrears["p_dpd30"] >= settings.arrears)]
        per = likely.groupby(CUSTOMER_ID).agg(
            n=("p_dpd30", "size"), amount=("open_amount", "sum"), p=("p_dpd30", "max")
        )
        add(
            now.loc[now[CUSTOMER_ID].isin(per.index)],
            "likely 30+ DPD",
            "medium",
            lambda r: (
                f"{per.at[r[CUSTOMER_ID], 'n']} invoice(s), {per.at[r[CUSTOMER_ID], 'amount']:,.0f} "
                f"open, likely to reach 30+ DPD (P up to {per.at[r[CUSTOMER_ID], 'p']:.0%})"
            ),
        )
    if signals is not None:
        _signal_alerts(now.merge(signals, on=CUSTOMER_ID), settings, as_of, add)
    over = now.loc[now[CREDIT_LIMIT].notna() & (now[OPEN_AR] > now[CREDIT_LIMIT])]
    add(
        over,
        "over limit",
        "high",
        lambda r: f"open AR {r['open_ar']:,.0f} > limit {r[CREDIT_LIMIT]:,.0f}",
    )
    high = now.loc[
        (now["utilisation"] > settings.utilisation) & ~now[CUSTOMER_ID].isin(over[CUSTOMER_ID])
    ]
    add(high, "high utilisation", "low", lambda r: f"{r['utilisation']:.0%} of the limit used")
    big = shares.loc[shares > settings.single_share]
    add(
        now.loc[now[CUSTOMER_ID].isin(big.index)],
        "concentration",
        "medium",
        lambda r: f"{shares[r[CUSTOMER_ID]]:.1%} of all open AR",
    )
    top10 = shares.sort_values(ascending=False).head(10).sum()
    if len(shares) > 10 and top10 > settings.top10_share:
        rows.append(
            {
                CUSTOMER_ID: "",
                NAME: "(portfolio)",
                "alert": "concentration",
                "severity": "medium",
                "detail": f"the 10 largest customers hold {top10:.0%} of open AR (threshold {settings.top10_share:.0%})",
            }
        )
    order = {"high": 0, "medium": 1, "low": 2}
    out = pd.DataFrame(rows, columns=ALERT_COLUMNS)
    if screens is not None and len(screens):
        out = pd.concat([out, screens[ALERT_COLUMNS]], ignore_index=True)
    return out.sort_values("severity", key=lambda s: s.map(order), kind="stable").reset_index(
        drop=True
    )


def _signal_alerts(both: pd.DataFrame, settings: AlertSettings, as_of: dt.date, add) -> None:
    """The alerts from relationship events (see :func:`alerts`)."""
    since = pd.Timestamp(as_of) - pd.Timedelta(days=RECENT_DAYS)

    def day(value) -> str:
        return pd.Timestamp(value).date().isoformat()

    fell = both.loc[
        (both["bureau_score_change"] <= -settings.score_drop) & (both["bureau_score_on"] > since)
    ]
    for severity, sel in (
        ("high", fell["bureau_score_change"] <= -2 * settings.score_drop),
        ("medium", fell["bureau_score_change"] > -2 * settings.score_drop),
    ):
        add(
            fell.loc[sel],
            "bureau score drop",
            severity,
            lambda r: (
                f"bureau score {r['bureau_score']:.0f} on {day(r['bureau_score_on'])}, "
                f"{-r['bureau_score_change']:.0f} points below its best of the half-year before"
            ),
        )
    for column, alert, severity, detail in (
        ("adverse_media_on", "adverse media", "high", "adverse media reported on {}"),
        ("insolvency_notice_on", "insolvency notice", "high", "insolvency notice on {}"),
        (
            "bank_change_on",
            "bank details changed",
            "medium",
            "bank account changed on {}: confirm it by calling a known number before refunds "
            "or large orders",
        ),
    ):
        add(both.loc[both[column].notna()], alert, severity, lambda r, c=column, d=detail: d.format(day(r[c])))  # fmt: skip
    if "shift_z" in both.columns:  # creditlab.drift.payment_shifts, merged in by the stage
        shifted = both.loc[
            (both["shift_z"] >= settings.shift_z) & (both["shift_days"] >= settings.shift_days)
        ]
        add(
            shifted,
            "paying later",
            "medium",
            lambda r: (
                f"{round(r['days_after'])} days beyond terms on the {int(r['n_after'])} invoice(s) "
                f"due since {day(r['shift_from'])}, against {round(r['days_before'])} before "
                f"(+{r['shift_days']:.0f} days, z {r['shift_z']:.1f})"
            ),
        )
    recent = both.loc[both["last_broken_promise_on"] > pd.Timestamp(as_of) - pd.Timedelta(days=30)]
    add(
        recent,
        "broken promise",
        "medium",
        lambda r: (
            f"promise to pay by {day(r['last_broken_promise_on'])} broken; "
            f"{int(r['promises_broken'])} of {int(r['promises_broken'] + r['promises_kept'])} "
            "broken in 12 months"
        ),
    )
