"""The relationship events of a synthetic portfolio: disputes, calls and promises to pay, master-data
changes and external signals, each with an effect the truth records.

Called by :func:`creditlab.ledger.synth.synthesize` with what it drew (customers, invoices, latent
risk and default dates), from a random stream of its own so that turning it on or off changes none
of the other draws. What is planted, and where the truth keeps it:

* every disputed invoice gets a ``dispute_opened`` event 3-20 days after issue (a reason, the
  disputed amount) and a ``dispute_closed`` a few days before it is paid (weeks later: the ledger's
  dispute wait); an unpaid one stays open;
* collectors act on what they know that day: an invoice still unpaid 3-7 days past due gets an
  e-mail reminder with probability 0.6, one still unpaid 10-14 days past due a call with
  probability 0.5 (``contact``). A contact brings a payment that would have come more than
  ``CONTACT_WINDOW`` days later into the window with probability ``CONTACT_LIFT`` (e-mail 0.15,
  phone 0.30), on the customer's next payment run (so a monthly payer's often misses it);
  ``truth/contacts.csv`` keeps that and the realised lift (the share of contacted invoices paid
  within the window because of the contact). Four calls in ten end in a ``promise_to_pay``. A customer keeps its promises with probability
  ``promise_keep_p = logistic(1.5 - 1.2 z)`` (``truth/customers.csv``; z the latent risk): a kept
  promise names a day at most three days before the payment, a broken one a day well before it (a
  defaulter's never comes);
* master data changes at 0.15 a year per customer (address, contact person, bank account), and
  40 % of defaulters change their bank account 30-120 days before they default
  (``planted_bank_change``);
* 60 % of customers are monitored by a bureau: a ``bureau_score`` signal each quarter, the score
  wandering a little around the one in the customers file, and a defaulter's falling 80-150
  points over the 180 days before its default (``planted_score_drop``); 25 % of defaulters make the
  news 20-90 days before they default (``adverse_media``), and 1 % of customers a year do without
  defaulting (false alarms).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from creditlab.ledger.schema import (
    AMOUNT,
    CHANNEL,
    CUSTOMER_ID,
    DETAIL,
    DISPUTED,
    DUE_ON,
    EVENT_ON,
    INVOICE_ID,
    ISSUED_ON,
    KIND,
    NOTE,
    OUTCOME,
    PAID_ON,
    PROMISED_ON,
    VALUE,
)

__all__ = ["CONTACT_LIFT", "CONTACT_WINDOW", "RelationshipEvents", "relationship_events"]

DISPUTE_REASONS = (
    "price difference",
    "goods damaged",
    "quantity short",
    "not ordered",
    "late delivery",
)
MASTER_DATA = ("address", "contact_person", "bank_account")
CONTACT_WINDOW = 7  # days after a contact in which it can bring a payment forward
CONTACT_LIFT = {"email": 0.15, "phone": 0.30}  # P(a later payment comes into that window)
_DAY = np.timedelta64(1, "D")


def _days(values) -> np.ndarray:
    return np.asarray(values).astype(int) * _DAY


class RelationshipEvents(NamedTuple):
    """What :func:`relationship_events` planted."""

    events: pd.DataFrame  # canonical events columns
    truth: pd.DataFrame  # per customer: promise_keep_p, planted_bank_change, planted_score_drop
    paid_on: np.ndarray  # the invoices' payment days, contacts' effects included
    contacts: pd.DataFrame  # per channel: contacts, lift_planted, lift_realised


def _contact(rng, paid, due, end, undisputed, days_past_due, p_send, lift, snap):
    """A contact on each undisputed invoice still unpaid ``days_past_due`` (low, high) days after
    its due day, with probability ``p_send``; a payment due more than ``CONTACT_WINDOW`` days
    after the contact comes forward, with probability ``lift``, to a day in that window moved onto
    the customer's next payment run (``snap``), if that is earlier. Returns (invoice index,
    contact day, payment days with the contacts' effect, the realised lift: the share of contacts
    whose payment it brought into the window)."""
    low, high = days_past_due
    on = due + _days(rng.integers(low, high + 1, len(due)))
    coin, pull, day = rng.random(len(due)), rng.random(len(due)), rng.integers(1, CONTACT_WINDOW + 1, len(due))  # fmt: skip
    unpaid = np.isnat(paid) | (paid > on)
    sent = np.where(undisputed & unpaid & (on <= end) & (coin < p_send))[0]
    later = ~np.isnat(paid[sent]) & (paid[sent] > on[sent] + CONTACT_WINDOW * _DAY)
    pulled = sent[later & (pull[sent] < lift)]
    moved = np.minimum(snap(on[pulled] + _days(day[pulled]), pulled), paid[pulled])
    paid = paid.copy()
    paid[pulled] = moved
    came = int((moved <= on[pulled] + CONTACT_WINDOW * _DAY).sum())
    return sent, on[sent], paid, came / max(len(sent), 1)


def relationship_events(
    seed: int,
    ids: np.ndarray,
    invoices: pd.DataFrame,
    latent: np.ndarray,
    score: np.ndarray,
    default_on: np.ndarray,
    onboarded: np.ndarray,
    start: np.datetime64,
    end: np.datetime64,
    snap=None,
) -> RelationshipEvents:
    """The relationship events of the portfolio, the payments as the contacts moved them, and the
    truth of what was planted.

    Parameters
    ----------
    seed
        The portfolio's seed (the stream is ``default_rng([seed, 21])``).
    ids, latent, score, default_on, onboarded
        Per customer: id, latent risk z, the external score in the customers file, default date
        (NaT for none), onboarding date (no event before it).
    invoices
        The canonical invoices (``paid_on`` NaT when unpaid).
    start, end
        The ledger's first and last day; no event falls after ``end``.
    snap
        ``snap(days, rows)``: the first day of the customer's payment run on or after each of
        ``days`` for the invoices at positions ``rows`` (None: any day).

    Returns
    -------
    RelationshipEvents
    """
    rng = np.random.default_rng([seed, 21])
    snap = snap or (lambda days, rows: days)
    n = len(ids)
    index = pd.Series(np.arange(n), index=ids)
    cust = index.loc[invoices[CUSTOMER_ID]].to_numpy()
    issued = invoices[ISSUED_ON].to_numpy("datetime64[D]")
    due = invoices[DUE_ON].to_numpy("datetime64[D]")
    paid = invoices[PAID_ON].to_numpy("datetime64[D]")
    amount = invoices[AMOUNT].to_numpy(float)
    inv_id = invoices[INVOICE_ID].to_numpy(str)
    parts: list[pd.DataFrame] = []

    def add(who, on, kind, **cols) -> None:
        parts.append(pd.DataFrame({CUSTOMER_ID: ids[who], EVENT_ON: on, KIND: kind, **cols}))

    # disputes: opened after issue, closed a few days before the payment (none while unpaid)
    d = np.where(invoices[DISPUTED].to_numpy(bool))[0]
    opened = issued[d] + _days(rng.integers(3, 21, len(d)))
    reason = np.array(DISPUTE_REASONS)[rng.integers(0, len(DISPUTE_REASONS), len(d))]
    share = np.round(rng.uniform(0.2, 1.0, len(d)), 2)
    add(cust[d], opened, "dispute_opened", **{INVOICE_ID: inv_id[d], AMOUNT: np.round(amount[d] * share, 2), DETAIL: reason})  # fmt: skip
    closed = np.maximum(paid[d] - _days(rng.integers(0, 6, len(d))), opened + _DAY)
    ok = ~np.isnat(paid[d])
    add(cust[d][ok], closed[ok], "dispute_closed", **{INVOICE_ID: inv_id[d][ok], DETAIL: reason[ok]})  # fmt: skip

    # an e-mail reminder, then a call, to invoices still unpaid; each may bring the payment forward
    # (disputed invoices are not dunned)
    undisputed = ~invoices[DISPUTED].to_numpy(bool)
    e, e_on, paid, lift_email = _contact(rng, paid, due, end, undisputed, (3, 7), 0.6, CONTACT_LIFT["email"], snap)  # fmt: skip
    add(cust[e], e_on, "contact", **{INVOICE_ID: inv_id[e], CHANNEL: "email", OUTCOME: "sent"})
    c, call_on, paid, lift_phone = _contact(rng, paid, due, end, undisputed, (10, 14), 0.5, CONTACT_LIFT["phone"], snap)  # fmt: skip
    keep_p = 1.0 / (1.0 + np.exp(-(1.5 - 1.2 * latent)))
    promised = rng.random(len(c)) < 0.4
    outcome = np.where(promised, "promised to pay", rng.choice(["no answer", "asked for a copy"], len(c)))  # fmt: skip
    add(cust[c], call_on, "contact", **{INVOICE_ID: inv_id[c], CHANNEL: "phone", OUTCOME: outcome})
    p, p_on = c[promised], call_on[promised]
    keeps = (rng.random(len(p)) < keep_p[cust[p]]) & ~np.isnat(paid[p]) & (paid[p] > p_on)
    kept_day = paid[p] - _days(rng.integers(0, 4, len(p)))
    broken_day = p_on + _days(rng.integers(2, 8, len(p)))
    broken_day = np.where(np.isnat(paid[p]), broken_day, np.minimum(broken_day, paid[p] - 4 * _DAY))  # fmt: skip
    promise_day = np.maximum(np.where(keeps, kept_day, broken_day), p_on + _DAY)
    add(cust[p], p_on, "promise_to_pay", **{INVOICE_ID: inv_id[p], PROMISED_ON: promise_day, AMOUNT: amount[p]})  # fmt: skip

    # master-data changes; a planted bank-account change before some defaults
    days = int((end - start).astype(int))
    n_changes = rng.poisson(0.15 * days / 365.25, n)
    who = np.repeat(np.arange(n), n_changes)
    what = rng.choice(MASTER_DATA, len(who), p=[0.45, 0.4, 0.15])
    add(who, start + _days(rng.integers(0, days + 1, len(who))), "master_data_change", **{DETAIL: what})  # fmt: skip
    defaulted = ~np.isnat(default_on)
    bank = defaulted & (rng.random(n) < 0.4)
    bank_on = default_on - _days(rng.integers(30, 121, n))
    bank &= bank_on >= start
    add(np.where(bank)[0], bank_on[bank], "master_data_change", **{DETAIL: "bank_account"})

    # a bureau's quarterly scores (a defaulter's falling before its default) and adverse media
    monitored = rng.random(n) < 0.6
    quarters = start + _days(np.arange(0, days + 1, 91))
    who, q = np.nonzero(monitored[:, None] & np.ones(len(quarters), bool))
    walk = np.cumsum(rng.normal(0, 6, (n, len(quarters))), axis=1)
    drop = rng.uniform(80, 150, n)
    before = (default_on[who] - quarters[q]).astype(float)  # NaN where no default
    fall = np.where(np.isnan(before), 0.0, drop[who] * np.clip(1 - before / 180, 0, 1))
    alive = np.isnat(default_on[who]) | (quarters[q] <= default_on[who] + 60 * _DAY)
    value = np.clip(np.round(score[who] + walk[who, q] - fall), 300, 850)
    add(who[alive], quarters[q][alive], "external_signal", **{DETAIL: "bureau_score", VALUE: value[alive]})  # fmt: skip
    news = defaulted & (rng.random(n) < 0.25)
    news_on = default_on - _days(rng.integers(20, 91, n))
    false_alarm = ~defaulted & (rng.random(n) < 0.01 * days / 365.25)
    news_on = np.where(false_alarm, start + _days(rng.integers(0, days + 1, n)), news_on)
    news = (news | false_alarm) & (news_on >= start)
    add(np.where(news)[0], news_on[news], "external_signal", **{DETAIL: "adverse_media", NOTE: "press report on payment difficulties"})  # fmt: skip

    events = pd.concat(parts, ignore_index=True)
    since = pd.Series(onboarded, index=ids).loc[events[CUSTOMER_ID]].to_numpy()
    events = events.loc[(events[EVENT_ON] <= end) & (events[EVENT_ON] >= since)]
    events[INVOICE_ID] = events[INVOICE_ID].fillna("")
    events = events.drop_duplicates([CUSTOMER_ID, EVENT_ON, KIND, INVOICE_ID])
    truth = pd.DataFrame(
        {
            CUSTOMER_ID: ids,
            "promise_keep_p": keep_p,
            "planted_bank_change": bank,
            "planted_score_drop": monitored & defaulted,
        }
    )
    contacts = pd.DataFrame(
        {
            CHANNEL: ["email", "phone"],
            "contacts": [len(e), len(c)],
            "lift_planted": [CONTACT_LIFT["email"], CONTACT_LIFT["phone"]],
            "lift_realised": [lift_email, lift_phone],
        }
    )
    return RelationshipEvents(events, truth, paid, contacts)
