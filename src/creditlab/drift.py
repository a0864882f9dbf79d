"""Shifts in a customer's payment behaviour, point in time: has it started paying later, since when
and by how much?

Each invoice due in the last ``LOOKBACK_DAYS`` before ``as_of`` is one observation of the days
beyond terms, in due-date order: days from due date to payment for an invoice paid by ``as_of``,
the days overdue so far for one still open past its due date (a lower bound: a customer that stops
paying shows at once, not when it finally pays); invoices not yet due say nothing. Values are
clipped to ``[-CLIP_DAYS, CLIP_DAYS]`` so one lost invoice cannot make a shift alone.

The detector is a scan for one step up in the mean: for every split of the sequence whose later
part starts within the last ``RECENT_DAYS`` and holds at least ``MIN_AFTER`` invoices (with at
least ``MIN_BEFORE`` before), ``z = (mean after - mean before) / (s * sqrt(1/n_before +
1/n_after))``, ``s`` the customer's own robust spread before the split (MAD), never below
``MIN_SPREAD_DAYS``. The split with the largest ``z`` is the shift: it started with the first
invoice after the split (``shift_from``, its due date) and its size is the difference of the
means. Whether a shift raises an alert (``z`` and size over thresholds) is the alerts' business;
what that costs in false alarms and gains in warning time is measured by
``benchmarks/early_warning.py``.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from creditlab.ledger.schema import CUSTOMER_ID, DUE_ON, ISSUED_ON, PAID_ON

__all__ = ["SHIFT_COLUMNS", "payment_shifts"]

LOOKBACK_DAYS = 540  # invoices due this long before as_of are looked at
RECENT_DAYS = 180  # a shift must have started (its first invoice due) this recently
MIN_BEFORE, MIN_AFTER = 4, 2  # invoices needed before and after a split
CLIP_DAYS = 120  # days beyond terms are clipped to +-this
MIN_SPREAD_DAYS = 4.0  # floor of a customer's spread of days beyond terms
SHIFT_COLUMNS = [
    CUSTOMER_ID,
    "shift_from",
    "shift_days",
    "days_before",
    "days_after",
    "n_before",
    "n_after",
    "shift_z",
]


def _observations(invoices: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    t = pd.Timestamp(as_of)
    inv = invoices.loc[
        (invoices[ISSUED_ON] <= t)
        & (invoices[DUE_ON] < t)
        & (invoices[DUE_ON] >= t - pd.Timedelta(days=LOOKBACK_DAYS))
    ]
    paid = inv[PAID_ON].notna() & (inv[PAID_ON] <= t)
    until = inv[PAID_ON].where(paid, t)
    days = (until - inv[DUE_ON]).dt.days.astype(float).clip(-CLIP_DAYS, CLIP_DAYS)
    out = pd.DataFrame({CUSTOMER_ID: inv[CUSTOMER_ID].to_numpy(), DUE_ON: inv[DUE_ON].to_numpy()})
    out["days"] = days.to_numpy()
    return out.sort_values([CUSTOMER_ID, DUE_ON], kind="stable")


def _scan(days: np.ndarray, due: np.ndarray, since: np.datetime64) -> tuple | None:
    """The best split of one customer's sequence: (index, z, mean before, mean after) or None."""
    n = len(days)
    if n < MIN_BEFORE + MIN_AFTER:
        return None
    csum = np.concatenate([[0.0], np.cumsum(days)])
    k = np.arange(MIN_BEFORE, n - MIN_AFTER + 1)  # the after part starts at index k
    k = k[due[k] >= since]
    if len(k) == 0:
        return None
    before = csum[k] / k
    after = (csum[n] - csum[k]) / (n - k)
    spread = np.array([np.median(np.abs(days[:j] - np.median(days[:j]))) * 1.4826 for j in k])
    spread = np.maximum(spread, MIN_SPREAD_DAYS)
    z = (after - before) / (spread * np.sqrt(1.0 / k + 1.0 / (n - k)))
    best = int(np.argmax(z))
    return int(k[best]), float(z[best]), float(before[best]), float(after[best])


def payment_shifts(invoices: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """Each customer's largest recent step up in days beyond terms (:data:`SHIFT_COLUMNS`; see the
    module docstring). Customers with too few invoices have no row; a row's ``shift_z`` may be
    small or negative (no shift): the caller decides what counts."""
    obs = _observations(invoices, as_of)
    since = np.datetime64(pd.Timestamp(as_of) - pd.Timedelta(days=RECENT_DAYS), "ns")
    rows = []
    for cid, g in obs.groupby(CUSTOMER_ID, sort=False):
        days, due = g["days"].to_numpy(), g[DUE_ON].to_numpy(dtype="datetime64[ns]")
        found = _scan(days, due, since)
        if found is None:
            continue
        k, z, before, after = found
        rows.append(
            {
                CUSTOMER_ID: cid,
                "shift_from": pd.Timestamp(due[k]),
                "shift_days": after - before,
                "days_before": before,
                "days_after": after,
                "n_before": k,
                "n_after": len(days) - k,
                "shift_z": z,
            }
        )
    return pd.DataFrame(rows, columns=SHIFT_COLUMNS)
