"""The portfolio-loss stage end to end: its run-folder files and their contracts, agreement with the
decisions stage's ECL, the report sections, the customer review's paragraph, a bad policy file."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
import yaml

from creditlab.errors import ConfigError
from creditlab.report.headline import headline_rows
from creditlab.run.params import load_params
from creditlab.run.prepare import open_run
from creditlab.run.stages.portfolio_loss import PortfolioLossStage

CONTRACTS = {
    "loss_distribution.csv": ["measure", "level", "gross", "net", "lo", "hi", "net_lo", "net_hi"],
    "loss_contributions.csv": [
        "customer_id",
        "sector",
        "ead",
        "insured",
        "el",
        "es_contribution",
        "net_es_contribution",
    ],  # fmt: skip
    "loss_curve.csv": ["loss", "p_exceed_gross", "p_exceed_net"],
}


def test_the_loss_files_hold_their_contracts_and_agree_with_the_ecl(weekly_run):
    for name, columns in CONTRACTS.items():
        frame = pd.read_csv(weekly_run / name)
        assert list(frame.columns[: len(columns)]) == columns, name
    s = json.loads((weekly_run / "portfolio_loss.json").read_text())
    dist = pd.read_csv(weekly_run / "loss_distribution.csv")
    contrib = pd.read_csv(weekly_run / "loss_contributions.csv")
    ecl = json.loads((weekly_run / "decisions.json").read_text())["ecl_total"]
    # the same PD and LGD draws as the ECL (thinned): the expected loss is the ECL
    assert s["expected_loss"]["analytic"] == pytest.approx(ecl["mean"], rel=0.05)
    assert s["expected_loss"]["simulated"] == pytest.approx(
        s["expected_loss"]["analytic"], rel=0.03
    )
    var = dist.loc[dist["measure"] == "VaR"]
    es = dist.loc[dist["measure"] == "ES"]
    assert var["gross"].is_monotonic_increasing and es["gross"].is_monotonic_increasing
    assert (es["gross"].to_numpy() >= var["gross"].to_numpy()).all()
    assert (dist["net"] <= dist["gross"] + 1e-6).all()  # insurance never adds a loss
    assert ((dist["lo"] <= dist["gross"] * 1.001) & (dist["gross"] <= dist["hi"] * 1.001)).all()
    level = s["contribution_level"]
    es_level = dist.loc[(dist["measure"] == "ES") & (dist["level"] == level)].iloc[0]
    assert contrib["es_contribution"].sum() == pytest.approx(es_level["gross"], rel=1e-6)
    assert contrib["net_es_contribution"].sum() == pytest.approx(es_level["net"], rel=1e-6)
    assert (contrib["insured"] <= contrib["ead"] + 1e-9).all()
    assert s["insurance"]["terms"]["aggregate_first_loss"] == 5000
    assert s["correlation"]["prior"]["mean"] == 0.12 and "reason" in s["correlation"]
    assert len(s["correlation"]["systematic_draws"]) == s["posterior_draws"]
    manifest = json.loads((weekly_run / "manifest.json").read_text())
    assert manifest["portfolio_loss"]["reserve"]["level"] == 0.99
    line = dict(headline_rows(manifest))["Bad-year credit loss"]  # the e-mail's and index's line
    assert line.startswith("1 in 100 years: ") and f"{s['reserve']['net_var']:,.0f} after" in line


def test_the_reports_show_the_loss_distribution_and_the_customers_share(weekly_run, ci_ledger):
    html = (weekly_run / "weekly_portfolio.html").read_text()
    for section in ("How bad can a year get?", "Who drives the tail", "Credit insurance"):
        assert f">{section}<" in html, section
    s = json.loads((weekly_run / "portfolio_loss.json").read_text())
    assert "In a 1-in-100 year" in html and f"{s['reserve']['suggested']:,.0f}" in html
    assert f"{s['var']['gross'][1]:,.0f}" in html and f"{s['var']['net'][1]:,.0f}" in html
    assert "<Group>" not in html  # the hostile name in the contributors table stays escaped
    review = next(weekly_run.glob("customer_review_*.html")).read_text()
    assert ">Share of a bad year and insurance cover<" in review
    assert "In the worst 1 % of simulated years this customer loses us" in review


def test_without_decisions_the_stage_says_what_it_left_out(weekly_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(weekly_run, copy)
    (copy / "decision_table.parquet").unlink()
    run = open_run(copy)
    summary = PortfolioLossStage(run.params.portfolio_loss, run.params.insurance).compute(run)
    assert summary["left_out"] == [
        "the loss distribution: no PD model (and so no decisions) in this run"
    ]


def test_a_bad_policy_file_fails_when_the_params_load(tmp_path):
    params = yaml.safe_load(open("params/ci.yaml"))
    (tmp_path / "policy.csv").write_text("customer_id,insured_limit\nC000001,lots\n")
    params["insurance"]["policy"] = "policy.csv"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(params))
    with pytest.raises(ConfigError, match=r"policy.csv: row 2, column 'insured_limit'.*'lots'"):
        load_params(path)  # before any data is read (the CLI maps this to exit 2)
