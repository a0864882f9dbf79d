"""Low-default and short ledgers: are the PD's 90 % intervals honest about the true PDs?

A grid of synthetic ledgers (600 customers; 1, 2 or 3 years; a true mean 12-month PD of 0.5, 1 or
2 %), each run through the PD stage's own steps with the weekly params (``params/weekly.yaml``:
training design chosen by ``hazard: auto``, model as listed, gate and one extension, and on a hazard
design the refit with the held-out months that the scores come from; ``--no-refit`` scores with the
validated fit), then once more with ``shape: auto``. Every customer performing at the end date is scored and compared with its true
12-month PD.

The generator runs with ``exact_defaults`` (the ledger's defaults are exactly its latent ones, see
``creditlab.ledger.synth``), ``b_latent = 0`` (the true PD depends only on what the ledger holds:
industry, country, revenue, external score and tenure, the last through log(1 + years), which the
model does not know) and no regime shift, so ``truth/customers.csv``'s PD is the one a model of the
ledger can reach. Its intercept is set so the customers' mean true PD is the grid's.

Printed per ledger and shape: defaults in the ledger, the training design and its defaults, the
share of performing customers scored, the share of true PDs inside their 90 % intervals (target
85-95 %), mean PD over the true mean (target within 25 %), the correlation of the PD's log-odds with
the true ones (and scikit-learn logistic regression's on the same rows), the gate and the fit time.

    python benchmarks/pd_coverage.py [--customers 600] [--seed 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import platform
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from creditlab.features import WINDOW, snapshot_features
from creditlab.ledger.schema import CUSTOMER_ID, FOLLOW_UP, IN_DEFAULT, INDUSTRY
from creditlab.ledger.synth import SynthConfig, synthesize
from creditlab.models.validation import baseline_scores
from creditlab.run.settings import parse_pd_settings
from creditlab.run.stages.pd import fit_model, refit_design, training_design

PARAMS = Path(__file__).resolve().parents[1] / "params" / "weekly.yaml"


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-9, 1 - 1e-9)
    return np.log(p / (1 - p))


def _portfolio(customers: int, seed: int, years: float, rate: float):
    """A ledger whose customers' mean true 12-month PD is ``rate`` (the intercept found by
    bisection on the same customers: with ``b_latent = 0`` the intercept moves nothing else)."""
    base = SynthConfig(customers=customers, seed=seed, years=years, intercept=0.0, b_latent=0.0,
                       regime_shift=False, exact_defaults=True)  # fmt: skip
    offsets = synthesize(base).truth_customers["eta"].to_numpy()
    lo, hi = -15.0, 5.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if np.mean(1 / (1 + np.exp(-(offsets + mid)))) < rate else (lo, mid)
    return synthesize(dataclasses.replace(base, intercept=(lo + hi) / 2))


def _score(portfolio, settings, label: str) -> dict:
    """The PD stage's steps on one ledger, scored against the truth at its end date."""
    ledger = (portfolio.customers, portfolio.invoices, portfolio.events, portfolio.config.end)
    data = training_design(*ledger, settings)
    t0 = time.perf_counter()
    model, extended, gate = fit_model(data, settings)
    if (everything := refit_design(*ledger, settings, data)) is not None:
        data = everything  # the scores' model, as the stage refits it
        model, extended, gate = fit_model(data, settings)
    fit_s = time.perf_counter() - t0
    current = snapshot_features(*ledger)
    current = current.loc[~current[IN_DEFAULT]].reset_index(drop=True)
    truth = portfolio.truth_customers.set_index(CUSTOMER_ID)["pd_12m"]
    true = truth.reindex(current[CUSTOMER_ID]).to_numpy()
    draws = model.predict_draws(current)  # what PDModel.predict summarises, with the median
    p, median = draws.mean(axis=0), np.median(draws, axis=0)
    lo, hi = np.quantile(draws, [0.05, 0.95], axis=0)
    cols = [*settings.predictors, INDUSTRY]
    window = {WINDOW: 12} if data.hazard else {}
    train_cols = [*cols, *window]
    lr = baseline_scores(
        data.train[train_cols], data.train[data.target].to_numpy(), current[cols].assign(**window)
    )["scikit-learn logistic regression"]
    y = data.train[data.target].to_numpy()
    if data.hazard:  # each default once: the weight of its row's last month
        last = data.train[FOLLOW_UP].to_numpy() - 1
        weights = data.weights
        seen = (y * weights[np.arange(len(y)), last]).sum() / weights.sum() * 12
    else:
        seen = (y * data.weights).sum() / data.weights.sum()
    return {
        "ledger": label,
        "shape": settings.shape,
        "design": "hazard" if data.hazard else "12-month",
        "train_defaults": int(data.train[data.target].sum()),
        "scored": float(np.isfinite(hi).mean()),
        "covered": float(np.mean((lo <= true) & (true <= hi))),
        "below": float(np.mean(true < lo)),
        "above": float(np.mean(true > hi)),
        "mean_ratio": float(p.mean() / true.mean()),
        "median_ratio": float(median.mean() / true.mean()),
        "data_ratio": float(seen / true.mean()),
        "corr": float(np.corrcoef(_logit(p), _logit(true))[0, 1]),
        "corr_lr": float(np.corrcoef(_logit(lr), _logit(true))[0, 1]),
        "lr_ratio": float(lr.mean() / true.mean()),
        "gate": "passed" if gate.passed else "failed",
        "extended": extended,
        "fit_s": fit_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=600)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--shapes", nargs="+", default=["linear", "auto"])
    parser.add_argument("--no-refit", action="store_true")
    parser.add_argument("--years", nargs="+", type=float, default=[1.0, 2.0, 3.0])
    parser.add_argument("--rates", nargs="+", type=float, default=[0.005, 0.01, 0.02])
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    weekly = parse_pd_settings(yaml.safe_load(PARAMS.read_text())["pd_model"])
    rows = []
    for years, rate in [(y, r) for r in args.rates for y in args.years]:
        portfolio = _portfolio(args.customers, args.seed, years, rate)
        label = f"{years:g} y, {rate:.1%}"
        defaults = int(portfolio.truth_customers["defaulted"].sum())
        for shape in args.shapes:
            settings = dataclasses.replace(weekly, shape=shape, refit=not args.no_refit)
            rows.append({**_score(portfolio, settings, label), "ledger_defaults": defaults})
            print(rows[-1], flush=True)
    print(
        f"\n# {args.customers} customers per ledger, seed {args.seed}, params/weekly.yaml | "
        f"{platform.node()} | {os.cpu_count()} cores | Python {platform.python_version()} | "
        + ", ".join(f"{m} {metadata.version(m)}" for m in ("pymc", "nutpie", "scikit-learn"))
    )
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    for shape, g in table.groupby("shape"):
        inside = g["covered"].between(0.85, 0.95).sum()
        near = (g["mean_ratio"] - 1).abs().le(0.25).sum()
        print(
            f"{shape}: coverage 85-95 % on {inside} of {len(g)} ledgers (mean {g['covered'].mean():.1%}); "
            f"mean PD within 25 % on {near} of {len(g)}; log-odds correlation {g['corr'].mean():.2f} "
            f"(logistic regression {g['corr_lr'].mean():.2f})"
        )


if __name__ == "__main__":
    main()
