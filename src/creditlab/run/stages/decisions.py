"""The decisions stage of a run: segments, limits, ECL, provisions, worklist, alerts, terms, scenarios.

Runs after the PD stage, from its stored posterior (``pd_model.nc``) and as-of features, without
re-sampling, and writes into the run folder (names other parts rely on):

``segments.csv``, ``limits.csv``, ``ecl.csv``, ``provision_matrix.csv``, ``worklist.csv``,
``alerts.csv``, plus ``grade_calibration.csv``, ``roll_rates.csv`` (and the portfolio's,
``roll_rates_portfolio.csv``), ``provision_totals.csv``,
``terms.csv``, ``scenarios.csv``, ``decision_table.parquet`` (everything per customer, for order
checks and widgets) and ``decisions.json`` (totals, notes and what was left out, and why).

Without a PD model (disabled, or too few defaults to fit one) the PD-based parts are left out and
``decisions.json`` says so; the provision matrix, worklist and alerts still run.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from creditlab import kpi
from creditlab.decisions.actions import week_actions
from creditlab.decisions.draws import interval, lgd_draws, thin
from creditlab.decisions.limits import LIMIT_COLUMNS, recommend_limits
from creditlab.decisions.provisions import (
    ECL_COLUMNS,
    PROVISION_COLUMNS,
    ecl_by,
    ecl_table,
    portfolio_roll_rates,
    provision_matrix,
)
from creditlab.decisions.scenarios import scenario_grid
from creditlab.decisions.settings import DecisionSettings
from creditlab.decisions.terms import terms_economics
from creditlab.drift import payment_shifts
from creditlab.errors import ConfigError
from creditlab.ledger.schema import (
    CREDIT_LIMIT,
    CUSTOMER_ID,
    IN_DEFAULT,
    INDUSTRY,
    PAYMENT_TERMS_DAYS,
    PD_HI,
    PD_LO,
    PD_MEAN,
)
from creditlab.models.pd import PDModel
from creditlab.run.folder import (
    ACTIONS_FILE,
    ALERTS_FILE,
    CONTACT_EFFECT_FILE,
    DECISIONS_FILE,
    ECL_BY_GROUP_FILE,
    ECL_FILE,
    FEATURES_FILE,
    FORECAST_FILE,
    GRADE_CALIBRATION_FILE,
    LIMITS_FILE,
    PD_MODEL_FILE,
    PORTFOLIO_ROLL_RATES_FILE,
    PROVISION_MATRIX_FILE,
    PROVISION_TOTALS_FILE,
    ROLL_RATES_FILE,
    SCENARIOS_FILE,
    SCORES_FILE,
    SEGMENTS_FILE,
    SIGNALS_FILE,
    TABLE_FILE,
    TERMS_FILE,
    VALIDATION_SCORES_FILE,
    WORKLIST_FILE,
    RunFolder,
)
from creditlab.run.prepare import Run
from creditlab.run.stages.base import run_stage, timed
from creditlab.run.stages.collections import (
    collections_worklist,
    early_warnings,
    extra_cash_total,
    write_reminders,
)
from creditlab.segments import (
    SEGMENT_COLUMNS,
    grade_calibration,
    payment_behaviour,
    segment_customers,
    value_tiers,
)
from creditlab.signals import customer_signals, open_disputes

__all__ = [
    "DecisionStage",
    "check_labels",
    "decision_seed",
    "lgd_labels",
    "pd_draws",
    "run_decision_stage",
    "segment_label",
]

log = logging.getLogger(__name__)


def check_labels(
    settings: DecisionSettings, customers: pd.DataFrame, where: str = "decisions"
) -> None:
    """LGD priors by industry must name industries of the ledger (checked before sampling)."""
    if settings.lgd_by == "industry":
        bad = sorted(set(settings.lgd) - {"default", *customers[INDUSTRY].astype(str)})
        if bad:
            raise ConfigError(
                f"{where}.lgd: industries {bad} are not in the ledger; "
                f"its industries: {sorted(customers[INDUSTRY].astype(str).unique())}"
            )


def pd_draws(run_dir: Path, scores: pd.DataFrame, n: int, seed: int) -> np.ndarray:
    """Thinned posterior PD draws ``(draws, customers)`` in the order of ``scores``."""
    model = PDModel.load(run_dir / PD_MODEL_FILE)
    features = pd.read_parquet(run_dir / FEATURES_FILE)
    draws = thin(model.predict_draws(features, seed=seed), n)
    pos = pd.Index(features[CUSTOMER_ID]).get_indexer(scores[CUSTOMER_ID])
    draws = draws[:, pos]
    draws[:, scores[IN_DEFAULT].to_numpy(dtype=bool)] = 1.0
    return draws


def segment_label(table: pd.DataFrame | None, customers: pd.DataFrame, by: str) -> pd.Series | None:
    """Each customer's provision segment (industry or a segment column), or None for one segment."""
    if by == "none":
        return None
    if by == "industry":
        return customers.set_index(CUSTOMER_ID)[INDUSTRY].astype(str)
    if table is None:
        return None
    return table.set_index(CUSTOMER_ID)[by].astype(str)


