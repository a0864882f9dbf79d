"""The collections sections of the weekly report: the worklist (with each customer's reminder draft)
and the early-warning alerts, from the decisions stage's files."""

from __future__ import annotations

import pandas as pd
from IPython.display import Markdown

from creditlab.ledger.schema import CUSTOMER_ID, NAME, OPEN_AR
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
from creditlab.run.queries import ranked_alerts

__all__ = [
    "ALERTS_PER_KIND",
    "DRAFT_LINK",
    "alerts_section",
    "shown_alerts",
    "with_drafts",
    "worklist_section",
]

ALERTS_PER_KIND = 10  # rows of each alert kind the weekly table shows; all are in alerts.csv
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
    top["extra"] = [
        "–" if pd.isna(m) else f"{fmt_money(m)} ({fmt_money(lo)} to {fmt_money(hi)})"
        for m, lo, hi in zip(
            top["extra_cash"], top["extra_cash_lo"], top["extra_cash_hi"], strict=True
        )
    ]
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
        *_contact_effect(run, s["worklist"], s.get("contact_effect") or []),
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
                    "extra",
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
                "extra": f"Extra cash from acting ({run.params.interval_prob:.0%} interval)",
                "action": "Action",
                "relationship": "Why (disputes, promises)",
                "contact_day": "Contact on",
                "approval": "Owner",
                "draft": "Draft",
            },
            links={"draft": DRAFT_LINK},
        ),
    ]


def _signed(share: float) -> str:
    """A signed percentage, with no "-0.0 %" for a share that rounds to zero."""
    return f"{round(share, 3) + 0.0:+.1%}"


def _contact_effect(run: Run, worklist: dict, effect: list[dict]) -> list:
    """What the ledger's contacts say a reminder and a call do, and what acting this week is
    worth; or why the worklist is ranked by cash at risk instead."""
    if not effect:
        return [
            Markdown(
                "The ledger has no contact events (reminders, calls), so what a reminder does "
                "cannot be measured: the worklist is ranked by cash at risk. Load contacts "
                "(`contact` events with their channel) to rank by the extra cash from acting."
            )
        ]
    prob, cur = run.params.interval_prob, run.params.currency
    total = worklist.get("extra_cash")
    window = total["window_days"] if total else 7
    lines = []
    for r in effect:
        if r.get("hazard_ratio") is None:
            lines.append(f"- **{r['kind']}**: {md_escape(r['note'])}.")
            continue
        lines.append(
            f"- **{r['kind']}**: a payment is {r['hazard_ratio']:.2f} times as likely on each of "
            f"the {window} days after one ({prob:.0%} interval {r['hazard_ratio_lo']:.2f} to "
            f"{r['hazard_ratio_hi']:.2f}; P(it helps) {r['p_helps']:.0%}), from {r['contacts']:,} "
            f"contacts: {_signed(r['lift'])} on the share of contacted invoices paid within "
            f"{window} days ({_signed(r['lift_lo'])} to {_signed(r['lift_hi'])})."
        )
    head = (
        "**What a contact does**, measured on this ledger's own contacts (each customer's "
        "payments on days just after a contact against its payments on the same day past due "
        "without one; disputed invoices left out):"
    )
    tail = (
        f"The worklist is ranked by the **expected extra cash from acting**: the open amount "
        f"times the extra chance of payment within {window} days that its reminder or call "
        f"brings, given how soon that customer pays without one. Acting on the whole list is "
        f"expected to bring in {fmt_money(total['mean'])} {cur} more within {window} days than "
        f"waiting ({prob:.0%} interval {fmt_money(total['lo'])} to {fmt_money(total['hi'])}). "
        "Holds, escalations and acknowledgements bring no cash this week and follow, by cash at "
        "risk; a contact the ledger says does not help (negative extra cash) comes last. These are the ledger collectors' habits measured, not an experiment: where "
        "contacts were chosen on something that also speeds payment, the effect is overstated."
        if total
        else "No kind could be estimated, so the worklist is ranked by cash at risk."
    )
    return [Markdown("\n".join([head, "", *lines, "", tail]))]


def shown_alerts(found: pd.DataFrame, per_kind: int) -> tuple[pd.DataFrame, pd.Series]:
    """The rows of ``found`` (ordered as :func:`creditlab.run.queries.ranked_alerts` orders them)
    that the Alerts table shows, at most ``per_kind`` of each kind so a rare kind (a fraud screen)
    is never pushed out by a common one; and how many of each kind are left out."""
    rank = found.groupby("alert", sort=False).cumcount()
    left = found.loc[rank >= per_kind, "alert"].value_counts()
    return found.loc[rank < per_kind], left


def alerts_section(run: Run) -> list:
    """Early warnings: changes since the previous run and states over thresholds."""
    if (missing := not_in_run(run, ALERTS_FILE)) is not None:
        return missing
    a, s = ranked_alerts(run.run_dir), decisions_summary(run)
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
    shown, left = shown_alerts(a, ALERTS_PER_KIND)
    order = "Most severe first, then the largest open AR" + (
        f"; at most {ALERTS_PER_KIND} of each kind here, so "
        + ", ".join(f"{n} more {md_escape(k)}" for k, n in left.items())
        + " are only in `alerts.csv`."
        if len(left)
        else "."
    )
    return [
        Markdown(f"{head} {len(a):,} alerts ({counts}); all in `alerts.csv`. {order}"),
        table(
            shown,
            money=[OPEN_AR],
            labels={
                CUSTOMER_ID: "Customer",
                NAME: "Name",
                "alert": "Alert",
                "severity": "Severity",
                "detail": "Detail",
                OPEN_AR: "Open AR",
            },
        ),
    ]
