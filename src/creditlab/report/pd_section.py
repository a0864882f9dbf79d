"""The PD sections of a report: the model and its priors, PD by industry and by customer with
credible intervals, movers since the previous run, out-of-time validation and diagnostics."""

from __future__ import annotations

import pandas as pd
from IPython.display import Markdown

from creditlab.features import describe_feature
from creditlab.ledger.schema import CUSTOMER_ID, IN_DEFAULT, INDUSTRY, NAME, PD_HI, PD_LO, PD_MEAN
from creditlab.report.figures import interval_chart, to_image
from creditlab.report.tables import gate_report, md_escape, table
from creditlab.run.folder import (
    PD_BY_INDUSTRY_FILE,
    PD_EFFECTS_FILE,
    PD_SUMMARY_FILE,
    SCORES_FILE,
    RunFolder,
)
from creditlab.run.prepare import Run

__all__ = [
    "default_definition",
    "diagnostics",
    "pd_drivers",
    "pd_overview",
    "pd_by_industry",
    "pd_customers",
    "pd_validation",
]


def default_definition(run: Run) -> str:
    """The run's definition of default in words, with its materiality threshold when one is set
    (``pd_model.default_materiality``) and its cure (``pd_model.cure_months``)."""
    m, cure = run.params.pd_model.default_materiality, run.params.pd_model.cure_months
    text = (
        f"{m.describe(run.params.currency)}, or a write-off, insolvency or collections-agency event"
    )
    if cure:
        text += (
            f"; a default of the first kind is over once {cure} months have passed without any "
            "invoice 90+ days past due (the customer is then scored again)"
        )
    return text


def _summary(run: Run) -> dict | None:
    return RunFolder(run.run_dir).read_json(PD_SUMMARY_FILE)


def _not_available(run: Run) -> list | None:
    summary = _summary(run)
    if summary is None:
        why = (
            "the PD model is not enabled in the params"
            if not run.params.pd_model.enabled
            else "the PD model was not fitted"
        )
        return [Markdown(f"No PD estimates in this run: {why}.")]
    if summary.get("skipped"):
        return [Markdown(f"No PD estimates in this run: {md_escape(summary['skipped'])}.")]
    return None


def pd_overview(run: Run) -> list:
    """What the model is, what it was trained on, its priors and its convergence status."""
    if (missing := _not_available(run)) is not None:
        return missing
    s = _summary(run)
    mc, sc, gate = s["model_config"], s["sampler_config"], s["gate"]
    prob = run.params.interval_prob
    text = (
        f"Each customer's **probability of default within 12 months** (PD) comes from a "
        f"hierarchical Bayesian logistic regression with intercepts partially pooled by "
        f"{mc['group']} ({'centred' if s['centred'] else 'non-centred'})"
        + "".join(f" and offsets by {f}" for f in mc.get("factors") or ())
        + (" and a time-varying intercept by snapshot" if mc.get("time_varying") else "")
        + f". Default = {default_definition(run)}. {training_text(s)} "
        f"Every interval is a {prob:.0%} credible interval from the posterior. Priors: group mean "
        f"~ Normal({mc['prior_intercept_mu']}, {mc['prior_intercept_sigma']}), group spread ~ "
        f"HalfNormal({mc['prior_group_sigma']}), coefficients of standardised predictors ~ "
        f"Normal(0, {mc['prior_beta_sigma']}); missing values are imputed with the training median "
        f"and flagged by an indicator. Sampler: {sc['sampler']} NUTS ({sc['precision']}), "
        f"{sc['chains']} chains x "
        f"({sc['tune']} tune + {sc['draws']} draws), seed {sc['seed']}."
    )
    out = [Markdown(text), *_effects(run)]
    if not gate["passed"]:
        failed = [c for c in gate["checks"] if not c["passed"]]
        out.insert(
            0,
            Markdown(
                '<div class="cl-banner"><strong>Warning: the PD model failed its convergence gate</strong> ('
                + "; ".join(
                    f"{md_escape(c['check'])} = {c['value']:.3g}, needs {md_escape(c['rule'])}"
                    for c in failed
                )
                + "). Treat every PD in this report as unreliable.</div>"
            ),
        )
    return out


