"""The collections part of the decisions stage: the worklist of open invoices (each action shaped by
the customer's disputes, complaints and promises), a reminder draft per customer on it, and the
early-warning alerts (against the previous run's scores in the store, from the payment-timing
forecast and from the relationship signals)."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from creditlab import kpi
from creditlab.decisions.reminders import draft_email, drafts_page, reminder_drafts
from creditlab.decisions.screens import bust_out_screens
from creditlab.decisions.settings import DecisionSettings
from creditlab.decisions.worklist import alerts, extra_cash, p_invoice_from_matrix, worklist
from creditlab.ledger.schema import (
    CREDIT_LIMIT,
    CUSTOMER_ID,
    DEFAULT_EVENTS,
    DISPUTED,
    DUE_ON,
    EVENT_ON,
    INVOICE_ID,
    ISSUED_ON,
    KIND,
    NAME,
    PD_MEAN,
)
from creditlab.ledger.store import previous_scores
from creditlab.models.contact_effect import ContactEffect, contact_effect
from creditlab.run.folder import DRAFTS_DIR, DRAFTS_PAGE, REMINDERS_FILE
from creditlab.run.prepare import Run
from creditlab.segments import assign_grades

__all__ = ["collections_worklist", "early_warnings", "extra_cash_total", "write_reminders"]

log = logging.getLogger(__name__)


def collections_worklist(
    run: Run,
    settings: DecisionSettings,
    views: dict[str, pd.DataFrame],
    table: pd.DataFrame | None,
    segment_of: pd.Series | None,
    p_reach: dict[str, np.ndarray],
    forecast: pd.DataFrame | None,
    seed: int,
) -> tuple[pd.DataFrame, ContactEffect | None]:
    """The collections worklist: every open invoice with its chance of reaching 90+ DPD (from the
    payment-timing model where the run has one, else the roll rates), ranked by the expected extra
    cash from acting where the ledger's contacts estimate what a reminder or a call does (returned
    beside it; None without contacts), then by cash at risk."""
    led = run.ledger
    items = kpi.open_items(led.invoices, run.as_of)
    seg_items = (
        pd.Series("all", index=items.index)
        if segment_of is None
        else items[CUSTOMER_ID].map(segment_of).fillna("unknown").astype(str)
    )
    if table is not None:
        who = table[[CUSTOMER_ID, NAME, "policy", "dunning", "approval", PD_MEAN]]
    else:
        cadence = "standard" if "standard" in settings.dunning else next(iter(settings.dunning))
        who = led.customers[[CUSTOMER_ID, NAME]].assign(
            policy="(no PD model)", dunning=cadence, approval="credit analyst", pd_mean=np.nan
        )
    who = who.merge(views["behaviour"][[CUSTOMER_ID, "usual_weekday"]], on=CUSTOMER_ID, how="left")
    p_invoice = p_invoice_from_matrix(items, seg_items, p_reach)
    p_joint = None
    if forecast is not None:  # the payment-timing model's probability where it has one
        by_invoice = forecast.set_index(INVOICE_ID)
        p90 = items[INVOICE_ID].astype(str).map(by_invoice["p_dpd90"])
        p_invoice = np.where(p90.notna(), p90.to_numpy(dtype=float), p_invoice)
        # where the forecast took the customer's PD, its stall already holds the default
        stall = by_invoice["p_stall"].where(by_invoice["with_pd"].astype(bool))
        p_joint = items[INVOICE_ID].astype(str).map(stall).to_numpy(dtype=float)
    effect = contact_effect(
        led.invoices, led.events, run.as_of, prob=run.params.interval_prob, seed=seed
    )
    work = worklist(
        items, who, settings.dunning, run.as_of, p_invoice, views["signals"],
        pd.Index(views["disputes"][INVOICE_ID]), effect, run.params.interval_prob, p_joint,
    )  # fmt: skip
    return work, effect


def extra_cash_total(run: Run, work: pd.DataFrame, effect: ContactEffect | None) -> dict | None:
    """The worklist's expected extra cash in all (mean and interval), or None without an effect."""
    if effect is None or not effect.log_r:
        return None
    due = run.ledger.invoices.set_index(INVOICE_ID)[DUE_ON]
    signed = (pd.Timestamp(run.as_of) - work[INVOICE_ID].map(due)).dt.days.to_numpy()
    draws = extra_cash(
        work[CUSTOMER_ID], signed, work["action"], work["open_amount"], work["pd_customer"], effect
    )
    total = np.nansum(draws, axis=0)
    prob = run.params.interval_prob
    return {
        "mean": float(total.mean()),
        "lo": float(np.quantile(total, (1 - prob) / 2)),
        "hi": float(np.quantile(total, (1 + prob) / 2)),
        "window_days": effect.window,
    }


