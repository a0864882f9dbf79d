"""The PD model: parameter recovery with real (small) NUTS sampling, prediction, persistence, the
convergence gate and the validation metrics."""

from __future__ import annotations

import dataclasses
import json

import arviz as az
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import brier_score_loss, roc_auc_score

from creditlab.errors import ConfigError, ConvergenceError
from creditlab.models.diagnostics import GateConfig, convergence_gate
from creditlab.models.pd import ModelConfig, PDModel, SamplerConfig, Standardizer
from creditlab.models.pd_checks import points_table
from creditlab.models.pd_design import (
    bin_edges,
    bin_index,
    bin_labels,
    scorecard_columns,
    screen_columns,
    screen_pairs,
)
from creditlab.models.pd_priors import Priors, prior_sensitivity
from creditlab.models.sampling import strongest_correlation
from creditlab.models.validation import (
    auc,
    brier,
    calibration,
    ks,
    metrics_table,
    pluto_tasche,
    psi,
)

TRUE_BETA = {"x1": 0.8, "x2": -0.5, "x3": 0.0}
TRUE_GROUP = {"g1": -3.2, "g2": -2.6, "g3": -2.0, "g4": -2.9}


def simulate(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({k: rng.normal(size=n) for k in TRUE_BETA})
    frame["industry"] = rng.choice(list(TRUE_GROUP), n)
    eta = frame["industry"].map(TRUE_GROUP) + sum(frame[k] * b for k, b in TRUE_BETA.items())
    frame["y"] = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int)
    frame.loc[rng.random(n) < 0.1, "x2"] = np.nan  # missing values are handled, not dropped
    return frame


@pytest.fixture(scope="module")
def fitted():
    frame = simulate(6000, seed=1)
    sampler = SamplerConfig(sampler="nutpie", draws=400, tune=400, chains=2, seed=5)
    model = PDModel(list(TRUE_BETA), ModelConfig(prior_group_sigma=1.0), sampler)
    return model.fit(frame, "y"), frame


@pytest.mark.slow
def test_recovers_known_coefficients_and_intercepts(fitted):
    model, frame = fitted
    gate = convergence_gate(model.idata, GateConfig(min_ess_bulk=200, min_ess_tail=200))
    assert gate.passed
    beta = az.summary(model.idata, var_names=["beta"], hdi_prob=0.95)
    std = model.standardizer
    for i, (name, true) in enumerate(TRUE_BETA.items()):
        # the model works on standardised predictors: beta_std = beta_raw * scale
        scaled = true * std.scales[name]
        row = beta.iloc[i]
        assert row["hdi_2.5%"] <= scaled <= row["hdi_97.5%"], (name, scaled, row.to_dict())
    assert std.indicators == ["x2"] and "x2_missing" in std.names
    a = model.idata.posterior["a_group"].mean(("chain", "draw")).to_series()
    offset = sum(std.means[k] * TRUE_BETA[k] for k in TRUE_BETA)  # centring moves intercepts
    for g, true in TRUE_GROUP.items():
        assert abs(a[g] - (true + offset)) < 0.35, g


@pytest.mark.slow
def test_predictions_intervals_and_persistence(fitted, tmp_path):
    model, frame = fitted
    new = frame.head(50).copy()
    pred = model.predict(new, prob=0.9)
    assert (pred["pd_lo"] <= pred["pd_mean"]).all() and (pred["pd_mean"] <= pred["pd_hi"]).all()
    assert roc_auc_score(frame["y"], model.predict(frame)["pd_mean"]) > 0.7
    unseen = new.assign(industry="never seen")
    width = (model.predict(unseen)["pd_hi"] - model.predict(unseen)["pd_lo"]).mean()
    assert width > (pred["pd_hi"] - pred["pd_lo"]).mean()  # a new group is more uncertain
    # scoring in chunks of a few rows (bounded memory) gives the same numbers as one pass
    mixed = pd.concat([new, unseen.head(7)], ignore_index=True)
    n_draws = model.predict_draws(new.head(1)).shape[0]
    chunked = model.predict(mixed, max_cells=n_draws * 3)
    pd.testing.assert_frame_equal(chunked, model.predict(mixed))
    path = model.save(tmp_path / "m.nc", {"data_hash": "abc"})
    again = PDModel.load(path)
    np.testing.assert_allclose(again.predict_draws(new), model.predict_draws(new))
    assert again.provenance["data_hash"] == "abc" and again.levels == model.levels


