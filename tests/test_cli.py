"""The console script end to end: synth, validate, ingest, run weekly, demo; exit codes and output."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from helpers import creditlab

from creditlab import kpi
from creditlab.cli import main
from creditlab.ledger.schema import REJECT_COLUMNS
from creditlab.report.tables import fmt_money
from creditlab.run.orchestrate import render_review
from creditlab.run.prepare import open_run

ROOT = Path(__file__).resolve().parents[1]


def test_synth_writes_ledger_and_truth(tmp_path, capsys):
    assert main(["-q", "synth", "--customers", "30", "--seed", "4", "--out", str(tmp_path)]) == 0
    for name in (
        "customers.csv",
        "invoices.csv",
        "events.csv",
        "truth/customers.csv",
        "truth/coefficients.csv",
        "truth/config.json",
    ):
        assert (tmp_path / name).is_file(), name
    assert capsys.readouterr().out.strip().splitlines()[-1] == str(tmp_path)
    assert len(pd.read_csv(tmp_path / "customers.csv")) == 30


def test_validate_reports_rejects_and_strict_fails(ledger_copy, tmp_path, capsys):
    inv = ledger_copy / "invoices.csv"
    lines = inv.read_text().splitlines()
    lines[2] = lines[2].replace('"EUR"', '"GBP"')
    inv.write_text("\n".join(lines) + "\n")
    rejects = tmp_path / "rejects.csv"
    assert (
        main(
            [
                "-q",
                "validate",
                "--data",
                str(ledger_copy),
                "--currency",
                "EUR",
                "--rejects",
                str(rejects),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    total = re.search(r"total: read ([\d,]+) = loaded ([\d,]+) \+ rejected ([\d,]+)", out)
    read, loaded, rejected = (int(g.replace(",", "")) for g in total.groups())
    assert read == loaded + rejected and rejected == 1
    table = pd.read_csv(rejects)
    assert list(table.columns) == REJECT_COLUMNS
    assert table.iloc[0]["row"] == 3 and table.iloc[0]["column"] == "currency"
    assert (
        main(["-q", "validate", "--data", str(ledger_copy), "--currency", "EUR", "--strict"]) == 4
    )


def test_structural_error_is_one_line_not_a_traceback(ledger_copy):
    (ledger_copy / "customers.csv").unlink()
    result = creditlab("validate", "--data", str(ledger_copy))
    assert result.returncode == 3
    assert "Traceback" not in result.stderr
    assert "customers table not found" in result.stderr


@pytest.mark.slow
def test_bad_params_file_is_a_config_error(tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text("title: x\nsynthetic: {customers: 5}\ncolour: blue\n")
    result = creditlab("run", "weekly", "--params", str(bad), "--out", str(tmp_path))
    assert result.returncode == 2 and "unknown key(s) ['colour']" in result.stderr


def test_ingest_twice_is_idempotent(ledger_copy, tmp_path, capsys):
    store = tmp_path / "s.duckdb"
    args = ["-q", "ingest", "--data", str(ledger_copy), "--store", str(store)]
    assert main(args) == 0
    capsys.readouterr()
    assert main(args) == 0
    assert "invoices: inserted 0, updated 0" in capsys.readouterr().out


@pytest.mark.slow
def test_weekly_run_writes_a_complete_run_folder(weekly_run):
    for name in (
        "weekly_portfolio.html",
        "weekly_portfolio.ipynb",
        "manifest.json",
        "rejects.csv",
        "inputs.json",
    ):
        assert (weekly_run / name).is_file(), name
    manifest = json.loads((weekly_run / "manifest.json").read_text())
    assert manifest["status"] == "succeeded"
    assert manifest["as_of"] == "2026-11-20"
    assert manifest["renderer"].startswith(("nbconvert", "quarto"))
    assert set(manifest["timings_s"]) == {
        "prepare",
        "kpis",
        "model",
        "payments",
        "decide",
        "loss",
        "execute",
        "render",
    }
    assert manifest["pd_model"]["gate"]["checks"] and manifest["pd_model"]["timings"]["fit_s"] > 0
    assert len(manifest["params_sha256"]) == 64 and manifest["versions"]["pandas"]
    for f in manifest["inputs"]:
        assert f["read"] == f["loaded"] + f["rejected"] and len(f["sha256"]) == 64


@pytest.mark.slow
def test_weekly_html_is_self_contained_escaped_and_matches_the_kpis(weekly_run):
    html = (weekly_run / "weekly_portfolio.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert not re.search(r"url\(\s*['\"]?https?:", html)
    assert html.count("data:image/png;base64,") >= 2
    for section in (
        "Portfolio overview",
        "Aging",
        "DSO and CEI trend",
        "At-risk rate",
        "Top exposures",
        "Limit breaches",
        "Exposure by industry",
        "Data quality",
        "Appendix: run record",
    ):
        assert f">{section}<" in html, section
    assert "<Group>" not in html and "&lt;Group&gt;" in html  # customer names are escaped
    run = open_run(weekly_run)
    head = kpi.headline(run.ledger.customers, run.ledger.invoices, run.as_of)
    assert f">{fmt_money(head['open_ar'])}<" in html
    assert f">{head['customers']:,}<" in html
    assert f"{head['dso']:.1f}" in html
    aging = kpi.aging(run.ledger.invoices, run.as_of)
    for value in aging["open_ar"]:
        assert f">{fmt_money(value)}<" in html
    assert ">def " not in html and "import creditlab" not in html  # code is hidden


@pytest.mark.slow
def test_failed_run_is_marked_failed_and_leaves_no_html(tmp_path):
    data = tmp_path / "empty"
    data.mkdir()
    result = creditlab(
        "run",
        "weekly",
        "--params",
        "params/ci.yaml",
        "--data",
        str(data),
        "--out",
        str(tmp_path / "runs"),
    )
    assert result.returncode == 3 and "invoices table not found" in result.stderr
    run_dir = next((tmp_path / "runs" / "failed").iterdir())  # failed runs never look finished
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "failed" and manifest["failed_step"] == "prepare"
    assert not (run_dir / "weekly_portfolio.html").exists()


@pytest.mark.slow
@pytest.mark.realdata
def test_weekly_run_on_the_real_ibm_ledger(ibm_ar_dir, tmp_path):
    result = creditlab(
        "run",
        "weekly",
        "--params",
        "params/ibm_ar.yaml",
        "--data",
        str(ibm_ar_dir),
        "--out",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    run_dir = Path(result.stdout.strip().splitlines()[-1])
    html = (run_dir / "weekly_portfolio.html").read_text()
    assert "no credit limits" in html and "derived from the invoices" in html
    # decisions that need no PD model run on the real ledger; the rest say why they are absent
    assert "no PD model in this run" in html and not (run_dir / "limits.csv").exists()
    assert "the loss distribution: no PD model (and so no decisions) in this run" in html
    matrix = pd.read_csv(run_dir / "provision_matrix.csv")
    run = open_run(run_dir)
    open_ar = kpi.customer_exposure(run.ledger.customers, run.ledger.invoices, run.as_of)["open_ar"]
    assert matrix["balance"].sum() == pytest.approx(open_ar.sum())
    work = pd.read_csv(run_dir / "worklist.csv")
    assert len(work) and work["contact_day"].notna().all()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert sum(f["rejected"] for f in manifest["inputs"]) == 0
    # the payment-timing model runs on the real ledger: paperless billing and disputes matter
    forecast = pd.read_csv(run_dir / "payment_forecast.csv", dtype={"invoice_id": "string"})
    items = kpi.open_items(run.ledger.invoices, run.as_of)
    assert sorted(forecast["invoice_id"]) == sorted(items["invoice_id"].astype(str))
    payment = json.loads((run_dir / "payment.json").read_text())
    assert payment["gate"]["passed"]
    shifts = {e["covariate"]: e["shift_days"] for e in payment["effects"]}
    assert shifts["disputed"] > 5 and shifts["paperless"] < -3
    assert "Cash forecast" in html and (run_dir / "cash_forecast.csv").is_file()
    # every invoice of the sample is paid (an export of cleared items) and none is stalled at the
    # as-of date: the cash section says so in words, without the caveat on stalled cash
    assert payment["stall"]["cleared_only"] and payment["stall"]["open_invoices_in_stall"] == 0
    assert "No open invoice is stalled" in html and "an export of cleared items" not in html


def weekly_with(params: dict, tmp_path: Path) -> Path:
    """Run `creditlab run weekly` on these params (written to a file); the run folder."""
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    result = creditlab(
        "run", "weekly", "--params", str(tmp_path / "params.yaml"), "--out", str(tmp_path / "out")
    )
    assert result.returncode == 0, result.stderr
    return Path(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.realdata
def test_init_then_a_weekly_run_on_the_real_highradius_export(highradius_dir, tmp_path):
    # a new user's path: init drafts the mapping from the file alone
    draft = creditlab(
        "init", "--data", str(highradius_dir / "invoices.csv"), "--out", str(tmp_path / "mine.yaml")
    )
    assert draft.returncode == 0, draft.stderr
    assert draft.stdout.strip().splitlines()[-1] == str(tmp_path / "mine.yaml")
    text = (tmp_path / "mine.yaml").read_text()
    assert "customer_id: cust_no" in text and "constant: {CAD: TODO}" in text
    assert "model: {holidays: FED}" in text  # US banks' holidays for a dollar ledger
    # the shipped params, with the payment model and the PD refit off to keep this test short
    # (the refit has its own test in test_run_stages_pd.py)
    params = yaml.safe_load(Path("params/highradius_ar.yaml").read_text())
    params.pop("payment_model")
    params["pd_model"]["refit"] = False
    params["data"] = str(highradius_dir)
    run_dir = weekly_with(params, tmp_path)
    html = (run_dir / "weekly_portfolio.html").read_text()
    assert "Exposure by currency" in html and "1 CAD = 0.7537 USD" in html
    assert "exact duplicate of row N" in html  # reasons grouped, not one line per row
    assert "300 merged" in html and "no credit limits" in html
    # ten months of history: a PD for every customer from the monthly hazard
    summary = json.loads((run_dir / "pd_validation.json").read_text())
    assert summary["design"] == "monthly hazard" and summary["gate"]["passed"]
    scores = pd.read_parquet(run_dir / "scores.parquet")
    assert len(scores) > 900 and scores[["pd_lo", "pd_mean", "pd_hi"]].notna().all().all()
    # a default needs a material amount 90+ DPD (the params' 500 USD and 1 %): not the retailer
    # whose 11 small invoices of 6,936 cleared 91-92 days late, nor the second largest customer
    in_default = scores.set_index("customer_id")["in_default"]
    assert not in_default[["200769623", "200762301"]].any()
    # 21 defaults by then; 7 are over (no invoice 90+ DPD since Jul 31: three months' probation)
    # and those customers are scored again, with a PD below 100 %
    assert in_default.sum() == 14 and summary["cured"] == 7
    cured = ["100021489", "140106181", "200900909", "CC7470"]
    assert not in_default[cured].any()
    assert (scores.set_index("customer_id").loc[cured, "pd_mean"] < 1).all()
    assert "90+ days past due adding up to at least 500 USD and 1% of the" in html
    assert "is over once 3 months have passed without any invoice 90+ days past due" in html
    run = open_run(run_dir)
    inv = run.ledger.invoices
    assert {"currency_original", "amount_original", "fx_rate"} <= set(inv.columns)
    currencies = pd.read_parquet(run_dir / "kpi_currencies.parquet").set_index("currency")
    open_ar = kpi.open_items(inv, run.as_of)["open_ar"].sum()
    assert currencies["open_ar"].sum() == pytest.approx(open_ar)
    assert set(currencies.index) == {"USD", "CAD"}
    # a Canadian customer's review shows what each open invoice was invoiced as
    review = render_review(run_dir, "140106181").read_text()
    assert ">Invoiced in<" in review and ">CAD<" in review and ">Amount (USD)<" in review
    assert "no credit limit on record" in review
    assert "The customer is in default." not in review  # its default is over (cure_months: 3)


@pytest.mark.slow
def test_credit_notes_run_end_to_end_netted_and_reported(ci_ledger, tmp_path):
    folder, target = ci_ledger
    data = tmp_path / "ledger"
    shutil.copytree(folder, data)
    invoices = pd.read_csv(data / "invoices.csv", dtype=str, keep_default_na=False)
    credits = pd.DataFrame(
        {
            "invoice_id": ["CN-1", "CN-2"],
            "customer_id": [target, target],
            "issued_on": ["2026-11-02", "2026-10-20"],
            "due_on": ["2026-11-02", "2026-10-20"],
            "amount": ["-1500.00", "-700.00"],
            "currency": ["EUR", "EUR"],
            "paid_on": ["", "2026-10-25"],  # CN-2 was applied before the as-of date
            "disputed": ["false", "false"],
        }
    )
    pd.concat([invoices, credits]).to_csv(data / "invoices.csv", index=False)
    params = yaml.safe_load(Path("params/ci.yaml").read_text())
    for section in ("pd_model", "payment_model", "decisions"):
        params.pop(section)
    params.pop("synthetic")
    params["data"] = str(data)
    run_dir = weekly_with(params, tmp_path)
    run = open_run(run_dir)
    assert sorted(run.ledger.credit_notes["invoice_id"]) == ["CN-1", "CN-2"]
    gross = kpi.open_items(run.ledger.invoices, run.as_of)
    gross = gross.loc[gross["customer_id"] == target, "open_ar"].sum()
    exposure = pd.read_parquet(run_dir / "kpi_exposure.parquet").set_index("customer_id")
    assert exposure.loc[target, "open_ar"] == pytest.approx(gross - 1500)
    kpis = json.loads((run_dir / "kpis.json").read_text())
    assert kpis["open_credits"] == 1500 and kpis["credit_notes_period"] == 2200
    html = (run_dir / "weekly_portfolio.html").read_text()
    assert ">Open credit notes<" in html and f">{fmt_money(1500)}<" in html and ">Dilution<" in html


@pytest.mark.slow
@pytest.mark.demo
def test_demo_prints_the_html_path_last(tmp_path):
    result = creditlab("demo", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    html = Path(result.stdout.strip().splitlines()[-1])
    assert html.name == "weekly_portfolio.html" and html.is_file()
    assert html.parent.parent == tmp_path
    assert (tmp_path / "demo.duckdb").is_file()  # its store (and cached fits) beside its runs
    # the demo also renders the model validation and three customer reviews beside it
    assert (html.parent / "model_validation.html").is_file()
    reviews = sorted(html.parent.glob("customer_review_*.html"))
    assert len(reviews) == 3 and all(r.with_suffix(".ipynb").is_file() for r in reviews)
    manifest = json.loads((html.parent / "manifest.json").read_text())
    assert set(manifest["reports"]) == {
        "weekly_portfolio",
        "model_validation",
        *(r.stem for r in reviews),
    }
