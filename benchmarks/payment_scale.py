"""Benchmark: the payment-timing model at 100k customers, fitted on a sample of customers with every
other customer's effect drawn given each posterior draw (``payment_model.model.sample_customers``).

1. Quality on a size both can do (``--compare-customers``, default 1,000, synthetic ledger outside
   the model's family, split 240 days before its end): the backtest of a full NUTS fit against a fit
   on a sample of ``--compare-sample`` (300) customers: AUC of "late", MAE and RMSE of days to
   settle, coverage of the 90 % interval, fit time.
2. At ``--customers`` (default 100,000, about 5M invoices; in a child process for its own peak
   memory): the payment frame, the sample fit (the default ``sample_above`` and
   ``sample_customers``; the weekly run's sampler: nutpie 2 x (1000 + 1000)), the conditional
   effects of the other customers, the gate, and the forecast of every open invoice with the
   13-week cash collections from 400 draws.

    python benchmarks/payment_scale.py
    python benchmarks/payment_scale.py --customers 20000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import time
from importlib import metadata

SAMPLER = {"sampler": "nutpie", "draws": 1000, "tune": 1000, "chains": 2, "cores": 2, "seed": 1}


def quality(customers: int, sample: int) -> None:
    from creditlab import backtest
    from creditlab.ledger.synth import SynthConfig, synthesize
    from creditlab.models.payment_data import PaymentConfig
    from creditlab.models.sampling import SamplerConfig

    cfg = SynthConfig(customers=customers, seed=5, years=2.0, regime_shift=False)
    portfolio = synthesize(cfg)
    split = cfg.end - dt.timedelta(days=240)
    print(f"\n## quality at {customers:,} customers (synthetic, split {split})\n")
    print("| fit | customers in NUTS | AUC late | MAE days | RMSE days | 90 % coverage | fit s |")
    print("|---|---|---|---|---|---|---|")
    for name, n in (("full NUTS", 0), (f"sample of {sample}", sample)):
        t0 = time.perf_counter()
        result = backtest(
            portfolio.invoices, portfolio.customers, split,
            PaymentConfig(sample_customers=n, sample_above=n), SamplerConfig(**SAMPLER),
            events=portfolio.events,
        )  # fmt: skip
        seconds = time.perf_counter() - t0
        ours = result.comparison.iloc[0]
        fitted = len(result.model.fitted)
        print(
            f"| {name} | {fitted:,} | {ours['auc']:.3f} | {ours['mae_days']:.2f} | "
            f"{ours['rmse_days']:.2f} | {result.coverage:.1%} | {seconds:.0f} |",
            flush=True,
        )


def scale_child(customers: int) -> None:
    from payment_timing import _forecast  # the same forecast and cash timing (benchmarks/)

    from creditlab.ledger.synth import SynthConfig, synthesize
    from creditlab.models.payment import PaymentModel
    from creditlab.models.payment_data import PaymentConfig, payment_frame
    from creditlab.models.sampling import SamplerConfig

    t = {}
    t0 = time.perf_counter()
    cfg = SynthConfig(customers=customers, seed=11, years=3.0)
    portfolio = synthesize(cfg)
    t["synthesize (not counted)"] = time.perf_counter() - t0
    start = time.perf_counter()
    frame = payment_frame(portfolio.invoices, portfolio.customers, cfg.end, events=portfolio.events)
    t["payment frame"] = time.perf_counter() - start
    model = PaymentModel(PaymentConfig(), SamplerConfig(**SAMPLER)).fit(frame)
    t["sample fit (aggregate, compile, NUTS)"] = model.timings["fit_s"]
    t["conditional effects"] = model.timings.get("conditional_s", 0.0)
    t0 = time.perf_counter()
    gate = model.gate()
    t["gate"] = time.perf_counter() - t0
    n_open = _forecast(model, portfolio, cfg, frame, t)  # every open invoice and the cash
    t["total (counted)"] = time.perf_counter() - start
    print(
        json.dumps(
            {
                "customers": len(model.customers),
                "fitted_customers": len(model.fitted),
                "invoices": len(frame),
                "cells": model.n_cells,
                "open": n_open,
                "gate_passed": gate.passed,
                "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,
                **{f"t:{k}": v for k, v in t.items()},
            },
            default=str,
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--compare-customers", type=int, default=1_000)
    parser.add_argument("--compare-sample", type=int, default=300)
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--scale", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.scale:
        scale_child(args.scale)
        return
    print(
        f"# payment model at scale | {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()} | "
        + ", ".join(f"{p} {metadata.version(p)}" for p in ("pymc", "nutpie", "numba", "pandas"))
    )
    if not args.skip_quality:
        quality(args.compare_customers, args.compare_sample)
    proc = subprocess.run(
        [sys.executable, __file__, "--scale", str(args.customers)], capture_output=True, text=True
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        print(f"# the {args.customers:,}-customer run failed: {proc.stderr.strip()[-2000:]}")
        return
    r = json.loads(lines[-1])
    print(
        f"\n## {r['customers']:,} customers ({r['fitted_customers']:,} in NUTS), "
        f"{r['invoices']:,} invoices, {r['cells']:,} cells, {r['open']:,} open invoices; "
        f"gate passed: {r['gate_passed']}; peak memory {r['peak_gb']:.1f} GB\n"
    )
    print("| step | seconds |")
    print("|---|---|")
    for key, value in r.items():
        if key.startswith("t:"):
            print(f"| {key[2:]} | {value:.1f} |")


if __name__ == "__main__":
    main()
