"""The JupyterLab workbench's widgets driven headlessly (their numbers, levers and searches); the
notebooks in a real browser are tests/test_workbench_browser.py's."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from creditlab import widgets

pytestmark = pytest.mark.slow
DEFAULTS = {"max_grade": "", "pd_multiplier": 1.0, "industry": "", "industry_multiplier": 1.0,
            "terms_shift_days": 0, "max_probability": 0.01, "loss_threshold": 25_000.0, "discount": 0.02}  # fmt: skip


@pytest.fixture(scope="module")
def bench(weekly_run):
    box = widgets.whatif(weekly_run)
    yield box


def _set(box, **values) -> dict:
    for name, value in values.items():
        box.controls[name].value = value
    return dict(box.result["summary"])


@pytest.fixture()
def base(bench) -> dict:
    """The run's own numbers; every test leaves the levers as it found them."""
    summary = _set(bench, **DEFAULTS)
    yield summary
    _set(bench, **DEFAULTS)


def _label(box, customer_id: str) -> str:
    return next(o for o in box.controls["customer"].options if o.split(" — ")[0] == customer_id)


def test_default_levers_reproduce_the_run(bench, base, weekly_run):
    table = pd.read_parquet(weekly_run / "decision_table.parquet")
    assert bench.result["affected"].empty and base["refused_by_cutoff"] == 0
    # no change means no change: the run's limits and grades, exactly
    assert base["recommended_limits"] == pytest.approx(table["recommended_limit"].sum(), rel=1e-12)
    assert (bench.result["grades"] == table["grade"].to_numpy()).all()
    migration = bench.result["migration"]
    assert migration.to_numpy().trace() == len(table)  # a diagonal grade migration
    shown = bench.result["table"]  # what the widget shows is the result
    assert (shown["Run"] == shown["What-if"]).all()


def test_a_rounded_lever_is_the_runs_value_and_reset_brings_the_run_back(bench, base):
    run_lgd = bench.controls["lgd_mean"].value
    assert _set(bench, lgd_mean=round(run_lgd, 2)) == base  # what a browser slider sends back
    moved = _set(bench, lgd_mean=min(run_lgd + 0.15, 0.95), pd_multiplier=2.0, max_grade="4")
    assert moved["ecl_mean"] > base["ecl_mean"]
    bench.children[len(bench.controls)].click()  # "Reset to the run"
    assert dict(bench.result["summary"]) == base
    assert bench.controls["lgd_mean"].value == run_lgd and bench.controls["max_grade"].value == ""


def test_stress_raises_ecl_and_provisions_and_cuts_limits(bench, base):
    stressed = _set(bench, pd_multiplier=2.5)
    assert stressed["ecl_mean"] > base["ecl_mean"] and stressed["ecl_lo"] > base["ecl_lo"]
    assert stressed["recommended_limits"] < base["recommended_limits"]
    assert stressed["allowance_mean"] > base["allowance_mean"]
    assert len(bench.result["affected"]) > 0
    assert bench.result["migration"].to_numpy().sum() == len(bench.result["grades"])
    assert _set(bench, pd_multiplier=1.0) == base  # back to the run's numbers


def test_grade_cutoff_and_a_tighter_appetite_reduce_credit(bench, base):
    cut = _set(bench, max_grade="3")
    assert (
        cut["refused_by_cutoff"] > 0
        and cut["customers_with_credit"] < base["customers_with_credit"]
    )
    affected = bench.result["affected"]
    assert (affected["whatif_limit"] <= affected["recommended_limit"]).all()
    _set(bench, max_grade="")
    tight = _set(bench, max_probability=0.001, loss_threshold=5_000.0)
    assert tight["recommended_limits"] < base["recommended_limits"]


def test_industry_stress_touches_that_industry_only(bench, base, weekly_run):
    industry = bench.controls["industry"].options[1][1]
    _set(bench, industry=industry, industry_multiplier=4.0)
    table = pd.read_parquet(weekly_run / "decision_table.parquet")
    moved = table.loc[
        table["customer_id"].isin(bench.result["affected"]["customer_id"]), "industry"
    ]
    assert len(moved) and set(moved) == {industry}


