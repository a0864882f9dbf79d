"""Relationship signals: promises kept, broken or pending; open disputes and complaints; bureau
scores and other outside signals, all point in time; and the synthetic portfolio's planted effects
found again by them."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from creditlab.ledger.synth import SynthConfig, synthesize
from creditlab.signals import (
    customer_signals,
    has_signal_events,
    open_disputes,
    promise_outcomes,
    signal_features,
)

T = pd.Timestamp


def _ledger():
    customers = pd.DataFrame({"customer_id": ["C1", "C2", "C3"]})
    invoices = pd.DataFrame(
        {
            "invoice_id": ["I1", "I2", "I3", "I4", "I5"],
            "customer_id": ["C1", "C1", "C2", "C2", "C3"],
            "amount": [100.0, 200.0, 50.0, 70.0, 10.0],
            "amount_paid": [100.0, 200.0, 50.0, 70.0, 0.0],
            "paid_on": [T("2026-03-04"), T("2026-03-20"), T("2026-03-02"), T("2026-03-09"), pd.NaT],
            "disputed": [False, False, False, False, True],
        }
    )
    rows = [
        ("C1", "2026-02-20", "promise_to_pay", "I1", "2026-03-01", None, None, None),  # kept (+3)
        ("C1", "2026-02-21", "promise_to_pay", "I2", "2026-03-01", None, None, None),  # broken
        (
            "C2",
            "2026-02-25",
            "promise_to_pay",
            "",
            "2026-03-05",
            100.0,
            None,
            None,
        ),  # short: broken
        ("C2", "2026-02-26", "promise_to_pay", "", "2026-03-10", 60.0, None, None),  # kept 03-09
        ("C3", "2026-03-08", "promise_to_pay", "I5", "2026-03-12", None, None, None),  # pending
        ("C1", "2026-02-01", "dispute_opened", "I2", None, 200.0, "wrong price", None),
        ("C1", "2026-02-15", "dispute_closed", "I2", None, None, None, None),
        ("C2", "2026-02-01", "dispute_opened", "", None, None, "service", None),
        ("C2", "2026-03-05", "complaint", "", None, None, None, None),
        ("C1", "2025-12-01", "external_signal", "", None, None, "bureau_score", 640.0),
        ("C1", "2026-03-01", "external_signal", "", None, None, "bureau_score", 560.0),
        ("C1", "2026-03-02", "external_signal", "", None, None, "adverse_media", None),
        ("C3", "2026-02-20", "master_data_change", "", None, None, "bank_account", None),
        ("C3", "2026-03-09", "contact", "I5", None, None, None, None),
        ("C3", "2026-03-11", "external_signal", "", None, None, "bureau_score", 700.0),  # later
    ]
    events = pd.DataFrame(
        rows,
        columns=[
            "customer_id",
            "event_on",
            "kind",
            "invoice_id",
            "promised_on",
            "amount",
            "detail",
            "value",
        ],  # fmt: skip
    )
    events["event_on"] = pd.to_datetime(events["event_on"])
    events["promised_on"] = pd.to_datetime(events["promised_on"])
    return customers, invoices, events


AS_OF = dt.date(2026, 3, 10)


def test_promises_are_kept_broken_or_pending_from_the_payments_known_then():
    _, invoices, events = _ledger()
    status = promise_outcomes(events, invoices, AS_OF).set_index(["customer_id", "event_on"])[
        "status"
    ]
    assert status[("C1", T("2026-02-20"))] == "kept"  # paid 03-04: promised 03-01 + 3 days grace
    assert status[("C1", T("2026-02-21"))] == "broken"  # I2 paid only on 03-20
    assert status[("C2", T("2026-02-25"))] == "broken"  # 50 paid by 03-08 of the 100 promised
    assert status[("C2", T("2026-02-26"))] == "kept"  # 50 + 70 from 02-26 reach 60 on 03-02
    assert status[("C3", T("2026-03-08"))] == "pending"
    # a week earlier, the first promise's grace had not run out and I1 was not paid yet
    before = promise_outcomes(events, invoices, dt.date(2026, 3, 3))
    assert before["status"].tolist()[:2] == ["pending", "pending"]


def test_disputes_stay_open_until_closed_or_paid_and_flags_count():
    _, invoices, events = _ledger()
    disputes = open_disputes(events, invoices, AS_OF).set_index(["customer_id", "invoice_id"])
    assert ("C1", "I2") not in disputes.index  # closed on 02-15
    assert disputes.loc[("C2", ""), "reason"] == "service"  # about the customer, still open
    assert disputes.loc[("C3", "I5"), "reason"] == "flagged as disputed in the invoices"
    assert len(disputes) == 2
    assert ("C1", "I2") in open_disputes(events, invoices, dt.date(2026, 2, 10)).set_index(
        ["customer_id", "invoice_id"]
    ).index


def test_customer_signals_point_in_time():
    customers, invoices, events = _ledger()
    s = customer_signals(customers, invoices, events, AS_OF).set_index("customer_id")
    assert (s.loc["C1", "promises_kept"], s.loc["C1", "promises_broken"]) == (1, 1)
    assert (s.loc["C2", "promises_kept"], s.loc["C2", "promises_broken"]) == (1, 1)
    assert s.loc["C3", "promise_pending_until"] == T("2026-03-12")
    assert s.loc["C1", "last_broken_promise_on"] == T("2026-03-01")
    assert s.loc["C1", "open_disputes"] == 0 and s.loc["C2", "open_disputes"] == 1
    assert bool(s.loc["C2", "open_complaint"]) and not bool(s.loc["C1", "open_complaint"])
    assert s.loc["C1", "bureau_score"] == 560 and s.loc["C1", "bureau_score_change"] == -80
    assert np.isnan(s.loc["C3", "bureau_score"])  # its score came after the as-of date
    assert s.loc["C1", "adverse_media_on"] == T("2026-03-02")
    assert s.loc["C3", "bank_change_on"] == T("2026-02-20")
    assert s.loc["C3", "last_contact_on"] == T("2026-03-09") and s.loc["C3", "contacts_30d"] == 1
    later = customer_signals(customers, invoices, events, dt.date(2026, 7, 1)).set_index(
        "customer_id"
    )
    assert pd.isna(later.loc["C1", "adverse_media_on"])  # older than 90 days by then
    assert not bool(later.loc["C2", "open_complaint"])  # a complaint counts for 30 days


def test_signal_features_read_each_snapshot_as_known_then():
    customers, invoices, events = _ledger()
    f = signal_features(customers, invoices, events, [AS_OF, dt.date(2026, 2, 1), AS_OF])
    assert sorted(f["snapshot"].unique()) == [T("2026-02-01"), T(AS_OF)]  # each date once
    f = f.set_index(["customer_id", "snapshot"])
    now, before = T(AS_OF), T("2026-02-01")
    assert (
        f.loc[("C1", now), "promises_broken_12m"] == 1
        and f.loc[("C1", before), "promises_broken_12m"] == 0
    )
    assert f.loc[("C1", now), "bureau_score_change"] == -80
    assert f.loc[("C2", now), "bureau_score_change"] == 0  # no bureau watches C2: no change known
    assert (
        f.loc[("C1", now), "adverse_media_90d"] == 1
        and f.loc[("C1", before), "adverse_media_90d"] == 0
    )
    assert (
        f.loc[("C3", now), "bank_change_90d"] == 1 and f.loc[("C3", before), "bank_change_90d"] == 0
    )
    assert has_signal_events(events, AS_OF) and not has_signal_events(events, dt.date(2025, 11, 1))


@pytest.fixture(scope="module")
def synthetic():
    return synthesize(SynthConfig(customers=1500, seed=11, years=3.0))


def test_planted_promise_keeping_is_found_again(synthetic):
    """Kept promises rise with the planted keeping probability, and defaulters break more."""
    p, end = synthetic, synthetic.config.end
    outcomes = promise_outcomes(p.events, p.invoices, end)
    resolved = outcomes.loc[outcomes["status"] != "pending"]
    truth = p.truth_customers.set_index("customer_id")
    keep_p = resolved["customer_id"].map(truth["promise_keep_p"])
    kept = (resolved["status"] == "kept").groupby(pd.qcut(keep_p, 4), observed=True).mean()
    assert kept.is_monotonic_increasing and kept.iloc[-1] - kept.iloc[0] > 0.3
    broken = (
        (resolved["status"] == "broken")
        .groupby(resolved["customer_id"].map(truth["defaulted"]))
        .mean()
    )
    assert broken[True] > broken[False] + 0.15


def test_planted_bureau_drops_and_bank_changes_show_before_default(synthetic):
    """One to four months before a monitored default, the bureau score has often fallen 40 points
    against its own past (the planted fall ramps up over the 180 days before, and the bureau
    reports quarterly, so not always yet); customers who never default almost never show such a
    fall. A planted bank-account change (30-120 days before the default) is inside the 90 days
    before a date 30-90 days ahead of the default about half the time. Pooled over four
    quarter-ends, so that a few dozen defaulters are watched."""
    p = synthetic
    truth = p.truth_customers.set_index("customer_id")
    default_on = truth["default_on"]
    fell, quiet_fell, banked_seen = [], [], []
    for as_of in (dt.date(2025, 3, 31), dt.date(2025, 6, 30), dt.date(2025, 9, 30), dt.date(2025, 12, 31)):  # fmt: skip
        s = customer_signals(p.customers, p.invoices, p.events, as_of).set_index("customer_id")
        soon = default_on.between(T(as_of) + pd.Timedelta(days=30), T(as_of) + pd.Timedelta(days=120))  # fmt: skip
        watched = soon & truth["planted_score_drop"] & s["bureau_score_change"].notna()
        quiet = default_on.isna() & s["bureau_score_change"].notna()
        drop = s["bureau_score_change"] <= -40
        fell += drop[watched].tolist()
        quiet_fell += drop[quiet].tolist()
        banked = soon & truth["planted_bank_change"] & (default_on <= T(as_of) + pd.Timedelta(days=90))  # fmt: skip
        banked_seen += s.loc[banked, "bank_change_on"].notna().tolist()
    assert len(fell) >= 20 and len(banked_seen) >= 5
    assert np.mean(fell) > 0.25 and np.mean(quiet_fell) < 0.01
    assert np.mean(banked_seen) > 0.4
