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
import datetime as dt
import logging
from typing import Any

import numpy as np
import pandas as pd

from creditlab.features import (
    FEATURES,
    SIGNAL_FEATURES,
    SNAPSHOT,
    TARGET,
    WINDOW,
    TrainingData,
    cured_defaults,
    hazard_data,
    snapshot_features,
    thin_file,
    training_data,
)
from creditlab.ledger.schema import (
    CUSTOMER_ID,
    EVIDENCE,
    IN_DEFAULT,
    INDUSTRY,
    NAME,
    PD_HI,
    PD_LO,
    PD_MEAN,
    THIN_FILE,
)
from creditlab.ledger.store import append_scores, previous_scores
from creditlab.models.diagnostics import GateConfig, GateResult, convergence_gate
from creditlab.models.pd import ModelConfig, PDModel
from creditlab.models.pd_checks import (
    effects_table,
    feature_table,
    pd_by_group,
    predictive_checks,
    snapshot_table,
)
from creditlab.models.pd_design import scorecard_columns, screen_columns, screen_pairs
from creditlab.models.pd_priors import prior_sensitivity
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
    PD_PRIOR_SENSITIVITY_FILE,
    PD_SNAPSHOTS_FILE,
    PD_SUMMARY_FILE,
    PD_VALIDATED_FILE,
    SCORES_FILE,
    VALIDATION_SCORES_FILE,
    RunFolder,
)
from creditlab.run.prepare import Run
from creditlab.run.settings import PDSettings
from creditlab.run.stages.base import extend_until_converged, run_stage
from creditlab.signals import has_signal_events, with_signal_features

__all__ = [
    "PDStage",
    "baseline_pds",
    "fit_model",
    "refit_design",
    "run_pd_stage",
    "training_design",
    "with_signals",
]

log = logging.getLogger(__name__)

# hazard: auto models 12-month labels only when their training windows hold this many defaults
AUTO_CLASSIC_DEFAULTS = 20
PD_ADVICE = (
    "what to change: more tuning and draws (pd_model.sampler: tune, draws), more extensions "
    "(pd_model.extend_rounds, up to 3), or gate: {fatal: false} to render the report with this "
    "failure at its top"
)


@dataclasses.dataclass(frozen=True)
class PDStage:
    """The PD stage (see the module's docstring); settings from the params' ``pd_model:``."""

    settings: PDSettings
    name = "model"
    section = "pd_model"
    summary_file = PD_SUMMARY_FILE
    manifest_keys = (
        "enabled",
        "skipped",
        "design",
        "reused_cached_fit",
        "extended",
        "gate",
        "timings",
    )

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
    validated: tuple[dt.date, np.ndarray],
    summary: dict[str, Any],
) -> list[dict[str, Any]]:
    """Write the tables a reviewer checks the model (fitted to ``data``'s training rows) with
    (effects, PD by industry, training data, predictive checks, prior sensitivity: also put in
    ``summary``); return the score stability rows (PSI against the scores of the validation
    window, ``validated``: its snapshot and PDs, and against the previous run's)."""
    folder, prob = RunFolder(run.run_dir), run.params.interval_prob
    effects_table(model, prob).to_csv(folder / PD_EFFECTS_FILE, index=False)
    alive = current.loc[~current[IN_DEFAULT]].reset_index(drop=True)
    draws = model.predict_draws(alive)
    by_industry = pd_by_group(draws, alive[INDUSTRY], prob)
    by_industry.rename(columns={"group": INDUSTRY}).to_csv(
        folder / PD_BY_INDUSTRY_FILE, index=False
    )
    target = data.target
    snapshot_table(data.train, SNAPSHOT, target).to_csv(folder / PD_SNAPSHOTS_FILE, index=False)
    used = [*FEATURES, *(c for c in SIGNAL_FEATURES if c in data.train)]
    feature_table(data.train, used, target).to_csv(folder / PD_FEATURES_FILE, index=False)
    groups = {SNAPSHOT: data.train[SNAPSHOT], INDUSTRY: data.train[INDUSTRY]}
    checks = predictive_checks(
        model.predict_draws(data.train, months=_window(data)), data.train[target].to_numpy(),
        groups, prob, run.params.seed,
    )  # fmt: skip
    checks.to_csv(folder / PD_PREDICTIVE_FILE, index=False)
    if (log_prior := model.log_prior()) is not None and len(alive):
        sensitivity = prior_sensitivity(log_prior, draws)
        sensitivity.to_csv(folder / PD_PRIOR_SENSITIVITY_FILE, index=False)
        summary["prior_sensitivity"] = sensitivity.to_dict(orient="records")
    today = scores.loc[~scores[IN_DEFAULT], PD_MEAN].to_numpy()
    rows = [(f"validation window ({validated[0]})", *psi(validated[1], today))]
    if summary.get("psi"):
        rows.append((f"previous run {summary['previous_run']}", *summary["psi"]))
    return [{"against": a, "psi": value, "reading": reading} for a, value, reading in rows]


