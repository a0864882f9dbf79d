"""Scenario stress: PD multipliers (overall and by industry), LGD shocks, provision overlays.

Each scenario re-runs the decisions on stressed draws (no re-sampling): PD draws are multiplied
(capped below 1; customers in default stay at 1), an LGD shock is added to every LGD draw (clipped
to [0, 1]), and the provision matrix's loss rates are multiplied. :func:`decide_under` is that
one step, shared by the scenario grid and the what-if levers; the grid reports, per scenario,
total ECL and allowance with intervals, recommended limits, and grade migration against the base.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from creditlab.decisions.draws import interval
from creditlab.decisions.limits import lgd_order, recommend_limits
from creditlab.decisions.provisions import ProvisionMatrix
from creditlab.decisions.settings import Appetite, DecisionSettings, Scenario
from creditlab.ledger.schema import IN_DEFAULT, INDUSTRY, OPEN_AR, PD_MEAN
from creditlab.segments import assign_grades

__all__ = ["Decided", "decide_under", "scenario_grid", "stress"]


def stress(
    scenario: Scenario,
    pd_draws: np.ndarray,
    lgd_draws: np.ndarray,
    industry: np.ndarray,
    in_default: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """PD and LGD draws under ``scenario``."""
    mult = (
        np.array([scenario.industry_multipliers.get(str(i), 1.0) for i in industry])
        * scenario.pd_multiplier
    )
    pd_s = (  # no stress, no copy: a what-if move of another lever need not pay for it
        pd_draws
        if (mult == 1.0).all()
        else np.where(in_default[None, :], pd_draws, np.minimum(pd_draws * mult[None, :], 0.999))
    )
    lgd_s = lgd_draws if scenario.lgd_shock == 0 else np.clip(lgd_draws + scenario.lgd_shock, 0, 1)
    return pd_s, lgd_s


@dataclasses.dataclass(frozen=True)
class Decided:
    """The portfolio's decisions under one stress: draws, grades, limits, ECL and allowance."""

    pd_draws: np.ndarray  # (draws, customers), stressed
    lgd_draws: np.ndarray
    grades: np.ndarray
    ranks: np.ndarray  # each grade's rank on the master scale (D last)
    limits: np.ndarray  # recommended limits
    ecl: np.ndarray  # total ECL per draw
    loss_rate: np.ndarray  # each customer's expected loss per unit of exposure, E[PD x LGD]
    allowance: tuple[float, float, float]  # mean, lo, hi


