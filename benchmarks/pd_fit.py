"""Benchmark: full NUTS fits of the hierarchical PD model, by sampler, against PyMC's default.

Data: a synthetic table with known coefficients (10 standardised predictors, 12 groups, ~5 %
defaults) and a held-out table from the same process for the AUC. Every sampler fits the same
PyMC model (``creditlab.models.pd.PDModel``, centred group intercepts) with 2 chains x (1000 tune +
1000 draws); ``numpyro:float32`` is the same model in single precision with chains in parallel
(what ``sampler: auto`` picks at this size). Each fit runs in its own process (fair compile times, own peak memory). Reported:
wall time of the whole fit (compile included), minimum bulk ESS over all parameters, ESS per second
of wall time, max R-hat, held-out AUC, peak memory; and the ESS/s ratio to PyMC's default sampler
measured in the same run. Also scikit-learn's logistic regression on the same data, for AUC.

    python benchmarks/pd_fit.py --rows 100000
    python benchmarks/pd_fit.py --rows 10000 --samplers nutpie numpyro pymc
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from importlib import metadata

import numpy as np
import pandas as pd

N_PRED, N_GROUPS = 10, 12


def simulate(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    beta = np.linspace(-0.8, 0.8, N_PRED)
    group_effect = np.random.default_rng(99).normal(-3.0, 0.5, N_GROUPS)
    x = rng.normal(size=(rows, N_PRED))
    g = rng.integers(0, N_GROUPS, rows)
    eta = group_effect[g] + x @ beta
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(N_PRED)])
    frame["industry"] = [f"g{i:02d}" for i in g]
    frame["y"] = (rng.random(rows) < 1 / (1 + np.exp(-eta))).astype(int)
    return frame


def child(spec: str, rows: int) -> None:
    import arviz as az

    from creditlab.models.pd import ModelConfig, PDModel, SamplerConfig
    from creditlab.models.validation import auc

    train, test = simulate(rows, 1), simulate(20_000, 2)
    predictors = [f"x{i}" for i in range(N_PRED)]
    sampler, _, precision = spec.partition(":")
    config = SamplerConfig(
        sampler=sampler,
        precision=precision or "float64",
        draws=1000,
        tune=1000,
        chains=2,
        cores=2,
        seed=1,
    )
    model = PDModel(predictors, ModelConfig(centred_min_events=1), config)
    t0 = time.perf_counter()
    model.fit(train, "y")
    wall = time.perf_counter() - t0
    summary = az.summary(
        model.idata, var_names=["mu", "sigma_group", "a_group", "beta"], kind="diagnostics"
    )
    sample_s = float(model.idata.posterior.attrs.get("sampling_time", float("nan")))
    beta_true = np.linspace(-0.8, 0.8, N_PRED) * [model.standardizer.scales[p] for p in predictors]
    hdi = az.hdi(model.idata, var_names=["beta"], hdi_prob=0.9)["beta"].to_numpy()
    result = {
        "wall_s": wall,
        "sample_s": sample_s,
        "ess_bulk": float(summary["ess_bulk"].min()),
        "rhat": float(summary["r_hat"].max()),
        "beta_in_90": float(np.mean((hdi[:, 0] <= beta_true) & (beta_true <= hdi[:, 1]))),
        "auc": auc(test["y"].to_numpy(), model.predict(test)["pd_mean"].to_numpy()),
        "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,
    }
    print(json.dumps(result))


def sklearn_row(rows: int) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import OneHotEncoder

    from creditlab.models.validation import auc

    train, test = simulate(rows, 1), simulate(20_000, 2)
    enc = OneHotEncoder().fit(train[["industry"]])
    cols = [f"x{i}" for i in range(N_PRED)]

    def design(f):
        return np.hstack([f[cols].to_numpy(), enc.transform(f[["industry"]]).toarray()])

    t0 = time.perf_counter()
    lr = LogisticRegression(max_iter=2000).fit(design(train), train["y"])
    wall = time.perf_counter() - t0
    return {
        "wall_s": wall,
        "sample_s": float("nan"),
        "ess_bulk": float("nan"),
        "rhat": float("nan"),
        "beta_in_90": float("nan"),
        "auc": auc(test["y"].to_numpy(), lr.predict_proba(design(test))[:, 1]),
        "peak_gb": float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--samplers",
        nargs="+",
        default=["numpyro:float32", "numpyro:float64", "nutpie", "pymc"],
        help="sampler[:precision] specs; pymc is the baseline",
    )
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return
    results = {}
    for sampler in args.samplers:
        proc = subprocess.run(
            [sys.executable, __file__, "--child", sampler, str(args.rows)],
            capture_output=True,
            text=True,
        )
        lines = proc.stdout.strip().splitlines()
        if proc.returncode != 0 or not lines:
            print(f"# {sampler} failed: {proc.stderr.strip().splitlines()[-1:]}", flush=True)
            continue
        results[sampler] = json.loads(lines[-1])
        print(f"# {sampler}: {results[sampler]}", flush=True)
    results["scikit-learn LR"] = sklearn_row(args.rows)
    frame = pd.DataFrame(results).T
    frame["ess_per_s"] = frame["ess_bulk"] / frame["wall_s"]
    base = frame.loc["pymc", "ess_per_s"] if "pymc" in frame.index else float("nan")
    frame["ratio_vs_pymc"] = frame["ess_per_s"] / base
    print(
        f"# PD model fit | {args.rows:,} rows x {N_PRED} predictors x {N_GROUPS} groups | "
        f"2 chains x (1000 tune + 1000 draws) | {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()} | "
        + ", ".join(
            f"{p} {metadata.version(p)}"
            for p in ("pymc", "pytensor", "nutpie", "numpyro", "jax", "scikit-learn")
        )
    )
    print(
        frame[
            [
                "wall_s",
                "sample_s",
                "ess_bulk",
                "ess_per_s",
                "ratio_vs_pymc",
                "rhat",
                "beta_in_90",
                "auc",
                "peak_gb",
            ]
        ].to_string(float_format=lambda v: f"{v:,.3f}")
    )


if __name__ == "__main__":
    main()
