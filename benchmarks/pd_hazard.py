"""Short and low-default ledgers: the monthly hazard against the 12-month design and scikit-learn.

A grid of synthetic portfolios (600 customers; 1 to 3 years; the generator's default intercept and
a low one), each scored out of time exactly as the PD stage does: the 12-month design where the
ledger allows it (2.5 years), the monthly hazard always, and scikit-learn logistic regression and
gradient boosting on the same rows and split. Printed per design: training rows and defaults, the
validation span and its defaults, AUC, Brier score, mean PD against the observed default rate (the
calibration in the large), the share of customers scored, and the fit time.

The generator's ground truth is not what is compared against: its ledgers carry many more 90+ DPD
defaults than its latent default process (disputed and slipped invoices paid 90+ days late count
as defaults by the project's definition), so every figure here is against the outcomes the ledger
shows, the way a credit team would check.

    python benchmarks/pd_hazard.py [--customers 600]
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import time
from importlib import metadata

import numpy as np
import pandas as pd

from creditlab.features import FEATURES, hazard_data, snapshot_features, training_data
from creditlab.ledger.schema import IN_DEFAULT
from creditlab.ledger.synth import SynthConfig, synthesize
from creditlab.models.pd import ModelConfig, PDModel, SamplerConfig
from creditlab.models.validation import auc, brier
from creditlab.run.stages.pd import baseline_pds

GRID = [(years, intercept) for intercept in (-3.8, -5.5) for years in (1.0, 1.6, 3.0)]


def _evaluate(data, design: str, label: str, sampler: SamplerConfig, current) -> list[dict]:
    """The model and its baselines on one design's out-of-time split."""
    t0 = time.perf_counter()
    model = PDModel(list(FEATURES), ModelConfig(), sampler, data.period_months)
    model.fit(data.train, data.target)
    fit_s = time.perf_counter() - t0
    y = data.validation[data.target].to_numpy()
    p = model.predict(data.validation, months=data.validation_months)["pd_mean"].to_numpy()
    scored = model.predict(current)["pd_hi"].notna().mean()
    common = {
        "portfolio": label,
        "design": design,
        "train_rows": len(data.train),
        "train_defaults": int(data.train[data.target].sum()),
        "valid_months": data.validation_months,
        "valid_defaults": int(y.sum()),
        "observed": y.mean(),
    }
    rows = [{**common, "model": "creditlab", "auc": auc(y, p), "brier": brier(y, p),
             "mean_pd": p.mean(), "scored": scored, "fit_s": fit_s}]  # fmt: skip
    if data.train[data.target].nunique() == 2:
        for name, pb in baseline_pds(data, [*FEATURES, "industry"]).items():
            rows.append({**common, "model": name.replace("scikit-learn ", "sklearn "),
                         "auc": auc(y, pb), "brier": brier(y, pb), "mean_pd": pb.mean()})  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=600)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    sampler = SamplerConfig(sampler="nutpie", draws=1000, tune=1000, chains=2, cores=2, seed=1)
    rows = []
    for years, intercept in GRID:
        cfg = SynthConfig(customers=args.customers, seed=args.seed, years=years,
                          intercept=intercept)  # fmt: skip
        p = synthesize(cfg)
        ledger = (p.customers, p.invoices, p.events, cfg.end)
        current = snapshot_features(*ledger)
        current = current.loc[~current[IN_DEFAULT]]
        label = f"{years:g} y, intercept {intercept:g}"
        try:
            rows += _evaluate(training_data(*ledger), "12-month", label, sampler, current)
        except ValueError:
            rows.append({"portfolio": label, "design": "12-month", "model": "too short: no PD"})
        rows += _evaluate(hazard_data(*ledger), "hazard", label, sampler, current)
        print(f"done: {label}", flush=True)
    print(
        f"# {args.customers} customers per portfolio, seed {args.seed} | {platform.node()} | "
        f"{os.cpu_count()} cores | Python {platform.python_version()} | "
        + ", ".join(f"{m} {metadata.version(m)}" for m in ("pymc", "nutpie", "scikit-learn"))
    )
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.to_string(index=False, na_rep="", float_format=lambda v: f"{v:.3f}"))
    print("mean |mean PD / observed - 1|: " + ", ".join(
        f"{d}: {np.mean(np.abs(g['mean_pd'] / g['observed'] - 1)):.2f}"
        for d, g in table.loc[table["model"] == "creditlab"].groupby("design")
    ))  # fmt: skip


if __name__ == "__main__":
    main()
