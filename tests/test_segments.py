"""Master scale, payment-behaviour segments, value tiers and policies."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from creditlab.decisions.params import parse_decision_settings
from creditlab.decisions.settings import DEFAULT_SCALE, BehaviourRules
from creditlab.segments import (
    assign_grades,
    grade_calibration,
    payment_behaviour,
    segment_customers,
    value_tiers,
)

AS_OF = dt.date(2026, 6, 30)


def test_grades_follow_the_bands_edges_included():
    grades, risks = assign_grades(
        np.array([0.0, 0.0025, 0.0026, 0.05, 0.2, 0.99, 0.01]),
        np.array([0, 0, 0, 0, 0, 0, 1], bool),
        DEFAULT_SCALE,
    )
    assert list(grades) == ["1", "1", "2", "5", "7", "8", "D"]
    assert list(risks) == ["low", "low", "low", "medium", "high", "high", "default"]


def test_grade_calibration_uses_jeffreys_intervals_per_grade():
    rng = np.random.default_rng(0)
    p = rng.uniform(0.001, 0.3, 20_000)
    y = rng.random(20_000) < p
    cal = grade_calibration(y, p, DEFAULT_SCALE, prob=0.999)
    assert list(cal["grade"]) == [g.grade for g in DEFAULT_SCALE]
    assert cal["consistent"].all()  # outcomes drawn from the PDs themselves
    # the most-prudent bounds pool each grade with the worse ones: rising, and above the PDs
    assert cal["pt_upper"].is_monotonic_increasing and (cal["mean_pd"] <= cal["pt_upper"]).all()
    cal_bad = grade_calibration(y, p / 3, DEFAULT_SCALE, prob=0.999)
    assert (~cal_bad["consistent"]).sum() >= 4  # PDs three times too low fail most grades


def _invoices(spec):
    rows = []
    for cid, lates in spec.items():
        for k, late in enumerate(lates):
            issued = pd.Timestamp(AS_OF) - pd.Timedelta(
                days=300 - 28 * k
            )  # every 4 weeks: same weekday
            due = issued + pd.Timedelta(days=30)
            rows.append(
                {
                    "invoice_id": f"{cid}-{k}",
                    "customer_id": cid,
                    "issued_on": issued,
                    "due_on": due,
                    "paid_on": due + pd.Timedelta(days=late),
                    "amount": 1000.0 * (1 + (cid == "big")),
                }
            )
    return pd.DataFrame(rows)


def test_behaviour_segments_from_payment_history():
    spec = {
        "prompt": [0] * 10,
        "steady": [20] * 10,
        "erratic": [60, 0, 60, 0, 60, 0, 0, 60, 0, 30],
        "worse": [0] * 7 + [30, 40, 50],
        "new": [0],
    }
    inv = _invoices(spec)
    customers = pd.DataFrame({"customer_id": list(spec), "payment_terms_days": 30})
    out = payment_behaviour(customers, inv, AS_OF, BehaviourRules()).set_index("customer_id")
    assert out.loc["prompt", "behaviour"] == "prompt"
    assert out.loc["steady", "behaviour"] == "slow-but-steady"
    assert out.loc["erratic", "behaviour"] == "erratic"
    assert out.loc["worse", "behaviour"] == "deteriorating"
    assert out.loc["new", "behaviour"] == "new"
    assert out.loc["steady", "days_to_pay"] == pytest.approx(50.0)
    weekday = inv.loc[inv["customer_id"] == "prompt", "paid_on"].dt.day_name().mode()[0]
    assert out.loc["prompt", "usual_weekday"] == weekday


def test_value_tiers_rank_margin_contribution():
    inv = _invoices({f"c{i}": [0] * (i + 1) for i in range(10)})
    customers = pd.DataFrame({"customer_id": [f"c{i}" for i in range(11)]})
    out = value_tiers(customers, inv, AS_OF, 0.25, {"high": 0.8, "medium": 0.5}).set_index(
        "customer_id"
    )
    assert out.loc["c9", "value"] == "high" and out.loc["c0", "value"] == "low"
    assert out.loc["c10", "value"] == "low" and out.loc["c10", "sales_12m"] == 0
    assert (out["contribution"] == 0.25 * out["annual_sales"]).all()


def test_first_matching_policy_applies():
    settings = parse_decision_settings(
        {
            "policies": [
                {
                    "name": "stop",
                    "when": {"risk": ["default"]},
                    "limit": "cash_in_advance",
                    "dunning": "strict",
                },
                {"name": "vip", "when": {"value": ["high"], "risk": ["low"]}, "terms_days": 60},
                {"name": "rest"},
            ]
        }
    )
    scores = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c"],
            "name": "x",
            "industry": "y",
            "pd_mean": [0.001, 0.001, 1.0],
            "in_default": [False, False, True],
        }
    )
    behaviour = pd.DataFrame(
        {"customer_id": ["a", "b", "c"], "behaviour": "prompt", "usual_weekday": "Monday"}
    )
    value = pd.DataFrame({"customer_id": ["a", "b", "c"], "value": ["high", "low", "high"]})
    out = segment_customers(scores, behaviour, value, settings).set_index("customer_id")
    assert list(out["policy"]) == ["vip", "rest", "stop"]
    assert out.loc["a", "terms_days"] == 60 and out.loc["c", "limit_policy"] == "cash_in_advance"
    assert out.loc["a", "segment"] == "low risk / prompt / high value"
