"""The PD stage of a run: fit (or reuse) the PD model, validate it out of time, score the portfolio.

Writes into the run folder ``scores.parquet`` (``customer_id, pd_mean, pd_lo, pd_hi`` and more),
``pd_model.nc`` (posterior with provenance), ``score_features.parquet`` (the as-of features, so
decisions can draw PDs again without re-fitting), ``pd_validation.json`` (the summary, with score
stability) and the tables the reports show (``pd_effects.csv``, ``pd_by_industry.csv``,
``pd_snapshots.csv``, ``pd_features.csv``, ``pd_predictive_checks.csv``); appends the scores to
the store's ``score_history`` and caches the fit in its ``pd_fits`` table.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np
import pandas as pd

from creditlab.features import (
    FEATURES,
    SNAPSHOT,
    TARGET,
    TrainingData,
    snapshot_features,
    training_data,
)
from creditlab.ledger.schema import CUSTOMER_ID, IN_DEFAULT, INDUSTRY, NAME, PD_HI, PD_LO, PD_MEAN
from creditlab.ledger.store import append_scores, previous_scores
from creditlab.models.diagnostics import convergence_gate
from creditlab.models.pd import PDModel
from creditlab.models.pd_checks import (
    effects_table,
    feature_table,
    pd_by_group,
    predictive_checks,
    snapshot_table,
)
from creditlab.models.validation import (
    baseline_scores,
    calibration,
    metrics,
    metrics_table,
    psi,
)
from creditlab.run.fit_cache import cached_fit, save_fit_of_run
from creditlab.run.folder import (
    FEATURES_FILE,
    PD_BY_INDUSTRY_FILE,
    PD_EFFECTS_FILE,
    PD_FEATURES_FILE,
    PD_MODEL_FILE,
    PD_PREDICTIVE_FILE,
    PD_SNAPSHOTS_FILE,
    PD_SUMMARY_FILE,
    SCORES_FILE,
    VALIDATION_SCORES_FILE,
    RunFolder,
)
from creditlab.run.prepare import Run
from creditlab.run.settings import PDSettings
from creditlab.run.stages.base import run_stage

__all__ = ["PDStage", "run_pd_stage"]

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class PDStage:
    """The PD stage (see the module's docstring); settings from the params' ``pd_model:``."""

    settings: PDSettings
    name = "model"
    section = "pd_model"
    summary_file = PD_SUMMARY_FILE
    manifest_keys = ("enabled", "skipped", "reused_cached_fit", "gate", "timings")

    def check(self, run: Run) -> None:
        """Nothing to check against the data: the settings were checked when the params loaded."""

    def compute(self, run: Run) -> dict[str, Any]:
        """Fit (or reuse), gate, validate and score; returns the summary."""
        return _fit_and_score(run, self.settings)


def run_pd_stage(run: Run, settings: PDSettings | None = None) -> dict[str, Any]:
    """Run the PD stage on a prepared run (settings: the params' ``pd_model:`` unless given).

    Raises
    ------
    ConvergenceError
        The fit failed the convergence gate and ``settings.gate.fatal`` is set.
    """
    return run_stage(PDStage(settings or run.params.pd_model), run)


def _write_checks(
    run: Run,
    model: PDModel,
    data: TrainingData,
    current: pd.DataFrame,
    scores: pd.DataFrame,
    p_valid: np.ndarray,
    summary: dict[str, Any],
) -> list[dict[str, Any]]:
    """Write the tables a reviewer checks the model with (effects, PD by industry, training data,
    predictive checks); return the score stability rows (PSI against the validation window's
    scores and the previous run's)."""
    folder, prob = RunFolder(run.run_dir), run.params.interval_prob
    effects_table(model, prob).to_csv(folder / PD_EFFECTS_FILE, index=False)
    alive = current.loc[~current[IN_DEFAULT]].reset_index(drop=True)
    by_industry = pd_by_group(model.predict_draws(alive), alive[INDUSTRY], prob)
    by_industry.rename(columns={"group": INDUSTRY}).to_csv(
        folder / PD_BY_INDUSTRY_FILE, index=False
    )
    snapshot_table(data.train, SNAPSHOT, TARGET).to_csv(folder / PD_SNAPSHOTS_FILE, index=False)
    feature_table(data.train, FEATURES, TARGET).to_csv(folder / PD_FEATURES_FILE, index=False)
    groups = {SNAPSHOT: data.train[SNAPSHOT], INDUSTRY: data.train[INDUSTRY]}
    checks = predictive_checks(
        model.predict_draws(data.train), data.train[TARGET].to_numpy(), groups, prob,
        run.params.seed,
    )  # fmt: skip
    checks.to_csv(folder / PD_PREDICTIVE_FILE, index=False)
    today = scores.loc[~scores[IN_DEFAULT], PD_MEAN].to_numpy()
    rows = [("validation window (12 months ago)", *psi(p_valid, today))]
    if summary.get("psi"):
        rows.append((f"previous run {summary['previous_run']}", *summary["psi"]))
    return [{"against": a, "psi": value, "reading": reading} for a, value, reading in rows]


def _fit_and_score(run: Run, settings: PDSettings) -> dict[str, Any]:
    """Fit or reuse the PD model, gate it, validate it, score the portfolio; returns a summary."""
    led, run_dir, prob = run.ledger, run.run_dir, run.params.interval_prob
    summary: dict[str, Any] = {"enabled": settings.enabled}
    if not settings.enabled:
        return summary
    try:
        data = training_data(
            led.customers,
            led.invoices,
            led.events,
            run.as_of,
            every_months=settings.snapshot_every_months,
        )
    except ValueError as exc:
        summary.update(skipped=str(exc))
        log.warning("PD model not fitted: %s", exc)
        return summary
    if data.train[TARGET].sum() < 5 or data.train[TARGET].nunique() < 2:
        summary.update(
            skipped=f"only {int(data.train[TARGET].sum())} defaults in the training "
            "windows: too few to fit a PD model"
        )
        log.warning("PD model not fitted: %s", summary["skipped"])
        return summary

    key = settings.key(led.data_hash, run.as_of)
    model = cached_fit(run.params.store, key, PDModel.load, "PD") if settings.cache else None
    summary["reused_cached_fit"] = model is not None
    if model is None:
        model = PDModel(settings.predictors, settings.model, settings.sampler)
        model.fit(data.train, TARGET)
    gate = convergence_gate(
        model.idata,
        settings.gate,
        var_names=["~a_group"] if not model.centred else None,
        advice="what to change: more tuning and draws (pd_model.sampler: tune, draws), or "
        "gate: {fatal: false} to render the report with this failure at its top",
    )
    save_fit_of_run(run, model, PD_MODEL_FILE, key, settings.cache, summary["reused_cached_fit"])

    # out-of-time validation, with baselines on the same split and features
    y_valid = data.validation[TARGET].to_numpy()
    p_valid = model.predict(data.validation, prob)[PD_MEAN].to_numpy()
    data.validation[[CUSTOMER_ID, TARGET]].assign(pd_mean=p_valid).to_parquet(
        run_dir / VALIDATION_SCORES_FILE, index=False
    )
    group = settings.model.group
    cols = [*settings.predictors, *([group] if group else [])]
    base = baseline_scores(data.train[cols], data.train[TARGET].to_numpy(), data.validation[cols])
    comparison = [
        {"model": "creditlab hierarchical Bayesian (posterior mean)", **metrics(y_valid, p_valid)}
    ]
    comparison += [{"model": name, **metrics(y_valid, p)} for name, p in base.items()]

    # score the portfolio as of the run date
    current = snapshot_features(led.customers, led.invoices, led.events, run.as_of)
    scores = model.predict(current, prob)
    scores = pd.concat([current[[CUSTOMER_ID, INDUSTRY, IN_DEFAULT]], scores], axis=1)
    scores.loc[scores[IN_DEFAULT], [PD_MEAN, PD_LO, PD_HI]] = 1.0
    scores = scores.merge(led.customers[[CUSTOMER_ID, NAME]], on=CUSTOMER_ID, how="left")
    previous = previous_scores(run.params.store, run.as_of, run.run_id)
    if previous is not None:
        prev = previous.set_index(CUSTOMER_ID)[PD_MEAN]
        scores["pd_previous"] = scores[CUSTOMER_ID].map(prev)
        scores["pd_change"] = scores[PD_MEAN] - scores["pd_previous"]
        alive = ~scores[IN_DEFAULT]
        summary["psi"] = psi(prev.to_numpy(), scores.loc[alive, PD_MEAN].to_numpy())
        summary["previous_run"] = str(previous["run_id"].iloc[0])
    scores.to_parquet(run_dir / SCORES_FILE, index=False)
    current.to_parquet(run_dir / FEATURES_FILE, index=False)
    if run.params.store is not None:
        append_scores(run.params.store, scores.loc[~scores[IN_DEFAULT]], run.as_of, run.run_id)
    summary["stability"] = _write_checks(run, model, data, current, scores, p_valid, summary)

    summary.update(
        gate=gate.to_dict(),
        train_rows=len(data.train),
        train_defaults=int(data.train[TARGET].sum()),
        validation_rows=len(data.validation),
        validation_defaults=int(y_valid.sum()),
        snapshots=[s.isoformat() for s in data.snapshots],
        validation_snapshot=data.validation_snapshot.isoformat(),
        centred=model.centred,
        predictors=[*model.standardizer.names, *(f"{c} (binned)" for c in model.bins)],
        model_config=dataclasses.asdict(model.model_config),
        sampler_config={**dataclasses.asdict(model.sampler_config), **model.sampled_with},
        timings=model.timings,
        metrics=metrics_table(y_valid, p_valid, prob=prob).to_dict(orient="records"),
        comparison=comparison,
        calibration=calibration(y_valid, p_valid, prob=prob).to_dict(orient="records"),
        scored=int((~scores[IN_DEFAULT]).sum()),
        in_default=int(scores[IN_DEFAULT].sum()),
    )
    return summary