def _idata(shift: float, diverging: int = 0) -> az.InferenceData:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 500))
    x[1] += shift
    div = np.zeros((2, 500), dtype=bool)
    div[0, :diverging] = True
    energy = rng.normal(size=(2, 500))
    return az.from_dict(posterior={"mu": x}, sample_stats={"diverging": div, "energy": energy})


def test_gate_passes_good_chains_and_stops_bad_ones():
    assert convergence_gate(_idata(0.0)).passed
    with pytest.raises(ConvergenceError, match="R-hat"):
        convergence_gate(_idata(3.0))
    with pytest.raises(ConvergenceError, match="divergences = 4"):
        convergence_gate(_idata(0.0, diverging=4))
    result = convergence_gate(_idata(3.0), GateConfig(fatal=False))
    assert not result.passed and any("R-hat" in f for f in result.failures)
    assert any("worst: mu" in f for f in result.failures)  # the failing parameter is named
    with pytest.raises(ConvergenceError, match=r"worst: mu .*\. raise the draws"):
        convergence_gate(_idata(3.0), advice="raise the draws")


def test_sampler_must_be_known():
    with pytest.raises(ConfigError, match="sampler must be"):
        SamplerConfig(sampler="gibbs")


def test_metrics_agree_with_reference_implementations():
    rng = np.random.default_rng(3)
    p = rng.random(500)
    y = (rng.random(500) < p).astype(int)
    assert auc(y, p) == pytest.approx(roc_auc_score(y, p))
    assert brier(y, p) == pytest.approx(brier_score_loss(y, p))
    assert ks(y, p) == pytest.approx(stats.ks_2samp(p[y == 1], p[y == 0]).statistic)
    table = metrics_table(y, p, n_boot=100).set_index("metric")
    assert (table["lo"] <= table["value"]).all() and (table["value"] <= table["hi"]).all()
    assert table.loc["gini", "value"] == pytest.approx(2 * table.loc["auc", "value"] - 1)


def test_calibration_jeffreys_and_psi():
    y = np.array([1] * 3 + [0] * 97 + [1] * 30 + [0] * 70)
    p = np.array([0.03] * 100 + [0.05] * 100)
    table = calibration(y, p, bands=(0.0, 0.04, 1.0)).set_index("band")
    low, high = table.iloc[0], table.iloc[1]
    assert low["n"] == 100 and low["defaults"] == 3 and low["consistent"]
    assert high["observed_rate"] == 0.3 and not high["consistent"] and high["p_value"] < 0.01
    lo, hi = stats.beta(30.5, 70.5).ppf([0.05, 0.95])
    assert (high["rate_lo"], high["rate_hi"]) == pytest.approx((lo, hi))
    rng = np.random.default_rng(0)
    base = rng.normal(size=5000)
    assert psi(base, rng.normal(size=5000))[1] == "stable"
    value, reading = psi(base, rng.normal(1.0, 1.0, size=5000))
    assert value > 0.25 and reading == "rebuild"


@pytest.mark.slow
def test_90_percent_intervals_cover_the_truth_about_90_percent_of_the_time():
    """Calibration of the posterior itself: across seeds, 90 % intervals hold the true values."""
    hits, total = 0, 0
    for seed in range(6):
        frame = simulate(2500, seed=100 + seed)
        sampler = SamplerConfig(sampler="nutpie", draws=300, tune=300, chains=2, seed=seed)
        model = PDModel(list(TRUE_BETA), ModelConfig(prior_group_sigma=1.0), sampler).fit(
            frame, "y"
        )
        hdi = az.hdi(model.idata, var_names=["beta"], hdi_prob=0.9)["beta"].to_numpy()
        truth = np.array([TRUE_BETA[k] * model.standardizer.scales[k] for k in TRUE_BETA])
        inside = (hdi[: len(truth), 0] <= truth) & (truth <= hdi[: len(truth), 1])
        hits, total = hits + int(inside.sum()), total + len(truth)
    # 18 intervals at 90 %: a binomial(18, 0.9) count is >= 13 with probability > 99 %
    assert 13 <= hits <= total, f"{hits} of {total} intervals hold the truth"


