"""Relationship signals from the events table, point in time: promises kept or broken, open disputes
and complaints, contacts, master-data changes and external signals.

Only what was known at ``as_of`` counts: events on or before it, payments on or before it.

* **Promises.** A promise to pay is *kept* when what it promised was paid by ``promised_on`` plus
  ``PROMISE_GRACE_DAYS`` (a promise about an invoice: that invoice paid; about the customer: its
  payments from the promise's day reach the promised amount, or any payment when none is given),
  *broken* when that day has passed without it, *pending* before.
* **Disputes.** An invoice's dispute is open from its ``dispute_opened`` event (or the invoice's
  own ``disputed`` flag) until a later ``dispute_closed`` about it, or until the invoice is paid; a
  dispute about the customer as a whole until a later ``dispute_closed`` without an invoice. A
  complaint is open for ``COMPLAINT_DAYS`` unless a ``dispute_closed`` follows it.
* **External signals.** The latest ``bureau_score`` and its change against the highest score of the
  ``SCORE_WINDOW_DAYS`` before it; ``adverse_media`` and ``insolvency_notice`` within
  ``RECENT_DAYS``; a ``master_data_change`` of the bank account within ``RECENT_DAYS``.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from creditlab.features import SIGNAL_FEATURES, SNAPSHOT
from creditlab.ledger.schema import (
    AMOUNT,
    AMOUNT_PAID,
    CHANNEL,
    CONTACT_EVENTS,
    CUSTOMER_ID,
    DETAIL,
    DISPUTED,
    EVENT_ON,
    INVOICE_ID,
    KIND,
    NOTE,
    OUTCOME,
    PAID_ON,
    PROMISED_ON,
    VALUE,
)

__all__ = [
    "COMPLAINT_DAYS",
    "PROMISE_GRACE_DAYS",
    "RECENT_DAYS",
    "SCORE_WINDOW_DAYS",
    "SIGNAL_COLUMNS",
    "customer_signals",
    "has_signal_events",
    "signal_features",
    "with_signal_features",
    "open_disputes",
    "promise_outcomes",
    "timeline",
]

PROMISE_GRACE_DAYS = 3  # a payment this many days after the promised day still keeps the promise
COMPLAINT_DAYS = 30  # a complaint counts as open this long unless a dispute_closed follows
RECENT_DAYS = 90  # adverse media, insolvency notices and bank-account changes this recent count
SCORE_WINDOW_DAYS = 180  # a bureau score's change: against the best score of this many days before
LOOKBACK_DAYS = 365  # promises counted over this many days
SIGNAL_KINDS = ("promise_to_pay", "master_data_change", "external_signal")  # what the features read

SIGNAL_COLUMNS = [
    CUSTOMER_ID,
    "promises_kept",
    "promises_broken",
    "promise_pending_until",
    "last_broken_promise_on",
    "open_disputes",
    "disputed_amount",
    "dispute_reasons",
    "open_complaint",
    "last_contact_on",
    "contacts_30d",
    "bank_change_on",
    "bureau_score",
    "bureau_score_on",
    "bureau_score_change",
    "adverse_media_on",
    "insolvency_notice_on",
]


def _known(events: pd.DataFrame, t: pd.Timestamp) -> pd.DataFrame:
    """The events on or before ``t``, with every optional column typed (absent ones empty; an
    empty events table has untyped columns)."""
    ev = events.copy()
    for col in (INVOICE_ID, PROMISED_ON, AMOUNT, DETAIL, VALUE):
        if col not in ev:
            ev[col] = "" if col == INVOICE_ID else np.nan
    for col in (EVENT_ON, PROMISED_ON):
        ev[col] = pd.to_datetime(ev[col])
    for col in (AMOUNT, VALUE):
        ev[col] = pd.to_numeric(ev[col]).astype(float)
    ev[INVOICE_ID] = ev[INVOICE_ID].fillna("").astype(str)
    return ev.loc[ev[EVENT_ON] <= t]


def _paid_by(invoices: pd.DataFrame, t: pd.Timestamp) -> pd.Series:
    """Each invoice's payment day when it was paid by ``t`` (NaT otherwise), by invoice_id."""
    paid = invoices[PAID_ON].where(invoices[PAID_ON] <= t)
    return pd.Series(paid.to_numpy(), index=invoices[INVOICE_ID].astype(str).to_numpy())


