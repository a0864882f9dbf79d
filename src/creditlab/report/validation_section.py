"""The model validation report: the training data and features, sampling diagnostics with trace
plots, posterior predictive checks, calibration by grade and score stability. The model and its
priors, effects and out-of-time metrics come from :mod:`creditlab.report.pd_section`."""

from __future__ import annotations

import arviz as az
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown

from creditlab.features import SNAPSHOT, describe_feature
from creditlab.ledger.schema import INDUSTRY
from creditlab.models.pd import PDModel
from creditlab.report.figures import interval_chart, to_image
from creditlab.report.tables import fmt_pct, md_escape, table
from creditlab.run.folder import (
    GRADE_CALIBRATION_FILE,
    PD_FEATURES_FILE,
    PD_MODEL_FILE,
    PD_PREDICTIVE_FILE,
    PD_PRIOR_SENSITIVITY_FILE,
    PD_SNAPSHOTS_FILE,
    PD_SUMMARY_FILE,
    RunFolder,
)
from creditlab.run.prepare import Run

__all__ = [
    "calibration_by_grade",
    "convergence",
    "data_and_features",
    "predictive_checks",
    "prior_influence",
    "stability",
]


def _fitted(run: Run) -> bool:
    summary = RunFolder(run.run_dir).read_json(PD_SUMMARY_FILE)
    return summary is not None and not summary.get("skipped")


def data_and_features(run: Run) -> list:
    """Rows and defaults per training snapshot, and each feature's coverage and mean."""
    if not _fitted(run):
        return [Markdown("No PD model in this run: nothing to validate.")]
    folder = RunFolder(run.run_dir)
    per, feats = folder.read_csv(PD_SNAPSHOTS_FILE), folder.read_csv(PD_FEATURES_FILE)
    summary = folder.read_json(PD_SUMMARY_FILE)
    hazard = summary.get("period_months", 12) == 1
    return [
        Markdown(
            "Training rows are customer-snapshots every few months, "
            + ("each followed month by month for up to 12 months (censored at the end of the data)"
               if hazard else "each labelled with default in the next 12 months")
            + f"; {summary['validation_rows']:,} customers at {summary['validation_snapshot']} are "
            "held out for the out-of-time test."
        ),
        table(per, ints=["rows", "defaults"], pct=["rate"],
              labels={SNAPSHOT: "Snapshot", "rows": "Customers",
                      "defaults": "Defaults while followed" if hazard else "Defaults in 12 months",
                      "rate": "Default rate"}),
        Markdown("Features (missing values are imputed with the training median and flagged):"),
        table(feats.assign(measures=feats["feature"].map(describe_feature))[
                  ["measures", "feature", "missing", "mean_train", "mean_defaulters"]],
              pct=["missing"], decimals=["mean_train", "mean_defaulters"],
              labels={"measures": "Feature", "feature": "Column", "missing": "Missing", "mean_train": "Mean, all", "mean_defaulters": "Mean, defaulters"}),
        *_signals_screened(summary.get("signals")),
    ]  # fmt: skip


def _signals_screened(signals: dict | None) -> list:
    """Which relationship signals joined the predictors, and on what evidence."""
    if signals is None:
        return []
    kept = signals["kept"]
    words = ", ".join(describe_feature(c) for c in signals["candidates"])
    verdict = (
        "kept: "
        + "; ".join(
            f"{describe_feature(k['column'])} (chi-squared {k['statistic']:.0f} on {k['df']} df, "
            f"p {k['p_value']:.1g})"
            for k in kept
        )
        if kept
        else "none adds to the ledger's own features on this ledger, so the model has none of them"
    )
    return [
        Markdown(
            f"The relationship events offer {len(signals['candidates'])} more features ({words}). "
            "Each is screened against the ledger's features (Rao's score test of a ridge logistic "
            f"fit, 1 % after a Bonferroni correction) and joins the model only if it adds: {verdict}."
        )
    ]


