"""The run folder: one home for every artifact's name, the output folder's layout, typed readers.

A run lives in ``<out>/.work/<run_id>`` while it runs and becomes ``<out>/<run_id>`` when every
report rendered (``<out>/latest`` then points to it), or ``<out>/failed/<run_id>`` when a step
failed. A run killed mid-way (kill -9, power loss) leaves its work folder behind with ``status:
running``; its lock file is held by no live process, so :meth:`Outputs.interrupted` finds it and
:meth:`Outputs.clean_interrupted` moves it to ``failed/`` marked ``interrupted``.

Every file a run writes is named here (``FILES`` describes each: who writes it, who reads it, its
contract columns), so a stage, a report section or the index page never spells a file name itself.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fcntl
import json
import os
import secrets
from pathlib import Path
from typing import Any

import pandas as pd

from creditlab.ledger.schema import CUSTOMER_ID, INVOICE_ID

__all__ = [
    "FILES",
    "Artifact",
    "Outputs",
    "RunFolder",
    "RunLock",
    "WORK_DIR",
    "REPORTS",
    "INDEX_FILE",
    "INDEX_JSON",
    "FAILED_DIR",
    "LATEST",
    "interrupted_manifest",
    "new_run_dir",
    "INPUTS_FILE",
    "LEDGER_DIR",
    "MANIFEST_FILE",
    "REJECTS_FILE",
    "KPIS_FILE",
    "KPI_TABLES",
    "SCORES_FILE",
    "PD_MODEL_FILE",
    "PD_VALIDATED_FILE",
    "PD_SUMMARY_FILE",
    "FEATURES_FILE",
    "VALIDATION_SCORES_FILE",
    "PD_EFFECTS_FILE",
    "PD_BY_INDUSTRY_FILE",
    "PD_SNAPSHOTS_FILE",
    "PD_FEATURES_FILE",
    "PD_PREDICTIVE_FILE",
    "PD_PRIOR_SENSITIVITY_FILE",
    "PORTFOLIO_ROLL_RATES_FILE",
    "FORECAST_FILE",
    "CASH_FILE",
    "PAYMENT_CALENDAR_FILE",
    "PAYMENT_MODEL_FILE",
    "PAYMENT_SUMMARY_FILE",
    "DECISIONS_FILE",
    "TABLE_FILE",
    "SEGMENTS_FILE",
    "LIMITS_FILE",
    "ECL_FILE",
    "ECL_BY_GROUP_FILE",
    "PROVISION_MATRIX_FILE",
    "ROLL_RATES_FILE",
    "PROVISION_TOTALS_FILE",
    "WORKLIST_FILE",
    "ALERTS_FILE",
    "ACTIONS_FILE",
    "SIGNALS_FILE",
    "CONTACT_EFFECT_FILE",
    "REMINDERS_FILE",
    "DRAFTS_DIR",
    "DRAFTS_PAGE",
    "TERMS_FILE",
    "SCENARIOS_FILE",
    "GRADE_CALIBRATION_FILE",
    "PORTFOLIO_LOSS_FILE",
    "LOSS_DISTRIBUTION_FILE",
    "LOSS_CONTRIBUTIONS_FILE",
    "LOSS_CURVE_FILE",
]

# --- the run folder's files (names other parts rely on: they are contracts) -----------------
MANIFEST_FILE = "manifest.json"
INPUTS_FILE, REJECTS_FILE, LEDGER_DIR = "inputs.json", "rejects.csv", "ledger"
KPIS_FILE = "kpis.json"
KPI_TABLES = {  # the weekly KPIs' tables, one Parquet file each
    "aging": "kpi_aging.parquet",
    "trend": "kpi_trend.parquet",
    "at_risk": "kpi_at_risk.parquet",
    "exposure": "kpi_exposure.parquet",
    "industries": "kpi_industries.parquet",
    "currencies": "kpi_currencies.parquet",
}
SCORES_FILE, PD_MODEL_FILE = "scores.parquet", "pd_model.nc"
PD_VALIDATED_FILE = "pd_model_validated.nc"  # the validated fit, when the scores' is a refit
PD_SUMMARY_FILE, FEATURES_FILE = "pd_validation.json", "score_features.parquet"
VALIDATION_SCORES_FILE = "pd_validation_scores.parquet"
PD_EFFECTS_FILE, PD_BY_INDUSTRY_FILE = "pd_effects.csv", "pd_by_industry.csv"
PD_SNAPSHOTS_FILE, PD_FEATURES_FILE = "pd_snapshots.csv", "pd_features.csv"
PD_PREDICTIVE_FILE = "pd_predictive_checks.csv"
PD_PRIOR_SENSITIVITY_FILE = "pd_prior_sensitivity.csv"
FORECAST_FILE, CASH_FILE = "payment_forecast.csv", "cash_forecast.csv"
PAYMENT_MODEL_FILE, PAYMENT_SUMMARY_FILE = "payment_model.nc", "payment.json"
PAYMENT_CALENDAR_FILE = "payment_calendar.csv"
DECISIONS_FILE, TABLE_FILE = "decisions.json", "decision_table.parquet"
SEGMENTS_FILE, LIMITS_FILE, ECL_FILE = "segments.csv", "limits.csv", "ecl.csv"
ECL_BY_GROUP_FILE, PROVISION_MATRIX_FILE = "ecl_by_group.csv", "provision_matrix.csv"
ROLL_RATES_FILE, PROVISION_TOTALS_FILE = "roll_rates.csv", "provision_totals.csv"
PORTFOLIO_ROLL_RATES_FILE = "roll_rates_portfolio.csv"
WORKLIST_FILE, ALERTS_FILE, TERMS_FILE = "worklist.csv", "alerts.csv", "terms.csv"
ACTIONS_FILE = "actions.csv"
SIGNALS_FILE, CONTACT_EFFECT_FILE = "signals.csv", "contact_effect.csv"
REMINDERS_FILE, DRAFTS_DIR = (
    "reminders.csv",
    "drafts",
)  # drafts/<draft_id>.eml and drafts/index.html
DRAFTS_PAGE = f"{DRAFTS_DIR}/index.html"
SCENARIOS_FILE, GRADE_CALIBRATION_FILE = "scenarios.csv", "grade_calibration.csv"
PORTFOLIO_LOSS_FILE, LOSS_CURVE_FILE = "portfolio_loss.json", "loss_curve.csv"
LOSS_DISTRIBUTION_FILE, LOSS_CONTRIBUTIONS_FILE = "loss_distribution.csv", "loss_contributions.csv"
LOCK_FILE = ".lock"

# --- the reports a run renders (notebooks/reports/<name>.ipynb -> <name>.html) ----------------
REPORTS = ("weekly_portfolio", "model_validation", "customer_review")

# --- the output folder's layout ---------------------------------------------------------------
WORK_DIR, FAILED_DIR, LATEST = ".work", "failed", "latest"
INDEX_FILE, INDEX_JSON = "index.html", "index.json"  # a batch's index page and its data


@dataclasses.dataclass(frozen=True)
class Artifact:
    """One file of a run folder: who writes it, who reads it, what it holds."""

    name: str
    written_by: str
    read_by: str
    holds: str


FILES = (
    Artifact(MANIFEST_FILE, "run.orchestrate", "deliver, report.index_page, schedule, run.queries",
             "status, step, params, data hash, versions, KPIs, stage summaries, timings, delivery"),
    Artifact(INPUTS_FILE, "run.prepare", "run.prepare.open_run",
             "as-of date, source, data hash, read/loaded/rejected counts, notes, resolved params"),
    Artifact(REJECTS_FILE, "run.prepare", "report.weekly (data quality)",
             "file, row, record_id, column, value, reason"),
    Artifact(LEDGER_DIR, "run.prepare", "run.prepare.open_run",
             "customers/invoices/events/credit_notes.parquet: the validated ledger"),
    Artifact(KPIS_FILE, "run.stages.kpis", "run.orchestrate (manifest), report.weekly",
             "headline KPIs: open AR, overdue, DSO, CEI, utilisation, concentration"),
    *(
        Artifact(name, "run.stages.kpis", "report.weekly", f"KPI table: {key}")
        for key, name in KPI_TABLES.items()
    ),
    Artifact(SCORES_FILE, "run.stages.pd", "run.stages.decisions, report.pd_section",
             "customer_id, pd_mean, pd_lo, pd_hi, industry, in_default, evidence, thin_file, name, "
             "pd_previous, pd_change"),
    Artifact(PD_MODEL_FILE, "run.stages.pd", "run.queries, run.stages.decisions, report",
             "PD posterior (NetCDF) with provenance: the fit the scores come from"),
    Artifact(PD_VALIDATED_FILE, "run.stages.pd", "(audit)",
             "the validated PD fit, when the scores come from a refit on all months (hazard)"),
    Artifact(PD_SUMMARY_FILE, "run.stages.pd", "report.pd_section, report.validation_section",
             "PD fit summary: gate, counts, metrics, comparison, calibration (or why skipped)"),
    Artifact(FEATURES_FILE, "run.stages.pd", "run.stages.decisions, run.queries, report",
             "the as-of features the portfolio was scored on"),
    Artifact(VALIDATION_SCORES_FILE, "run.stages.pd", "run.stages.decisions, report",
             "customer_id, default_12m, pd_mean: out-of-time outcomes and PDs"),
    Artifact(PD_EFFECTS_FILE, "run.stages.pd", "report.pd_section",
             "predictor, bin, mean, lo, hi, reading: log-odds effects with intervals"),
    Artifact(PD_BY_INDUSTRY_FILE, "run.stages.pd", "report.pd_section",
             "industry, customers, mean, lo, hi: average PD per industry from the draws"),
    Artifact(PD_SNAPSHOTS_FILE, "run.stages.pd", "report.validation_section",
             "snapshot, rows, defaults, rate: the training data per snapshot"),
    Artifact(PD_FEATURES_FILE, "run.stages.pd", "report.validation_section",
             "feature, missing, mean_train, mean_defaulters"),
    Artifact(PD_PREDICTIVE_FILE, "run.stages.pd", "report.validation_section",
             "by, group, observed, mean, lo, hi, inside: posterior predictive checks"),
    Artifact(PD_PRIOR_SENSITIVITY_FILE, "run.stages.pd", "report.validation_section",
             "prior, mean_pd, mean_abs_change, max_abs_change, pareto_k, reliable: power-scaled priors"),
    Artifact(FORECAST_FILE, "run.stages.payment", "run.stages.decisions, report.payment_section",
             "invoice_id, customer_id, p_paid_by_due, p_dpd30/60/90, expected_paid_on, paid_on_lo/hi, "
             "p_unpaid_1y, p_stall, in_stall, promised_on, p_keep_promise"),
    Artifact(CASH_FILE, "run.stages.payment", "report.payment_section",
             "week, week_start, week_end, expected, lo, hi, segment"),
    Artifact(PAYMENT_CALENDAR_FILE, "run.stages.payment", "report.customer_section",
             "customer_id, payments, share_mon..share_sun, share_month_end, pays_on, median_days, "
             "median_lo/hi"),
    Artifact(PAYMENT_MODEL_FILE, "run.stages.payment", "report",
             "payment-timing posterior (NetCDF) with provenance"),
    Artifact(PAYMENT_SUMMARY_FILE, "run.stages.payment", "report.payment_section",
             "payment fit summary: gate, counts, effects in days, collections"),
    Artifact(DECISIONS_FILE, "run.stages.decisions", "report.decisions_section",
             "decision totals, notes, what was left out and why, timings"),
    Artifact(TABLE_FILE, "run.stages.decisions", "run.queries (approve, what-if), widgets",
             "everything per customer: segments, PD interval, exposure, limits, ECL"),
    Artifact(SEGMENTS_FILE, "run.stages.decisions", "report.decisions_section",
             "customer_id, grade, segment, policy, then risk, behaviour, value, terms, limit policy"),
    Artifact(LIMITS_FILE, "run.stages.decisions", "report.decisions_section",
             "customer_id, current_limit, recommended_limit, rationale, change, ..."),
    Artifact(ECL_FILE, "run.stages.decisions", "report.decisions_section",
             "customer_id, ead, pd_mean, lgd, ecl_mean, ecl_lo, ecl_hi"),
    Artifact(ECL_BY_GROUP_FILE, "run.stages.decisions", "report.decisions_section",
             "group_by, group, customers, ead, ecl_mean, ecl_lo, ecl_hi"),
    Artifact(PROVISION_MATRIX_FILE, "run.stages.decisions", "report.decisions_section",
             "segment, bucket, balance, loss_rate_mean/lo/hi, allowance_mean/lo/hi"),
    Artifact(ROLL_RATES_FILE, "run.stages.decisions", "report.decisions_section",
             "segment, bucket, observed, paid, stayed, rolled_on, loss"),
    Artifact(PORTFOLIO_ROLL_RATES_FILE, "run.stages.decisions", "report.decisions_section",
             "bucket, observed, paid, stayed, rolled_on, loss: all segments, weighted by invoices"),
    Artifact(PROVISION_TOTALS_FILE, "run.stages.decisions", "report.decisions_section",
             "scenario, allowance_mean, allowance_lo, allowance_hi"),
    Artifact(WORKLIST_FILE, "run.stages.decisions", "report.decisions_section, widgets",
             "rank, invoice_id, customer_id, name, policy, open_amount, dpd, ..., p_invoice_90dpd, "
             "cash_at_risk, extra_cash (_lo, _hi), action, relationship, contact_day, contact_on, "
             "approval"),
    Artifact(CONTACT_EFFECT_FILE, "run.stages.decisions", "report.collections_section",
             "kind (reminder, call), contacts, invoices, payments_after, days_after, hazard_ratio "
             "(_lo, _hi), p_helps, lift (_lo, _hi), note"),
    Artifact(SIGNALS_FILE, "run.stages.decisions", "report.customer_section",
             "customer_id, promises kept/broken/pending, open disputes and complaints, last contact, "
             "bank change, bureau score and its change, adverse media, insolvency notice, "
             "payment shift (shift_from, shift_days, days_before/after, n_before/after, shift_z)"),
    Artifact(REMINDERS_FILE, "run.stages.collections", "deliver (sending), report.collections_section, report.this_week",
             "draft_id, customer_id, name, to, language, tone, send_on, invoices, amount, currency, "
             "max_dpd, subject, body, why, file"),
    Artifact(DRAFTS_DIR, "run.stages.collections", "the collectors (their mail program), deliver",
             "<draft_id>.eml (unsent plain-text drafts) and index.html (every draft on one page)"),
    Artifact(ALERTS_FILE, "run.stages.decisions", "report, run.queries.customers_to_review",
             "customer_id, name, alert, severity, detail"),
    Artifact(ACTIONS_FILE, "run.stages.decisions", "report.this_week",
             "rank, customer_id, name, action, amount, amount_is, worth, reason, owner"),
    Artifact(TERMS_FILE, "run.stages.decisions", "report.decisions_section",
             "customer_id, annual_sales, days_to_pay, discount_* and factoring_* values, suggestion"),
    Artifact(SCENARIOS_FILE, "run.stages.decisions", "report.decisions_section",
             "scenario, multipliers, mean_pd, ecl_*, allowance_*, recommended_limits, limits_cut, ..."),
    Artifact(GRADE_CALIBRATION_FILE, "run.stages.decisions", "report.validation_section",
             "grade, band, n, defaults, mean_pd, observed_rate, rate_lo, rate_hi, p_value, consistent, pt_upper"),
    Artifact(PORTFOLIO_LOSS_FILE, "run.stages.portfolio_loss", "report.loss_section, run.queries",
             "loss simulation summary: scenarios, EL, VaR, ES, reserve, correlation prior/posterior "
             "and draws, concentration, insured exposure, what was left out and why"),
    Artifact(LOSS_DISTRIBUTION_FILE, "run.stages.portfolio_loss", "report.loss_section",
             "measure, level, gross, net, lo, hi (gross's interval over the posterior), net_lo, "
             "net_hi, posterior_share, mc_se, one_factor, granularity_adjustment"),
    Artifact(LOSS_CONTRIBUTIONS_FILE, "run.stages.portfolio_loss",
             "report.loss_section, report.customer_section",
             "customer_id, sector, ead, insured, el, es_contribution, net_es_contribution, "
             "insured_limit, indemnity, uninsured, name, industry, grade"),
    Artifact(LOSS_CURVE_FILE, "run.stages.portfolio_loss", "report.loss_section",
             "loss, p_exceed_gross, p_exceed_net: the exceedance curve"),
)  # fmt: skip

_ID_DTYPES = {CUSTOMER_ID: "string", INVOICE_ID: "string", "segment": "string"}


@dataclasses.dataclass(frozen=True)
class RunFolder:
    """A run folder and typed access to its artifacts (missing files read as ``None``)."""

    path: Path

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    def has(self, name: str) -> bool:
        """Whether the run wrote ``name``."""
        return (self.path / name).exists()

    def read_json(self, name: str) -> dict[str, Any] | None:
        """A JSON artifact, or None when the run has none."""
        path = self.path / name
        return json.loads(path.read_text()) if path.is_file() else None

    def write_json(self, name: str, content: dict[str, Any]) -> None:
        """Write a JSON artifact (``default`` turns numpy numbers and dates into JSON)."""
        from creditlab.provenance import json_default

        (self.path / name).write_text(json.dumps(content, indent=2, default=json_default) + "\n")

    def read_csv(self, name: str) -> pd.DataFrame | None:
        """A CSV artifact with its id columns as strings, or None when the run has none."""
        path = self.path / name
        if not path.is_file():
            return None
        return pd.read_csv(path, dtype=_ID_DTYPES)

    def read_parquet(self, name: str) -> pd.DataFrame | None:
        """A Parquet artifact, or None when the run has none."""
        path = self.path / name
        return pd.read_parquet(path) if path.is_file() else None


class RunLock:
    """An exclusive lock on a run's work folder, held for as long as the run's process lives.

    The operating system releases it when the process ends in any way (kill -9 included), so a
    work folder whose lock can be taken belongs to no live run.
    """

    def __init__(self, run_dir: Path):
        self._path = Path(run_dir) / LOCK_FILE
        self._file = open(self._path, "w")  # noqa: SIM115 (held until release)
        fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def release(self) -> None:
        """Release the lock and remove the lock file."""
        self._path.unlink(missing_ok=True)
        fcntl.flock(self._file, fcntl.LOCK_UN)
        self._file.close()

    @staticmethod
    def held(run_dir: Path) -> bool:
        """Whether a live process holds ``run_dir``'s lock."""
        path = Path(run_dir) / LOCK_FILE
        if not path.is_file():
            return False
        with open(path) as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle, fcntl.LOCK_UN)
            return False