def _customer_decisions(
    run: Run,
    settings: DecisionSettings,
    views: dict[str, pd.DataFrame],
    draws: np.ndarray,
    summary: dict[str, Any],
) -> tuple[pd.DataFrame, np.ndarray]:
    """Segments, limits, ECL and terms per scored customer; returns the table and LGD draws."""
    led, run_dir, prob = run.ledger, run.run_dir, run.params.interval_prob
    scores = pd.read_parquet(run_dir / SCORES_FILE)
    exposure = views["exposure"][
        [CUSTOMER_ID, CREDIT_LIMIT, kpi.OPEN_AR, kpi.MAX_DPD, kpi.UTILISATION]
    ]
    table = (
        segment_customers(scores, views["behaviour"], views["value"], settings)
        .merge(scores[[CUSTOMER_ID, PD_LO, PD_HI]], on=CUSTOMER_ID, how="left")
        .merge(exposure, on=CUSTOMER_ID, how="left")
        .merge(led.customers[[CUSTOMER_ID, PAYMENT_TERMS_DAYS]], on=CUSTOMER_ID, how="left")
    )
    lgd = lgd_draws(
        table[CUSTOMER_ID],
        lgd_labels(table, settings),
        settings,
        len(draws),
        decision_seed(run, settings),
    )
    limits = recommend_limits(table, draws, lgd, settings.economics, settings.appetite, prob)
    ead = table[kpi.OPEN_AR].to_numpy(dtype=float)
    ecl, ecl_draws = ecl_table(table[CUSTOMER_ID].to_numpy(), ead, draws, lgd, prob)
    groups = {"grade": table["grade"], "industry": table[INDUSTRY], "segment": table["segment"]}
    ecl_by(ecl_draws, ead, groups, prob).to_csv(run_dir / ECL_BY_GROUP_FILE, index=False)
    table = table.merge(limits, on=CUSTOMER_ID).merge(
        ecl[[CUSTOMER_ID, "lgd", "ecl_mean", "ecl_lo", "ecl_hi"]], on=CUSTOMER_ID
    )
    _first(table, SEGMENT_COLUMNS).to_csv(run_dir / SEGMENTS_FILE, index=False)
    _first(limits, LIMIT_COLUMNS).to_csv(run_dir / LIMITS_FILE, index=False)
    ecl[ECL_COLUMNS].to_csv(run_dir / ECL_FILE, index=False)
    terms_economics(table, draws, lgd, settings.economics, settings.terms, prob).to_csv(
        run_dir / TERMS_FILE, index=False
    )
    if (run_dir / VALIDATION_SCORES_FILE).is_file():
        val = pd.read_parquet(run_dir / VALIDATION_SCORES_FILE)
        grade_calibration(
            val["default_12m"].to_numpy(), val[PD_MEAN].to_numpy(), settings.grades, prob
        ).to_csv(run_dir / GRADE_CALIBRATION_FILE, index=False)
    total = ecl_draws.sum(axis=1)
    lo, hi = interval(total, prob)
    summary["ecl_total"] = {"mean": float(total.mean()), "lo": float(lo), "hi": float(hi)}
    summary["grades"] = table["grade"].value_counts().to_dict()
    summary["limits"] = {
        "raised": int((limits["change"] > 0).sum()),
        "cut": int((limits["change"] < 0).sum()),
        "unchanged": int((limits["change"] == 0).sum()),
        "current_total": float(np.nansum(limits["current_limit"])),
        "recommended_total": float(np.nansum(limits["recommended_limit"])),
    }
    return table, lgd


