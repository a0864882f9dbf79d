"""Early warnings measured on synthetic portfolios with planted deteriorations.

The generator makes a customer heading into default pay 10-40 days later on the invoices of its
last six months, and makes performing customers' payments slip (heavy right tail), wait for
disputes and, for a tenth of them, drift 8 days later: the noise an alert must not fire on. Every
week of the last two years, with only what was known that week, the payment-shift alert
(``creditlab.drift.payment_shifts``: shift z and size over thresholds) and the "new 30+ DPD" alert
are computed for every customer. Printed per threshold pair:

* defaulters: the share flagged in the year before their default and the median weeks before it;
  the share the shift alert flagged before their first 30+ DPD, and how many weeks earlier;
* false alarms: new alerts (a week alarmed after one not alarmed) on customers that do not default
  in the 12 months after, per 100 customer-years; the same for the 30+ DPD alert.

Usage: ``python benchmarks/early_warning.py [customers] [seed]``
"""

from __future__ import annotations

import datetime as dt
import platform
import sys
import time

import numpy as np
import pandas as pd

from creditlab.drift import payment_shifts
from creditlab.ledger.schema import CUSTOMER_ID, DUE_ON, ISSUED_ON, PAID_ON
from creditlab.ledger.synth import SynthConfig, synthesize

GRID = [(z, d) for z in (3.0, 4.0, 5.0) for d in (10.0, 15.0)]


def _dpd30(inv: pd.DataFrame, t: pd.Timestamp) -> set:
    open_ = (inv[ISSUED_ON] <= t) & (inv[PAID_ON].isna() | (inv[PAID_ON] > t))
    late = open_ & (inv[DUE_ON] <= t - pd.Timedelta(days=30))
    return set(inv.loc[late, CUSTOMER_ID])


def main(customers: int = 1500, seed: int = 5) -> None:
    cfg = SynthConfig(customers=customers, seed=seed, years=3.5)
    p = synthesize(cfg)
    inv, truth = p.invoices, p.truth_customers.set_index(CUSTOMER_ID)
    end = pd.Timestamp(cfg.end)
    weeks = pd.date_range(end - pd.Timedelta(weeks=104), end, freq="7D")
    started = time.perf_counter()
    shifts = {t: payment_shifts(inv, t.date()) for t in weeks}
    scan_s = (time.perf_counter() - started) / len(weeks)
    dpd30 = {t: _dpd30(inv, t) for t in weeks}
    default_on = truth["default_on"]
    ids = truth.index
    print(f"# early warnings: {customers} customers, seed {seed}, {len(weeks)} weekly as-of dates "
          f"{weeks[0].date()}..{weeks[-1].date()}; {platform.processor() or platform.machine()}, "
          f"Python {platform.python_version()}, pandas {pd.__version__}")  # fmt: skip
    print(f"# payment_shifts: {scan_s:.2f} s per weekly scan of the whole ledger")
    # defaulters whose year before default lies inside the weeks scanned
    eligible = default_on[(default_on >= weeks[0] + pd.Timedelta(days=365)) & (default_on <= end)]
    print(f"# defaulters evaluated: {len(eligible)}")

    def first(alarms: dict, cid: str, lo: pd.Timestamp, hi: pd.Timestamp):
        return next((t for t in weeks if lo <= t <= hi and cid in alarms[t]), None)

    def false_alarms(alarms: dict) -> float:
        count, exposure = 0, 0.0
        for i, t in enumerate(weeks):
            d = default_on.reindex(ids)
            fine = ids[~(d <= t + pd.Timedelta(days=365)).to_numpy()]
            exposure += len(fine) / 52.0
            if i == 0:
                continue
            new = alarms[t] - alarms[weeks[i - 1]]
            count += len(new & set(fine))
        return 100.0 * count / exposure

    def row(name: str, alarms: dict) -> dict:
        before_default, earlier = [], []
        for cid, d in eligible.items():
            lo = d - pd.Timedelta(days=365)
            a = first(alarms, cid, lo, d)
            b = first(dpd30, cid, lo, d + pd.Timedelta(days=120))
            if a is not None:
                before_default.append((d - a).days / 7)
            if a is not None and (b is None or a < b):
                earlier.append(((b or weeks[-1]) - a).days / 7)
        n = max(len(eligible), 1)
        return {
            "alert": name,
            "flagged_in_year_before_default": len(before_default) / n,
            "median_weeks_before_default": np.median(before_default) if before_default else np.nan,
            "flagged_before_first_30dpd": len(earlier) / n,
            "median_weeks_before_30dpd": np.median(earlier) if earlier else np.nan,
            "false_alarms_per_100_customer_years": false_alarms(alarms),
        }

    rows = [row("new 30+ DPD", dpd30)]
    for z, days in GRID:
        alarms = {
            t: set(s.loc[(s["shift_z"] >= z) & (s["shift_days"] >= days), CUSTOMER_ID])
            for t, s in shifts.items()
        }
        rows.append(row(f"shift z>={z:g}, >={days:g} days", alarms))
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.2f}"))


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    started = dt.datetime.now()
    main(*args)
    print(f"# took {(dt.datetime.now() - started).total_seconds():.0f} s")
