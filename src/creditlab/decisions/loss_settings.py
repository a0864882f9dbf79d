"""The ``portfolio_loss:`` section of a params file: scenarios, risk levels, correlation priors.

Kept apart from the simulation (:mod:`creditlab.decisions.portfolio_loss`), so loading params does
not load the compiler the simulation uses.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from creditlab.config import parse_section
from creditlab.decisions.settings import BetaPrior

__all__ = ["SECTOR_BY", "PortfolioLossSettings", "parse_loss_settings"]

SECTOR_BY = ("none", "industry", "country")


@dataclasses.dataclass(frozen=True)
class PortfolioLossSettings:
    """The ``portfolio_loss:`` section of a params file."""

    enabled: bool = True
    scenarios: int = 200_000
    posterior_draws: int = 100  # posterior draws the scenarios cycle through
    levels: tuple[float, ...] = (0.95, 0.99, 0.995, 0.999)
    systematic: BetaPrior = BetaPrior(0.12, 0.05)  # asset correlation with the whole economy
    sector: BetaPrior = BetaPrior(0.05, 0.03)  # extra correlation within a sector
    sector_by: str = "industry"  # none, industry or country
    learn_correlation: bool = True  # update the systematic correlation from the ledger
    min_cohort_years: float = 2.0  # effective years of default cohorts needed to update it
    importance_shift: float = 3.0  # bad-tail shift of the systematic factor (0: plain Monte Carlo)
    importance_share: float = 0.1  # share of the scenarios drawn with the shift
    contribution_level: float = 0.99  # the level whose ES is allocated to customers
    reserve_level: float = 0.99  # the confidence of the reserve suggestion
    top_contributors: int = 10
    seed: int = 0  # 0: the run's seed

    def __post_init__(self) -> None:
        for name in ("systematic", "sector"):
            value = getattr(self, name)
            if isinstance(value, Mapping):
                if set(value) != {"mean", "sd"}:
                    raise ValueError(f"{name}: expected {{mean, sd}}, got {sorted(value)}")
                try:
                    object.__setattr__(self, name, BetaPrior(**value))
                except ValueError as exc:
                    raise ValueError(f"{name}: {exc}") from exc
        levels = tuple(float(v) for v in self.levels)
        object.__setattr__(self, "levels", levels)
        if not levels or any(not 0.5 <= v < 1 for v in levels):
            raise ValueError(f"levels must lie in [0.5, 1), got {list(levels)}")
        for name in ("contribution_level", "reserve_level"):
            if getattr(self, name) not in levels:
                raise ValueError(f"{name} {getattr(self, name)} must be one of levels {levels}")
        if self.sector_by not in SECTOR_BY:
            raise ValueError(f"sector_by must be one of {list(SECTOR_BY)}, got {self.sector_by!r}")
        if self.systematic.mean + (self.sector.mean if self.sector_by != "none" else 0) >= 0.9:
            raise ValueError("systematic + sector correlation means must stay below 0.9")
        if not isinstance(self.scenarios, int) or self.scenarios < 1000:
            raise ValueError(f"scenarios must be an integer >= 1000, got {self.scenarios!r}")
        if not isinstance(self.posterior_draws, int) or not 1 <= self.posterior_draws:
            raise ValueError("posterior_draws must be a positive integer")
        if self.scenarios < 20 * self.posterior_draws:
            raise ValueError("scenarios must be at least 20 per posterior draw")
        if not 0 <= self.importance_shift <= 6 or not 0 <= self.importance_share < 1:
            raise ValueError("importance_shift must lie in [0, 6] and importance_share in [0, 1)")
        if self.min_cohort_years <= 0:
            raise ValueError("min_cohort_years must be > 0")


def parse_loss_settings(raw: Any, where: str) -> PortfolioLossSettings:
    """The ``portfolio_loss:`` section (absent: the stage is off)."""
    if raw is None:
        return PortfolioLossSettings(enabled=False)
    return parse_section(PortfolioLossSettings, raw, where)