def _fit_or_reuse(
    run: Run, settings: PDSettings, data: TrainingData, key: str
) -> tuple[PDModel, bool, int, GateResult]:
    """The cached fit under ``key`` or a new one (:func:`fit_model`, with its prior draws), held
    to the gate (a failure raises or warns as the params say); returns the model, whether it was
    reused, how many times its fit was extended and its gate."""
    model = cached_fit(run.params.store, key, PDModel.load, "PD") if settings.cache else None
    reused, extended, gate = model is not None, 0, None
    if model is None:
        model, extended, gate = fit_model(data, settings)
        model.add_prior_draws(seed=settings.sampler.seed)
    if gate is None or not gate.passed:
        gate = _gate(model, settings.gate)
    return model, reused, extended, gate


def _gate(model: PDModel, config: GateConfig) -> GateResult:
    """The convergence gate of a PD fit (a non-centred fit's intercepts are judged by their
    underlying standard-normal parameters)."""
    return convergence_gate(
        model.idata,
        config,
        var_names=["~a_group"] if not model.centred else None,
        advice=PD_ADVICE,
    )


def _window(data: TrainingData) -> int | np.ndarray:
    """The months each training row's label covers (a hazard row: the months observable)."""
    return data.train[WINDOW].to_numpy() if data.hazard else data.period_months


def baseline_pds(data: TrainingData, cols: list[str]) -> dict[str, np.ndarray]:
    """scikit-learn's PDs for the validation rows over the validation span, learnt from the same
    training rows; for a monthly hazard's rows they learn "default within the months observable"
    with those months as a feature, and predict at the validation span."""
    y = data.train[data.target].to_numpy()
    if not data.hazard:
        return baseline_scores(data.train[cols], y, data.validation[cols])
    valid = data.validation[cols].assign(**{WINDOW: data.validation_months})
    return baseline_scores(data.train[[*cols, WINDOW]], y, valid)


def training_design(
    customers: pd.DataFrame,
    invoices: pd.DataFrame,
    events: pd.DataFrame,
    as_of: dt.date,
    settings: PDSettings,
) -> TrainingData:
    """The training design the settings ask for: 12-month labels on snapshots every few months
    (``hazard: false``), customer-months of a monthly hazard (``true``), or (``auto``) the 12-month
    design when the ledger holds its two 12-month windows and their training part at least
    :data:`AUTO_CLASSIC_DEFAULTS` defaults, the hazard otherwise.

    Raises
    ------
    ValueError
        The ledger is too short for the design asked for.
    """
    ledger, m = (customers, invoices, events, as_of), settings.default_materiality
    if settings.hazard is not True:
        try:
            data = training_data(
                *ledger, every_months=settings.snapshot_every_months, materiality=m
            )
        except ValueError as exc:
            if settings.hazard is False:
                raise
            log.info("%s; modelling a monthly default hazard instead", exc)
        else:
            defaults = int(data.train[TARGET].sum())
            if settings.hazard is False or defaults >= AUTO_CLASSIC_DEFAULTS:
                return data
            log.info(
                "only %d defaults in the 12-month training windows; modelling a monthly default "
                "hazard instead, so every customer-month counts",
                defaults,
            )
    return hazard_data(*ledger, materiality=m)


