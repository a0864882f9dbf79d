"""The warning banner and the appendix every report shares."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil

import pandas as pd
import pytest

from creditlab.report.appendix import appendix, banner
from creditlab.run.prepare import open_run
from creditlab.run.queries import run_warnings

pytestmark = pytest.mark.slow


def _html(objects) -> str:
    return "".join(
        o.to_html() if hasattr(o, "to_html") else str(getattr(o, "data", o)) for o in objects
    )


def test_a_clean_run_has_no_banner(weekly_run):
    run = open_run(weekly_run)
    assert run_warnings(run) == [] and banner(run) == []


def test_banner_lists_stale_data_rejects_and_a_failed_gate(weekly_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(weekly_run, run_dir)
    summary = json.loads((run_dir / "pd_validation.json").read_text())
    summary["gate"]["passed"] = False
    (run_dir / "pd_validation.json").write_text(json.dumps(summary))
    run = open_run(run_dir)
    total = int(run.ledger.counts["read"].sum())
    counts = run.ledger.counts.assign(rejected=[total // 10] + [0] * (len(run.ledger.counts) - 1))
    run = dataclasses.replace(
        run,
        as_of=dt.date(2027, 3, 1),
        ledger=dataclasses.replace(run.ledger, counts=counts),
    )
    found = run_warnings(run)
    assert any("convergence gate" in w for w in found)
    assert any(w.startswith("Stale data") and "101 days" in w for w in found)
    assert any("rejected" in w for w in found)
    html = _html(banner(run))
    assert 'class="cl-banner"' in html and html.count("<li>") == 3


def test_appendix_holds_hashes_counts_versions_timings_and_caveats(weekly_run):
    run = open_run(weekly_run)
    html = _html(appendix(run))
    for f in run.ledger.counts.itertuples():
        assert f.sha256 in html
    assert "pymc" in html and "Timings of this run" in html and "Assumptions and caveats" in html
    assert "R-hat" in html or "r_hat" in html.lower()
    assert pd.Timestamp(run.as_of).date().isoformat() in html


def test_reports_stay_small(weekly_run):
    for page in weekly_run.glob("*.html"):
        assert page.stat().st_size < 3_000_000, page.name  # static PNGs, no JS bundles


def test_escaped_text_reads_as_written_once_rendered():
    """Untrusted text through md_escape and nbconvert's Markdown: no markup, no HTML, and no
    entity shown literally (an apostrophe used to show as "&#x27;")."""
    from nbconvert.filters.markdown import markdown2html

    from creditlab.report.tables import md_escape

    rendered = markdown2html(md_escape("customer's <b>#1</b> *deal* [x](y) a|b"))
    assert "&amp;#" not in rendered and "<b>" not in rendered and "<em>" not in rendered
    assert "&lt;b&gt;#1&lt;/b&gt;" in rendered and "*deal*" in rendered and "a|b" in rendered
    assert "customer&#x27;s" in rendered or "customer's" in rendered
