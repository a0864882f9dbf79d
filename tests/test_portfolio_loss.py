"""The portfolio loss distribution checked against theory: the Vasicek large-portfolio quantile,
the Poisson-binomial distribution at zero correlation, Euler contributions that add up, insurance
arithmetic worked by hand, the correlation posterior recovering a known correlation; and the
policy file's and the settings' errors."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from creditlab.decisions.correlation import correlation_posterior, default_cohorts
from creditlab.decisions.insurance import Insurance, cover, policy_table
from creditlab.decisions.loss_settings import PortfolioLossSettings, parse_loss_settings
from creditlab.decisions.portfolio_loss import (
    LossInputs,
    one_factor_var,
    risk_measures,
    simulate,
)
from creditlab.decisions.settings import BetaPrior
from creditlab.errors import ConfigError


def _inputs(pd_row, ead=None, lgd=1.0, rho=0.0, draws=10, sectors=None, insurance=None):
    n = len(pd_row)
    ids = np.array([f"C{i:05d}" for i in range(n)])
    return LossInputs(
        customer_ids=ids,
        sectors=np.array(["all"] * n if sectors is None else sectors),
        ead=np.ones(n) if ead is None else np.asarray(ead, dtype=float),
        pd_draws=np.tile(np.asarray(pd_row, dtype=float), (draws, 1)),
        lgd_draws=np.full((draws, n), lgd),
        systematic=np.full(draws, rho),
        sector=np.zeros(draws),
        insurance=insurance,
    )


def _settings(**kw):
    base = {"scenarios": 100_000, "posterior_draws": 10, "sector_by": "none"}
    return PortfolioLossSettings(**(base | kw))


def _value(result, measure, level, column="gross"):
    d = result.distribution
    return float(d.loc[(d["measure"] == measure) & (d["level"] == level), column].iloc[0])


def test_large_homogeneous_portfolio_matches_the_vasicek_quantile():
    n, p, rho = 5000, 0.02, 0.15
    result = simulate(_inputs(np.full(n, p), rho=rho), _settings(), 0.9, seed=1)
    for level in (0.99, 0.999):
        vasicek = n * stats.norm.cdf(
            (stats.norm.ppf(p) + np.sqrt(rho) * stats.norm.ppf(level)) / np.sqrt(1 - rho)
        )
        asrf, ga = one_factor_var(np.full(n, p), np.ones(n), np.zeros(n), np.ones(n), rho, (level,))
        assert asrf[0] == pytest.approx(vasicek, rel=1e-9)  # the closed form, independently
        assert 0 < ga[0] < 0.01 * vasicek  # 5,000 names: nearly infinitely granular
        # the simulation lands on the large-portfolio quantile plus its granularity adjustment
        assert _value(result, "VaR", level) == pytest.approx(vasicek + ga[0], rel=0.02)
    el = result.summary["expected_loss"]
    assert el["analytic"] == pytest.approx(n * p)
    assert el["simulated"] == pytest.approx(n * p, rel=0.02)  # importance weights unbiased


def test_zero_correlation_gives_the_poisson_binomial_distribution():
    rng = np.random.default_rng(3)
    p = rng.uniform(0.005, 0.2, 300)
    exact = np.array([1.0])  # distribution of the number of defaults, by convolution
    for q in p:
        exact = np.convolve(exact, [1 - q, q])
    cdf = np.cumsum(exact)
    inputs = _inputs(p, rho=1e-9)
    for shift in (0.0, 3.0):  # plain Monte Carlo, and importance sampling (weights must cancel)
        result = simulate(inputs, _settings(importance_shift=shift), 0.9, seed=2)
        for level in (0.95, 0.99, 0.999):
            k = _value(result, "VaR", level)
            # the simulated quantile is the exact one up to a step where the cdf is near the level
            assert cdf[int(k)] >= level - 0.003 and (k == 0 or cdf[int(k) - 1] <= level + 0.003)
        assert result.summary["expected_loss"]["simulated"] == pytest.approx(p.sum(), rel=0.01)
    # the risk measures of a weighted sample by hand: VaR is a quantile, ES the tail mean
    losses, weights = np.arange(10.0), np.ones(10)
    var, es, tail = risk_measures(losses, weights, (0.8,))
    assert var[0] == 7.0 and es[0] == pytest.approx(8.5) and tail.sum() == pytest.approx(1.0)


def test_contributions_add_up_and_follow_the_risk():
    rng = np.random.default_rng(5)
    n = 400
    p = np.where(np.arange(n) < 200, 0.01, 0.05)  # two groups of equal customers
    ead = np.ones(n) * 100.0
    sectors = np.where(np.arange(n) % 2 == 0, "a", "b")
    inputs = _inputs(p, ead=ead, lgd=0.5, rho=0.1, sectors=sectors)
    inputs.sector[:] = 0.05
    inputs.lgd_draws[:] = rng.beta(4, 4, inputs.lgd_draws.shape)
    result = simulate(inputs, _settings(sector_by="industry", contribution_level=0.99), 0.9, 4)
    c = result.contributions
    es = _value(result, "ES", 0.99)
    assert c["es_contribution"].sum() == pytest.approx(es, rel=1e-9)
    assert c["net_es_contribution"].sum() == pytest.approx(_value(result, "ES", 0.99, "net"))
    low, high = c["es_contribution"][:200].mean(), c["es_contribution"][200:].mean()
    assert high > 2 * low  # riskier customers carry more of the tail
    # equal customers get equal shares, up to simulation noise
    assert c["es_contribution"][200:].std() / high < 0.35
    assert c["el"].sum() == pytest.approx(result.summary["expected_loss"]["analytic"])


def test_insurance_arithmetic_worked_by_hand(tmp_path):
    policy = tmp_path / "policy.csv"
    policy.write_text("customer_id,insured_limit,indemnity\nC00000,50000,0.9\nC00001,60000,0.8\n")
    ins = Insurance(
        policy=str(policy), deductible=1000, aggregate_first_loss=10_000, max_liability=20_000
    )
    # A and B and C are in default (PD 1), D never defaults; LGD 0.5 for all
    inputs = _inputs([1.0, 1.0, 1.0, 0.0], ead=[100_000, 40_000, 30_000, 50_000], lgd=0.5,
                     insurance=ins)  # fmt: skip
    result = simulate(inputs, _settings(scenarios=2000), 0.9, seed=0)
    # A: 0.9 x (0.5 x min(100k, 50k) - 1k) = 21,600; B: 0.8 x (0.5 x 40k - 1k) = 15,200; C: none
    # payout = min(20k, 21.6k + 15.2k - 10k) = 20,000; gross = 50k + 20k + 15k = 85,000
    for measure, level in (("VaR", 0.99), ("ES", 0.999), ("expected loss", None)):
        row = result.distribution.loc[result.distribution["measure"] == measure]
        if level is not None:
            row = row.loc[row["level"] == level]
        assert row["gross"].iloc[0] == pytest.approx(85_000)
        assert row["net"].iloc[0] == pytest.approx(65_000)
    c = result.contributions.set_index("customer_id")
    assert c.loc["C00000", "net_es_contribution"] == pytest.approx(50_000 - 20_000 * 21.6 / 36.8)
    assert c.loc["C00001", "net_es_contribution"] == pytest.approx(20_000 - 20_000 * 15.2 / 36.8)
    assert c.loc["C00002", "net_es_contribution"] == pytest.approx(15_000)
    assert c.loc["C00003", "es_contribution"] == 0
    assert list(c["insured"]) == [50_000, 40_000, 0, 0]
    # the what-if lever: insure C up to 30k at the policy's indemnity
    what_if = simulate(inputs.insure("C00002", 30_000), _settings(scenarios=2000), 0.9, seed=0)
    # C now claims 0.9 x (15k - 1k) = 12,600; the payout stays capped at 20k
    assert _value(what_if, "ES", 0.999, "net") == pytest.approx(65_000)
    uncapped = inputs.insure("C00002", 30_000)
    uncapped.insurance = Insurance(policy=str(policy), limits={"C00002": 30_000}, deductible=1000)
    free = simulate(uncapped, _settings(scenarios=2000), 0.9, seed=0)
    assert _value(free, "ES", 0.999, "net") == pytest.approx(85_000 - 21_600 - 15_200 - 12_600)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("customer_id,limit\nC1,10\n", "missing column"),
        ("customer_id,insured_limit\nC1,10\nC2,ten\n", "row 3, column 'insured_limit'"),
        ("customer_id,insured_limit,indemnity\nC1,10,1.5\n", "row 2, column 'indemnity'"),
        ("customer_id,insured_limit\nC1,10\nC1,20\n", "named twice"),
        ("customer_id,insured_limit\n,10\n", "empty"),
    ],
)
def test_a_bad_policy_file_names_the_row_and_column(tmp_path, content, message):
    path = tmp_path / "policy.csv"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message) as err:
        policy_table(Insurance(policy=str(path)))
    assert str(path) in str(err.value)


def test_cover_uses_the_discretionary_limit_and_lists_unknown_customers():
    ins = Insurance(limits={"A": 500.0, "Z": 100.0}, discretionary_limit=50.0, indemnity=0.8)
    table, unknown = cover(np.array(["A", "B"]), np.array([800.0, 20.0]), ins)
    assert list(table["insured"]) == [500.0, 20.0] and list(table["uninsured"]) == [300.0, 0.0]
    assert list(table["indemnity"]) == [0.8, 0.8] and unknown == ["Z"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"levels": [0.99, 1.2]}, "levels must lie"),
        ({"contribution_level": 0.98}, "contribution_level 0.98 must be one of levels"),
        ({"sector_by": "planet"}, "sector_by must be one of"),
        ({"systematic": {"mean": 0.2}}, "systematic: expected {mean, sd}"),
        ({"systematic": {"mean": 0.5, "sd": 0.6}}, "systematic: sd must be positive"),
        ({"scenarios": 10}, "scenarios must be an integer >= 1000"),
        ({"colour": 1}, "unknown key"),
    ],
)
def test_bad_loss_settings_are_named(raw, message):
    with pytest.raises(ConfigError, match=message):
        parse_loss_settings(raw, "params.yaml: portfolio_loss")


@pytest.mark.slow
def test_correlation_posterior_recovers_a_known_correlation():
    rng = np.random.default_rng(8)
    months, n, p, rho = 240, 3000, 0.03, 0.15  # 20 effective years of cohorts
    z = rng.standard_normal(months)
    q = stats.norm.cdf((stats.norm.ppf(p) - np.sqrt(rho) * z) / np.sqrt(1 - rho))
    cohorts = pd.DataFrame({"customers": n, "defaults": rng.binomial(n, q)})
    post = correlation_posterior(cohorts, BetaPrior(0.08, 0.04))
    s = post.summary(0.9)
    assert s["updated"] and s["posterior"]["lo"] < rho < s["posterior"]["hi"]
    assert abs(s["posterior"]["mean"] - rho) < 0.04
    draws = post.draws(4000, np.random.default_rng(0))
    assert abs(draws.mean() - s["posterior"]["mean"]) < 0.01
    short = correlation_posterior(cohorts.head(12), BetaPrior(0.08, 0.04))
    assert not short.updated and "needs 2 effective years" in short.reason


def test_default_cohorts_count_customers_and_defaults_by_month():
    day = pd.Timestamp
    invoices = pd.DataFrame(
        {
            "customer_id": ["A", "A", "B", "C"],
            "issued_on": [
                day("2023-01-05"),
                day("2024-01-05"),
                day("2023-02-01"),
                day("2023-03-01"),
            ],
            "due_on": [day("2023-02-05"), day("2024-02-05"), day("2023-03-01"), day("2023-04-01")],
            "paid_on": [day("2023-02-05"), day("2024-02-05"), pd.NaT, day("2023-04-01")],
        }
    )
    events = pd.DataFrame({"customer_id": [], "kind": [], "event_on": pd.to_datetime([])})
    cohorts = default_cohorts(invoices, events, dt.date(2025, 1, 1), min_history_days=30)
    first = cohorts.iloc[0]
    # from 2023-03-01: A, B and C invoiced in the year before; B's invoice hit 90 DPD on 2023-05-30
    assert str(first["cohort_start"]) == "2023-03-01"
    assert first["customers"] == 3 and first["defaults"] == 1
    # after B's default it is no longer in a cohort
    later = cohorts.loc[cohorts["cohort_start"] == dt.date(2023, 7, 1)].iloc[0]
    assert later["customers"] == 2 and later["defaults"] == 0
