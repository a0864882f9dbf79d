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
import os
import re
import time
from pathlib import Path

import pandas as pd

from creditlab import kpi
from creditlab.config import load_params
from creditlab.decision_stage import TABLE_FILE, check_labels, run_decision_stage
from creditlab.decisions.settings import parse_decision_settings
from creditlab.errors import ConfigError
from creditlab.ledger.schema import CUSTOMER_ID
from creditlab.payment_stage import parse_payment_settings, run_payment_stage
from creditlab.pipeline import REJECTS_FILE, Run, new_run_dir, open_run, prepare_run
from creditlab.provenance import git_sha, versions
from creditlab.report.appendix import run_warnings
from creditlab.report.manifest import write_manifest
from creditlab.report.render import execute_notebook, render_html
from creditlab.scoring import parse_pd_settings, run_pd_stage

__all__ = [
    "REPORTS",
    "RunOutcome",
    "latest_decided_run",
    "notebook_path",
    "open_or_prepare",
    "render_review",
    "run_report",
]

log = logging.getLogger(__name__)

REPORTS = ("weekly_portfolio", "model_validation", "customer_review")
WORK_DIR, FAILED_DIR, LATEST = ".work", "failed", "latest"  # under the --out folder
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
    payments = parse_payment_settings(params.payment_model, where=f"{params.source}: payment_model")
    run = prepare_run(params, new_run_dir(out, "interactive"))
    check_labels(decisions, run.ledger.customers, where=f"{params.source}: decisions")
    run_pd_stage(run, settings)
    run_payment_stage(run, payments, decisions.behaviour)
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


def review_file(customer_id: str) -> str:
    """File stem of a customer's review: ``customer_review_<id>`` with the id made path-safe."""
    return "customer_review_" + re.sub(r"[^A-Za-z0-9._-]", "_", str(customer_id))


def customers_to_review(run_dir: Path, n: int) -> list[str]:
    """The ``n`` customers a weekly run reviews: alerted ones first (most severe, then largest
    open AR), then the largest exposures."""
    if n <= 0:
        return []
    run = open_run(run_dir)
    exposure = kpi.customer_exposure(run.ledger.customers, run.ledger.invoices, run.as_of)
    ar = exposure.set_index(CUSTOMER_ID)[kpi.OPEN_AR]
    order: list[str] = []
    alerts_path = run_dir / "alerts.csv"
    if alerts_path.is_file():
        found = pd.read_csv(alerts_path, dtype={CUSTOMER_ID: "string"}).dropna(subset=[CUSTOMER_ID])
        found = found.loc[found[CUSTOMER_ID] != ""]
        found["_sev"] = found["severity"].map({"high": 0, "medium": 1, "low": 2})
        found["_ar"] = found[CUSTOMER_ID].map(ar).fillna(0)
        order += list(found.sort_values(["_sev", "_ar"], ascending=[True, False])[CUSTOMER_ID])
    order += list(ar.sort_values(ascending=False).index)
    return list(dict.fromkeys(order))[:n]


def render_review(run_dir: str | Path, customer_id: str) -> Path:
    """Render one customer's review into a finished run folder (from JupyterLab, say); returns
    the HTML path and records it in the manifest."""
    run_dir = Path(run_dir).resolve()
    _check_customer(open_run(run_dir), customer_id)
    stem = review_file(customer_id)
    executed, html = run_dir / f"{stem}.ipynb", run_dir / f"{stem}.html"
    execute_notebook(
        notebook_path("customer_review"),
        executed,
        {"run_dir": ".", "customer_id": customer_id},
        run_dir,
    )
    render_html(executed, html)
    manifest_path = run_dir / MANIFEST_FILE
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text())
        manifest.setdefault("reports", {})[stem] = {"html": html.name, "notebook": executed.name}
        write_manifest(manifest_path, manifest)
    return html


def _check_customer(run: Run, customer_id: str) -> None:
    known = run.ledger.customers[CUSTOMER_ID].astype(str)
    if str(customer_id) not in set(known):
        raise ConfigError(
            f"customer {customer_id!r} is not in the ledger ({len(known):,} customers, "
            f"e.g. {', '.join(known.head(3))})"
        )


