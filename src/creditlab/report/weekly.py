"""Sections of the weekly portfolio report. Each function returns display objects (Markdown,
formatted tables, PNG figures) for one notebook cell; every number comes from the KPI stage's
artifacts (:func:`read_kpis`), computed by :mod:`creditlab.kpi`."""

from __future__ import annotations

import dataclasses

import pandas as pd
from IPython.display import Markdown

from creditlab import kpi
from creditlab.errors import ConfigError
from creditlab.ledger.schema import (
    CREDIT_LIMIT,
    CUSTOMER_ID,
    INDUSTRY,
    MAX_DPD,
    NAME,
    OPEN_AR,
    OVERDUE_AR,
)
from creditlab.report.figures import aging_chart, to_image, trend_chart
from creditlab.report.tables import fmt_days, fmt_money, fmt_pct, md_escape, table
from creditlab.run.folder import KPI_TABLES, KPIS_FILE, RunFolder
from creditlab.run.prepare import Run

__all__ = [
    "WeeklyKpis",
    "read_kpis",
    "overview",
    "aging_section",
    "trend_section",
    "at_risk_section",
    "exposures_section",
    "breaches_section",
    "industry_section",
    "data_quality_section",
]


@dataclasses.dataclass
class WeeklyKpis:
    """Every figure of the weekly report, computed once."""

    headline: dict[str, float]
    aging: pd.DataFrame
    trend: pd.DataFrame
    at_risk: pd.DataFrame
    exposure: pd.DataFrame
    industries: pd.DataFrame
    currencies: pd.DataFrame


def read_kpis(run: Run) -> WeeklyKpis:
    """The weekly KPIs the run's KPI stage wrote (``kpis.json`` and the ``kpi_*`` tables).

    Raises
    ------
    ConfigError
        The run folder has no KPIs (it was prepared without running its stages).
    """
    folder = RunFolder(run.run_dir)
    headline = folder.read_json(KPIS_FILE)
    if headline is None:
        raise ConfigError(f"{run.run_dir}: no {KPIS_FILE}: run the stages first (run_report)")
    tables = {key: folder.read_parquet(name) for key, name in KPI_TABLES.items()}
    return WeeklyKpis(headline=headline, **tables)


def overview(run: Run, k: WeeklyKpis) -> list:
    """Headline KPIs with what each one means."""
    h, cur = k.headline, run.params.currency
    source = "a synthetic demo portfolio" if run.inputs.get("synthetic") else "the ledger export"
    intro = Markdown(
        f"Portfolio **{md_escape(run.params.portfolio)}** as of **{run.as_of:%d %B %Y}**, from "
        f"{source}. Amounts are in {cur}. Figures use only what was known on the as-of date: an "
        "invoice counts once issued, and is open until the date it was paid."
    )
    rows = [
        ("Customers", f"{h['customers']:,}", "customers in the ledger"),
        ("Open invoices", f"{h['open_invoices']:,}", "issued and unpaid at the as-of date"),
        (
            "Open AR",
            fmt_money(h[OPEN_AR]),
            f"total open receivables ({cur})"
            + (", net of unapplied credit notes" if h.get("open_credits") else ""),
        ),
        (
            "Overdue AR",
            f"{fmt_money(h['overdue_ar'])} ({fmt_pct(h['overdue_share'])})",
            "open receivables past their due date, and their share of open AR",
        ),
        *(
            [
                (
                    "Open credit notes",
                    fmt_money(h["open_credits"]),
                    "credit notes not yet applied: netted in the open AR above",
                ),
                (
                    "Dilution",
                    fmt_pct(h["dilution"]),
                    f"credit notes / sales issued in the last {run.params.dso_period_days} days",
                ),
            ]
            if h.get("open_credits") or h.get("credit_notes_period")
            else []
        ),
        (
            "DSO (standard)",
            fmt_days(h["dso"]),
            f"open AR / credit sales of the last {run.params.dso_period_days} days x that many days",
        ),
        (
            "DSO (countback)",
            fmt_days(h["dso_countback"]),
            "days of the most recent monthly sales that add up to open AR",
        ),
        ("Best possible DSO", fmt_days(h["bpdso"]), "the standard DSO of not-yet-due AR only"),
        ("Average days delinquent", fmt_days(h["add"]), "DSO - best possible DSO"),
        (
            "CEI (this month)",
            fmt_days(h["cei"]) + " %",
            "share of collectable receivables collected since the last month-end (100 % = all)",
        ),
        (
            "Limit utilisation",
            fmt_pct(h["utilisation"]),
            f"open AR / credit limits, over the {h['customers_with_limit']:,} customers with a limit"
            if h["customers_with_limit"]
            else "the ledger has no credit limits (see Data quality)",
        ),
        (
            "Limit breaches",
            f"{h['limit_breaches']:,}",
            "customers whose open AR exceeds their limit",
        ),
        ("Top-10 share of AR", fmt_pct(h["top10_share"]), "concentration in the 10 largest"),
        (
            "Herfindahl index",
            f"{h['herfindahl']:.4f}" if h["herfindahl"] == h["herfindahl"] else "–",
            "sum of squared AR shares (1 = one customer holds all AR)",
        ),
    ]
    frame = pd.DataFrame(rows, columns=["Measure", "Value", "What it means"])
    out = [intro, table(frame).set_properties(subset=["Value"], **{"text-align": "right"})]
    return out + currency_section(run, k)