def convergence(run: Run) -> list:
    """Trace plots of the population-level parameters (the gate's table is in the appendix)."""
    if not _fitted(run):
        return []
    model = PDModel.load(run.run_dir / PD_MODEL_FILE)
    names = [v for v in ("mu", "sigma_group", "beta") if v in model.idata.posterior]
    axes = az.plot_trace(model.idata, var_names=names, compact=True, figsize=(9, 2.2 * len(names)))
    fig = np.asarray(axes).ravel()[0].figure
    fig.set_layout_engine("constrained")
    image = to_image(fig)
    plt.close(fig)  # ArviZ draws with pyplot: close it, or the kernel shows the figure twice
    return [
        Markdown(
            "Each chain's draws (right) should look like the same stationary noise, and each "
            "chain's density (left) should agree: no trends, no stuck chains. The numeric gate "
            "(R-hat, ESS, divergences, E-BFMI) is in the appendix."
        ),
        image,
    ]


def predictive_checks(run: Run) -> list:
    """Observed defaults in training against the model's posterior predictive distribution."""
    if not _fitted(run):
        return []
    frame = RunFolder(run.run_dir).read_csv(PD_PREDICTIVE_FILE)
    prob = run.params.interval_prob
    share = (frame["inside"] == "yes").mean()
    ind = frame.loc[frame["by"] == INDUSTRY]
    return [
        Markdown(
            f"For each posterior draw the model simulates who defaults among the training rows; the "
            f"observed number of defaults per snapshot and per industry should fall inside the "
            f"{prob:.0%} interval of the simulated numbers about {prob:.0%} of the time. Here: "
            f"{fmt_pct(share)} of {len(frame)} groups."
        ),
        table(frame, ints=["observed"], decimals=["mean", "lo", "hi"],
              labels={"by": "Grouped by", "group": "Group", "observed": "Observed defaults",
                      "mean": "Predicted (mean)", "lo": "from", "hi": "to", "inside": "Inside"}),
        to_image(interval_chart(ind, "group", "Defaults by industry: predicted and observed",
                                "defaults in the training rows", percent=False, observed="observed")),
    ]  # fmt: skip


def _beyond_training(beyond: dict | None) -> str:
    """How many scored customers lie past the training rows' range, and on what, in words."""
    if not beyond or not beyond["customers"]:
        return ""
    named = sorted(beyond["predictors"].items(), key=lambda kv: -kv[1])
    on = "; ".join(f"{describe_feature(c)}: {n:,}" for c, n in named)
    older = (
        " (scoring comes after every training snapshot, so the oldest customers are older than "
        "any training row was)"
        if "tenure_years" in beyond["predictors"]
        else ""
    )
    return (
        f" {beyond['customers']:,} scored customer(s) lie past the training rows' range on a "
        f"straight-line predictor ({on}): a straight line is not extrapolated, so each is scored "
        f"at the range's edge{older}."
    )