def training_text(s: dict) -> str:
    """What the PD model learnt from and how it was validated, from the PD summary."""
    months = s.get("validation_months", 12)
    hazard = s.get("period_months", 12) == 1
    text = (
        (
            "It models a monthly default hazard: after each snapshot every customer is followed "
            "month by month for up to 12 months, each month it survives and the month it defaults "
            "in count, months past the end of the data are censored, and the 12-month PD is "
            f"1 - (1 - h1) x ... x (1 - h12). It was trained on {s['train_rows']:,} "
            f"customer-snapshots ({s['train_defaults']:,} defaults; snapshots "
        )
        if hazard
        else f"It was trained on {s['train_rows']:,} customer-snapshots "
        f"({s['train_defaults']:,} defaults in the 12 months after; snapshots "
    ) + (
        f"{s['snapshots'][0]} to {s['snapshots'][-1]}) and validated out of time on the "
        f"{s['validation_rows']:,} customers of {s['validation_snapshot']} "
        f"({s['validation_defaults']:,} defaults in the {months} months after)."
    )
    if months < 12:
        text += (
            f" The ledger is too short to hold out a whole year, so the test is of the PD over "
            f"the last {months} months; the 12-month PD extends the monthly hazard beyond what this "
            "ledger has shown, and its intervals include that uncertainty."
        )
    defaults = s["train_defaults"]
    if refit := s.get("refit"):
        passed = "passed" if refit["validated_gate"]["passed"] else "failed"
        defaults = refit["train_defaults"]
        text += (
            f" Once validated (that fit {passed} its convergence gate), the model was fitted again "
            f"on all {refit['train_rows']:,} customer-snapshots ({defaults:,} defaults; snapshots "
            f"{refit['snapshots'][0]} to {refit['snapshots'][1]}), the held-out months included, "
            "so the scores also learn from the most recent defaults; the PDs, intervals and "
            "convergence diagnostics in this report are that fit's."
        )
    if defaults < 20:
        text += (
            f" With only {defaults} defaults to learn from, the PDs lean on the priors "
            "below and their intervals are wide."
        )
    return text


def pd_drivers(run: Run) -> list:
    """What the PD is and what moves it, in plain words, for readers of the weekly report (the
    model's description, priors and statistics are in the model validation report)."""
    if (missing := _not_available(run)) is not None:
        return missing
    prob = run.params.interval_prob
    effects = (
        RunFolder(run.run_dir)
        .read_csv(PD_EFFECTS_FILE)
        .astype({"bin": "string"})
        .fillna({"bin": ""})
    )
    linear = effects.loc[effects["bin"] == ""]
    flag = linear["predictor"].str.endswith("_missing")

    def named(sel) -> str:
        return "; ".join(md_escape(describe_feature(p)) for p in linear.loc[sel, "predictor"])

    lines = []
    for reading, lead in (("higher PD", "**Higher PD**"), ("lower PD", "**Lower PD**")):
        if (sel := (linear["reading"] == reading) & ~flag).any():
            lines.append(f"- {lead} as these rise: {named(sel)}.")
        if (sel := (linear["reading"] == reading) & flag).any():
            lines.append(f"- {lead} when there is {named(sel)}.")
    if (sel := linear["reading"] == "unclear").any():
        lines.append(f"- No clear effect (the {prob:.0%} interval spans zero): {named(sel)}.")
    shaped = pd.Series(effects.loc[effects["bin"] != "", "predictor"].unique(), dtype="string")
    pairs = shaped.str.contains(" x ", regex=False)
    if (~pairs).any():
        shapes = "; ".join(md_escape(describe_feature(p)) for p in shaped[~pairs])
        lines.append(f"- An effect of its own shape, not a straight line: {shapes}.")
    if pairs.any():
        joint = "; ".join(md_escape(describe_feature(p)) for p in shaped[pairs])
        lines.append(f"- A joint effect, more than the sum of the two: {joint}.")
    return [
        Markdown(
            "Each customer's **probability of default within 12 months** (PD) comes from a "
            f"Bayesian model of the ledger's history (default = {default_definition(run)}), "
            f"with a {prob:.0%} credible interval. How it was built, its priors and how well it "
            "did out of time are in the model validation report. What moves a customer's PD, "
            "other things equal:\n\n" + "\n".join(lines)
        )
    ]


def _effects(run: Run) -> list:
    """Coefficients of the standardised predictors and binned effects, with intervals."""
    prob = run.params.interval_prob
    effects = (
        RunFolder(run.run_dir)
        .read_csv(PD_EFFECTS_FILE)
        .astype({"bin": "string"})
        .fillna({"bin": ""})
    )
    effects.insert(0, "measures", effects["predictor"].map(describe_feature))
    linear = effects.loc[effects["bin"] == ""].drop(columns="bin")
    out = [
        Markdown(
            f"What drives the PD: change in log-odds of default per standard deviation of "
            f"each predictor ({prob:.0%} interval); *higher PD* means the whole interval is "
            "above zero."
        ),
        table(
            linear,
            decimals=["mean", "lo", "hi"],
            labels={
                "measures": "Predictor",
                "predictor": "Column",
                "mean": "Effect",
                "lo": "from",
                "hi": "to",
                "reading": "Reading",
            },
        ),
    ]
    binned = effects.loc[effects["bin"] != ""]
    for name, bins in binned.groupby("predictor", sort=False):
        out += [
            Markdown(
                f"Binned effect of **{md_escape(describe_feature(name))}** "
                f"(column {md_escape(name)}; log-odds, centred on zero):"
            ),
            table(
                bins[["bin", "mean", "lo", "hi"]],
                decimals=["mean", "lo", "hi"],
                labels={"bin": "Bin", "mean": "Effect", "lo": "from", "hi": "to"},
            ),
        ]
    return out


