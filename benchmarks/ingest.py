"""Benchmark: ingest + validate + KPIs on a large synthetic ledger, creditlab vs plain pandas.

Both paths do the same steps on the same files: read customers, invoices and events as text, parse
and check every rule of the ledger contract (rejects with row numbers), check references, then
compute the weekly KPIs (the same ``creditlab.kpi`` functions). creditlab validates inside DuckDB;
the baseline is what a careful analyst would write with pandas alone. Each path runs in its own
process so peak memory (max RSS) is its own.

A third row loads the same ledger written as a messy export (``messy``): no issue date (each
invoice's terms instead, ``issued_on`` derived as ``due_on - terms``), customer ids in lower case
for half the rows (normalised), a tenth of the invoices in CAD (converted at a constant rate).
Its open AR must equal the clean ledger's: mapping, derivation and conversion change nothing.

    python benchmarks/ingest.py                      # 100k customers, ~5M invoices
    python benchmarks/ingest.py --customers 20000    # a quicker look
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

import duckdb
import numpy as np
import pandas as pd

from creditlab import kpi
from creditlab.ledger.fx import load_fx
from creditlab.ledger.load import load_ledger
from creditlab.ledger.schema import TABLES
from creditlab.ledger.synth import SynthConfig, synthesize
from creditlab.ledger.synth_files import write_portfolio

AS_OF = "2026-11-20"
_TRUE, _FALSE = {"true", "t", "yes", "y", "1"}, {"false", "f", "no", "n", "0"}


def kpis(customers: pd.DataFrame, invoices: pd.DataFrame) -> dict:
    kpi.customer_exposure(customers, invoices, AS_OF)
    kpi.aging(invoices, AS_OF)
    kpi.monthly_trend(invoices, AS_OF, 12)
    kpi.at_risk_rates(invoices, AS_OF, 12)
    kpi.industry_kpis(customers, invoices, AS_OF)
    return kpi.headline(customers, invoices, AS_OF)


def pandas_validate(frame: pd.DataFrame, table: str, currency: str) -> tuple[pd.DataFrame, int]:
    """The ledger contract's row rules in plain pandas; returns (loaded typed rows, rejects)."""
    spec = TABLES[table]
    problems = pd.Series("", index=frame.index)
    out = pd.DataFrame(index=frame.index)

    def flag(mask: pd.Series, reason: str) -> None:
        problems.loc[mask] += reason + "; "

    for c in spec.columns:
        raw = (
            frame[c.name].str.strip().replace("", np.nan)
            if c.name in frame
            else pd.Series(np.nan, index=frame.index)
        )
        if c.kind == "date":
            val = pd.to_datetime(raw, format="%Y-%m-%d", errors="coerce")
        elif c.kind in ("decimal", "number"):
            val = pd.to_numeric(raw, errors="coerce")
            val = val.where(np.isfinite(val))
        elif c.kind == "int":
            val = pd.to_numeric(
                raw.where(raw.str.fullmatch(r"[+-]?\d+", na=False)), errors="coerce"
            )
        elif c.kind == "bool":
            low = raw.str.lower()
            val = low.map(lambda v: True if v in _TRUE else False if v in _FALSE else None)
        elif c.kind == "country":
            val = raw.where(raw.str.fullmatch(r"[A-Z]{2}", na=False))
        elif c.kind == "currency":
            val = raw.where(raw.str.fullmatch(r"[A-Z]{3}", na=False))
        else:
            val = raw
        if not c.nullable:
            flag(raw.isna(), f"missing {c.name}")
        flag(raw.notna() & val.isna(), f"{c.name} is not valid")
        if c.min is not None:
            flag(val <= c.min if c.min_exclusive else val < c.min, f"{c.name} out of range")
        out[c.name] = val
    if table == "invoices":
        flag(out["due_on"] < out["issued_on"], "due_on is before issued_on")
        flag(out["paid_on"] < out["issued_on"], "paid_on is before issued_on")
        flag(out["amount_paid"] > out["amount"], "amount_paid is more than amount")
        flag(out["currency"] != currency, "currency differs")
    key = list(spec.key)
    flag(out.duplicated(subset=key, keep="first") & out[key].notna().all(axis=1), "duplicate key")
    out["__row"] = frame.index + 2
    out["__problems"] = problems
    return out, problems


def run_pandas(folder: Path) -> dict:
    t0 = time.perf_counter()
    frames = {
        name: pd.read_csv(folder / f"{name}.csv", dtype=str, keep_default_na=False)
        for name in ("customers", "invoices", "events")
    }
    t_read = time.perf_counter()
    customers, cp = pandas_validate(frames["customers"], "customers", "EUR")
    ok_customers = customers.loc[cp == "", "customer_id"]
    loaded, rejected = {}, 0
    for name in ("invoices", "events"):
        typed, problems = pandas_validate(frames[name], name, "EUR")
        bad_ref = ~typed["customer_id"].isin(ok_customers) & typed["customer_id"].notna()
        problems = problems.where(~bad_ref, problems + "unknown customer_id; ")
        loaded[name] = typed.loc[problems == ""].drop(columns=["__row", "__problems"])
        rejected += int((problems != "").sum())
    customers = customers.loc[cp == ""].drop(columns=["__row", "__problems"])
    rejected += int((cp != "").sum())
    t_valid = time.perf_counter()
    head = kpis(customers, loaded["invoices"])
    t_kpi = time.perf_counter()
    return {
        "read_s": t_read - t0,
        "validate_s": t_valid - t_read,
        "kpi_s": t_kpi - t_valid,
        "rejected": rejected,
        "open_ar": head["open_ar"],
        "rows": sum(len(f) for f in frames.values()),
    }


