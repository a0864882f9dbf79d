"""Readable, safe tables for reports: formatted numbers, right-aligned, every cell HTML-escaped."""

from __future__ import annotations

import html
import math
from collections.abc import Iterable

import pandas as pd
from IPython.display import Markdown
from pandas.io.formats.style import Styler

__all__ = [
    "COLUMN_LABELS",
    "column_label",
    "fmt_days",
    "fmt_money",
    "fmt_pct",
    "gate_report",
    "gate_table",
    "md_escape",
    "table",
]


# Column names readers see, in one place: a table shows these unless its section names a column
# itself; any other column is shown with spaces for underscores and its acronyms in capitals.
COLUMN_LABELS = {
    "customer_id": "Customer",
    "invoice_id": "Invoice",
    "name": "Name",
    "industry": "Industry",
    "country": "Country",
    "grade": "Grade",
    "segment": "Segment",
    "policy": "Policy",
    "open_ar": "Open AR",
    "overdue_ar": "Overdue AR",
    "credit_limit": "Credit limit",
    "current_limit": "Current limit",
    "recommended_limit": "Recommended limit",
    "max_dpd": "Oldest invoice, days past due",
    "pd_mean": "PD",
    "pd_lo": "PD from",
    "pd_hi": "PD to",
    "ecl_mean": "Expected loss",
    "ecl_lo": "from",
    "ecl_hi": "to",
    "open_amount": "Open amount",
    "due_on": "Due",
    "issued_on": "Issued",
    "paid_on": "Paid",
    "dpd": "Days past due",
    "rationale": "Why",
}
_ACRONYMS = {"pd", "ecl", "dpd", "ar", "lgd", "ead", "id", "dso", "cei", "psi", "auc", "apr",
             "var", "es", "ks", "kpi", "fx", "eur", "usd"}  # fmt: skip


def column_label(column: str) -> str:
    """The name a reader sees for ``column``: ``recommended_limit`` -> "Recommended limit",
    ``whatif_grade`` -> "Whatif grade", ``pd_change`` -> "PD change"."""
    if column in COLUMN_LABELS:
        return COLUMN_LABELS[column]
    words = [w.upper() if w in _ACRONYMS else w for w in str(column).split("_")]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def fmt_money(value: float) -> str:
    """``1234567.8 -> '1,234,568'`` ("–" for missing)."""
    return (
        "–"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else f"{value:,.0f}"
    )


def fmt_pct(value: float, digits: int = 1) -> str:
    """A share as a percentage: ``0.1234 -> '12.3 %'``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value * 100:.{digits}f} %"


def fmt_days(value: float) -> str:
    """A number of days with one decimal (``–`` when missing)."""
    return (
        "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.1f}"
    )


def _fmt_int(value: float) -> str:
    return "–" if pd.isna(value) else f"{int(value):,}"


def md_escape(text: object) -> str:
    """Escape untrusted text for Markdown that is rendered to HTML."""
    escaped = str(text)
    for char in "\\`*_[]#|":
        escaped = escaped.replace(char, "\\" + char)
    # HTML last: escaping '#' after it turned "&#x27;" into a literal "&#x27;" on the page
    return html.escape(escaped)


def table(
    frame: pd.DataFrame,
    *,
    money: Iterable[str] = (),
    pct: Iterable[str] = (),
    days: Iterable[str] = (),
    ints: Iterable[str] = (),
    decimals: Iterable[str] = (),
    labels: dict[str, str] | None = None,
    caption: str | None = None,
    links: dict[str, tuple[str, str]] | None = None,
) -> Styler:
    """Format ``frame`` for a report: thousands separators, percentages, escaped text.

    Columns named in ``money``/``pct``/``days``/``ints``/``decimals`` get those formats and are right-aligned;
    every other cell is HTML-escaped text. ``labels`` names columns for readers; the others get
    :func:`column_label`. ``links`` maps a column to ``(url, text)``: each non-empty cell becomes
    a link to ``url`` with the (escaped) cell value in place of ``{}``.
    """
    formats: dict[str, object] = {
        c: (lambda v: "–" if pd.isna(v) else "yes" if v else "no")
        for c in frame.columns
        if pd.api.types.is_bool_dtype(frame[c])
    }
    formats.update({c: fmt_money for c in money})
    formats.update({c: fmt_pct for c in pct})
    formats.update({c: fmt_days for c in days})
    formats.update({c: _fmt_int for c in ints})
    formats.update({c: (lambda v: "–" if pd.isna(v) else f"{v:.3f}") for c in decimals})
    for c, (url, text) in (links or {}).items():  # the cell value arrives HTML-escaped
        formats[c] = lambda v, u=url, t=text: (
            "" if pd.isna(v) or v == "" else f'<a href="{u.format(v)}">{html.escape(t)}</a>'
        )
    numeric = [c for c in formats if c in frame.columns and c not in (links or {})]
    formats = {c: f for c, f in formats.items() if c in frame.columns}
    styler = frame.style.format(formats, na_rep="–", escape="html").hide(axis="index")
    if numeric:
        styler = styler.set_properties(subset=numeric, **{"text-align": "right"})
    styler = styler.set_table_attributes('class="cl-table"')
    labels = labels or {}
    styler = styler.relabel_index(
        [html.escape(labels.get(c) or column_label(c)) for c in frame.columns], axis="columns"
    )
    if caption:
        styler = styler.set_caption(html.escape(caption))
    return styler


def gate_table(gate: dict) -> Styler:
    """A convergence gate's checks (``GateResult.to_dict()``) as a table."""
    checks = pd.DataFrame(gate["checks"])
    checks["passed"] = checks["passed"].map({True: "yes", False: "NO"})
    return table(
        checks,
        decimals=["value"],
        labels={
            "check": "Check",
            "value": "Value",
            "rule": "Rule",
            "passed": "Passed",
            "worst": "Worst parameters",
        },
    )


def gate_report(model: str, summary: dict) -> list:
    """A fitted model's convergence diagnostics: a line (cache reuse, sampler, timings) and the
    gate's table, from a stage summary holding ``gate``, ``timings`` and ``sampler_config``."""
    timings = ", ".join(f"{k} {v:.1f} s" for k, v in summary["timings"].items())
    sampler = summary.get("sampler_config", {}).get("sampler")
    return [
        Markdown(
            f"{model} convergence diagnostics"
            + (" (fit reused from the store's cache)" if summary.get("reused_cached_fit") else "")
            + (f"; {md_escape(sampler)} NUTS" if sampler else "")
            + (
                f"; the first fit fell short of the gate, so tuning and draws were doubled "
                f"{summary['extended']} time(s)"
                if summary.get("extended")
                else ""
            )
            + f"; timings: {timings}."
        ),
        gate_table(summary["gate"]),
    ]
