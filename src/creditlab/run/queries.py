"""Questions asked of a finished run: approve an order, set up a what-if, a customer's PD history,
the newest run with decisions, which customers to review, what a reader must be warned about.

Everything here reads the run folder (and re-draws from the stored posteriors where it must); it
never fits a model or changes a file of the run.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from creditlab.decisions.draws import lgd_draws
from creditlab.decisions.limits import OrderDecision, approve_order, max_order
from creditlab.decisions.provisions import provision_matrix
from creditlab.decisions.whatif import WhatIfBase
from creditlab.errors import ConfigError
from creditlab.features import SIGNAL_FEATURES, snapshot_features
from creditlab.ledger.schema import (
    CUSTOMER_ID,
    IN_DEFAULT,
    OPEN_AR,
    PD_HI,
    PD_LO,
    PD_MEAN,
)
from creditlab.models.pd import PDModel
from creditlab.run.folder import (
    ALERTS_FILE,
    FORECAST_FILE,
    KPI_TABLES,
    MANIFEST_FILE,
    PAYMENT_SUMMARY_FILE,
    PD_MODEL_FILE,
    PD_SUMMARY_FILE,
    PORTFOLIO_LOSS_FILE,
    TABLE_FILE,
    RunFolder,
)
from creditlab.run.manifest import read_manifest
from creditlab.run.prepare import Run, ledger_dates, open_run
from creditlab.run.stages.decisions import decision_seed, lgd_labels, pd_draws, segment_label
from creditlab.run.stages.portfolio_loss import loss_inputs
from creditlab.signals import with_signal_features

if TYPE_CHECKING:
    from creditlab.decisions.portfolio_loss import LossInputs
    from creditlab.decisions.settings import DecisionSettings

__all__ = [
    "approve",
    "check_customer",
    "customers_to_review",
    "latest_decided_run",
    "loss_base",
    "order_headroom",
    "pd_history",
    "pd_model",
    "ranked_alerts",
    "read_forecast",
    "run_warnings",
    "whatif_base",
]


def _decision_table(run_dir: str | Path) -> pd.DataFrame:
    path = Path(run_dir) / TABLE_FILE
    if not path.is_file():
        raise ConfigError(
            f"{run_dir}: no decisions in this run (it needs the PD model and the decisions stage)"
        )
    return pd.read_parquet(path)


def whatif_base(run_dir: str | Path) -> WhatIfBase:
    """Load a finished run's decisions, draws and provision matrix for what-if analysis.

    Raises
    ------
    ConfigError
        The run has no decisions (no PD model in it).
    """
    run = open_run(run_dir)
    settings = run.params.decisions
    table = _decision_table(run_dir)
    seed = decision_seed(run, settings)
    draws = pd_draws(Path(run_dir), table, settings.draws, seed)
    lgd = lgd_draws(table[CUSTOMER_ID], lgd_labels(table, settings), settings, len(draws), seed)
    segment_of = segment_label(table, run.ledger.customers, settings.provisions.segment_by)
    pm = provision_matrix(
        run.ledger.invoices, run.ledger.events, run.as_of, settings.provisions, segment_of,
        settings.draws, run.params.interval_prob, seed,
    )  # fmt: skip
    return WhatIfBase(table, draws, lgd, pm, settings, run.params.interval_prob)


def loss_base(run_dir: str | Path) -> tuple[Run, LossInputs]:
    """A finished run and the inputs of its loss simulation (the same PD, LGD and correlation
    draws, the same policy), for what-if questions such as "insure customer X for Y".

    Raises
    ------
    ConfigError
        The run has no loss distribution (portfolio_loss off, or no PD model).
    """
    run = open_run(run_dir)
    summary = RunFolder(Path(run_dir)).read_json(PORTFOLIO_LOSS_FILE)
    if summary is None or "correlation" not in summary:
        raise ConfigError(
            f"{run_dir}: no loss distribution in this run (it needs portfolio_loss: in the params "
            "and the PD model)"
        )
    corr = summary["correlation"]
    _, inputs = loss_inputs(
        run, run.params.portfolio_loss, corr["systematic_draws"], corr["sector_draws"],
        run.params.insurance,
    )  # fmt: skip
    return run, inputs


def approve(run_dir: str | Path, customer_id: str, amount: float) -> OrderDecision:
    """Check an order against a completed run's limits and risk appetite.

    Raises
    ------
    ConfigError
        The run has no decisions (no PD model), the customer is unknown, or the amount is not
        positive.
    """
    if not amount > 0:
        raise ConfigError(f"the order amount must be positive, got {amount}")
    row, draws, lgd, settings = _order_inputs(run_dir, customer_id)
    return approve_order(row, amount, draws, lgd, settings.appetite, settings.economics.ccf)


def order_headroom(run_dir: str | Path, customer_id: str) -> tuple[float, str]:
    """The largest order a completed run approves on the spot for the customer, and what stops a
    larger one (:func:`creditlab.decisions.limits.max_order`). Raises as :func:`approve`."""
    row, draws, lgd, settings = _order_inputs(run_dir, customer_id)
    return max_order(row, draws, lgd, settings.appetite, settings.economics.ccf)


def _order_inputs(
    run_dir: str | Path, customer_id: str
) -> tuple[pd.Series, np.ndarray, np.ndarray, DecisionSettings]:
    """The customer's decision-table row, its PD and LGD draws, and the decision settings."""
    run = open_run(run_dir)
    settings = run.params.decisions
    table = _decision_table(run_dir)
    rows = table.loc[table[CUSTOMER_ID].astype(str) == str(customer_id)]
    if rows.empty:
        raise ConfigError(
            f"customer {customer_id!r} is not among the {len(table):,} scored customers of {run_dir}"
        )
    seed = decision_seed(run, settings)
    one = rows[[CUSTOMER_ID, IN_DEFAULT]].reset_index(drop=True)
    draws = pd_draws(Path(run_dir), one, settings.draws, seed)[:, 0]
    lgd = lgd_draws(
        one[CUSTOMER_ID], lgd_labels(rows.iloc[:1], settings), settings, len(draws), seed
    )[:, 0]
    return rows.iloc[0], draws, lgd, settings


