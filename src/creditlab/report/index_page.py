"""The index page of a batch of portfolio runs: ``<out>/index.html`` and ``<out>/index.json``.

One row per portfolio: status (and, for a failure, the step and error), as-of date, the headline
figures the weekly e-mail carries, alerts, delivery, and links to every report of the run. The page
is self-contained (inline CSS, no scripts, no external requests) and every text from params,
ledgers or errors is escaped. Links are relative, so the ``--out`` folder can be moved or served
as it is.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path

import pandas as pd

from creditlab.errors import ConfigError
from creditlab.report.headline import headline_rows
from creditlab.run.folder import INDEX_FILE, INDEX_JSON, MANIFEST_FILE
from creditlab.run.manifest import read_manifest, write_manifest

__all__ = ["index_table", "write_index"]


_CSS = """
body{font-family:Arial,Helvetica,sans-serif;font-size:14px;color:#1d2733;margin:24px}
table{border-collapse:collapse;margin-top:12px}
th,td{padding:5px 9px;border-bottom:1px solid #d9dee4;text-align:left;vertical-align:top}
th{background:#eef2f5}
td.num{text-align:right;white-space:nowrap}
.ok{color:#1b6e2d;font-weight:bold}.failed{color:#a4161a;font-weight:bold}
.err{font-family:monospace;font-size:12px;color:#a4161a;max-width:36em}
.note{color:#5a6570;font-size:12px}
"""


def _manifest(result: dict) -> dict:
    """The manifest of a portfolio's run ({} when the run never started or left none)."""
    if not result.get("run_dir"):
        return {}
    try:
        return read_manifest(result["run_dir"])
    except ConfigError:
        return {}


def _entry(result: dict, manifest: dict, out: Path) -> dict:
    """What the index keeps of one portfolio (also its row in ``index.json``)."""
    run_dir = Path(result["run_dir"]) if result.get("run_dir") else None
    params = manifest.get("params", {})
    return {
        **result,
        "title": params.get("title"),
        "portfolio": params.get("portfolio"),
        "as_of": manifest.get("as_of"),
        "run_id": manifest.get("run_id"),
        "failed_step": manifest.get("failed_step"),
        "kpis": manifest.get("kpis", {}),
        "alerts": (manifest.get("decisions") or {}).get("alerts"),
        "warnings": manifest.get("warnings", []),
        "headline": dict(headline_rows(manifest)) if manifest.get("kpis") else {},
        "reports": sorted(p.name for p in run_dir.glob("*.html")) if run_dir else [],
        "folder": os.path.relpath(run_dir, out) if run_dir else None,
    }


def _row(entry: dict, columns: list[str]) -> str:
    e = html.escape
    folder = entry["folder"]
    name = f"<b>{e(entry['name'])}</b>"
    if entry.get("title"):
        name += f"<br><span class='note'>{e(entry['title'])}</span>"
    if entry["status"] == "succeeded":
        status = "<span class='ok'>succeeded</span>"
    else:
        step = f" at step {e(entry['failed_step'])}" if entry.get("failed_step") else ""
        status = f"<span class='failed'>failed{step}</span><div class='err'>{e(entry['error'] or '')}</div>"
    if entry.get("attempts", 1) > 1:
        status += f"<div class='note'>{entry['attempts']} attempts</div>"
    if entry.get("warnings"):
        status += f"<div class='note'>{len(entry['warnings'])} warning(s) in the report</div>"
    links = [
        f"<a href='{e(folder + '/' + page)}'>{e(page.removesuffix('.html'))}</a>"
        for page in entry["reports"]
    ]
    if folder and entry["status"] != "succeeded":
        links.append(f"<a href='{e(folder + '/' + MANIFEST_FILE)}'>manifest (failed run)</a>")
    figures = "".join(f"<td class='num'>{e(entry['headline'].get(c, '–'))}</td>" for c in columns)
    return (
        f"<tr><td>{name}</td><td>{status}</td><td>{e(entry.get('as_of') or '–')}</td>{figures}"
        f"<td>{'<br>'.join(links) or '–'}</td><td>{e(entry.get('delivery') or 'not e-mailed')}</td>"
        f"<td class='num'>{entry.get('seconds', 0):,.0f} s</td></tr>"
    )


def write_index(out: Path, results: list[dict], batch: dict) -> Path:
    """Write ``index.json`` and the self-contained ``index.html`` of a batch into ``out``.

    ``results`` are :func:`creditlab.run.batch.run_portfolio` results (``name``, ``status``,
    ``run_dir``, ``error``, ...); each succeeded or failed run's manifest supplies the rest.
    """
    out = Path(out)
    entries = [_entry(r, _manifest(r), out) for r in results]
    write_manifest(out / INDEX_JSON, {**batch, "portfolios": entries})
    columns = [label for label, _ in headline_rows({})]
    failed = sum(e["status"] != "succeeded" for e in entries)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    rows = "".join(_row(e, columns) for e in entries)
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>creditlab: {len(entries)} portfolios</title><style>{_CSS}</style></head><body>"
        f"<h1>Portfolio runs</h1><p>{len(entries)} portfolio(s): "
        f"<span class='ok'>{len(entries) - failed} succeeded</span>, "
        f"<span class='{'failed' if failed else 'ok'}'>{failed} failed</span>. "
        f"Generated {html.escape(batch.get('generated_at', ''))}; "
        f"{html.escape(batch.get('cluster', ''))}; {batch.get('wall_s', 0):,.0f} s in all.</p>"
        "<p class='note'>Each figure is as of the portfolio's own as-of date and comes from its "
        "run's manifest; each report explains it and carries its interval. A failed portfolio "
        "has no report: its manifest names the failing step.</p>"
        f"<table><thead><tr><th>Portfolio</th><th>Status</th><th>As of</th>{head}"
        f"<th>Reports</th><th>Delivery</th><th>Run time</th></tr></thead><tbody>{rows}</tbody></table>"
        "</body></html>"
    )
    path = out / INDEX_FILE
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path


def index_table(out: str | Path) -> pd.DataFrame:
    """The batch index ``<out>/index.json`` as a table: one row per portfolio with its status,
    as-of date, headline figures, reports and error."""
    index = json.loads((Path(out) / INDEX_JSON).read_text())
    return pd.DataFrame(
        [
            {
                "portfolio": e["name"],
                "status": e["status"],
                "as_of": e.get("as_of"),
                **e.get("headline", {}),
                "reports": ", ".join(e.get("reports", [])),
                "error": e.get("error"),
            }
            for e in index["portfolios"]
        ]
    )
