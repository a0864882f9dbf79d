"""Benchmark: does the payment model pass its convergence gate with default params, everywhere?

Fits the payment model as a weekly run does (``params/weekly.yaml``'s ``payment_model:`` section:
its sampler, gate and automatic extensions) on synthetic portfolios that differ from the demo in
size, default rate and length, and on the real ledgers in ``../shared/data`` (HighRadius at two
as-of dates, IBM AR) when they are there. Prints one row per ledger: customers, invoices, how many
customer effects were centred, whether the gate passed, how many extensions it took, the worst
bulk ESS and R-hat and the wall time.

    python benchmarks/payment_convergence.py
    python benchmarks/payment_convergence.py --quick      # smaller synthetic grid
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import time
from importlib import metadata
from pathlib import Path

from creditlab.ledger.synth import SynthConfig, synthesize
from creditlab.ledger.synth_files import write_portfolio
from creditlab.models.payment_data import payment_frame
from creditlab.run.params import load_params
from creditlab.run.prepare import prepare_run
from creditlab.run.stages.payment import fit_until_converged

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CREDITLAB_SHARED_DATA", ROOT.parent / "shared" / "data"))


def ledgers(quick: bool, tmp: Path):
    """(label, params file, data folder or None, as-of) for every ledger of the grid."""
    weekly = ROOT / "params" / "weekly.yaml"
    grid = [(150, -3.8, 3.0)] if quick else [(600, -5.2, 2.5), (600, -3.0, 1.6), (600, -3.8, 2.5)]
    for customers, intercept, years in grid:
        cfg = SynthConfig(customers=customers, seed=5, years=years, intercept=intercept)
        portfolio = synthesize(cfg)
        rate = portfolio.truth_customers["defaulted"].mean() / years
        folder = write_portfolio(portfolio, tmp / f"synth_{customers}_{intercept}_{years}")
        label = f"synthetic {customers} cust, {years:g} y, ~{rate:.1%}/y defaults"
        yield label, weekly, folder, cfg.end.isoformat()
    if (SHARED / "highradius_ar" / "invoices.csv").is_file():
        for as_of in ("2019-07-31", "2019-10-31"):
            yield f"HighRadius as of {as_of}", ROOT / "params" / "highradius_ar.yaml", None, as_of
    if (SHARED / "ibm_ar").is_dir():
        yield "IBM AR", ROOT / "params" / "ibm_ar.yaml", None, None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    import tempfile

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, params_file, data, as_of in ledgers(args.quick, Path(tmp)):
            params = load_params(params_file, data=data, as_of=as_of)
            params = dataclasses.replace(params, store=None)  # each ledger on its own
            run = prepare_run(params, Path(tmp) / "runs" / label.replace(" ", "_"))
            # the weekly defaults for the model and the sampler, the ledger's own grouping
            settings = load_params(ROOT / "params" / "weekly.yaml").payment_model
            settings = dataclasses.replace(
                settings,
                model=dataclasses.replace(settings.model, group=params.payment_model.model.group),
            )
            frame = payment_frame(
                run.ledger.invoices, run.ledger.customers, run.as_of, settings.model,
                group=settings.model.group,
            )  # fmt: skip
            t0 = time.perf_counter()
            model, extended, gate = fit_until_converged(frame, settings)
            checks = gate.table.set_index("check")
            rows.append(
                (
                    label,
                    len(model.customers),
                    model.n_invoices,
                    model.centred,
                    "yes" if gate.passed else "NO",
                    extended,
                    checks.loc["min bulk ESS", "value"],
                    checks.loc["max R-hat", "value"],
                    time.perf_counter() - t0,
                )
            )
    print(
        f"# payment model convergence with params/weekly.yaml's payment_model | {platform.node()} "
        f"| {os.cpu_count()} cores | Python {platform.python_version()} | "
        + ", ".join(f"{p} {metadata.version(p)}" for p in ("pymc", "nutpie", "arviz"))
    )
    print(
        f"{'ledger':<44} {'customers':>9} {'invoices':>9} {'centred':>8} {'gate':>5} "
        f"{'extended':>8} {'min ESS':>8} {'R-hat':>6} {'time s':>7}"
    )
    for r in rows:
        print(
            f"{r[0]:<44} {r[1]:>9,} {r[2]:>9,} {r[3]:>8,} {r[4]:>5} {r[5]:>8} {r[6]:>8.0f} "
            f"{r[7]:>6.3f} {r[8]:>7.1f}"
        )


if __name__ == "__main__":
    main()
