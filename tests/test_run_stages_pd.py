"""The PD stage of a run: scores with intervals, the fit cache and score history in the store."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml
from IPython.display import Markdown

from creditlab.errors import ConfigError, ConvergenceError
from creditlab.features import (
    FEATURES,
    SIGNAL_FEATURES,
    TARGET,
    describe_feature,
    snapshot_features,
    training_data,
)
from creditlab.ledger.synth import SynthConfig, synthesize
from creditlab.models.pd import PDModel
from creditlab.models.pd_design import screen_columns
from creditlab.report.customer_section import pd_path
from creditlab.report.pd_section import pd_overview
from creditlab.report.validation_section import prior_influence
from creditlab.run.orchestrate import run_report
from creditlab.run.params import load_params
from creditlab.run.prepare import open_run, prepare_run
from creditlab.run.settings import parse_pd_settings
from creditlab.run.stages.pd import model_config, run_pd_stage, with_signals


def test_two_runs_share_a_cached_fit_and_build_score_history(weekly_run, ci_ledger, tmp_path):
    """The shared run's params and data again, twice, with a store: the first run fits again and
    gives the shared run's numbers exactly (another process, same seeds); the second reuses the
    fit and compares with the first."""
    params = yaml.safe_load(open("params/ci.yaml"))
    params["store"] = str(tmp_path / "store.duckdb")
    params["reports"] = {}  # the weekly report only: the PD sections are what this reads
    params["payment_model"] = None  # its fits go through the same cache (key: test_run_params)
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(params))
    first = run_report(path, data=ci_ledger[0], out=tmp_path / "runs")
    second = run_report(path, data=ci_ledger[0], out=tmp_path / "runs")
    assert first.manifest["pd_model"]["reused_cached_fit"] is False
    assert second.manifest["pd_model"]["reused_cached_fit"] is True
    s1 = pd.read_parquet(first.run_dir / "scores.parquet")
    s2 = pd.read_parquet(second.run_dir / "scores.parquet")
    assert {"customer_id", "pd_mean", "pd_lo", "pd_hi"} <= set(s1.columns)
    assert ((s1["pd_lo"] <= s1["pd_mean"]) & (s1["pd_mean"] <= s1["pd_hi"])).all()
    pd.testing.assert_series_equal(s1["pd_mean"], s2["pd_mean"])  # same data, same fit
    # reproducible: the same params and data give the same numbers as the shared run's
    pd.testing.assert_frame_equal(s1, pd.read_parquet(weekly_run / "scores.parquet"))
    for name in ("limits.csv", "ecl.csv", "provision_matrix.csv"):
        pd.testing.assert_frame_equal(
            pd.read_csv(first.run_dir / name), pd.read_csv(weekly_run / name), obj=name
        )
    assert "pd_change" in s2 and s2.loc[~s2["in_default"], "pd_change"].abs().max() < 1e-12
    with duckdb.connect(str(tmp_path / "store.duckdb"), read_only=True) as con:
        runs = con.execute("SELECT count(DISTINCT run_id) FROM score_history").fetchone()[0]
    assert runs == 2
    summary = json.loads((second.run_dir / "pd_validation.json").read_text())
    assert summary["psi"][0] == pytest.approx(0.0, abs=1e-9)
    html = (second.run_dir / "weekly_portfolio.html").read_text()
    assert "Biggest movers" in html and "model validation report" in html
    # not rendered by this run (reports: {}): no link to a file that is not there
    assert "which this run did not render" in html and 'href="model_validation.html"' not in html
    assert "<strong>PD movers</strong> since run" in html  # the first section says it too


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"colour": 1}, "unknown key"),
        ({"sampler": {"sampler": "gibbs"}}, "sampler must be"),
        ({"sampler": {"draw": 10}}, "unknown key"),
        ({"predictors": ["shoe_size"]}, "unknown feature"),
        ({"gate": {"max_rhat": 1.01, "min_ess": 3}}, "unknown key"),
        ({"hazard": "sometimes"}, "expected true, false or auto"),
        ({"shape": "wiggly"}, "expected auto or linear"),
        ({"refit": "yes"}, "refit: expected true or false"),
        ({"signals": "always"}, "signals: expected auto or off"),
        ({"default_materiality": {"amount": -5}}, "amount: expected a number >= 0"),
        ({"default_materiality": {"share": 1.5}}, "share: expected a share between 0 and 1"),
        ({"default_materiality": {"percent": 1}}, "default_materiality: unknown key"),
        ({"cure_months": 2.5}, "cure_months: a whole number of months, 0 to 24"),
        ({"cure_months": -1}, "cure_months: a whole number of months, 0 to 24"),
        ({"predictors": ["bank_change_90d"]}, "added by pd_model.signals: auto"),
        ({"priors": {"base_rate": 0.02}}, "say where the priors come from"),
        ({"priors": {"base_rate": 2, "source": "x"}}, "between 0 and 1"),
        (
            {"priors": {"coefficients": {"shoe": {"per_unit": 1, "sd": 1}}, "source": "x"}},
            "not among the predictors",
        ),
        (
            {"priors": {"coefficients": {"external_score": {"per_unit": 1}}, "source": "x"}},
            "per_unit: ..., sd: ...",
        ),
    ],
)
def test_pd_settings_are_checked_before_sampling(raw, message):
    with pytest.raises(ConfigError, match=message):
        parse_pd_settings(raw)
    assert not parse_pd_settings(None).enabled


def test_shape_auto_bins_the_ledger_features_and_screens_pairs(ledger):
    data = training_data(ledger.customers, ledger.invoices, ledger.events, dt.date(2026, 11, 20))
    linear = parse_pd_settings({})
    assert model_config(linear, data) == linear.model  # as the params list it
    # a pair the main effects cannot hold: defaults where two features are both high
    train = data.train.copy()
    a, b = train["share_late_12m"], train["utilisation"]
    both = (a > a.median()) & (b > b.median())
    train["default_12m"] = both.astype(int)
    chosen = ["share_late_12m", "utilisation", "max_dpd_12m", "external_score"]
    auto = parse_pd_settings({"shape": "auto", "predictors": chosen})
    config = model_config(auto, dataclasses.replace(data, train=train))
    assert set(config.binned) == set(chosen)
    assert ("share_late_12m", "utilisation") in config.interactions
    assert (
        config.group == linear.model.group
        and config.prior_bin_sigma == linear.model.prior_bin_sigma
    )
    # a monotone shape asked for a predictor the defaults are too few to bin: a straight line
    shaped = parse_pd_settings(
        {
            "shape": "auto",
            "predictors": chosen,
            "model": {"monotone": {"max_dpd_12m": "increasing"}},
        }
    )
    few = train.assign(default_12m=0)
    few.loc[few.index[0], "default_12m"] = 1
    config = model_config(shaped, dataclasses.replace(data, train=few))
    assert config.binned == () and config.monotone == ()
    PDModel(chosen, config)  # builds: nothing left that is not binned
    config = model_config(shaped, dataclasses.replace(data, train=train))
    assert config.monotone == (("max_dpd_12m", "increasing"),)  # kept where it is binned


@pytest.mark.slow
def test_relationship_signals_join_the_pd_where_they_add_to_the_ledger_features(weekly_run):
    """Planted before defaults: bank-account changes, bureau-score falls and adverse media. On
    1,500 customers the screen keeps all three beside the ledger's features, and each training
    row reads them as known at its snapshot; the weekly run's summary names what it screened."""
    p = synthesize(SynthConfig(customers=1500, seed=3, years=4.0))
    ledger = (p.customers, p.invoices, p.events)
    data = with_signals(training_data(*ledger, p.config.end), *ledger)
    assert len(data.train) == len(data.train.drop_duplicates(["customer_id", "snapshot"]))
    assert (
        set(SIGNAL_FEATURES)
        <= set(data.train.columns)
        <= set(data.validation.columns) | {"default_12m"}
    )
    kept = screen_columns(data.train, TARGET, FEATURES, SIGNAL_FEATURES, ["industry"])
    assert {"bank_change_90d", "bureau_score_change", "adverse_media_90d"} == {
        k["column"] for k in kept
    }
    defaulted = data.train.loc[data.train[TARGET] == 1, "bank_change_90d"].mean()
    assert defaulted > 5 * data.train.loc[data.train[TARGET] == 0, "bank_change_90d"].mean()
    summary = json.loads((weekly_run / "pd_validation.json").read_text())
    assert summary["signals"]["candidates"] == list(SIGNAL_FEATURES)
    for k in summary["signals"]["kept"]:  # the CI portfolio's 150 customers may support none
        assert k["column"] in summary["predictors"] and k["p_value"] < 0.01