def test_a_cheaper_discount_pays_for_more_customers(bench, base):
    costly = _set(bench, discount=0.04)["discount_pays_for"]
    cheap = _set(bench, discount=0.005)["discount_pays_for"]
    assert cheap > costly


def test_order_approval_widget(weekly_run, tmp_path):
    table = pd.read_parquet(weekly_run / "decision_table.parquet")
    defaulted = table.loc[table["grade"] == "D", "customer_id"].iloc[0]
    run_dir = (
        tmp_path / "run"
    )  # as a notebook prepares one: no manifest (only `creditlab run` writes it)
    shutil.copytree(weekly_run, run_dir)
    (run_dir / "manifest.json").unlink()
    box = widgets.order_approval(run_dir)
    assert "(EUR)" in box.controls["amount"].description
    box.controls["customer"].value = _label(box, defaulted)
    box.controls["amount"].value = 100.0
    box.children[2].click()  # the Check button
    assert box.result["decision"].decision == "decline" and "DECLINE" in box.status.value


def test_insurance_whatif_widget_changes_only_what_the_cover_changes(weekly_run):
    contrib = pd.read_csv(weekly_run / "loss_contributions.csv")
    row = contrib.loc[contrib["uninsured"] > 0].nlargest(1, "net_es_contribution").iloc[0]
    box = widgets.insurance_whatif(weekly_run)
    box.controls["customer"].value = _label(box, row["customer_id"])
    box.controls["limit"].value = float(row["insured_limit"])  # the cover it has: nothing changes
    box.children[2].click()  # the Recompute button
    same = box.result
    assert same["whatif"].distribution.equals(same["run"].distribution)
    run_file = pd.read_csv(weekly_run / "loss_distribution.csv")  # the run's figures, recomputed
    assert same["run"].distribution["net"].to_numpy() == pytest.approx(run_file["net"].to_numpy())
    box.controls["customer"].value = "nobody"
    box.children[2].click()
    assert "No customer matches “nobody”" in box.status.value and box.result is same
    box.controls["customer"].value = row["customer_id"]  # a typed id works too
    box.controls["limit"].value = float(row["ead"])  # insure all of it
    box.children[2].click()
    now = box.result
    before = now["run"].contributions.set_index("customer_id").loc[row["customer_id"]]
    after = now["whatif"].contributions.set_index("customer_id").loc[row["customer_id"]]
    assert after["insured"] == pytest.approx(row["ead"]) and after["uninsured"] == 0
    assert after["net_es_contribution"] < before["net_es_contribution"]
    assert (
        now["whatif"].summary["expected_loss"]["simulated_net"]
        < now["run"].summary["expected_loss"]["simulated_net"]
    )
    assert (now["whatif"].distribution["gross"] == now["run"].distribution["gross"]).all()
    assert row["customer_id"] in box.status.value
    shown = now["table"].set_index("After insurance")  # what the widget shows
    assert shown.loc["Expected loss", "Change"].startswith("-")


def test_customer_360_shows_a_customer_and_renders_its_review(weekly_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(weekly_run, run_dir)
    box = widgets.customer_360(run_dir)
    assert "Pick a customer" in box.status.value  # an empty box says what to do
    label = box.controls["customer"].options[5]
    cid = label.split(" — ")[0]
    box.controls["customer"].value = cid.lower()  # a typed id, any case, is enough
    assert box.result == {"customer_id": cid} and box.status.value == ""
    box.controls["customer"].value = "no such customer"
    assert "No customer matches" in box.status.value and box.result == {"customer_id": cid}
    box.controls["customer"].value = label
    box.children[1].click()  # Render review report
    review = run_dir / f"customer_review_{cid}.html"
    assert box.result["review"] == review and review.is_file() and "Written in" in box.status.value
    assert "\\_" not in box.status.value  # HTML, not Markdown escapes
    assert (
        f"customer_review_{cid}" in json.loads((run_dir / "manifest.json").read_text())["reports"]
    )
