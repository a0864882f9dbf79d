"""The customer review: one customer seen from every side (profile, exposure against its limit,
invoices and payments, disputes, PD history with intervals, segment and policy, recommended limit,
open worklist items and alerts). Everything is read from the run folder or the run's ledger."""

from __future__ import annotations

import pandas as pd
from IPython.display import Markdown

from creditlab import kpi
from creditlab.errors import ConfigError
from creditlab.features import describe_feature
from creditlab.ledger.fx import AMOUNT_ORIGINAL, CURRENCY_ORIGINAL
from creditlab.ledger.schema import (
    AMOUNT,
    COUNTRY,
    CREDIT_LIMIT,
    CURRENCY,
    CUSTOMER_ID,
    DISPUTED,
    DUE_ON,
    EVENT_ON,
    EVIDENCE,
    IN_DEFAULT,
    INDUSTRY,
    INVOICE_ID,
    ISSUED_ON,
    NAME,
    ONBOARDED_ON,
    PAID_ON,
    PAYMENT_TERMS_DAYS,
    PD_HI,
    PD_LO,
    PD_MEAN,
    THIN_FILE,
)
from creditlab.models.payment import DAY_NAMES
from creditlab.report.figures import band_chart, payment_chart, to_image
from creditlab.report.tables import fmt_days, fmt_money, fmt_pct, md_escape, table
from creditlab.run.folder import (
    FEATURES_FILE,
    FORECAST_FILE,
    PAYMENT_CALENDAR_FILE,
    PD_MODEL_FILE,
    SCORES_FILE,
    RunFolder,
)
from creditlab.run.prepare import Run
from creditlab.run.queries import pd_history, pd_model
from creditlab.signals import PROMISE_GRACE_DAYS, timeline

__all__ = [
    "actions",
    "customer_record",
    "exposure",
    "pd_path",
    "payments",
    "profile",
    "row_of",
    "run_csv",
]


def row_of(frame: pd.DataFrame | None, customer_id: str) -> pd.Series | None:
    """The customer's row of ``frame`` (None when the frame or the row is missing)."""
    if frame is None:
        return None
    rows = frame.loc[frame[CUSTOMER_ID].astype(str) == str(customer_id)]
    return None if rows.empty else rows.iloc[0]


def run_csv(run: Run, name: str) -> pd.DataFrame | None:
    """A CSV file of the run folder with ids read as text (None when the run has none)."""
    path = run.run_dir / name
    return (
        pd.read_csv(path, dtype={CUSTOMER_ID: "string", INVOICE_ID: "string"})
        if path.is_file()
        else None
    )


def customer_record(run: Run, customer_id: str) -> pd.Series:
    """The customer's row of the ledger; ConfigError when the ledger has no such customer."""
    row = row_of(run.ledger.customers, customer_id)
    if row is None:
        raise ConfigError(f"customer {customer_id!r} is not in this run's ledger")
    return row


def profile(run: Run, customer_id: str) -> list:
    """Who the customer is, and the segment and policy that apply to it."""
    c = customer_record(run, customer_id)
    seg = row_of(run_csv(run, "segments.csv"), customer_id)
    rows = [
        ("Customer", str(c[CUSTOMER_ID])),
        ("Name", str(c[NAME])),
        ("Industry", str(c[INDUSTRY])),
        ("Country", str(c[COUNTRY])),
        ("Customer since", f"{pd.Timestamp(c[ONBOARDED_ON]):%d %B %Y}"),
        ("Payment terms", f"{int(c[PAYMENT_TERMS_DAYS])} days"),
        (
            "Credit limit",
            f"{fmt_money(c[CREDIT_LIMIT])} {run.params.currency}"
            if pd.notna(c[CREDIT_LIMIT])
            else "none on record",
        ),
    ]
    if seg is not None:
        rows += [
            ("Grade", f"{seg['grade']} ({seg['risk']} risk)"),
            ("Segment", str(seg["segment"])),
            ("Policy", f"{seg['policy']}: {seg['terms_days']}-day terms, limit policy "
                       f"{seg['limit_policy']}, review every {seg['review_months']} months, "
                       f"{seg['dunning']} dunning, approved by {seg['approval']}"),
        ]  # fmt: skip
    frame = pd.DataFrame(rows, columns=["Item", "Value"])
    intro = Markdown(
        f"Review of **{md_escape(c[NAME])}** as of **{run.as_of:%d %B %Y}**. Amounts in "
        f"{run.params.currency}; intervals are {run.params.interval_prob:.0%} credible intervals."
    )
    return [intro, table(frame)]


