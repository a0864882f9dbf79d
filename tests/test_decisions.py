"""Decision settings, credit limits, order approval, terms economics and scenarios."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from creditlab.decisions.limits import (
    appetite_cap,
    approve_order,
    expected_min_lognormal,
    lgd_order,
    loss_exceedance,
    max_order,
    recommend_limits,
)
from creditlab.decisions.params import parse_decision_settings
from creditlab.decisions.settings import Appetite, Economics
from creditlab.decisions.terms import discount_apr, factoring_apr, terms_economics
from creditlab.errors import ConfigError


# -- settings --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"colour": 1}, "unknown key"),
        (
            {"lgd": {"default": {"mean": -0.2, "sd": 0.1}}},
            "lgd.default: mean must be between 0 and 1",
        ),
        ({"lgd": {"default": {"mean": 0.5, "sd": 0.6}}}, "lgd.default: sd must be positive"),
        ({"lgd_by": "value", "lgd": {"huge": {"mean": 0.5, "sd": 0.1}}}, "unknown value label"),
        ({"grades": [{"grade": "A", "max_pd": 0.1, "risk": "low"}]}, "must cover \\[0, 1\\]"),
        (
            {
                "grades": [
                    {"grade": "A", "max_pd": 0.5, "risk": "low"},
                    {"grade": "B", "max_pd": 0.4, "risk": "high"},
                ]
            },
            "must cover",
        ),
        ({"policies": [{"name": "x", "when": {"risk": ["scary"]}}]}, "unknown segment"),
        ({"policies": [{"name": "x", "when": {"colour": ["red"]}}]}, "unknown key"),
        (
            {"policies": [{"name": "only low", "when": {"risk": ["low"]}}]},
            "no policy for the segment",
        ),
        ({"policies": [{"name": "x", "dunning": "harsh"}]}, "unknown cadence"),
        ({"provisions": {"scenarios": {"base": {"weight": 0.5, "multiplier": 1}}}}, "sum to 1"),
        ({"appetite": {"loss_threshold": -5}}, "loss_threshold"),
        ({"economics": {"margin": 1.5}}, "margin must be between"),
        ({"scenarios": [{"name": "bad", "pd_multiplier": -1}]}, "multipliers must be"),
        ({"draws": 3}, "at least 10"),
    ],
)
def test_bad_decision_params_get_clear_errors(raw, message):
    with pytest.raises(ConfigError, match=message):
        parse_decision_settings(raw)


def test_defaults_make_a_complete_configuration():
    settings = parse_decision_settings({})
    assert settings.enabled and settings.grades[-1].max_pd == 1.0
    assert settings.lgd_prior("anything").mean == pytest.approx(0.45)
    a, b = settings.lgd_prior("default").beta
    assert stats.beta(a, b).mean() == pytest.approx(0.45) and stats.beta(
        a, b
    ).std() == pytest.approx(0.15)
    assert not parse_decision_settings(None).enabled


# -- limits ----------------------------------------------------------------------------------
def _frame(n, sales=120_000.0, days=45.0, policy="optimise", limit=20_000.0):
    return pd.DataFrame(
        {
            "customer_id": [f"C{i}" for i in range(n)],
            "credit_limit": limit,
            "annual_sales": sales,
            "days_to_pay": days,
            "limit_policy": policy,
            "policy": "standard",
            "in_default": False,
            "pd_mean": 0.02,
            "pd_lo": 0.01,
            "pd_hi": 0.03,
        }
    )


def test_limit_optimum_matches_the_newsvendor_solution():
    econ = Economics(margin=0.2, cost_of_capital=0.1, demand_sd=0.4, limit_rounding=1.0)
    p, g, sales, days = 0.03, 0.5, 120_000.0, 45.0
    draws = np.full((200, 1), p)
    lgd = np.full((200, 1), g)
    out = recommend_limits(_frame(1, sales, days), draws, lgd, econ, Appetite(loss_threshold=1e9))
    gain = 0.2 * 365 / days - 0.1
    need = sales * days / 365
    expected = need * np.exp(0.4 * stats.norm.ppf(1 - p * g / gain))
    assert out["optimum"].iloc[0] == pytest.approx(expected, rel=1e-9)
    assert out["recommended_limit"].iloc[0] == np.floor(expected)
    assert out["binding"].iloc[0] == "demand"

    # the optimum really maximises expected profit: nearby limits earn less
    def profit(limit):
        return (
            gain * expected_min_lognormal(np.array([need]), 0.4, np.array([limit]))[0]
            - p * g * limit
        )

    assert profit(expected) > profit(expected * 0.9) and profit(expected) > profit(expected * 1.1)


def test_expected_min_of_lognormal_matches_monte_carlo():
    rng = np.random.default_rng(0)
    x = np.exp(np.log(1000.0) + 0.5 * rng.standard_normal(400_000))
    for limit in (500.0, 1000.0, 3000.0):
        assert expected_min_lognormal(np.array([1000.0]), 0.5, np.array([limit]))[
            0
        ] == pytest.approx(np.minimum(x, limit).mean(), rel=0.005)


def test_limits_fall_as_pd_rises():
    rng = np.random.default_rng(1)
    econ, appetite = Economics(), Appetite(loss_threshold=20_000, max_probability=0.01)
    base = rng.beta(2, 60, size=(500, 1))
    pds = np.concatenate(
        [np.minimum(base * m, 0.999) for m in (0.2, 0.5, 1, 2, 4, 8, 16, 30)], axis=1
    )
    lgd = np.tile(rng.beta(4, 5, size=(500, 1)), (1, pds.shape[1]))
    out = recommend_limits(_frame(pds.shape[1]), pds, lgd, econ, appetite)
    rec = out["recommended_limit"].to_numpy()
    assert (np.diff(rec) <= 0).all() and rec[0] > rec[-1]
    assert (np.diff(out["appetite_cap"].to_numpy()) <= 0).all()


def test_appetite_cap_is_the_largest_limit_within_appetite():
    appetite = Appetite(loss_threshold=10_000, max_probability=0.02)
    # constant PD above the appetite: the cap is threshold / LGD
    cap = appetite_cap(np.full((100, 1), 0.05), np.full((100, 1), 0.4), appetite, ccf=1.0)
    assert cap[0] == pytest.approx(25_000)
    # PD within the appetite: no cap at all
    assert np.isinf(appetite_cap(np.full((100, 1), 0.01), np.full((100, 1), 0.4), appetite, 1.0)[0])
    rng = np.random.default_rng(2)
    pds, lgd = rng.beta(2, 20, size=(1000, 5)), rng.beta(3, 4, size=(1000, 5))
    cap = appetite_cap(pds, lgd, appetite, 1.0)
    assert (loss_exceedance(pds, lgd, cap * 0.999, 10_000) <= 0.02).all()
    assert (loss_exceedance(pds, lgd, cap * 1.001, 10_000) > 0.02).all()


def test_a_precomputed_lgd_order_survives_rescaling_and_shocks():
    rng = np.random.default_rng(3)
    appetite = Appetite(loss_threshold=10_000, max_probability=0.02)
    pds, lgd = rng.beta(2, 20, size=(800, 40)), rng.beta(3, 4, size=(800, 40))
    order = lgd_order(lgd)
    for moved in (np.clip(lgd * 1.6, 0, 1), np.clip(lgd + 0.2, 0, 1), lgd * 0.5):
        np.testing.assert_array_equal(
            appetite_cap(pds, moved, appetite, 1.0, order), appetite_cap(pds, moved, appetite, 1.0)
        )


def test_policies_override_the_model():
    econ = Economics()
    draws, lgd = np.full((100, 3), 0.01), np.full((100, 3), 0.4)
    frame = _frame(3, limit=1_000.0)
    frame["limit_policy"] = ["optimise", "no_increase", "cash_in_advance"]
    out = recommend_limits(frame, draws, lgd, econ, Appetite())
    assert out["recommended_limit"].iloc[0] > 1_000
    assert (
        out["recommended_limit"].iloc[1] == 1_000
        and out["binding"].iloc[1] == "policy: no increase"
    )
    assert out["recommended_limit"].iloc[2] == 0 and "cash in advance" in out["rationale"].iloc[2]
    assert out["rationale"].iloc[0].startswith("Raise to")


def _customer(**kw):
    row = {
        "customer_id": "C1",
        "open_ar": 8_000.0,
        "current_limit": 10_000.0,
        "recommended_limit": 15_000.0,
        "in_default": False,
        "limit_policy": "optimise",
        "policy": "standard",
        "approval": "credit manager",
        "max_dpd": 0,
        "pd_mean": 0.02,
    }
    return pd.Series({**row, **kw})


def test_order_approval_approves_refers_and_declines():
    appetite = Appetite(loss_threshold=20_000, max_probability=0.01)
    pds, lgd = np.full(200, 0.02), np.full(200, 0.5)
    ok = approve_order(_customer(), 1_000, pds, lgd, appetite)
    assert ok.decision == "approve" and ok.exposure_after == 9_000
    refer = approve_order(_customer(), 5_000, pds, lgd, appetite)
    assert refer.decision == "refer" and "within the recommended limit" in refer.to_text()
    assert "credit manager" in refer.to_text()
    # 80k exposure x LGD 0.5 = 40k > 20k with PD 2 % > 1 %: outside the appetite
    big = approve_order(_customer(), 72_000, pds, lgd, appetite)
    assert big.decision == "decline" and big.p_loss_exceeds == pytest.approx(0.02)
    assert approve_order(_customer(in_default=True), 10, pds, lgd, appetite).decision == "decline"
    late = approve_order(_customer(max_dpd=75), 10, pds, lgd, appetite)
    assert late.decision == "refer" and "75 days past due" in late.to_text()


@pytest.mark.parametrize(
    ("row", "binds"),
    [
        ({}, "the credit limit"),  # appetite allows 40,000 of exposure, the limit 10,000
        ({"current_limit": 90_000.0}, "the risk appetite"),
        ({"open_ar": 12_000.0}, "the credit limit"),  # already over the limit: nothing
    ],
)
def test_the_largest_order_approved_is_where_approval_stops(row, binds):
    """max_order is exactly the edge of approve_order: that amount is approved, a unit more is not."""
    appetite = Appetite(loss_threshold=20_000, max_probability=0.01)
    rng = np.random.default_rng(3)
    pds, lgd = np.full(400, 0.02), rng.uniform(0.3, 0.7, 400)  # the cap falls between draws
    customer = _customer(**row)
    amount, why = max_order(customer, pds, lgd, appetite)
    assert why == binds
    if amount > 0:
        assert approve_order(customer, amount, pds, lgd, appetite).decision == "approve"
    assert approve_order(customer, amount + 1, pds, lgd, appetite).decision != "approve"


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ({"in_default": True}, "in default"),
        ({"limit_policy": "cash_in_advance"}, "cash in advance"),
        ({"max_dpd": 75}, "75 days past due"),
        ({"current_limit": float("nan")}, "no credit limit"),
    ],
)
def test_no_order_is_approved_on_the_spot_when_policy_forbids_it(row, reason):
    appetite = Appetite(loss_threshold=20_000, max_probability=0.01)
    pds, lgd = np.full(200, 0.02), np.full(200, 0.5)
    amount, why = max_order(_customer(**row), pds, lgd, appetite)
    assert amount == 0 and reason in why
    assert approve_order(_customer(**row), 1, pds, lgd, appetite).decision != "approve"


# -- terms -----------------------------------------------------------------------------------
def test_terms_formulas_match_the_domain_examples():
    assert discount_apr(0.02, 10, 30) == pytest.approx(0.3724, abs=1e-4)
    assert factoring_apr(0.85, 0.02, 45) == pytest.approx(0.2863, abs=1e-4)


def test_a_discount_pays_for_slow_risky_payers_only():
    frame = pd.DataFrame(
        {
            "customer_id": ["slow", "fast"],
            "annual_sales": [100_000.0, 100_000.0],
            "days_to_pay": [120.0, 15.0],
            "payment_terms_days": [30, 30],
        }
    )
    pds, lgd = np.full((100, 2), 0.2), np.full((100, 2), 0.5)
    out = terms_economics(
        frame, pds, lgd, Economics(cost_of_capital=0.1), parse_decision_settings({}).terms
    )
    slow, fast = out.iloc[0], out.iloc[1]
    # 0.5 x 100k x ((120 - 10) / 365 x (0.1 + 0.1) - 0.02)
    assert slow["discount_value"] == pytest.approx(0.5 * 100_000 * (110 / 365 * 0.2 - 0.02))
    assert slow["discount_value"] > 0 > fast["discount_value"]
    assert slow["p_discount_pays"] == 1.0 and fast["p_discount_pays"] == 0.0
