"""The payment-timing sections of a report: cash forecast, invoices heading into arrears, and the
model behind them.

Each function reads the files the payment stage wrote into the run folder (nothing is refitted)
and returns display objects; a run without the model says why.
"""

from __future__ import annotations

import pandas as pd
from IPython.display import Markdown

from creditlab.ledger.schema import CUSTOMER_ID, INVOICE_ID, NAME
from creditlab.models.payment_data import COUNTRY_CALENDAR
from creditlab.models.payment_forecast import (
    MIN_WEEK_INVOICES,
    MIN_WEEKS,
    SHAPE_PRIOR,
    SHAPE_WEEKDAY_PRIOR,
    TURN_AFTER,
    TURN_DAYS,
    TURN_PRIOR,
)
from creditlab.models.payment_promises import PROMISE_PRIOR
from creditlab.report.figures import cash_chart, to_image
from creditlab.report.tables import fmt_money, gate_report, md_escape, table
from creditlab.run.folder import CASH_FILE, FORECAST_FILE, PAYMENT_SUMMARY_FILE, RunFolder
from creditlab.run.prepare import Run

__all__ = [
    "arrears_section",
    "cash_section",
    "payment_diagnostics",
    "payment_model_section",
]

# said where every invoice of the ledger is paid: the stall's recovery rates are survivorship
_CLEARED_ONLY = (
    "Every invoice in this ledger is paid (an export of cleared items): invoices never paid are "
    "not in it,"
)
_COVARIATE_TEXT = {
    "disputed": "invoice disputed",
    "amount_low": "amount under the customer's usual (low)",
    "amount_high": "amount over the customer's usual (high)",
    "paperless": "paperless billing",
}


def _summary(run: Run) -> dict | None:
    return RunFolder(run.run_dir).read_json(PAYMENT_SUMMARY_FILE)


def _missing(run: Run) -> list | None:
    s = _summary(run)
    if s is not None and not s.get("skipped") and s.get("enabled"):
        return None
    if not run.params.payment_model.enabled:
        why = "the payment-timing model is not enabled in the params (`payment_model:`)"
    elif s is None:
        why = "the payment stage did not run"
    else:
        why = md_escape(s.get("skipped") or "the payment-timing model is disabled")
    return [Markdown(f"Not in this run: {why}.")]


def cash_section(run: Run) -> list:
    """Expected collections per week with intervals, for the portfolio and by segment."""
    if (missing := _missing(run)) is not None:
        return missing
    s, cur, prob = _summary(run), run.params.currency, run.params.interval_prob
    cash = RunFolder(run.run_dir).read_csv(CASH_FILE)
    whole = cash.loc[cash["segment"] == "portfolio"]
    c = s["collections"]
    out = [
        Markdown(
            f"Of **{fmt_money(s['open_amount'])} {cur}** open today, the payment-timing model "
            f"expects **{fmt_money(c['expected'])} {cur}** to be collected in the next "
            f"{s['weeks']} weeks ({prob:.0%} interval {fmt_money(c['lo'])} to "
            f"{fmt_money(c['hi'])}); {fmt_money(s['expected_past_90'])} {cur} is expected to "
            "reach 90+ days past due first. Intervals combine the model's uncertainty and each "
            "invoice's own timing (payment dates simulated per posterior draw, a customer's "
            "invoices sharing its effect)."
            + _due_week_in_cash(s)
            + " Only invoices open today count: sales after the as-of "
            "date are not in the forecast. The weekly figures are `cash_forecast.csv`."
            + _holidays_in_cash(s)
            + _stall_in_cash(s, cur)
            + _promises_in_cash(s, cur, prob)
        ),
        table(
            whole[["week", "week_start", "week_end", "expected", "lo", "hi"]],
            money=["expected", "lo", "hi"],
            ints=["week"],
            labels={
                "week": "Week",
                "week_start": "From",
                "week_end": "To",
                "expected": f"Expected ({cur})",
                "lo": f"{prob:.0%} interval from",
                "hi": "to",
            },
        ),
    ]
    parts = cash.loc[cash["segment"] != "portfolio"]
    if len(parts):
        by = (
            parts.pivot_table(index="segment", columns="week", values="expected", aggfunc="sum")
            .rename(columns=lambda w: f"week {w}")
            .reset_index()
        )
        weeks = [c for c in by.columns if c != "segment"]
        by["total"] = by[weeks].sum(axis=1)
        shown = ["segment", *weeks[:4], "total"]
        out += [
            Markdown(
                f"Expected collections by {md_escape(s['segment_by'])} segment (first four "
                f"weeks and the {s['weeks']}-week total; intervals per week and segment are "
                "in the CSV)."
            ),
            table(by[shown], money=shown[1:], labels={"segment": "Segment", "total": "Total"}),
        ]
    out.append(to_image(cash_chart(whole, cur)))
    return out


