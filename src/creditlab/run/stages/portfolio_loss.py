"""The portfolio-loss stage of a run: how bad a year can get, gross and net of credit insurance.

Runs after the decisions stage, from the same PD draws (``pd_model.nc``) and LGD draws it used
(same seed, so the expected loss here is the ECL there), thinned to ``posterior_draws``. The
systematic correlation is updated from the ledger's monthly default cohorts where they allow.
Writes (names other parts rely on) ``loss_distribution.csv``, ``loss_contributions.csv``,
``loss_curve.csv`` and ``portfolio_loss.json``.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np
import pandas as pd

from creditlab import kpi
from creditlab.decisions.correlation import (
    CorrelationPosterior,
    correlation_posterior,
    default_cohorts,
)
from creditlab.decisions.draws import lgd_draws, thin
from creditlab.decisions.insurance import Insurance
from creditlab.decisions.loss_settings import PortfolioLossSettings
from creditlab.decisions.settings import DecisionSettings
from creditlab.errors import ConfigError
from creditlab.ledger.schema import COUNTRY, CUSTOMER_ID, INDUSTRY, NAME
from creditlab.run.folder import (
    LOSS_CONTRIBUTIONS_FILE,
    LOSS_CURVE_FILE,
    LOSS_DISTRIBUTION_FILE,
    PD_MODEL_FILE,
    PORTFOLIO_LOSS_FILE,
    TABLE_FILE,
)
from creditlab.run.prepare import Run
from creditlab.run.stages.base import timed
from creditlab.run.stages.decisions import decision_seed, lgd_labels, pd_draws

__all__ = ["PortfolioLossStage", "loss_inputs", "loss_seed"]

log = logging.getLogger(__name__)


def loss_seed(run: Run, settings: PortfolioLossSettings) -> int:
    """The simulation's seed: its own, else the run's."""
    return settings.seed or run.params.seed


def _sectors(table: pd.DataFrame, customers: pd.DataFrame, by: str) -> np.ndarray:
    if by == "none":
        return np.full(len(table), "all", dtype=object)
    if by == "industry":
        return table[INDUSTRY].astype(str).to_numpy()
    country = customers.set_index(CUSTOMER_ID)[COUNTRY].astype(str)
    return table[CUSTOMER_ID].map(country).fillna("unknown").astype(str).to_numpy()


def loss_inputs(
    run: Run,
    settings: PortfolioLossSettings,
    systematic: np.ndarray,
    sector: np.ndarray,
    insurance: Insurance | None,
) -> tuple[pd.DataFrame, Any]:
    """The decision table and the simulation's inputs: the decisions stage's PD and LGD draws,
    thinned to ``posterior_draws``, with the given correlation draws.

    Raises
    ------
    ConfigError
        The run has no decisions (no PD model in it).
    """
    from creditlab.decisions.portfolio_loss import LossInputs  # loads the compiler on first use

    decisions: DecisionSettings = run.params.decisions
    path = run.run_dir / TABLE_FILE
    if not path.is_file() or not (run.run_dir / PD_MODEL_FILE).is_file():
        raise ConfigError(f"{run.run_dir}: no decisions in this run (it needs the PD model)")
    table = pd.read_parquet(path)
    seed = decision_seed(run, decisions)
    draws = pd_draws(run.run_dir, table, decisions.draws, seed)
    lgd = lgd_draws(table[CUSTOMER_ID], lgd_labels(table, decisions), decisions, len(draws), seed)
    draws, lgd = thin(draws, settings.posterior_draws), thin(lgd, settings.posterior_draws)
    inputs = LossInputs(
        customer_ids=table[CUSTOMER_ID].astype(str).to_numpy(),
        sectors=_sectors(table, run.ledger.customers, settings.sector_by),
        ead=table[kpi.OPEN_AR].fillna(0.0).to_numpy(dtype=float),
        pd_draws=draws,
        lgd_draws=lgd,
        systematic=np.asarray(systematic, dtype=float)[: len(draws)],
        sector=np.asarray(sector, dtype=float)[: len(draws)],
        insurance=insurance,
    )
    return table, inputs


@dataclasses.dataclass(frozen=True)
class PortfolioLossStage:
    """The portfolio-loss stage; settings from the params' ``portfolio_loss:`` and ``insurance:``."""

    settings: PortfolioLossSettings
    insurance: Insurance | None = None
    name = "loss"
    section = "portfolio_loss"
    summary_file = PORTFOLIO_LOSS_FILE
    manifest_keys = ("enabled", "left_out", "es", "var", "reserve", "timings_s")

    def check(self, run: Run) -> None:
        """A country sector needs the customers' countries."""
        if self.settings.enabled and self.settings.sector_by == "country":
            countries = run.ledger.customers[COUNTRY]
            if countries.isna().all():
                raise ConfigError(
                    f"{run.params.source}: portfolio_loss.sector_by: country, but the ledger's "
                    "customers have no country; use industry or none"
                )

    def compute(self, run: Run) -> dict[str, Any]:
        """Simulate and write the files; returns the summary."""
        if not self.settings.enabled:
            return {"enabled": False}
        if not (run.run_dir / TABLE_FILE).is_file():
            return {
                "enabled": True,
                "left_out": [
                    "the loss distribution: no PD model (and so no decisions) in this run"
                ],
            }
        return _simulate(run, self.settings, self.insurance)


def _simulate(
    run: Run, settings: PortfolioLossSettings, insurance: Insurance | None
) -> dict[str, Any]:
    from creditlab.decisions.portfolio_loss import correlation_draws, simulate

    timings: dict[str, float] = {}
    seed, prob = loss_seed(run, settings), run.params.interval_prob
    with timed(timings, "correlation"):
        if settings.learn_correlation:
            led, m = run.ledger, run.params.pd_model.default_materiality
            cohorts = default_cohorts(led.invoices, led.events, run.as_of, materiality=m)
            posterior = correlation_posterior(
                cohorts, settings.systematic, settings.min_cohort_years
            )
        else:
            posterior = CorrelationPosterior.prior_only(
                settings.systematic, "learn_correlation is off: the prior is used"
            )
        systematic, sector = correlation_draws(settings, posterior, settings.posterior_draws, seed)
    with timed(timings, "draws"):
        table, inputs = loss_inputs(run, settings, systematic, sector, insurance)
    with timed(timings, "simulation"):
        result = simulate(inputs, settings, prob, seed)
    extra = table[[CUSTOMER_ID, NAME, INDUSTRY, "grade"]].assign(
        **{CUSTOMER_ID: table[CUSTOMER_ID].astype(str)}
    )
    contributions = result.contributions.merge(extra, on=CUSTOMER_ID, how="left").sort_values(
        ["es_contribution", "el"], ascending=False
    )
    contributions.to_csv(run.run_dir / LOSS_CONTRIBUTIONS_FILE, index=False)
    result.distribution.to_csv(run.run_dir / LOSS_DISTRIBUTION_FILE, index=False)
    result.curve.to_csv(run.run_dir / LOSS_CURVE_FILE, index=False)
    summary: dict[str, Any] = {"enabled": True, "left_out": [], **result.summary}
    summary["correlation"] |= posterior.summary(prob) | {
        "sector_by": settings.sector_by,
        "systematic_draws": inputs.systematic.tolist(),
        "sector_draws": inputs.sector.tolist(),
    }
    summary["seed"] = seed
    summary["timings_s"] = timings
    return summary
