"""The credit decision sections of a report: grades and segments, credit limits, ECL and terms
economics, and the helpers every decision section shares (the stage's summary, its files, the
sentence that replaces a section the run left out).

Each function reads the files the decisions stage wrote into the run folder (nothing is recomputed)
and returns display objects; a part the run left out says so, and why. The provision matrix and
scenarios are in :mod:`creditlab.report.provisions_section`, the worklist and alerts in
:mod:`creditlab.report.collections_section`.
"""

from __future__ import annotations

import pandas as pd
from IPython.display import Markdown

from creditlab.decisions.settings import DEFAULT_SCALE
from creditlab.ledger.schema import CUSTOMER_ID, NAME, OPEN_AR, PD_MEAN
from creditlab.report.figures import bar_chart, interval_chart, to_image
from creditlab.report.tables import fmt_money, fmt_pct, md_escape, table
from creditlab.run.folder import (
    DECISIONS_FILE,
    ECL_BY_GROUP_FILE,
    ECL_FILE,
    GRADE_CALIBRATION_FILE,
    LIMITS_FILE,
    SEGMENTS_FILE,
    TERMS_FILE,
    RunFolder,
)
from creditlab.run.prepare import Run

__all__ = [
    "decisions_summary",
    "ecl_section",
    "grades_section",
    "interval_text",
    "limits_section",
    "not_in_run",
    "read_artifact",
    "segments_section",
    "stage_left_out",
    "terms_section",
]


def decisions_summary(run: Run) -> dict | None:
    """The decisions stage's summary (``decisions.json``), or None when it did not run."""
    return RunFolder(run.run_dir).read_json(DECISIONS_FILE)


def read_artifact(run: Run, name: str) -> pd.DataFrame | None:
    """A CSV file of the run folder (ids as text), or None when the run has none."""
    return RunFolder(run.run_dir).read_csv(name)


def not_in_run(run: Run, name: str) -> list | None:
    """A sentence instead of the section when the run has no ``name`` (a decisions file)."""
    return stage_left_out(run, decisions_summary(run), name, "decisions")


def stage_left_out(run: Run, summary: dict | None, name: str, section: str) -> list | None:
    """A sentence instead of a section when the run has no ``name``: the stage of the params'
    ``section`` is off, did not run, or left the file out (the reasons in its ``summary``)."""
    if summary is None:
        why = (
            f"`{section}:` is not enabled in the params"
            if not getattr(run.params, section).enabled
            else f"the {section.replace('_', ' ')} stage did not run"
        )
        return [Markdown(f"Not in this run: {why}.")]
    if not (run.run_dir / name).is_file():
        reasons = "; ".join(md_escape(r) for r in summary.get("left_out", [])) or "not computed"
        return [Markdown(f"Not in this run: {reasons}.")]
    return None


def interval_text(mean: float, lo: float, hi: float, prob: float) -> str:
    """An amount with its credible interval, for a sentence."""
    return f"**{fmt_money(mean)}** ({prob:.0%} interval {fmt_money(lo)} to {fmt_money(hi)})"


def grades_section(run: Run) -> list:
    """The master scale: customers and AR per grade and each grade's calibration."""
    if (missing := not_in_run(run, SEGMENTS_FILE)) is not None:
        return missing
    seg = read_artifact(run, SEGMENTS_FILE)
    prob, cur = run.params.interval_prob, run.params.currency
    per = (
        seg.groupby("grade", sort=False)
        .agg(
            risk=("risk", "first"),
            customers=(CUSTOMER_ID, "size"),
            open_ar=(OPEN_AR, "sum"),
            mean_pd=(PD_MEAN, "mean"),
        )
        .reset_index()
    )
    order = {
        g: i
        for i, g in enumerate([*sorted(per["grade"].loc[per["grade"] != "D"], key=_grade_key), "D"])
    }
    per = per.sort_values("grade", key=lambda s: s.map(order)).reset_index(drop=True)
    out: list = [
        Markdown(
            "Each customer's posterior mean PD places it on the **master scale** (PD bands from the "
            "params; grade D = already in default). Its **segment** is risk class x payment "
            "behaviour (last 12 months of payments) x value tier (margin on annualised sales), and "
            "the first matching row of the params' policy table sets its terms, limit policy, "
            "review frequency, dunning cadence and who approves."
            + (
                " The bands are creditlab's default scale."
                if run.params.decisions.grades == DEFAULT_SCALE
                else ""
            )
        ),
        table(
            per,
            money=[OPEN_AR],
            pct=["mean_pd"],
            ints=["customers"],
            labels={
                "grade": "Grade",
                "risk": "Risk class",
                "customers": "Customers",
                OPEN_AR: f"Open AR ({cur})",
                "mean_pd": "Mean PD",
            },
        ),
    ]
    cal = read_artifact(run, GRADE_CALIBRATION_FILE)
    if cal is not None and len(cal):
        cal["consistent"] = cal["consistent"].map({True: "yes", False: "no"})
        out += [
            Markdown(
                "Calibration of each grade in the out-of-time window (Jeffreys test: the grade's mean "
                f"PD should lie inside the {prob:.0%} interval of its observed default rate):"
            ),
            table(
                cal[
                    [
                        "grade",
                        "n",
                        "defaults",
                        "mean_pd",
                        "observed_rate",
                        "rate_lo",
                        "rate_hi",
                        "consistent",
                    ]
                ],
                pct=["mean_pd", "observed_rate", "rate_lo", "rate_hi"],
                ints=["n", "defaults"],
                labels={
                    "grade": "Grade",
                    "n": "Customers",
                    "defaults": "Defaults",
                    "mean_pd": "Mean PD",
                    "observed_rate": "Observed rate",
                    "rate_lo": "from",
                    "rate_hi": "to",
                    "consistent": "Consistent",
                },
            ),
        ]
    return [
        *out,
        to_image(
            bar_chart(per, "grade", "customers", OPEN_AR, "Customers and open AR by grade", cur)
        ),
    ]