def promise_outcomes(events: pd.DataFrame, invoices: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """Every promise to pay made by ``as_of``, with its status: kept, broken or pending.

    Returns
    -------
    DataFrame
        ``customer_id, event_on, invoice_id, promised_on, amount, status, paid_on`` (the day the
        promise was kept; NaT otherwise).

    Examples
    --------
    >>> ev = pd.DataFrame({"customer_id": ["C1"], "event_on": [pd.Timestamp("2026-01-05")],
    ...     "kind": ["promise_to_pay"], "invoice_id": ["I1"],
    ...     "promised_on": [pd.Timestamp("2026-01-10")], "amount": [100.0]})
    >>> inv = pd.DataFrame({"invoice_id": ["I1"], "customer_id": ["C1"],
    ...     "paid_on": [pd.Timestamp("2026-01-12")], "amount_paid": [100.0]})
    >>> promise_outcomes(ev, inv, dt.date(2026, 2, 1))["status"].tolist()
    ['kept']
    """
    t = pd.Timestamp(as_of)
    ev = _known(events, t)
    p = ev.loc[ev[KIND] == "promise_to_pay"].reset_index(drop=True)
    cols = [CUSTOMER_ID, EVENT_ON, INVOICE_ID, PROMISED_ON, AMOUNT]
    p = p[cols].copy()
    deadline = p[PROMISED_ON] + pd.Timedelta(days=PROMISE_GRACE_DAYS)
    paid_by = _paid_by(invoices, t)
    on_invoice = p[INVOICE_ID] != ""
    kept_on = pd.Series(pd.NaT, index=p.index, dtype="datetime64[ns]")
    inv_paid = pd.to_datetime(p[INVOICE_ID].map(paid_by))
    kept_on[on_invoice] = inv_paid[on_invoice].where(inv_paid[on_invoice] <= deadline[on_invoice])
    if (~on_invoice).any():  # a promise about the customer: its payments from that day on
        pays = invoices.loc[invoices[PAID_ON] <= t, [CUSTOMER_ID, PAID_ON]].copy()
        pays["paid"] = (
            invoices.loc[pays.index, AMOUNT_PAID].fillna(invoices.loc[pays.index, AMOUNT])
            if AMOUNT_PAID in invoices
            else 1.0
        )
        pays = pays.sort_values(PAID_ON)
        for i in np.flatnonzero(~on_invoice.to_numpy()):
            own = pays.loc[
                (pays[CUSTOMER_ID] == p.at[i, CUSTOMER_ID])
                & (pays[PAID_ON] >= p.at[i, EVENT_ON])
                & (pays[PAID_ON] <= deadline[i])
            ]
            need = p.at[i, AMOUNT] if pd.notna(p.at[i, AMOUNT]) else 0.0
            reached = own["paid"].cumsum() >= max(need, 1e-9)
            if reached.any():
                kept_on[i] = own.loc[reached.idxmax(), PAID_ON]
    p["status"] = np.where(kept_on.notna(), "kept", np.where(deadline < t, "broken", "pending"))
    p[PAID_ON] = kept_on
    return p


def open_disputes(events: pd.DataFrame, invoices: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """The disputes open at ``as_of``: one row per disputed invoice (or customer-wide dispute).

    Returns
    -------
    DataFrame
        ``customer_id, invoice_id ("" for a dispute about the customer), opened_on (NaT when
        only the invoice's flag says so), amount, reason``.
    """
    t = pd.Timestamp(as_of)
    ev = _known(events, t)
    key = [CUSTOMER_ID, INVOICE_ID]
    opened = ev.loc[ev[KIND] == "dispute_opened"].sort_values(EVENT_ON)
    opened = opened.groupby(key, as_index=False).last()  # the latest opening of each
    closed = ev.loc[ev[KIND] == "dispute_closed"].groupby(key)[EVENT_ON].max()
    last_close = pd.Series(
        [
            closed.get((c, i), pd.NaT)
            for c, i in zip(opened[CUSTOMER_ID], opened[INVOICE_ID], strict=True)
        ],
        index=opened.index,
        dtype="datetime64[ns]",
    )
    paid_by = _paid_by(invoices, t)
    paid = pd.to_datetime(opened[INVOICE_ID].map(paid_by))
    still = ~(last_close >= opened[EVENT_ON]) & paid.isna()
    out = opened.loc[still, [*key, EVENT_ON, AMOUNT, DETAIL]].rename(
        columns={EVENT_ON: "opened_on", DETAIL: "reason"}
    )
    flagged = invoices.loc[
        invoices[DISPUTED].fillna(False).astype(bool)
        & ~(invoices[PAID_ON] <= t)
        & ~invoices[INVOICE_ID].astype(str).isin(opened[INVOICE_ID]),
        [CUSTOMER_ID, INVOICE_ID],
    ].astype({INVOICE_ID: str})
    flagged = flagged.assign(opened_on=pd.NaT, reason="flagged as disputed in the invoices")
    flagged[AMOUNT] = np.nan
    return pd.concat([out, flagged], ignore_index=True)


def customer_signals(
    customers: pd.DataFrame, invoices: pd.DataFrame, events: pd.DataFrame, as_of: dt.date
) -> pd.DataFrame:
    """One row per customer (``SIGNAL_COLUMNS``): what its events said up to ``as_of``.

    Counts are 0, dates NaT and the bureau score NaN where the ledger has nothing.
    """
    t = pd.Timestamp(as_of)
    ev = _known(events, t)
    out = customers[[CUSTOMER_ID]].copy().reset_index(drop=True)

    def put(values: pd.Series, column: str, fill=np.nan) -> None:
        out[column] = values.reindex(out[CUSTOMER_ID].to_numpy()).to_numpy()
        if not (isinstance(fill, float) and np.isnan(fill)):
            out[column] = out[column].fillna(fill)

    promises = promise_outcomes(events, invoices, as_of)
    year = promises.loc[promises[EVENT_ON] > t - pd.Timedelta(days=LOOKBACK_DAYS)]
    by_status = year.groupby([CUSTOMER_ID, "status"]).size().unstack(fill_value=0)
    put(by_status.get("kept", pd.Series(dtype=int)), "promises_kept", 0)
    put(by_status.get("broken", pd.Series(dtype=int)), "promises_broken", 0)
    pending = promises.loc[promises["status"] == "pending"]
    put(pending.groupby(CUSTOMER_ID)[PROMISED_ON].max(), "promise_pending_until")
    broken = promises.loc[promises["status"] == "broken"]
    put(broken.groupby(CUSTOMER_ID)[PROMISED_ON].max(), "last_broken_promise_on")

    disputes = open_disputes(events, invoices, as_of)
    put(disputes.groupby(CUSTOMER_ID).size(), "open_disputes", 0)
    put(disputes.groupby(CUSTOMER_ID)[AMOUNT].sum(min_count=1), "disputed_amount")
    reasons = disputes.dropna(subset=["reason"]).groupby(CUSTOMER_ID)["reason"]
    put(reasons.agg(lambda r: "; ".join(dict.fromkeys(r))), "dispute_reasons", "")

    complaint = ev.loc[ev[KIND] == "complaint"].groupby(CUSTOMER_ID)[EVENT_ON].max()
    closed = ev.loc[ev[KIND] == "dispute_closed"].groupby(CUSTOMER_ID)[EVENT_ON].max()
    open_complaint = (complaint > t - pd.Timedelta(days=COMPLAINT_DAYS)) & ~(
        closed.reindex(complaint.index) >= complaint
    )
    put(open_complaint, "open_complaint", False)

    contacts = ev.loc[ev[KIND].isin(CONTACT_EVENTS)]
    put(contacts.groupby(CUSTOMER_ID)[EVENT_ON].max(), "last_contact_on")
    recent = contacts.loc[contacts[EVENT_ON] > t - pd.Timedelta(days=30)]
    put(recent.groupby(CUSTOMER_ID).size(), "contacts_30d", 0)

    since = t - pd.Timedelta(days=RECENT_DAYS)
    bank = ev.loc[(ev[KIND] == "master_data_change") & (ev[DETAIL] == "bank_account")]
    put(bank.loc[bank[EVENT_ON] > since].groupby(CUSTOMER_ID)[EVENT_ON].max(), "bank_change_on")
    signal = ev.loc[ev[KIND] == "external_signal"]
    for detail, column in (("adverse_media", "adverse_media_on"), ("insolvency_notice", "insolvency_notice_on")):  # fmt: skip
        hits = signal.loc[(signal[DETAIL] == detail) & (signal[EVENT_ON] > since)]
        put(hits.groupby(CUSTOMER_ID)[EVENT_ON].max(), column)

    scores = signal.loc[(signal[DETAIL] == "bureau_score") & signal[VALUE].notna()]
    scores = scores.sort_values(EVENT_ON)
    last = scores.groupby(CUSTOMER_ID).last()
    put(last[VALUE], "bureau_score")
    put(last[EVENT_ON], "bureau_score_on")
    window = scores.merge(last[[EVENT_ON]].rename(columns={EVENT_ON: "__last"}), on=CUSTOMER_ID)
    window = window.loc[
        (window[EVENT_ON] < window["__last"])
        & (window[EVENT_ON] >= window["__last"] - pd.Timedelta(days=SCORE_WINDOW_DAYS))
    ]
    best = window.groupby(CUSTOMER_ID)[VALUE].max()
    put(last[VALUE] - best.reindex(last.index), "bureau_score_change")
    return out[SIGNAL_COLUMNS]


def timeline(events: pd.DataFrame, invoices: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """The events up to ``as_of`` as a reader's timeline, oldest first: ``event_on, event,
    invoice_id, what`` (promised day and amount with the promise's status, channel and outcome of a
    contact, a dispute's reason, a signal's name and value, the note). Plain text: escape it
    where it is shown.
    """
    t = pd.Timestamp(as_of)
    ev = _known(events, t).sort_values(EVENT_ON, kind="stable")
    status = promise_outcomes(ev, invoices, as_of).set_index([CUSTOMER_ID, EVENT_ON, INVOICE_ID])
    rows = []
    for r in ev.to_dict("records"):
        parts = []
        if r[KIND] == "promise_to_pay":
            parts.append(f"to pay by {pd.Timestamp(r[PROMISED_ON]).date().isoformat()}")
            got = status["status"].get((r[CUSTOMER_ID], r[EVENT_ON], r[INVOICE_ID]))
            parts.append(str(got) if got is not None else "")
        if pd.notna(r.get(AMOUNT)):
            parts.append(f"amount {r[AMOUNT]:,.2f}")
        for col in (CHANNEL, OUTCOME, DETAIL):
            if isinstance(r.get(col), str) and r[col]:
                parts.append(r[col].replace("_", " "))
        if pd.notna(r.get(VALUE)):  # "bureau score 610"
            parts[-1:] = [" ".join([*parts[-1:], f"{r[VALUE]:g}"])]
        if isinstance(r.get(NOTE), str) and r[NOTE]:
            parts.append(f"note: {r[NOTE]}")
        rows.append(
            {
                EVENT_ON: r[EVENT_ON].date(),
                "event": r[KIND].replace("_", " "),
                INVOICE_ID: r[INVOICE_ID],
                "what": "; ".join(p for p in parts if p),
            }
        )
    return pd.DataFrame(rows, columns=[EVENT_ON, "event", INVOICE_ID, "what"])


def has_signal_events(events: pd.DataFrame, as_of: dt.date) -> bool:
    """Whether the ledger holds, up to ``as_of``, events the signal features are made of."""
    known = events.loc[events[EVENT_ON] <= pd.Timestamp(as_of)]
    return bool(known[KIND].isin(SIGNAL_KINDS).any())


def signal_features(
    customers: pd.DataFrame, invoices: pd.DataFrame, events: pd.DataFrame, snapshots
) -> pd.DataFrame:
    """The relationship events as PD features, point in time, for each snapshot date.

    Returns one row per customer and snapshot: ``customer_id, snapshot`` and
    :data:`creditlab.features.SIGNAL_FEATURES`: promises to pay broken in the 12 months before
    (count), the bureau score's change against its best of the half-year before (0 where no
    bureau watches the customer: no change known), and flags for a bank-account change and for
    adverse media in the 90 days before. Each row reads only what was known on its snapshot
    date.
    """
    frames = []
    for snapshot in sorted({pd.Timestamp(s) for s in snapshots}):
        s = customer_signals(customers, invoices, events, snapshot.date())
        frames.append(
            pd.DataFrame(
                {
                    CUSTOMER_ID: s[CUSTOMER_ID],
                    SNAPSHOT: snapshot,
                    "promises_broken_12m": s["promises_broken"].astype(float),
                    "bureau_score_change": s["bureau_score_change"].astype(float).fillna(0.0),
                    "bank_change_90d": s["bank_change_on"].notna().astype(float),
                    "adverse_media_90d": s["adverse_media_on"].notna().astype(float),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)[[CUSTOMER_ID, SNAPSHOT, *SIGNAL_FEATURES]]


def with_signal_features(
    frame: pd.DataFrame, customers: pd.DataFrame, invoices: pd.DataFrame, events: pd.DataFrame
) -> pd.DataFrame:
    """``frame`` (rows of customers at ``snapshot`` dates, as the features make them) with each
    row's :func:`signal_features` at its snapshot."""
    found = signal_features(customers, invoices, events, frame[SNAPSHOT].unique())
    return frame.merge(found, on=[CUSTOMER_ID, SNAPSHOT], how="left")