def arrears_section(run: Run) -> list:
    """Open invoices most likely to slide into arrears, with their payment-date forecasts."""
    if (missing := _missing(run)) is not None:
        return missing
    f = RunFolder(run.run_dir).read_csv(FORECAST_FILE)
    prob, cur = run.params.interval_prob, run.params.currency
    names = run.ledger.customers.set_index(run.ledger.customers[CUSTOMER_ID].astype(str))[NAME]
    f[NAME] = f[CUSTOMER_ID].map(names)
    early = f.loc[f["days_past_due"] < 30].copy()
    early["at_risk"] = early["open_amount"] * early["p_dpd30"]
    top = early.sort_values("at_risk", ascending=False).head(max(run.params.top_n, 10))
    likely = early.loc[early["p_dpd30"] >= 0.5]
    return [
        Markdown(
            f"{len(early):,} open invoices are under 30 days past due; "
            f"{len(likely):,} of them ({fmt_money(likely['open_amount'].sum())} {cur}) are more "
            "likely than not to reach 30+ days past due. Probabilities are conditional on what "
            "is known today: an invoice already 20 days overdue is judged as one that has not been "
            "paid in those 20 days. *Expected* is the mean payment date given payment within a "
            f"year, with the {prob:.0%} predictive interval (– where its end lies beyond a year). "
            "Largest expected amounts first; every open invoice is in `payment_forecast.csv`."
        ),
        table(
            top[
                [
                    INVOICE_ID,
                    CUSTOMER_ID,
                    NAME,
                    "open_amount",
                    "due_on",
                    "days_past_due",
                    "p_paid_by_due",
                    "p_dpd30",
                    "p_dpd60",
                    "p_dpd90",
                    "expected_paid_on",
                    "paid_on_lo",
                    "paid_on_hi",
                ]
            ],
            money=["open_amount"],
            ints=["days_past_due"],
            pct=["p_paid_by_due", "p_dpd30", "p_dpd60", "p_dpd90"],
            labels={
                INVOICE_ID: "Invoice",
                CUSTOMER_ID: "Customer",
                NAME: "Name",
                "open_amount": "Open",
                "due_on": "Due",
                "days_past_due": "Days past due",
                "p_paid_by_due": "P(paid by due)",
                "p_dpd30": "P(30+ DPD)",
                "p_dpd60": "P(60+ DPD)",
                "p_dpd90": "P(90+ DPD)",
                "expected_paid_on": "Expected paid on",
                "paid_on_lo": "from",
                "paid_on_hi": "to",
            },
        ),
    ]


def payment_model_section(run: Run) -> list:
    """What the payment-timing model learnt, in days, and its convergence diagnostics."""
    if (missing := _missing(run)) is not None:
        return missing
    s, prob = _summary(run), run.params.interval_prob
    n, spread = s["counts"], s["sigma_customer_days"]
    edges = s["model_config"]["edges"]
    effects = pd.DataFrame(s["effects"])
    out = [
        Markdown(
            "An ordinal (cumulative logit) model of the days from due date to payment in "
            f"{len(edges) + 1} buckets (upper ends {md_escape(edges)} days past due), with an "
            "effect per customer partially pooled by "
            f"{md_escape(s['model_config']['group'] or 'one population')} and invoice "
            f"covariates; fitted on {n['invoices']:,} invoices ({n['paid']:,} paid; open ones "
            f"count as unpaid so far) of {n['customers']:,} customers, aggregated exactly into "
            f"{n['cells']:,} cells. Customers differ a lot: one standard deviation of customer "
            f"effect moves the median payment day by {spread['mean']:.1f} days ({prob:.0%} "
            f"interval {spread['lo']:.1f} to {spread['hi']:.1f})." + _sample_text(n)
        )
    ]
    if (k := s.get("calendar_pooling")) is not None:
        out.append(Markdown(_calendar_text(k, s["model_config"]["calendar_prior_payments"])))
    if s.get("own_shapes"):
        out.append(Markdown(_shapes_text(s["own_shapes"], s["model_config"])))
    if (turn := s.get("month_turn")) and turn["payments"]:
        out.append(Markdown(_turn_text(turn)))
    if len(effects):
        effects["covariate"] = (
            effects["covariate"].map(_COVARIATE_TEXT).fillna(effects["covariate"])
        )
        out += [
            Markdown(
                "What each invoice feature does to a typical customer's median payment day "
                "(days past due; negative = before the due date):"
            ),
            table(
                effects[
                    [
                        "covariate",
                        "median_days_without",
                        "median_days_with",
                        "shift_days",
                        "shift_lo",
                        "shift_hi",
                    ]
                ],
                days=[
                    "median_days_without",
                    "median_days_with",
                    "shift_days",
                    "shift_lo",
                    "shift_hi",
                ],
                labels={
                    "covariate": "Feature",
                    "median_days_without": "Median without",
                    "median_days_with": "Median with",
                    "shift_days": "Shift (days)",
                    "shift_lo": f"{prob:.0%} interval from",
                    "shift_hi": "to",
                },
            ),
        ]
    if s.get("stall"):
        out.append(Markdown(_stall_text(s["stall"], prob)))
    return out + payment_diagnostics(run)