def segments_section(run: Run) -> list:
    """Customers per segment and the policies that apply to them."""
    if (missing := not_in_run(run, SEGMENTS_FILE)) is not None:
        return missing
    seg = read_artifact(run, SEGMENTS_FILE)
    pivot = seg.pivot_table(
        index=["risk", "behaviour"],
        columns="value",
        values=CUSTOMER_ID,
        aggfunc="count",
        fill_value=0,
    )
    pivot = pivot.reindex(
        columns=[c for c in ("high", "medium", "low") if c in pivot.columns]
    ).reset_index()
    policies = (
        seg.groupby("policy", sort=False)
        .agg(
            customers=(CUSTOMER_ID, "size"),
            terms_days=("terms_days", "first"),
            limit_policy=("limit_policy", "first"),
            review_months=("review_months", "first"),
            dunning=("dunning", "first"),
            approval=("approval", "first"),
        )
        .reset_index()
    )
    return [
        Markdown("Customers per segment (risk class and behaviour by value tier):"),
        table(
            pivot,
            ints=["high", "medium", "low"],
            labels={
                "risk": "Risk",
                "behaviour": "Behaviour",
                "high": "High value",
                "medium": "Medium value",
                "low": "Low value",
            },
        ),
        Markdown("The policies that apply (per customer in `segments.csv`):"),
        table(
            policies,
            ints=["customers", "terms_days", "review_months"],
            labels={
                "policy": "Policy",
                "customers": "Customers",
                "terms_days": "Terms (days)",
                "limit_policy": "Limit policy",
                "review_months": "Review every (months)",
                "dunning": "Dunning",
                "approval": "Approval",
            },
        ),
    ]


def _grade_key(grade: str):
    return (0, float(grade)) if str(grade).replace(".", "", 1).isdigit() else (1, str(grade))


def limits_section(run: Run) -> list:
    """How limits are set, the totals, and the largest recommended changes with their reasons."""
    if (missing := not_in_run(run, LIMITS_FILE)) is not None:
        return missing
    lim, seg = read_artifact(run, LIMITS_FILE), read_artifact(run, SEGMENTS_FILE)
    d = run.params.decisions
    s = decisions_summary(run)["limits"]
    lim = lim.merge(seg[[CUSTOMER_ID, NAME, "grade"]], on=CUSTOMER_ID, how="left")
    big = lim.reindex(lim["change"].abs().sort_values(ascending=False).index).head(run.params.top_n)
    e, a = d.economics, d.appetite
    return [
        Markdown(
            "Each recommended limit maximises the posterior expected margin minus expected loss: a "
            f"unit of limit used for a year earns the margin ({e.margin:.0%}) on the sales it turns "
            f"over, less the cost of capital ({e.cost_of_capital:.0%}), and loses PD x LGD x "
            f"{e.ccf:.0%} of it in a default; next year's need for credit is uncertain "
            f"(log-sd {e.demand_sd}) around the last 12 months' sales. The **risk appetite** caps "
            f"it: the chance of losing more than {fmt_money(a.loss_threshold)} on one customer "
            f"must stay below {a.max_probability:.0%}. Then the segment's policy applies "
            f"(cash in advance, or no increase). Limits are rounded down to "
            f"{fmt_money(e.limit_rounding)}."
        ),
        Markdown(
            f"{s['raised']:,} limits would rise, {s['cut']:,} fall and {s['unchanged']:,} stay; "
            f"total limits {fmt_money(s['current_total'])} now, {fmt_money(s['recommended_total'])} "
            "recommended. The largest changes:"
        ),
        table(
            big[
                [
                    CUSTOMER_ID,
                    NAME,
                    "grade",
                    "current_limit",
                    "recommended_limit",
                    "change",
                    "expected_profit",
                    "rationale",
                ]
            ],
            money=["current_limit", "recommended_limit", "change", "expected_profit"],
            labels={
                CUSTOMER_ID: "Customer",
                NAME: "Name",
                "grade": "Grade",
                "current_limit": "Current limit",
                "recommended_limit": "Recommended",
                "change": "Change",
                "expected_profit": "Expected profit / year",
                "rationale": "Why",
            },
        ),
    ]


