"""The payment-timing stage of a run: fit (or reuse) the payment model, forecast every open invoice
and the weekly cash collections.

Writes into the run folder ``payment_forecast.csv`` (``invoice_id, customer_id, p_paid_by_due,
p_dpd30, p_dpd60, p_dpd90, expected_paid_on, paid_on_lo, paid_on_hi`` and more),
``cash_forecast.csv`` (``week, expected, lo, hi, segment`` and the week's dates),
``payment_model.nc`` (posterior with provenance) and ``payment.json`` (summary, diagnostics,
effects in days). The decisions stage reads the forecast for the worklist and the alerts.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from creditlab import kpi
from creditlab.config import parse_section, reject_unknown_keys
from creditlab.decisions.settings import BehaviourRules
from creditlab.errors import ConfigError
from creditlab.ledger.schema import CUSTOMER_ID, DUE_ON, INDUSTRY, INVOICE_ID
from creditlab.models.diagnostics import GateConfig
from creditlab.models.payment import PaymentConfig, PaymentModel, payment_frame
from creditlab.models.payment_forecast import cash_forecast
from creditlab.models.pd import SamplerConfig
from creditlab.pipeline import Run, cached_fit, save_fit_of_run
from creditlab.provenance import json_default
from creditlab.segments import payment_behaviour

__all__ = [
    "CASH_FILE",
    "FORECAST_COLUMNS",
    "FORECAST_FILE",
    "PAYMENT_MODEL_FILE",
    "PAYMENT_SUMMARY_FILE",
    "PaymentSettings",
    "parse_payment_settings",
    "read_forecast",
    "run_payment_stage",
]

log = logging.getLogger(__name__)

FORECAST_FILE, CASH_FILE = "payment_forecast.csv", "cash_forecast.csv"
PAYMENT_MODEL_FILE, PAYMENT_SUMMARY_FILE = "payment_model.nc", "payment.json"
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
_SEGMENT_BY = ("behaviour", "industry", "none")


@dataclasses.dataclass(frozen=True)
class PaymentSettings:
    """The ``payment_model:`` section of a params file."""

    enabled: bool = True
    cache: bool = True
    weeks: int = 13
    draws: int = 400
    segment_by: str = "behaviour"
    model: PaymentConfig = PaymentConfig()
    sampler: SamplerConfig = SamplerConfig()
    gate: GateConfig = GateConfig()

    def key(self, data_hash: str, as_of: dt.date) -> str:
        """Cache key: same data, as-of date and settings give the same fit."""
        fit_part = [dataclasses.asdict(self.model), dataclasses.asdict(self.sampler)]
        text = json.dumps(["payment", data_hash, as_of.isoformat(), fit_part], default=str)
        return hashlib.sha256(text.encode()).hexdigest()


def parse_payment_settings(
    raw: Mapping[str, Any] | None, where: str = "payment_model"
) -> PaymentSettings:
    """Check the ``payment_model`` params section before any data is read or sampled."""
    if raw is None:
        return PaymentSettings(enabled=False)
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a mapping")
    reject_unknown_keys(raw, {f.name for f in dataclasses.fields(PaymentSettings)}, where)
    settings = PaymentSettings(
        enabled=bool(raw.get("enabled", True)),
        cache=bool(raw.get("cache", True)),
        weeks=int(raw.get("weeks", 13)),
        draws=int(raw.get("draws", 400)),
        segment_by=str(raw.get("segment_by", "behaviour")),
        model=parse_section(PaymentConfig, raw.get("model"), f"{where}.model"),
        sampler=parse_section(
            SamplerConfig,
            {"draws": 500, "tune": 500, **(raw.get("sampler") or {})},
            f"{where}.sampler",
        ),  # fmt: skip
        gate=parse_section(GateConfig, raw.get("gate"), f"{where}.gate"),
    )
    if not 1 <= settings.weeks <= 52:
        raise ConfigError(f"{where}.weeks: between 1 and 52, got {settings.weeks}")
    if settings.draws < 50:
        raise ConfigError(f"{where}.draws: at least 50, got {settings.draws}")
    if settings.segment_by not in _SEGMENT_BY:
        raise ConfigError(f"{where}.segment_by: one of {list(_SEGMENT_BY)}")
    return settings


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


def run_payment_stage(
    run: Run, settings: PaymentSettings, behaviour: BehaviourRules | None = None
) -> dict[str, Any]:
    """Fit or reuse the payment model, gate it, forecast open invoices and weekly collections.

    Raises
    ------
    ConvergenceError
        The fit failed the convergence gate and ``settings.gate.fatal`` is set.
    """
    summary: dict[str, Any] = {"enabled": settings.enabled}
    if not settings.enabled:
        return summary
    led, run_dir, prob = run.ledger, run.run_dir, run.params.interval_prob
    mc = settings.model
    frame = payment_frame(led.invoices, led.customers, run.as_of, mc, group=mc.group)
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
    if model is None:
        model = PaymentModel(mc, settings.sampler).fit(frame)
    gate = model.gate(settings.gate)
    save_fit_of_run(
        run, model, PAYMENT_MODEL_FILE, key, settings.cache, summary["reused_cached_fit"]
    )

    items = kpi.open_items(led.invoices, run.as_of)[[INVOICE_ID, kpi.OPEN_AR]]
    open_frame = frame.merge(items, on=INVOICE_ID, how="inner").reset_index(drop=True)
    result, simulated = model.forecast(
        open_frame, run.as_of, settings.weeks, settings.draws, prob, seed=run.params.seed
    )
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
            "expected_days_late": result["expected_days"],
        }
    )
    forecast.to_csv(run_dir / FORECAST_FILE, index=False)
    segments = _segments(run, settings, behaviour or BehaviourRules())
    seg = None if segments is None else open_frame[CUSTOMER_ID].map(segments).fillna("unknown")
    cash = cash_forecast(
        simulated, open_frame[DUE_ON], open_frame[kpi.OPEN_AR].to_numpy(), run.as_of,
        settings.weeks, prob, seg,
    )  # fmt: skip
    cash.to_csv(run_dir / CASH_FILE, index=False)

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
            "open_invoices": len(forecast),
        },
        timings=model.timings,
        effects=model.effects_table(prob).to_dict(orient="records"),
        sigma_customer_days=model.customer_spread_days(prob),
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
    (run_dir / PAYMENT_SUMMARY_FILE).write_text(
        json.dumps(summary, indent=2, default=json_default) + "\n"
    )
    return summary


def _simulated_total(
    simulated: np.ndarray, frame: pd.DataFrame, as_of: dt.date, weeks: int, prob: float
) -> dict[str, float]:
    """Total collections over the forecast horizon: mean and interval over draws."""
    offset = (pd.to_datetime(frame[DUE_ON]) - pd.Timestamp(as_of)).dt.days.to_numpy()
    inside = (offset[None, :] + simulated) <= 7 * weeks  # NaN (not within a year) is False
    totals = (inside * frame[kpi.OPEN_AR].to_numpy()[None, :]).sum(axis=1)
    lo, hi = np.quantile(totals, [(1 - prob) / 2, (1 + prob) / 2])
    return {"expected": float(totals.mean()), "lo": float(lo), "hi": float(hi)}


def read_forecast(run_dir: str | Path) -> pd.DataFrame | None:
    """The run's ``payment_forecast.csv`` (None when the run has none)."""
    path = Path(run_dir) / FORECAST_FILE
    if not path.is_file():
        return None
    return pd.read_csv(path, dtype={INVOICE_ID: "string", CUSTOMER_ID: "string"})
