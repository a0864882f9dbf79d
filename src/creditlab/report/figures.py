"""Static report figures (matplotlib, no pyplot state): labelled axes, units, returned as PNG."""

from __future__ import annotations

import io

import pandas as pd
from IPython.display import Image
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from creditlab.ledger.schema import OPEN_AR

__all__ = [
    "aging_chart",
    "band_chart",
    "bar_chart",
    "cash_chart",
    "describe",
    "interval_chart",
    "loss_chart",
    "payment_chart",
    "trend_chart",
    "to_image",
]

_THOUSANDS = FuncFormatter(lambda v, _: f"{v:,.0f}")


def _date_axis(ax) -> None:
    """Dates on the x axis that never overlap: at most seven ticks, each written once
    ("Mar", "2026" only where the year changes)."""
    locator = AutoDateLocator(minticks=3, maxticks=7)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))


def describe(fig: Figure) -> str:
    """Alternative text for a chart: its title(s) and axis labels."""
    parts = [fig._suptitle.get_text()] if fig._suptitle is not None else []
    for ax in fig.axes:
        title = ax.get_title()
        axes = " against ".join(t for t in (ax.get_ylabel(), ax.get_xlabel()) if t)
        parts.append(f"{title}: {axes}" if title and axes else title or axes)
    return "Chart. " + "; ".join(p for p in parts if p) if any(parts) else "Chart"


