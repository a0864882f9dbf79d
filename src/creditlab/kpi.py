"""Ledger KPIs as of a date, from data known on that date (``shared/DOMAIN.md``).

Point in time: an invoice counts once it is issued (``issued_on <= as_of``) and is open while it is
unpaid at that date (``paid_on`` empty or later than ``as_of``). Its open balance is its amount, less
``amount_paid`` for invoices still unpaid today (the ledger does not date partial payments, so they
are taken to be known at every date). Days past due ``DPD = as_of - due_on`` (0 when not yet due).

The formulas are small pure functions (:func:`dso_countback`, :func:`cei`, ...) tested against the
worked examples; the table functions apply them to a ledger.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from creditlab.ledger.fx import CURRENCY_ORIGINAL, FX_RATE
from creditlab.ledger.schema import (
    AMOUNT,
    AMOUNT_PAID,
    BREACH,
    BUCKET,
    CREDIT_LIMIT,
    CURRENCY,
    CUSTOMER_ID,
    DISPUTED,
    DPD,
    DUE_ON,
    INDUSTRY,
    ISSUED_ON,
    MAX_DPD,
    NAME,
    OPEN_AR,
    OVERDUE_AR,
    PAID_ON,
    UTILISATION,
)

__all__ = [
    "AGING_BUCKETS",
    "aging",
    "as_timestamp",
    "at_risk_rates",
    "bucket_codes",
    "cei",
    "currency_exposure",
    "concentration",
    "customer_exposure",
    "dso_countback",
    "dso_standard",
    "headline",
    "industry_kpis",
    "limit_breaches",
    "monthly_trend",
    "open_items",
    "top_exposures",
]

AGING_BUCKETS = ("current", "1-30", "31-60", "61-90", "91-180", "180+")
_EDGES = np.array([0, 30, 60, 90, 180])  # DPD upper edges of the buckets after "current"


def as_timestamp(value: dt.date | str | pd.Timestamp) -> pd.Timestamp:
    """A date (or text) as a midnight :class:`pandas.Timestamp`."""
    return pd.Timestamp(value).normalize()


# ---------------------------------------------------------------------------------------------
# formulas
def dso_standard(ar: float, sales: float, days: float) -> float:
    """DSO = AR / credit sales in the period x days in the period (NaN without sales)."""
    return float(ar / sales * days) if sales > 0 else float("nan")


def dso_countback(ar: float, sales_newest_first: list[float], days: list[float]) -> float:
    """Countback DSO: subtract each period's sales from AR, newest first, adding its days.

    Examples
    --------
    >>> round(dso_countback(212_000, [100_000, 80_000, 70_000], [30, 30, 30]), 1)
    73.7
    """
    total, remaining = 0.0, float(ar)
    for sales, period_days in zip(sales_newest_first, days, strict=True):
        if remaining <= sales:
            return total + (remaining / sales * period_days if sales > 0 else 0.0)
        remaining -= sales
        total += period_days
    return float("nan") if remaining > 0 else total


def cei(begin_ar: float, sales: float, end_ar: float, end_current_ar: float) -> float:
    """Collection effectiveness index in percent (NaN when nothing was collectable)."""
    collectable = begin_ar + sales - end_current_ar
    return (
        float((begin_ar + sales - end_ar) / collectable * 100) if collectable > 0 else float("nan")
    )


# ---------------------------------------------------------------------------------------------
# point-in-time views
def _balance(invoices: pd.DataFrame) -> np.ndarray:
    paid_part = invoices[AMOUNT_PAID].fillna(0.0).to_numpy() if AMOUNT_PAID in invoices else 0.0
    amount = invoices[AMOUNT].to_numpy(dtype=float)
    return np.where(invoices[PAID_ON].isna().to_numpy(), amount - paid_part, amount)


def bucket_codes(dpd: np.ndarray) -> np.ndarray:
    """Index into :data:`AGING_BUCKETS` of each days-past-due value (0: current)."""
    dpd = np.asarray(dpd)
    return np.where(dpd <= 0, 0, 1 + np.searchsorted(_EDGES[1:], dpd, side="left"))


def open_items(invoices: pd.DataFrame, as_of: dt.date | str) -> pd.DataFrame:
    """Invoices open at ``as_of`` with their open balance, DPD and aging bucket."""
    t = as_timestamp(as_of)
    issued = invoices[ISSUED_ON] <= t
    unpaid = invoices[PAID_ON].isna() | (invoices[PAID_ON] > t)
    items = invoices.loc[issued & unpaid].copy()
    items[OPEN_AR] = _balance(items)
    items = items.loc[items[OPEN_AR] > 0]
    items[DPD] = np.maximum((t - items[DUE_ON]).dt.days.to_numpy(), 0)
    items[BUCKET] = pd.Categorical.from_codes(
        bucket_codes(items[DPD].to_numpy()), categories=list(AGING_BUCKETS), validate=False
    )
    return items


def aging(invoices: pd.DataFrame, as_of: dt.date | str) -> pd.DataFrame:
    """Open AR by aging bucket: ``bucket, invoices, open_ar, share``."""
    items = open_items(invoices, as_of)
    table = (
        items.groupby(BUCKET, observed=False)
        .agg(invoices=(OPEN_AR, "size"), open_ar=(OPEN_AR, "sum"))
        .reset_index()
    )
    total = table[OPEN_AR].sum()
    table["share"] = table[OPEN_AR] / total if total > 0 else 0.0
    table[BUCKET] = table[BUCKET].astype(str)
    return table


def _credits(credit_notes: pd.DataFrame | None, as_of: dt.date | str, days: int) -> pd.DataFrame:
    """Per customer: credit notes unapplied at ``as_of`` and those issued in the last ``days``."""
    if credit_notes is None or credit_notes.empty:
        return pd.DataFrame(columns=["open_credits", "credits_period"], dtype=float)
    t = as_timestamp(as_of)
    issued = credit_notes[ISSUED_ON] <= t
    unapplied = issued & (credit_notes[PAID_ON].isna() | (credit_notes[PAID_ON] > t))
    recent = issued & (credit_notes[ISSUED_ON] > t - pd.Timedelta(days=days))
    frame = credit_notes.assign(
        open_credits=np.where(unapplied, credit_notes[AMOUNT], 0.0),
        credits_period=np.where(recent, credit_notes[AMOUNT], 0.0),
    )
    return frame.groupby(CUSTOMER_ID)[["open_credits", "credits_period"]].sum()


def customer_exposure(
    customers: pd.DataFrame,
    invoices: pd.DataFrame,
    as_of: dt.date | str,
    credit_notes: pd.DataFrame | None = None,
    period_days: int = 90,
) -> pd.DataFrame:
    """Per customer: open and overdue AR, max DPD, open disputes, limit, utilisation, breach; with
    credit notes, also ``open_credits`` (unapplied at ``as_of``), which reduce ``open_ar`` (a
    customer whose credits exceed its invoices holds a ``credit_balance`` and 0 open AR), and
    ``dilution``: credit notes / sales issued in the last ``period_days``."""
    items = open_items(invoices, as_of)
    items["_overdue"] = np.where(items[DPD] > 0, items[OPEN_AR], 0.0)
    per = items.groupby(CUSTOMER_ID).agg(
        open_ar=(OPEN_AR, "sum"),
        overdue_ar=("_overdue", "sum"),
        max_dpd=(DPD, "max"),
        open_invoices=(OPEN_AR, "size"),
        open_disputes=(DISPUTED, "sum"),
    )
    t = as_timestamp(as_of)
    recent = (invoices[ISSUED_ON] <= t) & (invoices[ISSUED_ON] > t - pd.Timedelta(days=period_days))
    per = per.join(
        [
            invoices.loc[recent].groupby(CUSTOMER_ID)[AMOUNT].sum().rename("sales_period"),
            _credits(credit_notes, as_of, period_days),
        ],
        how="outer",
    )
    cols = [CUSTOMER_ID, NAME, INDUSTRY, CREDIT_LIMIT]
    out = customers[cols].merge(per, left_on=CUSTOMER_ID, right_index=True, how="left")
    for col in (OPEN_AR, OVERDUE_AR, MAX_DPD, "open_invoices", "open_disputes", "sales_period"):
        out[col] = out[col].fillna(0)
    for col in ("open_credits", "credits_period"):
        out[col] = out[col].astype(float).fillna(0.0)
    gross = out[OPEN_AR]
    out[OPEN_AR] = np.maximum(gross - out["open_credits"], 0.0)
    out["credit_balance"] = np.maximum(out["open_credits"] - gross, 0.0)
    out[OVERDUE_AR] = np.minimum(out[OVERDUE_AR], out[OPEN_AR])
    out["dilution"] = out["credits_period"] / out["sales_period"].where(out["sales_period"] > 0)
    limit = out[CREDIT_LIMIT].astype(float)
    out[UTILISATION] = np.where(limit > 0, out[OPEN_AR] / limit, np.nan)
    out[BREACH] = limit.notna() & (out[OPEN_AR] > limit)
    return out.reset_index(drop=True)


def currency_exposure(invoices: pd.DataFrame, as_of: dt.date | str) -> pd.DataFrame:
    """Open AR by the currency it was invoiced in: ``currency, open_invoices, open_ar_original``
    (in that currency), ``rate`` (to the portfolio currency at the as-of date, 1 for the portfolio's
    own), ``open_ar`` (portfolio currency) and ``share`` of open AR."""
    items = open_items(invoices, as_of)
    if CURRENCY_ORIGINAL in items.columns:
        items["_currency"] = items[CURRENCY_ORIGINAL]
        items["_rate"] = items[FX_RATE].astype(float)
    else:
        items["_currency"], items["_rate"] = items[CURRENCY], 1.0
    items["_original"] = items[OPEN_AR] / items["_rate"]
    table = (
        items.groupby("_currency")
        .agg(
            open_invoices=(OPEN_AR, "size"),
            open_ar_original=("_original", "sum"),
            rate=("_rate", "max"),
            open_ar=(OPEN_AR, "sum"),
        )
        .rename_axis(CURRENCY)
        .reset_index()
        .sort_values(OPEN_AR, ascending=False, ignore_index=True)
    )
    total = table[OPEN_AR].sum()
    table["share"] = table[OPEN_AR] / total if total > 0 else 0.0
    return table


def top_exposures(exposure: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """The ``n`` customers with the largest open AR."""
    return exposure.loc[exposure[OPEN_AR] > 0].nlargest(n, OPEN_AR).reset_index(drop=True)


def limit_breaches(exposure: pd.DataFrame) -> pd.DataFrame:
    """Customers whose open AR exceeds their credit limit, largest excess first."""
    out = exposure.loc[exposure[BREACH]].copy()
    out["excess"] = out[OPEN_AR] - out[CREDIT_LIMIT]
    return out.sort_values("excess", ascending=False).reset_index(drop=True)


def concentration(exposure: pd.DataFrame, top: int = 10) -> dict[str, float]:
    """Top-``top`` share of open AR and the Herfindahl index (sum of squared shares, 0..1)."""
    ar = exposure[OPEN_AR].to_numpy(dtype=float)
    total = ar.sum()
    if total <= 0:
        return {"top10_share": float("nan"), "herfindahl": float("nan")}
    shares = np.sort(ar / total)[::-1]
    return {"top10_share": float(shares[:top].sum()), "herfindahl": float((shares**2).sum())}


# ---------------------------------------------------------------------------------------------
# trends
class _Timeline:
    """Sorted views of a ledger that answer AR(D) and sales(a, b] quickly for many dates."""

    def __init__(self, invoices: pd.DataFrame):
        self.issued = invoices[ISSUED_ON].to_numpy(dtype="datetime64[D]")
        self.due = invoices[DUE_ON].to_numpy(dtype="datetime64[D]")
        settle = invoices[PAID_ON].to_numpy(dtype="datetime64[D]")
        self.settle = np.where(np.isnat(settle), np.datetime64("9999-12-31"), settle)
        self.balance = _balance(invoices)
        self.amount = invoices[AMOUNT].to_numpy(dtype=float)
        order = np.argsort(self.issued, kind="stable")
        self._issued_sorted = self.issued[order]
        self._sales_cum = np.concatenate([[0.0], np.cumsum(self.amount[order])])

    def ar(self, day: np.datetime64) -> tuple[float, float]:
        """(total open AR, current AR) at the end of ``day``."""
        open_ = (self.issued <= day) & (self.settle > day)
        total = float(self.balance[open_].sum())
        current = float(self.balance[open_ & (self.due >= day)].sum())
        return total, current

    def sales(self, start: np.datetime64, end: np.datetime64) -> float:
        """Credit sales issued in (start, end]."""
        lo = np.searchsorted(self._issued_sorted, start, side="right")
        hi = np.searchsorted(self._issued_sorted, end, side="right")
        return float(self._sales_cum[hi] - self._sales_cum[lo])


def _d(ts: pd.Timestamp) -> np.datetime64:
    return np.datetime64(ts.date(), "D")


def _month_ends_before(t: pd.Timestamp, n: int) -> list[pd.Timestamp]:
    """The ``n`` calendar month-ends before ``t``, oldest first."""
    previous = t.replace(day=1) - pd.Timedelta(days=1)
    return [previous - pd.DateOffset(months=k) + pd.offsets.MonthEnd(0) for k in range(n)][::-1]


def monthly_trend(
    invoices: pd.DataFrame, as_of: dt.date | str, months: int = 12, dso_period_days: int = 90
) -> pd.DataFrame:
    """AR, sales, DSO (standard and countback), BPDSO, ADD and CEI at each of the last month-ends.

    Points are the ``months - 1`` previous calendar month-ends and ``as_of``; each CEI covers the
    period since the previous point. Standard DSO and BPDSO use the trailing ``dso_period_days`` of
    sales; countback DSO uses calendar-month windows ending at the point.
    """
    t = as_timestamp(as_of)
    line = _Timeline(invoices)
    ends = [*_month_ends_before(t, months - 1), t]
    rows = []
    for i, end in enumerate([*_month_ends_before(ends[0], 1), *ends]):
        ar, current = line.ar(_d(end))
        if i == 0:
            prev_ar, prev_end = ar, end
            continue
        period_sales = line.sales(_d(end - pd.Timedelta(days=dso_period_days)), _d(end))
        windows = [
            (end - pd.DateOffset(months=k + 1), end - pd.DateOffset(months=k)) for k in range(24)
        ]
        cb_sales = [line.sales(_d(a), _d(b)) for a, b in windows]
        cb_days = [(b - a).days for a, b in windows]
        sales = line.sales(_d(prev_end), _d(end))
        dso = dso_standard(ar, period_sales, dso_period_days)
        bpdso = dso_standard(current, period_sales, dso_period_days)
        rows.append(
            {
                "period_end": end.date(),
                OPEN_AR: ar,
                "current_ar": current,
                OVERDUE_AR: ar - current,
                "sales": sales,
                "dso": dso,
                "dso_countback": dso_countback(ar, cb_sales, cb_days),
                "bpdso": bpdso,
                "add": dso - bpdso,
                "cei": cei(prev_ar, sales, ar, current),
            }
        )
        prev_ar, prev_end = ar, end
    return pd.DataFrame(rows)


def at_risk_rates(invoices: pd.DataFrame, as_of: dt.date | str, months: int = 12) -> pd.DataFrame:
    """Share of each billing month's amount still unpaid 90 days after the month ended.

    Only months whose 90-day horizon is on or before ``as_of`` have a rate.
    """
    t = as_timestamp(as_of)
    line = _Timeline(invoices)
    rows = []
    for end in _month_ends_before(t - pd.Timedelta(days=89), months):
        start = end.replace(day=1)
        in_month = (line.issued >= _d(start)) & (line.issued <= _d(end))
        billed = float(line.amount[in_month].sum())
        unpaid = float(
            line.amount[in_month & (line.settle > _d(end + pd.Timedelta(days=90)))].sum()
        )
        rows.append(
            {
                "billing_month": start.strftime("%Y-%m"),
                "billed": billed,
                "unpaid_after_90d": unpaid,
                "at_risk_rate": unpaid / billed if billed > 0 else float("nan"),
            }
        )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# summaries
def industry_kpis(
    customers: pd.DataFrame,
    invoices: pd.DataFrame,
    as_of: dt.date | str,
    dso_period_days: int = 90,
    credit_notes: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The headline KPIs and the aging split (share of open AR per bucket) for each industry."""
    industry_of = customers.set_index(CUSTOMER_ID)[INDUSTRY]
    inv_industry = invoices[CUSTOMER_ID].map(industry_of)
    cn_industry = None if credit_notes is None else credit_notes[CUSTOMER_ID].map(industry_of)
    rows = []
    for name, group in customers.groupby(INDUSTRY, sort=True):
        inv = invoices.loc[inv_industry == name]
        credits = None if credit_notes is None else credit_notes.loc[cn_industry == name]
        head = headline(group, inv, as_of, dso_period_days, credits)
        ag = aging(inv, as_of).set_index(BUCKET)["share"]
        rates = at_risk_rates(inv, as_of, months=1)["at_risk_rate"]
        rows.append(
            {
                INDUSTRY: name,
                **head,
                "at_risk_rate": float(rates.iloc[-1]),
                **{f"aging_{b}": float(ag.get(b, 0.0)) for b in AGING_BUCKETS},
            }
        )
    table = pd.DataFrame(rows).sort_values(OPEN_AR, ascending=False).reset_index(drop=True)
    total = table[OPEN_AR].sum()
    table.insert(
        table.columns.get_loc(OPEN_AR) + 1,
        "share_of_ar",
        table[OPEN_AR] / total if total > 0 else np.nan,
    )
    return table


