"""Scenario stress: PD multipliers (overall and by industry), LGD shocks, provision overlays.

Each scenario re-runs the decisions on stressed draws (no re-sampling): PD draws are multiplied
(capped below 1; customers in default stay at 1), an LGD shock is added to every LGD draw (clipped
to [0, 1]), and the provision matrix's loss rates are multiplied. The grid reports, per scenario,
total ECL and allowance with intervals, recommended limits, and grade migration against the base.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from creditlab.decisions.draws import interval
from creditlab.decisions.limits import lgd_order, recommend_limits
from creditlab.decisions.provisions import ProvisionMatrix
from creditlab.decisions.settings import DecisionSettings, Scenario
from creditlab.ledger.schema import INDUSTRY
from creditlab.segments import assign_grades

__all__ = ["scenario_grid", "stress"]


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
    pd_s = np.where(in_default[None, :], pd_draws, np.minimum(pd_draws * mult[None, :], 0.999))
    lgd_s = np.clip(lgd_draws + scenario.lgd_shock, 0.0, 1.0)
    return pd_s, lgd_s


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
    ead = frame["open_ar"].to_numpy(dtype=float)
    in_default = frame["in_default"].to_numpy(dtype=bool)
    industry = frame[INDUSTRY].astype(str).to_numpy()
    rank = {g.grade: i for i, g in enumerate(settings.grades)} | {"D": len(settings.grades)}
    rows, base = [], None
    order = lgd_order(lgd_draws)  # an LGD shock shifts every draw: the order stays
    for scenario in (Scenario("base"), *settings.scenarios):
        pd_s, lgd_s = stress(scenario, pd_draws, lgd_draws, industry, in_default)
        ecl = (pd_s * lgd_s * ead[None, :]).sum(axis=1)
        e_lo, e_hi = interval(ecl, prob)
        grades, _ = assign_grades(pd_s.mean(axis=0), in_default, settings.grades)
        ranks = np.array([rank[g] for g in grades])
        limits = recommend_limits(
            frame, pd_s, lgd_s, settings.economics, settings.appetite, prob, explain=False,
            order=order,
        )  # fmt: skip
        rec = limits["recommended_limit"].to_numpy()
        allowance = provisions.allowance(scenario.provision_multiplier, prob)
        if base is None:
            base = (ranks, rec)
        rows.append(
            {
                "scenario": scenario.name,
                "pd_multiplier": scenario.pd_multiplier,
                "industry_multipliers": ", ".join(
                    f"{k} x{v:g}" for k, v in scenario.industry_multipliers.items()
                ),
                "lgd_shock": scenario.lgd_shock,
                "provision_multiplier": scenario.provision_multiplier,
                "mean_pd": float(pd_s.mean(axis=0)[~in_default].mean())
                if (~in_default).any()
                else np.nan,
                "ecl_mean": float(ecl.mean()),
                "ecl_lo": float(e_lo),
                "ecl_hi": float(e_hi),
                "allowance_mean": allowance[0],
                "allowance_lo": allowance[1],
                "allowance_hi": allowance[2],
                "recommended_limits": float(np.nansum(rec)),
                "limits_cut": int((rec < base[1] - 1e-9).sum()),
                "downgraded": int((ranks > base[0]).sum()),
                "high_risk": int(
                    np.isin(grades, [g.grade for g in settings.grades if g.risk == "high"]).sum()
                ),
            }
        )
    return pd.DataFrame(rows)
