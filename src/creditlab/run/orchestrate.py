"""``creditlab run <report>``: check everything, prepare the data, run the stages, execute the
report notebooks, render HTML, keep the manifest.

How a run flows (``run_report``):

1. the params load; every stage's settings are parsed and checked (:mod:`creditlab.run.params`);
2. runs of the same output folder that were killed mid-way are marked interrupted and moved to
   ``failed/``; a new work folder ``<out>/.work/<run_id>`` is locked for this process;
3. ``prepare``: the ledger is validated and frozen into the run folder; the as-of date is checked
   against the ledger's dates;
4. the stages (:func:`creditlab.run.stages.weekly_stages`) are checked against the data, then
   run in order, each writing its artifacts and summary;
5. each report notebook is executed (papermill) and rendered (Quarto or nbconvert);
6. the folder becomes ``<out>/<run_id>`` and ``<out>/latest`` points to it; or, on any failure,
   ``<out>/failed/<run_id>`` with the failing step and error in its manifest and no HTML.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable
from pathlib import Path

from creditlab.errors import ConfigError
from creditlab.run.folder import (
    MANIFEST_FILE,
    REJECTS_FILE,
    REPORTS,
    Outputs,
    RunLock,
    new_run_dir,
)
from creditlab.run.manifest import new_manifest, read_manifest, utcnow, write_manifest
from creditlab.run.notebooks import execute_notebook, render_html
from creditlab.run.params import load_params
from creditlab.run.prepare import Run, open_run, prepare_run
from creditlab.run.queries import check_customer, customers_to_review, run_warnings
from creditlab.run.stages import run_stages, weekly_stages
from creditlab.run.stages.base import timed

__all__ = [
    "RunOutcome",
    "notebook_path",
    "open_or_prepare",
    "render_review",
    "review_file",
    "run_report",
]

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class RunOutcome:
    """A finished run: its folder, its main report's HTML, its manifest."""

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


def review_file(customer_id: str) -> str:
    """File stem of a customer's review: ``customer_review_<id>`` with the id made path-safe."""
    return "customer_review_" + re.sub(r"[^A-Za-z0-9._-]", "_", str(customer_id))


def open_or_prepare(
    run_dir: str | Path = "",
    *,
    params_file: str | Path = "",
    data: str | Path | None = None,
    as_of: str | None = None,
    out: str | Path = "reports",
) -> Run:
    """What a report notebook calls first: open the run folder ``creditlab run`` prepared, or,
    with no ``run_dir`` (an analyst in JupyterLab), prepare a new one from ``params_file`` and run
    every stage in it."""
    if run_dir:
        return open_run(run_dir)
    if not params_file:
        raise ConfigError("give a run folder or a params file")
    params = load_params(params_file, data=data or None, as_of=as_of or None)
    run = prepare_run(params, new_run_dir(out, "interactive"))
    run_stages(run, weekly_stages(params), {"timings_s": {}}, lambda: None)  # no manifest here
    return run


def render_review(run_dir: str | Path, customer_id: str) -> Path:
    """Render one customer's review into a finished run folder (from JupyterLab, say); returns
    the HTML path and records it in the manifest."""
    run_dir = Path(run_dir).resolve()
    check_customer(open_run(run_dir), customer_id)
    stem = review_file(customer_id)
    executed, html = run_dir / f"{stem}.ipynb", run_dir / f"{stem}.html"
    execute_notebook(
        notebook_path("customer_review"),
        executed,
        {"run_dir": ".", "customer_id": customer_id},
        run_dir,
    )
    render_html(executed, html)
    if (run_dir / MANIFEST_FILE).is_file():
        manifest = read_manifest(run_dir)
        manifest.setdefault("reports", {})[stem] = {"html": html.name, "notebook": executed.name}
        write_manifest(run_dir / MANIFEST_FILE, manifest)
    return html


def _report_jobs(report: str, customer_id: str | None, run: Run) -> list[tuple[str, dict, str]]:
    """The notebooks a run executes: (notebook, extra parameters, file stem), main report first."""
    main = review_file(customer_id) if report == "customer_review" else report
    jobs = [(report, {"customer_id": customer_id} if customer_id else {}, main)]
    if report == "weekly_portfolio":
        if run.params.reports.model_validation:
            jobs.append(("model_validation", {}, "model_validation"))
        for cid in customers_to_review(run.run_dir, run.params.reports.customer_reviews):
            jobs.append(("customer_review", {"customer_id": cid}, review_file(cid)))
    return jobs