def pd_model(run: Run) -> PDModel:
    """The run's fitted PD model, read from its folder once per file version (the customer 360
    asks for it at every pick)."""
    path = run.run_dir / PD_MODEL_FILE
    return _load_pd_model(str(path), path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=2)
def _load_pd_model(path: str, mtime_ns: int) -> PDModel:
    return PDModel.load(Path(path))


def pd_history(run: Run, customer_id: str, quarters: int = 8) -> pd.DataFrame:
    """A customer's PD at the as-of date and at the previous quarter-ends, from the run's model.

    Each point applies the fitted model to the features the customer had on that date (what the
    model would have said then), with ``prob`` credible intervals; dates before onboarding are
    left out, and a date in default (the params' materiality and cure) has PD 1. Returns ``date, pd_mean, pd_lo, pd_hi, in_default``.
    """
    model = pd_model(run)
    led, prob, m = run.ledger, run.params.interval_prob, run.params.pd_model.default_materiality
    cure = run.params.pd_model.cure_months
    customers = led.customers.loc[led.customers[CUSTOMER_ID].astype(str) == str(customer_id)]
    invoices = led.invoices.loc[led.invoices[CUSTOMER_ID].astype(str) == str(customer_id)]
    events = led.events.loc[led.events[CUSTOMER_ID].astype(str) == str(customer_id)]
    days = [
        (pd.Timestamp(run.as_of) - pd.DateOffset(months=3 * k)).date()
        for k in range(quarters - 1, -1, -1)
    ]
    feats = pd.concat(
        [
            snapshot_features(customers, invoices, events, day, m, cure).assign(date=day)
            for day in days
        ],
        ignore_index=True,
    )
    if set(SIGNAL_FEATURES) & set(model.predictors):  # relationship signals the PD stage kept
        feats = with_signal_features(feats, customers, invoices, events)
    alive = feats.loc[~feats[IN_DEFAULT].astype(bool)]
    rows = [  # defaulted dates: PD 1; the others from one pass over the posterior draws
        {"date": day, PD_MEAN: 1.0, PD_LO: 1.0, PD_HI: 1.0, IN_DEFAULT: True}
        for day in feats.loc[feats[IN_DEFAULT].astype(bool), "date"]
    ]
    if len(alive):
        draws = model.predict_draws(alive)
        lo, hi = np.quantile(draws, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
        rows += [
            {"date": day, PD_MEAN: float(m), PD_LO: float(a), PD_HI: float(b), IN_DEFAULT: False}
            for day, m, a, b in zip(alive["date"], draws.mean(axis=0), lo, hi, strict=True)
        ]
    rows.sort(key=lambda r: r["date"])
    return pd.DataFrame(rows, columns=["date", PD_MEAN, PD_LO, PD_HI, IN_DEFAULT])


def latest_decided_run(
    out: str | Path, params_sha256: str, as_of: str | None = None
) -> Path | None:
    """The newest succeeded run under ``out`` made from the same params file (and as-of date),
    with decisions in it; None when there is none."""
    found = []
    for path in Path(out).glob(f"*/{MANIFEST_FILE}"):
        try:
            manifest = read_manifest(path.parent)
        except ConfigError:
            continue
        if (
            manifest.get("status") == "succeeded"
            and manifest.get("params_sha256") == params_sha256
            and (as_of is None or manifest.get("as_of") == as_of)
            and (path.parent / TABLE_FILE).is_file()
        ):
            found.append((manifest.get("finished_at", ""), path.parent))
    return max(found)[1] if found else None


def check_customer(run: Run, customer_id: str) -> None:
    """Raise :class:`ConfigError` unless ``customer_id`` is a customer of the run's ledger."""
    known = run.ledger.customers[CUSTOMER_ID].astype(str)
    if str(customer_id) not in set(known):
        raise ConfigError(
            f"customer {customer_id!r} is not in the ledger ({len(known):,} customers, "
            f"e.g. {', '.join(known.head(3))})"
        )


def ranked_alerts(run_dir: Path) -> pd.DataFrame | None:
    """The run's alerts (``alerts.csv``) with each customer's open AR at the run date (the KPI
    stage's), most severe first and, within a severity, the largest open AR first; None when the
    run has no alerts file."""
    folder = RunFolder(Path(run_dir))
    found = folder.read_csv(ALERTS_FILE)
    if found is None:
        return None
    exposure = folder.read_parquet(KPI_TABLES["exposure"])
    ar = exposure.set_index(CUSTOMER_ID)[OPEN_AR]
    found[OPEN_AR] = found[CUSTOMER_ID].map(ar).fillna(0.0)
    found["_sev"] = found["severity"].map({"high": 0, "medium": 1, "low": 2})
    found = found.sort_values(["_sev", OPEN_AR], ascending=[True, False], kind="stable")
    return found.drop(columns="_sev").reset_index(drop=True)


def customers_to_review(run_dir: Path, n: int) -> list[str]:
    """The ``n`` customers a weekly run reviews: alerted ones first (most severe, then largest
    open AR), then the largest exposures (from the run's stages: KPIs and alerts)."""
    if n <= 0:
        return []
    exposure = RunFolder(Path(run_dir)).read_parquet(KPI_TABLES["exposure"])
    ar = exposure.set_index(CUSTOMER_ID)[OPEN_AR]
    order: list[str] = []
    found = ranked_alerts(run_dir)
    if found is not None:
        order += [c for c in found[CUSTOMER_ID].dropna() if c != ""]
    order += list(ar.sort_values(ascending=False).index)
    return list(dict.fromkeys(order))[:n]


def run_warnings(run: Run) -> list[str]:
    """What a reader must know before trusting the run: models not fitted or failing their gate,
    many rejected rows, stale data."""
    folder = RunFolder(run.run_dir)
    out = []
    pd_summary = folder.read_json(PD_SUMMARY_FILE)
    if pd_summary is not None:
        if pd_summary.get("skipped"):
            out.append(f"The PD model was not fitted: {pd_summary['skipped']}.")
        elif pd_summary.get("gate") and not pd_summary["gate"]["passed"]:
            out.append("The PD model failed its convergence gate: treat every PD as unreliable.")
    payment = folder.read_json(PAYMENT_SUMMARY_FILE)
    if payment and payment.get("gate") and not payment["gate"]["passed"]:
        out.append(
            "The payment-timing model failed its convergence gate: treat payment forecasts, the "
            "cash forecast and arrears alerts as unreliable."
        )
    counts = run.ledger.counts
    share = counts["rejected"].sum() / max(counts["read"].sum(), 1)
    if share > run.params.max_reject_share:
        out.append(
            f"{share * 100:.1f} % of input rows were rejected (more than "
            f"{run.params.max_reject_share * 100:.1f} %); see Data quality."
        )
    t = pd.Timestamp(run.as_of)
    dates = ledger_dates(run.ledger)
    dates = dates.loc[dates <= t]
    if dates.empty:
        out.append("The ledger holds no activity on or before the as-of date.")
    elif (t - dates.max()).days > run.params.stale_days:
        out.append(
            f"Stale data: the last invoice or payment is dated {dates.max():%d %B %Y}, "
            f"{(t - dates.max()).days} days before the as-of date."
        )
    return out


def read_forecast(run_dir: str | Path) -> pd.DataFrame | None:
    """The run's payment forecast per open invoice (None when the run has none)."""
    return RunFolder(Path(run_dir)).read_csv(FORECAST_FILE)