@pytest.mark.slow
def test_time_varying_intercept_shows_a_downturn():
    rng = np.random.default_rng(8)
    frames = []
    for k, shift in enumerate([0.0, 0.0, 1.5, 0.0]):
        f = simulate(1500, seed=200 + k)
        eta = f["industry"].map(TRUE_GROUP) + 0.8 * f["x1"] + shift
        f["y"] = (rng.random(len(f)) < 1 / (1 + np.exp(-eta))).astype(int)
        f["snapshot"] = f"2024-0{k + 1}-01"
        frames.append(f)
    frame = pd.concat(frames, ignore_index=True)
    config = ModelConfig(time_varying=True, prior_group_sigma=1.0)
    model = PDModel(["x1"], config, SamplerConfig(sampler="nutpie", draws=300, tune=300, seed=1))
    model.fit(frame, "y")
    offsets = model.idata.posterior["offset_snapshot"].mean(("chain", "draw")).to_series()
    assert (
        offsets.idxmax() == "2024-03-01" and offsets.max() - offsets.drop("2024-03-01").max() > 0.8
    )
    unseen = frame.head(100).assign(snapshot="2025-01-01")
    assert model.predict(unseen)["pd_hi"].mean() > model.predict(frame.head(100))["pd_hi"].mean()


@pytest.mark.slow
def test_binned_predictor_recovers_a_nonlinear_effect(tmp_path):
    rng = np.random.default_rng(12)
    n = 5000
    frame = pd.DataFrame(
        {
            "x1": rng.normal(size=n),
            "dpd": rng.exponential(20, n),
            "industry": rng.choice(["a", "b", "c"], n),
        }
    )
    # risk jumps past 30 days and flattens: not a straight line in dpd; a missing dpd is riskier
    missing = rng.random(n) < 0.1
    eta = -3.0 + 0.5 * frame["x1"] + np.where(frame["dpd"] > 30, 1.5, 0.0) + 1.2 * missing
    frame["y"] = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int)
    frame.loc[missing, "dpd"] = np.nan
    config = ModelConfig(binned=("dpd",), n_bins=5, prior_group_sigma=1.0)
    model = PDModel(["x1", "dpd"], config, SamplerConfig(sampler="nutpie", draws=300, tune=300))
    model.fit(frame, "y")
    assert model.standardizer.names == ["x1"]
    bins = model.idata.posterior["bins_dpd"]
    assert str(bins.coords["bin_dpd"].to_numpy()[-1]) == "missing"  # a bin of its own
    effect = bins.mean(("chain", "draw")).to_numpy()
    ordered, gap = effect[:-1], effect[-1]
    assert ordered[-1] - ordered[0] > 1.0 and np.all(np.diff(ordered) > -0.3)
    assert gap - ordered[:3].mean() > 0.6  # missing carries its own (higher) risk
    points = points_table(model)
    assert list(points.loc[points["predictor"] == "dpd", "bin"])[-1] == "missing"
    top = points.loc[points["predictor"] == "dpd", "points"].to_numpy()
    assert top[0] > top[-2]  # more points (lower risk) at few days past due
    assert points.loc[points["predictor"] == "x1", "bin"].tolist() == ["per +1 sd"]
    again = PDModel.load(model.save(tmp_path / "b.nc"))
    np.testing.assert_allclose(
        again.predict_draws(frame.head(20)), model.predict_draws(frame.head(20))
    )
    with pytest.raises(ConfigError, match="binned predictor"):
        PDModel(["x1"], ModelConfig(binned=("dpd",)))