def currency_section(run: Run, k: WeeklyKpis) -> list:
    """Open AR by invoice currency with the as-of rates, when more than one currency is open."""
    cur = run.params.currency
    by = k.currencies
    if by is None or len(by) < 2:
        return []
    foreign = by.loc[by["currency"] != cur]
    rates = ", ".join(f"1 {r.currency} = {r.rate:g} {cur}" for r in foreign.itertuples())
    return [
        Markdown(
            f"Exposure by currency: open invoices in other currencies are valued in {cur} at the "
            f"rate of the as-of date ({rates}); paid history was converted at each invoice's "
            "issue date. The rates' source is under Data quality."
        ),
        table(
            by,
            money=["open_ar_original", OPEN_AR],
            pct=["share"],
            ints=["open_invoices"],
            decimals=["rate"],
            labels={
                "currency": "Invoiced in",
                "open_invoices": "Open invoices",
                "open_ar_original": "Open AR (invoice currency)",
                "rate": f"Rate to {cur}",
                OPEN_AR: f"Open AR ({cur})",
                "share": "Share of open AR",
            },
        ),
    ]


def aging_section(run: Run, k: WeeklyKpis) -> list:
    """Open AR by aging bucket: table and chart."""
    return [
        table(
            k.aging,
            money=[OPEN_AR],
            pct=["share"],
            ints=["invoices"],
            labels={
                "bucket": "Days past due",
                "invoices": "Open invoices",
                OPEN_AR: f"Open AR ({run.params.currency})",
                "share": "Share",
            },
        ),
        to_image(aging_chart(k.aging, run.params.currency)),
    ]


def trend_section(run: Run, k: WeeklyKpis) -> list:
    """DSO, countback DSO, best possible DSO and CEI over the trend months."""
    cols = [
        "period_end",
        OPEN_AR,
        OVERDUE_AR,
        "sales",
        "dso",
        "dso_countback",
        "bpdso",
        "add",
        "cei",
    ]
    labels = {
        "period_end": "Period end",
        OPEN_AR: "Open AR",
        OVERDUE_AR: "Overdue AR",
        "sales": "Credit sales in period",
        "dso": "DSO",
        "dso_countback": "DSO countback",
        "bpdso": "Best possible DSO",
        "add": "ADD",
        "cei": "CEI (%)",
    }
    return [
        table(
            k.trend[cols],
            money=[OPEN_AR, OVERDUE_AR, "sales"],
            days=["dso", "dso_countback", "bpdso", "add", "cei"],
            labels=labels,
        ),
        to_image(trend_chart(k.trend)),
    ]


def at_risk_section(run: Run, k: WeeklyKpis) -> list:
    """The share of each month's billing still unpaid 90 days after month-end."""
    return [
        table(
            k.at_risk,
            money=["billed", "unpaid_after_90d"],
            pct=["at_risk_rate"],
            labels={
                "billing_month": "Billing month",
                "billed": "Billed",
                "unpaid_after_90d": "Unpaid 90 days after month-end",
                "at_risk_rate": "At-risk rate",
            },
        )
    ]


_EXPOSURE_LABELS = {
    CUSTOMER_ID: "Customer",
    NAME: "Name",
    INDUSTRY: "Industry",
    CREDIT_LIMIT: "Credit limit",
    OPEN_AR: "Open AR",
    OVERDUE_AR: "Overdue AR",
    MAX_DPD: "Max DPD",
    "open_invoices": "Open invoices",
    "open_disputes": "Open disputes",
    "utilisation": "Utilisation",
    "excess": "Over limit by",
}


def exposures_section(run: Run, k: WeeklyKpis) -> list:
    """The largest exposures with their limits and utilisation."""
    top = kpi.top_exposures(k.exposure, run.params.top_n)
    cols = [
        CUSTOMER_ID,
        NAME,
        INDUSTRY,
        OPEN_AR,
        OVERDUE_AR,
        MAX_DPD,
        "open_disputes",
        CREDIT_LIMIT,
        "utilisation",
    ]
    return [
        table(
            top[cols],
            money=[OPEN_AR, OVERDUE_AR, CREDIT_LIMIT],
            pct=["utilisation"],
            ints=[MAX_DPD, "open_disputes"],
            labels=_EXPOSURE_LABELS,
        )
    ]


