"""Many portfolios in one batch: a real Dask LocalCluster of 2 worker processes, real papermill runs,
a real SMTP server, the index page in a real browser; one portfolio fails on purpose."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from helpers import Inbox, creditlab, free_port, visit

from creditlab.errors import ConfigError, ReportError
from creditlab.run.batch import discover, is_transient, run_portfolios

TINY = """\
title: "Weekly report: {name} & <Co>"
portfolio: {name}
{source}
as_of: 2026-11-20
pd_model: {{enabled: false}}
payment_model: {{enabled: false}}
reports: {{model_validation: false, customer_reviews: 0}}
delivery: {{to: [{name}@example.org], operators: [ops-{name}@example.org]}}
"""


def _params(folder: Path, name: str, source: str) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(TINY.format(name=name, source=source))
    return path


def test_discover_reads_files_and_folders_and_refuses_clashes(tmp_path):
    (tmp_path / "group").mkdir()
    for name in ("b", "a"):
        (tmp_path / "group" / f"{name}.yaml").write_text("portfolio: x\n")
    (tmp_path / "c.yml").write_text("portfolio: y\n")
    jobs = discover([tmp_path / "group", tmp_path / "c.yml"])
    assert [j.name for j in jobs] == ["a", "b", "c"]
    assert all(j.params_file.is_absolute() for j in jobs)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "a.yaml").write_text("portfolio: z\n")
    with pytest.raises(ConfigError, match="both named 'a'"):
        discover([tmp_path / "group", tmp_path / "other" / "a.yaml"])
    with pytest.raises(ConfigError, match="no such params file"):
        discover([tmp_path / "missing.yaml"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no params files"):
        discover([tmp_path / "empty"])


def test_only_kernel_trouble_is_retried():
    from nbclient.exceptions import DeadKernelError
    from zmq import ZMQError

    assert is_transient(DeadKernelError("Kernel died"))
    assert is_transient(ZMQError(98, "Address already in use"))
    assert is_transient(RuntimeError("Kernel died before replying to kernel_info"))
    assert not is_transient(ReportError("weekly_portfolio.ipynb failed in cell 3"))
    assert not is_transient(ConfigError("unknown key"))
    assert not is_transient(ValueError("a bug"))


@pytest.mark.slow
def test_a_batch_on_a_local_cluster_survives_a_failing_portfolio(
    portfolio_dir, tmp_path, monkeypatch
):
    group = tmp_path / "group"
    group.mkdir()
    _params(group, "north", f"data: {portfolio_dir}")
    _params(group, "south", "synthetic: {customers: 60, seed: 6, years: 2.0}")
    broken = tmp_path / "broken_ledger"
    shutil.copytree(portfolio_dir, broken)
    (broken / "invoices.csv").write_text("this is not,an invoice file\n1,2\n")
    _params(group, "broken", f"data: {broken}")
    (group / "typo.yaml").write_text("portfolio: typo\ndraws_per_chain: 10\n")  # unknown key
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    for key, value in {"CREDITLAB_SMTP_HOST": "127.0.0.1", "CREDITLAB_SMTP_PORT": str(port),
                       "CREDITLAB_SMTP_TLS": "none", "CREDITLAB_SMTP_FROM": "creditlab@example.org"}.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    out = tmp_path / "runs"
    try:
        done = creditlab("run", "weekly", "--params", str(group), "--workers", "2", "--out", str(out), "--email")  # fmt: skip
    finally:
        controller.stop()
    assert done.returncode == 1, done.stderr  # some portfolio failed
    assert "2 of 4 portfolios succeeded" in done.stdout
    index = json.loads((out / "index.json").read_text())
    assert "local Dask cluster of 2 worker process(es)" in index["cluster"]
    by_name = {p["name"]: p for p in index["portfolios"]}
    assert list(by_name) == ["broken", "north", "south", "typo"]

    for name in ("north", "south"):
        entry = by_name[name]
        run_dir = Path(entry["run_dir"])
        assert entry["status"] == "succeeded" and run_dir.parent == out / name
        assert (run_dir / "weekly_portfolio.html").is_file() and (
            out / name / "latest"
        ).is_symlink()
        manifest = json.loads((run_dir / "manifest.json").read_text())
        assert manifest["status"] == "succeeded" and entry["as_of"] == "2026-11-20"
        assert entry["kpis"]["open_ar"] == pytest.approx(manifest["kpis"]["open_ar"])
        # two workers on this machine: workers x threads per portfolio never exceed the cores
        assert 1 <= entry["threads"] and 2 * entry["threads"] <= max(2, os.cpu_count() or 1)
        assert entry["delivery"].startswith(f"sent to {name}@example.org")
    # the failing portfolio failed inside its run (bad ledger), with its record; the others ran
    assert by_name["broken"]["status"] == "failed" and by_name["broken"]["exit_code"] == 3
    assert by_name["broken"]["failed_step"] == "prepare"
    assert Path(by_name["broken"]["run_dir"]).parent == out / "broken" / "failed"
    assert "failure notice sent to ops-broken@example.org" in by_name["broken"]["delivery"]
    # a params mistake fails that portfolio in seconds, before any task runs
    assert by_name["typo"]["status"] == "failed" and by_name["typo"]["exit_code"] == 2
    assert "draws_per_chain" in by_name["typo"]["error"]

    # each portfolio's e-mail went to its own recipients only
    received = {m["To"]: m for m in inbox.messages}
    assert set(received) == {"north@example.org", "south@example.org", "ops-broken@example.org"}
    assert "north" in received["north@example.org"]["Subject"]
    assert any(
        a.get_filename() == "weekly_portfolio.html"
        for a in received["south@example.org"].iter_attachments()
    )
    assert "FAILED" in received["ops-broken@example.org"]["Subject"]

    # `creditlab runs` finds every portfolio's runs under --out
    runs = creditlab("-q", "runs", "--out", str(out))
    assert runs.returncode == 0, runs.stderr
    listed = runs.stdout.splitlines()
    for name, status in (("north", "succeeded"), ("south", "succeeded"), ("broken", "failed")):
        assert any(name in line and status in line for line in listed), (name, runs.stdout)

    # the index page: self-contained, escaped, every link resolves inside --out
    page = (out / "index.html").read_text()
    links = re.findall(r"href='([^']+)'", page)
    assert len(links) == 3 and all((out / link).is_file() for link in links)
    assert "&lt;Co&gt;" in page and "<Co>" not in page
    seen = visit(out / "index.html", tmp_path / "profile")
    assert seen.requests == [], seen.requests
    assert "2 succeeded" in seen.dom and "failed at step prepare" in seen.dom


@pytest.mark.slow
def test_a_kernel_that_fails_to_start_is_retried_by_dask(tmp_path, monkeypatch):
    """A kernel start that fails once (as in a port race) costs one attempt, not the portfolio;
    one that never starts is reported after the retries, with its failed run folders kept."""
    kernels = tmp_path / "jupyter" / "kernels" / "python3"
    kernels.mkdir(parents=True)
    flaky = tmp_path / "flaky.sh"  # the kernel runs in its run folder: <out>/<portfolio>/...
    flaky.write_text(
        "#!/bin/sh\n"
        'case "$PWD" in */never/*) exit 1;; esac\n'
        f'if [ ! -e "{tmp_path}/started" ]; then touch "{tmp_path}/started"; exit 1; fi\n'
        f'exec "{sys.executable}" -m ipykernel_launcher "$@"\n'
    )
    flaky.chmod(0o755)
    (kernels / "kernel.json").write_text(json.dumps({
        "argv": [str(flaky), "-f", "{connection_file}"], "display_name": "flaky", "language": "python",
    }))  # fmt: skip
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))  # the workers inherit it
    group = tmp_path / "group"
    group.mkdir()
    for name in ("once", "never"):
        _params(group, name, "synthetic: {customers: 40, seed: 2, years: 2.0}")
    out = tmp_path / "runs"
    results = {
        r["name"]: r for r in run_portfolios(discover([group]), out=out, workers=1, retries=1)
    }
    once, never = results["once"], results["never"]
    assert once["status"] == "succeeded" and once["attempts"] == 2, once
    assert len(list((out / "once" / "failed").iterdir())) == 1  # the first attempt's record
    assert never["status"] == "failed" and never["attempts"] == 2
    assert "gave up after 2 attempt(s)" in never["error"] and "Kernel died" in never["error"]
    assert Path(never["run_dir"]).parent == out / "never" / "failed"
    assert len(list((out / "never" / "failed").iterdir())) == 2


@pytest.mark.slow
def test_data_given_on_the_command_line_applies_to_every_portfolio(portfolio_dir, tmp_path):
    """--data overrides each params file's own data; --workers 0 runs them without Dask."""
    for name in ("east", "west"):
        _params(tmp_path, name, "synthetic: {customers: 30, seed: 9, years: 2.0}")
    out = tmp_path / "runs"
    done = creditlab("-q", "run", "weekly", "--params", str(tmp_path / "east.yaml"), "--params",
                     str(tmp_path / "west.yaml"), "--data", str(portfolio_dir), "--workers", "0",
                     "--out", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    index = json.loads((out / "index.json").read_text())
    assert index["cluster"] == "sequential, in one process"
    for entry in index["portfolios"]:
        manifest = json.loads((Path(entry["run_dir"]) / "manifest.json").read_text())
        assert entry["kpis"]["customers"] == 80  # the --data ledger, not the 30 synthetic ones
        assert manifest["params"]["data"] == str(portfolio_dir)