def _joint_effect_table(n: int, seed: int) -> pd.DataFrame:
    """Defaults driven by a and b together (a step up only where both are high: no main-effect
    model holds it) and by c along a bent, rising curve; d is noise. Not the model's own family."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n, 4)), columns=["a", "b", "c", "d"])
    eta = -2.2 + 2.0 * ((frame["a"] > 0.3) & (frame["b"] > 0.3)) + 0.9 * np.tanh(2 * frame["c"])
    frame["y"] = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int)
    return frame


def test_the_pair_screen_finds_a_joint_effect_and_no_spurious_ones():
    found = screen_pairs(_joint_effect_table(4000, 1), "y", ["a", "b", "c", "d"])
    assert [pair["columns"] for pair in found] == [["a", "b"]]
    assert found[0]["p_value"] * 6 < 0.01 and found[0]["df"] == 9
    other = _joint_effect_table(4000, 2)
    assert screen_pairs(other, "y", ["c", "d"]) == []  # a bent main effect and noise
    assert screen_pairs(other, "y", ["a"]) == []  # one column: no pair


def test_the_column_screen_keeps_what_adds_to_the_base_and_drops_noise():
    """c drives defaults beside a (a bent curve, 0.9 tanh 2c); d is noise; e repeats a, which the
    base already holds; a constant is never kept."""
    rng = np.random.default_rng(4)
    frame = pd.DataFrame(rng.normal(size=(4000, 3)), columns=["a", "c", "d"])
    frame["e"] = frame["a"] + rng.normal(0, 0.05, len(frame))
    frame["flat"] = 1.0
    eta = -2.0 + 0.8 * frame["a"] + 0.9 * np.tanh(2 * frame["c"])
    frame["y"] = (rng.random(len(frame)) < 1 / (1 + np.exp(-eta))).astype(int)
    kept = screen_columns(frame, "y", ["a"], ["c", "d", "e", "flat"])
    assert [k["column"] for k in kept] == ["c"] and kept[0]["p_value"] * 4 < 0.01
    assert screen_columns(frame.assign(y=0), "y", ["a"], ["c"]) == []  # nothing to learn from


def test_the_scorecard_shape_needs_defaults_for_its_bins():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(1000, 6)), columns=list("abcdef"))
    frame["flag"] = rng.integers(0, 2, 1000)
    frame["y"] = (np.arange(1000) < 200).astype(int)  # 200 defaults for 6 x 8 = 48 bin effects
    assert scorecard_columns(frame, "y", [*"abcdef", "flag"], n_bins=8) == list("abcdef")
    frame["y"] = (np.arange(1000) < 60).astype(int)  # 60: fewer than 2 per bin effect
    assert scorecard_columns(frame, "y", [*"abcdef", "flag"], n_bins=8) == []


def test_columns_with_few_values_get_a_bin_per_value():
    spec = bin_edges(pd.Series([0, 1, 1, 2, 5, np.nan, 2, 0]), n_bins=4)
    assert spec["edges"] == [0.5, 1.5, 3.5] and spec["missing"]
    assert bin_labels(spec) == ["= 0", "= 1", "= 2", "= 5", "missing"]
    assert bin_index(pd.Series([0, 2, 5, 4, np.nan]), spec).tolist() == [0, 2, 3, 3, 4]
    many = bin_edges(pd.Series(np.arange(100.0)), n_bins=4)
    assert len(many["edges"]) == 3 and "values" not in many


def test_shape_settings_are_checked():
    with pytest.raises(ConfigError, match="increasing or decreasing"):
        ModelConfig(monotone={"x": "upwards"})
    with pytest.raises(ConfigError, match="pair of two"):
        ModelConfig(interactions=[["x", "x"]])
    with pytest.raises(ConfigError, match="not binned"):
        PDModel(["x", "z"], ModelConfig(monotone={"x": "increasing"}))
    with pytest.raises(ConfigError, match=r"interaction predictor\(s\) \['q'\]"):
        PDModel(["x", "z"], ModelConfig(interactions=[["x", "q"]]))
    config = ModelConfig(monotone={"x": "decreasing"}, interactions=[["x", "z"]])
    assert config.monotone == (("x", "decreasing"),) and config.interactions == (("x", "z"),)


@pytest.mark.slow
def test_an_interaction_and_a_monotone_shape_are_learnt(tmp_path):
    frame = _joint_effect_table(2500, 3)
    config = ModelConfig(group=None, binned=("c",), monotone={"c": "increasing"},
                         interactions=[["a", "b"]])  # fmt: skip
    model = PDModel(["a", "b", "c", "d"], config, SamplerConfig(draws=300, tune=300, seed=1))
    model.fit(frame, "y")
    steps = np.diff(model._posterior("bins_c"), axis=1)
    assert (steps >= 0).all()  # every draw rises along c
    corners = pd.DataFrame({"a": [1.5, 1.5, -1.5, -1.5], "b": [1.5, -1.5, 1.5, -1.5],
                            "c": 0.0, "d": 0.0})  # fmt: skip
    pd_mean = model.predict(corners)["pd_mean"].to_numpy()
    truth = 1 / (1 + np.exp(-np.array([-0.2, -2.2, -2.2, -2.2])))
    assert pd_mean[0] > 2.5 * pd_mean[1:].max()  # both high: the joint step
    np.testing.assert_allclose(pd_mean, truth, atol=0.08)
    points = points_table(model)
    assert points["predictor"].str.contains(" x ").any()
    again = PDModel.load(model.save(tmp_path / "pair.nc"))
    np.testing.assert_allclose(again.predict_draws(corners), model.predict_draws(corners))


def test_auto_sampler_choice_follows_the_measurements():
    from creditlab.models import sampling as pd_module

    auto = SamplerConfig()
    assert auto.resolve(2_000) == ("nutpie", "float64")
    assert auto.resolve(pd_module.AUTO_NUMPYRO_ROWS) == ("numpyro", "float32")
    assert SamplerConfig(sampler="numpyro", precision="float64").resolve(10) == (
        "numpyro",
        "float64",
    )
    with pytest.raises(ConfigError, match="precision"):
        SamplerConfig(precision="float16")


@pytest.mark.slow
def test_identical_rows_collapse_into_binomial_cells_exactly():
    """Rows that share every value become one binomial cell: the log posterior differs from the
    row-by-row Bernoulli one only by the constant sum of log binomial coefficients."""
    from scipy.special import gammaln

    rng = np.random.default_rng(4)
    n = 5000
    frame = pd.DataFrame({
        "a": rng.integers(0, 2, n).astype(float),
        "b": rng.integers(0, 3, n).astype(float),
        "industry": rng.choice(["p", "q", "r"], n),
        "country": rng.choice(["DE", "FR"], n),
    })  # fmt: skip
    frame["y"] = (rng.random(n) < 1 / (1 + np.exp(2 - 0.8 * frame["a"]))).astype(int)
    cells = PDModel(["a", "b"], ModelConfig(factors=("country",)))
    rows = PDModel(["a", "b"], ModelConfig(factors=("country",), aggregate=False))
    by_cell, by_row = cells.build(frame, "y"), rows.build(frame, "y")
    assert cells.n_cells == 2 * 3 * 3 * 2 and rows.n_cells == n
    design = cells._design(frame, "y")
    assert design.trials.sum() == n and design.events.sum() == frame["y"].sum()
    constant = np.sum(
        gammaln(design.trials + 1)
        - gammaln(design.events + 1)
        - gammaln(design.trials - design.events + 1)
    )
    logp_cells, logp_rows = by_cell.compile_logp(), by_row.compile_logp()
    start = by_cell.initial_point()
    for _ in range(3):
        point = {k: v + rng.normal(scale=0.5, size=np.shape(v)) for k, v in start.items()}
        assert logp_cells(point) - logp_rows(point) == pytest.approx(constant, rel=1e-9)


def test_a_batch_worker_caps_the_cores_of_parallel_chains(monkeypatch):
    from creditlab.models.sampling import CORE_CAP_ENV, _cores

    config = SamplerConfig(chains=4, cores=4)
    monkeypatch.delenv(CORE_CAP_ENV, raising=False)
    assert _cores(config) == 4
    monkeypatch.setenv(CORE_CAP_ENV, "1")  # what a Dask task on a shared machine sets
    assert _cores(config) == 1 and config.chains == 4  # chains (and so the draws) unchanged
    monkeypatch.setenv(CORE_CAP_ENV, "8")
    assert _cores(config) == 4


def test_heavy_tails_are_capped_and_normal_columns_are_not(tmp_path):
    """A ratio with a few extreme rows (a near-zero denominator) is winsorised at its 1st/99th
    percentiles when learnt and when scoring; a normal column keeps every value; the caps survive
    saving the state."""
    from creditlab.models.pd import Standardizer

    rng = np.random.default_rng(4)
    ratio = rng.normal(1.0, 0.3, 5_000)
    ratio[:5] = [4e5, -2e5, 9e4, 1e6, -7e4]
    frame = pd.DataFrame({"ratio": ratio, "normal": rng.normal(0, 1, 5_000)})
    frame.loc[10, "ratio"] = np.nan
    st = Standardizer.fit(frame, ["ratio", "normal"])
    assert list(st.bounds) == ["ratio"]
    lo, hi = st.bounds["ratio"]
    assert lo == pytest.approx(frame["ratio"].quantile(0.01)) and hi < 2.0
    z = st.transform(frame)
    assert np.abs(z[:, 0]).max() < 5  # uncapped, the largest would sit near 70 sd
    assert z[10, 2] == 1.0  # the missing value is flagged, then imputed inside the caps
    raw = (frame["normal"] - frame["normal"].mean()) / frame["normal"].std()
    np.testing.assert_allclose(z[:, 1], raw)  # untouched
    again = Standardizer(**json.loads(json.dumps(dataclasses.asdict(st))))
    np.testing.assert_allclose(again.transform(frame), z)


def test_scoring_past_the_training_range_takes_its_edge_and_names_it():
    """A straight line is not extrapolated: a row scored past a predictor's training range is
    standardised as the range's edge, and ``beyond`` names the predictor; a fit saved before
    ranges existed scores as before."""
    frame = pd.DataFrame({"tenure": [0.5, 1.0, 2.0, 3.0], "dpd": [0.0, 10.0, 30.0, 20.0]})
    st = Standardizer.fit(frame, ["tenure", "dpd"])
    assert st.ranges == {"tenure": [0.5, 3.0], "dpd": [0.0, 30.0]}
    later = pd.DataFrame({"tenure": [4.0, 1.0, np.nan], "dpd": [10.0, 45.0, -1.0]})
    z = st.transform(later)
    edge = st.transform(pd.DataFrame({"tenure": [3.0, 1.0, 1.5], "dpd": [10.0, 30.0, 0.0]}))
    np.testing.assert_allclose(z, edge)  # a missing tenure is imputed (the median, 1.5)
    assert st.beyond(later).tolist() == ["tenure", "dpd", "dpd"]
    old = dataclasses.asdict(st) | {"ranges": {}}
    old_st = Standardizer(**old)
    assert old_st.beyond(later).tolist() == ["", "", ""]
    assert old_st.transform(later)[0, 0] > z[0, 0]  # extrapolated, as fits saved before did


def test_a_model_that_cannot_start_ends_in_a_clear_error():
    """A log-density that is not finite anywhere stops with a ConvergenceError that says what to
    change, not the sampler's traceback."""
    import pymc as pm

    from creditlab.models.sampling import sample

    def build():
        with pm.Model() as model:
            x = pm.Normal("x")
            pm.Potential("impossible", pm.math.log(x - x))  # log 0 everywhere
        return model

    config = SamplerConfig(sampler="pymc", draws=10, tune=10, chains=1, cores=1)
    with pytest.raises(ConvergenceError, match="could not start sampling") as err:
        sample(build, config, rows=10, what="PD model")
    assert "What to change" in str(err.value) and "--sampler pymc" in str(err.value)


