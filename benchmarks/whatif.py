"""Benchmark: how fast the what-if workbench answers when a lever moves.

For each portfolio size a synthetic run is prepared, its PD model fitted once (nutpie, 1,000
posterior draws) and its decisions computed; then the what-if widget is built on the run folder and
each lever is moved in turn. Reported per size: the one-off load (draws and provision matrix), and
per lever the update time of the pure recomputation and of the whole widget update (tables drawn),
median and worst of several moves; against it, re-running the decisions stage (what a user would
otherwise do) and the ratio. Then the customer 360: opening it and picking a customer by typed id
or name (the whole profile drawn each time).

    python benchmarks/whatif.py --customers 400 5000
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import statistics
import tempfile
import time
from importlib import metadata
from pathlib import Path

import yaml

from creditlab import widgets
from creditlab.decisions.whatif import Levers, evaluate
from creditlab.run.params import load_params
from creditlab.run.prepare import prepare_run
from creditlab.run.queries import whatif_base
from creditlab.run.stages.decisions import run_decision_stage
from creditlab.run.stages.pd import run_pd_stage

MOVES = {
    "pd_multiplier": [1.5, 2.0, 1.0],
    "max_grade": ["5", "3", None],
    "max_probability": [0.005, 0.002, 0.01],
    "terms_shift_days": [10, 30, 0],
    "lgd_mean": [0.6, 0.3, 0.45],
    "discount": [0.01, 0.03, 0.02],
}


def bench(customers: int, tmp: Path) -> list[str]:
    params = {
        "portfolio": f"bench{customers}",
        "synthetic": {"customers": customers, "seed": 5, "years": 3.0},
        "as_of": "2026-11-20",
        "pd_model": {"sampler": {"sampler": "nutpie", "draws": 500, "tune": 500, "chains": 2, "cores": 2},
                     "gate": {"fatal": False}},
        "decisions": {"draws": 1000, "provisions": {"segment_by": "industry"}},
    }  # fmt: skip
    path = tmp / f"p{customers}.yaml"
    path.write_text(yaml.safe_dump(params))
    p = load_params(path)
    run = prepare_run(p, tmp / f"run{customers}")
    run_pd_stage(run)
    t0 = time.perf_counter()
    run_decision_stage(run)
    t_stage = time.perf_counter() - t0
    t0 = time.perf_counter()
    base = whatif_base(run.run_dir)
    t_load = time.perf_counter() - t0
    box = widgets.whatif(run.run_dir)
    lines = [f"{customers:>9,} {'load (once)':<18} {t_load * 1000:>10.0f} {'':>10} {'':>10}"]
    worst = 0.0
    for lever, values in MOVES.items():
        pure, ui = [], []
        for value in values:
            t0 = time.perf_counter()
            evaluate(base, Levers(**{lever: value}))
            pure.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):  # outside a kernel, display() prints
                box.controls[lever].value = value
            ui.append(time.perf_counter() - t0)
        worst = max(worst, *ui)
        lines.append(f"{customers:>9,} {lever:<18} {statistics.median(pure) * 1000:>10.0f} "
                     f"{statistics.median(ui) * 1000:>10.0f} {max(ui) * 1000:>10.0f}")  # fmt: skip
    lines.append(f"{customers:>9,} {'re-run decisions':<18} {t_stage * 1000:>10.0f}   (the alternative; "
                 f"{t_stage / worst:.0f}x the slowest widget update; target < 300 ms: "
                 f"{'met' if worst < 0.3 else 'MISSED'})")  # fmt: skip
    return lines + pick_lines(customers, run.run_dir, base.table)


def pick_lines(customers: int, run_dir: Path, table) -> list[str]:
    """Customer 360: open the widget, then pick customers by typing an id (any case) and a
    unique part of a name, as a user does; each pick draws the whole profile."""
    t0 = time.perf_counter()
    box = widgets.customer_360(run_dir)
    t_open = time.perf_counter() - t0
    ids = [str(c) for c in table["customer_id"].sample(5, random_state=1)]
    names = [n for n in table["name"].astype(str) if (table["name"] == n).sum() == 1][:3]
    picks = {"by id": [i.lower() for i in ids], "by whole name": names}
    lines = [f"{customers:>9,} {'360: open':<18} {t_open * 1000:>10.0f}"]
    for how, typed in picks.items():
        took = []
        for text in typed:
            t0 = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                box.controls["customer"].value = text
            took.append(time.perf_counter() - t0)
            assert box.result.get("customer_id"), (text, box.status.value)
        lines.append(f"{customers:>9,} {'360: pick ' + how:<18} {'':>10} "
                     f"{statistics.median(took) * 1000:>10.0f} {max(took) * 1000:>10.0f}"
                     f"   (target < 1,000 ms: {'met' if max(took) < 1 else 'MISSED'})")  # fmt: skip
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[400, 5000])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        lines = [line for n in args.customers for line in bench(n, Path(tmp))]
    print(
        f"# what-if updates | {platform.node()} | {os.cpu_count()} cores | Python {platform.python_version()} | "
        + ", ".join(f"{m} {metadata.version(m)}" for m in ("numpy", "pandas", "ipywidgets"))
    )
    print(f"{'customers':>9} {'lever':<18} {'pure ms':>10} {'widget ms':>10} {'worst ms':>10}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