def exposure(run: Run, customer_id: str) -> list:
    """Open receivables against the limit, the open invoices, and the recommended limit."""
    c = customer_record(run, customer_id)
    led = run.ledger
    mine = {  # the customer's rows only: a pick in the workbench must not scan the whole ledger
        name: None if frame is None else frame.loc[frame[CUSTOMER_ID].astype(str) == str(customer_id)]
        for name, frame in (("customers", led.customers), ("invoices", led.invoices),
                            ("credit_notes", led.credit_notes))
    }  # fmt: skip
    exp = row_of(
        kpi.customer_exposure(
            mine["customers"], mine["invoices"], run.as_of, mine["credit_notes"],
            run.params.dso_period_days,
        ),
        customer_id,
    )  # fmt: skip
    items = kpi.open_items(mine["invoices"], run.as_of).sort_values(DUE_ON)
    util = exp[kpi.UTILISATION]
    out = [
        Markdown(
            f"Open AR **{fmt_money(exp[kpi.OPEN_AR])}** "
            + (
                f"of a limit of {fmt_money(c[CREDIT_LIMIT])} ({fmt_pct(util)} used)"
                if pd.notna(c[CREDIT_LIMIT])
                else "(no credit limit on record)"
            )
            + "; overdue "
            f"{fmt_money(exp[kpi.OVERDUE_AR])}; oldest open invoice {int(exp[kpi.MAX_DPD])} days "
            f"past due; {int(exp['open_disputes'])} open invoice(s) disputed."
            + (
                f" Unapplied credit notes of {fmt_money(exp['open_credits'])} are netted in the "
                f"open AR; dilution (credit notes / sales, last {run.params.dso_period_days} days) "
                f"{fmt_pct(exp['dilution'])}."
                if exp["open_credits"] > 0 or exp["credits_period"] > 0
                else ""
            )
        )
    ]
    if len(items):
        # an invoice in another currency also shows what it was invoiced as
        foreign = (
            [CURRENCY_ORIGINAL, AMOUNT_ORIGINAL]
            if CURRENCY_ORIGINAL in items and (items[CURRENCY_ORIGINAL] != items[CURRENCY]).any()
            else []
        )
        shown = items[
            [INVOICE_ID, ISSUED_ON, DUE_ON, *foreign, AMOUNT, kpi.OPEN_AR, kpi.DPD, kpi.BUCKET]
            + [DISPUTED]
        ].assign(**{ISSUED_ON: items[ISSUED_ON].dt.date, DUE_ON: items[DUE_ON].dt.date})
        forecast = RunFolder(run.run_dir).read_csv(FORECAST_FILE)
        timing = [
            "p_paid_by_due",
            "p_dpd30",
            "p_dpd90",
            "p_stall",
            "expected_paid_on",
            "paid_on_lo",
            "paid_on_hi",
        ]
        if forecast is not None:  # when each open invoice is expected to be paid
            promised = (  # a pending promise to pay on one of its invoices (older runs: none)
                "p_keep_promise" in forecast
                and forecast.loc[
                    forecast[INVOICE_ID].astype(str).isin(shown[INVOICE_ID].astype(str)),
                    "p_keep_promise",
                ]
                .notna()
                .any()
            )
            timing += ["promised_on", "p_keep_promise"] if promised else []
            shown = shown.merge(
                forecast[[INVOICE_ID, *timing]].astype({INVOICE_ID: str}),
                left_on=shown[INVOICE_ID].astype(str),
                right_on=INVOICE_ID,
                how="left",
                suffixes=("", "_f"),
            ).drop(columns=["key_0", f"{INVOICE_ID}_f"], errors="ignore")
            out.append(
                Markdown(
                    "Payment forecasts are the payment-timing model's, given the days already "
                    f"elapsed ({run.params.interval_prob:.0%} interval; – = beyond a year). "
                    "*P(stalls)* is the chance the invoice leaves the ordinary course (reaches 90 "
                    "days past due, or the customer defaults first) and is paid, if at all, as a "
                    "recovery; at 100 % it already has."
                    + (
                        " *Promised for*: the day of a pending promise to pay the invoice; "
                        "*P(keeps promise)*: the chance the customer keeps it (its own record of "
                        "promises beside the portfolio's), paying on or about that day; the "
                        "forecast mixes that with the model's course once the promise is broken."
                        if promised
                        else ""
                    )
                )
            )
        out.append(
            table(
                shown,
                money=[AMOUNT, kpi.OPEN_AR, AMOUNT_ORIGINAL],
                ints=[kpi.DPD],
                pct=["p_paid_by_due", "p_dpd30", "p_dpd90", "p_stall", "p_keep_promise"],
                labels={
                    INVOICE_ID: "Invoice",
                    ISSUED_ON: "Issued",
                    DUE_ON: "Due",
                    CURRENCY_ORIGINAL: "Invoiced in",
                    AMOUNT_ORIGINAL: "Amount invoiced",
                    AMOUNT: f"Amount ({run.params.currency})",
                    kpi.OPEN_AR: f"Open ({run.params.currency})",
                    kpi.DPD: "DPD",
                    kpi.BUCKET: "Bucket",
                    DISPUTED: "Disputed",
                    "p_paid_by_due": "P(paid by due)",
                    "p_dpd30": "P(30+ DPD)",
                    "p_dpd90": "P(90+ DPD)",
                    "p_stall": "P(stalls)",
                    "promised_on": "Promised for",
                    "p_keep_promise": "P(keeps promise)",
                    "expected_paid_on": "Expected paid on",
                    "paid_on_lo": "from",
                    "paid_on_hi": "to",
                },
            )
        )
    lim = row_of(run_csv(run, "limits.csv"), customer_id)
    if lim is not None:
        out.append(
            Markdown(
                f"**Recommended limit {fmt_money(lim['recommended_limit'])}** (expected profit "
                f"{fmt_money(lim['expected_profit'])} a year, interval {fmt_money(lim['profit_lo'])} "
                f"to {fmt_money(lim['profit_hi'])}). {md_escape(lim['rationale'])}"
            )
        )
    else:
        out.append(Markdown("No recommended limit in this run (it needs the PD model)."))
    return out