def test_pluto_tasche_bounds_match_the_paper():
    """Pluto and Tasche (2005), grades of 100, 400 and 300 borrowers at 90 %: no defaults gives
    0.29 %, 0.33 %, 0.76 %; defaults 0, 2, 1 give 0.84 %, 0.95 %, 1.29 %."""
    n = np.array([100, 400, 300])
    np.testing.assert_allclose(pluto_tasche(n, np.zeros(3)), [0.00287, 0.00328, 0.00765], atol=5e-5)
    bounds = pluto_tasche(n, np.array([0, 2, 1]))
    np.testing.assert_allclose(bounds, [0.0083, 0.0095, 0.0129], atol=5e-5)
    assert (np.diff(bounds) > 0).all()  # better grades get lower bounds
    # the bound is the p at which that many defaults or fewer have probability 10 %
    assert stats.binom.cdf(3, 800, bounds[0]) == pytest.approx(0.10)
    assert pluto_tasche(np.array([5]), np.array([5]))[0] == 1.0  # all defaulted: no bound


def test_many_or_near_duplicate_predictors_get_a_low_rank_mass_matrix_on_nutpie():
    auto = SamplerConfig()
    assert auto.low_rank("nutpie", 113) and not auto.low_rank("nutpie", 16)
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 500))
    near = np.column_stack([a, a + 0.1 * b, b, np.ones(500)])  # a constant column is ignored
    assert strongest_correlation(near) == pytest.approx(np.corrcoef(a, a + 0.1 * b)[0, 1])
    assert auto.low_rank("nutpie", 4, strongest_correlation(near))  # |r| 0.995
    assert not auto.low_rank("nutpie", 4, strongest_correlation(near[:, 1:]))  # |r| ~0.1
    assert strongest_correlation(near[:, :1]) == 0.0
    assert auto.low_rank("nutpie", 4, structured=True)  # the PD hazard: walk beside intercept
    assert not auto.low_rank("numpyro", 113) and not auto.low_rank("pymc", 113)  # nutpie's own
    assert SamplerConfig(mass_matrix="low_rank").low_rank("nutpie", 3)
    assert not SamplerConfig(mass_matrix="diag").low_rank("nutpie", 500)
    with pytest.raises(ConfigError, match="mass_matrix must be auto, diag or low_rank"):
        SamplerConfig(mass_matrix="dense")


