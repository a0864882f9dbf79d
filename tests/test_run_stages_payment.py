"""The payment stage in a run: the contract files, their consistency with the ledger, the worklist
and alerts that use them, and bad params caught before sampling."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from helpers import creditlab

from creditlab import kpi
from creditlab.errors import ConfigError, ConvergenceError
from creditlab.ledger.synth import SynthConfig, synthesize
from creditlab.models.payment_data import payment_frame
from creditlab.report.payment_section import _due_week_in_cash, _stall_in_cash
from creditlab.run.prepare import open_run
from creditlab.run.settings import parse_payment_settings
from creditlab.run.stages.payment import FORECAST_COLUMNS, PAYMENT_ADVICE, fit_until_converged
from creditlab.signals import promise_outcomes


def _read(run_dir, name):
    return pd.read_csv(run_dir / name, dtype={"invoice_id": "string", "customer_id": "string"})


def test_payment_forecast_covers_every_open_invoice(weekly_run):
    f = _read(weekly_run, "payment_forecast.csv")
    assert list(f.columns[: len(FORECAST_COLUMNS)]) == FORECAST_COLUMNS
    run = open_run(weekly_run)
    items = kpi.open_items(run.ledger.invoices, run.as_of)
    assert sorted(f["invoice_id"]) == sorted(items["invoice_id"].astype(str))
    assert f["open_amount"].sum() == pytest.approx(items[kpi.OPEN_AR].sum())
    p = f[["p_paid_by_due", "p_dpd30", "p_dpd60", "p_dpd90"]]
    assert ((p >= 0) & (p <= 1)).all().all()
    assert (f["p_dpd30"] >= f["p_dpd60"] - 1e-9).all() and (
        f["p_dpd60"] >= f["p_dpd90"] - 1e-9
    ).all()
    overdue = f["days_past_due"] > 0
    assert (f.loc[overdue, "p_paid_by_due"] == 0).all()  # already past its due date
    assert (f.loc[f["days_past_due"] >= 30, "p_dpd30"] == 1).all()
    dated = f.dropna(subset=["expected_paid_on"])
    assert (pd.to_datetime(dated["expected_paid_on"]) > pd.Timestamp(run.as_of)).all()
    both = f.dropna(subset=["paid_on_lo", "paid_on_hi"])
    assert (pd.to_datetime(both["paid_on_lo"]) <= pd.to_datetime(both["paid_on_hi"])).all()
    assert (pd.to_datetime(f["paid_on_lo"].dropna()) > pd.Timestamp(run.as_of)).all()
    # a fresh, undisputed invoice of a prompt customer is likelier paid on time than overdue ones
    assert f.loc[~overdue, "p_paid_by_due"].mean() > 0.3


def test_stalled_invoices_are_forecast_as_recoveries(weekly_run):
    f = _read(weekly_run, "payment_forecast.csv")
    run = open_run(weekly_run)
    ev = run.ledger.events
    hit = ev.loc[ev["kind"].isin(["write_off", "insolvency", "collections_agency"])]
    hit = hit.loc[hit["event_on"] <= pd.Timestamp(run.as_of), "customer_id"].astype(str)
    # stalled: 90+ days past due, or of a customer with a default event (open at or after it)
    expected = (f["days_past_due"] >= 90) | f["customer_id"].isin(set(hit))
    assert f["in_stall"].sum() > 0 and (f["in_stall"] == expected).all()
    assert (f.loc[f["in_stall"], "p_stall"] == 1).all()
    fresh = f.loc[~f["in_stall"]]
    assert ((fresh["p_stall"] >= 0) & (fresh["p_stall"] < 1)).all()
    # the customer's default chance (the PD model's; not for customers already in default: the
    # ledger's state decides theirs) moves invoices not yet due towards the stall
    scores = pd.read_parquet(weekly_run / "scores.parquet").set_index("customer_id")["pd_mean"]
    young = fresh.assign(pd=fresh["customer_id"].map(scores))
    young = young.loc[(young["days_past_due"] < 0) & (young["pd"] < 1)]
    assert len(young) > 50
    assert np.corrcoef(np.log(young["p_stall"]), np.log(young["pd"]))[0, 1] > 0.5
    # the forecast says whose PD drove the default path (scored, not in default), and there the
    # worklist's chance of 90+ DPD or default is the stall's, not combined with the PD again
    in_default = pd.read_parquet(weekly_run / "scores.parquet").set_index("customer_id")
    scored = f["customer_id"].map(~in_default["in_default"].astype(bool)).fillna(False)
    assert (f["with_pd"] == scored).all() and f["with_pd"].sum() > 50
    work = _read(weekly_run, "worklist.csv").merge(f[["invoice_id", "p_stall", "with_pd"]])
    joint = work.loc[work["with_pd"]]
    assert len(joint) > 10 and np.allclose(joint["p_at_risk"], joint["p_stall"])
    # a stalled invoice is far less likely paid within a year than an ordinary one
    assert f.loc[f["in_stall"], "p_unpaid_1y"].mean() > 5 * fresh["p_unpaid_1y"].mean()
    s = json.loads((weekly_run / "payment.json").read_text())["stall"]
    assert s["default_from_pd"] and s["open_invoices_in_stall"] == int(f["in_stall"].sum())
    assert s["invoices"] >= s["payments"] > 0
    paid = s["paid_by_365"]
    assert 0 < paid["lo"] <= paid["mean"] <= paid["hi"] < 1
    validation = (weekly_run / "model_validation.html").read_text()
    assert "Stalled invoices are modelled apart" in validation
    assert not s["cleared_only"] and "cleared items" not in validation  # it has unpaid invoices
    assert "already stalled" in (weekly_run / "weekly_portfolio.html").read_text()


def test_pending_promises_move_their_invoices_forecasts(weekly_run):
    f = _read(weekly_run, "payment_forecast.csv").set_index("invoice_id")
    run = open_run(weekly_run)
    outcomes = promise_outcomes(run.ledger.events, run.ledger.invoices, run.as_of)
    pending = outcomes.loc[outcomes["status"] == "pending"].groupby("invoice_id").last()
    pending = pending.loc[pending.index.isin(f.index)]
    assert len(pending) >= 1  # the CI portfolio has promises pending at its as-of date
    assert f.loc[pending.index, "p_keep_promise"].between(0.2, 1.0).all()
    promised_on = pd.to_datetime(f.loc[pending.index, "promised_on"])
    assert (promised_on == pd.to_datetime(pending["promised_on"])).all()
    assert f.drop(pending.index)["p_keep_promise"].isna().all()
    s = json.loads((weekly_run / "payment.json").read_text())["promises"]
    assert s["pending"] == len(pending) and s["kept"] + s["broken"] > 20
    assert s["keep_rate_lo"] < s["keep_rate"] < s["keep_rate_hi"]
    html = (weekly_run / "weekly_portfolio.html").read_text()
    assert f"{len(pending)} open invoices" in html and "pending promise to pay" in html


def test_cash_forecast_weeks_segments_and_intervals(weekly_run):
    cash = pd.read_csv(weekly_run / "cash_forecast.csv")
    s = json.loads((weekly_run / "payment.json").read_text())
    whole = cash.loc[cash["segment"] == "portfolio"]
    assert list(whole["week"]) == list(range(1, s["weeks"] + 1))
    assert (cash["lo"] <= cash["hi"]).all() and (cash["expected"] >= 0).all()
    assert whole["expected"].sum() <= s["open_amount"]
    assert whole["expected"].sum() == pytest.approx(s["collections"]["expected"], rel=1e-6)
    parts = cash.loc[cash["segment"] != "portfolio"].groupby("week")["expected"].sum()
    assert parts.to_numpy() == pytest.approx(whole["expected"].to_numpy())
    assert set(cash["segment"]) - {"portfolio"} <= {
        "new",
        "deteriorating",
        "prompt",
        "erratic",
        "slow-but-steady",
        "unknown",
    }
    weeks = pd.to_datetime(whole["week_end"]) - pd.to_datetime(whole["week_start"])
    assert (weeks.dt.days == 6).all()


def test_worklist_and_alerts_use_the_payment_model(weekly_run):
    f = _read(weekly_run, "payment_forecast.csv").set_index("invoice_id")
    work = _read(weekly_run, "worklist.csv")
    assert len(work)
    assert np.allclose(work["p_invoice_90dpd"], f.loc[work["invoice_id"], "p_dpd90"])
    decisions = json.loads((weekly_run / "decisions.json").read_text())
    assert decisions["worklist"]["p_invoice_source"] == "payment-timing model"
    found = _read(weekly_run, "alerts.csv")
    likely = f.loc[(f["days_past_due"] < 30) & (f["p_dpd30"] >= 0.5), "customer_id"]
    flagged = found.loc[found["alert"] == "likely 30+ DPD", "customer_id"]
    assert sorted(set(flagged)) == sorted(set(likely))
    manifest = json.loads((weekly_run / "manifest.json").read_text())
    summary = json.loads((weekly_run / "payment.json").read_text())
    assert manifest["payment_model"]["gate"] == summary["gate"]  # the manifest holds the gate
    assert "payments" in manifest["timings_s"]


def test_reports_show_the_payment_sections(weekly_run):
    weekly = (weekly_run / "weekly_portfolio.html").read_text()
    assert "Cash forecast" in weekly and "Invoices heading into arrears" in weekly
    assert "expects" in weekly and "P(30+ DPD)" in weekly
    # params/ci.yaml: the payer's country and TARGET2
    assert "No payment is forecast on a bank holiday (calendars: each customer" in weekly
    assert "country, ECB): its share goes to the next day banks are open" in weekly
    # the due weeks' common factor, as learnt, said in the cash section
    due_week = json.loads((weekly_run / "payment.json").read_text())["due_week"]
    assert 0 <= due_week["rho"] <= 0.9 and due_week["weeks"] >= 0
    assert _due_week_in_cash({"due_week": due_week}) in weekly
    # every customer with own_shape_min_invoices invoices by the as-of date has its own shape
    summary = json.loads((weekly_run / "payment.json").read_text())
    run = open_run(weekly_run)
    issued = run.ledger.invoices.loc[run.ledger.invoices["issued_on"] <= pd.Timestamp(run.as_of)]
    rich = issued.groupby("customer_id").size() >= summary["model_config"]["own_shape_min_invoices"]
    assert summary["own_shapes"] == rich.sum()
    validation = (weekly_run / "model_validation.html").read_text()
    assert ("Customers' own shapes" in validation) == (rich.sum() > 0)
    # the calendars' pooling, learnt (calendar_prior_payments: auto) and said
    k = summary["calendar_pooling"]
    assert 0.5 <= k <= 5000 and f"borrow {k:,.3g} payments' worth" in validation
    assert "Payment-timing model" in validation and "invoice disputed" in validation
    assert "Payment-timing model convergence diagnostics" in weekly  # appendix
    review = next(weekly_run.glob("customer_review_*.html")).read_text()
    assert "Expected paid on" in review and "P(90+ DPD)" in review and "P(stalls)" in review


@pytest.mark.parametrize(
    "stall, says, not_said",
    [
        (  # nothing stalled, nothing expected to stall: said in words, no cleared-only caveat
            {"open_invoices_in_stall": 0, "open_amount_in_stall": 0.0},
            ["No open invoice is stalled", "none is expected to stall."],
            ["already stalled", "likely too high", " 0 EUR"],
        ),
        (
            {"open_invoices_in_stall": 0, "open_amount_in_stall": 0.0, "entering": 1234.0},
            ["No open invoice is stalled", "; 1,234 EUR is expected to stall."],
            ["already stalled", "likely too high", "none is"],
        ),
        (
            {"open_invoices_in_stall": 3, "open_amount_in_stall": 5000.0, "entering": 20.0},
            ["5,000 EUR (3 invoices) is already stalled", "a further 20 EUR is expected"],
            ["No open invoice", "none is"],
        ),
    ],
)
def test_cash_sentence_on_the_stall_says_nil_in_words(stall, says, not_said):
    st = {"expected_amount_entering": stall.pop("entering", 0.0), "cleared_only": True, **stall}
    text = _stall_in_cash({"stall": st}, "EUR")
    for part in says:
        assert part in text
    for part in not_said:
        assert part not in text
    # the cleared-only caveat is about stalled cash, so it is said only when something is stalled
    assert ("likely too high" in text) == (st["open_invoices_in_stall"] > 0)


@pytest.mark.parametrize(
    "section, message",
    [
        ({"weeks": 0}, "payment_model.weeks"),
        ({"segment_by": "colour"}, "payment_model.segment_by"),
        ({"horizon": 13}, "horizon"),
        ({"model": {"edges": [-7, 0, 30, 60, 120]}}, "payment_model.model: edges must include 90"),
        ({"sampler": {"sampler": "gibbs"}}, "payment_model.sampler: sampler must be"),
        ({"extend_rounds": 5}, "payment_model.extend_rounds: 0 to 3"),
    ],
)
def test_bad_payment_params_are_clear_errors(section, message):
    with pytest.raises(ConfigError, match=message):
        parse_payment_settings(section)


@pytest.mark.slow
def test_bad_payment_params_fail_before_any_data_or_sampling(tmp_path):
    params = yaml.safe_load(open("params/ci.yaml"))
    params["payment_model"]["model"] = {"covariates": ["disputed", "moon_phase"]}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(params))
    result = creditlab("run", "weekly", "--params", str(path), "--out", str(tmp_path / "runs"))
    assert result.returncode == 2
    assert "payment_model.model" in result.stderr and "moon_phase" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_a_fit_short_of_the_gate_is_extended_then_reported_with_its_worst_parameters():
    portfolio = synthesize(SynthConfig(customers=30, seed=4, years=1.0, regime_shift=False))
    frame = payment_frame(portfolio.invoices, portfolio.customers, portfolio.config.end)
    settings = parse_payment_settings(
        {
            "sampler": {"sampler": "nutpie", "draws": 30, "tune": 30, "chains": 2, "seed": 1},
            "gate": {"min_ess_bulk": 10_000},  # out of reach: every round falls short
            "extend_rounds": 1,
        }
    )
    model, extended, gate = fit_until_converged(frame, settings)
    assert extended == 1 and not gate.passed
    assert (model.sampler_config.tune, model.sampler_config.draws) == (60, 60)
    with pytest.raises(ConvergenceError, match=r"min bulk ESS = .*worst: .*what to change"):
        model.gate(settings.gate, advice=PAYMENT_ADVICE)


def test_a_due_week_correlation_that_rounds_to_zero_is_said_as_none():
    tiny = _due_week_in_cash({"due_week": {"rho": 0.004, "weeks": 215}})
    assert "showed no shared timing" in tiny and "widens" not in tiny
    assert "a correlation of 0.12" in _due_week_in_cash({"due_week": {"rho": 0.12, "weeks": 40}})