def decide_under(
    scenario: Scenario,
    frame: pd.DataFrame,
    pd_draws: np.ndarray,
    lgd_draws: np.ndarray,
    provisions: ProvisionMatrix,
    settings: DecisionSettings,
    prob: float = 0.9,
    *,
    appetite: Appetite | None = None,
    lgd_mean: float | None = None,
    order: np.ndarray | None = None,
) -> Decided:
    """Decide the whole portfolio again under ``scenario``, from stored draws (no re-sampling).

    Parameters
    ----------
    scenario
        The stress: PD multipliers (overall, by industry), LGD shock, provision multiplier.
    frame
        The decisions table (``industry, in_default, open_ar`` and the columns
        :func:`~creditlab.decisions.limits.recommend_limits` needs), one row per draw column.
    pd_draws, lgd_draws
        Posterior PD and LGD draws ``(draws, customers)``.
    provisions
        The run's provision matrix (its loss rates are multiplied by the scenario's multiplier).
    settings
        The decision settings (master scale, economics, appetite).
    prob
        Credible-interval probability.
    appetite
        A risk appetite other than the settings' (the what-if lever).
    lgd_mean
        Rescale the stressed LGD draws to this mean (the what-if lever); None keeps them.
    order
        Each customer's draws sorted by LGD (:func:`~creditlab.decisions.limits.lgd_order`); a
        shock or rescaling keeps the order, so it is computed once.

    Returns
    -------
    Decided
        Stressed draws, grades and their ranks, recommended limits, ECL per draw, allowance.
    """
    in_default = frame[IN_DEFAULT].to_numpy(dtype=bool)
    industry = frame[INDUSTRY].astype(str).to_numpy()
    pd_s, lgd_s = stress(scenario, pd_draws, lgd_draws, industry, in_default)
    if lgd_mean is not None:
        lgd_s = np.clip(lgd_s * lgd_mean / lgd_s.mean(), 0.0, 1.0)
    ead = frame[OPEN_AR].to_numpy(dtype=float)
    # the run's PD (its posterior mean) moved as the stress moves the draws: no stress, no change
    before, after = pd_draws.mean(axis=0), pd_s.mean(axis=0)
    ratio = np.divide(after, before, out=np.ones_like(after), where=before > 0)
    pd_mean = np.clip(frame[PD_MEAN].to_numpy(dtype=float) * ratio, 0.0, 1.0)
    grades, _ = assign_grades(pd_mean, in_default, settings.grades)
    rank = settings.grade_rank
    pl = pd_s * lgd_s
    limits = recommend_limits(
        frame, pd_s, lgd_s, settings.economics, appetite or settings.appetite, prob,
        explain=False, order=lgd_order(lgd_draws) if order is None else order, pl=pl,
    )  # fmt: skip
    return Decided(
        pd_draws=pd_s,
        lgd_draws=lgd_s,
        grades=grades,
        ranks=np.array([rank[g] for g in grades]),
        limits=limits["recommended_limit"].to_numpy(),
        ecl=pl @ ead,
        loss_rate=pl.mean(axis=0),
        allowance=provisions.allowance(scenario.provision_multiplier, prob),
    )


def scenario_grid(
    frame: pd.DataFrame,
    pd_draws: np.ndarray,
    lgd_draws: np.ndarray,
    provisions: ProvisionMatrix,
    settings: DecisionSettings,
    prob: float = 0.9,
) -> pd.DataFrame:
    """One row per scenario (``base`` first).

    ``frame`` is the decisions table (``industry, in_default, open_ar`` and the columns
    :func:`recommend_limits` needs), one row per draw column.
    """
    in_default = frame[IN_DEFAULT].to_numpy(dtype=bool)
    rows, base = [], None
    order = lgd_order(lgd_draws)  # an LGD shock shifts every draw: the order stays
    for scenario in (Scenario("base"), *settings.scenarios):
        d = decide_under(scenario, frame, pd_draws, lgd_draws, provisions, settings, prob,
                         order=order)  # fmt: skip
        e_lo, e_hi = interval(d.ecl, prob)
        if base is None:
            base = d
        rows.append(
            {
                "scenario": scenario.name,
                "pd_multiplier": scenario.pd_multiplier,
                "industry_multipliers": ", ".join(
                    f"{k} x{v:g}" for k, v in scenario.industry_multipliers.items()
                ),
                "lgd_shock": scenario.lgd_shock,
                "provision_multiplier": scenario.provision_multiplier,
                "mean_pd": float(d.pd_draws.mean(axis=0)[~in_default].mean())
                if (~in_default).any()
                else np.nan,
                "ecl_mean": float(d.ecl.mean()),
                "ecl_lo": float(e_lo),
                "ecl_hi": float(e_hi),
                "allowance_mean": d.allowance[0],
                "allowance_lo": d.allowance[1],
                "allowance_hi": d.allowance[2],
                "recommended_limits": float(np.nansum(d.limits)),
                "limits_cut": int((d.limits < base.limits - 1e-9).sum()),
                "downgraded": int((d.ranks > base.ranks).sum()),
                "high_risk": int(
                    np.isin(d.grades, [g.grade for g in settings.grades if g.risk == "high"]).sum()
                ),
            }
        )
    return pd.DataFrame(rows)