def payments(run: Run, customer_id: str) -> list:
    """How the customer paid: days late per invoice over time, recent invoices, disputes."""
    led, t = run.ledger, pd.Timestamp(run.as_of)
    inv = led.invoices.loc[
        (led.invoices[CUSTOMER_ID].astype(str) == str(customer_id)) & (led.invoices[ISSUED_ON] <= t)
    ]
    paid = inv.loc[inv[PAID_ON].notna() & (inv[PAID_ON] <= t)].copy()
    paid["days_late"] = (paid[PAID_ON] - paid[DUE_ON]).dt.days
    open_ = kpi.open_items(inv, run.as_of)
    if inv.empty:
        return [Markdown("No invoices up to the as-of date.")]
    recent = paid.loc[paid[PAID_ON] > t - pd.Timedelta(days=365)]
    events = led.events.loc[
        (led.events[CUSTOMER_ID].astype(str) == str(customer_id)) & (led.events[EVENT_ON] <= t)
    ]
    text = (
        f"{len(inv):,} invoices since {inv[ISSUED_ON].min():%B %Y} "
        f"({fmt_money(inv[AMOUNT].sum())} billed), {int(inv[DISPUTED].sum()):,} disputed. "
        f"In the last 12 months: {len(recent):,} paid, on average "
        f"{fmt_days(recent['days_late'].mean())} days after the due date "
        f"({fmt_pct((recent['days_late'] > 0).mean()) if len(recent) else '–'} late)."
    )
    out = [Markdown(text + _calendar(run, customer_id))]
    last = inv.sort_values(ISSUED_ON, ascending=False).head(15).copy()
    last["days_late"] = (last[PAID_ON] - last[DUE_ON]).dt.days
    for col in (ISSUED_ON, DUE_ON, PAID_ON):
        last[col] = last[col].dt.date
    out += [
        Markdown("The latest invoices (days late: payment date - due date; empty = open):"),
        table(
            last[[INVOICE_ID, ISSUED_ON, DUE_ON, PAID_ON, AMOUNT, "days_late", DISPUTED]],
            money=[AMOUNT],
            ints=["days_late"],
            labels={
                INVOICE_ID: "Invoice",
                ISSUED_ON: "Issued",
                DUE_ON: "Due",
                PAID_ON: "Paid",
                AMOUNT: "Amount",
                "days_late": "Days late",
                DISPUTED: "Disputed",
            },
        ),  # fmt: skip
    ]
    if len(events):
        ev = timeline(events, inv, run.as_of).tail(30)
        out += [
            Markdown(
                "Events on record, the latest 30 (promises, disputes, contacts, master-data "
                "changes and outside signals; a promise is kept when what it promised was paid "
                f"within {PROMISE_GRACE_DAYS} days of the promised day):"
            ),
            table(
                ev,
                labels={EVENT_ON: "Date", "event": "Event", INVOICE_ID: "Invoice", "what": "What"},
            ),
        ]
    return [*out, to_image(payment_chart(paid, open_))]


