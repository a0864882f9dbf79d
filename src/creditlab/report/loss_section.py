"""The portfolio loss distribution in the reports: how bad a year can get, who drives the tail, how
much of it is insured, and the customer review's line on its own contribution and cover.

Everything is read from the portfolio-loss stage's files (nothing is recomputed); a run without
them says why.
"""

from __future__ import annotations

import pandas as pd
from IPython.display import Markdown

from creditlab.ledger.schema import CUSTOMER_ID, NAME
from creditlab.report.decisions_section import stage_left_out
from creditlab.report.figures import loss_chart, to_image
from creditlab.report.tables import fmt_money, fmt_pct, md_escape, table
from creditlab.run.folder import (
    LOSS_CONTRIBUTIONS_FILE,
    LOSS_CURVE_FILE,
    LOSS_DISTRIBUTION_FILE,
    PORTFOLIO_LOSS_FILE,
    RunFolder,
)
from creditlab.run.prepare import Run

__all__ = [
    "contributors_section",
    "customer_loss",
    "finance_line",
    "insurance_section",
    "loss_section",
]


def _summary(run: Run) -> dict | None:
    return RunFolder(run.run_dir).read_json(PORTFOLIO_LOSS_FILE)


def _missing(run: Run) -> list | None:
    """A sentence instead of the section when the run has no loss distribution."""
    return stage_left_out(run, _summary(run), LOSS_DISTRIBUTION_FILE, "portfolio_loss")


def _level(level: float) -> str:
    return f"{level * 100:g} %"


def _row(frame: pd.DataFrame, measure: str, level: float) -> pd.Series:
    hit = frame.loc[(frame["measure"] == measure) & ((frame["level"] - level).abs() < 1e-9)]
    return hit.iloc[0]


def finance_line(run: Run) -> list:
    """One paragraph for finance: the bad year, before and after insurance, and the reserve."""
    if (missing := _missing(run)) is not None:
        return missing
    s, dist = _summary(run), RunFolder(run.run_dir).read_csv(LOSS_DISTRIBUTION_FILE)
    cur, prob = run.params.currency, run.params.interval_prob
    level = s["reserve_level"]
    var, es = _row(dist, "VaR", level), _row(dist, "ES", level)
    years = round(1 / (1 - level))
    insured = s["insurance"] is not None
    reserve = s["reserve"]
    text = (
        f"**In a 1-in-{years} year** the portfolio would lose **{cur} {fmt_money(var['gross'])}** "
        f"or more to credit losses over the next 12 months"
        + (f" before insurance, **{cur} {fmt_money(var['net'])}** after it" if insured else "")
        + f" ({prob:.0%} interval over the model's uncertainty {fmt_money(var['lo'])} to "
        f"{fmt_money(var['hi'])} before insurance). The worst {_level(1 - level)} of years lose "
        f"{cur} {fmt_money(es['gross'])} on average"
        + (f" ({fmt_money(es['net'])} after insurance)" if insured else "")
        + f". An average year loses {cur} {fmt_money(reserve['expected_loss'])} before "
        "insurance, the expected credit loss already provided for"
        + (f" ({fmt_money(reserve['net_expected_loss'])} after insurance)" if insured else "")
        + f". **Reserve suggestion: {cur} {fmt_money(reserve['suggested'])}** on top of the "
        f"expected loss: the {_level(level)} loss less the expected loss"
        + (", both after insurance" if insured else "")
        + f", so that a 1-in-{years} year is covered."
    )
    return [Markdown(text)]