def _sample_text(n: dict) -> str:
    """How a sample fit was made (empty when every customer was in the NUTS fit)."""
    if n["fitted_customers"] >= n["customers"]:
        return ""
    return (
        f" For speed, NUTS fitted the population on a sample of {n['fitted_customers']:,} "
        "customers (every industry in proportion, the largest customers first; "
        "`sample_customers`); each other customer's effect was then drawn from its own invoices "
        "given each posterior draw (Laplace approximation of a one-dimensional, log-concave "
        "posterior), so its interval carries the population's uncertainty too."
    )


def _shapes_text(customers: int, config: dict) -> str:
    """How customers with many invoices get their own payment-day distribution."""
    return (
        f"**Customers' own shapes.** The {customers:,} customers with "
        f"{config['own_shape_min_invoices']:,} invoices or more each get their own distribution "
        "of payment days, not only a shift and spread of the shared one: the quantiles their "
        "training invoices' payment days take under the model, per due weekday (pooled with "
        f"{SHAPE_WEEKDAY_PRIOR:.0f} invoices' worth of the customer's over all weekdays, and "
        f"that with {SHAPE_PRIOR:.0f} of the model's), reshape its forecasts. A customer that "
        "pays three days early nearly every time is forecast so, where the shared shape would "
        f"spread it over a week. A customer with n invoices weighs n / (n + {SHAPE_PRIOR:.0f}) "
        "against the model, so one with few mostly keeps the shared shape."
    )


def _calendar_text(k: float, setting: float | str) -> str:
    """How much each customer's payment calendar leans on its industry's."""
    how = (
        "learnt from how much the customers' weekdays of payment differ: the weight under which "
        "they are most likely"
        if setting == "auto"
        else "as the params set it"
    )
    return (
        f"**Payment calendars.** Each customer's shares of payments by weekday borrow {k:,.3g} "
        f"payments' worth of its industry's, {how}. The fewer, the more a customer's own "
        "payment runs show in its forecast days."
    )


def _turn_text(turn: dict) -> str:
    """What the model learnt of late payments at the month turn."""
    n, k = turn["payments"], turn["at_turn"]
    return (
        f"**Late payments at the month turn.** Of the {n:,} training payments more than "
        f"{TURN_AFTER} days past due, {k:,} ({k / n:.0%}) fell on a month's last "
        f"{TURN_DAYS[0]} or first {TURN_DAYS[1]} days, where the model's late tail and the "
        f"customers' payment calendars put {turn['by_calendar']:.0%} of them (collections' "
        f"month-end runs, statements). In the forecast such a day weighs {turn['lift']:.1f} "
        "times what they give it for an invoice that late (the lift that matches the observed "
        f"share, shrunk towards 1 by {TURN_PRIOR:.0f} payments at chance), across lateness "
        "buckets: a customer clearing its backlog at the month's end is forecast to pay then, "
        "not spread over the weeks between."
    )


def _holidays_in_cash(s: dict) -> str:
    """The cash section's sentence on bank holidays, when the model has calendars."""
    names = s["model_config"].get("holidays") or []
    if not names:
        return ""
    words = ["each customer's country" if n == COUNTRY_CALENDAR else md_escape(n) for n in names]
    return (
        f" No payment is forecast on a bank holiday (calendars: {', '.join(words)}): its share "
        "goes to the next day banks are open."
    )


def _due_week_in_cash(s: dict) -> str:
    """The cash section's clause on the timing invoices due in the same week share."""
    dw = s.get("due_week")
    if dw is None:  # a run folder written before the factor existed
        return ""
    if dw["weeks"] < MIN_WEEKS:
        return (
            f" The training ledger has {dw['weeks']} due weeks of {MIN_WEEK_INVOICES}+ invoices, "
            f"too few (under {MIN_WEEKS}) to learn how much invoices due in the same week pay "
            "together: they are simulated independently, so weekly intervals may be too narrow."
        )
    if round(dw["rho"], 2) == 0:  # 0.004 would print as 0.00 "which widens the intervals"
        return (
            f" Invoices due in the same week showed no shared timing beyond the model "
            f"({dw['weeks']} due weeks of the training ledger), so they are simulated "
            "independently."
        )
    return (
        " Invoices due in the same week also share part of their timing (a busy quarter end, a "
        f"holiday week): a correlation of {dw['rho']:.2f} between their payment quantiles, "
        f"learnt from {dw['weeks']} due weeks of the training ledger, which widens the weekly "
        "intervals."
    )