@pytest.mark.slow
def test_monthly_hazard_recovers_its_effect_and_12_month_pds_from_censored_rows(tmp_path):
    """Customers followed for 1-12 months (most censored early, as on a short ledger), default
    drawn month by month from a hazard that rises with the months since the snapshot: the model
    recovers the predictor's effect, the rising baseline and the 12-month PDs, and its interval
    of the portfolio's mean PD holds the true one."""
    rng = np.random.default_rng(21)
    n = 2500
    x = rng.normal(size=n)
    window = rng.choice(np.arange(1, 13), n, p=np.r_[np.full(6, 0.12), np.full(6, 0.28 / 6)])
    base = -5.2 + 0.12 * np.arange(12)  # hazard rises as a clean customer has time to fall behind
    h = 1 / (1 + np.exp(-(base[None, :] + 0.9 * x[:, None])))  # (customers, months)
    hit = rng.random((n, 12)) < h
    first = np.where(hit.any(axis=1), hit.argmax(axis=1) + 1, 99)
    frame = pd.DataFrame({"x": x, "industry": rng.choice(["a", "b"], n)})
    frame["follow_up_month"] = np.minimum(first, window)
    frame["default_in_month"] = (first <= window).astype(int)
    sampler = SamplerConfig(sampler="nutpie", draws=300, tune=300, chains=2, seed=4)
    model = PDModel(["x"], ModelConfig(prior_group_sigma=0.3), sampler, period_months=1)
    model.fit(frame, "default_in_month")
    beta = model.idata.posterior["beta"].to_numpy().ravel() / model.standardizer.scales["x"]
    assert np.quantile(beta, 0.02) < 0.9 < np.quantile(beta, 0.98)
    baseline = model.idata.posterior["baseline"].mean(("chain", "draw")).to_numpy()
    assert baseline[9:].mean() - baseline[:3].mean() > 0.4  # the rise is learnt (true: 1.08)
    true_12 = 1 - np.prod(1 - h, axis=1)
    pd12 = model.predict(frame, months=12)
    assert abs(pd12["pd_mean"].mean() / true_12.mean() - 1) < 0.2
    assert np.corrcoef(pd12["pd_mean"], true_12)[0, 1] > 0.95
    # the portfolio's mean 12-month PD: its 95 % interval holds the truth (one data set, one
    # check: customers' intervals miss or hold together, as they share the parameters)
    portfolio = model.predict_draws(frame, months=12).mean(axis=1)
    assert np.quantile(portfolio, 0.025) < true_12.mean() < np.quantile(portfolio, 0.975)
    shorter = model.predict(frame, months=3)["pd_mean"]
    assert (shorter < pd12["pd_mean"]).all()  # a PD over 3 months is below the 12-month one
    again = PDModel.load(model.save(tmp_path / "h.nc"))
    np.testing.assert_allclose(
        again.predict_draws(frame.head(5)), model.predict_draws(frame.head(5))
    )