def _render_reports(
    jobs: list[tuple[str, dict, str]], work: Path, manifest: dict, save: Callable[[], None]
) -> str:
    """Execute and render each report notebook into ``work``, recording its step and timings in
    the manifest; returns the main report's HTML file name."""
    manifest["reports"] = {}
    for number, (name, extra, stem) in enumerate(jobs):
        where = "" if number == 0 else f" {stem}"
        executed, timings = work / f"{stem}.ipynb", {}
        manifest["step"] = f"execute{where}"
        save()
        with timed(timings, "execute_s"):
            execute_notebook(notebook_path(name), executed, {"run_dir": ".", **extra}, cwd=work)
        manifest["step"] = f"render{where}"
        with timed(timings, "render_s"):
            manifest["renderer"] = render_html(executed, work / f"{stem}.html")
        manifest["reports"][stem] = {"html": f"{stem}.html", "notebook": executed.name, **timings}
        if number == 0:
            manifest["timings_s"].update(execute=timings["execute_s"], render=timings["render_s"])
            manifest["outputs"].update(notebook=executed.name, html=f"{stem}.html")
    return jobs[0][2] + ".html"


def run_report(
    params_file: str | Path,
    *,
    report: str = "weekly_portfolio",
    customer_id: str | None = None,
    data: str | Path | None = None,
    as_of: str | None = None,
    out: str | Path = "reports",
    store: str | Path | None = None,
) -> RunOutcome:
    """Run one report end to end into a new run folder under ``out`` (see the module docstring).

    A weekly run also renders the model validation report and customer reviews when the params'
    ``reports:`` section asks for them, into the same folder. ``customer_review`` needs
    ``customer_id``. ``data``, ``as_of`` and ``store`` override the params file's.

    Raises
    ------
    CreditlabError
        Any failing step; ``manifest.json`` then says ``"status": "failed"`` and which step, and
        the exception's ``run_dir`` attribute is the failed run's folder.
    """
    notebook_path(report)
    if report == "customer_review" and not customer_id:
        raise ConfigError("the customer review needs a customer: --customer ID")
    params = load_params(params_file, data=data, as_of=as_of, store=store)
    outputs = Outputs(Path(out).resolve())
    for moved in outputs.clean_interrupted():
        log.warning("an earlier run was interrupted mid-way; kept as %s", moved)
    work = outputs.new_run(report.split("_")[0])  # becomes out/<run_id> when complete
    lock = RunLock(work)
    manifest = new_manifest(work.name, report, params)
    manifest_path = work / MANIFEST_FILE

    def save() -> None:
        write_manifest(manifest_path, manifest)

    save()
    try:
        with timed(manifest["timings_s"], "prepare"):
            run = prepare_run(params, work)
        manifest.update(
            as_of=run.as_of.isoformat(),
            data_hash=run.ledger.data_hash,
            inputs=run.inputs["files"],
            notes=run.ledger.notes,
            store_ingest=run.inputs["store_ingest"],
        )
        manifest["outputs"]["rejects"] = REJECTS_FILE
        if customer_id:
            check_customer(run, customer_id)
        run_stages(run, weekly_stages(params), manifest, save)
        manifest["warnings"] = run_warnings(run)
        main_html = _render_reports(_report_jobs(report, customer_id, run), work, manifest, save)
    except Exception as exc:
        for path in work.glob("*.html"):
            path.unlink()
        manifest.update(
            status="failed", failed_step=manifest["step"], error=str(exc), finished_at=utcnow()
        )
        save()
        lock.release()
        exc.run_dir = outputs.fail(work)  # type: ignore[attr-defined]
        raise
    manifest.update(status="succeeded", finished_at=utcnow())
    manifest.pop("step")
    save()
    lock.release()
    final = outputs.complete(work)
    log.info("report %s written to %s", report, final / main_html)
    return RunOutcome(final, final / main_html, manifest)
