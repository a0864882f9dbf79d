"""Grades and segments: the master scale, payment behaviour, value tiers and the policy that applies.

A customer's segment is risk x behaviour x value:

- **risk**: the grade of its posterior mean PD on the master scale (bands in params), and the risk
  class of that grade; customers already in default get grade ``D``;
- **behaviour**: from the last 12 months of paid invoices, in this order: ``new`` (too few paid
  invoices to judge), ``deteriorating`` (paying later in the last 90 days than before),
  ``prompt`` (on time on average and steady), ``erratic`` (days late vary widely), otherwise
  ``slow-but-steady``;
- **value**: the tier of its margin contribution (annualised 12-month sales x margin) among the
  customers who bought in the last 12 months.

The first policy in the params' table that matches the segment applies.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from creditlab.decisions.settings import (
    DEFAULT_GRADE,
    DEFAULT_RISK,
    BehaviourRules,
    DecisionSettings,
    Grade,
)
from creditlab.ledger.schema import (
    AMOUNT,
    CUSTOMER_ID,
    DUE_ON,
    IN_DEFAULT,
    INDUSTRY,
    ISSUED_ON,
    NAME,
    PAID_ON,
    PAYMENT_TERMS_DAYS,
    PD_MEAN,
)
from creditlab.models.validation import calibration, pluto_tasche

__all__ = [
    "SEGMENT_COLUMNS",
    "WEEKDAYS",
    "assign_grades",
    "grade_calibration",
    "payment_behaviour",
    "segment_customers",
    "value_tiers",
]

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
SEGMENT_COLUMNS = [CUSTOMER_ID, "grade", "segment", "policy"]


def assign_grades(
    pd_mean: np.ndarray, in_default: np.ndarray, grades: tuple[Grade, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Grade and risk class of each PD on the master scale (``D``/``default`` when in default).

    Examples
    --------
    >>> from creditlab.decisions.settings import DEFAULT_SCALE
    >>> assign_grades(np.array([0.001, 0.03, 0.5]), np.array([False, False, True]), DEFAULT_SCALE)[0]
    array(['1', '5', 'D'], dtype=object)
    """
    edges = np.array([g.max_pd for g in grades])
    idx = np.minimum(
        np.searchsorted(edges, np.asarray(pd_mean, dtype=float), side="left"), len(edges) - 1
    )
    names = np.array([g.grade for g in grades], dtype=object)[idx]
    risks = np.array([g.risk for g in grades], dtype=object)[idx]
    in_default = np.asarray(in_default, dtype=bool)
    names[in_default], risks[in_default] = DEFAULT_GRADE, DEFAULT_RISK
    return names, risks


def grade_calibration(
    y: np.ndarray, p: np.ndarray, grades: tuple[Grade, ...], prob: float = 0.9
) -> pd.DataFrame:
    """Each grade's observed default rate against its mean PD, with the Jeffreys test, and its
    Pluto-Tasche most-prudent upper bound (``pt_upper``: what the defaults allow at most, from
    this grade and all worse ones).

    ``y`` and ``p`` are out-of-time outcomes and predicted PDs (the PD stage's validation window).
    """
    bands = (0.0, *(g.max_pd for g in grades))
    table = calibration(y, p, bands=bands, prob=prob)
    labels = [f"{lo:.1%} to {hi:.1%}" for lo, hi in zip(bands[:-1], bands[1:], strict=True)]
    grade_of = dict(zip(labels, [g.grade for g in grades], strict=True))
    table.insert(0, "grade", table["band"].map(grade_of))
    table["pt_upper"] = pluto_tasche(table["n"].to_numpy(), table["defaults"].to_numpy(), prob)
    return table


def _weekday_mode(days: pd.Series) -> str:
    counts = np.bincount(days.dt.day_of_week.to_numpy(), minlength=7)
    return WEEKDAYS[int(np.argmax(counts))]