def to_image(fig: Figure, dpi: int = 110) -> Image:
    """Render a figure to an embedded PNG with alternative text (works in any kernel)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return Image(data=buffer.getvalue(), format="png", alt=describe(fig))


def aging_chart(aging: pd.DataFrame, currency: str) -> Figure:
    """Bar chart of open AR by aging bucket."""
    fig = Figure(figsize=(7, 3.2))
    ax = fig.add_subplot()
    colors = ["#4c9f70", "#a6c36f", "#f2c14e", "#f08a4b", "#d8572a", "#a4161a"]
    ax.bar(aging["bucket"], aging[OPEN_AR], color=colors[: len(aging)])
    ax.set_xlabel("Days past due")
    ax.set_ylabel(f"Open AR ({currency})")
    ax.yaxis.set_major_formatter(_THOUSANDS)
    ax.set_title("Open receivables by aging bucket")
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def trend_chart(trend: pd.DataFrame) -> Figure:
    """DSO (standard, countback), BPDSO in days and CEI in percent, by period end."""
    fig = Figure(figsize=(8, 3.4))
    ax, ax2 = fig.subplots(1, 2)
    x = pd.to_datetime(trend["period_end"])
    ax.plot(x, trend["dso"], marker="o", label="DSO (standard)")
    ax.plot(x, trend["dso_countback"], marker="s", label="DSO (countback)")
    ax.plot(x, trend["bpdso"], marker="^", label="Best possible DSO")
    ax.set_ylabel("Days")
    ax.set_title("Days sales outstanding")
    ax.legend(fontsize=7)
    ax2.plot(x, trend["cei"], marker="o", color="#4c9f70")
    ax2.set_ylabel("CEI (%)")
    ax2.set_title("Collection effectiveness index")
    for a in (ax, ax2):
        _date_axis(a)
        a.tick_params(axis="x", labelsize=7)
        a.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig


def interval_chart(
    frame: pd.DataFrame,
    label: str,
    title: str,
    xlabel: str,
    *,
    percent: bool = True,
    observed: str | None = None,
) -> Figure:
    """Point estimates (``mean``) with their credible intervals (``lo`` to ``hi``), one row per
    ``frame[label]``; ``observed`` adds a column of observed values as crosses."""
    frame = frame.iloc[::-1]
    fig = Figure(figsize=(7, 0.35 * len(frame) + 1.2), layout="constrained")
    ax = fig.add_subplot()
    y = list(range(len(frame)))
    ax.hlines(y, frame["lo"], frame["hi"], color="#8aa9c1", linewidth=3, label="interval")
    ax.plot(frame["mean"], y, "o", color="#2f6690", label="posterior mean")
    if observed:
        ax.plot(frame[observed], y, "x", color="#a4161a", markersize=8, label="observed")
        ax.legend(loc="lower right", frameon=False, fontsize=8)
    ax.set_yticks(y, frame[label].astype(str))
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.xaxis.set_major_formatter(
        FuncFormatter(lambda v, _: f"{v * 100:.1f} %") if percent else _THOUSANDS
    )
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def bar_chart(
    frame: pd.DataFrame, x: str, left: str, right: str, title: str, currency: str
) -> Figure:
    """Counts (left panel) and amounts (right panel) per category, side by side."""
    fig = Figure(figsize=(8, 3.2), layout="constrained")
    ax, ax2 = fig.subplots(1, 2)
    labels = frame[x].astype(str)
    ax.bar(labels, frame[left], color="#2f6690")
    ax.set_xlabel(x.capitalize())
    ax.set_ylabel("Customers")
    ax2.bar(labels, frame[right], color="#d8572a")
    ax2.set_xlabel(x.capitalize())
    ax2.set_ylabel(f"Open AR ({currency})")
    ax2.yaxis.set_major_formatter(_THOUSANDS)
    for a in (ax, ax2):
        a.spines[["top", "right"]].set_visible(False)
    fig.suptitle(title)
    return fig


def payment_chart(paid: pd.DataFrame, open_items: pd.DataFrame) -> Figure:
    """Days late of each paid invoice by due date, and open invoices' days past due today."""
    fig = Figure(figsize=(8, 3.2), layout="constrained")
    ax = fig.add_subplot()
    ax.axhline(0, color="#8aa9c1", linewidth=1)
    ax.scatter(paid["due_on"], paid["days_late"], s=14, color="#2f6690", label="paid (days late)")
    if len(open_items):
        ax.scatter(open_items["due_on"], open_items["dpd"], s=30, marker="x", color="#a4161a",
                   label="open (days past due today)")  # fmt: skip
    _date_axis(ax)
    ax.set_xlabel("Due date")
    ax.set_ylabel("Days after due date")
    ax.set_title("Payment history")
    fig.legend(loc="outside lower center", ncols=2, frameon=False, fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def band_chart(frame: pd.DataFrame, x: str, title: str, ylabel: str) -> Figure:
    """A posterior mean over time with its credible band (``mean``, ``lo``, ``hi`` columns)."""
    fig = Figure(figsize=(7, 3), layout="constrained")
    ax = fig.add_subplot()
    dates = pd.to_datetime(frame[x])
    ax.fill_between(dates, frame["lo"], frame["hi"], color="#8aa9c1", alpha=0.5, label="interval")
    ax.plot(dates, frame["mean"], marker="o", color="#2f6690", label="posterior mean")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.1%}"))
    _date_axis(ax)
    ax.set_xlabel("Date")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.legend(loc="outside lower center", ncols=2, frameon=False, fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def cash_chart(frame: pd.DataFrame, currency: str) -> Figure:
    """Expected collections per week (bars) with their credible intervals (``week_end``,
    ``expected``, ``lo``, ``hi``)."""
    fig = Figure(figsize=(7, 3), layout="constrained")
    ax = fig.add_subplot()
    labels = pd.to_datetime(frame["week_end"]).dt.strftime("%d %b")
    ax.bar(labels, frame["expected"], color="#2f6690", label="expected")
    # a range, not error bars: with skewed totals the mean can lie outside the interval
    ax.vlines(labels, frame["lo"], frame["hi"], color="#d8572a", linewidth=2, label="interval")
    ax.set_xlabel("Week ending")
    ax.set_ylabel(f"Collections ({currency})")
    ax.set_title("Expected collections on today's open invoices")
    ax.yaxis.set_major_formatter(_THOUSANDS)
    ax.tick_params(axis="x", labelrotation=45, labelsize=8)
    ax.legend(loc="upper right", frameon=False, fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def loss_chart(curve: pd.DataFrame, marks: dict[str, float], currency: str) -> Figure:
    """The chance of losing more than x in a year, gross and net of insurance (log scale), with
    vertical lines at ``marks`` (label -> loss)."""
    fig = Figure(figsize=(7, 3.4), layout="constrained")
    ax = fig.add_subplot()
    floor = 1e-4
    for column, label, color in (
        ("p_exceed_gross", "before insurance", "#a4161a"),
        ("p_exceed_net", "after insurance", "#2f6690"),
    ):
        ax.plot(curve["loss"], curve[column].clip(lower=floor), color=color, label=label)
    styles = ["-", "--", ":", "-."]
    for (label, value), style in zip(marks.items(), styles * 3, strict=False):
        ax.axvline(value, color="#555555", linestyle=style, linewidth=1, label=label)
    ax.set_yscale("log")
    ax.set_ylim(floor, 1.05)
    ax.set_xlabel(f"Credit loss over the next 12 months ({currency})")
    ax.set_ylabel("Chance of losing more")
    ax.xaxis.set_major_formatter(_THOUSANDS)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.2%}".replace(".00%", "%")))
    ax.set_title("How bad can a year get?")
    ax.legend(loc="upper right", frameon=False, fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    return fig
