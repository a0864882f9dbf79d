"""Bring-your-own-table PD: fit and score from Python and the CLI; bad tables get clear errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from creditlab.cli import main
from creditlab.errors import ConfigError, SchemaError
from creditlab.models.diagnostics import GateConfig
from creditlab.models.pd import PDModel, SamplerConfig
from creditlab.models.pd_checks import points_table
from creditlab.models.table import fit_table, read_table, score_table, table_draws, target_values

FAST = SamplerConfig(draws=300, tune=300, seed=2)
LENIENT = GateConfig(max_rhat=1.05, min_ess_bulk=100, min_ess_tail=100, fatal=False)


@pytest.fixture(scope="module")
def applications():
    rng = np.random.default_rng(4)
    n = 1500
    frame = pd.DataFrame(
        {
            "income": rng.lognormal(10, 0.4, n),
            "age": rng.integers(20, 70, n).astype(float),
            "region": rng.choice(["north", "south", "east", "west"], n),
            "owner": rng.choice(["yes", "no"], n),
        }
    )
    eta = (
        -1.0
        - 1.2 * (np.log(frame["income"]) - 10) / 0.4
        + frame["region"].map({"north": -0.5, "south": 0.5, "east": 0.0, "west": 0.0})
        - 0.7 * (frame["owner"] == "yes")
    )
    frame["status"] = np.where(rng.random(n) < 1 / (1 + np.exp(-eta)), "bad", "good")
    frame.loc[::17, "age"] = np.nan
    return frame


@pytest.mark.slow
def test_fit_and_score_a_table(applications):
    model, gate = fit_table(applications, "status", sampler=FAST, gate=LENIENT, shape="linear")
    assert "owner = yes" in model.predictors and model.model_config.factors == ("region",)
    assert "age_missing" in model.standardizer.names
    scored = score_table(model, applications.drop(columns="status").head(200))
    assert list(scored.columns[-3:]) == ["pd_mean", "pd_lo", "pd_hi"]
    pd.testing.assert_frame_equal(scored.iloc[:, :4], applications.drop(columns="status").head(200))
    y = (applications["status"] == "bad").head(200)
    assert roc_auc_score(y, scored["pd_mean"]) > 0.7
    with pytest.raises(SchemaError, match=r"\['income'\] used by the model are missing"):
        score_table(model, applications.drop(columns="income"))
    with pytest.raises(ConfigError, match="shape must be one of"):
        fit_table(applications, "status", shape="wiggly")


def test_target_mapping_and_bad_tables(tmp_path):
    assert target_values(pd.Series(["good", "bad", "Bad "]), None, "t").tolist() == [0, 1, 1]
    assert target_values(pd.Series(["a", "b"]), "b", "t").tolist() == [0, 1]
    with pytest.raises(SchemaError, match="two values"):
        target_values(pd.Series(["x", "y", "z"]), None, "t")
    with pytest.raises(SchemaError, match="--positive"):
        target_values(pd.Series(["a", "b"]), None, "t")
    with pytest.raises(SchemaError, match="empty values"):
        target_values(pd.Series(["bad", None]), None, "t")
    with pytest.raises(SchemaError, match="file not found"):
        read_table(tmp_path / "nope.csv")
    (tmp_path / "empty.csv").write_text("a,b\n")
    with pytest.raises(SchemaError, match="no rows"):
        read_table(tmp_path / "empty.csv")
    with pytest.raises(SchemaError, match=r"\['default'\] not found"):
        fit_table(pd.DataFrame({"x": [1.0, 2.0]}), "default")


@pytest.mark.slow
@pytest.mark.realdata
def test_cli_fits_and_scores_german_credit(german_credit_csv, tmp_path, capsys):
    table = german_credit_csv
    assert (
        main(
            [
                "-q",
                "pd",
                "fit",
                "--table",
                str(table),
                "--target",
                "creditability",
                "--draws",
                "200",
                "--tune",
                "200",
                "--allow-unconverged",
                "--out",
                str(tmp_path / "m"),
            ]
        )
        == 0
    )
    assert (tmp_path / "m" / "pd_model.nc").is_file() and (
        tmp_path / "m" / "fit_summary.json"
    ).is_file()
    # shape auto: the columns with 10+ values are a scorecard's binned effects, with points
    points = pd.read_csv(tmp_path / "m" / "points.csv")
    binned = set(points.loc[points["bin"] != "per +1 sd", "predictor"])
    assert {"duration_in_month", "credit_amount", "age_in_years"} <= binned
    assert (points["points_lo"] <= points["points"]).all()
    assert (points["points"] <= points["points_hi"]).all()
    out = tmp_path / "scored.parquet"
    assert (
        main(
            [
                "-q",
                "pd",
                "score",
                "--model",
                str(tmp_path / "m"),
                "--table",
                str(table),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    scored = pd.read_parquet(out)
    source = pd.read_csv(table)
    assert len(scored) == len(source) and list(scored.columns[:-3]) == list(source.columns)
    assert roc_auc_score(source["creditability"] == "bad", scored["pd_mean"]) > 0.75
    assert (
        main(
            [
                "-q",
                "pd",
                "fit",
                "--table",
                str(table),
                "--target",
                "nope",
                "--out",
                str(tmp_path / "x"),
            ]
        )
        == 3
    )
    assert "['nope'] not found" in capsys.readouterr().err
    # its loss distribution: loans as customers, credit amounts as exposures, sectors by purpose
    params = tmp_path / "loss.yaml"
    params.write_text("portfolio_loss: {scenarios: 20000, posterior_draws: 40}\n"
                      "insurance: {discretionary_limit: 5000, indemnity: 0.9}\n")  # fmt: skip
    args = ["-q", "pd", "loss", "--model", str(tmp_path / "m"), "--table", str(table),
            "--exposure", "credit_amount", "--sector", "purpose", "--params", str(params)]  # fmt: skip
    assert main([*args, "--out", str(tmp_path / "loss")]) == 0
    summary = json.loads((tmp_path / "loss" / "portfolio_loss.json").read_text())
    expected = (scored["pd_mean"] * 0.45 * source["credit_amount"]).sum()
    assert summary["expected_loss"]["analytic"] == pytest.approx(expected, rel=0.05)
    contrib = pd.read_csv(tmp_path / "loss" / "loss_contributions.csv")
    assert contrib["es_contribution"].sum() == pytest.approx(summary["es"]["gross"][1], rel=1e-6)
    assert (contrib["insured"] == contrib["ead"].clip(upper=5000)).all()
    assert summary["es"]["net"][1] < summary["es"]["gross"][1]
    bad = tmp_path / "bad.csv"
    source.assign(
        credit_amount=source["credit_amount"].astype(str).where(source.index != 4, "n/a")
    ).to_csv(bad, index=False)
    capsys.readouterr()
    assert main([*args[:6], str(bad), *args[7:], "--out", str(tmp_path / "x")]) == 3
    assert "row 6, column 'credit_amount'" in capsys.readouterr().err


def test_an_arff_table_reads_with_its_attribute_names_and_missing_values(tmp_path):
    """UCI publishes tables as Weka ARFF: quoted attribute names, '?' for missing, comments."""
    path = tmp_path / "firms.arff"
    path.write_text(
        "% a comment\n@relation firms\n@attribute 'net profit / total assets' numeric\n"
        "@attribute Attr2 numeric\n@attribute Attr2 numeric\n@attribute class {0,1}\n"
        "@data\n0.2,1.5,?,0\n% another comment\n-0.1,?,3,1\n"
    )
    frame = read_table(path)
    assert list(frame.columns) == ["net profit / total assets", "Attr2", "Attr2 (2)", "class"]
    assert frame.shape == (2, 4) and frame.isna().sum().sum() == 2
    assert frame["net profit / total assets"].tolist() == [0.2, -0.1]
    (tmp_path / "bad.arff").write_text("@relation x\n@attribute a numeric\n")
    with pytest.raises(SchemaError, match="bad.arff: not a readable.*no @data"):
        read_table(tmp_path / "bad.arff")


@pytest.mark.slow
def test_a_table_of_binned_columns_only_is_a_scorecard(tmp_path):
    """Every column binned (no straight lines left): it fits, scores and has points per bin,
    missing values in a bin of their own; a ratio's name with '/' (Polish bankruptcy's columns)
    is no valid PyMC or NetCDF name, yet fits and saves."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=800), "debt / assets": rng.exponential(size=800)})
    frame.loc[::9, "debt / assets"] = np.nan
    frame["y"] = (rng.random(800) < 1 / (1 + np.exp(-(-2 + frame["a"])))).astype(int)
    model, _ = fit_table(frame, "y", sampler=FAST, gate=LENIENT)
    assert model.standardizer.names == [] and set(model.bins) == {"a", "debt / assets"}
    scored = score_table(model, frame.drop(columns="y"))
    assert roc_auc_score(frame["y"], scored["pd_mean"]) > 0.7
    points = points_table(model)
    assert "missing" in set(points.loc[points["predictor"] == "debt / assets", "bin"])
    a = points.loc[points["predictor"] == "a", "points"].to_numpy()
    assert a[0] > a[-1]  # risk rises with a: fewer points at the top
    again = PDModel.load(model.save(tmp_path / "ratios.nc"))
    np.testing.assert_allclose(table_draws(again, frame.head(9)), table_draws(model, frame.head(9)))
