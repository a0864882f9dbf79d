"""The weekly report's first section, "This week": what changed since the last run, the actions
worth the most money, and a one-line status of the models with a link to their validation report.
A credit manager reads it in a minute; everything in it is detailed further down the report."""

from __future__ import annotations

import pandas as pd
from IPython.display import Markdown

from creditlab.decisions.actions import ACTION_COLUMNS
from creditlab.ledger.schema import IN_DEFAULT, NAME, PD_MEAN
from creditlab.report.collections_section import DRAFT_LINK, with_drafts
from creditlab.report.tables import fmt_days, fmt_money, fmt_pct, md_escape, table
from creditlab.report.weekly import WeeklyKpis
from creditlab.run.folder import (
    ACTIONS_FILE,
    ALERTS_FILE,
    PAYMENT_SUMMARY_FILE,
    PD_SUMMARY_FILE,
    SCORES_FILE,
    RunFolder,
)
from creditlab.run.prepare import Run

__all__ = ["CHANGE_ALERTS", "changes", "model_status", "top_actions"]

# Alerts that report a change since the previous run (the others are states that hold every week).
CHANGE_ALERTS = ("PD up", "grade downgrade", "new 90+ DPD", "new 60+ DPD", "new 30+ DPD",
                 "new dispute", "likely 30+ DPD")  # fmt: skip
VALIDATION_REPORT = "model_validation.html"


def changes(run: Run, k: WeeklyKpis) -> list:
    """The ledger's figures now and at the comparison date, PD movers and new alerts."""
    h, cur = k.headline, run.params.currency
    since = h.get("since")
    out: list = []
    if since:
        rows = [
            ("Open AR", h["open_ar"], since["open_ar"], fmt_money, f" {cur}"),
            ("Overdue AR", h["overdue_ar"], since["overdue_ar"], fmt_money, f" {cur}"),
            ("Overdue share", h["overdue_share"], since["overdue_share"], fmt_pct, ""),
            ("Open invoices", h["open_invoices"], since["open_invoices"], fmt_money, ""),
            ("DSO (days)", h["dso"], since["dso"], fmt_days, ""),
            ("Customers over their limit", h["limit_breaches"], since["limit_breaches"], fmt_money, ""),
        ]  # fmt: skip
        frame = pd.DataFrame(
            [
                (label, fmt(now) + unit, fmt(then) + unit, _signed(now - then, fmt) + unit)
                for label, now, then, fmt, unit in rows
            ],
            columns=["Measure", "Now", f"On {since['as_of']}", "Change"],
        )
        out += [
            Markdown(
                f"Compared with **{since['as_of']}**, {md_escape(since['basis'])}; both columns "
                "are read from this week's ledger."
            ),
            table(frame).set_properties(
                subset=["Now", frame.columns[2], "Change"], **{"text-align": "right"}
            ),  # fmt: skip
        ]
    out += _movers(run) + _new_alerts(run)
    return out


def _signed(delta: float, fmt) -> str:
    """A change with its sign, in the figure's format; a change of a share in percentage points."""
    if delta != delta:  # NaN
        return "–"
    if fmt is fmt_pct:
        return f"{delta * 100:+.1f} pp".replace("-", "−")
    text = fmt(abs(delta))
    return "no change" if text.strip("0.,% ") == "" else ("+" if delta > 0 else "−") + text


def _movers(run: Run) -> list:
    folder = RunFolder(run.run_dir)
    if not (run.run_dir / SCORES_FILE).is_file():
        return []
    scores = pd.read_parquet(run.run_dir / SCORES_FILE)
    if "pd_change" not in scores:
        return [
            Markdown("PD movers appear from the second run on (no earlier scores in the store).")
        ]
    step = run.params.decisions.alerts.pd_increase
    alive = scores.loc[~scores[IN_DEFAULT]].dropna(subset=["pd_change"])
    up, down = alive.loc[alive["pd_change"] >= step], alive.loc[alive["pd_change"] <= -step]
    top = up.nlargest(3, "pd_change")
    named = ", ".join(
        f"{md_escape(r[NAME])} ({r['pd_previous']:.1%} → {r[PD_MEAN]:.1%})"
        for _, r in top.iterrows()
    )
    previous = (folder.read_json(PD_SUMMARY_FILE) or {}).get("previous_run", "")
    return [
        Markdown(
            f"**PD movers** since run {md_escape(previous)}: {len(up):,} customer(s) up by "
            f"{step:.1%} or more, {len(down):,} down by as much"
            + (f"; the largest rises: {named}." if named else ".")
        )
    ]


