"""Bring-your-own-table PD on the German credit data: 5-fold cross-validated AUC and Brier score of
creditlab's table model (posterior mean PD) against scikit-learn logistic regression and gradient
boosting with the same folds.

    python benchmarks/german_credit.py [--table ../shared/data/german_credit/germancredit.csv]
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from creditlab.models.diagnostics import GateConfig
from creditlab.models.pd import SamplerConfig
from creditlab.models.table import fit_table, score_table, target_values
from creditlab.models.validation import auc, baseline_scores, brier

DEFAULT = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "german_credit" / "germancredit.csv"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--table", type=Path, default=DEFAULT)
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    frame = pd.read_csv(args.table)
    y = target_values(frame["creditability"], "bad", "creditability")
    x = frame.drop(columns="creditability")
    rows = []
    folds = StratifiedKFold(args.folds, shuffle=True, random_state=0)
    for k, (train, test) in enumerate(folds.split(x, y)):
        t0 = time.perf_counter()
        model, gate = fit_table(
            frame.iloc[train],
            "creditability",
            positive="bad",
            sampler=SamplerConfig(draws=1500, tune=1000, seed=k),
            gate=GateConfig(fatal=False),
        )
        p = score_table(model, x.iloc[test])["pd_mean"].to_numpy()
        rows.append(
            {
                "fold": k,
                "model": "creditlab (Bayesian, posterior mean)",
                "auc": auc(y[test], p),
                "brier": brier(y[test], p),
                "fit_s": time.perf_counter() - t0,
                "gate": "passed" if gate.passed else "failed",
            }
        )
        t0 = time.perf_counter()
        for name, pb in baseline_scores(x.iloc[train], y[train], x.iloc[test], seed=k).items():
            rows.append(
                {
                    "fold": k,
                    "model": name,
                    "auc": auc(y[test], pb),
                    "brier": brier(y[test], pb),
                    "fit_s": time.perf_counter() - t0,
                    "gate": "",
                }
            )
        print(pd.DataFrame(rows[-3:]).to_string(index=False, header=k == 0), flush=True)
    table = (
        pd.DataFrame(rows)
        .groupby("model")
        .agg(
            auc=("auc", "mean"),
            auc_sd=("auc", "std"),
            brier=("brier", "mean"),
            brier_sd=("brier", "std"),
            fit_s=("fit_s", "mean"),
        )
    )
    print(f"\n# German credit, {len(frame):,} rows, {args.folds}-fold stratified CV (seed 0)")
    print(table.to_string(float_format=lambda v: f"{v:.3f}"))
    print(
        f"gates passed: {sum(r['gate'] == 'passed' for r in rows)} of {args.folds}; "
        f"bad rate {np.mean(y):.1%}"
    )


if __name__ == "__main__":
    main()
