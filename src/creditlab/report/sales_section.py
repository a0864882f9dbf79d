"""The first screen of the customer review, for the account manager: can I sell more to this
customer on credit today (headroom, and the largest order approved on the spot), what would raise
its limit, and what is disputed or overdue and who is handling it."""

from __future__ import annotations

import pandas as pd
from IPython.display import Markdown

from creditlab import kpi
from creditlab.errors import ConfigError
from creditlab.ledger.schema import CREDIT_LIMIT, CUSTOMER_ID, DISPUTED, DUE_ON, INVOICE_ID
from creditlab.report.customer_section import customer_record, row_of, run_csv
from creditlab.report.tables import fmt_money, fmt_pct, md_escape, table
from creditlab.run.folder import LIMITS_FILE, SEGMENTS_FILE, TABLE_FILE, WORKLIST_FILE
from creditlab.run.prepare import Run
from creditlab.run.queries import order_headroom

__all__ = ["for_sales", "raise_limit_text"]


def for_sales(run: Run, customer_id: str) -> list:
    """Headroom and the largest order approved today, what would raise the limit, and the
    customer's disputed or overdue invoices with the action and owner of each."""
    c = customer_record(run, customer_id)
    cur = run.params.currency
    led = run.ledger
    mine = led.invoices.loc[led.invoices[CUSTOMER_ID].astype(str) == str(customer_id)]
    items = kpi.open_items(mine, run.as_of)
    open_ar = float(items[kpi.OPEN_AR].sum())
    limit = float(c[CREDIT_LIMIT]) if pd.notna(c[CREDIT_LIMIT]) else float("nan")
    decided = (run.run_dir / TABLE_FILE).is_file()
    try:
        largest, stops = order_headroom(run.run_dir, customer_id) if decided else (None, "")
    except ConfigError:  # a customer the decisions did not score
        largest, stops = None, ""
    if largest is None:
        answer = (
            "No order check in this run (it needs the PD model); the headroom under the current "
            "limit is below."
        )
    elif largest > 0:
        answer = (
            f"**Yes: an order of up to {fmt_money(largest)} {cur}** is approved on the spot "
            f"today; a larger one is stopped by {md_escape(stops)}."
        )
    else:
        answer = f"**No order on credit is approved on the spot today**: {md_escape(stops)}."
    rows = [
        ("Credit limit", f"{fmt_money(limit)} {cur}" if limit == limit else "none on record"),
        ("Open receivables", f"{fmt_money(open_ar)} {cur}"),
        (
            "Headroom under the limit",
            f"{fmt_money(max(limit - open_ar, 0.0))} {cur}" if limit == limit else "–",
        ),
        (
            "Largest order approved today",
            "–" if largest is None else f"{fmt_money(largest)} {cur}",
        ),
    ]
    lim = row_of(run_csv(run, LIMITS_FILE), customer_id)
    seg = row_of(run_csv(run, SEGMENTS_FILE), customer_id)
    if lim is not None:
        rows.append(("Limit the model recommends", f"{fmt_money(lim['recommended_limit'])} {cur}"))
    if seg is not None:
        rows += [
            ("Grade", f"{seg['grade']} ({seg['risk']} risk), PD {fmt_pct(seg['pd_mean'])}"),
            ("Orders above the on-the-spot amount go to", str(seg["approval"])),
        ]
    out = [
        Markdown(f"Can I sell more to this customer on credit today? {answer}"),
        table(pd.DataFrame(rows, columns=["", "Today"])).set_properties(
            subset=["Today"], **{"text-align": "right"}
        ),
    ]
    if lim is not None and seg is not None:
        out.append(Markdown(f"**What would raise the limit**: {raise_limit_text(lim, seg, items)}"))
    return out + _open_problems(run, customer_id, items)


def raise_limit_text(lim: pd.Series, seg: pd.Series, items: pd.DataFrame) -> str:
    """What would raise a customer's recommended limit, from what set it (its ``binding``), in
    words an account manager can act on (Markdown, escaped)."""
    binding = str(lim["binding"])
    policy = md_escape(seg["policy"])
    text = {
        "demand": "the limit already covers what the customer is likely to buy on credit "
        "(from its last 12 months of sales and how fast it pays). More business raises it: a "
        "forecast of larger orders, or faster payment, which frees the same limit sooner.",
        "risk appetite": "the risk appetite caps it: above it, the chance of a large loss on "
        "this customer would be too high. A lower PD raises it (paying on time, clearing "
        "overdue invoices), and so would security: a guarantee or credit insurance.",
        "policy: no increase": f"its policy '{policy}' allows no increase. A better grade (a "
        f"lower PD: paying on time, clearing overdue invoices) moves it to a policy that does; "
        f"it is reviewed every {seg['review_months']} months.",
        "policy: cash in advance": f"its policy '{policy}' allows cash in advance only. It "
        "needs to settle what is overdue and be re-graded first.",
        "no margin": "the expected loss on each unit of credit exceeds the margin it earns: a "
        "lower PD or a better margin on its orders would raise it.",
        "no recent sales": "no sales in the last 12 months, so the model has no basis: ask the "
        "credit team for a review by hand.",
    }.get(binding, md_escape(lim["rationale"]))
    overdue = items.loc[items[kpi.DPD] > 0]
    if len(overdue) and binding != "no recent sales":
        text += (
            f" Today {len(overdue)} invoice(s) of {fmt_money(overdue[kpi.OPEN_AR].sum())} are "
            f"overdue (the oldest {int(overdue[kpi.DPD].max())} days): settling them is the first "
            "step."
        )
    return text


def _open_problems(run: Run, customer_id: str, items: pd.DataFrame) -> list:
    """Disputed or overdue open invoices, with this week's action, contact day and owner."""
    problems = items.loc[(items[kpi.DPD] > 0) | items[DISPUTED].astype(bool)].sort_values(DUE_ON)
    if problems.empty:
        return [Markdown("Nothing is disputed or overdue.")]
    shown = problems[[INVOICE_ID, DUE_ON, kpi.OPEN_AR, kpi.DPD, DISPUTED]].assign(
        **{DUE_ON: problems[DUE_ON].dt.date, INVOICE_ID: problems[INVOICE_ID].astype(str)}
    )
    work = run_csv(run, WORKLIST_FILE)
    if work is not None:
        mine = work.loc[work[CUSTOMER_ID] == str(customer_id), [INVOICE_ID, "action",
                                                                 "contact_on", "approval"]]  # fmt: skip
        shown = shown.merge(mine, on=INVOICE_ID, how="left").fillna(
            {"action": "none due this week", "contact_on": "", "approval": ""}
        )
    return [
        Markdown(
            f"**Disputed or overdue** ({len(shown)} invoice(s)), with this week's collections "
            "step. *Handled by* is the role the customer's policy names; the ledger names no "
            "collector."
        ),
        table(
            shown,
            money=[kpi.OPEN_AR],
            ints=[kpi.DPD],
            labels={
                kpi.OPEN_AR: f"Open ({run.params.currency})",
                DISPUTED: "Disputed",
                "action": "This week",
                "contact_on": "Contact on",
                "approval": "Handled by",
            },
        ),
    ]
