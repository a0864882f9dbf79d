"""Bring-your-own-table PD on a public credit table (CSV, Parquet or ARFF): one stratified 80/20
split, creditlab's table model (posterior mean PD; the default scorecard shape, binned effects with
a missing bin, and straight lines) against scikit-learn logistic regression and gradient boosting
on the same rows: AUC, Brier score, fit time, bulk ESS per second (the worst parameter's) and the
convergence gate.

    python benchmarks/credit_tables.py \\
        [--table ../shared/data/credit_tables/polish_bankruptcy/1year.arff --target bankruptcy]
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import time
from importlib import metadata
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from creditlab.models.diagnostics import GateConfig
from creditlab.models.pd import SamplerConfig
from creditlab.models.table import SHAPES, fit_table, read_table, score_table, target_values
from creditlab.models.validation import auc, baseline_scores, brier

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "credit_tables"
DEFAULT = SHARED / "polish_bankruptcy" / "1year.arff"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--table", type=Path, default=DEFAULT)
    parser.add_argument("--target", default="bankruptcy")
    parser.add_argument("--positive", default=None)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    frame = read_table(args.table)
    y = target_values(frame[args.target], args.positive, args.target)
    train, test = train_test_split(frame.index, test_size=0.2, stratify=y, random_state=0)
    x = frame.drop(columns=args.target)
    yt = y[frame.index.get_indexer(test)]
    rows = []
    for shape in SHAPES:  # the scorecard shape (default), then straight lines
        t0 = time.perf_counter()
        model, gate = fit_table(
            frame.loc[train], args.target, positive=args.positive, shape=shape,
            sampler=SamplerConfig(draws=args.draws, tune=args.tune, seed=0),
            gate=GateConfig(fatal=False),
        )  # fmt: skip
        fit_s = time.perf_counter() - t0
        p = score_table(model, x.loc[test])["pd_mean"].to_numpy()
        checks = gate.table.set_index("check")["value"]
        rows.append((f"creditlab, shape {shape} ({model.sampled_with['mass_matrix']} mass matrix)",
                     auc(yt, p), brier(yt, p), fit_s, checks["min bulk ESS"] / fit_s,
                     "passed" if gate.passed else "FAILED"))  # fmt: skip
    t0 = time.perf_counter()
    for name, pb in baseline_scores(
        x.loc[train], y[frame.index.get_indexer(train)], x.loc[test]
    ).items():
        rows.append((name, auc(yt, pb), brier(yt, pb), time.perf_counter() - t0, None, ""))
    print(
        f"# {args.table.name}: {len(frame):,} rows, {x.shape[1]} columns, default rate "
        f"{y.mean():.1%}; one stratified 80/20 split (seed 0) | {platform.node()} | "
        f"{os.cpu_count()} cores | Python {platform.python_version()} | "
        + ", ".join(f"{m} {metadata.version(m)}" for m in ("pymc", "nutpie", "scikit-learn"))
    )
    print(
        pd.DataFrame(
            rows, columns=["model", "auc", "brier", "fit_s", "bulk_ess_per_s", "gate"]
        ).to_string(index=False, float_format=lambda v: f"{v:.3f}")
    )
    capped = len(model.standardizer.bounds)
    print(f"predictors capped for heavy tails: {capped} of {len(model.standardizer.columns)}")


if __name__ == "__main__":
    main()
