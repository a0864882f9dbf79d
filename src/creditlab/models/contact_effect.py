"""What a reminder or a call does to the chance of being paid: estimated from the ledger's contacts.

Every overdue invoice-day before the as-of date is a unit of exposure (days 1 to ``MAX_DPD`` past
due, while the invoice is unpaid), and a payment that day is the event. A day is *after a contact*
of a kind when a contact of that kind on the invoice (or on its customer as a whole) fell on one of
the ``window`` days before it (the contact's own day is not: it is chosen knowing the invoice is
still open); the most recent contact decides the kind. A day of a contacted invoice outside every
contact's window is in neither arm: a payment a contact moved to a day beyond its window would
otherwise count as an uncontacted one. Kinds: a ``call`` (channels phone, call,
visit, meeting) and a written ``reminder`` (every other channel, and ``reminder_sent`` events).
Invoices ever disputed are left out: they are not dunned, and pay on the dispute's clock.

**The effect** of each kind is a hazard ratio ``r``: how many times likelier a payment is on a day
after a contact than on a day without one, *for the same customer on the same day past due*.
Comparing within each customer and day removes whatever makes a collector contact some customers,
or some stages of lateness, more than others. Conditioning on each cell's payments leaves a
likelihood of ``log r`` alone (with ``n`` payments in a cell, those after a contact are binomial
with probability ``r E1 / (r E1 + E0)``, E the exposure days), so its posterior is computed on a
grid, exactly: prior ``log r ~ Normal(0, 1)`` (a contact multiplying or dividing the chance of
payment by more than seven is unlikely before any data).

**The extra cash** of contacting an open invoice now is its open amount times the extra chance of
being paid within the window: with ``S0`` the chance of *not* being paid in the next ``window`` days
without a contact, and proportional hazards, ``S0 - S0 ** r``. ``S0`` comes from the customer's own
uncontacted days (its payments over days past due d-3..d+3, shrunk towards the portfolio's hazard
with ``HAZARD_PRIOR_DAYS`` days). Only overdue days are modelled: a reminder before the due date is
credited with its effect after it.

What a reviewer should weigh: contacts chosen on something that changes within a customer and
day (a collector who calls when told a payment run is near) bias the ratio; what was measured is the
ledger's own collectors' habits, not a controlled experiment. On synthetic ledgers where a contact
*converts* a fixed share of would-be-late payments onto the customer's next payment run (not a
proportional hazard, and partly beyond the window), the lift is underestimated by a third
(``benchmarks/contact_effect.py``); with no planted effect the interval covers a ratio of 1.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

import numpy as np
import pandas as pd

from creditlab.ledger.schema import (
    CHANNEL,
    CONTACT_EVENTS,
    CUSTOMER_ID,
    DISPUTED,
    DUE_ON,
    EVENT_ON,
    INVOICE_ID,
    KIND,
    PAID_ON,
)

__all__ = [
    "CALL_CHANNELS",
    "CONTACT_EFFECT_COLUMNS",
    "KINDS",
    "MIN_CONTACTS",
    "ContactEffect",
    "contact_effect",
]

log = logging.getLogger(__name__)

KINDS = ("reminder", "call")
CALL_CHANNELS = frozenset({"phone", "call", "telephone", "visit", "meeting"})
MAX_DPD = 90
# a day of an invoice contacted before but outside every contact's window: in neither arm (a
# contact that moved a payment to a day beyond its window would otherwise raise the baseline)
AFTER_WINDOW = -2
# a kind with fewer contacts (or fewer than 10 payments after one) is not estimated
MIN_CONTACTS = 30
PRIOR_SD = 1.0  # of log r
HAZARD_PRIOR_DAYS = 7.0  # a customer's hazard is shrunk to the portfolio's with this many days
_GRID = np.linspace(-5.0, 5.0, 2001)
CONTACT_EFFECT_COLUMNS = [
    "kind",
    "contacts",
    "invoices",
    "payments_after",
    "days_after",
    "hazard_ratio",
    "hazard_ratio_lo",
    "hazard_ratio_hi",
    "p_helps",
    "lift",
    "lift_lo",
    "lift_hi",
    "note",
]


@dataclasses.dataclass(frozen=True)
class ContactEffect:
    """The estimated effect of contacts (:func:`contact_effect`).

    ``table`` has one row per kind (:data:`CONTACT_EFFECT_COLUMNS`): the posterior mean and interval
    of the hazard ratio, P(r > 1), and the *lift*: the extra share of the contacted invoices paid
    within the window because of the contact (mean over those contacts of ``S0 - S0 ** r``).
    ``log_r`` holds posterior draws of ``log r`` per estimated kind.
    """

    table: pd.DataFrame
    log_r: dict[str, np.ndarray]
    hazard: np.ndarray  # uncontacted daily hazard: customers (last row: portfolio) x days past due
    customers: pd.Index  # the rows of ``hazard``
    window: int
    prob: float

    def survival(self, customer_ids, dpd) -> np.ndarray:
        """P(not paid in the next ``window`` days without a contact), per open invoice."""
        row = self.customers.get_indexer(pd.Index(np.asarray(customer_ids, dtype=str)))
        row = np.where(row < 0, len(self.customers), row)  # unknown: the portfolio's
        days = np.asarray(dpd, dtype=int)[:, None] + np.arange(1, self.window + 1)[None, :]
        h = self.hazard[row[:, None], np.clip(days, 0, self.hazard.shape[1] - 1)]
        return np.exp(-h.sum(axis=1))

    def extra_share(self, customer_ids, dpd, kinds) -> np.ndarray:
        """Draws (invoices x draws) of the extra chance each invoice is paid within the window if
        contacted this way now; 0 where ``kinds`` is '' (no contact), NaN for a kind not
        estimated."""
        s0 = self.survival(customer_ids, dpd)
        kinds = np.asarray(kinds, dtype=object)
        n_draws = len(next(iter(self.log_r.values()))) if self.log_r else 1
        out = np.full((len(s0), n_draws), np.nan)
        out[kinds == ""] = 0.0
        for kind, draws in self.log_r.items():
            sel = kinds == kind
            out[sel] = s0[sel, None] - s0[sel, None] ** np.exp(draws)[None, :]
        return out


def _kind(events: pd.DataFrame) -> np.ndarray:
    """``call`` for a contact by phone, call, visit or meeting; ``reminder`` for the rest."""
    raw = events[CHANNEL] if CHANNEL in events else pd.Series("", index=events.index)
    channel = raw.fillna("").astype(str).str.strip().str.lower()
    return np.where(channel.isin(CALL_CHANNELS) & (events[KIND] == "contact"), "call", "reminder")


def _undisputed(invoices: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """The invoices never disputed (flag or event): a disputed invoice is not dunned and pays on
    the dispute's clock, so it would only blur the comparison."""
    flagged = invoices[DISPUTED].fillna(False).astype(bool) if DISPUTED in invoices else False
    opened = (
        events.loc[events[KIND] == "dispute_opened", INVOICE_ID] if INVOICE_ID in events else []
    )
    named = invoices[INVOICE_ID].astype(str).isin(pd.Series(opened, dtype=str))
    return invoices.loc[~(flagged | named)].reset_index(drop=True)


