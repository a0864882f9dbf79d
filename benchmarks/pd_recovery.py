"""Parameter recovery at size: across seeds, how often do the PD model's 90 % intervals hold the
true coefficients and group intercepts? (About 90 % is what a calibrated posterior gives.)

Each seed simulates a table from known values (10 predictors, 12 groups), fits the PD model with
the sampler ``auto`` picks at that size, and counts the true values inside their 90 % HDIs.

    python benchmarks/pd_recovery.py --rows 20000 --seeds 10
"""

from __future__ import annotations

import argparse
import logging
import time

import arviz as az
import numpy as np
import pandas as pd

from creditlab.models.pd import ModelConfig, PDModel, SamplerConfig

N_PRED, N_GROUPS = 10, 12


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rows = []
    for seed in range(args.seeds):
        rng = np.random.default_rng(seed)
        beta = rng.normal(0, 0.5, N_PRED)
        mu, sigma = -3.0, 0.5
        groups = rng.normal(mu, sigma, N_GROUPS)
        x = rng.normal(size=(args.rows, N_PRED))
        g = rng.integers(0, N_GROUPS, args.rows)
        frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(N_PRED)])
        frame["industry"] = [f"g{i:02d}" for i in g]
        frame["y"] = (rng.random(args.rows) < 1 / (1 + np.exp(-(groups[g] + x @ beta)))).astype(int)
        model = PDModel(
            list(frame.columns[:N_PRED]),
            ModelConfig(),
            SamplerConfig(draws=1000, tune=1000, seed=seed),
        )
        t0 = time.perf_counter()
        model.fit(frame, "y")
        scale = np.array([model.standardizer.scales[c] for c in frame.columns[:N_PRED]])
        mean = np.array([model.standardizer.means[c] for c in frame.columns[:N_PRED]])
        b_hdi = az.hdi(model.idata, var_names=["beta"], hdi_prob=0.9)["beta"].to_numpy()
        a_hdi = az.hdi(model.idata, var_names=["a_group"], hdi_prob=0.9)["a_group"].to_numpy()
        b_true = beta * scale
        a_true = groups + mean @ beta  # intercepts move with the centring of the predictors
        rows.append(
            {
                "seed": seed,
                "events": int(frame["y"].sum()),
                "fit_s": time.perf_counter() - t0,
                "sampler": f"{model.sampled_with['sampler']}/{model.sampled_with['precision']}",
                "beta_covered": int(((b_hdi[:, 0] <= b_true) & (b_true <= b_hdi[:, 1])).sum()),
                "groups_covered": int(((a_hdi[:, 0] <= a_true) & (a_true <= a_hdi[:, 1])).sum()),
            }
        )
        print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    n_beta, n_group = len(table) * N_PRED, len(table) * N_GROUPS
    print(f"\n# {args.rows:,} rows x {N_PRED} predictors x {N_GROUPS} groups, {len(table)} seeds")
    print(
        f"coefficients inside their 90 % intervals: {table['beta_covered'].sum()} of {n_beta} "
        f"({table['beta_covered'].sum() / n_beta:.1%})"
    )
    print(
        f"group intercepts inside their 90 % intervals: {table['groups_covered'].sum()} of "
        f"{n_group} ({table['groups_covered'].sum() / n_group:.1%})"
    )
    print(f"mean fit time {table['fit_s'].mean():.1f} s ({table['sampler'].iloc[0]})")


if __name__ == "__main__":
    main()