def _calendar(run: Run, customer_id: str) -> str:
    """The payment-timing model's view of when the customer pays ('' without the model)."""
    calendar = RunFolder(run.run_dir).read_csv(PAYMENT_CALENDAR_FILE)
    if calendar is None:
        return ""
    row = calendar.loc[calendar[CUSTOMER_ID].astype(str) == str(customer_id)]
    if row.empty:
        return " The payment-timing model has no paid invoice of this customer to learn from."
    r = row.iloc[0]
    days = [d.strip() for d in str(r["pays_on"]).split(",")]
    if days == ["any weekday"]:
        when = "on any weekday (no payment day stands out)"
    elif days == ["month end"]:
        when = f"at the month end (its last weekday: {fmt_pct(r['share_month_end'])} of payments)"
    else:
        named = [f"{DAY_NAMES[d]}s ({fmt_pct(r[f'share_{d.lower()}'])})" for d in days]
        when = "on " + (" and ".join(named) if len(named) < 3 else ", ".join(named))
    median = float(r["median_days"])
    after = f"{fmt_days(abs(median))} days {'after' if median >= 0 else 'before'} the due date"
    return (
        f" The payment-timing model (learnt from {int(r['payments']):,} payments, pooled with "
        f"similar customers) has it paying {when}, usually {after} "
        f"({run.params.interval_prob:.0%} interval {fmt_days(r['median_lo'])} to "
        f"{fmt_days(r['median_hi'])} days past due)."
    )


def _evidence(run: Run, customer_id: str) -> str:
    """How much of the customer's PD is the ledger's and how much the priors', in words."""
    scores = RunFolder(run.run_dir).read_parquet(SCORES_FILE)
    row = row_of(scores, customer_id)
    if row is None or EVIDENCE not in row or pd.isna(row[EVIDENCE]):
        return ""
    share = float(row[EVIDENCE])
    words = (
        "mostly from the ledger's history (all customers' payments and defaults)" if share < 0.2
        else "partly from the ledger's history, partly from the priors (base rate, industry)"
        if share <= 0.5
        else "mostly from the priors (base rate, industry): the ledger says little about it yet"
    )  # fmt: skip
    thin = (
        " It has a thin file (fewer than 3 invoices in 12 months or under six months as a "
        "customer): its own record says little yet."
        if bool(row.get(THIN_FILE, False))
        else ""
    )
    return (
        f" This PD comes {words}: the priors' share of its uncertainty is {fmt_pct(share)}.{thin}"
    )


def _past_training(run: Run, customer_id: str) -> str:
    """The predictors on which the customer lies past the model's training range, in words (a
    straight line is not extrapolated: it was scored at the range's edge)."""
    row = row_of(RunFolder(run.run_dir).read_parquet(FEATURES_FILE), customer_id)
    if row is None or bool(row[IN_DEFAULT]):
        return ""
    standardizer = pd_model(run).standardizer
    names = standardizer.beyond(row.to_frame().T).iloc[0]
    if not names:
        return ""
    past = "; ".join(
        f"{md_escape(describe_feature(c))} {float(row[c]):.3g} (trained on "
        f"{standardizer.ranges[c][0]:.3g} to {standardizer.ranges[c][1]:.3g})"
        for c in names.split(", ")
    )
    return (
        f" Past the training rows' range: {past}; a straight line is not extrapolated, so the "
        "model scored it at the range's edge."
    )


