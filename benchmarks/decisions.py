"""Benchmark: every decision for a portfolio from stored posterior draws, against re-fitting.

A synthetic portfolio (default 5,000 customers, 3 years) is prepared and the PD stage fits the model
once (nutpie, 2 chains x 500 draws = 1,000 posterior draws, saved to the run folder). Then the
decisions stage runs from the stored draws: grades and segments, limits, ECL, the provision matrix
(by industry), the worklist, alerts, terms economics and the scenario grid, all files written.
Reported: the time of each part, the total, peak memory, and the ratio to what a user would do
without stored draws (re-fit the PD model, then decide).

    python benchmarks/decisions.py --customers 5000
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import tempfile
import time
from importlib import metadata
from pathlib import Path

import yaml

from creditlab.run.params import load_params
from creditlab.run.prepare import prepare_run
from creditlab.run.stages.decisions import run_decision_stage
from creditlab.run.stages.pd import run_pd_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=5_000)
    parser.add_argument("--draws", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        params = {
            "portfolio": "bench",
            "synthetic": {"customers": args.customers, "seed": 5, "years": 3.0},
            "as_of": "2026-11-20",
            "pd_model": {
                "sampler": {
                    "sampler": "nutpie",
                    "draws": args.draws // 2,
                    "tune": 500,
                    "chains": 2,
                    "cores": 2,
                },
                "gate": {"fatal": False},
            },
            "decisions": {
                "draws": args.draws,
                "lgd_by": "industry",
                "provisions": {"segment_by": "industry"},
                "scenarios": [
                    {
                        "name": "downturn",
                        "pd_multiplier": 1.5,
                        "lgd_shock": 0.1,
                        "provision_multiplier": 1.5,
                    },
                    {"name": "construction crisis", "industry_multipliers": {"construction": 3.0}},
                    {"name": "recovery", "pd_multiplier": 0.8, "provision_multiplier": 0.9},
                ],
            },
        }
        path = Path(tmp) / "bench.yaml"
        path.write_text(yaml.safe_dump(params))
        p = load_params(path)
        t0 = time.perf_counter()
        run = prepare_run(p, Path(tmp) / "run")
        t_prepare = time.perf_counter() - t0
        t0 = time.perf_counter()
        pd_summary = run_pd_stage(run)
        t_fit = time.perf_counter() - t0
        settings = p.decisions
        runs = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            summary = run_decision_stage(run, settings)
            runs.append((time.perf_counter() - t0, summary))
        t_decide, summary = min(runs, key=lambda r: r[0])
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6

    print(
        f"# decisions from stored draws | {platform.node()} | {platform.processor() or platform.machine()}"
        f" | {os.cpu_count()} cores | Python {platform.python_version()} | "
        + ", ".join(
            f"{m} {metadata.version(m)}" for m in ("numpy", "pandas", "scipy", "pymc", "nutpie")
        )
    )
    print(
        f"# portfolio: {args.customers:,} customers, {len(run.ledger.invoices):,} invoices "
        f"(prepared in {t_prepare:.1f} s); {summary['draws']:,} posterior draws; PD fit on "
        f"{pd_summary['train_rows']:,} customer-snapshots; best of {args.repeat}"
    )
    print(f"{'part':<32} {'seconds':>8}")
    for part, seconds in summary["timings_s"].items():
        print(f"{part:<32} {seconds:>8.2f}")
    print(f"{'all decisions (files written)':<32} {t_decide:>8.2f}")
    print(f"{'re-fit PD model (baseline)':<32} {t_fit:>8.2f}")
    print(
        f"peak memory {peak:.2f} GB; decisions from stored draws vs re-fit + decide: "
        f"{(t_fit + t_decide) / t_decide:.1f}x faster; target < 10 s: "
        f"{'met' if t_decide < 10 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