@dataclasses.dataclass(frozen=True)
class Outputs:
    """An output folder (``--out``): finished runs, ``.work/``, ``failed/`` and ``latest``."""

    root: Path

    @property
    def work(self) -> Path:
        """Where runs work until they finish (``.work``)."""
        return self.root / WORK_DIR

    @property
    def failed(self) -> Path:
        """Where failed and interrupted runs are kept (``failed``)."""
        return self.root / FAILED_DIR

    @property
    def latest(self) -> Path:
        """The link to the newest finished run (``latest``)."""
        return self.root / LATEST

    def new_run(self, report: str) -> Path:
        """A fresh work folder ``.work/<UTC timestamp>-<report>-<random>``."""
        return new_run_dir(self.work, report)

    def complete(self, work: Path) -> Path:
        """Move a finished work folder into place and point ``latest`` to it."""
        final = self.root / work.name
        os.replace(work, final)
        tmp = self.root / f".latest-{os.getpid()}"
        tmp.unlink(missing_ok=True)
        os.symlink(final.name, tmp)
        os.replace(tmp, self.latest)
        return final

    def fail(self, work: Path) -> Path:
        """Move a failed work folder to ``failed/``."""
        failed = self.failed / work.name
        failed.parent.mkdir(parents=True, exist_ok=True)
        os.replace(work, failed)
        return failed

    def interrupted(self) -> list[Path]:
        """Work folders whose run no live process holds (killed mid-way), oldest first."""
        if not self.work.is_dir():
            return []
        return sorted(
            path
            for path in self.work.iterdir()
            if path.is_dir() and (path / MANIFEST_FILE).is_file() and not RunLock.held(path)
        )

    def clean_interrupted(self) -> list[Path]:
        """Mark every interrupted run ``interrupted`` and move it to ``failed/``; returns where."""
        from creditlab.run.manifest import read_manifest, write_manifest

        moved = []
        for work in self.interrupted():
            manifest = read_manifest(work)
            if manifest.get("status") == "running":
                manifest.update(interrupted_manifest(manifest, work))
                write_manifest(work / MANIFEST_FILE, manifest)
            for path in work.glob("*.html"):
                path.unlink()
            moved.append(self.fail(work))
        return moved


def interrupted_manifest(manifest: dict[str, Any], work: Path) -> dict[str, Any]:
    """The fields that mark a run found ``running`` with no live process as interrupted."""
    stamp = dt.datetime.fromtimestamp((work / MANIFEST_FILE).stat().st_mtime, dt.UTC)
    return {
        "status": "interrupted",
        "failed_step": manifest.get("step", "?"),
        "error": "the run was interrupted (its process ended without finishing: killed, "
        "out of memory or power loss)",
        "finished_at": stamp.isoformat(timespec="seconds"),
    }


def new_run_dir(parent: str | Path, report: str) -> Path:
    """A fresh run folder ``<parent>/<UTC timestamp>-<report>-<random>``."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    run_dir = Path(parent) / f"{stamp}-{report}-{secrets.token_hex(2)}"
    run_dir.mkdir(parents=True, exist_ok=False)
    return run_dir
