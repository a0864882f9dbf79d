"""The decisions stage of a run: segments, limits, ECL, provisions, worklist, alerts, terms, scenarios.

Runs after the PD stage, from its stored posterior (``pd_model.nc``) and as-of features, without
re-sampling, and writes into the run folder (names other parts rely on):

``segments.csv``, ``limits.csv``, ``ecl.csv``, ``provision_matrix.csv``, ``worklist.csv``,
``alerts.csv``, plus ``grade_calibration.csv``, ``roll_rates.csv``, ``provision_totals.csv``,
``terms.csv``, ``scenarios.csv``, ``decision_table.parquet`` (everything per customer, for order
checks and widgets) and ``decisions.json`` (totals, notes and what was left out, and why).

Without a PD model (disabled, or too few defaults to fit one) the PD-based parts are left out and
``decisions.json`` says so; the provision matrix, worklist and alerts still run.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from creditlab import kpi
from creditlab.decisions.draws import interval, lgd_draws, thin
from creditlab.decisions.limits import LIMIT_COLUMNS, OrderDecision, approve_order, recommend_limits
from creditlab.decisions.provisions import (
    ECL_COLUMNS,
    PROVISION_COLUMNS,
    ecl_by,
    ecl_table,
    provision_matrix,
)
from creditlab.decisions.scenarios import scenario_grid
from creditlab.decisions.settings import DecisionSettings, parse_decision_settings
from creditlab.decisions.terms import terms_economics
from creditlab.decisions.worklist import alerts, p_invoice_from_matrix, worklist
from creditlab.errors import ConfigError
from creditlab.ledger.schema import (
    CREDIT_LIMIT,
    CUSTOMER_ID,
    DISPUTED,
    EVENT_ON,
    INDUSTRY,
    ISSUED_ON,
    KIND,
    NAME,
    PAYMENT_TERMS_DAYS,
)
from creditlab.ledger.store import previous_scores
from creditlab.models.pd import PDModel
from creditlab.pipeline import Run, open_run
from creditlab.scoring import FEATURES_FILE, MODEL_FILE, SCORES_FILE, VALIDATION_SCORES_FILE
from creditlab.segments import (
    SEGMENT_COLUMNS,
    assign_grades,
    grade_calibration,
    payment_behaviour,
    segment_customers,
    value_tiers,
)

__all__ = ["DECISIONS_FILE", "TABLE_FILE", "approve", "check_labels", "run_decision_stage"]

log = logging.getLogger(__name__)

DECISIONS_FILE, TABLE_FILE = "decisions.json", "decision_table.parquet"


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


def _pd_draws(run_dir: Path, scores: pd.DataFrame, n: int, seed: int) -> np.ndarray:
    """Thinned posterior PD draws ``(draws, customers)`` in the order of ``scores``."""
    model = PDModel.load(run_dir / MODEL_FILE)
    features = pd.read_parquet(run_dir / FEATURES_FILE)
    draws = thin(model.predict_draws(features, seed=seed), n)
    pos = pd.Index(features[CUSTOMER_ID]).get_indexer(scores[CUSTOMER_ID])
    draws = draws[:, pos]
    draws[:, scores["in_default"].to_numpy(dtype=bool)] = 1.0
    return draws


def _segment_label(
    table: pd.DataFrame | None, customers: pd.DataFrame, by: str
) -> pd.Series | None:
    if by == "none":
        return None
    if by == "industry":
        return customers.set_index(CUSTOMER_ID)[INDUSTRY].astype(str)
    if table is None:
        return None
    return table.set_index(CUSTOMER_ID)[by].astype(str)


def _new_disputes(run: Run, since: pd.Timestamp) -> pd.Series:
    led, t = run.ledger, pd.Timestamp(run.as_of)
    inv = led.invoices
    new = inv.loc[inv[DISPUTED].astype(bool) & (inv[ISSUED_ON] > since) & (inv[ISSUED_ON] <= t)]
    ev = led.events.loc[
        (led.events[KIND] == "dispute_opened")
        & (led.events[EVENT_ON] > since)
        & (led.events[EVENT_ON] <= t)
    ]
    return pd.concat([new[CUSTOMER_ID], ev[CUSTOMER_ID]]).value_counts()


def run_decision_stage(run: Run, settings: DecisionSettings) -> dict[str, Any]:
    """Compute every decision for the run and write the files; returns the summary."""
    summary: dict[str, Any] = {"enabled": settings.enabled, "left_out": []}
    if not settings.enabled:
        return summary
    led, as_of, prob, run_dir = run.ledger, run.as_of, run.params.interval_prob, run.run_dir
    check_labels(settings, led.customers)
    seed = settings.seed or run.params.seed
    exposure = kpi.customer_exposure(led.customers, led.invoices, as_of)
    behaviour = payment_behaviour(led.customers, led.invoices, as_of, settings.behaviour)
    value = value_tiers(
        led.customers, led.invoices, as_of, settings.economics.margin, settings.value_tiers
    )
    has_pd = (run_dir / SCORES_FILE).is_file() and (run_dir / MODEL_FILE).is_file()
    table, draws = None, None
    if has_pd:
        scores = pd.read_parquet(run_dir / SCORES_FILE)
        draws = _pd_draws(run_dir, scores, settings.draws, seed)
        table = segment_customers(scores, behaviour, value, settings)
        table = (
            table.merge(scores[[CUSTOMER_ID, "pd_lo", "pd_hi"]], on=CUSTOMER_ID, how="left")
            .merge(
                exposure[[CUSTOMER_ID, CREDIT_LIMIT, kpi.OPEN_AR, kpi.MAX_DPD, kpi.UTILISATION]],
                on=CUSTOMER_ID,
                how="left",
            )
            .merge(led.customers[[CUSTOMER_ID, PAYMENT_TERMS_DAYS]], on=CUSTOMER_ID, how="left")
        )
        labels = (
            table[settings.lgd_by].astype(str)
            if settings.lgd_by != "none"
            else pd.Series("default", index=table.index)
        )
        lgd = lgd_draws(table[CUSTOMER_ID], labels, settings, len(draws), seed)
        limits = recommend_limits(table, draws, lgd, settings.economics, settings.appetite, prob)
        ead = table[kpi.OPEN_AR].to_numpy(dtype=float)
        ecl, ecl_draws = ecl_table(table[CUSTOMER_ID].to_numpy(), ead, draws, lgd, prob)
        groups = {"grade": table["grade"], "industry": table[INDUSTRY], "segment": table["segment"]}
        ecl_by(ecl_draws, ead, groups, prob).to_csv(run_dir / "ecl_by_group.csv", index=False)
        table = table.merge(limits.drop(columns=["rationale"]), on=CUSTOMER_ID).merge(
            ecl[[CUSTOMER_ID, "lgd", "ecl_mean", "ecl_lo", "ecl_hi"]], on=CUSTOMER_ID
        )
        table["rationale"] = limits["rationale"].to_numpy()
        table[SEGMENT_COLUMNS + [c for c in table.columns if c not in SEGMENT_COLUMNS]].to_csv(
            run_dir / "segments.csv", index=False
        )
        limits[LIMIT_COLUMNS + [c for c in limits.columns if c not in LIMIT_COLUMNS]].to_csv(
            run_dir / "limits.csv", index=False
        )
        ecl[ECL_COLUMNS].to_csv(run_dir / "ecl.csv", index=False)
        terms = terms_economics(table, draws, lgd, settings.economics, settings.terms, prob)
        terms.to_csv(run_dir / "terms.csv", index=False)
        ecl_total = ecl_draws.sum(axis=1)
        lo, hi = interval(ecl_total, prob)
        summary["ecl_total"] = {"mean": float(ecl_total.mean()), "lo": float(lo), "hi": float(hi)}
        summary["grades"] = table["grade"].value_counts().to_dict()
        summary["limits"] = {
            "raised": int((limits["change"] > 0).sum()),
            "cut": int((limits["change"] < 0).sum()),
            "unchanged": int((limits["change"] == 0).sum()),
            "current_total": float(np.nansum(limits["current_limit"])),
            "recommended_total": float(np.nansum(limits["recommended_limit"])),
        }
        if (run_dir / VALIDATION_SCORES_FILE).is_file():
            val = pd.read_parquet(run_dir / VALIDATION_SCORES_FILE)
            cal = grade_calibration(
                val["default_12m"].to_numpy(), val["pd_mean"].to_numpy(), settings.grades, prob
            )
            cal.to_csv(run_dir / "grade_calibration.csv", index=False)
    else:
        summary["left_out"].append(
            "grades, segments, limits, ECL, terms economics and scenarios: no PD model in this run"
        )

    segment_of = _segment_label(table, led.customers, settings.provisions.segment_by)
    if segment_of is None and settings.provisions.segment_by not in ("none", "industry"):
        summary["left_out"].append(
            f"provision matrix by {settings.provisions.segment_by}: needs the PD model; one segment used"
        )
    pm = provision_matrix(
        led.invoices, led.events, as_of, settings.provisions, segment_of, settings.draws, prob, seed
    )
    pm.matrix[
        PROVISION_COLUMNS + [c for c in pm.matrix.columns if c not in PROVISION_COLUMNS]
    ].to_csv(run_dir / "provision_matrix.csv", index=False)
    pm.roll_rates.to_csv(run_dir / "roll_rates.csv", index=False)
    pm.totals.to_csv(run_dir / "provision_totals.csv", index=False)
    summary["allowance"] = pm.totals.to_dict(orient="records")
    summary["overlay"] = settings.provisions.overlay

    # collections worklist
    items = kpi.open_items(led.invoices, as_of)
    seg_items = (
        pd.Series("all", index=items.index)
        if segment_of is None
        else items[CUSTOMER_ID].map(segment_of).fillna("unknown").astype(str)
    )
    p_inv = p_invoice_from_matrix(items, seg_items, pm.p_reach_90)
    if table is not None:
        who = table[[CUSTOMER_ID, NAME, "policy", "dunning", "approval", "pd_mean"]]
    else:
        cadence = "standard" if "standard" in settings.dunning else next(iter(settings.dunning))
        who = led.customers[[CUSTOMER_ID, NAME]].assign(
            policy="(no PD model)", dunning=cadence, approval="credit analyst", pd_mean=np.nan
        )
    who = who.merge(behaviour[[CUSTOMER_ID, "usual_weekday"]], on=CUSTOMER_ID, how="left")
    work = worklist(items, who, settings.dunning, as_of, p_inv)
    work.to_csv(run_dir / "worklist.csv", index=False)
    summary["worklist"] = {"items": len(work), "cash_at_risk": float(work["cash_at_risk"].sum())}

    # alerts versus the previous run
    now = exposure[
        [CUSTOMER_ID, NAME, CREDIT_LIMIT, kpi.OPEN_AR, kpi.MAX_DPD, kpi.UTILISATION]
    ].copy()
    rank = {g.grade: i for i, g in enumerate(settings.grades)} | {"D": len(settings.grades)}
    if table is not None:
        now = now.merge(table[[CUSTOMER_ID, "pd_mean", "grade"]], on=CUSTOMER_ID, how="left")
        now["grade_rank"] = now["grade"].map(rank)
    previous = previous_scores(run.params.store, as_of, run.run_id) if has_pd else None
    before = None
    if previous is not None:
        prev_as_of = pd.Timestamp(previous["as_of"].iloc[0])
        before = previous[[CUSTOMER_ID, "pd_mean"]].copy()
        before["grade"], _ = assign_grades(
            before["pd_mean"].to_numpy(), np.zeros(len(before), bool), settings.grades
        )
        before["grade_rank"] = before["grade"].map(rank)
        before = before.merge(
            kpi.customer_exposure(led.customers, led.invoices, prev_as_of.date())[
                [CUSTOMER_ID, kpi.MAX_DPD]
            ],
            on=CUSTOMER_ID,
            how="left",
        )
        now["new_disputes"] = now[CUSTOMER_ID].map(_new_disputes(run, prev_as_of)).fillna(0)
        summary["previous_run"] = {
            "run_id": str(previous["run_id"].iloc[0]),
            "as_of": prev_as_of.date().isoformat(),
        }
    else:
        now["new_disputes"] = 0
        summary["previous_run"] = None
    total_ar = now[kpi.OPEN_AR].sum()
    shares = (
        now.set_index(CUSTOMER_ID)[kpi.OPEN_AR] / total_ar
        if total_ar > 0
        else pd.Series(dtype=float)
    )
    found = alerts(now, before, shares, settings.alerts)
    found.to_csv(run_dir / "alerts.csv", index=False)
    summary["alerts"] = found["severity"].value_counts().to_dict()

    if table is not None:
        grid = scenario_grid(table, draws, lgd, pm, settings, prob)
        grid.to_csv(run_dir / "scenarios.csv", index=False)
        table.to_parquet(run_dir / TABLE_FILE, index=False)
    summary["draws"] = None if draws is None else int(len(draws))
    (run_dir / DECISIONS_FILE).write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return summary


def approve(run_dir: str | Path, customer_id: str, amount: float) -> OrderDecision:
    """Check an order against a completed run's limits and risk appetite.

    Raises
    ------
    ConfigError
        The run has no decisions (no PD model), the customer is unknown, or the amount is not
        positive.
    """
    run = open_run(run_dir)
    settings = parse_decision_settings(run.params.decisions or {})
    if not amount > 0:
        raise ConfigError(f"the order amount must be positive, got {amount}")
    path = Path(run_dir) / TABLE_FILE
    if not path.is_file():
        raise ConfigError(
            f"{run_dir}: no decisions in this run (it needs the PD model and the decisions stage)"
        )
    table = pd.read_parquet(path)
    rows = table.loc[table[CUSTOMER_ID].astype(str) == str(customer_id)]
    if rows.empty:
        raise ConfigError(
            f"customer {customer_id!r} is not among the {len(table):,} scored customers of {run_dir}"
        )
    row = rows.iloc[0]
    seed = settings.seed or run.params.seed
    one = rows[[CUSTOMER_ID, "in_default"]].reset_index(drop=True)
    draws = _pd_draws(Path(run_dir), one, settings.draws, seed)[:, 0]
    label = str(row[settings.lgd_by]) if settings.lgd_by != "none" else "default"
    lgd = lgd_draws([row[CUSTOMER_ID]], [label], settings, len(draws), seed)[:, 0]
    return approve_order(row, amount, draws, lgd, settings.appetite, settings.economics.ccf)
