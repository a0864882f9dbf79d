"""The payment-timing stage of a run: fit (or reuse) the payment model, forecast every open invoice
and the weekly cash collections.

Writes into the run folder ``payment_forecast.csv`` (``invoice_id, customer_id, p_paid_by_due,
p_dpd30, p_dpd60, p_dpd90, expected_paid_on, paid_on_lo, paid_on_hi`` and more),
``cash_forecast.csv`` (``week, expected, lo, hi, segment`` and the week's dates),
``payment_calendar.csv`` (each customer's payment weekdays and typical timing),
``payment_model.nc`` (posterior with provenance) and ``payment.json`` (summary, diagnostics,
effects in days). The decisions stage reads the forecast for the worklist and the alerts.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from typing import Any

import numpy as np
import pandas as pd

from creditlab import kpi
from creditlab.decisions.settings import BehaviourRules
from creditlab.ledger.schema import CUSTOMER_ID, DUE_ON, IN_DEFAULT, INDUSTRY, INVOICE_ID, PAID_ON
from creditlab.models.diagnostics import GateResult
from creditlab.models.payment import PaymentModel
from creditlab.models.payment_data import payment_frame
from creditlab.models.payment_forecast import cash_forecast
from creditlab.models.payment_promises import PendingPromises
from creditlab.run.fit_cache import cached_fit, save_fit_of_run
from creditlab.run.folder import (
    CASH_FILE,
    FORECAST_FILE,
    PAYMENT_CALENDAR_FILE,
    PAYMENT_MODEL_FILE,
    PAYMENT_SUMMARY_FILE,
    PD_MODEL_FILE,
    SCORES_FILE,
)
from creditlab.run.prepare import Run
from creditlab.run.settings import PaymentSettings
from creditlab.run.stages.base import extend_until_converged, run_stage
from creditlab.run.stages.decisions import pd_draws
from creditlab.segments import payment_behaviour
from creditlab.signals import PROMISE_GRACE_DAYS, promise_outcomes

__all__ = [
    "FORECAST_COLUMNS",
    "PAYMENT_ADVICE",
    "PaymentStage",
    "fit_until_converged",
    "run_payment_stage",
]

log = logging.getLogger(__name__)

PAYMENT_ADVICE = (
    "what to change: more tuning and draws (payment_model.sampler: tune, draws), more "
    "extensions (payment_model.extend_rounds, up to 3), or gate: {fatal: false} to render the "
    "report with this failure at its top"
)
FORECAST_COLUMNS = [
    INVOICE_ID,
    CUSTOMER_ID,
    "p_paid_by_due",
    "p_dpd30",
    "p_dpd60",
    "p_dpd90",
    "expected_paid_on",
    "paid_on_lo",
    "paid_on_hi",
]


@dataclasses.dataclass(frozen=True)
class PaymentStage:
    """The payment-timing stage; settings from the params' ``payment_model:``, behaviour segments
    (for the cash forecast by segment) from ``decisions.behaviour``."""

    settings: PaymentSettings
    behaviour: BehaviourRules = BehaviourRules()
    name = "payments"
    section = "payment_model"
    summary_file = PAYMENT_SUMMARY_FILE
    manifest_keys = ("enabled", "skipped", "reused_cached_fit", "gate", "timings", "collections")

    def check(self, run: Run) -> None:
        """Nothing to check against the data: the settings were checked when the params loaded."""

    def compute(self, run: Run) -> dict[str, Any]:
        """Fit (or reuse), gate and forecast; returns the summary."""
        return _fit_and_forecast(run, self.settings, self.behaviour)


def run_payment_stage(
    run: Run, settings: PaymentSettings | None = None, behaviour: BehaviourRules | None = None
) -> dict[str, Any]:
    """Run the payment stage on a prepared run (settings: the params' unless given).

    Raises
    ------
    ConvergenceError
        The fit failed the convergence gate and ``settings.gate.fatal`` is set.
    """
    stage = PaymentStage(
        settings or run.params.payment_model, behaviour or run.params.decisions.behaviour
    )
    return run_stage(stage, run)


def _segments(run: Run, settings: PaymentSettings, rules: BehaviourRules) -> pd.Series | None:
    led = run.ledger
    if settings.segment_by == "none":
        return None
    if settings.segment_by == "industry":
        return led.customers.set_index(CUSTOMER_ID)[INDUSTRY].astype(str)
    behaviour = payment_behaviour(led.customers, led.invoices, run.as_of, rules)
    return behaviour.set_index(CUSTOMER_ID)["behaviour"]


def _dates(due: pd.Series, days: pd.Series) -> pd.Series:
    """``due + days`` (whole days); missing where ``days`` is."""
    offset = pd.to_timedelta(np.round(days.to_numpy(dtype=float)), unit="D")
    return (pd.to_datetime(due).reset_index(drop=True) + offset).dt.date


def fit_until_converged(
    frame: pd.DataFrame, settings: PaymentSettings
) -> tuple[PaymentModel, int, GateResult]:
    """Fit; while the gate fails and ``settings.extend_rounds`` allows, fit again with tuning and
    draws doubled. Returns the last fit, how many times it was extended and its gate (checked
    without raising: the caller applies the params' ``fatal``)."""
    quiet = dataclasses.replace(settings.gate, fatal=False)
    return extend_until_converged(
        lambda sampler: PaymentModel(settings.model, sampler).fit(frame),
        lambda model: model.gate(quiet),
        settings.sampler,
        settings.extend_rounds,
        "payment model",
    )


def _fit_and_forecast(
    run: Run, settings: PaymentSettings, behaviour: BehaviourRules
) -> dict[str, Any]:
    """Fit or reuse the payment model, gate it, forecast open invoices and weekly collections."""
    summary: dict[str, Any] = {"enabled": settings.enabled}
    if not settings.enabled:
        return summary
    led, run_dir, prob = run.ledger, run.run_dir, run.params.interval_prob
    mc = settings.model
    frame = payment_frame(
        led.invoices, led.customers, run.as_of, mc, group=mc.group, events=led.events
    )
    if frame["paid"].sum() < 20:
        summary["skipped"] = (
            f"only {int(frame['paid'].sum())} invoices paid by the as-of date: too few to learn "
            "payment timing"
        )
        log.warning("payment model not fitted: %s", summary["skipped"])
        return summary
    key = settings.key(led.data_hash, run.as_of)
    model = (
        cached_fit(run.params.store, key, PaymentModel.load, "payment-model")
        if settings.cache
        else None
    )
    summary["reused_cached_fit"] = model is not None
    gate = None
    if model is None:
        model, summary["extended"], gate = fit_until_converged(frame, settings)
    if gate is None or not gate.passed:  # a failure raises or warns as the params say
        gate = model.gate(settings.gate, advice=PAYMENT_ADVICE)
    save_fit_of_run(
        run, model, PAYMENT_MODEL_FILE, key, settings.cache, summary["reused_cached_fit"]
    )

    items = kpi.open_items(led.invoices, run.as_of)[[INVOICE_ID, kpi.OPEN_AR]]
    open_frame = frame.merge(items, on=INVOICE_ID, how="inner").reset_index(drop=True)
    defaults = _default_draws(run, open_frame, settings.draws) if model.stall else None
    promises = PendingPromises(
        open_frame, promise_outcomes(led.events, led.invoices, run.as_of), PROMISE_GRACE_DAYS
    )
    result, simulated = model.forecast(
        open_frame, run.as_of, settings.weeks, settings.draws, prob, run.params.seed, defaults,
        promises,
    )  # fmt: skip
    forecast = pd.DataFrame(
        {
            INVOICE_ID: open_frame[INVOICE_ID],
            CUSTOMER_ID: open_frame[CUSTOMER_ID],
            **{c: result[c] for c in ("p_paid_by_due", "p_dpd30", "p_dpd60", "p_dpd90")},
            "expected_paid_on": _dates(open_frame[DUE_ON], result["expected_days"]),
            "paid_on_lo": _dates(open_frame[DUE_ON], result["days_lo"]),
            "paid_on_hi": _dates(open_frame[DUE_ON], result["days_hi"]),
            "open_amount": open_frame[kpi.OPEN_AR],
            "due_on": pd.to_datetime(open_frame[DUE_ON]).dt.date,
            "days_past_due": open_frame["dpd_now"],
            "p_unpaid_1y": result["p_unpaid_1y"],
            "p_stall": result["p_stall"],
            "in_stall": open_frame["stall_from"].notna(),
            # the customer's PD drove the default path (scored, not yet in default)
            "with_pd": False if defaults is None else (defaults > 0).any(axis=0),
            "expected_days_late": result["expected_days"],
            # the day a pending promise said it would be paid, and the chance it is kept
            "promised_on": _dates(open_frame[DUE_ON], pd.Series(promises.promised)),
            "p_keep_promise": result["p_keep_promise"],
        }
    )
    forecast.to_csv(run_dir / FORECAST_FILE, index=False)
    segments = _segments(run, settings, behaviour)
    seg = None if segments is None else open_frame[CUSTOMER_ID].map(segments).fillna("unknown")
    cash = cash_forecast(
        simulated, open_frame[DUE_ON], open_frame[kpi.OPEN_AR].to_numpy(), run.as_of,
        settings.weeks, prob, seg,
    )  # fmt: skip
    cash.to_csv(run_dir / CASH_FILE, index=False)
    model.calendar_table(frame, prob).to_csv(run_dir / PAYMENT_CALENDAR_FILE, index=False)

    totals = _simulated_total(simulated, open_frame, run.as_of, settings.weeks, prob)
    summary.update(
        gate=gate.to_dict(),
        model_config=dataclasses.asdict(model.model_config),
        sampler_config={**dataclasses.asdict(model.sampler_config), **model.sampled_with},
        covariates=model.covariates,
        centred=model.centred,
        counts={
            "invoices": model.n_invoices,
            "paid": model.n_paid,
            "cells": model.n_cells,
            "customers": len(model.customers),
            "fitted_customers": len(model.fitted),
            "open_invoices": len(forecast),
        },
        timings=model.timings,
        effects=model.effects_table(prob).to_dict(orient="records"),
        sigma_customer_days=model.customer_spread_days(prob),
        due_week={"rho": model.week_rho, "weeks": model.week_count},
        month_turn=model.month_turn,
        calendar_pooling=model.calendar_k if model.model_config.calendar else None,
        own_shapes=len(model.shape_customers),
        promises=promises.summary(
            result["p_keep_promise"].to_numpy(), open_frame[kpi.OPEN_AR].to_numpy(), prob
        ),
        stall=_stall_summary(
            model, forecast, defaults is not None, prob, bool(led.invoices[PAID_ON].notna().all())
        ),
        collections=totals,
        open_amount=float(forecast["open_amount"].sum()),
        expected_past_90=float((forecast["open_amount"] * forecast["p_dpd90"]).sum()),
        expected_past_30=float(
            (forecast["open_amount"] * forecast["p_dpd30"])[forecast["days_past_due"] < 30].sum()
        ),
        segment_by=settings.segment_by,
        weeks=settings.weeks,
        draws=settings.draws,
    )
    return summary


def _default_draws(run: Run, frame: pd.DataFrame, n: int) -> np.ndarray | None:
    """12-month PD draws ``(draws, rows)`` for the rows' customers from this run's PD model, for
    the chance a customer defaults before its invoice is paid; None without a PD model. A
    customer without a PD (not scored) or already in default gets 0: the ledger's state says
    which of its invoices are in the stall."""
    run_dir = run.run_dir
    if not ((run_dir / SCORES_FILE).is_file() and (run_dir / PD_MODEL_FILE).is_file()):
        return None
    scores = pd.read_parquet(run_dir / SCORES_FILE)
    draws = pd_draws(run_dir, scores, n, run.params.seed)
    draws[:, scores[IN_DEFAULT].to_numpy(dtype=bool)] = 0.0
    pos = pd.Index(scores[CUSTOMER_ID].astype(str)).get_indexer(frame[CUSTOMER_ID])
    return np.where(pos[None, :] >= 0, draws[:, np.maximum(pos, 0)], 0.0)


def _stall_summary(
    model: PaymentModel, forecast: pd.DataFrame, with_pd: bool, prob: float, cleared_only: bool
) -> dict[str, Any] | None:
    """The stall in payment.json: what it was learnt from, how stalled invoices are paid, the
    open amount in it or expected to enter it, and whether every invoice of the ledger is paid
    (``cleared_only``: an export of cleared items, whose never-paid invoices are not in it, so its
    recovery rates are upper bounds)."""
    if model.stall is None:
        return None
    amount = forecast["open_amount"].to_numpy(dtype=float)
    inside = forecast["in_stall"].to_numpy(dtype=bool)
    return {
        **model.stall.summary(prob),
        "open_invoices_in_stall": int(inside.sum()),
        "open_amount_in_stall": float(amount[inside].sum()),
        "expected_amount_entering": float((amount * forecast["p_stall"])[~inside].sum()),
        "default_from_pd": with_pd,
        "cleared_only": cleared_only,
    }


def _simulated_total(
    simulated: np.ndarray, frame: pd.DataFrame, as_of: dt.date, weeks: int, prob: float
) -> dict[str, float]:
    """Total collections over the forecast horizon: mean and interval over draws."""
    offset = (pd.to_datetime(frame[DUE_ON]) - pd.Timestamp(as_of)).dt.days.to_numpy()
    inside = (offset[None, :] + simulated) <= 7 * weeks  # NaN (not within a year) is False
    totals = (inside * frame[kpi.OPEN_AR].to_numpy()[None, :]).sum(axis=1)
    lo, hi = np.quantile(totals, [(1 - prob) / 2, (1 + prob) / 2])
    return {"expected": float(totals.mean()), "lo": float(lo), "hi": float(hi)}