def run_report(
    params_file: str | Path,
    *,
    report: str = "weekly_portfolio",
    customer_id: str | None = None,
    data: str | Path | None = None,
    as_of: str | None = None,
    out: str | Path = "reports",
) -> RunOutcome:
    """Run one report end to end into a new run folder under ``out``.

    The run works in ``out/.work/<run_id>`` and becomes ``out/<run_id>`` only when every report
    rendered; then ``out/latest`` points to it. A failed run moves to ``out/failed/<run_id>`` with
    its manifest (status ``failed``, the failing step and error) and no HTML.

    A weekly run also renders the model validation report and customer reviews when the params'
    ``reports:`` section asks for them, into the same folder. ``customer_review`` needs
    ``customer_id``.

    Raises
    ------
    CreditlabError
        Any failing step; ``manifest.json`` then says ``"status": "failed"`` and which step.
    """
    notebook_path(report)
    if report == "customer_review" and not customer_id:
        raise ConfigError("the customer review needs a customer: --customer ID")
    params = load_params(params_file, data=data, as_of=as_of)
    pd_settings = parse_pd_settings(params.pd_model, where=f"{params.source}: pd_model")
    decisions = parse_decision_settings(params.decisions, where=f"{params.source}: decisions")
    payments = parse_payment_settings(params.payment_model, where=f"{params.source}: payment_model")
    out = Path(out).resolve()
    work = new_run_dir(out / WORK_DIR, report.split("_")[0])  # becomes out/<run_id> when complete
    run_dir = work
    main_stem = review_file(customer_id) if report == "customer_review" else report
    html = run_dir / f"{main_stem}.html"
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
        manifest["kpis"] = kpi.headline(
            run.ledger.customers, run.ledger.invoices, run.as_of, params.dso_period_days
        )
        check_labels(decisions, run.ledger.customers, where=f"{params.source}: decisions")
        if customer_id:
            _check_customer(run, customer_id)
        step = "model"
        t0 = time.perf_counter()
        summary = run_pd_stage(run, pd_settings)
        manifest["timings_s"]["model"] = round(time.perf_counter() - t0, 3)
        manifest["pd_model"] = {
            k: summary.get(k)
            for k in ("enabled", "skipped", "reused_cached_fit", "gate", "timings")
        }
        step = "payments"
        t0 = time.perf_counter()
        timing = run_payment_stage(run, payments, decisions.behaviour)
        manifest["timings_s"]["payments"] = round(time.perf_counter() - t0, 3)
        manifest["payment_model"] = {
            k: timing.get(k)
            for k in ("enabled", "skipped", "reused_cached_fit", "gate", "timings", "collections")
        }
        step = "decide"
        t0 = time.perf_counter()
        decided = run_decision_stage(run, decisions)
        manifest["timings_s"]["decide"] = round(time.perf_counter() - t0, 3)
        manifest["decisions"] = {
            k: decided.get(k) for k in ("enabled", "left_out", "previous_run", "alerts", "worklist")
        }
        manifest["warnings"] = run_warnings(run)
        write_manifest(manifest_path, manifest)
        jobs = [(report, {"customer_id": customer_id} if customer_id else {}, main_stem)]
        if report == "weekly_portfolio":
            if params.reports.model_validation:
                jobs.append(("model_validation", {}, "model_validation"))
            for cid in customers_to_review(run_dir, params.reports.customer_reviews):
                jobs.append(("customer_review", {"customer_id": cid}, review_file(cid)))
        manifest["reports"] = {}
        for name, extra, stem in jobs:
            step = f"execute {stem}" if stem != main_stem else "execute"
            t0 = time.perf_counter()
            executed = run_dir / f"{stem}.ipynb"
            execute_notebook(notebook_path(name), executed, {"run_dir": ".", **extra}, cwd=run_dir)
            t_exec = round(time.perf_counter() - t0, 3)
            step = f"render {stem}" if stem != main_stem else "render"
            t0 = time.perf_counter()
            manifest["renderer"] = render_html(executed, run_dir / f"{stem}.html")
            t_render = round(time.perf_counter() - t0, 3)
            manifest["reports"][stem] = {
                "html": f"{stem}.html",
                "notebook": executed.name,
                "execute_s": t_exec,
                "render_s": t_render,
            }
            if stem == main_stem:
                manifest["timings_s"].update(execute=t_exec, render=t_render)
                manifest["outputs"].update(notebook=executed.name, html=html.name)
    except Exception as exc:
        for path in run_dir.glob("*.html"):
            path.unlink()
        manifest.update(status="failed", failed_step=step, error=str(exc), finished_at=_utcnow())
        write_manifest(manifest_path, manifest)
        failed = out / FAILED_DIR / work.name
        failed.parent.mkdir(parents=True, exist_ok=True)
        os.replace(work, failed)
        exc.run_dir = failed  # type: ignore[attr-defined]
        raise
    manifest.update(status="succeeded", finished_at=_utcnow())
    write_manifest(manifest_path, manifest)
    final = out / work.name
    os.replace(work, final)
    _point_latest(out, final.name)
    log.info("report %s written to %s", report, final / html.name)
    return RunOutcome(final, final / html.name, manifest)


def _point_latest(out: Path, name: str) -> None:
    """Move ``out/latest`` to ``name`` atomically (a relative symlink)."""
    tmp = out / f".latest-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    os.symlink(name, tmp)
    os.replace(tmp, out / LATEST)
