"""What a reminder or a call does, measured on synthetic ledgers where the answer is known.

The generator's collectors e-mail invoices still unpaid 3-7 days past due (probability 0.6) and
call those still unpaid 10-14 days past due (0.5). A contact *converts* a share of the payments
that would have come more than 7 days later into the 7 days after it (e-mail 0.15, phone 0.30):
not the estimator's proportional hazard. The truth to recover is the realised lift: the share of
contacted invoices paid within 7 days because of the contact. Printed per kind, over seeds:

* ``creditlab.models.contact_effect``: hazard ratio, estimated lift against the realised one
  (ratio), and how often the 90 % interval of the lift covers the realised lift;
* the naive comparison an analyst would make: the share of contacted invoices paid within 7 days
  minus the share of uncontacted invoices (still open on the same day past due, never contacted)
  paid within the next 7 days;
* with no effect planted: how often the hazard ratio's 90 % interval covers 1, and the naive
  comparison's lift (which should be 0).

Usage: ``python benchmarks/contact_effect.py [customers] [seeds]``
"""

from __future__ import annotations

import platform
import sys
import time

import numpy as np
import pandas as pd

import creditlab.ledger.synth_events as synth_events
from creditlab.ledger.schema import CHANNEL, DUE_ON, EVENT_ON, INVOICE_ID, KIND, PAID_ON
from creditlab.ledger.synth import SynthConfig, synthesize
from creditlab.models.contact_effect import contact_effect

KINDS = {"reminder": "email", "call": "phone"}
WINDOW = 7


def naive_lift(invoices: pd.DataFrame, events: pd.DataFrame, channel: str) -> float:
    """Contacted invoices' share paid within the window, minus that of never-contacted invoices
    open on the same day past due."""
    inv = invoices.set_index(INVOICE_ID)
    contacts = events.loc[(events[KIND] == "contact")]
    mine = contacts.loc[contacts[CHANNEL] == channel]
    due, paid = inv.loc[mine[INVOICE_ID], DUE_ON].to_numpy(), inv.loc[mine[INVOICE_ID], PAID_ON].to_numpy()  # fmt: skip
    on = mine[EVENT_ON].to_numpy()
    within = (~pd.isna(paid)) & (paid <= on + np.timedelta64(WINDOW, "D"))
    dpd = ((on - due) / np.timedelta64(1, "D")).astype(int)
    never = inv.loc[~inv.index.isin(contacts[INVOICE_ID]) & ~inv["disputed"]]
    n_due, n_paid = never[DUE_ON].to_numpy(), never[PAID_ON].to_numpy()
    late = ((n_paid - n_due) / np.timedelta64(1, "D")).astype(float)  # NaN: never paid
    control = {}
    for d in np.unique(dpd):
        open_then = ~(late <= d)
        control[d] = np.mean((late[open_then] > d) & (late[open_then] <= d + WINDOW))
    return float(within.mean() - np.mean([control[d] for d in dpd]))


def main(customers: int = 1500, seeds: int = 8) -> None:
    print(f"# contact effect: {customers} customers x 2 years, seeds 1..{seeds}; "
          f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, "
          f"numpy {np.__version__}, pandas {pd.__version__}")  # fmt: skip
    planted = dict(synth_events.CONTACT_LIFT)
    rows, seconds = [], []
    for lift in ("planted", "none"):
        synth_events.CONTACT_LIFT = planted if lift == "planted" else dict.fromkeys(planted, 0.0)
        for seed in range(1, seeds + 1):
            p = synthesize(SynthConfig(customers=customers, seed=seed, years=2.0))
            started = time.perf_counter()
            effect = contact_effect(p.invoices, p.events, p.config.end)
            seconds.append(time.perf_counter() - started)
            truth = p.truth_contacts.set_index(CHANNEL)["lift_realised"]
            for r in effect.table.to_dict("records"):
                channel = KINDS[r["kind"]]
                rows.append({"effect": lift, "seed": seed, "kind": r["kind"], "contacts": r["contacts"],
                    "hr": r["hazard_ratio"], "hr_covers_1": r["hazard_ratio_lo"] < 1 < r["hazard_ratio_hi"],
                    "lift": r["lift"], "truth": truth[channel],
                    "covered": r["lift_lo"] <= truth[channel] <= r["lift_hi"],
                    "naive": naive_lift(p.invoices, p.events, channel)})  # fmt: skip
    synth_events.CONTACT_LIFT = planted
    out = pd.DataFrame(rows)
    print(f"# contact_effect: {np.median(seconds):.2f} s per ledger (median)")
    print()
    print("| effect | kind | contacts | hazard ratio | realised lift | estimated lift (ratio) | "
          "90% interval covers truth | naive lift (ratio) | HR interval covers 1 |")  # fmt: skip
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for (lift, kind), g in out.groupby(["effect", "kind"], sort=False):
        ratio = g["lift"].mean() / g["truth"].mean() if g["truth"].mean() else np.nan
        naive = g["naive"].mean() / g["truth"].mean() if g["truth"].mean() else np.nan
        print(f"| {lift} | {kind} | {g['contacts'].mean():,.0f} | {g['hr'].mean():.3f} | "
              f"{g['truth'].mean():.3f} | {g['lift'].mean():.3f} ({ratio:.2f}) | "
              f"{g['covered'].mean():.0%} | {g['naive'].mean():.3f} ({naive:.2f}) | "
              f"{g['hr_covers_1'].mean():.0%} |")  # fmt: skip


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
