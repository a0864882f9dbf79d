"""``creditlab run <report>``: prepare the data, execute the notebook, render HTML, write the manifest.

Each run gets a new folder. ``manifest.json`` is written when the run starts (status ``running``)
and rewritten when it ends (``succeeded`` or ``failed``, with the failing step and error), so a
crashed or failed run is never mistaken for a good one. A failed run leaves no HTML report behind.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import time
from pathlib import Path

from creditlab.config import load_params
from creditlab.decision_stage import TABLE_FILE, check_labels, run_decision_stage
from creditlab.decisions.settings import parse_decision_settings
from creditlab.errors import ConfigError
from creditlab.pipeline import REJECTS_FILE, Run, new_run_dir, open_run, prepare_run
from creditlab.provenance import git_sha, versions
from creditlab.report.manifest import write_manifest
from creditlab.report.render import execute_notebook, render_html
from creditlab.scoring import parse_pd_settings, run_pd_stage

__all__ = [
    "REPORTS",
    "RunOutcome",
    "latest_decided_run",
    "notebook_path",
    "open_or_prepare",
    "run_report",
]

log = logging.getLogger(__name__)

REPORTS = ("weekly_portfolio",)
MANIFEST_FILE = "manifest.json"


@dataclasses.dataclass(frozen=True)
class RunOutcome:
    run_dir: Path
    html: Path
    manifest: dict


def notebook_path(report: str) -> Path:
    """The report notebook ``notebooks/reports/<report>.ipynb`` of the creditlab source tree."""
    if report not in REPORTS:
        raise ConfigError(f"unknown report {report!r}; reports: {list(REPORTS)}")
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "notebooks" / "reports" / f"{report}.ipynb"
        if candidate.is_file():
            return candidate
    raise ConfigError(
        f"notebook for {report!r} not found: install creditlab from its source tree "
        "(pip install -e .) so notebooks/ sits beside src/"
    )


def _utcnow() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def open_or_prepare(
    run_dir: str | Path = "",
    *,
    params_file: str | Path = "",
    data: str | Path | None = None,
    as_of: str | None = None,
    out: str | Path = "reports",
) -> Run:
    """What a report notebook calls first: open the run folder ``creditlab run`` prepared, or,
    with no ``run_dir`` (an analyst in JupyterLab), prepare a new one from ``params_file``,
    PD model included."""
    if run_dir:
        return open_run(run_dir)
    if not params_file:
        raise ConfigError("give a run folder or a params file")
    params = load_params(params_file, data=data or None, as_of=as_of or None)
    settings = parse_pd_settings(params.pd_model, where=f"{params.source}: pd_model")
    decisions = parse_decision_settings(params.decisions, where=f"{params.source}: decisions")
    run = prepare_run(params, new_run_dir(out, "interactive"))
    check_labels(decisions, run.ledger.customers, where=f"{params.source}: decisions")
    run_pd_stage(run, settings)
    run_decision_stage(run, decisions)
    return run


def latest_decided_run(
    out: str | Path, params_sha256: str, as_of: str | None = None
) -> Path | None:
    """The newest succeeded run under ``out`` made from the same params file (and as-of date),
    with decisions in it; None when there is none."""
    found = []
    for path in Path(out).glob(f"*/{MANIFEST_FILE}"):
        try:
            manifest = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if (
            manifest.get("status") == "succeeded"
            and manifest.get("params_sha256") == params_sha256
            and (as_of is None or manifest.get("as_of") == as_of)
            and (path.parent / TABLE_FILE).is_file()
        ):
            found.append((manifest.get("finished_at", ""), path.parent))
    return max(found)[1] if found else None


def run_report(
    params_file: str | Path,
    *,
    report: str = "weekly_portfolio",
    data: str | Path | None = None,
    as_of: str | None = None,
    out: str | Path = "reports",
    run_dir: Path | None = None,
) -> RunOutcome:
    """Run one report end to end into a new run folder under ``out``.

    Raises
    ------
    CreditlabError
        Any failing step; ``manifest.json`` then says ``"status": "failed"`` and which step.
    """
    notebook = notebook_path(report)
    params = load_params(params_file, data=data, as_of=as_of)
    pd_settings = parse_pd_settings(params.pd_model, where=f"{params.source}: pd_model")
    decisions = parse_decision_settings(params.decisions, where=f"{params.source}: decisions")
    if run_dir is None:
        run_dir = new_run_dir(out, report.split("_")[0])
    run_dir = Path(run_dir).resolve()
    html = run_dir / f"{report}.html"
    manifest: dict = {
        "run_id": run_dir.name,
        "report": report,
        "status": "running",
        "started_at": _utcnow(),
        "params_file": str(params.source),
        "params_sha256": params.sha256,
        "params": params.to_dict(),
        "versions": versions(),
        "git_sha": git_sha(),
        "timings_s": {},
        "warnings": [],
        "outputs": {},
    }
    manifest_path = run_dir / MANIFEST_FILE
    write_manifest(manifest_path, manifest)
    step = "prepare"
    try:
        t0 = time.perf_counter()
        run = prepare_run(params, run_dir)
        manifest["timings_s"]["prepare"] = round(time.perf_counter() - t0, 3)
        manifest.update(
            as_of=run.as_of.isoformat(),
            data_hash=run.ledger.data_hash,
            inputs=run.inputs["files"],
            notes=run.ledger.notes,
            store_ingest=run.inputs["store_ingest"],
        )
        manifest["outputs"]["rejects"] = REJECTS_FILE
        check_labels(decisions, run.ledger.customers, where=f"{params.source}: decisions")
        step = "model"
        t0 = time.perf_counter()
        summary = run_pd_stage(run, pd_settings)
        manifest["timings_s"]["model"] = round(time.perf_counter() - t0, 3)
        manifest["pd_model"] = {
            k: summary.get(k)
            for k in ("enabled", "skipped", "reused_cached_fit", "gate", "timings")
        }
        if summary.get("skipped"):
            manifest["warnings"].append(f"PD model not fitted: {summary['skipped']}")
        elif summary.get("gate") and not summary["gate"]["passed"]:
            manifest["warnings"].append("the PD model failed the convergence gate")
        step = "decide"
        t0 = time.perf_counter()
        decided = run_decision_stage(run, decisions)
        manifest["timings_s"]["decide"] = round(time.perf_counter() - t0, 3)
        manifest["decisions"] = {
            k: decided.get(k) for k in ("enabled", "left_out", "previous_run", "alerts", "worklist")
        }
        step = "execute"
        t0 = time.perf_counter()
        executed = run_dir / f"{report}.ipynb"
        execute_notebook(notebook, executed, {"run_dir": str(run_dir)}, cwd=run_dir)
        manifest["timings_s"]["execute"] = round(time.perf_counter() - t0, 3)
        manifest["outputs"]["notebook"] = executed.name
        step = "render"
        t0 = time.perf_counter()
        manifest["renderer"] = render_html(executed, html)
        manifest["timings_s"]["render"] = round(time.perf_counter() - t0, 3)
        manifest["outputs"]["html"] = html.name
    except Exception as exc:
        html.unlink(missing_ok=True)
        manifest.update(status="failed", failed_step=step, error=str(exc), finished_at=_utcnow())
        write_manifest(manifest_path, manifest)
        exc.run_dir = run_dir  # type: ignore[attr-defined]
        raise
    manifest.update(status="succeeded", finished_at=_utcnow())
    write_manifest(manifest_path, manifest)
    log.info("report %s written to %s", report, html)
    return RunOutcome(run_dir, html, manifest)