def pd_by_industry(run: Run) -> list:
    """Average PD per industry with its credible interval (from the posterior draws)."""
    if (missing := _not_available(run)) is not None:
        return missing
    frame = RunFolder(run.run_dir).read_csv(PD_BY_INDUSTRY_FILE)
    prob = run.params.interval_prob
    labels = {
        INDUSTRY: "Industry",
        "customers": "Customers",
        "mean": "Average PD",
        "lo": f"{prob:.0%} interval from",
        "hi": "to",
    }
    return [
        table(frame, pct=["mean", "lo", "hi"], ints=["customers"], labels=labels),
        to_image(
            interval_chart(
                frame,
                INDUSTRY,
                "Average 12-month PD by industry",
                f"PD (dots: posterior mean; bars: {prob:.0%} interval)",
            )
        ),
    ]


def pd_customers(run: Run) -> list:
    """The riskiest customers and the biggest PD movers since the previous run."""
    if (missing := _not_available(run)) is not None:
        return missing
    scores = pd.read_parquet(run.run_dir / SCORES_FILE)
    prob, n = run.params.interval_prob, run.params.top_n
    alive = scores.loc[~scores[IN_DEFAULT]]
    cols = [CUSTOMER_ID, NAME, INDUSTRY, PD_MEAN, PD_LO, PD_HI]
    labels = {
        CUSTOMER_ID: "Customer",
        NAME: "Name",
        INDUSTRY: "Industry",
        PD_MEAN: "PD",
        PD_LO: f"{prob:.0%} interval from",
        PD_HI: "to",
        "pd_previous": "Previous PD",
        "pd_change": "Change",
    }
    out = [
        Markdown(
            f"**Highest PD** ({len(alive):,} customers scored; "
            f"{int(scores['in_default'].sum()):,} already in default are not scored):"
        ),
        table(alive.nlargest(n, PD_MEAN)[cols], pct=[PD_MEAN, PD_LO, PD_HI], labels=labels),
    ]
    if "pd_change" in scores:
        movers = alive.dropna(subset=["pd_change"])
        movers = movers.reindex(movers["pd_change"].abs().sort_values(ascending=False).index)
        summary = _summary(run)
        value, reading = summary["psi"]
        out += [
            Markdown(
                f"**Biggest movers** since run {md_escape(summary['previous_run'])}. "
                f"Score stability (PSI) against that run: {value:.3f} ({reading})."
            ),
            table(
                movers.head(n)[[*cols, "pd_previous", "pd_change"]],
                pct=[PD_MEAN, PD_LO, PD_HI, "pd_previous", "pd_change"],
                labels=labels,
            ),
        ]
    else:
        out.append(
            Markdown(
                "No previous run in the store to compare with: movers and PSI appear "
                "from the next run on."
            )
        )
    return out


def pd_validation(run: Run) -> list:
    """Out-of-time discrimination and calibration, against scikit-learn baselines."""
    if (missing := _not_available(run)) is not None:
        return missing
    s, prob = _summary(run), run.params.interval_prob
    metrics = pd.DataFrame(s["metrics"])
    comparison = pd.DataFrame(s["comparison"])
    calib = pd.DataFrame(s["calibration"])
    calib["consistent"] = calib["consistent"].map({True: "yes", False: "no"})
    return [
        Markdown(
            f"Out-of-time metrics with {prob:.0%} bootstrap intervals (AUC: ranking; Gini = "
            "2 AUC - 1; KS: largest gap between defaulters' and others' PD distributions; "
            "Brier: mean squared error of the PD, lower is better):"
        ),
        table(
            metrics,
            decimals=["value", "lo", "hi"],
            labels={"metric": "Metric", "value": "Value", "lo": "from", "hi": "to"},
        ),
        Markdown("The same split and features with scikit-learn baselines:"),
        table(
            comparison,
            decimals=["auc", "gini", "ks", "brier"],
            labels={"model": "Model", "auc": "AUC", "gini": "Gini", "ks": "KS", "brier": "Brier"},
        ),
        Markdown(
            "Calibration by PD band (Jeffreys test: the band's mean PD should lie inside the "
            f"{prob:.0%} interval of its observed default rate):"
        ),
        table(
            calib,
            pct=["mean_pd", "observed_rate", "rate_lo", "rate_hi"],
            ints=["n", "defaults"],
            decimals=["p_value"],
            labels={
                "band": "PD band",
                "n": "Customers",
                "defaults": "Defaults",
                "mean_pd": "Mean PD",
                "observed_rate": "Observed rate",
                "rate_lo": "from",
                "rate_hi": "to",
                "p_value": "p-value",
                "consistent": "Consistent",
            },
        ),
    ]


def diagnostics(run: Run) -> list:
    """The convergence gate's table for the appendix."""
    s = _summary(run)
    if s is None or s.get("skipped"):
        return []
    return gate_report("PD model", s)
