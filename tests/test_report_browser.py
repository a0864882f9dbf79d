"""The rendered reports in a real headless browser (Debian's chromium): they load without console
errors and without a single network request, show their sections, and escape untrusted names."""

from __future__ import annotations

import os
import shutil

import pytest
from helpers import visit

from creditlab.run.orchestrate import render_review

pytestmark = pytest.mark.slow

if shutil.which("chromium") is None:
    if os.environ.get("CREDITLAB_REQUIRE_BROWSER"):
        raise RuntimeError("chromium is required here (CREDITLAB_REQUIRE_BROWSER is set)")
    pytest.skip("chromium is not installed (apt-get install chromium)", allow_module_level=True)


def test_the_checks_catch_a_bad_page(tmp_path):
    """The control: a page with a script error and an external image fails both checks."""
    page = tmp_path / "bad.html"
    page.write_text('<h2>Hi</h2><img src="http://example.com/x.png"><script>nothere();</script>')
    seen = visit(page, tmp_path / "profile")
    assert any("nothere is not defined" in line for line in seen.console)
    assert any("example.com" in r for r in seen.requests)
    assert "<h2>Hi</h2>" in seen.dom


@pytest.mark.parametrize(
    ("report", "sections"),
    [
        ("weekly_portfolio", ["What changed", "What to do first", "Portfolio overview",
                              "Probability of default", "Collections worklist",
                              "Provision matrix (IFRS 9)", "Scenarios", "How bad can a year get?",
                              "Who drives the tail", "Credit insurance", "Appendix: run record"]),
        ("model_validation", ["The model", "Convergence", "Posterior predictive checks",
                              "Out-of-time validation", "Calibration by grade", "Appendix: run record"]),
        ("customer_review", ["For sales", "Profile", "Exposure and limit", "Payment history",
                             "Probability of default", "Actions", "Share of a bad year and insurance cover",
                             "Appendix: run record"]),
    ],
)  # fmt: skip
def test_reports_load_cleanly_in_chromium(weekly_run, tmp_path, report, sections):
    page = next(weekly_run.glob(f"{report}*.html"))
    shot = tmp_path / f"{page.stem}.png"
    seen = visit(page, tmp_path / "profile", screenshot=shot)
    assert seen.console == [], seen.console
    assert seen.requests == [], seen.requests
    for section in sections:
        assert f">{section}</h2>" in seen.dom, section
    assert 'class="cl-toc"' in seen.dom
    text = page.read_text()  # every chart is described for screen readers
    assert text.count("<img") == text.count('alt="Chart.') > 0
    assert shot.is_file() and shot.stat().st_size > 10_000


def test_a_hostile_customer_name_is_escaped_in_every_report(weekly_run, ci_ledger, tmp_path):
    """The shared run's largest customer is named with script and image tags: every report shows
    it as text, and none of them runs it (no console message, no request)."""
    run_dir = tmp_path / weekly_run.name
    shutil.copytree(weekly_run, run_dir)
    cid = ci_ledger[1]
    render_review(run_dir, cid)  # as the customer 360 widget does in a finished run
    pages = sorted(run_dir.glob("*.html")) + [run_dir / "drafts" / "index.html"]
    assert {p.stem.split("_C")[0] for p in pages} >= {
        "weekly_portfolio",
        "model_validation",
        "customer_review",
    }
    for page in pages:
        text = page.read_text()
        assert "<script>alert" not in text and "onerror=alert" not in text.replace(
            "onerror=alert(1)&gt;", ""
        )
        seen = visit(page, tmp_path / "profile")
        assert seen.console == [] and seen.requests == [], (page.name, seen.console, seen.requests)
    escaped = "&lt;script&gt;alert("
    assert escaped in (run_dir / "weekly_portfolio.html").read_text()  # the top exposure
    assert escaped in (run_dir / f"customer_review_{cid}.html").read_text()
