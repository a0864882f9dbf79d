"""Benchmark: portfolios per hour, one after the other versus on a local Dask cluster.

N CI-sized portfolios (synthetic, each its own seed; PD model, payment model, decisions and the
weekly report, no cached fits) run as one batch (``creditlab.run.batch.run_portfolios``):
sequentially in one process without Dask (what a loop over ``creditlab run weekly`` does, minus
the process start-ups), then on a LocalCluster of 1, 2 and 2 x cores worker processes. Every
configuration runs the same portfolios into a fresh folder, after one untimed warm-up run that
fills the compile caches; the table gives wall time, portfolios per hour and the speed-up over
sequential, and checks every run succeeded.

    python benchmarks/portfolios.py                  # 4 portfolios
    python benchmarks/portfolios.py --portfolios 8 --workers 1 2 4 8
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from importlib import metadata
from pathlib import Path

import yaml

from creditlab.run.batch import discover, run_portfolios

ROOT = Path(__file__).resolve().parents[1]


def write_params(folder: Path, n: int, customers: int) -> list[Path]:
    base = yaml.safe_load((ROOT / "params" / "ci.yaml").read_text())
    base["reports"] = {"model_validation": False, "customer_reviews": 0}
    paths = []
    for i in range(n):
        params = {
            **base,
            "title": f"Weekly portfolio report (unit {i + 1})",
            "portfolio": f"unit{i + 1}",
            "synthetic": {**base["synthetic"], "customers": customers, "seed": 100 + i},
        }
        path = folder / f"unit{i + 1}.yaml"
        path.write_text(yaml.safe_dump(params))
        paths.append(path)
    return paths


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--portfolios", type=int, default=4)
    ap.add_argument("--customers", type=int, default=150)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 2 * (os.cpu_count() or 1)])
    args = ap.parse_args()
    print(
        f"# portfolios per hour | {platform.node()} | {platform.machine()} | {os.cpu_count()} cores "
        f"| Python {platform.python_version()} | "
        + ", ".join(f"{p} {metadata.version(p)}" for p in ("dask", "distributed", "pymc", "nutpie"))
    )
    print(
        f"\n{args.portfolios} portfolios of {args.customers} customers (params/ci.yaml otherwise: "
        "PD 2 x 400 draws, payment model 2 x 300, decisions, weekly report; no cached fits)\n"
    )
    print("| how | wall (s) | portfolios/hour | speed-up | threads per portfolio | succeeded |")
    print("|---|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "params").mkdir()
        jobs = discover(write_params(tmp / "params", args.portfolios, args.customers))
        # warm-up, not timed: the first run of a model compiles it into the on-disk caches
        # (pytensor's C code, numba) that every later run, in any process, reuses
        run_portfolios(jobs[:1], out=tmp / "warm-up", workers=0)
        base = None
        for workers in [0, *args.workers]:
            t0 = time.perf_counter()
            results = run_portfolios(jobs, out=tmp / f"out{workers}", workers=workers)
            wall = time.perf_counter() - t0
            base = base or wall
            ok = sum(r["status"] == "succeeded" for r in results)
            threads = sorted({r.get("threads") for r in results if r.get("threads")})
            how = "sequential (no Dask)" if workers == 0 else f"Dask, {workers} worker(s)"
            print(
                f"| {how} | {wall:.0f} | {len(results) / wall * 3600:.0f} | {base / wall:.2f}x "
                f"| {'/'.join(map(str, threads))} | {ok}/{len(results)} |"
            )


if __name__ == "__main__":
    main()
