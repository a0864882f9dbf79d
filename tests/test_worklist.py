"""The collections worklist and the early-warning alerts."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from creditlab.decisions.settings import DEFAULT_DUNNING, AlertSettings
from creditlab.decisions.worklist import alerts, relationship_action, suggested_action, worklist
from creditlab.kpi import open_items
from creditlab.models.contact_effect import ContactEffect

AS_OF = dt.date(2026, 11, 20)  # a Friday
TS = pd.Timestamp


def test_actions_follow_the_dunning_cadence():
    cadence = DEFAULT_DUNNING["standard"]  # reminder -3, call 10, hold 30, escalate 60
    assert suggested_action(-10, cadence) == ""
    assert suggested_action(-3, cadence) == "send a reminder"
    assert suggested_action(45, cadence) == "hold new orders"
    assert suggested_action(200, cadence).startswith("escalate")


def test_the_relationship_shapes_the_action():
    """A dispute or complaint holds the dunning, a pending promise waits for its day, broken
    promises turn a reminder into a call; each says why."""
    day = dt.date(2026, 3, 1)
    call = "call the customer"
    assert relationship_action(call, True, None, day) == (
        "acknowledge the dispute; no dunning until it is resolved",
        "this invoice is disputed",
    )
    escalate = "escalate (collections / legal)"
    assert relationship_action(escalate, True, None, day)[0].startswith("escalate the unresolved")
    action, why = relationship_action(call, False, {"open_complaint": True}, day)
    assert action.startswith("acknowledge the complaint") and why == "open complaint"
    pending = {"promise_pending_until": pd.Timestamp("2026-03-04"), "promises_kept": 1}
    assert relationship_action(call, False, pending, day) == (
        "wait for the promised payment; follow up after 2026-03-04",
        "promised to pay by 2026-03-04",
    )
    assert relationship_action(call, False, pending, dt.date(2026, 3, 5))[0] == call
    broken = {
        "promises_broken": 1,
        "promises_kept": 0,
        "open_disputes": 1,
        "dispute_reasons": "price",
    }
    assert relationship_action("send a reminder", False, broken, day) == (
        call,
        "1 of 1 promises to pay broken in 12 months; other disputes open (price)",
    )
    assert relationship_action("", True, broken, day) == ("", "")


def test_worklist_ranks_by_expected_cash_at_risk():
    invoices = pd.DataFrame(
        {
            "invoice_id": ["small-late", "big-fresh", "not-due", "big-late"],
            "customer_id": ["a", "b", "b", "a"],
            "issued_on": [TS("2026-07-01"), TS("2026-10-01"), TS("2026-11-10"), TS("2026-07-15")],
            "due_on": [TS("2026-07-31"), TS("2026-10-31"), TS("2026-12-10"), TS("2026-08-14")],
            "paid_on": [pd.NaT] * 4,
            "amount": [1_000.0, 50_000.0, 9_000.0, 20_000.0],
            "amount_paid": [0.0] * 4,
            "disputed": [False, False, False, True],
        }
    )
    items = open_items(invoices, AS_OF)
    customers = pd.DataFrame(
        {
            "customer_id": ["a", "b"],
            "name": ["<b>Alpha</b>", "Beta"],
            "policy": ["high risk", "standard"],
            "dunning": ["strict", "standard"],
            "approval": ["credit manager", "credit analyst"],
            "pd_mean": [0.3, 0.01],
            "usual_weekday": ["Tuesday", np.nan],
        }
    )
    p_invoice = np.where(items["dpd"] > 90, 1.0, 0.1)
    out = worklist(items, customers, DEFAULT_DUNNING, AS_OF, p_invoice)
    assert "not-due" not in set(out["invoice_id"])  # 20 days before due: no step yet
    cash = out.set_index("invoice_id")["cash_at_risk"]
    assert cash["big-fresh"] == 50_000 * (1 - 0.9 * 0.99)
    assert cash["big-late"] == 20_000.0 and cash["small-late"] == 1_000.0
    assert list(out["invoice_id"]) == ["big-late", "big-fresh", "small-late"]
    assert list(out["rank"]) == [1, 2, 3]
    first = out.iloc[0]
    assert first["action"] == "escalate the unresolved dispute (collections / legal)"  # 98 DPD
    assert first["contact_day"] == "Tuesday" and first["contact_on"] == "2026-11-24"
    assert out["extra_cash"].isna().all()  # no contacts in the ledger: no estimate
    # where the forecast already holds the customer's default, the PD is not combined again
    joint = np.where(items["invoice_id"] == "big-fresh", 0.01, np.nan)
    again = worklist(items, customers, DEFAULT_DUNNING, AS_OF, p_invoice, p_joint=joint)
    risk = again.set_index("invoice_id")["p_at_risk"]
    assert risk["big-fresh"] == 0.01 and risk["small-late"] == 1.0
    assert risk["big-late"] == 1.0 and again["invoice_id"].iloc[-1] == "big-fresh"


def test_with_a_contact_effect_the_worklist_ranks_by_the_extra_cash_from_acting():
    """A call on a 50,000 invoice 20 days past due, with a daily payment hazard of 0.05 and a
    call doubling it: 50,000 x (S0 - S0^2), S0 = exp(-7 x 0.05). Escalations bring no cash this
    week and follow, by cash at risk; a customer in default is credited nothing."""
    invoices = pd.DataFrame(
        {
            "invoice_id": ["small-late", "big-fresh", "big-late", "gone"],
            "customer_id": ["a", "b", "a", "d"],
            "issued_on": [TS("2026-07-01"), TS("2026-10-01"), TS("2026-07-15"), TS("2026-10-01")],
            "due_on": [TS("2026-07-31"), TS("2026-10-31"), TS("2026-08-14"), TS("2026-10-31")],
            "paid_on": [pd.NaT] * 4,
            "amount": [1_000.0, 50_000.0, 20_000.0, 80_000.0],
            "amount_paid": [0.0] * 4,
            "disputed": [False, False, True, False],
        }
    )
    items = open_items(invoices, AS_OF)
    customers = pd.DataFrame(
        {
            "customer_id": ["a", "b", "d"],
            "name": ["A", "B", "D"],
            "policy": ["high risk", "standard", "standard"],
            "dunning": ["strict", "standard", "standard"],
            "approval": ["credit manager", "credit analyst", "credit analyst"],
            "pd_mean": [0.3, 0.01, 1.0],
            "usual_weekday": ["Monday", np.nan, np.nan],
        }
    )
    hazard = np.full((1, 98), 0.05)
    hazard[:, 0] = 0.0
    effect = ContactEffect(
        pd.DataFrame(),
        {"reminder": np.full(10, np.log(1.5)), "call": np.full(10, np.log(2.0))},
        hazard, pd.Index([], dtype=str), 7, 0.9,
    )  # fmt: skip
    out = worklist(items, customers, DEFAULT_DUNNING, AS_OF, np.full(4, 0.1), effect=effect)
    s0 = np.exp(-7 * 0.05)
    extra = out.set_index("invoice_id")["extra_cash"]
    assert extra["big-fresh"] == pytest.approx(50_000 * (s0 - s0**2))
    assert extra["gone"] == 0.0 and extra["big-late"] == 0.0 and extra["small-late"] == 0.0
    assert list(out["invoice_id"]) == ["big-fresh", "gone", "big-late", "small-late"]


def _now():
    return pd.DataFrame(
        {
            "customer_id": ["a", "b", "c"],
            "name": ["A", "B", "C"],
            "credit_limit": [10_000.0, 10_000.0, np.nan],
            "open_ar": [12_000.0, 9_500.0, 500.0],
            "utilisation": [1.2, 0.95, np.nan],
            "max_dpd": [95, 10, 35],
            "pd_mean": [0.10, 0.02, 0.06],
            "grade": ["7", "4", "6"],
            "grade_rank": [6, 3, 5],
            "new_disputes": [0, 2, 0],
        }
    )


def test_a_first_run_has_state_alerts_only():
    out = alerts(_now(), None, pd.Series({"a": 0.5, "b": 0.45, "c": 0.05}), AlertSettings())
    assert set(out["alert"]) == {"over limit", "high utilisation", "concentration"}
    assert out.iloc[0]["severity"] == "high"
    assert "(portfolio)" not in set(out["name"])  # with 10 customers or fewer, top-10 says nothing


def test_alerts_against_the_previous_run():
    before = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c"],
            "pd_mean": [0.03, 0.019, 0.05],
            "grade": ["5", "4", "5"],
            "grade_rank": [4, 3, 4],
            "max_dpd": [40, 10, 20],
        }
    )
    shares = pd.Series({"a": 0.05, "b": 0.05, "c": 0.05})
    out = alerts(_now(), before, shares, AlertSettings(pd_increase=0.02))
    got = set(zip(out["customer_id"], out["alert"], strict=True))
    assert ("a", "PD up") in got and ("b", "PD up") not in got  # +7 points vs +0.1 point
    assert ("a", "grade downgrade") in got and ("c", "grade downgrade") in got
    assert ("a", "new 90+ DPD") in got and ("a", "new 60+ DPD") not in got  # the worst one only
    assert ("c", "new 30+ DPD") in got
    assert ("b", "new dispute") in got and ("a", "over limit") in got
    assert (
        out.loc[(out["customer_id"] == "a") & (out["alert"] == "PD up"), "severity"].iloc[0]
        == "high"
    )


def test_likely_arrears_alert_from_the_payment_forecast():
    arrears = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b", "c"],
            "dpd": [0, 12, 45, 3],
            "open_amount": [100.0, 50.0, 900.0, 70.0],
            "p_dpd30": [0.7, 0.55, 0.99, 0.2],
        }
    )
    shares = pd.Series({"a": 0.05, "b": 0.05, "c": 0.05})
    out = alerts(_now(), None, shares, AlertSettings(arrears=0.5), arrears)
    likely = out.loc[out["alert"] == "likely 30+ DPD"]
    # a: two invoices under 30 DPD at 70 % and 55 %; b is already past 30 DPD; c is unlikely
    assert list(likely["customer_id"]) == ["a"]
    assert "2 invoice(s), 150 open" in likely["detail"].iloc[0]
    assert "70%" in likely["detail"].iloc[0]
    none = alerts(_now(), None, shares, AlertSettings(arrears=0.8), arrears)
    assert "likely 30+ DPD" not in set(none["alert"])


def test_relationship_signals_raise_their_alerts():
    """Bureau falls past the threshold (high at twice it), outside news, a bank change and a
    recently broken promise each alert with the day; old or small ones do not."""
    day = TS("2026-11-10")
    signals = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c"],
            "bureau_score": [520.0, 610.0, 600.0],
            "bureau_score_on": [day, day, TS("2026-05-01")],  # c's fall is old news
            "bureau_score_change": [-120.0, -30.0, -90.0],
            "adverse_media_on": [pd.NaT, day, pd.NaT],
            "insolvency_notice_on": [pd.NaT, pd.NaT, pd.NaT],
            "bank_change_on": [pd.NaT, pd.NaT, day],
            "last_broken_promise_on": [TS("2026-11-01"), TS("2026-08-01"), pd.NaT],
            "promises_broken": [2, 1, 0],
            "promises_kept": [1, 3, 0],
            # a pays 22 days later since August (z 6); b's step is too small, c's too uncertain
            "shift_from": [TS("2026-08-03"), TS("2026-09-01"), TS("2026-10-01")],
            "shift_days": [22.0, 9.0, 30.0],
            "days_before": [3.0, 2.0, 1.0],
            "days_after": [25.0, 11.0, 31.0],
            "n_before": [12, 12, 12],
            "n_after": [6, 4, 2],
            "shift_z": [6.0, 5.0, 3.0],
        }
    )
    shares = pd.Series({"a": 0.05, "b": 0.05, "c": 0.05})
    screen = pd.DataFrame(
        [{"customer_id": "c", "name": "C", "alert": "order surge", "severity": "medium",
          "detail": "invoiced 9,000 in the last 30 days"}]
    )  # fmt: skip
    out = alerts(_now(), None, shares, AlertSettings(score_drop=50), None, signals, AS_OF, screen)
    got = {(r.customer_id, r.alert): r for r in out.itertuples()}
    assert got[("c", "order surge")].detail == "invoiced 9,000 in the last 30 days"
    assert out["severity"].map({"high": 0, "medium": 1, "low": 2}).is_monotonic_increasing
    assert got[("a", "bureau score drop")].severity == "high"
    assert "120 points below" in got[("a", "bureau score drop")].detail
    assert ("b", "bureau score drop") not in got and ("c", "bureau score drop") not in got
    assert got[("b", "adverse media")].detail == "adverse media reported on 2026-11-10"
    assert got[("c", "bank details changed")].severity == "medium"
    assert "2 of 3 broken" in got[("a", "broken promise")].detail
    assert ("b", "broken promise") not in got  # broken in August
    assert got[("a", "paying later")].detail == (
        "25 days beyond terms on the 6 invoice(s) due since 2026-08-03, against 3 before "
        "(+22 days, z 6.0)"
    )
    assert ("b", "paying later") not in got and ("c", "paying later") not in got
