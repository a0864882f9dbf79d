"""Benchmark: fit and forecast of the payment-timing model, from 100k customers / ~5M invoices down.

Data: a synthetic portfolio (``creditlab.ledger.synth``, payment days from the model's own family).
Each configuration runs in its own process (fair compile times, own peak memory) and does what a
weekly run does: build the payment frame as of the end date, aggregate invoices into exact
likelihood cells, compile and sample NUTS (2 chains), and forecast every open invoice and the
13-week cash collections from 400 posterior draws. Reported: seconds per phase, minimum bulk ESS
and max R-hat over the population parameters and customer effects (the run's convergence gate:
at most 1,000 customer effects, a fixed random sample), ESS per second of fit, peak memory, and
ratios in the same run:

* against PyMC's default NUTS sampler on the same model and data (at ``--compare-customers``);
* against the same sampler fed one likelihood row per invoice instead of aggregated cells (the
  speed-up of sufficient statistics).

    python benchmarks/payment_timing.py                       # 100k customers + comparisons at 3k
    python benchmarks/payment_timing.py --customers 20000 --compare-customers 2000
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


def child(spec: str) -> None:
    import creditlab.models.payment as payment
    from creditlab import kpi
    from creditlab.ledger.synth import SynthConfig, synthesize
    from creditlab.models.diagnostics import GateConfig
    from creditlab.models.payment import PaymentConfig, PaymentModel, cash_forecast, payment_frame
    from creditlab.models.pd import SamplerConfig

    sampler, precision, customers, mode, draws = spec.split(":")
    t = {}
    t0 = time.perf_counter()
    cfg = SynthConfig(customers=int(customers), seed=11, years=3.0)
    portfolio = synthesize(cfg)
    t["synthesize (not counted)"] = time.perf_counter() - t0
    if mode == "rows":  # the same likelihood without aggregation: one cell per invoice
        cells_of = payment.payment_cells

        def one_row_per_invoice(frame, edges, covariates):
            cells, patterns = cells_of(frame, edges, covariates)
            rows = cells.loc[cells.index.repeat(cells["n"])].reset_index(drop=True)
            return rows.assign(n=1), patterns

        payment.payment_cells = one_row_per_invoice
    t0 = time.perf_counter()
    frame = payment_frame(portfolio.invoices, portfolio.customers, cfg.end)
    t["payment frame"] = time.perf_counter() - t0
    sampler_cfg = SamplerConfig(
        sampler=sampler,
        precision=precision,
        draws=int(draws),
        tune=int(draws),
        chains=2,
        cores=2,
        seed=1,
    )
    model = PaymentModel(PaymentConfig(), sampler_cfg)
    t0 = time.perf_counter()
    model.fit(frame)
    fit_s = time.perf_counter() - t0
    t["aggregate"] = model.timings["aggregate_s"]
    t["compile + sample"] = fit_s - model.timings["aggregate_s"]
    t0 = time.perf_counter()
    gate = model.gate(GateConfig(fatal=False))  # 1,000 customer effects at most, as in a run
    t["convergence gate"] = time.perf_counter() - t0
    checks = gate.table.set_index("check")["value"]
    items = kpi.open_items(portfolio.invoices, cfg.end)[["invoice_id", kpi.OPEN_AR]]
    open_frame = frame.merge(items, on="invoice_id").reset_index(drop=True)
    t0 = time.perf_counter()
    _, simulated = model.forecast(open_frame, cfg.end, 13, 400, 0.9, seed=1)
    cash_forecast(
        simulated, open_frame["due_on"], open_frame[kpi.OPEN_AR].to_numpy(), cfg.end, 13, 0.9
    )
    t["forecast (400 draws)"] = time.perf_counter() - t0
    result = {
        "customers": int(customers),
        "invoices": len(frame),
        "cells": model.n_cells,
        "open": len(open_frame),
        **{f"t:{k}": v for k, v in t.items()},
        "fit_s": fit_s,
        "total_s": sum(v for k, v in t.items() if "not counted" not in k),
        "ess_bulk": float(checks["min bulk ESS"]),
        "rhat": float(checks["max R-hat"]),
        "divergences": float(checks["divergences"]),
        "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,
    }
    print(json.dumps(result))


def run(spec: str) -> dict | None:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", spec], capture_output=True, text=True
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        print(f"# {spec} failed: {proc.stderr.strip().splitlines()[-3:]}", flush=True)
        return None
    print(f"# {spec}: {lines[-1]}", flush=True)
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--compare-customers", type=int, default=3_000)
    parser.add_argument("--draws", type=int, default=500, help="tune = draws, 2 chains")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    from creditlab.models.pd import SamplerConfig

    big = args.customers
    rows_at_big = big * 60  # about 60 invoices per customer
    sampler, precision = SamplerConfig(sampler="auto").resolve(rows_at_big)
    small = args.compare_customers
    small_sampler, small_precision = SamplerConfig(sampler="auto").resolve(small * 60)
    d = args.draws
    specs = {
        f"{big:,} customers, auto = {sampler} {precision}, cells": (
            f"{sampler}:{precision}:{big}:cells:{d}"
        ),
        f"{small:,} customers, auto = {small_sampler} {small_precision}, cells": (
            f"{small_sampler}:{small_precision}:{small}:cells:{d}"
        ),
        f"{small:,} customers, {small_sampler}, one row per invoice": (
            f"{small_sampler}:{small_precision}:{small}:rows:{d}"
        ),
        f"{small:,} customers, PyMC default NUTS, cells": f"pymc:float64:{small}:cells:{d}",
    }
    results = {name: run(spec) for name, spec in specs.items()}
    frame = pd.DataFrame({k: v for k, v in results.items() if v}).T
    frame["ess_per_s"] = frame["ess_bulk"] / frame["fit_s"]
    pymc = f"{small:,} customers, PyMC default NUTS, cells"
    ours = f"{small:,} customers, auto = {small_sampler} {small_precision}, cells"
    print(
        f"# payment-timing model | 2 chains x ({d} tune + {d} draws) | forecast: 400 draws, "
        f"13 weeks | {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()} | "
        + ", ".join(
            f"{p} {metadata.version(p)}"
            for p in ("pymc", "pytensor", "nutpie", "numpyro", "jax", "pandas")
        )
    )
    cols = [c for c in frame.columns if c.startswith("t:")]
    show = ["customers", "invoices", "cells", "open", *cols, "fit_s", "total_s", "ess_bulk"]
    show += ["ess_per_s", "rhat", "divergences", "peak_gb"]
    print(frame[show].T.to_string(float_format=lambda v: f"{v:,.2f}"))
    if pymc in frame.index and ours in frame.index:
        ratio = frame.loc[ours, "ess_per_s"] / frame.loc[pymc, "ess_per_s"]
        print(f"# ESS/s, auto vs PyMC default NUTS at {small:,} customers: {ratio:,.1f}x")
    rows = f"{small:,} customers, {small_sampler}, one row per invoice"
    if rows in frame.index and ours in frame.index:
        ratio = frame.loc[rows, "fit_s"] / frame.loc[ours, "fit_s"]
        print(f"# fit time, one row per invoice vs aggregated cells: {ratio:,.1f}x")
    if np.isfinite(frame["total_s"]).all():
        print(f"# target: under 120 s at {big:,} customers (fit + forecast, synthesis not counted)")


if __name__ == "__main__":
    main()
