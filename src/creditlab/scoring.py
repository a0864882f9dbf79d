"""The PD stage of a run: fit (or reuse) the PD model, validate it out of time, score the portfolio.

Writes into the run folder ``scores.parquet`` (``customer_id, pd_mean, pd_lo, pd_hi`` and more),
``pd_model.nc`` (posterior with provenance), ``score_features.parquet`` (the as-of features, so
decisions can draw PDs again without re-fitting) and ``pd_validation.json``; appends the scores to
the store's ``score_history`` and caches the fit in its ``pd_fits`` table.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from creditlab.config import parse_section, reject_unknown_keys
from creditlab.errors import ConfigError
from creditlab.features import FEATURES, TARGET, snapshot_features, training_data
from creditlab.ledger.schema import CUSTOMER_ID, INDUSTRY, NAME
from creditlab.ledger.store import append_scores, previous_scores
from creditlab.models.diagnostics import GateConfig, convergence_gate
from creditlab.models.pd import ModelConfig, PDModel, SamplerConfig
from creditlab.models.validation import (
    baseline_scores,
    calibration,
    metrics,
    metrics_table,
    psi,
)
from creditlab.pipeline import Run, cached_fit, save_fit_of_run
from creditlab.provenance import json_default

__all__ = [
    "FEATURES_FILE",
    "MODEL_FILE",
    "PDSettings",
    "SCORES_FILE",
    "VALIDATION_SCORES_FILE",
    "parse_pd_settings",
    "pd_history",
    "run_pd_stage",
]

log = logging.getLogger(__name__)

SCORES_FILE, MODEL_FILE = "scores.parquet", "pd_model.nc"
VALIDATION_FILE, FEATURES_FILE = "pd_validation.json", "score_features.parquet"
VALIDATION_SCORES_FILE = "pd_validation_scores.parquet"  # out-of-time outcomes and PDs


@dataclasses.dataclass(frozen=True)
class PDSettings:
    """The ``pd_model:`` section of a params file."""

    enabled: bool = True
    predictors: tuple[str, ...] = FEATURES
    snapshot_every_months: int = 3
    cache: bool = True
    model: ModelConfig = ModelConfig()
    sampler: SamplerConfig = SamplerConfig()
    gate: GateConfig = GateConfig()

    def key(self, data_hash: str, as_of: dt.date) -> str:
        """Cache key: same data, as-of date and settings give the same fit."""
        text = json.dumps([data_hash, as_of.isoformat(), dataclasses.asdict(self)], default=str)
        return hashlib.sha256(text.encode()).hexdigest()


def parse_pd_settings(raw: Mapping[str, Any] | None, where: str = "pd_model") -> PDSettings:
    """Check the ``pd_model`` params section before any data is read or sampled."""
    if raw is None:
        return PDSettings(enabled=False)
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a mapping")
    reject_unknown_keys(raw, {f.name for f in dataclasses.fields(PDSettings)}, where)
    predictors = tuple(raw.get("predictors") or FEATURES)
    bad = sorted(set(predictors) - set(FEATURES))
    if bad:
        raise ConfigError(
            f"{where}.predictors: unknown feature(s) {bad}; features: {list(FEATURES)}"
        )
    return PDSettings(
        enabled=bool(raw.get("enabled", True)),
        predictors=predictors,
        snapshot_every_months=int(raw.get("snapshot_every_months", 3)),
        cache=bool(raw.get("cache", True)),
        model=parse_section(ModelConfig, raw.get("model"), f"{where}.model"),
        sampler=parse_section(SamplerConfig, raw.get("sampler"), f"{where}.sampler"),
        gate=parse_section(GateConfig, raw.get("gate"), f"{where}.gate"),
    )


def run_pd_stage(run: Run, settings: PDSettings) -> dict:
    """Fit or reuse the PD model, gate it, validate it, score the portfolio; returns a summary.

    Raises
    ------
    ConvergenceError
        The fit failed the convergence gate and ``settings.gate.fatal`` is set.
    """
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
        model.idata, settings.gate, var_names=["~a_group"] if not model.centred else None
    )
    save_fit_of_run(run, model, MODEL_FILE, key, settings.cache, summary["reused_cached_fit"])

    # out-of-time validation, with baselines on the same split and features
    y_valid = data.validation[TARGET].to_numpy()
    p_valid = model.predict(data.validation, prob)["pd_mean"].to_numpy()
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
    scores = pd.concat([current[[CUSTOMER_ID, INDUSTRY, "in_default"]], scores], axis=1)
    scores.loc[scores["in_default"], ["pd_mean", "pd_lo", "pd_hi"]] = 1.0
    scores = scores.merge(led.customers[[CUSTOMER_ID, NAME]], on=CUSTOMER_ID, how="left")
    previous = previous_scores(run.params.store, run.as_of, run.run_id)
    if previous is not None:
        prev = previous.set_index(CUSTOMER_ID)["pd_mean"]
        scores["pd_previous"] = scores[CUSTOMER_ID].map(prev)
        scores["pd_change"] = scores["pd_mean"] - scores["pd_previous"]
        alive = ~scores["in_default"]
        summary["psi"] = psi(prev.to_numpy(), scores.loc[alive, "pd_mean"].to_numpy())
        summary["previous_run"] = str(previous["run_id"].iloc[0])
    scores.to_parquet(run_dir / SCORES_FILE, index=False)
    current.to_parquet(run_dir / FEATURES_FILE, index=False)
    if run.params.store is not None:
        append_scores(run.params.store, scores.loc[~scores["in_default"]], run.as_of, run.run_id)

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
        scored=int((~scores["in_default"]).sum()),
        in_default=int(scores["in_default"].sum()),
    )
    (run_dir / VALIDATION_FILE).write_text(
        json.dumps(summary, indent=2, default=json_default) + "\n"
    )
    return summary


def pd_history(run: Run, customer_id: str, quarters: int = 8) -> pd.DataFrame:
    """A customer's PD at the as-of date and at the previous quarter-ends, from the run's model.

    Each point applies the fitted model to the features the customer had on that date (what the
    model would have said then), with ``prob`` credible intervals; dates before onboarding or after
    a default are left out. Returns ``date, pd_mean, pd_lo, pd_hi, in_default``.
    """
    model = PDModel.load(run.run_dir / MODEL_FILE)
    led, prob = run.ledger, run.params.interval_prob
    customers = led.customers.loc[led.customers[CUSTOMER_ID].astype(str) == str(customer_id)]
    invoices = led.invoices.loc[led.invoices[CUSTOMER_ID].astype(str) == str(customer_id)]
    events = led.events.loc[led.events[CUSTOMER_ID].astype(str) == str(customer_id)]
    rows = []
    for k in range(quarters - 1, -1, -1):
        day = (pd.Timestamp(run.as_of) - pd.DateOffset(months=3 * k)).date()
        feats = snapshot_features(customers, invoices, events, day)
        if feats.empty:
            continue
        if bool(feats["in_default"].iloc[0]):
            rows.append(
                {"date": day, "pd_mean": 1.0, "pd_lo": 1.0, "pd_hi": 1.0, "in_default": True}
            )
            continue
        draws = model.predict_draws(feats)[:, 0]
        lo, hi = np.quantile(draws, [(1 - prob) / 2, (1 + prob) / 2])
        rows.append(
            {
                "date": day,
                "pd_mean": float(draws.mean()),
                "pd_lo": lo,
                "pd_hi": hi,
                "in_default": False,
            }
        )
    return pd.DataFrame(rows, columns=["date", "pd_mean", "pd_lo", "pd_hi", "in_default"])