def pd_path(run: Run, customer_id: str) -> list:
    """The PD now and at the last eight quarter-ends, from the run's model, with intervals."""
    if not (run.run_dir / PD_MODEL_FILE).is_file():
        return [Markdown("No PD model in this run, so no PD history.")]
    hist = pd_history(run, customer_id)
    if hist.empty:
        return [Markdown("The customer was not yet onboarded at any of the dates.")]
    prob = run.params.interval_prob
    now = hist.iloc[-1]
    head = (
        "The customer is in default." if now[IN_DEFAULT]
        else f"PD over the next 12 months: **{fmt_pct(now['pd_mean'])}** ({prob:.0%} interval "
        f"{fmt_pct(now['pd_lo'])} to {fmt_pct(now['pd_hi'])})."
    )  # fmt: skip
    chart = hist.rename(columns={PD_MEAN: "mean", PD_LO: "lo", PD_HI: "hi"})
    return [
        Markdown(
            head
            + _evidence(run, customer_id)
            + _past_training(run, customer_id)
            + " Earlier points apply the same model to the features the customer had on "
            "each quarter-end (what the model would have said then)."
        ),
        table(
            hist.drop(columns=[IN_DEFAULT]),
            pct=[PD_MEAN, PD_LO, PD_HI],
            labels={"date": "Date", PD_MEAN: "PD", PD_LO: f"{prob:.0%} from", PD_HI: "to"},
        ),
        to_image(band_chart(chart, "date", "12-month PD over time", "PD")),
    ]


def actions(run: Run, customer_id: str) -> list:
    """Open worklist items, alerts, ECL and terms suggestion for the customer."""
    out = []
    work = run_csv(run, "worklist.csv")
    if work is not None:
        mine = work.loc[work[CUSTOMER_ID] == str(customer_id)]
        if len(mine):
            out += [
                Markdown(f"{len(mine)} item(s) on this week's collections worklist:"),
                table(
                    mine[
                        [
                            "rank",
                            INVOICE_ID,
                            "open_amount",
                            "dpd",
                            "cash_at_risk",
                            "extra_cash",
                            "action",
                            "contact_day",
                            "approval",
                        ]
                    ],
                    money=["open_amount", "cash_at_risk", "extra_cash"],
                    ints=["rank", "dpd"],
                    labels={
                        "rank": "Rank",
                        INVOICE_ID: "Invoice",
                        "open_amount": "Open",
                        "dpd": "DPD",
                        "cash_at_risk": "Cash at risk",
                        "extra_cash": "Extra cash from acting (7 days)",
                        "action": "Action",
                        "contact_day": "Contact on",
                        "approval": "Owner",
                    },
                ),  # fmt: skip
            ]
        else:
            out.append(Markdown("Nothing on this week's collections worklist."))
    found = run_csv(run, "alerts.csv")
    if found is not None:
        mine = found.loc[found[CUSTOMER_ID] == str(customer_id)]
        out.append(
            table(
                mine[["alert", "severity", "detail"]],
                labels={"alert": "Alert", "severity": "Severity", "detail": "Detail"},
            )
            if len(mine)
            else Markdown("No alerts for this customer.")
        )
    ecl = row_of(run_csv(run, "ecl.csv"), customer_id)
    if ecl is not None:
        out.append(
            Markdown(
                f"Expected credit loss over 12 months: **{fmt_money(ecl['ecl_mean'])}** (interval "
                f"{fmt_money(ecl['ecl_lo'])} to {fmt_money(ecl['ecl_hi'])}) on an exposure of "
                f"{fmt_money(ecl['ead'])} with LGD {fmt_pct(ecl['lgd'])}."
            )
        )
    terms = row_of(run_csv(run, "terms.csv"), customer_id)
    if terms is not None:
        out.append(
            Markdown(
                f"Terms: {md_escape(terms['suggestion'])} (discount value "
                f"{fmt_money(terms['discount_value'])} a year, factoring "
                f"{fmt_money(terms['factoring_value'])})."
            )
        )
    return out or [Markdown("No decisions in this run.")]
