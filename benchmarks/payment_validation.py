"""Validation of the payment-timing model out of time, against the baselines an analyst would use.

Two ledgers, one method (``creditlab.backtest``): fit on what was known at a split date, forecast
every later invoice at its issue date and compare with what happened.

* the real IBM accounts-receivable sample (``../shared/data/ibm_ar``): train on 2012, test on 2013
  (every invoice in the file is paid, so every outcome is known);
* the real HighRadius B2B ledger (``../shared/data/highradius_ar``, ``params/highradius_ar.yaml``):
  three splits in 2019, each tested on the quarter after it (by the export's last clearing day);
* a synthetic portfolio whose payment days follow known parameters (split 240 days before its end;
  test invoices due at least 90 days before the end, an unpaid one counting as late), with its
  default events (a customer's invoices stall after its write-off, insolvency or agency hand-over).

Printed: late / not-late AUC, accuracy and Brier; days-to-settle RMSE and MAE, with the ratio of
each baseline's RMSE to the model's; the reliability table of P(paid by the due date); the
coverage of the 90 % payment-day interval; the weekly collections of the invoices open at the split
against what was collected.

    python benchmarks/payment_validation.py
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import time
from importlib import metadata
from pathlib import Path

from creditlab import backtest, load_fx, load_ledger, load_params, parse_mapping
from creditlab.ledger.synth import SynthConfig, synthesize
from creditlab.models.pd import SamplerConfig

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CREDITLAB_SHARED_DATA", ROOT.parent / "shared" / "data"))
SAMPLER = SamplerConfig(sampler="nutpie", draws=1000, tune=1000, seed=1)


def show(name: str, result, seconds: float) -> None:
    table = result.comparison.set_index("model")
    ours = table.iloc[0]["rmse_days"]
    table["rmse_vs_model"] = table["rmse_days"] / ours
    print(f"\n## {name} ({seconds:.0f} s; {result.counts})")
    print(table.to_string(float_format=lambda v: f"{v:,.3f}"))
    print(f"\ncoverage of the 90 % payment-day interval: {result.coverage:.1%}")
    print(
        f"due-week correlation of payment timing: {result.model.week_rho:.3f} "
        f"(from {result.model.week_count} due weeks of 30+ invoices)"
    )
    print(
        "\nreliability of P(paid by the due date) (Jeffreys 90 % interval of the observed share):"
    )
    cols = ["band", "n", "mean_pd", "observed_rate", "rate_lo", "rate_hi", "consistent"]
    rel = result.reliability[cols].rename(
        columns={"mean_pd": "forecast", "observed_rate": "observed", "defaults": "on_time"}
    )
    print(rel.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if len(result.cash):
        inside = int(result.cash["inside"].sum())
        print(f"\nweekly collections of the invoices open at the split ({inside} of 13 inside):")
        cash = result.cash[["week", "week_end", "expected", "lo", "hi", "actual", "inside"]]
        print(cash.to_string(index=False, float_format=lambda v: f"{v:,.0f}"))


def main() -> None:
    print(
        f"# payment-timing validation | nutpie 2 x (1000 + 1000) | {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()} | "
        + ", ".join(
            f"{p} {metadata.version(p)}" for p in ("pymc", "nutpie", "scikit-learn", "pandas")
        )
    )
    ibm = SHARED / "ibm_ar"
    if (ibm / "WA_Fn-UseC_-Accounts-Receivable.csv").is_file():
        params = load_params(ROOT / "params" / "ibm_ar.yaml", data=ibm)
        led = load_ledger(params.data, parse_mapping(params.mapping), currency=params.currency)
        t0 = time.perf_counter()
        result = backtest(led.invoices, led.customers, "2012-12-31", sampler=SAMPLER, settle_days=0)
        show("IBM AR sample, train 2012, test 2013", result, time.perf_counter() - t0)
    else:
        print(f"\n## IBM AR sample: not found at {ibm} (see shared/data/README.md)")
    highradius = SHARED / "highradius_ar"
    if (highradius / "invoices.csv").is_file():
        params = load_params(ROOT / "params" / "highradius_ar.yaml", data=highradius)
        led = load_ledger(
            params.data,
            parse_mapping(params.mapping),
            currency=params.currency,
            fx=load_fx(params.fx, Path("/")),
        )
        config = params.payment_model.model
        for split in ("2019-06-30", "2019-08-31", "2019-09-30"):
            # the export holds cleared invoices only: test on the quarter after each split, whose
            # invoices had time to clear before the export was taken (clearing ends on
            # 2019-12-31 for all but the 450 invoices due in 2020, so no test runs past it)
            until = (dt.date.fromisoformat(split) + dt.timedelta(days=91)).isoformat()
            t0 = time.perf_counter()
            result = backtest(
                led.invoices, led.customers, split, config, SAMPLER, test_until=until,
                settle_days=0,
            )  # fmt: skip
            show(f"HighRadius, train to {split}, test to {until}", result, time.perf_counter() - t0)
    else:
        print(f"\n## HighRadius ledger: not found at {highradius} (see shared/data/README.md)")
    cfg = SynthConfig(customers=1000, seed=5, years=2.0, regime_shift=False)
    portfolio = synthesize(cfg)
    t0 = time.perf_counter()
    result = backtest(
        portfolio.invoices,
        portfolio.customers,
        cfg.end - dt.timedelta(days=240),
        sampler=SAMPLER,
        events=portfolio.events,
    )
    show("synthetic portfolio, 1,000 customers", result, time.perf_counter() - t0)


if __name__ == "__main__":
    main()
