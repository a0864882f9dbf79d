"""Policy what-if: re-decide the whole portfolio from cached draws when a lever moves.

The base (a finished run's decision table, its PD and LGD draws and provision matrix) is loaded
once; :func:`evaluate` then applies the levers (grade cut-off, LGD, risk appetite, payment terms,
PD stress overall and for one industry, discount rate) to the stored draws, without re-sampling,
and returns the totals with intervals, the grade migration and the customers affected.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from creditlab.decisions.draws import interval
from creditlab.decisions.limits import lgd_order
from creditlab.decisions.provisions import ProvisionMatrix
from creditlab.decisions.scenarios import decide_under
from creditlab.decisions.settings import Appetite, DecisionSettings, Scenario
from creditlab.decisions.terms import discount_value
from creditlab.ledger.schema import CUSTOMER_ID, NAME, OPEN_AR

__all__ = ["Levers", "WhatIfBase", "evaluate"]


@dataclasses.dataclass(frozen=True)
class Levers:
    """The policy levers; the defaults reproduce the run's own decisions."""

    max_grade: str | None = None  # grades worse than this get no credit (None: no cut-off)
    lgd_mean: float | None = None  # mean LGD to rescale the draws to (None: the params' priors)
    loss_threshold: float | None = None
    max_probability: float | None = None
    terms_shift_days: int = 0  # customers pay this many days later (earlier when negative)
    pd_multiplier: float = 1.0
    industry: str | None = None
    industry_multiplier: float = 1.0
    discount: float | None = None  # early-payment discount rate


@dataclasses.dataclass
class WhatIfBase:
    """Everything the levers act on, loaded once from a finished run."""

    table: pd.DataFrame  # the run's decision table (one row per draw column)
    pd_draws: np.ndarray
    lgd_draws: np.ndarray
    provisions: ProvisionMatrix
    settings: DecisionSettings
    prob: float = 0.9
    # the result with default levers, which changes are measured against
    reference: dict | None = None
    # each customer's draws sorted by LGD: the levers rescale LGD, which keeps the order
    order: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.order is None:
            self.order = lgd_order(self.lgd_draws)
        if self.reference is None:
            self.reference = evaluate(self, Levers())


def evaluate(base: WhatIfBase, levers: Levers) -> dict:
    """Decide again under ``levers``: ``summary`` (dict), ``migration`` and ``affected`` (tables)."""
    s, t = base.settings, base.table
    industries = {levers.industry: levers.industry_multiplier} if levers.industry else {}
    scenario = Scenario(
        "what-if",
        pd_multiplier=levers.pd_multiplier,
        industry_multipliers=industries,
        provision_multiplier=levers.pd_multiplier,
    )
    appetite = Appetite(
        levers.loss_threshold or s.appetite.loss_threshold,
        levers.max_probability or s.appetite.max_probability,
    )
    frame = t.assign(days_to_pay=(t["days_to_pay"] + levers.terms_shift_days).clip(lower=1))
    d = decide_under(
        scenario, frame, base.pd_draws, base.lgd_draws, base.provisions, s, base.prob,
        appetite=appetite, lgd_mean=levers.lgd_mean, order=base.order,
    )  # fmt: skip
    grades = d.grades
    refused = np.zeros(len(t), dtype=bool)
    if levers.max_grade is not None:
        refused = d.ranks > s.grade_rank[levers.max_grade]
    rec = np.where(refused, 0.0, d.limits)
    ead = t[OPEN_AR].to_numpy(dtype=float)
    e_lo, e_hi = interval(d.ecl, base.prob)
    allowance = d.allowance
    terms = (
        dataclasses.replace(s.terms, discount=levers.discount)
        if levers.discount is not None
        else s.terms
    )
    discount = discount_value(
        frame["annual_sales"].to_numpy(dtype=float),
        frame["days_to_pay"].clip(lower=1).to_numpy(dtype=float),
        d.loss_rate,
        s.economics,
        terms,
    )
    summary = {
        "customers_with_credit": int((rec > 0).sum()),
        "refused_by_cutoff": int(refused.sum()),
        "recommended_limits": float(np.nansum(rec)),
        "approved_exposure": float(np.minimum(ead, np.nan_to_num(rec)).sum()),
        "ecl_mean": float(d.ecl.mean()),
        "ecl_lo": float(e_lo),
        "ecl_hi": float(e_hi),
        "allowance_mean": allowance[0],
        "allowance_lo": allowance[1],
        "allowance_hi": allowance[2],
        "discount_pays_for": int((discount > 0).sum()),
    }
    migration = pd.crosstab(
        pd.Series(t["grade"].to_numpy(), name="run grade"), pd.Series(grades, name="what-if grade")
    )
    ref = base.reference or {"grades": grades, "limits": rec}
    affected = pd.DataFrame(
        {
            CUSTOMER_ID: t[CUSTOMER_ID].to_numpy(),
            NAME: t[NAME].to_numpy(),
            "grade": ref["grades"],
            "whatif_grade": grades,
            "recommended_limit": ref["limits"],
            "whatif_limit": rec,
        }
    )
    affected["change"] = affected["whatif_limit"] - affected["recommended_limit"]
    changed = (affected["change"].abs() > 0) | (affected["grade"] != affected["whatif_grade"])
    affected = affected.loc[changed].reindex(
        affected.loc[changed, "change"].abs().sort_values(ascending=False).index
    )
    return {
        "summary": summary,
        "migration": migration,
        "affected": affected.reset_index(drop=True),
        "grades": grades,
        "limits": rec,
    }
