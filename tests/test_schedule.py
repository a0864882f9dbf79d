"""Scheduled runs: cron and systemd units that lock, log and catch up; atomic, reproducible,
non-colliding run folders; the list of past runs; notebooks under jupyter-scheduler's executor."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml
from helpers import ROOT, creditlab

from creditlab.report.tables import fmt_money
from creditlab.schedule import ScheduleSpec, cron_line, install, list_runs, systemd_units


def _spec(tmp_path) -> ScheduleSpec:
    return ScheduleSpec(ROOT / "params" / "ci.yaml", tmp_path / "runs", "mon", "06:30")


def test_cron_line_locks_logs_and_keeps_secrets_out(tmp_path):
    line = cron_line(_spec(tmp_path))
    assert line.startswith("30 6 * * 1 ")
    assert f"flock -n {tmp_path / 'runs' / '.creditlab-weekly.lock'}" in line
    assert "run weekly --params" in line and "--email" in line
    assert f">> {tmp_path / 'runs' / 'creditlab-weekly.log'} 2>&1" in line
    assert '. "$HOME/.config/creditlab/smtp.env"' in line and "PASSWORD" not in line


def test_systemd_timer_catches_up_missed_runs(tmp_path):
    units = systemd_units(_spec(tmp_path))
    timer, service = units["creditlab-weekly.timer"], units["creditlab-weekly.service"]
    assert "OnCalendar=Mon *-*-* 06:30:00" in timer and "Persistent=true" in timer
    assert "EnvironmentFile=-%h/.config/creditlab/smtp.env" in service
    assert "ExecStart=flock -n" in service and "StandardOutput=append:" in service
    done = install(_spec(tmp_path), "systemd", home=tmp_path / "home")
    folder = tmp_path / "home" / ".config" / "systemd" / "user"
    assert (folder / "creditlab-weekly.timer").read_text() == timer
    assert any("wrote" in d for d in done)


def test_the_lock_keeps_a_second_run_from_starting(tmp_path):
    spec = _spec(tmp_path)
    spec.out.mkdir(parents=True)
    holder = subprocess.Popen(["flock", str(spec.lock), "sleep", "20"])
    try:
        for _ in range(50):  # wait until the holder has the lock
            if subprocess.run(["flock", "-n", str(spec.lock), "true"]).returncode != 0:
                break
        second = subprocess.run(spec.command(), capture_output=True, text=True, timeout=60)
        assert second.returncode != 0  # flock -n gave up at once: no overlapping run
        assert not [p for p in spec.out.iterdir() if p.is_dir()]  # no run folder was started
    finally:
        holder.kill()


@pytest.mark.slow
def test_schedule_command_prints_both_forms(tmp_path):
    cron = creditlab("schedule", "--params", "params/ci.yaml", "--out", str(tmp_path))
    assert (
        cron.returncode == 0 and "flock -n" in cron.stdout and cron.stdout.startswith("0 6 * * 1")
    )
    timer = creditlab(
        "schedule", "--params", "params/ci.yaml", "--systemd", "--day", "fri", "--time", "07:15"
    )
    assert "OnCalendar=Fri *-*-* 07:15:00" in timer.stdout
    bad = creditlab("schedule", "--params", "params/ci.yaml", "--time", "25:00")
    assert bad.returncode == 2 and "HH:MM" in bad.stderr


@pytest.mark.slow
def test_runs_are_atomic_reproducible_and_do_not_collide(tmp_path):
    """Three runs started at the same moment into one folder, two of them of the same params (light
    ones: no models; the PD stage's reproducibility is tests/test_run_stages_pd.py's): none
    collides with another, nothing is left half-built, the same params give the same numbers."""
    out = tmp_path / "runs"
    params = yaml.safe_load((ROOT / "params" / "ci.yaml").read_text())
    params.update(pd_model=None, payment_model=None, reports={})
    same = tmp_path / "ci.yaml"
    same.write_text(yaml.safe_dump(params))
    params["portfolio"] = "ci-b"
    params["synthetic"]["seed"] = 12
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump(params))
    args = ["run", "weekly", "--out", str(out)]
    procs = [
        subprocess.Popen([sys.executable, "-m", "creditlab.cli", "-q", *args, "--params", str(p)],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for p in (same, other, same)
    ]  # fmt: skip
    results = [p.communicate(timeout=900) for p in procs]
    assert all(p.returncode == 0 for p in procs), [r[1][-2000:] for r in results]
    dirs = [Path(r[0].strip().splitlines()[-1]) for r in results]
    assert len(set(dirs)) == 3 and all(d.parent == out for d in dirs)
    assert not list((out / ".work").iterdir())  # nothing left half-built
    assert (out / "latest").resolve() in {d.resolve() for d in dirs}
    first, _, again = dirs
    for name in ("kpi_aging.parquet", "kpi_exposure.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(first / name), pd.read_parquet(again / name))
    for name in ("provision_matrix.csv", "worklist.csv", "alerts.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(first / name), pd.read_csv(again / name))
    runs = list_runs(out)
    assert len(runs) == 3 and set(runs["status"]) == {"succeeded"}
    assert set(runs["portfolio"]) == {"ci", "ci-b"} and (runs["delivery"] == "not sent").all()
    listed = creditlab("runs", "--out", str(out))
    assert listed.returncode == 0 and all(d.name in listed.stdout for d in dirs)


def test_weekly_notebook_runs_under_jupyter_schedulers_executor(weekly_run, tmp_path):
    """jupyter-scheduler's DefaultExecutionManager: a cell of ``name = value`` lines (values as
    typed in its form) after the parameters cell, then nbconvert's ExecutePreprocessor. Here the
    form names a finished run (the nbval test covers preparing one from a params file)."""
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import ExecutePreprocessor

    nb = nbformat.read(ROOT / "notebooks" / "reports" / "weekly_portfolio.ipynb", as_version=4)
    typed = {"run_dir": f'"{weekly_run}"', "out_dir": f'"{tmp_path / "runs"}"'}
    cell = nbformat.v4.new_code_cell("\n".join(f"{k} = {v}" for k, v in typed.items()))
    cell.metadata["tags"] = ["injected-parameters"]
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    nb.cells.insert(at + 1, cell)
    executor = ExecutePreprocessor(
        kernel_name=nb.metadata.kernelspec["name"], store_widget_state=True, timeout=900
    )
    executor.preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    errors = [
        o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"
    ]
    assert errors == []
    html, _ = HTMLExporter().from_notebook_node(nb)
    assert "Portfolio overview" in html and "Collections worklist" in html
    kpis = json.loads((weekly_run / "kpis.json").read_text())
    assert f">{fmt_money(kpis['open_ar'])}<" in html  # the run's own figures
    assert not (tmp_path / "runs").exists()  # it read the run; it prepared nothing