def breaches_section(run: Run, k: WeeklyKpis) -> list:
    """Customers over their credit limit, largest excess first."""
    if k.headline["customers_with_limit"] == 0:
        return [Markdown("The ledger has no credit limits, so limit breaches cannot be computed.")]
    breaches = kpi.limit_breaches(k.exposure)
    if breaches.empty:
        return [Markdown("No customer's open AR exceeds its credit limit.")]
    cols = [
        CUSTOMER_ID,
        NAME,
        INDUSTRY,
        CREDIT_LIMIT,
        OPEN_AR,
        "excess",
        "utilisation",
        MAX_DPD,
    ]
    return [
        Markdown(f"{len(breaches):,} customer(s) exceed their credit limit, largest excess first."),
        table(
            breaches[cols],
            money=[CREDIT_LIMIT, OPEN_AR, "excess"],
            pct=["utilisation"],
            ints=[MAX_DPD],
            labels=_EXPOSURE_LABELS,
        ),
    ]


def industry_section(run: Run, k: WeeklyKpis) -> list:
    """Open AR, DSO, overdue share and aging per industry."""
    ind = k.industries
    cols = [
        INDUSTRY,
        "customers",
        OPEN_AR,
        "share_of_ar",
        "overdue_share",
        "dso",
        "bpdso",
        "add",
        "cei",
        "utilisation",
        "limit_breaches",
        "at_risk_rate",
        "top10_share",
        *(["dilution"] if "dilution" in ind and ind["credit_notes_period"].sum() > 0 else []),
    ]
    labels = {
        INDUSTRY: "Industry",
        "customers": "Customers",
        OPEN_AR: "Open AR",
        "share_of_ar": "Share of AR",
        "overdue_share": "Overdue share",
        "dso": "DSO",
        "bpdso": "Best possible DSO",
        "add": "ADD",
        "cei": "CEI (%)",
        "utilisation": "Utilisation",
        "limit_breaches": "Limit breaches",
        "at_risk_rate": "At-risk rate (latest month)",
        "top10_share": "Top-10 share",
        "dilution": "Dilution",
    }
    aging_cols = [f"aging_{b}" for b in kpi.AGING_BUCKETS]
    return [
        table(
            ind[cols],
            money=[OPEN_AR],
            days=["dso", "bpdso", "add", "cei"],
            pct=[
                "share_of_ar",
                "overdue_share",
                "utilisation",
                "at_risk_rate",
                "top10_share",
                "dilution",
            ],
            ints=["customers", "limit_breaches"],
            labels=labels,
        ),
        Markdown(
            "Aging by industry: the share of each industry's open AR in each bucket of days "
            "past due."
        ),
        table(
            ind[[INDUSTRY, *aging_cols]],
            pct=aging_cols,
            labels={INDUSTRY: "Industry", **{f"aging_{b}": b for b in kpi.AGING_BUCKETS}},
        ),
    ]


def data_quality_section(run: Run) -> list:
    """Counts that reconcile, reject reasons, the first rejects, and the data's caveats."""
    led = run.ledger
    counts = led.counts[["table", "file", "read", "loaded", "rejected"]]
    out: list = [
        Markdown(
            "Every input row is either loaded or rejected (read = loaded + rejected); "
            "rejected rows are listed in `rejects.csv` in the run folder."
        ),
        table(
            counts,
            ints=["read", "loaded", "rejected"],
            labels={
                "table": "Table",
                "file": "File",
                "read": "Rows read",
                "loaded": "Loaded",
                "rejected": "Rejected",
            },
        ),
    ]
    share = led.counts["rejected"].sum() / max(led.counts["read"].sum(), 1)
    if share > run.params.max_reject_share:
        out.append(
            Markdown(
                f"**Warning:** {fmt_pct(share)} of input rows were rejected, more than "
                f"the {fmt_pct(run.params.max_reject_share)} this run tolerates."
            )
        )
    if len(led.rejects):
        reasons = (
            led.rejects.assign(reason=led.rejects["reason"].str.split("; "))
            .explode("reason")
            .assign(  # one line per kind of reason, not per row it points at
                reason=lambda r: (
                    r["reason"]
                    .str.replace(r"\brows? \d+", "row N", regex=True)
                    .str.replace(r"\d{4}-\d{2}-\d{2}", "a date", regex=True)
                )
            )
            .groupby(["file", "reason"])
            .size()
            .rename("rows")
            .reset_index()
            .sort_values("rows", ascending=False)
        )
        out += [Markdown("Reasons for rejection:"), table(reasons, ints=["rows"])]
        out += [
            Markdown("The first rejected rows (row numbers as a spreadsheet shows them):"),
            table(led.rejects.head(20), ints=["row"]),
        ]
    notes = list(led.notes)
    if run.rows_after_as_of:
        notes.append(
            f"{run.rows_after_as_of:,} invoices are dated after the as-of date and are "
            "left out of every figure."
        )
    if notes:
        out.append(
            Markdown("Notes on the data:\n\n" + "\n".join(f"- {md_escape(n)}" for n in notes))
        )
    return out