def test_twin_predictors_and_indicators_are_left_out():
    """Columns missing on the same rows share one indicator; a column that moves with an earlier
    one (the 6- and 12-month max DPD of a ledger of months) is left out: only their sum could be
    learnt."""
    frame = pd.DataFrame(
        {
            "a": [1.0, None, 3.0, None, 2.0],
            "b": [2.0, None, 1.0, None, 4.0],
            "c": [None, 1.0, 2.0, 3.0, 5.0],
            "c_twin": [None, 2.0, 4.0, 6.0, 10.0],
        }
    )
    st = Standardizer.fit(frame, ["a", "b", "c", "c_twin"])
    assert st.names == ["a", "b", "c", "a_missing", "c_missing"]
    assert st.transform(frame)[:, 3].tolist() == [0.0, 1.0, 0.0, 1.0, 0.0]


@pytest.mark.slow
def test_with_few_defaults_a_stated_base_rate_carries_the_pd_and_power_scaling_shows_it():
    """300 customers, 5 defaults (1.7 %): a tight prior at 30 % holds the PDs well above the data's
    rate, and reweighting the posterior to a wider prior moves them back towards the data (a
    narrower one further away), as refitting would."""
    rng = np.random.default_rng(8)
    frame = pd.DataFrame({"x1": rng.normal(size=300), "industry": rng.choice(["a", "b"], 300)})
    frame["y"] = (rng.random(300) < 1 / (1 + np.exp(-(-3.9 + 0.5 * frame["x1"])))).astype(int)
    sampler = SamplerConfig(sampler="nutpie", draws=500, tune=500, chains=2, seed=6)
    config = ModelConfig(prior_intercept_sigma=0.3, prior_group_sigma=0.2)
    priors = Priors(base_rate=0.3, source="a test's own statement")
    model = PDModel(["x1"], config, sampler, priors=priors).fit(frame, "y").add_prior_draws(1)
    draws = model.predict_draws(frame)
    assert draws.mean() > 2 * frame["y"].mean()
    share = model.prior_share(frame)
    assert ((share > 0) & (share <= 1)).all()
    sens = prior_sensitivity(model.log_prior(), draws).set_index("prior")["mean_pd"]
    wider, narrower = "wider prior (alpha = 0.5)", "narrower prior (alpha = 2)"
    assert sens[wider] < sens["as fitted"] < sens[narrower]


def test_stated_priors_move_the_prior_centres_by_their_log_odds():
    priors = Priors(
        base_rate=0.02,
        group_rates={"construction": 0.04},
        coefficients={"score": {"per_unit": -0.01, "sd": 0.004}},
        source="a test's own statement",
    )
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    assert priors.intercept_centre(-3.0) == pytest.approx(logit(0.02))
    assert Priors().intercept_centre(-3.0) == -3.0  # no base rate: the model's own centre
    shifts = priors.group_shifts(["construction", "retail"], lambda p: p, 0.02)
    assert shifts == pytest.approx([logit(0.04) - logit(0.02), 0.0])
    mean, sd = priors.beta_prior(["score", "other"], {"score": 60.0, "other": 2.0}, 1.0)
    assert mean == pytest.approx([-0.6, 0.0]) and sd == pytest.approx([0.24, 1.0])  # per sd
    assert "source: a test's own statement" in priors.describe() and Priors().describe() == ""