def headline(
    customers: pd.DataFrame,
    invoices: pd.DataFrame,
    as_of: dt.date | str,
    dso_period_days: int = 90,
    credit_notes: pd.DataFrame | None = None,
) -> dict[str, float]:
    """The headline numbers of the weekly report, all as of ``as_of`` (open AR net of unapplied
    credit notes; dilution over the DSO period)."""
    exposure = customer_exposure(customers, invoices, as_of, credit_notes, dso_period_days)
    sales = exposure["sales_period"].sum()
    trend = monthly_trend(invoices, as_of, months=1, dso_period_days=dso_period_days).iloc[-1]
    has_limit = exposure[CREDIT_LIMIT].notna()
    return {
        "customers": int(len(customers)),
        "customers_with_open_ar": int((exposure[OPEN_AR] > 0).sum()),
        "open_invoices": int(exposure["open_invoices"].sum()),
        OPEN_AR: float(exposure[OPEN_AR].sum()),
        OVERDUE_AR: float(exposure[OVERDUE_AR].sum()),
        "overdue_share": float(exposure[OVERDUE_AR].sum() / exposure[OPEN_AR].sum())
        if exposure[OPEN_AR].sum() > 0
        else float("nan"),
        "open_credits": float(exposure["open_credits"].sum()),
        "credit_notes_period": float(exposure["credits_period"].sum()),
        "dilution": float(exposure["credits_period"].sum() / sales) if sales > 0 else float("nan"),
        "dso": float(trend["dso"]),
        "dso_countback": float(trend["dso_countback"]),
        "bpdso": float(trend["bpdso"]),
        "add": float(trend["add"]),
        "cei": float(trend["cei"]),
        "limit_breaches": int(exposure[BREACH].sum()),
        "customers_with_limit": int(has_limit.sum()),
        "utilisation": float(
            exposure.loc[has_limit, OPEN_AR].sum() / exposure.loc[has_limit, CREDIT_LIMIT].sum()
        )
        if has_limit.any() and exposure.loc[has_limit, CREDIT_LIMIT].sum() > 0
        else float("nan"),
        **concentration(exposure),
    }
