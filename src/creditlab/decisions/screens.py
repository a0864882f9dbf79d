"""Fraud and bust-out screens: orders far beyond what a customer's history predicts, point in time.

A bust-out is a customer (often new, or a dormant account brought back) that builds trust, orders
far more than usual in a few weeks and never pays. Each screen is an alert with its reason and its
evidence (:data:`creditlab.decisions.worklist.ALERT_COLUMNS`), from the invoices issued and the
events known at ``as_of``:

* **order surge**: invoiced in the last ``WINDOW_DAYS`` more than ``surge`` times the customer's
  mean 30-day billing over the year before, and more than its year makes credible: a 30-day
  billing at least this high has a posterior predictive chance under ``SURGE_TAIL``
  (:func:`surge_tail`; the chance is in the evidence); needs ``MIN_HISTORY_DAYS`` of history.
* **dormant reactivated**: a first order after at least ``DORMANT_DAYS`` without one, within the
  last 60 days, billing more than ``surge`` times its mean 30-day billing when it was active.
* **new account growing fast**: a customer whose first invoice is under ``MIN_HISTORY_DAYS`` old
  and whose billing since then exceeds both ``surge`` times the median and the 95th percentile of
  what its industry's customers billed in their own first as many days (the portfolio's, where
  the industry has fewer than ``MIN_PEERS`` such customers).
* **details changed before a large order**: an address or bank-account change in the
  ``CHANGE_DAYS`` before an invoice of the last ``WINDOW_DAYS`` at least ``surge`` times the
  customer's median invoice.

``benchmarks/bust_out.py`` measures them on portfolios with planted bust-outs
(:mod:`creditlab.ledger.synth_fraud`): how many are caught before they stop paying, and the false
alarms on everyone else.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from creditlab.ledger.schema import (
    AMOUNT,
    CUSTOMER_ID,
    DETAIL,
    EVENT_ON,
    INDUSTRY,
    INVOICE_ID,
    ISSUED_ON,
    KIND,
    NAME,
)

__all__ = ["bust_out_screens", "surge_tail"]

WINDOW_DAYS = 30  # the recent orders a screen looks at
MIN_HISTORY_DAYS = 180  # history needed to judge a surge; younger accounts are "new"
DORMANT_DAYS = 180  # no order this long before a reactivation
REACTIVATED_DAYS = 60  # a reactivation this recent counts
CHANGE_DAYS = 60  # a master-data change this long before a large order counts
MIN_PEERS = 20  # customers a new account is compared with (its industry's, else the portfolio's)
SURGE_TAIL = 0.001  # an order surge is a 30-day billing this unlikely given the customer's year
SURGE_DRAWS = 8000  # simulated 30-day billings per customer for that chance
_COLUMNS = [CUSTOMER_ID, NAME, "alert", "severity", "detail"]
_HIGH = ("dormant account reactivated", "details changed before a large order")  # else medium


def _money(v: float) -> str:
    return f"{v:,.0f}"


def surge_tail(
    counts: np.ndarray,
    rows: np.ndarray,
    amounts: list[np.ndarray],
    recent: np.ndarray,
    seed: int = 0,
) -> np.ndarray:
    """Posterior predictive chance of a 30-day billing at least ``recent`` for the customers in
    ``rows`` of ``counts`` (every customer's invoices per 30-day window of the year before, NaN
    where it was not yet a customer: the portfolio's rows set the priors), from their counts and
    the amounts of those invoices (``amounts``, one array per row in ``rows``).

    The invoices of a window are negative binomial: Poisson with a rate that is the customer's
    own (Gamma posterior; prior worth one window at the portfolio's median rate) times a Gamma
    burst factor of mean 1 whose shape is the portfolio's (method of moments: orders come in
    bursts, months go empty). Each invoice's amount is one of the customer's own amounts of the
    year, drawn with replacement. The chance is estimated from ``SURGE_DRAWS`` simulated windows
    (at least ``1 / (SURGE_DRAWS + 1)``).
    """
    rng = np.random.default_rng(seed)
    counts = np.asarray(counts, dtype=float)
    n = np.sum(~np.isnan(counts), axis=1)
    total = np.nansum(counts, axis=1)
    mean = total / n
    dev = np.where(np.isnan(counts), 0.0, counts - mean[:, None])
    var = (dev**2).sum(axis=1) / np.maximum(n - 1, 1)
    excess = np.nansum(np.where(n >= 3, var - mean, 0.0))
    shape = np.nansum(np.where(n >= 3, mean**2, 0.0)) / excess if excess > 0 else np.inf
    prior = float(np.median(mean)) if len(mean) else 1.0
    tail = np.ones(len(rows))
    for k, (row, own) in enumerate(zip(rows, amounts, strict=True)):
        if len(own) == 0:
            continue
        rate = rng.gamma(prior + total[row], 1.0 / (1.0 + n[row]), SURGE_DRAWS)
        if np.isfinite(shape):
            rate = rate * rng.gamma(shape, 1.0 / shape, SURGE_DRAWS)
        invoices = rng.poisson(rate)
        picked = own[rng.integers(0, len(own), int(invoices.sum()))]
        billed = np.bincount(np.repeat(np.arange(SURGE_DRAWS), invoices), picked, SURGE_DRAWS)
        tail[k] = (1 + np.sum(billed >= recent[k])) / (SURGE_DRAWS + 1)
    return tail


def bust_out_screens(
    customers: pd.DataFrame,
    invoices: pd.DataFrame,
    events: pd.DataFrame,
    as_of: dt.date,
    surge: float = 3.0,
) -> pd.DataFrame:
    """The screens' alerts at ``as_of`` (see the module docstring), one row per customer and
    screen; ``surge`` is the multiple of the usual that counts as far beyond it."""
    t = pd.Timestamp(as_of)
    inv = invoices.loc[invoices[ISSUED_ON] <= t, [INVOICE_ID, CUSTOMER_ID, ISSUED_ON, AMOUNT]]
    name = customers.set_index(CUSTOMER_ID)[NAME].to_dict()
    rows: list[dict] = []

    def add(cid, alert: str, detail: str) -> None:
        severity = "high" if alert in _HIGH else "medium"
        rows.append({CUSTOMER_ID: cid, NAME: name.get(cid), "alert": alert, "severity": severity,
                     "detail": detail})  # fmt: skip

    window = t - pd.Timedelta(days=WINDOW_DAYS)
    first = inv.groupby(CUSTOMER_ID)[ISSUED_ON].min()
    recent = inv.loc[inv[ISSUED_ON] > window].groupby(CUSTOMER_ID)[AMOUNT].sum()
    # order surge: the last 30 days against the 12 30-day windows before
    year = inv.loc[(inv[ISSUED_ON] > window - pd.Timedelta(days=360)) & (inv[ISSUED_ON] <= window)]
    slot = ((window - year[ISSUED_ON]).dt.days // WINDOW_DAYS).clip(0, 11)
    cells = year.groupby([year[CUSTOMER_ID], slot])[AMOUNT].agg(["sum", "size"])
    per = cells["sum"].unstack(fill_value=0.0).reindex(columns=range(12), fill_value=0.0)
    how_many = cells["size"].unstack(fill_value=0).reindex(columns=range(12), fill_value=0)
    how_many = how_many.astype(float)
    active = np.clip((window - first.reindex(per.index)).dt.days.to_numpy() // WINDOW_DAYS, 1, 12)
    how_many = how_many.where(np.arange(12)[None, :] < active[:, None])  # NaN before it was one
    mean = per.sum(axis=1) / active
    seasoned = first.index[first <= t - pd.Timedelta(days=MIN_HISTORY_DAYS)]
    judged = recent.index.intersection(per.index).intersection(seasoned)
    judged = judged[
        (mean[judged] > 0).to_numpy() & (recent[judged] > surge * mean[judged]).to_numpy()
    ]
    rows_of = per.index.get_indexer(judged)
    own = year.loc[year[CUSTOMER_ID].isin(judged)].groupby(CUSTOMER_ID)[AMOUNT]  # the judged only
    own = {c: a.to_numpy(dtype=float) for c, a in own}
    tail = surge_tail(
        how_many.to_numpy(), rows_of, [own.get(c, np.zeros(0)) for c in judged],
        recent[judged].to_numpy(), t.toordinal(),
    )  # fmt: skip
    for k, cid in enumerate(judged):
        if tail[k] < SURGE_TAIL:
            months = per.loc[cid].to_numpy()[: active[rows_of[k]]]
            add(cid, "order surge", f"invoiced {_money(recent[cid])} in the last {WINDOW_DAYS} days; "
                f"its 30-day billing in the year before: mean {_money(mean[cid])}, at most "
                f"{_money(months.max())}; a 30-day billing this high had a chance of "
                f"{tail[k]:.1e} given that year")  # fmt: skip
    # dormant reactivated: a long gap before a recent first order
    srt = inv.sort_values([CUSTOMER_ID, ISSUED_ON])
    gap = srt.groupby(CUSTOMER_ID)[ISSUED_ON].diff().dt.days
    back = srt.loc[
        (gap >= DORMANT_DAYS) & (srt[ISSUED_ON] > t - pd.Timedelta(days=REACTIVATED_DAYS))
    ]
    for r in back.itertuples(index=False):
        cid, since = r.customer_id, r.issued_on
        before = srt.loc[(srt[CUSTOMER_ID] == cid) & (srt[ISSUED_ON] < since)]
        active_days = max((before[ISSUED_ON].max() - before[ISSUED_ON].min()).days, WINDOW_DAYS)
        usual = before[AMOUNT].sum() / active_days * WINDOW_DAYS
        now = srt.loc[(srt[CUSTOMER_ID] == cid) & (srt[ISSUED_ON] >= since), AMOUNT].sum()
        if now > surge * usual:
            add(cid, "dormant account reactivated", f"no order for {int(gap.loc[(srt[CUSTOMER_ID] == cid) & (srt[ISSUED_ON] == since)].max())} days "
                f"until {since.date()}; {_money(now)} invoiced since, against "
                f"{_money(usual)} per 30 days when it was active")  # fmt: skip
    # a new account growing faster than new accounts of its industry do
    young = first.index[first > t - pd.Timedelta(days=MIN_HISTORY_DAYS)]
    age_of = inv[ISSUED_ON] - inv[CUSTOMER_ID].map(first)
    industry = (
        customers.set_index(CUSTOMER_ID)[INDUSTRY].astype(str).reindex(first.index)
        if INDUSTRY in customers
        else pd.Series("", index=first.index)
    )
    for cid in young:
        age = (t - first[cid]).days
        if age < 14:
            continue
        peers = first.index[first <= t - pd.Timedelta(days=age)].difference([cid])
        alike = peers[(industry[peers] == industry[cid]).to_numpy()]
        who = f"{industry[cid]} customers" if len(alike) >= MIN_PEERS else "customers"
        peers = alike if len(alike) >= MIN_PEERS else peers
        early = inv.loc[inv[CUSTOMER_ID].isin(peers) & (age_of <= pd.Timedelta(days=age))]
        peer_sum = early.groupby(CUSTOMER_ID)[AMOUNT].sum().reindex(peers, fill_value=0.0)
        own = inv.loc[inv[CUSTOMER_ID] == cid, AMOUNT].sum()
        if len(peer_sum) >= MIN_PEERS:
            med, p95 = peer_sum.median(), peer_sum.quantile(0.95)
            if own > max(surge * med, p95):
                add(cid, "new account growing fast", f"invoiced {_money(own)} in its first {age} "
                    f"days; {who} billed a median {_money(med)} (95 % up to {_money(p95)}) "
                    "in theirs")  # fmt: skip
    # an address or bank change shortly before a large order
    ev = events.loc[
        (events[KIND] == "master_data_change")
        & (events[EVENT_ON] <= t)
        & events[DETAIL].isin(["address", "bank_account"])
    ]
    if len(ev):
        median = inv.groupby(CUSTOMER_ID)[AMOUNT].median()
        large = inv.loc[
            (inv[ISSUED_ON] > window) & (inv[AMOUNT] >= surge * inv[CUSTOMER_ID].map(median))
        ]
        both = large.merge(ev[[CUSTOMER_ID, EVENT_ON, DETAIL]], on=CUSTOMER_ID)
        lag = (both[ISSUED_ON] - both[EVENT_ON]).dt.days
        both = both.loc[(lag >= 0) & (lag <= CHANGE_DAYS)].sort_values(AMOUNT, ascending=False)
        for r in both.drop_duplicates(CUSTOMER_ID).itertuples(index=False):
            what = "bank account" if r.detail == "bank_account" else "address"
            add(r.customer_id, "details changed before a large order", f"{what} changed on "
                f"{r.event_on.date()}, {(r.issued_on - r.event_on).days} days before invoice "
                f"{r.invoice_id} of {_money(r.amount)} ({r.amount / median[r.customer_id]:.1f}x its "
                "median invoice): confirm the change and the delivery address before shipping")  # fmt: skip
    return pd.DataFrame(rows, columns=_COLUMNS)