def loss_section(run: Run) -> list:
    """The loss distribution: what it models, the table of levels, the exceedance chart."""
    if (missing := _missing(run)) is not None:
        return missing
    folder = RunFolder(run.run_dir)
    s = _summary(run)
    dist, curve = folder.read_csv(LOSS_DISTRIBUTION_FILE), folder.read_csv(LOSS_CURVE_FILE)
    cur, prob = run.params.currency, run.params.interval_prob
    corr = s["correlation"]
    moved = (
        f"updated from the ledger ({md_escape(corr['reason'])}): posterior mean "
        f"{corr['posterior']['mean']:.3f} ({prob:.0%} interval {corr['posterior']['lo']:.3f} to "
        f"{corr['posterior']['hi']:.3f}) against the prior's {corr['prior']['mean']:.3f} "
        f"({corr['prior']['lo']:.3f} to {corr['prior']['hi']:.3f})"
        if corr.get("updated")
        else f"from its prior, mean {corr['prior']['mean']:.3f} ({prob:.0%} interval "
        f"{corr['prior']['lo']:.3f} to {corr['prior']['hi']:.3f}); not updated: "
        f"{md_escape(corr['reason'])}"
    )
    sector = (
        ""
        if corr["sector_by"] == "none"
        else f" Customers of one {md_escape(corr['sector_by'])} share a further factor (mean "
        f"correlation {corr['sector_mean']:.3f}, from its prior)."
    )
    el = s["expected_loss"]
    intro = Markdown(
        f"{s['scenarios']:,} simulated years. Each takes one of {s['posterior_draws']} posterior "
        "draws of every customer's PD and LGD (so the uncertainty of the PDs is in the tail, not "
        "only the luck of defaults), draws the economy, each sector and each customer, and adds "
        "up the losses (open AR x LGD of the customers that default), less the insurer's payout. "
        "Customers default together through a systematic factor; its correlation is "
        f"{moved}.{sector} Expected loss: simulated {cur} {fmt_money(el['simulated'])}, exactly "
        f"{fmt_money(el['analytic'])} from the same PD and LGD draws as the ECL (thinned to "
        f"{s['posterior_draws']}). The worst years are sampled more "
        f"often and weighted back (importance sampling; effective sample size "
        f"{s['effective_sample_size']:,.0f})."
    )
    shown = dist.assign(
        what=[
            "Expected loss" if m == "expected loss" else f"{m} {_level(lv)}"
            for m, lv in zip(dist["measure"], dist["level"], strict=True)
        ]
    )
    columns = ["what", "gross", "lo", "hi", "net", "net_lo", "net_hi", "posterior_share", "mc_se"]
    legend = Markdown(
        f"VaR x %: the loss a year exceeds with probability 1 - x. ES x %: the average loss in "
        f"the worst 1 - x of years. *Interval*: the figure draw by draw, i.e. if the PDs, LGDs "
        f"and correlation were known to be one posterior draw ({prob:.0%} of draws inside); "
        "*from the posterior*: the share of that spread that is the model's uncertainty rather "
        "than simulation noise; *simulation error*: the standard error of the headline figure. "
        "The one-factor check: the Vasicek large-portfolio VaR plus Gordy's granularity "
        "adjustment, with every correlation treated as systematic: "
        + "; ".join(
            f"{_level(r.level)} {fmt_money(r.one_factor + r.granularity_adjustment)}"
            for r in dist.loc[dist["measure"] == "VaR"].itertuples()
        )
        + "."
    )
    ecl = s["reserve"]["expected_loss"]
    var_level = s["reserve_level"]
    var = _row(dist, "VaR", var_level)
    es = _row(dist, "ES", var_level)
    marks = {
        "expected loss (ECL)": ecl,
        f"VaR {_level(var_level)} gross": var["gross"],
        f"ES {_level(var_level)} gross": es["gross"],
    }
    return [
        intro,
        table(
            shown[columns],
            money=["gross", "lo", "hi", "net", "net_lo", "net_hi", "mc_se"],
            pct=["posterior_share"],
            labels={
                "what": "Measure",
                "gross": f"Before insurance ({cur})",
                "lo": f"{prob:.0%} interval from",
                "hi": "to",
                "net": f"After insurance ({cur})",
                "net_lo": "from",
                "net_hi": "to",
                "posterior_share": "From the posterior",
                "mc_se": "Simulation error",
            },
        ),
        legend,
        to_image(loss_chart(curve, marks, cur)),
    ]


def contributors_section(run: Run) -> list:
    """Who drives the tail: the customers and industries with the largest ES contributions."""
    if (missing := _missing(run)) is not None:
        return missing
    s = _summary(run)
    c = RunFolder(run.run_dir).read_csv(LOSS_CONTRIBUTIONS_FILE)
    cur, level = run.params.currency, s["contribution_level"]
    total = c["es_contribution"].sum()
    top = c.nlargest(run.params.portfolio_loss.top_contributors, "es_contribution").assign(
        share=lambda f: f["es_contribution"] / total if total > 0 else float("nan")
    )
    industries = (
        c.groupby("industry", dropna=False)[["ead", "el", "es_contribution", "net_es_contribution"]]
        .sum()
        .reset_index()
        .sort_values("es_contribution", ascending=False)
    )
    industries["share"] = industries["es_contribution"] / total if total > 0 else float("nan")
    conc = s["concentration"]
    return [
        Markdown(
            f"Each customer's contribution is its average loss in the worst "
            f"{_level(1 - level)} of simulated years (Euler allocation): the contributions add "
            f"up to the ES {_level(level)} of {cur} {fmt_money(total)}. A customer whose share "
            "is far above its share of expected loss is a concentration: large, and likely to "
            f"fail in the years that are bad anyway. Concentration: single-name Herfindahl "
            f"{conc['single_name_hhi']:.3f} (as diversified as {conc['effective_names']:,.0f} "
            f"equal customers), top 10 customers {fmt_pct(conc['top10_share'])} of exposure, "
            f"sector Herfindahl {conc['sector_hhi']:.3f} ({conc['effective_sectors']:.1f} "
            "equal sectors)."
        ),
        table(
            top[
                [
                    CUSTOMER_ID,
                    NAME,
                    "industry",
                    "grade",
                    "ead",
                    "insured",
                    "el",
                    "es_contribution",
                    "net_es_contribution",
                    "share",
                ]
            ],  # fmt: skip
            money=["ead", "insured", "el", "es_contribution", "net_es_contribution"],
            pct=["share"],
            labels={
                CUSTOMER_ID: "Customer",
                NAME: "Name",
                "industry": "Industry",
                "grade": "Grade",
                "ead": f"Open AR ({cur})",
                "insured": "Insured",
                "el": "Expected loss",
                "es_contribution": f"ES {_level(level)} contribution",
                "net_es_contribution": "after insurance",
                "share": "Share of ES",
            },
            caption=f"Largest contributors to the {_level(level)} expected shortfall",
        ),
        table(
            industries,
            money=["ead", "el", "es_contribution", "net_es_contribution"],
            pct=["share"],
            labels={
                "industry": "Industry",
                "ead": f"Open AR ({cur})",
                "el": "Expected loss",
                "es_contribution": f"ES {_level(level)} contribution",
                "net_es_contribution": "after insurance",
                "share": "Share of ES",
            },
            caption="Contributions by industry",
        ),
    ]