def ecl_section(run: Run) -> list:
    """12-month expected credit loss, total and by grade and industry, with credible intervals."""
    if (missing := not_in_run(run, ECL_FILE)) is not None:
        return missing
    s, prob, cur = decisions_summary(run), run.params.interval_prob, run.params.currency
    by = read_artifact(run, ECL_BY_GROUP_FILE)
    d = run.params.decisions
    lgd_text = ", ".join(f"{md_escape(k)} {v.mean:.0%} (sd {v.sd:.0%})" for k, v in d.lgd.items())
    t = s["ecl_total"]
    grade = by.loc[by["group_by"] == "grade"].sort_values("group", key=lambda c: c.map(_grade_key))
    industry = by.loc[by["group_by"] == "industry"].sort_values("ecl_mean", ascending=False)
    cols = ["group", "customers", "ead", "ecl_mean", "ecl_lo", "ecl_hi"]
    labels = {
        "group": "Group",
        "customers": "Customers",
        "ead": f"EAD ({cur})",
        "ecl_mean": "ECL",
        "ecl_lo": f"{prob:.0%} interval from",
        "ecl_hi": "to",
    }
    chart = industry.rename(columns={"ecl_mean": "mean", "ecl_lo": "lo", "ecl_hi": "hi"})
    return [
        Markdown(
            f"Expected credit loss over 12 months = PD x LGD x EAD (EAD = open AR), per posterior "
            f"draw: {interval_text(t['mean'], t['lo'], t['hi'], prob)} {cur}. LGD priors (Beta, "
            f"by {md_escape(d.lgd_by)}): {lgd_text}. Per customer in `ecl.csv`. (The provision "
            "matrix below measures losses directly, as balances never collected, over the "
            "receivables' lifetime; the two answer different questions and differ.)"
        ),
        table(
            grade[cols].rename(columns={"group": "Grade"}),
            money=["ead", "ecl_mean", "ecl_lo", "ecl_hi"],
            ints=["customers"],
            labels=labels,
        ),
        table(
            industry[cols],
            money=["ead", "ecl_mean", "ecl_lo", "ecl_hi"],
            ints=["customers"],
            labels={**labels, "group": "Industry"},
        ),
        to_image(
            interval_chart(
                chart,
                "group",
                "12-month ECL by industry",
                f"ECL ({cur}; dots: mean, bars: {prob:.0%} interval)",
                percent=False,
            )
        ),
    ]


def terms_section(run: Run) -> list:
    """Early-payment discount and factoring: annualised cost and value per customer."""
    if (missing := not_in_run(run, TERMS_FILE)) is not None:
        return missing
    t = read_artifact(run, TERMS_FILE).merge(
        read_artifact(run, SEGMENTS_FILE)[[CUSTOMER_ID, NAME]], on=CUSTOMER_ID, how="left"
    )
    cfg, econ = run.params.decisions.terms, run.params.decisions.economics
    cur = run.params.currency
    counts = t["suggestion"].value_counts()
    best = t.loc[t["suggestion"].isin(["offer the discount", "factor its invoices"])].assign(
        best=lambda f: f[["discount_value", "factoring_value"]].max(axis=1)
    )
    best = best.nlargest(run.params.top_n, "best")
    apr = t["discount_apr"].dropna()
    return [
        Markdown(
            f"A {cfg.discount:.0%} discount for paying within {cfg.discount_days} days costs "
            f"{fmt_pct(apr.median())} a year at the median customer's terms (d / (1 - d) x 365 / "
            f"(N - D)); factoring at {cfg.factoring_advance:.0%} advance and "
            f"{cfg.factoring_fee_per_30d:.1%} per 30 days costs {fmt_pct(t['factoring_apr'].median())} "
            f"a year at the median customer's days to pay, against a cost of capital of "
            f"{econ.cost_of_capital:.0%}. Value per year = financing and expected loss saved minus "
            f"the cost (discount taken on {cfg.take_up:.0%} of sales). Suggestions: "
            + ", ".join(f"{n:,} {md_escape(k)}" for k, n in counts.items())
            + "."
        ),
        table(
            best[
                [
                    CUSTOMER_ID,
                    NAME,
                    "annual_sales",
                    "days_to_pay",
                    "discount_value",
                    "p_discount_pays",
                    "factoring_value",
                    "p_factoring_pays",
                    "suggestion",
                ]
            ],
            money=["annual_sales", "discount_value", "factoring_value"],
            pct=["p_discount_pays", "p_factoring_pays"],
            ints=["days_to_pay"],
            labels={
                CUSTOMER_ID: "Customer",
                NAME: "Name",
                "annual_sales": f"Sales / year ({cur})",
                "days_to_pay": "Days to pay",
                "discount_value": "Discount value / year",
                "p_discount_pays": "P(pays off)",
                "factoring_value": "Factoring value / year",
                "p_factoring_pays": "P(pays off)",
                "suggestion": "Suggestion",
            },
        )
        if len(best)
        else Markdown("For no customer does either offer pay off."),
    ]