CAD_RATE = 0.75
MESSY_MAPPING = {
    "files": {"invoices": "messy_invoices.csv"},
    "derive": {"invoices": {"issued_on": "due_on - TRY_CAST(terms AS INTEGER)"}},
    "normalize": {"customer_id": ["trim", "upper"]},
}


def write_messy(folder: Path) -> None:
    """The clean invoices as a messy export (see the module docstring), written by DuckDB."""
    src, out = folder / "invoices.csv", folder / "messy_invoices.csv"
    duckdb.execute(f"""
        COPY (
            SELECT invoice_id,
                   CASE WHEN hash(invoice_id) % 2 = 0 THEN lower(customer_id) ELSE customer_id END
                       AS customer_id,
                   date_diff('day', CAST(issued_on AS DATE), CAST(due_on AS DATE)) AS terms,
                   due_on,
                   CASE WHEN hash(invoice_id) % 10 = 0 THEN TRY_CAST(amount AS DOUBLE) / {CAD_RATE}
                        ELSE TRY_CAST(amount AS DOUBLE) END AS amount,
                   CASE WHEN hash(invoice_id) % 10 = 0 THEN 'CAD' ELSE currency END AS currency,
                   paid_on,
                   CASE WHEN hash(invoice_id) % 10 = 0 THEN TRY_CAST(amount_paid AS DOUBLE) / {CAD_RATE}
                        ELSE TRY_CAST(amount_paid AS DOUBLE) END AS amount_paid,
                   disputed
            FROM read_csv('{src}', all_varchar = true)
        ) TO '{out}' (HEADER)
    """)


def run_creditlab(folder: Path, messy: bool = False) -> dict:
    t0 = time.perf_counter()
    if messy:
        fx = load_fx({"constant": {"CAD": CAD_RATE}}, folder)
        ledger = load_ledger(folder, MESSY_MAPPING, currency="EUR", fx=fx)
    else:
        ledger = load_ledger(folder, currency="EUR")
    t_valid = time.perf_counter()
    head = kpis(ledger.customers, ledger.invoices)
    t_kpi = time.perf_counter()
    return {
        "read_s": float("nan"),
        "validate_s": t_valid - t0,
        "kpi_s": t_kpi - t_valid,
        "rejected": int(len(ledger.rejects)),
        "open_ar": head["open_ar"],
        "rows": int(ledger.counts["read"].sum()),
    }


def child(path: str, folder: str) -> None:
    paths = {
        "creditlab": run_creditlab,
        "messy": lambda f: run_creditlab(f, messy=True),
        "pandas": run_pandas,
    }
    result = paths[path](Path(folder))
    result["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        portfolio = synthesize(SynthConfig(customers=args.customers, seed=1, years=3.0))
        t_gen = time.perf_counter() - t0
        write_portfolio(portfolio, tmp)
        t_write = time.perf_counter() - t0 - t_gen
        write_messy(Path(tmp))
        size_mb = (
            sum(f.stat().st_size for f in Path(tmp).glob("*.csv") if not f.name.startswith("messy"))
            / 1e6
        )
        results = {}
        for path in ("creditlab", "messy", "pandas"):
            runs = []
            for _ in range(args.repeat):
                proc = subprocess.run(
                    [sys.executable, __file__, "--child", path, tmp],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            results[path] = min(runs, key=lambda r: r["validate_s"] + r["kpi_s"])

    print(
        f"# ingest + validate + KPIs | {platform.node()} | {platform.processor() or platform.machine()}"
        f" | {os.cpu_count()} cores | Python {platform.python_version()} | "
        + ", ".join(f"{p} {metadata.version(p)}" for p in ("pandas", "duckdb", "numpy", "pyarrow"))
    )
    print(
        f"# portfolio: {args.customers:,} customers, {len(portfolio.invoices):,} invoices, "
        f"{size_mb:,.0f} MB of CSV; generated in {t_gen:.1f} s, written in {t_write:.1f} s"
    )
    print(
        f"{'path':<10} {'rows':>11} {'validate s':>11} {'KPIs s':>8} {'total s':>8} "
        f"{'rows/s':>11} {'peak GB':>8} {'rejected':>9} {'open AR':>16}"
    )
    totals = {}
    for path, r in results.items():
        total = r["validate_s"] + r["kpi_s"] + (0 if np.isnan(r["read_s"]) else r["read_s"])
        totals[path] = total
        label = {
            "creditlab": "load+check",
            "messy": "load+map+derive+convert+check",
            "pandas": "read+check",
        }[path]
        validate = r["validate_s"] + (0 if np.isnan(r["read_s"]) else r["read_s"])
        print(
            f"{path:<10} {r['rows']:>11,} {validate:>11.2f} {r['kpi_s']:>8.2f} {total:>8.2f} "
            f"{r['rows'] / total:>11,.0f} {r['peak_rss_gb']:>8.2f} {r['rejected']:>9,} "
            f"{r['open_ar']:>16,.0f}  ({label})"
        )
    print(f"speed-up creditlab vs plain pandas: {totals['pandas'] / totals['creditlab']:.1f}x")
    print(
        f"messy export vs clean: {totals['messy'] / totals['creditlab']:.2f}x the time; open AR "
        f"differs by {abs(results['messy']['open_ar'] - results['creditlab']['open_ar']):,.2f}"
    )


if __name__ == "__main__":
    main()