def write_reminders(run: Run, work: pd.DataFrame, views: dict[str, pd.DataFrame]) -> dict:
    """A reminder draft per customer on the worklist (``reminders:`` params): ``reminders.csv``,
    ``drafts/<draft_id>.eml`` and ``drafts/index.html``; returns the summary (counts by tone and
    language)."""
    settings = run.params.reminders
    if not settings.enabled:
        return {"enabled": False}
    led = run.ledger
    ev = led.events
    handed_over = ev.loc[
        ev[KIND].isin(DEFAULT_EVENTS) & (ev[EVENT_ON] <= pd.Timestamp(run.as_of)), CUSTOMER_ID
    ].unique()
    drafts = reminder_drafts(
        work, led.invoices, led.customers, views["behaviour"], views["signals"],
        views["disputes"], run.as_of, settings, handed_over=handed_over,
    )  # fmt: skip
    folder = run.run_dir / DRAFTS_DIR
    folder.mkdir(exist_ok=True)
    for draft in drafts.to_dict("records"):
        (run.run_dir / draft["file"]).write_bytes(draft_email(draft).as_bytes())
    title = f"{run.params.title}: {run.params.portfolio}"
    (run.run_dir / DRAFTS_PAGE).write_text(drafts_page(drafts, run.as_of, title), encoding="utf-8")
    drafts.to_csv(run.run_dir / REMINDERS_FILE, index=False)
    log.info("%d reminder drafts written to %s", len(drafts), folder)
    return {
        "enabled": True,
        "drafts": len(drafts),
        "by_tone": drafts["tone"].value_counts().to_dict(),
        "by_language": drafts["language"].value_counts().to_dict(),
        "without_address": int((drafts["to"] == "").sum()),
        "handed_over": int(work.loc[work[CUSTOMER_ID].isin(handed_over), CUSTOMER_ID].nunique()),
        "send": settings.send,
    }


def early_warnings(
    run: Run,
    settings: DecisionSettings,
    views: dict[str, pd.DataFrame],
    table: pd.DataFrame | None,
    summary: dict[str, Any],
    forecast: pd.DataFrame | None,
) -> pd.DataFrame:
    """Alerts against the previous run's scores in the store (none on a first run), from the
    payment-timing forecast where the run has one, from the relationship signals, and the fraud
    and bust-out screens."""
    led = run.ledger
    now = views["exposure"][
        [CUSTOMER_ID, NAME, CREDIT_LIMIT, kpi.OPEN_AR, kpi.MAX_DPD, kpi.UTILISATION]
    ].copy()
    rank = settings.grade_rank
    if table is not None:
        now = now.merge(table[[CUSTOMER_ID, PD_MEAN, "grade"]], on=CUSTOMER_ID, how="left")
        now["grade_rank"] = now["grade"].map(rank)
    previous = (
        previous_scores(run.params.store, run.as_of, run.run_id) if table is not None else None
    )
    before, summary["previous_run"] = None, None
    now["new_disputes"] = 0
    if previous is not None:
        prev_as_of = pd.Timestamp(previous["as_of"].iloc[0])
        before = previous[[CUSTOMER_ID, PD_MEAN]].copy()
        before["grade"], _ = assign_grades(
            before[PD_MEAN].to_numpy(), np.zeros(len(before), bool), settings.grades
        )
        before["grade_rank"] = before["grade"].map(rank)
        then = kpi.customer_exposure(led.customers, led.invoices, prev_as_of.date())
        before = before.merge(then[[CUSTOMER_ID, kpi.MAX_DPD]], on=CUSTOMER_ID, how="left")
        now["new_disputes"] = now[CUSTOMER_ID].map(_new_disputes(run, prev_as_of)).fillna(0)
        summary["previous_run"] = {
            "run_id": str(previous["run_id"].iloc[0]),
            "as_of": prev_as_of.date().isoformat(),
        }
    total = now[kpi.OPEN_AR].sum()
    shares = (
        now.set_index(CUSTOMER_ID)[kpi.OPEN_AR] / total if total > 0 else pd.Series(dtype=float)
    )
    arrears = (
        None
        if forecast is None
        else forecast.rename(columns={"days_past_due": kpi.DPD})[
            [CUSTOMER_ID, kpi.DPD, "open_amount", "p_dpd30"]
        ]
    )
    screens = bust_out_screens(
        led.customers, led.invoices, led.events, run.as_of, settings.alerts.surge
    )
    return alerts(
        now, before, shares, settings.alerts, arrears, views["signals"], run.as_of, screens
    )


def _new_disputes(run: Run, since: pd.Timestamp) -> pd.Series:
    led, t = run.ledger, pd.Timestamp(run.as_of)
    inv = led.invoices
    new = inv.loc[inv[DISPUTED].astype(bool) & (inv[ISSUED_ON] > since) & (inv[ISSUED_ON] <= t)]
    ev = led.events.loc[
        (led.events[KIND] == "dispute_opened")
        & (led.events[EVENT_ON] > since)
        & (led.events[EVENT_ON] <= t)
    ]
    return pd.concat([new[CUSTOMER_ID], ev[CUSTOMER_ID]]).value_counts()
