"""The week's actions: one line per customer, ranked by the money expected at risk."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from creditlab.decisions.actions import ACTION_COLUMNS, week_actions


def _worklist(rows):
    cols = ["customer_id", "open_amount", "dpd", "disputed", "p_at_risk", "cash_at_risk",
            "action", "approval"]  # fmt: skip
    frame = pd.DataFrame(rows, columns=cols[:-2] + ["action", "approval"])
    return frame.assign(extra_cash=np.nan)  # no contacts in the ledger: no estimate


def _inputs():
    exposure = pd.DataFrame(
        {
            "customer_id": ["A", "B", "C", "D"],
            "name": ["Alpha <b>", "Beta", "Gamma", "Delta"],
            "credit_limit": [10_000.0, 5_000.0, 50_000.0, 1_000.0],
            "open_ar": [9_000.0, 8_000.0, 2_000.0, 4_000.0],
        }
    )
    work = _worklist(
        [
            ("A", 6_000.0, 40, False, 0.30, 1_800.0, "call the customer", "credit manager"),
            ("A", 3_000.0, 10, True, 0.10, 300.0, "send a reminder", "credit manager"),
            ("D", 4_000.0, 200, False, 1.0, 4_000.0, "escalate (collections / legal)", "committee"),
        ]
    )
    table = pd.DataFrame(
        {
            "customer_id": ["A", "B", "C", "D"],
            "pd_mean": [0.05, 0.20, 0.10, 1.0],
            "in_default": [False, False, False, True],
            "lgd": [0.5, 0.5, 0.4, 0.45],
            "current_limit": [10_000.0, 5_000.0, 50_000.0, 1_000.0],
            "recommended_limit": [10_000.0, 5_000.0, 12_000.0, 0.0],
            "ecl_mean": [225.0, 800.0, 80.0, 1_800.0],
            "approval": ["credit manager", "credit manager", "credit analyst", "committee"],
            "rationale": ["keep", "keep", "Cut to 12,000 (now 50,000): demand", "default"],
        }
    )
    return work, exposure, table


def test_actions_rank_customers_by_money_expected_at_risk():
    work, exposure, table = _inputs()
    out = week_actions(work, exposure, table)
    assert list(out.columns) == ACTION_COLUMNS
    assert out["customer_id"].is_unique and list(out["rank"]) == list(range(1, len(out) + 1))
    worth = out.set_index("customer_id")["worth"]
    # D: in default, escalation = its whole open amount; its provision (1,800) is named as "also"
    assert worth["D"] == pytest.approx(4_000.0)
    d = out.set_index("customer_id").loc["D"]
    assert d["action"].startswith("escalate") and "also: provide 1,800" in d["reason"]
    # C: limit 50,000 with 2,000 open, model supports 12,000 -> 38,000 unsupported x PD x LGD
    assert worth["C"] == pytest.approx(38_000 * 0.10 * 0.4)
    # A: worklist cash at risk 2,100 beats nothing else (it is within its limit)
    assert worth["A"] == pytest.approx(2_100.0)
    # B: 3,000 over its limit x PD 0.2 x LGD 0.5
    assert worth["B"] == pytest.approx(300.0)
    assert out.set_index("customer_id").loc["B", "action"].startswith("hold new orders")
    assert list(out["customer_id"]) == ["D", "A", "C", "B"]
    assert out.set_index("customer_id").loc["A", "name"] == "Alpha <b>"  # escaped when shown
    assert len(week_actions(work, exposure, table, n=2)) == 2


def test_without_a_pd_model_only_the_worklist_and_holds_are_ranked():
    work, exposure, _ = _inputs()
    out = week_actions(work, exposure, None).set_index("customer_id")
    assert set(out.index) == {"A", "D"}  # B is over its limit but has no chance on record
    # D is over its limit (4,000 > 1,000): its hold is weighed by its worklist chance (1.0)
    assert "hold new orders" in out.loc["D", "reason"]
    assert not out["action"].str.contains("cut|provide").any()


def test_no_actions_gives_an_empty_table_with_the_columns():
    work, exposure, table = _inputs()
    calm = exposure.assign(open_ar=0.0)
    out = week_actions(work.iloc[0:0], calm, table.assign(recommended_limit=table["current_limit"],
                                                           in_default=False))  # fmt: skip
    assert out.empty and list(out.columns) == ACTION_COLUMNS
    assert np.isfinite(week_actions(work, exposure, table)["worth"]).all()


def test_the_extra_cash_from_acting_is_named_in_the_reason():
    work, exposure, table = _inputs()
    work.loc[work["customer_id"] == "A", "extra_cash"] = 640.0  # on each of its two invoices
    out = week_actions(work, exposure, table).set_index("customer_id")
    assert "expected to bring in 1,280 more within a week" in out.loc["A", "reason"]
    assert "bring in" not in out.loc["B", "reason"]