@pytest.mark.slow
def test_a_fatal_convergence_failure_fails_the_run_before_any_report(tmp_path):
    params = yaml.safe_load(open("params/ci.yaml"))
    params["pd_model"]["gate"] = {"min_ess_bulk": 1e9, "fatal": True}
    params["pd_model"]["extend_rounds"] = 0  # no second fit: it fails whatever the draws
    params["pd_model"]["sampler"].update(draws=100, tune=100)  # it fails whatever the draws
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(params))
    with pytest.raises(ConvergenceError, match="min bulk ESS") as info:
        run_report(path, out=tmp_path / "runs")
    run_dir = info.value.run_dir
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "failed" and manifest["failed_step"] == "model"
    assert not (run_dir / "weekly_portfolio.html").exists()
    assert not (run_dir / "weekly_portfolio.ipynb").exists()


@pytest.mark.slow
def test_a_ledger_of_months_gets_a_pd_for_every_customer(portfolio_dir, tmp_path):
    """Nine months of ledger (the 12-month design needs 2.5 years): the stage models a monthly
    hazard, validates it on the months held out, and every customer gets a PD with an interval;
    the report says how it was built and validated."""
    params = load_params("params/ci.yaml", data=portfolio_dir, as_of="2024-07-31")
    run = prepare_run(params, tmp_path / "run")
    summary = run_pd_stage(run)
    assert summary["design"] == "monthly hazard" and summary["period_months"] == 1
    # six months with outcomes after 90 days of history (the ledger starts 2023-11-01): the last
    # third, two months, is held out
    assert summary["validation_months"] == 2 and summary["train_defaults"] >= 1
    assert summary["validation_snapshot"] == "2024-05-31"
    # once validated, the scores' model is refitted with the held-out months included
    refit = summary["refit"]
    assert refit["train_rows"] > summary["train_rows"]
    assert refit["train_defaults"] >= summary["train_defaults"]
    assert refit["snapshots"][1] > summary["validation_snapshot"]
    assert (run.run_dir / "pd_model_validated.nc").is_file()
    assert PDModel.load(run.run_dir / "pd_model.nc").n_rows == refit["train_rows"]
    scores = pd.read_parquet(run.run_dir / "scores.parquet")
    alive = scores.loc[~scores["in_default"]]
    led = run.ledger
    current = snapshot_features(led.customers, led.invoices, led.events, run.as_of)
    assert len(alive) == (~current["in_default"]).sum() > 0
    assert alive[["pd_mean", "pd_lo", "pd_hi"]].notna().all().all()
    assert ((alive["pd_lo"] < alive["pd_mean"]) & (alive["pd_mean"] < alive["pd_hi"])).all()
    assert not (run.run_dir / "pd_validation_scores.parquet").exists()  # no 12-month outcomes
    text = pd_overview(run)[0].data  # the description comes first (no gate warning here)
    assert "monthly default hazard" in text and "too short to hold out a whole year" in text
    assert "fitted again" in text and "held-out months included" in text
    # how much each PD owes to the priors, and who has a thin file
    assert alive["evidence"].between(0, 1).all() and alive["thin_file"].any()
    thin = alive.set_index("customer_id")["thin_file"]
    invoices = np.expm1(current.set_index("customer_id")["log_invoices_12m"]).round()
    tenure = current.set_index("customer_id")["tenure_years"]
    assert (thin == ((invoices < 3) | (tenure < 0.5)).loc[thin.index]).all()
    # who was scored past a predictor's training range (at its edge), counted per predictor
    beyond = PDModel.load(run.run_dir / "pd_model.nc").standardizer.beyond(current)
    beyond = beyond[~current["in_default"].to_numpy()]
    assert summary["beyond_training"]["customers"] == (beyond != "").sum()
    named = beyond.str.split(", ").explode()
    assert summary["beyond_training"]["predictors"] == named[named != ""].value_counts().to_dict()
    sens = pd.read_csv(run.run_dir / "pd_prior_sensitivity.csv")
    assert list(sens["prior"]) == [
        "as fitted",
        "wider prior (alpha = 0.5)",
        "narrower prior (alpha = 2)",
    ]
    assert sens["mean_pd"].between(0, 1).all()
    words = " ".join(m.data for m in prior_influence(run) if isinstance(m, Markdown))
    assert "prior share" in words and "thin file" in words


@pytest.mark.slow
def test_the_review_names_a_predictor_scored_at_its_training_ranges_edge(weekly_run):
    """A customer past a straight-line predictor's training range is told so in its review, with
    its value and the range; one inside every range is not."""
    features = pd.read_parquet(weekly_run / "score_features.parquet")
    standardizer = PDModel.load(weekly_run / "pd_model.nc").standardizer
    beyond = standardizer.beyond(features)
    alive = ~features["in_default"]
    summary = json.loads((weekly_run / "pd_validation.json").read_text())
    assert summary["beyond_training"]["customers"] == (alive & (beyond != "")).sum() > 0
    run = open_run(weekly_run)
    first = (alive & (beyond != "")).idxmax()
    name = beyond[first].split(", ")[0]
    text = pd_path(run, features.loc[first, "customer_id"])[0].data
    assert "Past the training rows' range" in text and describe_feature(name) in text
    assert f"to {standardizer.ranges[name][1]:.3g})" in text
    inside = features.loc[alive & (beyond == ""), "customer_id"].iloc[0]
    assert "Past the training" not in pd_path(run, inside)[0].data
