"""The rendered reports in a real headless browser (Debian's chromium): they load without console
errors and without a single network request, show their sections, and escape untrusted names."""

from __future__ import annotations

import os
import shutil

import pandas as pd
import pytest
from helpers import creditlab, visit

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
        ("weekly_portfolio", ["Portfolio overview", "Probability of default", "Collections worklist",
                              "Provision matrix (IFRS 9)", "Scenarios", "Appendix: run record"]),
        ("model_validation", ["The model", "Convergence", "Posterior predictive checks",
                              "Out-of-time validation", "Calibration by grade", "Appendix: run record"]),
        ("customer_review", ["Profile", "Exposure and limit", "Payment history",
                             "Probability of default", "Actions", "Appendix: run record"]),
    ],
)  # fmt: skip
def test_reports_load_cleanly_in_chromium(weekly_run, tmp_path, report, sections):
    page = next(weekly_run.glob(f"{report}*.html"))
    shot = weekly_run / f"{page.stem}.png"
    seen = visit(page, tmp_path / "profile", screenshot=shot)
    assert seen.console == [], seen.console
    assert seen.requests == [], seen.requests
    for section in sections:
        assert f">{section}</h2>" in seen.dom, section
    assert 'class="cl-toc"' in seen.dom
    text = page.read_text()  # every chart is described for screen readers
    assert text.count("<img") == text.count('alt="Chart.') > 0
    assert shot.is_file() and shot.stat().st_size > 10_000


def test_a_hostile_customer_name_is_escaped_in_every_report(ledger_copy, tmp_path):
    customers = pd.read_csv(ledger_copy / "customers.csv", dtype=str)
    evil = '<script>alert("pwned")</script><img src=x onerror=alert(1)>'
    customers.loc[0, "name"] = evil
    customers.to_csv(ledger_copy / "customers.csv", index=False)
    cid = customers.loc[0, "customer_id"]
    out = tmp_path / "runs"
    for args in (("weekly",), ("review", "--customer", cid)):
        result = creditlab(
            "-q",
            "run",
            *args,
            "--params",
            "params/ci.yaml",
            "--data",
            str(ledger_copy),
            "--out",
            str(out),
        )
        assert result.returncode == 0, result.stderr
    pages = sorted(out.glob("*/*.html"))
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
    review = next(out.glob(f"*/customer_review_{cid}.html")).read_text()
    assert (
        "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;" in review
        or "&lt;script&gt;alert(" in review
    )