def with_signals(
    data: TrainingData, customers: pd.DataFrame, invoices: pd.DataFrame, events: pd.DataFrame
) -> TrainingData:
    """``data`` with :data:`~creditlab.features.SIGNAL_FEATURES` on its training and validation
    rows, each as known at the row's snapshot (:func:`creditlab.signals.signal_features`)."""
    ledger = (customers, invoices, events)
    return dataclasses.replace(
        data,
        train=with_signal_features(data.train, *ledger),
        validation=with_signal_features(data.validation, *ledger),
    )


def _screen_signals(
    data: TrainingData,
    settings: PDSettings,
    customers: pd.DataFrame,
    invoices: pd.DataFrame,
    events: pd.DataFrame,
) -> tuple[TrainingData, PDSettings, dict]:
    """``data`` with the signal features, the settings with those that add to the ledger's
    features among the predictors (:func:`~creditlab.models.pd_design.screen_columns`, the group
    and, for a hazard, the months followed in the base fit), and what was screened."""
    data = with_signals(data, customers, invoices, events)
    others = [*([settings.model.group] if settings.model.group else []), *([WINDOW] if data.hazard else [])]  # fmt: skip
    kept = screen_columns(data.train, data.target, settings.predictors, SIGNAL_FEATURES, others)
    log.info(
        "relationship signals screened against the ledger's features (score test, 1 %% after "
        "Bonferroni): %s",
        ", ".join(f"{k['column']} (chi2 {k['statistic']:.0f} on {k['df']} df)" for k in kept)
        or "none adds to them",
    )
    predictors = (*settings.predictors, *(k["column"] for k in kept))
    screened = {"candidates": list(SIGNAL_FEATURES), "kept": kept}
    return data, dataclasses.replace(settings, predictors=predictors), screened


def refit_design(
    customers: pd.DataFrame,
    invoices: pd.DataFrame,
    events: pd.DataFrame,
    as_of: dt.date,
    settings: PDSettings,
    data: TrainingData,
) -> TrainingData | None:
    """The rows the scores' model is refitted on once ``data``'s fit is validated: with
    ``refit`` on a monthly hazard design (a short ledger or few defaults), every month up to
    ``as_of``, the held-out ones included (on the grid of ``benchmarks/pd_coverage.py`` they
    hold most of the defaults); ``None`` when the validated fit scores as it is."""
    if not (settings.refit and data.hazard):
        return None
    everything = hazard_data(
        customers, invoices, events, as_of, hold_out=False, materiality=settings.default_materiality
    )
    if SIGNAL_FEATURES[0] in data.train:  # the validated fit's signal features, here too
        everything = with_signals(everything, customers, invoices, events)
    return everything


def model_config(settings: PDSettings, data: TrainingData) -> ModelConfig:
    """The model's structure: ``settings.model`` as listed (``shape: linear``), or (``auto``) the
    predictors :func:`~creditlab.models.pd_design.scorecard_columns` bins and, for 12-month
    labels, the pairs :func:`~creditlab.models.pd_design.screen_pairs` finds (a hazard row's
    outcome depends on its months of follow-up, which the screen's main effects do not hold); a
    ``monotone`` entry for a predictor left unbinned is dropped with a log line."""
    if settings.shape == "linear":
        return settings.model
    train, n_bins = data.train, settings.model.n_bins
    binned = scorecard_columns(train, data.target, settings.predictors, n_bins)
    pairs = []
    if binned and not data.hazard:
        group = [settings.model.group] if settings.model.group else []
        found = screen_pairs(train, data.target, settings.predictors, group, n_bins)
        pairs = [tuple(pair["columns"]) for pair in found]
    monotone = tuple((c, d) for c, d in settings.model.monotone if c in binned)
    if dropped := sorted({c for c, _ in settings.model.monotone} - set(binned)):
        log.info(
            "monotone shape dropped for %s: the training defaults are too few to bin them, so "
            "they enter as straight lines",
            dropped,
        )
    return dataclasses.replace(
        settings.model, binned=tuple(binned), interactions=tuple(pairs), monotone=monotone
    )