def insurance_section(run: Run) -> list:
    """Insured and uninsured exposure by grade and by industry, and the policy's terms."""
    if (missing := _missing(run)) is not None:
        return missing
    s = _summary(run)
    cur = run.params.currency
    ins = s["insurance"]
    if ins is None:
        return [Markdown("No credit insurance in the params: every loss is borne in full.")]
    c = RunFolder(run.run_dir).read_csv(LOSS_CONTRIBUTIONS_FILE)
    terms = ins["terms"]
    cap = (
        "no cap" if terms["max_liability"] is None else f"{cur} {fmt_money(terms['max_liability'])}"
    )
    policy = run.params.insurance
    parts = [
        Markdown(
            f"{ins['covered_customers']:,} customers have cover (named in the policy, or up to the "
            f"discretionary limit of {cur} {fmt_money(policy.discretionary_limit)}); indemnity "
            f"{fmt_pct(policy.indemnity, 0)} unless the policy says otherwise, deductible {cur} "
            f"{fmt_money(terms['deductible'])} per claim, aggregate first loss {cur} "
            f"{fmt_money(terms['aggregate_first_loss'])} a year, maximum liability {cap}. "
            f"Insured: {cur} {fmt_money(s['exposure']['insured'])} of "
            f"{fmt_money(s['exposure']['total'])} open AR; the rest (customers without cover and "
            "exposure above an insured limit) is uninsured."
        )
    ]
    if ins["not_in_ledger_count"]:
        parts.append(
            Markdown(
                f"The policy names {ins['not_in_ledger_count']} customer(s) without open AR in "
                "this run (not scored or not in the ledger): "
                + ", ".join(md_escape(x) for x in ins["not_in_ledger"])
                + ("…" if ins["not_in_ledger_count"] > len(ins["not_in_ledger"]) else "")
            )
        )
    for by, label in (("grade", "Grade"), ("industry", "Industry")):
        g = c.groupby(by, dropna=False)[["ead", "insured", "uninsured"]].sum().reset_index()
        g["share"] = g["insured"] / g["ead"].where(g["ead"] > 0)
        parts.append(
            table(
                g,
                money=["ead", "insured", "uninsured"],
                pct=["share"],
                labels={
                    by: label,
                    "ead": f"Open AR ({cur})",
                    "insured": "Insured",
                    "uninsured": "Uninsured",
                    "share": "Insured share",
                },
                caption=f"Insured and uninsured exposure by {by}",
            )
        )
    return parts


def customer_loss(run: Run, customer_id: str) -> list:
    """The customer review's paragraph: the customer's part of a bad year and its cover."""
    if (missing := _missing(run)) is not None:
        return missing
    s = _summary(run)
    c = RunFolder(run.run_dir).read_csv(LOSS_CONTRIBUTIONS_FILE)
    row = c.loc[c[CUSTOMER_ID].astype(str) == str(customer_id)]
    if row.empty:
        return [Markdown("Not in the loss distribution: the customer has no PD in this run.")]
    r = row.iloc[0]
    cur, level = run.params.currency, s["contribution_level"]
    total = c["es_contribution"].sum()
    rank = int((c["es_contribution"] > r["es_contribution"]).sum()) + 1
    cover = (
        "no credit insurance cover"
        if r["insured_limit"] <= 0
        else f"cover up to {cur} {fmt_money(r['insured_limit'])} at "
        f"{fmt_pct(r['indemnity'], 0)} indemnity ({cur} {fmt_money(r['insured'])} of its "
        f"{fmt_money(r['ead'])} open AR insured, {fmt_money(r['uninsured'])} uninsured)"
    )
    return [
        Markdown(
            f"In the worst {_level(1 - level)} of simulated years this customer loses us {cur} "
            f"{fmt_money(r['es_contribution'])} on average "
            f"({fmt_pct(r['es_contribution'] / total if total > 0 else float('nan'))} of the "
            f"portfolio's ES {_level(level)}, rank {rank:,} of {len(c):,}; "
            f"{fmt_money(r['net_es_contribution'])} after insurance), against an expected loss "
            f"of {fmt_money(r['el'])}. It has {cover}."
        )
    ]
