"""Planted bust-outs in a synthetic portfolio: customers that order far beyond their history, then
stop paying, for measuring the fraud screens (``benchmarks/bust_out.py``).

A share ``SynthConfig.bust_outs`` of the customers that never default otherwise, with invoices
before, is picked; each gets a bust-out day ``B`` in the last two years. In the ``RAMP_DAYS``
before ``B`` it places 4-8 extra orders of 3-8 times its median invoice; it pays none of the invoices
issued from the ramp on, orders nothing after ``B``, and ``COLLECTIONS_AFTER`` days after ``B`` a
collections agency takes the case. Half of them are *dormant* first (their invoices of the eight
months before the ramp are removed: a dormant account reactivated); half change their address or
bank account 5-30 days before the ramp. The rest of the portfolio is untouched (its own random
stream). ``truth/customers.csv`` gains ``bust_out_on`` and ``bust_out_kind``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from creditlab.ledger.schema import (
    AMOUNT,
    AMOUNT_PAID,
    CURRENCY,
    CUSTOMER_ID,
    DETAIL,
    DISPUTED,
    DUE_ON,
    EVENT_ON,
    INVOICE_ID,
    ISSUED_ON,
    KIND,
    PAID_ON,
)

__all__ = ["COLLECTIONS_AFTER", "RAMP_DAYS", "plant_bust_outs"]

RAMP_DAYS = 75  # the orders of a bust-out fall in this many days before it
COLLECTIONS_AFTER = 90  # days from a bust-out to the collections agency
DORMANT_DAYS = 240  # a dormant bust-out ordered nothing this long before its ramp


def plant_bust_outs(
    seed: int,
    share: float,
    invoices: pd.DataFrame,
    events: pd.DataFrame,
    truth: pd.DataFrame,
    end: np.datetime64,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``(invoices, events, truth)`` with bust-outs planted (see the module docstring)."""
    rng = np.random.default_rng([seed, 22])
    truth = truth.assign(bust_out_on=pd.NaT, bust_out_kind="")
    end = pd.Timestamp(end)
    first = invoices.groupby(CUSTOMER_ID)[ISSUED_ON].min()
    terms = (invoices[DUE_ON] - invoices[ISSUED_ON]).groupby(invoices[CUSTOMER_ID]).median()
    median_amount = invoices.groupby(CUSTOMER_ID)[AMOUNT].median()
    pool = truth.loc[~truth["defaulted"] & truth[CUSTOMER_ID].isin(first.index), CUSTOMER_ID]
    chosen = pool.to_numpy()[rng.random(len(pool)) < share]
    keep = pd.Series(True, index=invoices.index)
    new_invoices, new_events = [], []
    next_id = len(invoices) + 1
    for cid in chosen:
        latest = end - pd.Timedelta(days=30)
        earliest = max(end - pd.Timedelta(days=730), first[cid] + pd.Timedelta(days=365))
        if earliest >= latest:
            continue
        span = (latest - earliest).days
        bust = earliest + pd.Timedelta(days=int(rng.integers(0, span + 1)))
        ramp = bust - pd.Timedelta(days=RAMP_DAYS)
        dormant = rng.random() < 0.5
        mine = invoices[CUSTOMER_ID] == cid
        if dormant:
            keep &= ~(
                mine & invoices[ISSUED_ON].between(ramp - pd.Timedelta(days=DORMANT_DAYS), ramp)
            )
        keep &= ~(mine & (invoices[ISSUED_ON] > bust))
        k = int(rng.integers(4, 9))
        issued = ramp + pd.to_timedelta(np.sort(rng.integers(0, RAMP_DAYS + 1, k)), "D")
        amount = np.round(median_amount[cid] * rng.uniform(3, 8, k), 2)
        new_invoices.append(
            pd.DataFrame(
                {
                    INVOICE_ID: [f"INV{next_id + i:08d}" for i in range(k)],
                    CUSTOMER_ID: cid,
                    ISSUED_ON: issued,
                    DUE_ON: issued + terms[cid],
                    AMOUNT: amount,
                    PAID_ON: pd.NaT,
                    AMOUNT_PAID: 0.0,
                    DISPUTED: False,
                }
            )
        )
        next_id += k
        if rng.random() < 0.5:
            changed = ramp - pd.Timedelta(days=int(rng.integers(5, 31)))
            what = "address" if rng.random() < 0.5 else "bank_account"
            new_events.append({CUSTOMER_ID: cid, EVENT_ON: changed, KIND: "master_data_change",
                               INVOICE_ID: "", DETAIL: what})  # fmt: skip
        if bust + pd.Timedelta(days=COLLECTIONS_AFTER) <= end:
            new_events.append({CUSTOMER_ID: cid, EVENT_ON: bust + pd.Timedelta(days=COLLECTIONS_AFTER),
                               KIND: "collections_agency", INVOICE_ID: ""})  # fmt: skip
        truth.loc[truth[CUSTOMER_ID] == cid, ["bust_out_on", "bust_out_kind"]] = (
            bust,
            "dormant" if dormant else "ramp",
        )
    out = invoices.loc[keep].copy()
    unpaid = out[CUSTOMER_ID].isin(truth.loc[truth["bust_out_on"].notna(), CUSTOMER_ID])
    ramp_of = out[CUSTOMER_ID].map(truth.set_index(CUSTOMER_ID)["bust_out_on"]) - pd.Timedelta(
        days=RAMP_DAYS
    )
    stop = unpaid & (out[ISSUED_ON] >= ramp_of)  # nothing issued from the ramp on is paid
    out.loc[stop, PAID_ON] = pd.NaT
    out.loc[stop, AMOUNT_PAID] = 0.0
    if new_invoices:
        added = pd.concat(new_invoices, ignore_index=True)
        added[CURRENCY] = invoices[CURRENCY].iloc[0]
        out = pd.concat([out, added[invoices.columns]], ignore_index=True)
    out = out.sort_values([ISSUED_ON, CUSTOMER_ID], kind="stable", ignore_index=True)
    ev = pd.concat([events, pd.DataFrame(new_events)], ignore_index=True)
    ev = ev.loc[(ev[INVOICE_ID].fillna("") == "") | ev[INVOICE_ID].isin(out[INVOICE_ID])]
    return out, ev.sort_values(EVENT_ON, kind="stable", ignore_index=True), truth
