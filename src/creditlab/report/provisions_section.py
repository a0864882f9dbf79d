"""The IFRS 9 provision matrix and the stress-scenario grid of the weekly report, from the
decisions stage's files."""

from __future__ import annotations

import numpy as np
from IPython.display import Markdown

from creditlab.report.decisions_section import (
    not_in_run,
    read_artifact,
)
from creditlab.report.figures import interval_chart, to_image
from creditlab.report.tables import fmt_pct, md_escape, table
from creditlab.run.folder import (
    PORTFOLIO_ROLL_RATES_FILE,
    PROVISION_MATRIX_FILE,
    PROVISION_TOTALS_FILE,
    SCENARIOS_FILE,
)
from creditlab.run.prepare import Run

__all__ = ["provisions_section", "scenarios_section"]


def provisions_section(run: Run) -> list:
    """The IFRS 9 provision matrix as a heat table, the allowance by scenario and the roll rates."""
    if (missing := not_in_run(run, PROVISION_MATRIX_FILE)) is not None:
        return missing
    m, totals, portfolio_roll = (
        read_artifact(run, PROVISION_MATRIX_FILE),
        read_artifact(run, PROVISION_TOTALS_FILE),
        read_artifact(run, PORTFOLIO_ROLL_RATES_FILE),
    )
    prob, cur = run.params.interval_prob, run.params.currency
    d = run.params.decisions.provisions
    order = list(dict.fromkeys(m["bucket"]))
    heat = m.pivot_table(
        index="bucket", columns="segment", values="loss_rate_mean", sort=False
    ).reindex(order)
    heat_style = (
        heat.style.format(lambda v: fmt_pct(v, 2), escape="html")
        .background_gradient(cmap="OrRd", axis=None, vmin=0, vmax=1)
        .set_table_attributes('class="cl-table"')
    )
    heat_style = heat_style.relabel_index([md_escape(c) for c in heat.columns], axis="columns")
    by_bucket = (
        m.groupby("bucket", sort=False)[["balance", "allowance_historical", "allowance_mean"]]
        .sum()
        .reset_index()
    )
    by_bucket["rate"] = np.where(
        by_bucket["balance"] > 0, by_bucket["allowance_mean"] / by_bucket["balance"], np.nan
    )
    scen = ", ".join(
        f"{k} weight {v['weight']:.0%} x{v['multiplier']:g}" for k, v in d.scenarios.items()
    )
    return [
        Markdown(
            "Simplified approach for trade receivables: a lifetime loss rate per aging bucket"
            + ("" if d.segment_by == "none" else f" and {md_escape(d.segment_by)}")
            + f", from how invoices moved between the last {d.history_months} month-end aging "
            f"snapshots (paid, stayed, rolled on, or became a loss: unpaid {d.loss_dpd} days or "
            "written off / insolvent). Each bucket's monthly moves have a Dirichlet posterior "
            f"(segments borrow {d.prior_strength:g} invoices' worth from the portfolio), and its "
            "loss rate is the chance of ending as a loss. Invoices already credit-impaired are "
            f"provided in full. Forward-looking overlay: {scen} (weighted multiplier "
            f"{d.overlay:.2f}). Loss rates are posterior means:"
        ),
        heat_style,
        table(
            totals,
            money=["allowance_mean", "allowance_lo", "allowance_hi"],
            labels={
                "scenario": "Loss rates",
                "allowance_mean": f"Allowance ({cur})",
                "allowance_lo": f"{prob:.0%} interval from",
                "allowance_hi": "to",
            },
        ),
        Markdown(
            "By bucket, all segments together (the allowance to book is the forward-looking one):"
        ),
        table(
            by_bucket,
            money=["balance", "allowance_historical", "allowance_mean"],
            pct=["rate"],
            labels={
                "bucket": "Bucket",
                "balance": f"Open balance ({cur})",
                "allowance_historical": "Allowance, historical rates",
                "allowance_mean": "Allowance, forward-looking",
                "rate": "Effective rate",
            },
        ),
        Markdown(
            "Monthly moves behind the rates (posterior means, all segments; `roll_rates.csv` per segment):"
        ),
        table(
            portfolio_roll,
            ints=["observed"],
            pct=["paid", "stayed", "rolled_on", "loss"],
            labels={
                "bucket": "From bucket",
                "observed": "Invoice-months observed",
                "paid": "Paid",
                "stayed": "Stayed",
                "rolled_on": "Rolled on",
                "loss": "Loss",
            },
        ),
    ]


def scenarios_section(run: Run) -> list:
    """The scenario grid: ECL, allowance, limits and grade migration under each stress."""
    if (missing := not_in_run(run, SCENARIOS_FILE)) is not None:
        return missing
    g = read_artifact(run, SCENARIOS_FILE)
    prob, cur = run.params.interval_prob, run.params.currency
    g["stress"] = [
        ", ".join(
            x
            for x in (
                f"PD x{r.pd_multiplier:g}" if r.pd_multiplier != 1 else "",
                str(r.industry_multipliers) if isinstance(r.industry_multipliers, str) else "",
                f"LGD {r.lgd_shock:+.0%}" if r.lgd_shock else "",
                f"loss rates x{r.provision_multiplier:g}" if r.provision_multiplier != 1 else "",
            )
            if x
        )
        or "none"
        for r in g.itertuples()
    ]
    chart = g.rename(columns={"ecl_mean": "mean", "ecl_lo": "lo", "ecl_hi": "hi"})
    return [
        Markdown(
            "Each scenario re-runs the decisions on stressed posterior draws (no re-fitting): "
            "PD multiplied (overall and by industry), LGD shifted, provision loss rates "
            "multiplied. Limits cut and customers downgraded are counted against the base."
        ),
        table(
            g[
                [
                    "scenario",
                    "stress",
                    "mean_pd",
                    "ecl_mean",
                    "ecl_lo",
                    "ecl_hi",
                    "allowance_mean",
                    "recommended_limits",
                    "limits_cut",
                    "downgraded",
                    "high_risk",
                ]
            ],
            money=["ecl_mean", "ecl_lo", "ecl_hi", "allowance_mean", "recommended_limits"],
            pct=["mean_pd"],
            ints=["limits_cut", "downgraded", "high_risk"],
            labels={
                "scenario": "Scenario",
                "stress": "Stress",
                "mean_pd": "Mean PD",
                "ecl_mean": f"ECL ({cur})",
                "ecl_lo": f"{prob:.0%} from",
                "ecl_hi": "to",
                "allowance_mean": "Allowance",
                "recommended_limits": "Recommended limits",
                "limits_cut": "Limits cut",
                "downgraded": "Downgraded",
                "high_risk": "High-risk customers",
            },
        ),
        to_image(
            interval_chart(
                chart,
                "scenario",
                "12-month ECL by scenario",
                f"ECL ({cur}; dots: mean, bars: {prob:.0%} interval)",
                percent=False,
            )
        ),
    ]