def fit_model(data: TrainingData, settings: PDSettings) -> tuple[PDModel, int, GateResult]:
    """Fit the PD model the settings describe (:func:`model_config`) to the training rows, extended
    while the gate fails and ``extend_rounds`` allow; returns the fit, how many times it was
    extended and its gate (not yet raised on: the caller applies ``fatal``)."""
    config = model_config(settings, data)
    return extend_until_converged(
        lambda sampler: PDModel(
            settings.predictors, config, sampler, data.period_months, settings.priors
        ).fit(data.train, data.target, data.weights),
        lambda fitted: _gate(fitted, dataclasses.replace(settings.gate, fatal=False)),
        settings.sampler,
        settings.extend_rounds,
        "PD model",
    )


def _fit_and_score(run: Run, settings: PDSettings) -> dict[str, Any]:
    """Fit or reuse the PD model, gate it, validate it, score the portfolio; returns a summary."""
    led, run_dir, prob = run.ledger, run.run_dir, run.params.interval_prob
    summary: dict[str, Any] = {"enabled": settings.enabled}
    if not settings.enabled:
        return summary
    try:
        data = training_design(led.customers, led.invoices, led.events, run.as_of, settings)
    except ValueError as exc:
        summary.update(skipped=str(exc))
        log.warning("PD model not fitted: %s", exc)
        return summary
    ledger = (led.customers, led.invoices, led.events, run.as_of)
    if settings.signals == "auto" and has_signal_events(led.events, run.as_of):
        data, settings, summary["signals"] = _screen_signals(data, settings, *ledger[:3])
    target = data.target
    if not data.hazard and data.train[target].sum() < 5:
        summary.update(
            skipped=f"only {int(data.train[target].sum())} defaults in the 12-month training "
            "windows: too few to fit a PD model on them (pd_model.hazard: auto models a monthly "
            "hazard instead)"
        )
        log.warning("PD model not fitted: %s", summary["skipped"])
        return summary

    key = settings.key(led.data_hash, run.as_of)
    model, reused, summary["extended"], gate = _fit_or_reuse(run, settings, data, key)
    summary["reused_cached_fit"] = reused
    # the scores' model: on a hazard design (few defaults or a short ledger) a refit that also
    # learns from the held-out months, which hold the most recent defaults
    scoring, fitted, scoring_key, scoring_reused = model, data, key, reused
    if (everything := refit_design(*ledger, settings, data)) is not None:
        save_fit_of_run(run, model, PD_VALIDATED_FILE, key, settings.cache, reused)
        fitted, scoring_key = everything, f"{key}-refit"
        summary["refit"] = {  # the validated fit's gate; the summary's own is the refit's
            "validated_gate": gate.to_dict(),
            "validated_extended": summary["extended"],
        }
        scoring, scoring_reused, summary["extended"], gate = _fit_or_reuse(
            run, settings, fitted, scoring_key
        )
        summary["refit"] |= {
            "train_rows": len(fitted.train),
            "train_defaults": int(fitted.train[target].sum()),
            "snapshots": [fitted.snapshots[0].isoformat(), fitted.snapshots[-1].isoformat()],
        }
    save_fit_of_run(run, scoring, PD_MODEL_FILE, scoring_key, settings.cache, scoring_reused)

    # out-of-time validation, with baselines on the same split and features
    horizon = data.validation_months
    y_valid = data.validation[target].to_numpy()
    p_valid = model.predict(data.validation, prob, months=horizon)[PD_MEAN].to_numpy()
    if horizon == 12:  # grades are calibrated against 12-month outcomes only
        data.validation[[CUSTOMER_ID]].assign(**{TARGET: y_valid, PD_MEAN: p_valid}).to_parquet(
            run_dir / VALIDATION_SCORES_FILE, index=False
        )
    group = settings.model.group
    cols = [*settings.predictors, *([group] if group else [])]
    comparison = [
        {"model": "creditlab hierarchical Bayesian (posterior mean)", **metrics(y_valid, p_valid)}
    ]
    if data.train[target].nunique() == 2:  # the baselines need defaults to learn from
        comparison += [
            {"model": name, **metrics(y_valid, p)} for name, p in baseline_pds(data, cols).items()
        ]

    # score the portfolio as of the run date
    # a default that is over (months without any invoice 90+ DPD) is scored again; the training
    # rows keep a customer's first default and leave it out afterwards
    m, cure = settings.default_materiality, settings.cure_months
    current = snapshot_features(*ledger, m, cure)
    cured = cured_defaults(*ledger[1:], cure, m)  # how many, for pd_validation.json
    if set(SIGNAL_FEATURES) & set(scoring.predictors):  # the relationship signals it kept
        current = with_signal_features(current, *ledger[:3])
    scores = scoring.predict(current, prob, with_prior_share=True)
    scores = pd.concat([current[[CUSTOMER_ID, INDUSTRY, IN_DEFAULT]], scores], axis=1)
    scores.loc[scores[IN_DEFAULT], [PD_MEAN, PD_LO, PD_HI]] = 1.0
    scores.loc[scores[IN_DEFAULT], EVIDENCE] = np.nan
    scores[THIN_FILE] = thin_file(current)
    beyond = scoring.standardizer.beyond(current)[~scores[IN_DEFAULT].to_numpy()]
    beyond_counts = beyond.str.split(", ").explode().loc[lambda s: s != ""].value_counts()
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
    # the PSI compares 12-month PDs: a short ledger's hold-out spans a few months, so its rows
    # are scored again over 12 for it
    p_year = p_valid if horizon == 12 else model.predict(data.validation, prob)[PD_MEAN].to_numpy()
    validated = (data.validation_snapshot, p_year)
    summary["stability"] = _write_checks(run, scoring, fitted, current, scores, validated, summary)
    has_share = bool(scores[EVIDENCE].notna().any())

    summary.update(
        gate=gate.to_dict(),
        design="monthly hazard" if data.hazard else "12-month labels",
        period_months=data.period_months,
        validation_months=horizon,
        train_rows=len(data.train),
        train_defaults=int(data.train[target].sum()),
        validation_rows=len(data.validation),
        validation_defaults=int(y_valid.sum()),
        snapshots=[s.isoformat() for s in data.snapshots],
        validation_snapshot=data.validation_snapshot.isoformat(),
        centred=scoring.centred,
        shape=settings.shape,
        predictors=[
            *scoring.standardizer.names,
            *(f"{c} (binned)" for c in scoring.bins),
            *(f"{name} (joint)" for name in scoring.pairs),
        ],  # fmt: skip
        model_config=dataclasses.asdict(scoring.model_config),
        sampler_config={**dataclasses.asdict(scoring.sampler_config), **scoring.sampled_with},
        timings=scoring.timings,
        metrics=metrics_table(y_valid, p_valid, prob=prob).to_dict(orient="records"),
        comparison=comparison,
        calibration=calibration(y_valid, p_valid, prob=prob).to_dict(orient="records"),
        scored=int((~scores[IN_DEFAULT]).sum()),
        in_default=int(scores[IN_DEFAULT].sum()),
        cured=len(cured),
        priors=scoring.priors.describe(),
        thin_file=int(scores[THIN_FILE].sum()),
        beyond_training={
            "customers": int((beyond != "").sum()),
            "predictors": {str(k): int(v) for k, v in beyond_counts.items()},
        },
        prior_share={
            "median": float(np.nanmedian(scores[EVIDENCE])) if has_share else None,
            "over_half": int((scores[EVIDENCE] > 0.5).sum()),
        },
    )
    return summary