def payment_behaviour(
    customers: pd.DataFrame, invoices: pd.DataFrame, as_of: dt.date, rules: BehaviourRules
) -> pd.DataFrame:
    """Per customer: how it paid in the last 12 months, its behaviour segment, usual payment day.

    Returns ``customer_id, paid_12m, mean_days_late, sd_days_late, late_trend, days_to_pay,
    usual_weekday, behaviour``. ``days_to_pay`` (issue to payment, 12-month mean; the payment terms
    when there is no history) is the cycle a credit limit turns over in.
    """
    t = pd.Timestamp(as_of)
    paid = invoices.loc[invoices[PAID_ON].notna() & (invoices[PAID_ON] <= t)]
    recent = paid.loc[paid[PAID_ON] > t - pd.Timedelta(days=365)].copy()
    recent["_late"] = (recent[PAID_ON] - recent[DUE_ON]).dt.days.astype(float)
    recent["_cycle"] = (recent[PAID_ON] - recent[ISSUED_ON]).dt.days.astype(float)
    last90 = recent[PAID_ON] > t - pd.Timedelta(days=90)
    recent["_late_new"] = recent["_late"].where(last90)
    recent["_late_old"] = recent["_late"].where(~last90)
    g = recent.groupby(CUSTOMER_ID)
    per = pd.DataFrame(
        {
            "paid_12m": g.size(),
            "mean_days_late": g["_late"].mean(),
            "sd_days_late": g["_late"].std(ddof=0),
            "late_trend": g["_late_new"].mean() - g["_late_old"].mean(),
            "days_to_pay": g["_cycle"].mean(),
        }
    )
    weekday = paid.groupby(CUSTOMER_ID)[PAID_ON].agg(_weekday_mode).rename("usual_weekday")
    out = (
        customers[[CUSTOMER_ID, PAYMENT_TERMS_DAYS]]
        .join(per, on=CUSTOMER_ID)
        .join(weekday, on=CUSTOMER_ID)
    )
    out["paid_12m"] = out["paid_12m"].fillna(0).astype(int)
    out["days_to_pay"] = out["days_to_pay"].fillna(out[PAYMENT_TERMS_DAYS].astype(float))
    conditions = [
        out["paid_12m"] < rules.min_invoices,
        out["late_trend"].fillna(0) > rules.deteriorating_days,
        (out["mean_days_late"] <= rules.prompt_days)
        & (out["sd_days_late"] <= rules.erratic_sd_days),
        out["sd_days_late"] > rules.erratic_sd_days,
    ]
    choices = ["new", "deteriorating", "prompt", "erratic"]
    out["behaviour"] = np.select(conditions, choices, default="slow-but-steady")
    return out.drop(columns=[PAYMENT_TERMS_DAYS])


def value_tiers(
    customers: pd.DataFrame,
    invoices: pd.DataFrame,
    as_of: dt.date,
    margin: float,
    tiers: dict[str, float],
) -> pd.DataFrame:
    """Per customer: annualised 12-month sales, margin contribution and value tier.

    Sales are annualised over the part of the last 12 months since the customer's first invoice,
    so a customer who started buying 3 months ago is not mistaken for a small one.
    """
    t = pd.Timestamp(as_of)
    known = invoices.loc[invoices[ISSUED_ON] <= t]
    first = known.groupby(CUSTOMER_ID)[ISSUED_ON].min()
    window = known.loc[known[ISSUED_ON] > t - pd.Timedelta(days=365)]
    sales = window.groupby(CUSTOMER_ID)[AMOUNT].sum()
    out = customers[[CUSTOMER_ID]].copy()
    out["sales_12m"] = out[CUSTOMER_ID].map(sales).fillna(0.0).astype(float)
    days = (t - out[CUSTOMER_ID].map(first)).dt.days.clip(lower=30, upper=365)
    out["annual_sales"] = (out["sales_12m"] * 365 / days).fillna(0.0)
    out["contribution"] = out["annual_sales"] * margin
    buying = out["contribution"] > 0
    hi, mid = (
        np.quantile(out.loc[buying, "contribution"], [tiers["high"], tiers["medium"]])
        if buying.any()
        else (0, 0)
    )
    out["value"] = np.select(
        [buying & (out["contribution"] >= hi), buying & (out["contribution"] >= mid)],
        ["high", "medium"],
        default="low",
    )
    return out


def segment_customers(
    scores: pd.DataFrame,
    behaviour: pd.DataFrame,
    value: pd.DataFrame,
    settings: DecisionSettings,
) -> pd.DataFrame:
    """Each scored customer's grade, segment and the policy that applies to it.

    ``scores`` holds ``customer_id, name, industry, pd_mean, in_default`` (the PD stage's output).
    """
    out = scores[[CUSTOMER_ID, NAME, INDUSTRY, PD_MEAN, IN_DEFAULT]].merge(
        behaviour, on=CUSTOMER_ID, how="left"
    )
    out = out.merge(value, on=CUSTOMER_ID, how="left")
    out["behaviour"] = out["behaviour"].fillna("new")
    out["value"] = out["value"].fillna("low")
    out["grade"], out["risk"] = assign_grades(
        out[PD_MEAN].to_numpy(), out[IN_DEFAULT].to_numpy(), settings.grades
    )
    out["segment"] = out["risk"] + " risk / " + out["behaviour"] + " / " + out["value"] + " value"
    rows = []
    for risk, beh, val in zip(out["risk"], out["behaviour"], out["value"], strict=True):
        policy = next(p for p in settings.policies if p.matches(risk, beh, val))
        rows.append(
            {
                "policy": policy.name,
                "terms_days": policy.terms_days,
                "limit_policy": policy.limit,
                "review_months": policy.review_months,
                "dunning": policy.dunning,
                "approval": policy.approval,
            }
        )
    return pd.concat([out, pd.DataFrame(rows, index=out.index)], axis=1)
