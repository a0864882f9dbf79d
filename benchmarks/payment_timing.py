"""Benchmark: fit and forecast of the payment-timing model, and what bounds it at 100k customers.

Data: synthetic portfolios (``creditlab.ledger.synth``, payment days from the model's own family,
about 60 invoices per customer over three years). Each configuration runs in its own process (fair
compile times, own peak memory).

* At ``--compare-customers`` (default 1,000): full fits as a weekly run does them (payment frame,
  exact aggregation into likelihood cells, compile, NUTS 2 chains, convergence gate, forecast of
  every open invoice and the 13-week cash collections from 400 draws), with the sampler ``auto``
  picks (nutpie evaluating the model with Numba: numpyro measured ~3x slower on this model),
  against the same sampler evaluating it with JAX, against PyMC's default NUTS on the same model (ESS/s
  ratio) and against the same sampler fed one likelihood row per invoice instead of cells (the
  gain of sufficient statistics).
* At ``--customers`` (default 100,000, ~5M invoices): the payment frame, the aggregation, the cost
  of one log-density gradient (NUTS needs thousands; this is what bounds the fit) and the forecast
  of every open invoice with a posterior from the smaller fit; the projected full fit time.

    python benchmarks/payment_timing.py
    python benchmarks/payment_timing.py --customers 20000 --compare-customers 500
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import pandas as pd


def _portfolio(customers: int):
    from creditlab.ledger.synth import SynthConfig, synthesize

    cfg = SynthConfig(customers=customers, seed=11, years=3.0)
    return cfg, synthesize(cfg)


def _forecast(model, portfolio, cfg, frame, t: dict) -> int:
    from creditlab import kpi
    from creditlab.models.payment_forecast import cash_forecast

    items = kpi.open_items(portfolio.invoices, cfg.end)[["invoice_id", kpi.OPEN_AR]]
    open_frame = frame.merge(items, on="invoice_id").reset_index(drop=True)
    t0 = time.perf_counter()
    _, simulated = model.forecast(open_frame, cfg.end, 13, 400, 0.9, seed=1)
    cash_forecast(
        simulated, open_frame["due_on"], open_frame[kpi.OPEN_AR].to_numpy(), cfg.end, 13, 0.9
    )
    t["forecast (400 draws)"] = time.perf_counter() - t0
    return len(open_frame)


def fit_child(spec: str, save: str) -> None:
    """A full fit (``sampler:precision:customers:cells|rows:draws``), then the forecast."""
    import creditlab.models.payment as payment
    from creditlab.models.diagnostics import GateConfig
    from creditlab.models.payment import PaymentModel
    from creditlab.models.payment_data import PaymentConfig, payment_frame
    from creditlab.models.pd import SamplerConfig

    sampler, precision, customers, mode, draws = spec.split(":")
    if sampler == "nutpie-jax":  # the same sampler evaluating the model with JAX, not Numba
        sampler, payment.FULL_FIT_BACKEND = "nutpie", "jax"
    t = {}
    t0 = time.perf_counter()
    cfg, portfolio = _portfolio(int(customers))
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
        sampler=sampler, precision=precision, draws=int(draws), tune=int(draws), seed=1
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
    stats = model.idata.sample_stats
    steps = stats["n_steps"] if "n_steps" in stats else 2 ** stats["tree_depth"]
    n_open = _forecast(model, portfolio, cfg, frame, t)
    if save:
        model.save(save)
    print(
        json.dumps(
            {
                "customers": int(customers),
                "invoices": len(frame),
                "cells": model.n_cells,
                "open": n_open,
                **{f"t:{k}": v for k, v in t.items()},
                "fit_s": fit_s,
                "total_s": sum(v for k, v in t.items() if "not counted" not in k),
                "gradients": float(steps.sum()),
                "ess_bulk": float(checks["min bulk ESS"]),
                "rhat": float(checks["max R-hat"]),
                "divergences": float(checks["divergences"]),
                "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,
            }
        )
    )


def scale_child(customers: int, fitted: str) -> None:
    """At full size: frame, exact aggregation, the cost of one log-density gradient (what bounds
    NUTS), and the forecast of every open invoice from a posterior fitted on a smaller portfolio
    (its customers are unknown here, so their effects are drawn from the population)."""
    from creditlab.models.payment import PaymentModel
    from creditlab.models.payment_data import payment_frame

    t = {}
    t0 = time.perf_counter()
    cfg, portfolio = _portfolio(customers)
    t["synthesize (not counted)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    frame = payment_frame(portfolio.invoices, portfolio.customers, cfg.end)
    frame["customer_id"] = "big-" + frame["customer_id"]
    t["payment frame"] = time.perf_counter() - t0
    model = PaymentModel()
    t0 = time.perf_counter()
    pm_model = model.build(frame)
    t["aggregate + build"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    dlogp = pm_model.compile_logp(jacobian=True)  # warm the C cache for a fair timing below
    grad = pm_model.compile_dlogp()
    point = pm_model.initial_point()
    dlogp(point), grad(point)
    t["compile log-density (not counted)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(5):
        grad(point)
    grad_s = (time.perf_counter() - t0) / 5
    n_open = _forecast(PaymentModel.load(fitted), portfolio, cfg, frame, t)
    print(
        json.dumps(
            {
                "customers": customers,
                "invoices": len(frame),
                "cells": model.n_cells,
                "open": n_open,
                **{f"t:{k}": v for k, v in t.items()},
                "gradient_s": grad_s,
                "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,
            }
        )
    )


def run(*args: str) -> dict | None:
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        print(f"# {args} failed: {proc.stderr.strip().splitlines()[-3:]}", flush=True)
        return None
    print(f"# {' '.join(args)}: {lines[-1]}", flush=True)
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--compare-customers", type=int, default=1_000)
    parser.add_argument("--draws", type=int, default=500, help="tune = draws, 2 chains")
    parser.add_argument("--fit", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--scale", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fit:
        fit_child(*args.fit)
        return
    if args.scale:
        scale_child(int(args.scale[0]), args.scale[1])
        return
    small, d = args.compare_customers, args.draws
    sampler, precision = "nutpie", "float64"  # what sampler: auto means for this model
    ours = f"{small:,} customers: auto = {sampler} {precision} with Numba, cells"
    jax = f"{small:,} customers: {sampler} with JAX, cells"
    rows = f"{small:,} customers: {sampler}, one row per invoice"
    pymc = f"{small:,} customers: PyMC default NUTS, cells"
    with tempfile.TemporaryDirectory() as tmp:
        fitted = str(Path(tmp) / "fit.nc")
        results = {
            ours: run("--fit", f"{sampler}:{precision}:{small}:cells:{d}", fitted),
            jax: run("--fit", f"nutpie-jax:{precision}:{small}:cells:{d}", ""),
            rows: run("--fit", f"{sampler}:{precision}:{small}:rows:{d}", ""),
            pymc: run("--fit", f"pymc:float64:{small}:cells:{d}", ""),
        }
        big = run("--scale", str(args.customers), fitted) if results[ours] else None
    frame = pd.DataFrame({k: v for k, v in results.items() if v}).T
    frame["ess_per_s"] = frame["ess_bulk"] / frame["fit_s"]
    frame["s_per_gradient"] = frame["t:compile + sample"] / frame["gradients"]
    print(
        f"# payment-timing model | 2 chains x ({d} tune + {d} draws) | forecast: 400 draws, "
        f"13 weeks | {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()} | "
        + ", ".join(
            f"{p} {metadata.version(p)}"
            for p in ("pymc", "pytensor", "nutpie", "numpyro", "jax", "pandas")
        )
    )
    print(frame.T.to_string(float_format=lambda v: f"{v:,.3f}"))
    if pymc in frame.index and ours in frame.index:
        ratio = frame.loc[ours, "ess_per_s"] / frame.loc[pymc, "ess_per_s"]
        print(f"# ESS/s, auto vs PyMC default NUTS at {small:,} customers: {ratio:,.1f}x")
    if jax in frame.index and ours in frame.index:
        ratio = frame.loc[jax, "fit_s"] / frame.loc[ours, "fit_s"]
        print(f"# fit time, nutpie with JAX vs with Numba at {small:,} customers: {ratio:,.2f}x")
    if rows in frame.index and ours in frame.index:
        ratio = frame.loc[rows, "fit_s"] / frame.loc[ours, "fit_s"]
        print(f"# fit time, one row per invoice vs aggregated cells: {ratio:,.1f}x")
    if big:
        print(f"\n# at {args.customers:,} customers")
        print(pd.Series(big).to_string(float_format=lambda v: f"{v:,.3f}"))
        # NUTS steps grow roughly with the fourth root of the dimension (customer effects)
        steps = frame.loc[ours, "gradients"] * (args.customers / small) ** 0.25
        print(
            f"# projected NUTS fit at {args.customers:,} customers: {steps:,.0f} gradients x "
            f"{big['gradient_s']:.3f} s = {steps * big['gradient_s'] / 60:,.0f} min on this "
            "machine (bound: one gradient costs a pass over every likelihood cell)"
        )


if __name__ == "__main__":
    main()
