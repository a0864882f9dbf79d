"""Priors that carry knowledge into the PD model, and how much each PD owes to them.

:class:`Priors` states what a credit team knows before the ledger speaks, each with its source: a
portfolio base rate (the 12-month PD the intercept's prior centres on), default rates of levels of
the group (industry statistics from an insurer or a bureau), and per-unit log-odds of predictors
(an external score's published calibration: "odds of default halve every 40 points" is
``-log(2) / 40`` per point). With few defaults the posterior leans on them.

Two measures say how much it does:

* :func:`prior_share` per customer: the posterior variance of the PD's log-odds over its prior
  variance (from draws of the prior itself). Near 0 the ledger decided the PD; near 1 the priors
  did, and the interval is about as wide as the prior's.
* :func:`prior_sensitivity`: the PDs again under a wider and a narrower prior, without refitting,
  by power-scaling the prior (Kallioinen et al. 2023: importance weights ``p(theta)^(alpha - 1)``
  on the posterior draws, Pareto-smoothed; a Pareto k above 0.7 means the reweighting cannot be
  trusted and a refit would be needed).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from creditlab.errors import ConfigError

__all__ = ["PRIOR_DRAWS", "Priors", "parse_priors", "prior_sensitivity", "prior_share"]

PRIOR_DRAWS = 1000  # draws of the prior kept with a fit, for the prior share
POWER_SCALES = {"wider prior (alpha = 0.5)": 0.5, "narrower prior (alpha = 2)": 2.0}


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


@dataclasses.dataclass(frozen=True)
class Priors:
    """What the PD model knows before the ledger (``pd_model.priors`` in the params).

    ``base_rate``: the portfolio's 12-month PD the intercept's prior centres on (instead of
    ``model.prior_intercept_mu``); ``group_rates``: 12-month PDs of levels of the model's group
    (say industries), which move those levels' intercept priors by the difference in log-odds;
    ``coefficients``: for a predictor, ``{per_unit: ..., sd: ...}``, the prior mean and spread of
    its log-odds per unit of the predictor (in place of ``Normal(0, prior_beta_sigma)`` per
    standard deviation); ``source``: where these come from (required when any is given).
    """

    base_rate: float | None = None
    group_rates: Mapping[str, float] = dataclasses.field(default_factory=dict)
    coefficients: Mapping[str, Mapping[str, float]] = dataclasses.field(default_factory=dict)
    source: str = ""

    def __post_init__(self) -> None:
        rates = {"base_rate": self.base_rate} if self.base_rate is not None else {}
        rates |= {f"group_rates.{k}": v for k, v in self.group_rates.items()}
        for name, rate in rates.items():
            if not isinstance(rate, int | float) or not 0.0 < rate < 1.0:
                raise ConfigError(f"priors.{name}: a 12-month PD between 0 and 1, got {rate!r}")
        for name, spec in self.coefficients.items():
            if not isinstance(spec, Mapping) or set(spec) != {"per_unit", "sd"}:
                raise ConfigError(
                    f"priors.coefficients.{name}: expected {{per_unit: ..., sd: ...}}"
                )
            if not spec["sd"] > 0:
                raise ConfigError(f"priors.coefficients.{name}.sd: must be positive")
        if (rates or self.coefficients) and not str(self.source).strip():
            raise ConfigError("priors.source: say where the priors come from (a reviewer asks)")

    @property
    def given(self) -> bool:
        """Whether any knowledge is stated."""
        return self.base_rate is not None or bool(self.group_rates) or bool(self.coefficients)

    def check_predictors(self, predictors: list[str]) -> None:
        """Raise :class:`ConfigError` when a coefficient prior names no predictor of the model."""
        unknown = sorted(set(self.coefficients) - set(predictors))
        if unknown:
            raise ConfigError(f"priors.coefficients: {unknown} are not among the predictors")

    def intercept_centre(self, default_logit: float) -> float:
        """The 12-month log-odds the intercept's prior centres on."""
        return default_logit if self.base_rate is None else _logit(self.base_rate)

    def group_shifts(self, levels: list[str], to_period, centre_12m: float) -> np.ndarray:
        """Per level of the group, its prior's shift from the intercept's centre (a 12-month PD,
        ``centre_12m``) on the model's scale (``to_period`` maps a 12-month PD to the model's
        period); 0 for a level without a stated rate."""
        if not self.group_rates:
            return np.zeros(len(levels))
        base = _logit(to_period(centre_12m))
        return np.array(
            [
                _logit(to_period(self.group_rates[lv])) - base if lv in self.group_rates else 0.0
                for lv in levels
            ]
        )

    def beta_prior(
        self, names: list[str], scales: Mapping[str, float], sigma: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Prior means and spreads of the standardised predictors' coefficients: a stated
        per-unit prior times the predictor's training standard deviation, else ``Normal(0,
        sigma)``."""
        mean, sd = np.zeros(len(names)), np.full(len(names), sigma)
        for i, name in enumerate(names):
            if name in self.coefficients:
                spec, scale = self.coefficients[name], scales.get(name, 1.0)
                mean[i], sd[i] = spec["per_unit"] * scale, spec["sd"] * scale
        return mean, sd

    def describe(self) -> str:
        """The stated priors in one sentence, with their source ("" when none)."""
        if not self.given:
            return ""
        parts = []
        if self.base_rate is not None:
            parts.append(f"a portfolio base rate of {self.base_rate:.1%}")
        if self.group_rates:
            parts.append(
                "group rates "
                + ", ".join(f"{k} {v:.1%}" for k, v in sorted(self.group_rates.items()))
            )
        for name, spec in sorted(self.coefficients.items()):
            parts.append(f"{name}: {spec['per_unit']:+.3g} log-odds per unit (sd {spec['sd']:.3g})")
        return "Stated priors: " + "; ".join(parts) + f" (source: {self.source})."


def parse_priors(raw: Any, where: str = "pd_model.priors") -> Priors:
    """The ``priors`` params section (``None``: no stated priors).

    Raises
    ------
    ConfigError
        Unknown keys, rates outside (0, 1), malformed coefficient priors or no source.
    """
    if raw is None:
        return Priors()
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a mapping")
    unknown = sorted(set(raw) - {f.name for f in dataclasses.fields(Priors)})
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}")
    return Priors(
        base_rate=raw.get("base_rate"),
        group_rates=dict(raw.get("group_rates") or {}),
        coefficients={k: dict(v) for k, v in (raw.get("coefficients") or {}).items()},
        source=str(raw.get("source") or ""),
    )


def _logit_var(draws: np.ndarray) -> np.ndarray:
    p = np.clip(draws, 1e-9, 1 - 1e-9)
    return np.var(np.log(p / (1 - p)), axis=0)


def prior_share(posterior_draws: np.ndarray, prior_draws: np.ndarray) -> np.ndarray:
    """Per row, the posterior variance of the PD's log-odds over its prior variance, in [0, 1]:
    0 when the data pinned the PD down, 1 when it is as uncertain as the prior."""
    return np.clip(_logit_var(posterior_draws) / _logit_var(prior_draws), 0.0, 1.0)


def prior_sensitivity(log_prior: np.ndarray, pd_draws: np.ndarray) -> pd.DataFrame:
    """Mean PDs under power-scaled priors, from the posterior draws alone.

    ``log_prior``: the joint log prior density at each posterior draw, ``(draws,)``;
    ``pd_draws``: PDs ``(draws, customers)``. Returns one row per prior (as fitted, wider,
    narrower): ``prior, mean_pd, mean_abs_change, max_abs_change, pareto_k, reliable``.
    """
    import arviz as az  # slow to import: loaded where used

    base = pd_draws.mean(axis=0)
    rows = [{"prior": "as fitted", "mean_pd": float(base.mean()), "mean_abs_change": 0.0,
             "max_abs_change": 0.0, "pareto_k": float("nan"), "reliable": True}]  # fmt: skip
    for name, alpha in POWER_SCALES.items():
        log_w, k = az.psislw((alpha - 1.0) * (log_prior - log_prior.mean()))
        w = np.exp(log_w)
        scaled = w @ pd_draws
        change = np.abs(scaled - base)
        rows.append({"prior": name, "mean_pd": float(scaled.mean()),
                     "mean_abs_change": float(change.mean()), "max_abs_change": float(change.max()),
                     "pareto_k": float(k), "reliable": bool(k <= 0.7)})  # fmt: skip
    return pd.DataFrame(rows)