def _new_alerts(run: Run) -> list:
    alerts = RunFolder(run.run_dir).read_csv(ALERTS_FILE)
    if alerts is None:
        return []
    new = alerts.loc[alerts["alert"].isin(CHANGE_ALERTS)]
    if new.empty:
        return [Markdown(f"**New alerts**: none; {len(alerts):,} standing alert(s) (limits, "
                         "utilisation, concentration) are listed under Credit.")]  # fmt: skip
    counts = new["alert"].value_counts()
    return [
        Markdown(
            f"**New alerts**: {len(new):,} ("
            + ", ".join(f"{n} {md_escape(a)}" for a, n in counts.items())
            + f"), {int((new['severity'] == 'high').sum())} of them high; "
            f"{len(alerts) - len(new):,} standing alert(s) besides. All are listed under Credit."
        )
    ]


def top_actions(run: Run, n: int = 5) -> list:
    """The ``n`` actions worth the most money this week (``actions.csv``), each with its reason."""
    actions = RunFolder(run.run_dir).read_csv(ACTIONS_FILE)
    if actions is None:
        return [Markdown("No actions: the decisions stage did not run.")]
    if actions.empty:
        return [Markdown("No action is due this week: nothing on the worklist, no customer over "
                         "its limit, no limit to cut and nothing to provide.")]  # fmt: skip
    cur = run.params.currency
    shown = actions.head(n)
    return [
        Markdown(
            f"**The {len(shown)} actions worth the most money** (of {len(actions):,} customers "
            "with an action; the full list is `actions.csv` in the run folder), ranked by "
            "*expected at risk*: the amount weighted by the chance it is lost if nothing is done "
            "(open amount x P(90+ DPD or default) for collections; PD x LGD x the exposure for a "
            "hold or a limit cut; the expected loss for a provision)."
        ),
        table(
            with_drafts(run, shown[ACTION_COLUMNS]),
            money=["amount", "worth"],
            ints=["rank"],
            labels={
                "rank": "#",
                "action": "Action",
                "amount": f"Amount ({cur})",
                "amount_is": "Amount is",
                "worth": f"Expected at risk ({cur})",
                "reason": "Why",
                "owner": "Who decides",
                "draft": "Draft",
            },
            links={"draft": DRAFT_LINK},
        ),
    ]


def model_status(run: Run) -> list:
    """One line on each model (fitted, converged, out-of-time AUC) and a link to the validation
    report, where the models' statistics are (or how to render it, where this run did not)."""
    folder = RunFolder(run.run_dir)
    parts = []
    pd_s = folder.read_json(PD_SUMMARY_FILE)
    if pd_s is None or pd_s.get("skipped"):
        parts.append("PD model not fitted" + (f" ({md_escape(pd_s['skipped'])})" if pd_s else ""))
    else:
        auc = next((m for m in pd_s["metrics"] if m["metric"] == "auc"), None)
        parts.append(
            "PD model "
            + ("converged" if pd_s["gate"]["passed"] else "**failed its convergence gate**")
            + (
                f", out-of-time AUC {auc['value']:.2f} ({auc['lo']:.2f} to {auc['hi']:.2f})"
                if auc
                else ""
            )
        )
    pay = folder.read_json(PAYMENT_SUMMARY_FILE)
    if pay and pay.get("gate"):
        parts.append(
            "payment-timing model "
            + ("converged" if pay["gate"]["passed"] else "**failed its convergence gate**")
        )
    else:
        parts.append("payment-timing model not fitted")
    where = (
        f"in the [model validation report]({VALIDATION_REPORT}) of this run folder"
        if run.params.reports.model_validation
        else "in the model validation report, which this run did not render (`reports: "
        "{model_validation: true}` in the params, or `creditlab run validation --params P`)"
    )
    return [
        Markdown(
            "**Models**: " + "; ".join(parts) + ". Their statistics (effects, convergence, "
            f"validation, stability) are {where}."
        )
    ]
