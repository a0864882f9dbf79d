"""One run end to end, the pipeline's own failures: an as-of date outside the ledger, a run killed
mid-way (shown as interrupted, cleaned up by the next run)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from helpers import ROOT, creditlab

from creditlab.errors import ConfigError
from creditlab.run.folder import Outputs, RunLock
from creditlab.run.params import load_params
from creditlab.run.prepare import check_as_of, prepare_run
from creditlab.schedule import list_runs


@pytest.fixture()
def light_params(tmp_path) -> Path:
    """The CI portfolio without models or extra reports: a whole run in seconds."""
    params = yaml.safe_load((ROOT / "params" / "ci.yaml").read_text())
    params.update(pd_model=None, payment_model=None, reports={})
    path = tmp_path / "light.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def test_an_as_of_after_the_ledger_is_one_warning_line(portfolio_dir, tmp_path, caplog):
    params = load_params(ROOT / "params" / "ci.yaml", data=portfolio_dir, as_of="2027-06-30")
    with caplog.at_level(logging.WARNING, logger="creditlab.run.prepare"):
        run = prepare_run(params, tmp_path / "run")
    lines = [r.getMessage() for r in caplog.records if r.name == "creditlab.run.prepare"]
    last = check_as_of(dt.date(2027, 6, 30), run.ledger)
    assert lines == [last] and "days after the ledger's last date" in last
    assert check_as_of(dt.date(2026, 1, 31), run.ledger) is None  # inside the ledger: silent
    with pytest.raises(ConfigError, match="before the ledger's first invoice"):
        check_as_of(dt.date(2001, 1, 31), run.ledger)


@pytest.mark.slow
def test_a_killed_run_shows_as_interrupted_and_the_next_run_cleans_it_up(light_params, tmp_path):
    out = tmp_path / "runs"
    proc = subprocess.Popen(
        [sys.executable, "-m", "creditlab.cli", "-q", "run", "weekly", "--params",
         str(light_params), "--out", str(out)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not list(out.glob(".work/*/manifest.json")) and time.monotonic() < deadline:
        time.sleep(0.05)
    work = next(out.glob(".work/*"))
    assert RunLock.held(work) and proc.poll() is None  # running, and its lock is held
    os.kill(proc.pid, signal.SIGKILL)  # as a power loss would
    proc.wait()
    assert json.loads((work / "manifest.json").read_text())["status"] == "running"
    assert Outputs(out).interrupted() == [work]
    runs = list_runs(out)
    assert list(runs["status"]) == ["interrupted"] and runs["failed_step"].iloc[0]
    listed = creditlab("runs", "--out", str(out))
    assert "interrupted" in listed.stdout
    # the next run of this folder moves it to failed/, marked interrupted; this one asks for an
    # as-of date before the ledger's first invoice: one clear line, exit 2, kept as failed
    result = creditlab("run", "weekly", "--params", str(light_params), "--as-of", "2001-01-31",
                       "--out", str(out))  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "as-of date 2001-01-31 is before the ledger's first invoice" in result.stderr
    assert "interrupted" in result.stderr and not list((out / ".work").iterdir())
    kept = json.loads((out / "failed" / work.name / "manifest.json").read_text())
    assert kept["status"] == "interrupted" and "interrupted" in kept["error"]
    assert not list((out / "failed" / work.name).glob("*.html"))
    runs = list_runs(out).set_index("run_id")
    assert runs.loc[work.name, "status"] == "interrupted" and len(runs) == 2
    failed = runs.loc[runs.index != work.name].iloc[0]
    assert failed["status"] == "failed" and failed["failed_step"] == "prepare"