def _first(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """``frame`` with ``columns`` (a file's contract) first."""
    return frame[columns + [c for c in frame.columns if c not in columns]]


def lgd_labels(table: pd.DataFrame, settings: DecisionSettings) -> list[str]:
    """Each customer's LGD prior label (its industry, risk, behaviour or value; or "default")."""
    if settings.lgd_by == "none":
        return ["default"] * len(table)
    return table[settings.lgd_by].astype(str).tolist()


def decision_seed(run: Run, settings: DecisionSettings) -> int:
    """The decisions' seed: their own, else the run's."""
    return settings.seed or run.params.seed


@dataclasses.dataclass(frozen=True)
class DecisionStage:
    """The decisions stage; settings from the params' ``decisions:``."""

    settings: DecisionSettings
    name = "decide"
    section = "decisions"
    summary_file = DECISIONS_FILE
    manifest_keys = ("enabled", "left_out", "previous_run", "alerts", "worklist", "reminders")

    def check(self, run: Run) -> None:
        """LGD priors by industry must name industries of the ledger."""
        if self.settings.enabled:
            check_labels(self.settings, run.ledger.customers, f"{run.params.source}: decisions")

    def compute(self, run: Run) -> dict[str, Any]:
        """Compute every decision and write the files; returns the summary."""
        return _decide(run, self.settings)


def run_decision_stage(run: Run, settings: DecisionSettings | None = None) -> dict[str, Any]:
    """Run the decisions stage on a prepared run (settings: the params' unless given)."""
    return run_stage(DecisionStage(settings or run.params.decisions), run)


def _decide(run: Run, settings: DecisionSettings) -> dict[str, Any]:
    """Compute every decision for the run and write the files; returns the summary."""
    summary: dict[str, Any] = {"enabled": settings.enabled, "left_out": []}
    if not settings.enabled:
        return summary
    led, as_of, prob, run_dir = run.ledger, run.as_of, run.params.interval_prob, run.run_dir
    check_labels(settings, led.customers)
    timings: dict[str, float] = {}
    with timed(timings, "ledger views"):
        views = {
            "exposure": kpi.customer_exposure(
                led.customers, led.invoices, as_of, led.credit_notes, run.params.dso_period_days
            ),
            "behaviour": payment_behaviour(led.customers, led.invoices, as_of, settings.behaviour),
            "value": value_tiers(
                led.customers, led.invoices, as_of, settings.economics.margin, settings.value_tiers
            ),
            "signals": customer_signals(led.customers, led.invoices, led.events, as_of).merge(
                payment_shifts(led.invoices, as_of), on=CUSTOMER_ID, how="left"
            ),
            "disputes": open_disputes(led.events, led.invoices, as_of),
        }
    views["signals"].to_csv(run_dir / SIGNALS_FILE, index=False)
    table = draws = lgd = None
    if (run_dir / SCORES_FILE).is_file() and (run_dir / PD_MODEL_FILE).is_file():
        with timed(timings, "PD draws"):
            scores = pd.read_parquet(run_dir / SCORES_FILE)
            draws = pd_draws(run_dir, scores, settings.draws, decision_seed(run, settings))
        with timed(timings, "segments, limits, ECL, terms"):
            table, lgd = _customer_decisions(run, settings, views, draws, summary)
    else:
        summary["left_out"].append(
            "grades, segments, limits, ECL, terms economics and scenarios: no PD model in this run"
        )
    with timed(timings, "provision matrix"):
        segment_of = segment_label(table, led.customers, settings.provisions.segment_by)
        if segment_of is None and settings.provisions.segment_by not in ("none", "industry"):
            summary["left_out"].append(
                f"provision matrix by {settings.provisions.segment_by}: needs the PD model; "
                "one segment used"
            )
        pm = provision_matrix(
            led.invoices, led.events, as_of, settings.provisions, segment_of, settings.draws,
            prob, decision_seed(run, settings),
        )  # fmt: skip
        _first(pm.matrix, PROVISION_COLUMNS).to_csv(run_dir / PROVISION_MATRIX_FILE, index=False)
        pm.roll_rates.to_csv(run_dir / ROLL_RATES_FILE, index=False)
        portfolio_roll_rates(pm.roll_rates).to_csv(run_dir / PORTFOLIO_ROLL_RATES_FILE, index=False)
        pm.totals.to_csv(run_dir / PROVISION_TOTALS_FILE, index=False)
    summary["allowance"] = pm.totals.to_dict(orient="records")
    summary["overlay"] = settings.provisions.overlay
    forecast = RunFolder(run_dir).read_csv(FORECAST_FILE)
    with timed(timings, "worklist"):
        work, effect = collections_worklist(
            run, settings, views, table, segment_of, pm.p_reach_90, forecast,
            decision_seed(run, settings),
        )  # fmt: skip
        work.to_csv(run_dir / WORKLIST_FILE, index=False)
        if effect is not None:
            effect.table.to_csv(run_dir / CONTACT_EFFECT_FILE, index=False)
    with timed(timings, "reminder drafts"):
        summary["reminders"] = write_reminders(run, work, views)
    summary["worklist"] = {
        "items": len(work),
        "cash_at_risk": float(work["cash_at_risk"].sum()),
        "p_invoice_source": "roll rates" if forecast is None else "payment-timing model",
        "extra_cash": extra_cash_total(run, work, effect),
        "ranked_by": "cash at risk" if effect is None or not effect.log_r else "extra cash",
    }
    summary["contact_effect"] = (
        []
        if effect is None
        else effect.table.astype(object).where(effect.table.notna(), None).to_dict("records")
    )
    with timed(timings, "alerts"):
        found = early_warnings(run, settings, views, table, summary, forecast)
        found.to_csv(run_dir / ALERTS_FILE, index=False)
    summary["alerts"] = found["severity"].value_counts().to_dict()
    week_actions(work, views["exposure"], table).to_csv(run_dir / ACTIONS_FILE, index=False)
    if table is not None:
        with timed(timings, "scenarios"):
            grid = scenario_grid(table, draws, lgd, pm, settings, prob)
            grid.to_csv(run_dir / SCENARIOS_FILE, index=False)
        table.to_parquet(run_dir / TABLE_FILE, index=False)
    summary["draws"] = None if draws is None else int(len(draws))
    summary["timings_s"] = timings
    return summary
