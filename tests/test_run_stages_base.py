"""The stage protocol: every stage is checked against the data before any runs; each stage's
summary JSON, timing and manifest entry are written in one place."""

from __future__ import annotations

import dataclasses

import pytest

from creditlab import kpi
from creditlab.decisions.settings import LgdPrior
from creditlab.errors import ConfigError
from creditlab.run.folder import KPI_TABLES, KPIS_FILE, RunFolder
from creditlab.run.params import load_params
from creditlab.run.prepare import prepare_run
from creditlab.run.stages import run_stages, weekly_stages
from creditlab.run.stages.decisions import DecisionStage
from creditlab.run.stages.kpis import KpiStage


@pytest.fixture()
def prepared(portfolio_dir, tmp_path):
    params = load_params("params/ci.yaml", data=portfolio_dir)
    return prepare_run(params, tmp_path / "run")


def test_the_stage_sequence_is_written_once():
    stages = weekly_stages(load_params("params/ci.yaml"))
    assert [s.name for s in stages] == ["kpis", "model", "payments", "decide", "loss"]
    assert [s.section for s in stages] == [
        "kpis", "pd_model", "payment_model", "decisions", "portfolio_loss",
    ]  # fmt: skip


def test_a_stage_writes_its_summary_timing_and_manifest_entry(prepared):
    manifest, saves = {"timings_s": {}}, []
    run_stages(prepared, [KpiStage()], manifest, lambda: saves.append(dict(manifest)))
    led = prepared.ledger
    head = kpi.headline(
        led.customers, led.invoices, prepared.as_of, prepared.params.dso_period_days
    )
    folder = RunFolder(prepared.run_dir)
    assert folder.read_json(KPIS_FILE)["open_ar"] == pytest.approx(head["open_ar"])
    assert manifest["kpis"]["customers"] == head["customers"] and manifest["timings_s"]["kpis"] >= 0
    assert saves[0]["step"] == "kpis" and "kpis" in saves[-1]  # the step is saved before it runs
    for name in KPI_TABLES.values():
        assert folder.has(name), name
    aging = folder.read_parquet(KPI_TABLES["aging"])
    assert aging["open_ar"].sum() == pytest.approx(head["open_ar"])


def test_every_check_runs_before_any_stage(prepared):
    decisions = dataclasses.replace(
        prepared.params.decisions,
        lgd_by="industry",
        lgd={"default": LgdPrior(), "ships": LgdPrior()},
    )
    manifest = {"timings_s": {}}
    with pytest.raises(ConfigError, match=r"decisions.lgd: industries \['ships'\]"):
        run_stages(prepared, [KpiStage(), DecisionStage(decisions)], manifest, lambda: None)
    assert not RunFolder(prepared.run_dir).has(KPIS_FILE)  # the KPI stage, first, never ran
    assert manifest == {"timings_s": {}}
