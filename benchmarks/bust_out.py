"""Fraud and bust-out screens measured on a synthetic portfolio with planted bust-outs.

``creditlab.ledger.synth_fraud`` plants bust-outs (orders of 3-8 times the usual in the 75 days
before the customer stops paying; half dormant first, half changing address or bank account before)
in a portfolio whose other customers order as a seasonal Poisson process. Every week of the last two
years the screens (``creditlab.decisions.screens.bust_out_screens``) run with only what was known
that week. Printed per ``surge`` multiple: the share of bust-outs alerted before the day they stop
paying and the median days before it, the share alerted before their first 30+ DPD, and the new
alerts on customers that are not bust-outs, per 100 customer-years, by screen.

Then the real HighRadius B2B ledger (``../shared/data/highradius_ar``, ``params/highradius_ar.yaml``),
scanned every week from March 2019 to January 2020: it has no known bust-outs (every invoice in the
export was paid), so every new alert there counts as a false alarm, per 100 customer-years (a
customer counts from its first invoice).

Usage: ``python benchmarks/bust_out.py [customers] [seed]``
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from creditlab import load_fx, load_ledger, load_params, parse_mapping
from creditlab.decisions.screens import bust_out_screens
from creditlab.ledger.schema import CUSTOMER_ID, DUE_ON, ISSUED_ON, PAID_ON
from creditlab.ledger.synth import SynthConfig, synthesize
from creditlab.ledger.synth_fraud import RAMP_DAYS

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CREDITLAB_SHARED_DATA", ROOT.parent / "shared" / "data"))


def new_alerts(scans: dict, weeks, counted: set | None = None) -> dict[str, int]:
    """Alerts raised in a week that the week before did not have, on the ``counted`` customers
    (None: all), by screen."""
    new: dict[str, int] = {}
    for prev, t in zip(weeks[:-1], weeks[1:], strict=True):
        now, was = scans[t], scans[prev]
        seen = set(zip(was[CUSTOMER_ID], was["alert"], strict=True))
        for cid, alert in zip(now[CUSTOMER_ID], now["alert"], strict=True):
            if (counted is None or cid in counted) and (cid, alert) not in seen:
                new[alert] = new.get(alert, 0) + 1
    return new


def show_false_alarms(new: dict[str, int], years: float) -> None:
    print(f"  false alarms per 100 customer-years: {100 * sum(new.values()) / years:.1f} in all")
    for alert, n in sorted(new.items()):
        print(f"    {alert:<40} {100 * n / years:6.1f}")


def real_ledger(surge: float) -> None:
    """The screens on the real HighRadius ledger, weekly: every new alert is a false alarm."""
    folder = SHARED / "highradius_ar"
    if not (folder / "invoices.csv").is_file():
        print(f"\n## HighRadius ledger: not found at {folder} (see shared/data/README.md)")
        return
    params = load_params(ROOT / "params" / "highradius_ar.yaml", data=folder)
    led = load_ledger(
        params.data, parse_mapping(params.mapping), currency=params.currency,
        fx=load_fx(params.fx, Path("/")),
    )  # fmt: skip
    weeks = pd.date_range("2019-03-01", "2020-01-31", freq="7D")
    started = time.perf_counter()
    scans = {t: bust_out_screens(led.customers, led.invoices, led.events, t.date(), surge)
             for t in weeks}  # fmt: skip
    per_scan = (time.perf_counter() - started) / len(weeks)
    first = led.invoices.groupby(CUSTOMER_ID)[ISSUED_ON].min()
    years = sum(int((weeks[1:] >= f).sum()) for f in first) / 52
    new = new_alerts(scans, weeks)
    print(f"\n## HighRadius ledger, {len(first)} customers, {len(weeks)} weekly scans "
          f"{weeks[0].date()}..{weeks[-1].date()}, surge {surge:g}x ({per_scan:.2f} s per scan; "
          f"{years:,.0f} customer-years)")  # fmt: skip
    show_false_alarms(new, years)


def main(customers: int = 1500, seed: int = 5) -> None:
    p = synthesize(SynthConfig(customers=customers, seed=seed, years=3.5, bust_outs=0.02))
    inv, truth = p.invoices, p.truth_customers.set_index(CUSTOMER_ID)
    end = pd.Timestamp(p.config.end)
    weeks = pd.date_range(end - pd.Timedelta(weeks=104), end, freq="7D")
    bust = truth["bust_out_on"].dropna()
    bust = bust[(bust - pd.Timedelta(days=RAMP_DAYS) >= weeks[0]) & (bust <= end)]
    print(f"# bust-out screens: {customers} customers, seed {seed}, {len(bust)} planted bust-outs "
          f"inside {len(weeks)} weekly as-of dates {weeks[0].date()}..{end.date()}; "
          f"{platform.machine()}, Python {platform.python_version()}, pandas {pd.__version__}")  # fmt: skip

    def first_30dpd(cid: str) -> pd.Timestamp | None:
        mine = inv.loc[inv[CUSTOMER_ID] == cid]
        hit = mine[DUE_ON] + pd.Timedelta(days=30)
        late = hit.loc[(mine[PAID_ON].isna() | (mine[PAID_ON] > hit)) & (mine[ISSUED_ON] <= hit)]
        late = late[late >= bust[cid] - pd.Timedelta(days=RAMP_DAYS)]
        return late.min() if len(late) else None

    dpd = {cid: first_30dpd(cid) for cid in bust.index}
    for surge in (3.0, 5.0):
        started = time.perf_counter()
        scans = {t: bust_out_screens(p.customers, inv, p.events, t.date(), surge) for t in weeks}
        per_scan = (time.perf_counter() - started) / len(weeks)
        leads, before_dpd = [], 0
        for cid, b in bust.items():
            hit = [t for t in weeks if t >= b - pd.Timedelta(days=RAMP_DAYS) and t <= b + pd.Timedelta(days=60)
                   and cid in set(scans[t][CUSTOMER_ID])]  # fmt: skip
            if hit and hit[0] <= b:
                leads.append((b - hit[0]).days)
            if hit and (dpd[cid] is None or hit[0] < dpd[cid]):
                before_dpd += 1
        others = set(truth.index.difference(truth["bust_out_on"].dropna().index))
        years = len(others) * (len(weeks) - 1) / 52
        new = new_alerts(scans, weeks, others)
        print(f"\nsurge {surge:g}x ({per_scan:.2f} s per weekly scan)")
        print(f"  bust-outs alerted before they stop paying: {len(leads)}/{len(bust)} "
              f"(median {np.median(leads) if leads else float('nan'):.0f} days before); "
              f"before their first 30+ DPD: {before_dpd}/{len(bust)}")  # fmt: skip
        show_false_alarms(new, years)


if __name__ == "__main__":
    main(*[int(a) for a in sys.argv[1:3]])
    for surge in (3.0, 5.0):
        real_ledger(surge)
