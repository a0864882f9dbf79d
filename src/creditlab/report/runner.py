"""``creditlab run <report>``: prepare the data, execute the notebook, render HTML, write the manifest.

Each run gets a new folder. ``manifest.json`` is written when the run starts (status ``running``)
and rewritten when it ends (``succeeded`` or ``failed``, with the failing step and error), so a
crashed or failed run is never mistaken for a good one. A failed run leaves no HTML report behind.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from pathlib import Path

from creditlab.config import load_params
from creditlab.errors import ConfigError
from creditlab.pipeline import REJECTS_FILE, new_run_dir, prepare_run
from creditlab.report.manifest import git_sha, versions, write_manifest
from creditlab.report.render import execute_notebook, render_html

__all__ = ["REPORTS", "RunOutcome", "notebook_path", "run_report"]

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