def prior_influence(run: Run) -> list:
    """How much the PDs owe to the priors: the stated priors with their source, each customer's
    prior share in summary, and the PDs under a wider and a narrower prior (power-scaling)."""
    if not _fitted(run):
        return []
    folder = RunFolder(run.run_dir)
    summary = folder.read_json(PD_SUMMARY_FILE)
    share = summary.get("prior_share") or {}
    stated = summary.get("priors")
    text = (
        md_escape(stated) if stated else "No priors were stated beyond the model's defaults."
    ) + " "
    if share.get("median") is not None:
        text += (
            f"A customer's **prior share** (the `evidence` column of the scores) is the variance "
            f"of its PD's log-odds under the posterior over that under the prior: near 0 the "
            f"ledger decided the PD, near 1 the priors did. Median: {fmt_pct(share['median'])}; "
            f"{share['over_half']:,} customer(s) over half, whose PDs lean on the priors. "
            f"{summary.get('thin_file', 0):,} customer(s) have a thin file (fewer than 3 "
            "invoices in 12 months or under six months as a customer)."
        )
    text += _beyond_training(summary.get("beyond_training"))
    out = [Markdown(text)]
    sens = folder.read_csv(PD_PRIOR_SENSITIVITY_FILE)
    if sens is not None:
        moved = sens.loc[sens["prior"] != "as fitted", "mean_abs_change"].max()
        relative = moved / sens["mean_pd"].iloc[0]
        out += [
            Markdown(
                "The PDs again under a wider and a narrower version of every prior, from the same "
                "posterior draws reweighted (power-scaling the prior; no refit). A reliable "
                "reweighting has Pareto k <= 0.7. Largest average move of a customer's PD: "
                f"{moved * 1e4:.1f} basis points, {relative:.1%} of the mean PD"
                + (": the priors barely matter here." if relative < 0.05 else
                   ": the data do not outweigh the priors, so they should be stated with their "
                   "source.")
            ),
            table(sens.assign(reliable=sens["reliable"].map({True: "yes", False: "no"})),
                  pct=["mean_pd", "mean_abs_change", "max_abs_change"], decimals=["pareto_k"],
                  labels={"prior": "Prior", "mean_pd": "Mean PD", "mean_abs_change": "Mean move",
                          "max_abs_change": "Largest move", "pareto_k": "Pareto k",
                          "reliable": "Reliable"}),
        ]  # fmt: skip
    return out


def calibration_by_grade(run: Run) -> list:
    """Each grade's out-of-time default rate against its mean PD (Jeffreys test)."""
    cal = RunFolder(run.run_dir).read_csv(GRADE_CALIBRATION_FILE)
    if cal is None:
        months = (RunFolder(run.run_dir).read_json(PD_SUMMARY_FILE) or {}).get("validation_months")
        if months is not None and months != 12:
            return [
                Markdown(
                    f"No grade calibration in this run: the out-of-time window holds {months} "
                    "months of outcomes, and grades are tested against 12-month default rates."
                )
            ]
        return [Markdown("No grades in this run (the decisions stage needs the PD model).")]
    cal["grade"] = cal["grade"].astype("string")
    cal["consistent"] = cal["consistent"].map({True: "yes", False: "no"})
    prob = run.params.interval_prob
    return [
        Markdown(
            f"A grade passes when its mean PD lies inside the {prob:.0%} Jeffreys interval of its "
            "observed default rate (Beta(d + 1/2, n - d + 1/2)). Few customers per grade make wide "
            "intervals: a pass is weak evidence, a fail is worth a look. *Most prudent* is the "
            f"Pluto-Tasche upper bound at {prob:.0%}: the highest PD the grade's defaults and those "
            "of every worse grade allow (a grade is taken to be no riskier than the grades below "
            "it), meaningful even with no defaults at all; a mean PD above it is not supported by "
            "the data."
        ),
        table(cal.drop(columns=["band"]), pct=["mean_pd", "observed_rate", "rate_lo", "rate_hi", "pt_upper"],
              ints=["n", "defaults"],
              decimals=["p_value"],
              labels={"grade": "Grade", "n": "Customers", "defaults": "Defaults", "mean_pd": "Mean PD",
                      "observed_rate": "Observed", "rate_lo": "from", "rate_hi": "to", "p_value": "p-value",
                      "consistent": "Consistent", "pt_upper": "Most prudent PD"}),
    ]  # fmt: skip


def stability(run: Run) -> list:
    """Population stability of today's scores against the validation window's (and the previous
    run's, when there is one)."""
    if not _fitted(run):
        return []
    summary = RunFolder(run.run_dir).read_json(PD_SUMMARY_FILE)
    frame = pd.DataFrame(summary["stability"], columns=["against", "psi", "reading"])
    return [
        Markdown(
            "PSI = sum (a - e) ln(a / e) over deciles of the reference scores; < 0.10 stable, 0.10-0.25 shift, > 0.25 rebuild."
        ),
        table(
            frame,
            decimals=["psi"],
            labels={"against": "Today's scores against", "psi": "PSI", "reading": "Reading"},
        ),
    ]
