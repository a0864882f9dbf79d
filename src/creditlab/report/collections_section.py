"""The collections sections of the weekly report: the worklist (with each customer's reminder draft)
and the early-warning alerts, from the decisions stage's files."""

from __future__ import annotations

import pandas as pd
from IPython.display import Markdown

from creditlab.ledger.schema import CUSTOMER_ID, NAME
from creditlab.report.decisions_section import (
    decisions_summary,
    not_in_run,
    read_artifact,
)
from creditlab.report.tables import fmt_money, md_escape, table
from creditlab.run.folder import (
    ALERTS_FILE,
    DRAFTS_PAGE,
    REMINDERS_FILE,
    WORKLIST_FILE,
    RunFolder,
)
from creditlab.run.prepare import Run

__all__ = ["DRAFT_LINK", "alerts_section", "with_drafts", "worklist_section"]

DRAFT_LINK = (f"{DRAFTS_PAGE}#{{}}", "draft")  # table(links=...): a draft on the drafts page


def with_drafts(run: Run, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (with a ``customer_id`` column) and a ``draft`` column: the id of the customer's
    reminder draft ("" when it has none, or the run wrote no drafts)."""
    drafts = RunFolder(run.run_dir).read_csv(REMINDERS_FILE)
    ids = {} if drafts is None else drafts.set_index(CUSTOMER_ID)["draft_id"].to_dict()
    return frame.assign(draft=frame[CUSTOMER_ID].map(ids).fillna(""))


def worklist_section(run: Run) -> list:
    """The top of the collections worklist."""
    if (missing := not_in_run(run, WORKLIST_FILE)) is not None:
        return missing
    w, s = read_artifact(run, WORKLIST_FILE), decisions_summary(run)
    cur = run.params.currency
    top = with_drafts(run, w.head(max(run.params.top_n, 10)))
    reminders = s.get("reminders") or {}
    drafts = (
        f" Each customer's reminder draft (tone and language from its relationship; sent to no "
        f"one unless the params allow it) is linked; all {reminders.get('drafts', 0):,} are on "
        f"`{DRAFTS_PAGE}` and in `{REMINDERS_FILE}`. None is written while a promised payment "
        f"is awaited, nor for the {reminders.get('handed_over', 0)} customer(s) already written "
        "off, insolvent or with a collections agency (they speak to the agency or the "
        "administrator now)."
        if reminders.get("enabled")
        else ""
    )
    return [
        Markdown(
            f"{len(w):,} open invoices call for an action under their customer's dunning cadence, "
            f"with {fmt_money(s['worklist']['cash_at_risk'])} {cur} of expected cash at risk in "
            "all (open amount x the chance the invoice reaches 90+ days past due or the customer "
            "defaults). An open dispute or complaint holds the dunning (acknowledge it instead), a "
            "promise to pay waits for its day, and broken promises turn a reminder into a call. "
            "Contact day = the weekday the customer usually pays on. The full list is "
            "`worklist.csv`." + drafts
        ),
        table(
            top[
                [
                    "rank",
                    "invoice_id",
                    CUSTOMER_ID,
                    NAME,
                    "open_amount",
                    "dpd",
                    "p_at_risk",
                    "cash_at_risk",
                    "action",
                    "relationship",
                    "contact_day",
                    "approval",
                    "draft",
                ]
            ],
            money=["open_amount", "cash_at_risk"],
            pct=["p_at_risk"],
            ints=["rank", "dpd"],
            labels={
                "rank": "#",
                "invoice_id": "Invoice",
                CUSTOMER_ID: "Customer",
                NAME: "Name",
                "open_amount": "Open",
                "dpd": "DPD",
                "p_at_risk": "P(90+ DPD or default)",
                "cash_at_risk": "Cash at risk",
                "action": "Action",
                "relationship": "Why (disputes, promises)",
                "contact_day": "Contact on",
                "approval": "Owner",
                "draft": "Draft",
            },
            links={"draft": DRAFT_LINK},
        ),
    ]


def alerts_section(run: Run) -> list:
    """Early warnings: changes since the previous run and states over thresholds."""
    if (missing := not_in_run(run, ALERTS_FILE)) is not None:
        return missing
    a, s = read_artifact(run, ALERTS_FILE), decisions_summary(run)
    prev = s.get("previous_run")
    head = (
        f"Compared with run {md_escape(prev['run_id'])} (as of {prev['as_of']})."
        if prev
        else "There is no previous run to compare with, so changes (PD up, downgrades, new "
        "days past due, new disputes) appear from the next run on; only states over a threshold "
        "are listed."
    )
    if a.empty:
        return [Markdown(head + " No alerts.")]
    counts = ", ".join(f"{n} {k}" for k, n in a["severity"].value_counts().items())
    return [
        Markdown(f"{head} {len(a):,} alerts ({counts}); all in `alerts.csv`."),
        table(
            a.head(40),
            labels={
                CUSTOMER_ID: "Customer",
                NAME: "Name",
                "alert": "Alert",
                "severity": "Severity",
                "detail": "Detail",
            },
        ),
    ]
