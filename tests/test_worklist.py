"""The collections worklist and the early-warning alerts."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from creditlab.decisions.settings import DEFAULT_DUNNING, AlertSettings
from creditlab.decisions.worklist import alerts, suggested_action, worklist
from creditlab.kpi import open_items

AS_OF = dt.date(2026, 11, 20)  # a Friday
TS = pd.Timestamp


def test_actions_follow_the_dunning_cadence():
    cadence = DEFAULT_DUNNING["standard"]  # reminder -3, call 10, hold 30, escalate 60
    assert suggested_action(-10, cadence, False) == ""
    assert suggested_action(-3, cadence, False) == "send a reminder"
    assert suggested_action(45, cadence, False) == "hold new orders"
    assert suggested_action(200, cadence, False).startswith("escalate")
    assert (
        suggested_action(15, cadence, True) == "resolve the dispute first, then call the customer"
    )


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
    assert first["action"].startswith("resolve the dispute first")
    assert first["contact_day"] == "Tuesday" and first["contact_on"] == "2026-11-24"


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