def _contacts(invoices: pd.DataFrame, events: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Contacts up to ``as_of`` as (invoice row, day, kind); one on a customer as a whole reaches
    every invoice of it that was overdue and unpaid that day."""
    ev = events.loc[events[KIND].isin(CONTACT_EVENTS) & (events[EVENT_ON] <= as_of)].copy()
    if ev.empty:
        return pd.DataFrame(columns=["row", EVENT_ON, "kind"])
    ev["kind"] = _kind(ev)
    inv = invoices[[INVOICE_ID, CUSTOMER_ID, DUE_ON, PAID_ON]].assign(row=np.arange(len(invoices)))
    inv[INVOICE_ID] = inv[INVOICE_ID].astype(str)
    ids = ev[INVOICE_ID].fillna("").astype(str) if INVOICE_ID in ev else pd.Series("", ev.index)
    direct = ev.loc[ids != ""].assign(**{INVOICE_ID: ids}).merge(inv[[INVOICE_ID, "row"]], on=INVOICE_ID)  # fmt: skip
    broad = ev.loc[ids == "", [CUSTOMER_ID, EVENT_ON, "kind"]].merge(inv, on=CUSTOMER_ID)
    broad = broad.loc[
        (broad[DUE_ON] < broad[EVENT_ON])
        & (broad[PAID_ON].isna() | (broad[PAID_ON] > broad[EVENT_ON]))
    ]
    both = pd.concat([direct[["row", EVENT_ON, "kind"]], broad[["row", EVENT_ON, "kind"]]])
    return both.sort_values(EVENT_ON, kind="stable", ignore_index=True)


def _exposure(invoices: pd.DataFrame, contacts: pd.DataFrame, as_of: pd.Timestamp, window: int):
    """One row per overdue invoice-day: invoice row, days past due, paid that day, the kind of
    the latest contact in the ``window`` days before (its index in KINDS; -1 none yet on the
    invoice, ``AFTER_WINDOW`` after one but outside its window)."""
    due = invoices[DUE_ON].to_numpy("datetime64[D]")
    paid = invoices[PAID_ON].to_numpy("datetime64[D]")
    today = np.datetime64(as_of.date(), "D")
    last = np.minimum(due + MAX_DPD, today)
    settled = ~np.isnat(paid) & (paid <= last)
    last = np.where(settled, paid, last)
    length = np.maximum((last - due).astype(int), 0)
    start = np.concatenate([[0], np.cumsum(length)[:-1]])
    rows = np.repeat(np.arange(len(due)), length)
    dpd = np.arange(len(rows)) - start[rows] + 1
    event = settled[rows] & (dpd == length[rows])
    state = np.full(len(rows), -1)
    c_row = contacts["row"].to_numpy(int)
    c_day = (contacts[EVENT_ON].to_numpy("datetime64[D]") - due[c_row]).astype(int)
    c_kind = pd.Categorical(contacts["kind"], categories=KINDS).codes
    for k in range(1, window + 1):  # later contacts overwrite earlier ones (sorted by day)
        d = c_day + k
        ok = (d >= 1) & (d <= length[c_row])
        state[start[c_row[ok]] + d[ok] - 1] = c_kind[ok]
    first = np.full(len(due), np.iinfo(np.int64).max)
    np.minimum.at(first, c_row, c_day)
    state[(state == -1) & (dpd > first[rows])] = AFTER_WINDOW
    return rows, dpd, event, state


def _smooth(x: np.ndarray) -> np.ndarray:
    """Sums over the days past due d-3..d+3 (along the last axis)."""
    total = np.cumsum(x, axis=-1)
    c = np.concatenate([np.zeros((*x.shape[:-1], 4)), total, np.repeat(total[..., -1:], 3, axis=-1)], axis=-1)  # fmt: skip
    return c[..., 7:] - c[..., :-7]


def _hazards(codes, dpd, event, n_customers: int, window: int) -> np.ndarray:
    """Daily payment hazards of uncontacted days, per customer (rows; the last row the
    portfolio's) and days past due 0..MAX_DPD + window: the customer's payments over its days
    past due d-3..d+3, shrunk towards the portfolio's hazard with ``HAZARD_PRIOR_DAYS`` days."""
    shape = (n_customers, MAX_DPD + 1)
    flat = codes.astype(np.int64) * (MAX_DPD + 1) + dpd
    days = np.bincount(flat, minlength=shape[0] * shape[1]).reshape(shape).astype(float)
    paid = np.bincount(flat, weights=event, minlength=shape[0] * shape[1]).reshape(shape)
    days, paid = _smooth(days), _smooth(paid)
    portfolio = (paid.sum(axis=0) + 0.5) / (days.sum(axis=0) + 1.0)
    own = (paid + HAZARD_PRIOR_DAYS * portfolio) / (days + HAZARD_PRIOR_DAYS)
    hazard = np.vstack([own, portfolio])
    hazard[:, 0] = 0.0  # not yet overdue: not modelled
    return np.hstack([hazard, np.repeat(hazard[:, -1:], window, axis=1)])


def _posterior(e0: np.ndarray, e1: np.ndarray, n0: np.ndarray, n1: np.ndarray) -> np.ndarray:
    """The grid posterior of log r from the cells' exposure and payments (conditional
    likelihood, Normal(0, PRIOR_SD) prior); weights over ``_GRID``."""
    use = (e0 > 0) & (e1 > 0) & (n0 + n1 > 0)
    e0, e1, n0, n1 = e0[use], e1[use], n0[use], n1[use]
    logp = -0.5 * (_GRID / PRIOR_SD) ** 2
    for lo in range(0, len(_GRID), 200):  # in slices: cells x grid points at a time
        b = _GRID[lo : lo + 200, None]
        share = np.log(e1)[None, :] + b
        total = np.logaddexp(share, np.log(e0)[None, :])
        logp[lo : lo + 200] += (n1 * (share - total) + n0 * (np.log(e0) - total)).sum(axis=1)
    w = np.exp(logp - logp.max())
    return w / w.sum()


def contact_effect(
    invoices: pd.DataFrame,
    events: pd.DataFrame,
    as_of: dt.date,
    window: int = 7,
    prob: float = 0.9,
    draws: int = 1000,
    seed: int = 0,
) -> ContactEffect | None:
    """Estimate the effect of reminders and calls on payment from the ledger's contacts.

    Parameters
    ----------
    invoices, events
        The canonical ledger tables; contacts are the ``contact`` and ``reminder_sent`` events.
    as_of
        Nothing after this day is used (payments after it count as not yet made).
    window
        Days after a contact in which its effect is counted.
    prob
        Credible-interval probability of the table.
    draws, seed
        Posterior draws of ``log r`` kept per kind, and their random seed.

    Returns
    -------
    ContactEffect or None
        None when the ledger has no contacts before ``as_of``; a kind with fewer than
        :data:`MIN_CONTACTS` contacts or 10 payments after one has a row with its note and no
        estimate.

    Examples
    --------
    >>> from creditlab.ledger.synth import SynthConfig, synthesize
    >>> p = synthesize(SynthConfig(customers=300, seed=1, years=2.0))
    >>> effect = contact_effect(p.invoices, p.events, p.config.end)
    >>> list(effect.table["kind"])
    ['reminder', 'call']
    """
    t = pd.Timestamp(as_of)
    invoices = _undisputed(invoices, events)
    contacts = _contacts(invoices, events, t)
    if contacts.empty:
        return None
    rows, dpd, event, state = _exposure(invoices, contacts, t, window)
    customer = pd.Categorical(invoices[CUSTOMER_ID].astype(str).to_numpy()[rows])
    cell = customer.codes.astype(np.int64) * (MAX_DPD + 1) + dpd  # a customer on one day past due
    n_cells = (len(customer.categories) + 1) * (MAX_DPD + 1)
    none = state == -1
    hazard = _hazards(customer.codes[none], dpd[none], event[none], len(customer.categories), window)  # fmt: skip
    rng = np.random.default_rng(seed)
    lo_q, hi_q = (1 - prob) / 2, 1 - (1 - prob) / 2
    c_rows = contacts["row"].to_numpy(int)
    c_dpd = (contacts[EVENT_ON].to_numpy("datetime64[D]") - invoices[DUE_ON].to_numpy("datetime64[D]")[c_rows]).astype(int)  # fmt: skip
    c_customer = invoices[CUSTOMER_ID].astype(str).to_numpy()[c_rows]
    e0 = np.bincount(cell[none], minlength=n_cells).astype(float)  # the uncontacted days
    n0 = np.bincount(cell[none], weights=event[none], minlength=n_cells)
    out, log_r = [], {}
    for code, kind in enumerate(KINDS):
        mine = state == code
        sel = (contacts["kind"] == kind).to_numpy()
        row = {"kind": kind, "contacts": int(sel.sum()), "invoices": int(np.unique(c_rows[sel]).size),
               "payments_after": int(event[mine].sum()), "days_after": int(mine.sum()), "note": ""}  # fmt: skip
        out.append(row)
        if row["contacts"] < MIN_CONTACTS or row["payments_after"] < 10:
            row["note"] = (
                f"not estimated: {row['contacts']} contacts and {row['payments_after']} payments "
                f"after one (needs {MIN_CONTACTS} and 10)"
            )
            continue
        e1 = np.bincount(cell[mine], minlength=n_cells).astype(float)
        n1 = np.bincount(cell[mine], weights=event[mine], minlength=n_cells)
        log_r[kind] = np.interp(rng.random(draws), np.cumsum(_posterior(e0, e1, n0, n1)), _GRID)
        ratio = np.exp(log_r[kind])
        row.update(
            hazard_ratio=float(ratio.mean()),
            hazard_ratio_lo=float(np.quantile(ratio, lo_q)),
            hazard_ratio_hi=float(np.quantile(ratio, hi_q)),
            p_helps=float((log_r[kind] > 0).mean()),
        )
        log.info(
            "%s: payment %.2f times as likely in the %d days after one (%.0f%% interval "
            "%.2f-%.2f), from %d contacts",
            kind, row["hazard_ratio"], window, 100 * prob, row["hazard_ratio_lo"],
            row["hazard_ratio_hi"], row["contacts"],
        )  # fmt: skip
    effect = ContactEffect(
        pd.DataFrame(), log_r, hazard, pd.Index(customer.categories), window, prob
    )
    for row in out:  # the lift on the contacted invoices, from the effect just estimated
        if row["kind"] in log_r:
            sel = (contacts["kind"] == row["kind"]).to_numpy()
            kinds = np.full(sel.sum(), row["kind"])
            lift = effect.extra_share(c_customer[sel], c_dpd[sel], kinds).mean(axis=0)
            row.update(
                lift=float(lift.mean()),
                lift_lo=float(np.quantile(lift, lo_q)),
                lift_hi=float(np.quantile(lift, hi_q)),
            )
    table = pd.DataFrame(out).reindex(columns=CONTACT_EFFECT_COLUMNS)
    return dataclasses.replace(effect, table=table)