def _promises_in_cash(s: dict, cur: str, prob: float) -> str:
    """The cash section's sentence on open invoices with a pending promise to pay (empty when
    none is pending)."""
    pr = s.get("promises")
    if not pr or not pr["pending"]:
        return ""
    return (
        f" {pr['pending']:,} open invoices ({fmt_money(pr['pending_amount'])} {cur}) carry a "
        f"pending promise to pay: each is forecast on or about its promised day with the chance "
        f"its customer keeps its promises (here {pr['mean_keep']:.0%} on average; of the "
        f"{pr['kept'] + pr['broken']:,} promises settled by the as-of date {pr['kept']:,} were "
        f"kept, paid no later than {pr['grace_days']} days after the promised day: a rate of "
        f"{pr['keep_rate']:.0%}, {prob:.0%} interval {pr['keep_rate_lo']:.0%} to "
        f"{pr['keep_rate_hi']:.0%}; a customer's own record counts beside "
        f"{PROMISE_PRIOR:.0f} promises at that rate), and otherwise as the model forecasts an "
        "invoice still unpaid once the promise has been broken (`p_keep_promise` in "
        "`payment_forecast.csv`)."
    )


def _stall_in_cash(s: dict, cur: str) -> str:
    """The cash section's sentence on stalled invoices (empty without the stall); a nil amount is
    said in words, not as "0"."""
    st = s.get("stall")
    if not st:
        return ""
    what = "90+ days past due, or of a customer with a default event"
    stalled = st["open_invoices_in_stall"] > 0
    entering = fmt_money(st["expected_amount_entering"])
    if stalled:
        text = (
            f" Of the open amount, {fmt_money(st['open_amount_in_stall'])} {cur} "
            f"({st['open_invoices_in_stall']:,} invoices) is already stalled ({what}) and is "
            "forecast as stalled invoices are paid (see the validation report's payment-timing "
            "model); "
        )
        text += f"a further {entering} {cur} is expected to stall."
    else:
        text = f" No open invoice is stalled ({what}) at the run date; "
        text += (
            "none is expected to stall."
            if entering == "0"
            else f"{entering} {cur} is expected to stall."
        )
    if stalled and st.get("cleared_only"):
        text += f" {_CLEARED_ONLY} so the cash expected from stalled invoices is likely too high."
    return text


def _stall_text(st: dict, prob: float) -> str:
    """How the stall works and what it learnt, for the payment-model section."""
    paid = {t: st[f"paid_by_{t}"] for t in (180, 365)}
    entering = (
        "at the daily default rate of its customer's 12-month PD (this run's PD model, customers "
        "not in default)"
        if st["default_from_pd"]
        else "only by reaching 90 days past due (no PD model in this run)"
    )
    return (
        "**Stalled invoices are modelled apart.** An invoice leaves the ordinary course of payment "
        "on the day it reaches 90 days past due unpaid, or its customer's first default event "
        "(write-off, insolvency, collections agency) falls while it is open. The ordinal model "
        "above counts such an invoice as unpaid up to that day only, so never-paid invoices do "
        "not stretch performing customers' payment days. How stalled invoices are paid is learnt "
        f"from the {st['invoices']:,} that entered the stall ({st['payments']:,} paid since, over "
        f"{st['days_at_risk']:,.0f} invoice-days): a daily rate of payment per stretch of days "
        "past due (to 30, 60, 90, 120, 180, 270 and 365 days), each with a prior of half paid "
        f"within {st['prior_half_days']:,.0f} days worth {st['prior_payments']:,.0f} payments. "
        "An invoice stalled at 90 days past due is paid by day 180 with probability "
        f"{paid[180]['mean']:.0%} ({prob:.0%} interval {paid[180]['lo']:.0%} to "
        f"{paid[180]['hi']:.0%}) and by day 365 with {paid[365]['mean']:.0%} "
        f"({paid[365]['lo']:.0%} to {paid[365]['hi']:.0%}). An open invoice not yet stalled can "
        f"still stall: {entering}. Each invoice's chance is `p_stall` in `payment_forecast.csv`."
        + (
            f" **Upper bounds here.** {_CLEARED_ONLY} so the chances of a stalled invoice being "
            "paid are upper bounds, learnt from the stalled invoices that were paid in the end."
            if st.get("cleared_only")
            else ""
        )
    )


def payment_diagnostics(run: Run) -> list:
    """The payment model's convergence gate table (also in the appendix)."""
    s = _summary(run)
    if s is None or s.get("skipped") or not s.get("enabled"):
        return []
    return gate_report("Payment-timing model", s)
