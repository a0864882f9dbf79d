"""What every report starts and ends with: a warning banner when the run has problems, and an
appendix that lets a reviewer reproduce it (params, data hashes and counts, versions, git sha,
timings, convergence, assumptions and caveats)."""

from __future__ import annotations

import json

import pandas as pd
from IPython.display import Markdown

from creditlab.provenance import git_sha, versions
from creditlab.report.payment_section import payment_diagnostics
from creditlab.report.pd_section import default_definition, diagnostics
from creditlab.report.tables import md_escape, table
from creditlab.run.folder import MANIFEST_FILE, RunFolder
from creditlab.run.prepare import Run
from creditlab.run.queries import run_warnings

__all__ = ["CAVEATS", "appendix", "banner"]

CAVEATS = (
    "Every figure is as of the as-of date, from data known on that date: an invoice counts once "
    "issued and is open until the date it was paid. Partial payments on open invoices are not "
    "dated in the ledger, so they are taken as known at every date.",
    "Definitions follow `DOMAIN.md`: aging buckets by days past due (current = not yet due); DSO = "
    "AR / sales x days; countback DSO walks back monthly sales; BPDSO uses current AR; ADD = DSO - "
    "BPDSO; CEI = (begin AR + sales - end AR) / (begin AR + sales - end current AR) x 100; at-risk "
    "rate = share of a month's billing unpaid 90 days after month-end.",
    "Default = {default}. PDs are 12-month probabilities from the posterior of the PD model; "
    "intervals are equal-tailed credible intervals. Quarterly snapshots of the same customer are "
    "treated as independent rows.",
    "Limits, ECL, provisions and scenarios are computed from stored posterior draws; LGD comes from "
    "the params' prior, not from observed recoveries. Roll rates count invoices, not balances.",
    "Payment timing: days from due date to payment in lateness buckets (ordinal logit, customer "
    "effects pooled by industry, due-weekday effects; a customer with many invoices also has its "
    "own distribution per due weekday, learnt from its invoices' quantiles under the model); days "
    "inside a bucket are weighted by the "
    "customer's weekdays of payment (its calendar, learnt from its paid invoices), none on the "
    "bank holidays of the params' calendars (a bucket with no such day, such as a weekend, "
    "passes its probability to the next), more at a month turn for a payment over 14 days late "
    "(a lift learnt from the ledger's late payments, moving the late tail across buckets); simulated payment days share a factor per "
    "due week (a Gaussian copula, its correlation learnt from the training invoices); a payment "
    "after the last bucket edge counts as not collected in the forecast horizon; the cash "
    "forecast covers invoices open at the as-of date only (no new sales); customers' effects are "
    "constant over time (a recent slowdown shows only through recent invoices); reminder timing = "
    "the customer's usual payment weekday (the ledger has dates, not times).",
)


def banner(run: Run) -> list:
    """A red banner listing the run's warnings (nothing when there are none)."""
    found = run_warnings(run)
    if not found:
        return []
    items = "".join(f"<li>{md_escape(w)}</li>" for w in found)
    return [Markdown(f'<div class="cl-banner"><strong>Warnings</strong><ul>{items}</ul></div>')]


def appendix(run: Run) -> list:
    """Run provenance: params, input files with hashes and counts, versions, git sha, timings,
    convergence, assumptions and caveats."""
    params = {k: v for k, v in run.params.to_dict().items() if k != "mapping"}
    params_rows = pd.DataFrame(
        {"Parameter": list(params), "Value": [json.dumps(v, default=str) for v in params.values()]}
    )
    files = run.ledger.counts[["file", "sha256", "read", "loaded", "rejected"]]
    vers = versions()
    out = [
        Markdown(
            f"Run **{md_escape(run.run_id)}**, as of {run.as_of.isoformat()}; data hash "
            f"`{run.ledger.data_hash[:16]}…`; creditlab commit `{git_sha() or 'unknown'}`. "
            "The full record is `manifest.json` in the run folder."
        ),
        table(params_rows),
        table(
            files,
            ints=["read", "loaded", "rejected"],
            labels={
                "file": "Input file",
                "sha256": "sha256",
                "read": "Rows read",
                "loaded": "Loaded",
                "rejected": "Rejected",
            },
        ),  # fmt: skip
        table(pd.DataFrame({"Package": list(vers), "Version": list(vers.values())})),
    ]
    manifest = RunFolder(run.run_dir).read_json(MANIFEST_FILE)
    if manifest is not None:
        timings = manifest.get("timings_s", {})
        if timings:
            out.append(
                Markdown(
                    "Timings of this run before the report was executed: "
                    + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items())
                    + "."
                )
            )
    out += diagnostics(run) + payment_diagnostics(run)
    caveats = [c.format(default=default_definition(run)) for c in CAVEATS]
    out.append(Markdown("Assumptions and caveats:\n\n" + "\n".join(f"- {c}" for c in caveats)))
    return out
