"""Benchmark: ledgers larger than memory, and scoring a million customers with posterior draws.

1. A bulk synthetic ledger (``creditlab.ledger.bulk``; default 20M invoices, 1M customers) is
   validated into a DuckDB file under a memory limit (default 1 GB, spilling to disk), then the
   point-in-time features as of the last date and the labelled training snapshots are built in SQL
   (``creditlab.features_sql``): time, throughput and peak memory (max RSS of its own process).
2. At a size both paths handle (default 2M invoices), the same steps with the in-memory path
   (``load_ledger`` into pandas, ``features.snapshot_features``, ``features.training_data``) and the
   DuckDB path, each in its own process.
3. Scoring: a PD model fitted on a CI-sized synthetic portfolio (2 chains x 500 draws = 1,000
   posterior draws) scores the 1M customers' features in chunks (``PDModel.predict``, at most
   ``PREDICT_CELLS`` draws x rows at once): time and peak memory, against what one pass would need.

    python benchmarks/large_ledger.py                         # 20M invoices (~10 min here)
    python benchmarks/large_ledger.py --invoices 2000000 --customers 100000 --compare 500000
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
import tempfile
import time
from importlib import metadata
from pathlib import Path

AS_OF = dt.date(2026, 11, 20)


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def streamed(folder: Path, work: Path, memory_limit: str) -> dict:
    from creditlab.features_sql import snapshot_features_sql, training_data_sql
    from creditlab.ledger.stream import EngineLimits, connect, load_into_database

    limits = EngineLimits(memory_limit, work / "spill")
    t0 = time.perf_counter()
    loaded = load_into_database(folder, work / "ledger.duckdb", limits=limits)
    t1 = time.perf_counter()
    con = connect(work / "ledger.duckdb", limits, read_only=True)
    features = snapshot_features_sql(con, AS_OF)
    t2 = time.perf_counter()
    training = training_data_sql(con, AS_OF)
    t3 = time.perf_counter()
    con.close()
    features.to_parquet(work / "features.parquet", index=False)
    counts = loaded.counts.set_index("table")
    return {
        "invoices": int(counts.loc["invoices", "read"]),
        "rejected": int(loaded.rejected),
        "validate_s": t1 - t0,
        "features_s": t2 - t1,
        "training_s": t3 - t2,
        "customers": len(features),
        "training_rows": len(training.train) + len(training.validation),
        "database_gb": (work / "ledger.duckdb").stat().st_size / 1024**3,
    }


def in_memory(folder: Path, work: Path, memory_limit: str) -> dict:
    from creditlab.features import snapshot_features, training_data
    from creditlab.ledger.load import load_ledger

    t0 = time.perf_counter()
    ledger = load_ledger(folder)
    t1 = time.perf_counter()
    features = snapshot_features(ledger.customers, ledger.invoices, ledger.events, AS_OF)
    t2 = time.perf_counter()
    training = training_data(ledger.customers, ledger.invoices, ledger.events, AS_OF)
    t3 = time.perf_counter()
    return {
        "invoices": int(ledger.counts.set_index("table").loc["invoices", "read"]),
        "rejected": len(ledger.rejects),
        "validate_s": t1 - t0,
        "features_s": t2 - t1,
        "training_s": t3 - t2,
        "customers": len(features),
        "training_rows": len(training.train) + len(training.validation),
    }


def scoring(folder: Path, work: Path, memory_limit: str) -> dict:
    import pandas as pd

    from creditlab.features import FEATURES, TARGET, training_data
    from creditlab.ledger.schema import COUNTRY, INDUSTRY
    from creditlab.ledger.synth import SynthConfig, synthesize
    from creditlab.models.diagnostics import GateConfig
    from creditlab.models.pd import PREDICT_CELLS
    from creditlab.models.sampling import SamplerConfig
    from creditlab.models.table import fit_table, score_table

    p = synthesize(SynthConfig(customers=400, seed=11))
    data = training_data(p.customers, p.invoices, p.events, AS_OF)
    t0 = time.perf_counter()
    model, gate = fit_table(
        data.train[[INDUSTRY, COUNTRY, *FEATURES, TARGET]],
        TARGET,
        groups=(INDUSTRY,),
        sampler=SamplerConfig(sampler="nutpie", draws=500, tune=500, chains=2, seed=3),
        gate=GateConfig(fatal=False),
    )
    fit_s = time.perf_counter() - t0
    features = pd.read_parquet(work / "features.parquet")
    before = _peak_gb()
    t0 = time.perf_counter()
    scored = score_table(model, features)
    score_s = time.perf_counter() - t0
    draws = model.idata.posterior.sizes["chain"] * model.idata.posterior.sizes["draw"]
    return {
        "customers": len(scored),
        "draws": int(draws),
        "fit_s": fit_s,
        "gate": "passed" if gate.passed else "failed",
        "score_s": score_s,
        "chunk_rows": max(1, PREDICT_CELLS // draws),
        "one_pass_gb": 3 * draws * len(scored) * 8 / 1024**3,  # eta, exp, quantile copy
        "rss_before_gb": before,
        "mean_pd": float(scored["pd_mean"].mean()),
    }


STEPS = {"streamed": streamed, "in_memory": in_memory, "scoring": scoring}


def child(step: str, folder: str, work: str, memory_limit: str) -> None:
    result = STEPS[step](Path(folder), Path(work), memory_limit)
    result["peak_rss_gb"] = _peak_gb()
    print(json.dumps(result))


def run(step: str, folder: Path, work: Path, memory_limit: str) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", step, str(folder), str(work), memory_limit],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{step} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--invoices", type=int, default=20_000_000)
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--compare", type=int, default=2_000_000, help="invoices for the comparison")
    ap.add_argument("--memory-limit", default="1GB")
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(*args.child)
    from creditlab.ledger.bulk import write_bulk_ledger

    print(
        f"# large ledger | {platform.node()} | {platform.machine()} | {os.cpu_count()} cores | "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 1024**3:.0f} GiB RAM | "
        f"Python {platform.python_version()} | "
        + ", ".join(f"{p} {metadata.version(p)}" for p in ("duckdb", "pandas", "numpy", "pymc"))
    )
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        big = write_bulk_ledger(
            tmp / "big", customers=args.customers, invoices=args.invoices, bad_share=0.001
        )
        size = sum(f.stat().st_size for f in big.glob("*.csv")) / 1024**3
        print(
            f"\nbulk ledger: {args.invoices:,} invoices, {args.customers:,} customers, "
            f"{size:.2f} GB of CSV, written in {time.perf_counter() - t0:.0f} s; DuckDB memory "
            f"limit {args.memory_limit} (the CSV alone is {size:.1f} GB)"
        )
        (tmp / "w_big").mkdir()
        r = run("streamed", big, tmp / "w_big", args.memory_limit)
        total = r["validate_s"] + r["features_s"] + r["training_s"]
        print("\n| step | time (s) | invoices/s |\n|---|---:|---:|")
        for key, label in (("validate_s", "validate into DuckDB"), ("features_s", "features as of"),
                           ("training_s", "training snapshots + labels")):  # fmt: skip
            print(f"| {label} | {r[key]:.1f} | {r['invoices'] / r[key]:,.0f} |")
        print(f"| all | {total:.1f} | {r['invoices'] / total:,.0f} |")
        print(
            f"\nrejected {r['rejected']:,} rows on purpose; {r['customers']:,} customers' features; "
            f"{r['training_rows']:,} training rows; database {r['database_gb']:.2f} GB; "
            f"peak RSS {r['peak_rss_gb']:.2f} GB"
        )

        s = run("scoring", big, tmp / "w_big", args.memory_limit)
        print(
            f"\nscoring {s['customers']:,} customers x {s['draws']:,} posterior draws "
            f"(chunks of {s['chunk_rows']:,} rows): {s['score_s']:.1f} s "
            f"({s['customers'] / s['score_s']:,.0f} customers/s), peak RSS {s['peak_rss_gb']:.2f} GB "
            f"({s['rss_before_gb']:.2f} GB before scoring); one pass would hold "
            f"~{s['one_pass_gb']:.0f} GB. PD model fit {s['fit_s']:.0f} s (gate {s['gate']}), "
            f"mean PD {s['mean_pd']:.1%}"
        )

        small = write_bulk_ledger(
            tmp / "small",
            customers=max(1000, args.compare // 20),
            invoices=args.compare,
            bad_share=0.001,
        )
        rows = []
        for step in ("in_memory", "streamed"):
            (tmp / f"w_{step}").mkdir()
            rows.append((step, run(step, small, tmp / f"w_{step}", args.memory_limit)))
        print(f"\n## same steps, {args.compare:,} invoices: in memory (pandas) vs DuckDB\n")
        print("| path | validate (s) | features (s) | training (s) | all (s) | peak RSS (GB) |")
        print("|---|---:|---:|---:|---:|---:|")
        for step, r in rows:
            all_s = r["validate_s"] + r["features_s"] + r["training_s"]
            print(
                f"| {step} | {r['validate_s']:.1f} | {r['features_s']:.1f} | {r['training_s']:.1f} "
                f"| {all_s:.1f} | {r['peak_rss_gb']:.2f} |"
            )
        (_, a), (_, b) = rows
        ratio = sum(a[k] for k in ("validate_s", "features_s", "training_s")) / sum(
            b[k] for k in ("validate_s", "features_s", "training_s")
        )
        assert a["customers"] == b["customers"] and a["training_rows"] == b["training_rows"]
        print(
            f"\nDuckDB path: {ratio:.1f}x the in-memory path's speed, "
            f"{a['peak_rss_gb'] / b['peak_rss_gb']:.1f}x less peak memory"
        )


if __name__ == "__main__":
    main()
