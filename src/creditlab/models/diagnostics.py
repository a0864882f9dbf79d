"""The convergence gate: R-hat, bulk and tail ESS, divergences and E-BFMI, checked after every fit
and before anything downstream uses the posterior."""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from creditlab.errors import ConvergenceError

if TYPE_CHECKING:  # ArviZ takes over a second to import: the gate's settings must not pay for it
    import arviz as az

__all__ = ["GateConfig", "GateResult", "convergence_gate"]

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class GateConfig:
    """Thresholds; with ``fatal`` a failure raises, otherwise the run is marked with a warning."""

    max_rhat: float = 1.01
    min_ess_bulk: float = 400.0
    min_ess_tail: float = 400.0
    max_divergences: int = 0
    min_bfmi: float = 0.3
    fatal: bool = True


@dataclasses.dataclass
class GateResult:
    """The diagnostics table (one row per check) and whether all passed."""

    table: pd.DataFrame
    passed: bool

    @property
    def failures(self) -> list[str]:
        """The checks that failed, as sentences (with the parameters that failed them)."""
        bad = self.table.loc[~self.table["passed"]]
        return [
            f"{r.check} = {r.value:g} (needs {r.rule}"
            + (f"; worst: {r.worst})" if r.worst else ")")
            for r in bad.itertuples()
        ]

    def to_dict(self) -> dict:
        """The gate as JSON: passed, and every check."""
        return {"passed": self.passed, "checks": self.table.to_dict(orient="records")}


def convergence_gate(
    idata: az.InferenceData,
    config: GateConfig | None = None,
    var_names: list[str] | None = None,
    model_name: str = "PD model",
    advice: str = "",
) -> GateResult:
    """Check the posterior's diagnostics against ``config``; a failed check names the worst
    parameters, and a fatal failure ends with ``advice`` (what to change).

    Raises
    ------
    ConvergenceError
        A check failed and ``config.fatal`` is set.
    """
    import arviz as az

    cfg = config or GateConfig()
    summary = az.summary(idata, var_names=var_names, kind="diagnostics")
    # some samplers also store the unconstrained copies (``*_log__``): judge the model's variables
    summary = summary.loc[~summary.index.str.contains("_log__|_logodds__|_interval__|_zerosum__")]
    divergences = (
        int(idata.sample_stats["diverging"].sum()) if "diverging" in idata.sample_stats else 0
    )
    bfmi = float(np.min(az.bfmi(idata))) if "energy" in idata.sample_stats else float("nan")

    def worst(column: str, highest: bool) -> str:
        values = summary[column].sort_values(ascending=not highest).head(3)
        return ", ".join(f"{name} {value:.3g}" for name, value in values.items())

    rows = [
        (
            "max R-hat",
            float(summary["r_hat"].max()),
            f"<= {cfg.max_rhat}",
            summary["r_hat"].max() <= cfg.max_rhat,
            worst("r_hat", highest=True),
        ),
        (
            "min bulk ESS",
            float(summary["ess_bulk"].min()),
            f">= {cfg.min_ess_bulk:g}",
            summary["ess_bulk"].min() >= cfg.min_ess_bulk,
            worst("ess_bulk", highest=False),
        ),
        (
            "min tail ESS",
            float(summary["ess_tail"].min()),
            f">= {cfg.min_ess_tail:g}",
            summary["ess_tail"].min() >= cfg.min_ess_tail,
            worst("ess_tail", highest=False),
        ),
        (
            "divergences",
            float(divergences),
            f"<= {cfg.max_divergences}",
            divergences <= cfg.max_divergences,
            "",
        ),
        (
            "min E-BFMI",
            bfmi,
            f">= {cfg.min_bfmi}",
            bool(np.isnan(bfmi) or bfmi >= cfg.min_bfmi),
            "",
        ),
    ]
    table = pd.DataFrame(rows, columns=["check", "value", "rule", "passed", "worst"])
    table["passed"] = table["passed"].astype(bool)
    result = GateResult(table, bool(table["passed"].all()))
    if result.passed:
        log.info(
            "%s convergence gate passed: %s",
            model_name,
            "; ".join(f"{r[0]} {r[1]:.3g}" for r in rows),
        )
    elif cfg.fatal:
        raise ConvergenceError(
            f"the {model_name} failed the convergence gate: "
            + "; ".join(result.failures)
            + (f". {advice}" if advice else "")
        )
    else:
        log.warning(
            "%s convergence gate FAILED (not fatal by params): %s",
            model_name,
            "; ".join(result.failures),
        )
    return result
