"""NUTS settings and the one place a model is sampled: the implementation (nutpie, numpyro, PyMC)
and precision chosen by size, chains in parallel on CPU cores where JAX allows it."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from creditlab.errors import ConfigError, ConvergenceError

if TYPE_CHECKING:  # ArviZ takes over a second to import: loaded where a posterior is read
    import arviz as az

__all__ = [
    "AUTO_JAX_CELLS",
    "AUTO_LOW_RANK_CORRELATION",
    "AUTO_LOW_RANK_PREDICTORS",
    "AUTO_NUMPYRO_ROWS",
    "SamplerConfig",
    "read_posterior",
    "sample",
    "strongest_correlation",
    "write_posterior",
]

log = logging.getLogger(__name__)

AUTO_NUMPYRO_ROWS = 50_000
AUTO_LOW_RANK_PREDICTORS = 20
AUTO_LOW_RANK_CORRELATION = 0.95  # |r| of two predictors that makes a narrow ridge in the posterior
# rows x effects from which nutpie evaluates the model with JAX instead of Numba: Numba compiled the
# Taiwan scorecard (24,000 rows x 250 effects) in 34 s against JAX's 4 s, and JAX's gradient took
# 1.2 ms against 2.5 ms (fit 161 s against 223 s); on HMEQ (6,000 x 350) both took 56 s
AUTO_JAX_CELLS = 4_000_000


@dataclasses.dataclass(frozen=True)
class SamplerConfig:
    """NUTS settings.

    ``sampler`` is ``auto``, ``numpyro``, ``nutpie`` or ``pymc``; ``precision`` is ``auto``,
    ``float64`` or ``float32`` (the same model in single precision). ``auto`` picks by measurement
    (``benchmarks/pd_fit.py``): nutpie in float64 below ``AUTO_NUMPYRO_ROWS`` rows, where its
    compile is cheap and it samples fastest, and numpyro in float32 with chains in parallel above,
    where it is ~6x faster than nutpie.

    ``mass_matrix`` is ``auto``, ``diag`` or ``low_rank``: nutpie's low-rank correction to the
    diagonal mass matrix learns the posterior's strongest correlations, which many correlated
    predictors (financial ratios) make; ``auto`` uses it for a regression with at least
    ``AUTO_LOW_RANK_PREDICTORS`` effects (on Polish bankruptcy, 113 predictors: 14x the
    effective draws per second of the diagonal one; on HMEQ's scorecard, 107 bins and 3
    interactions, 34 s and the gate passed against 79 s and bulk ESS 351) or with two
    predictors correlated at ``AUTO_LOW_RANK_CORRELATION`` or more (on the HighRadius ledger's 10 months, the 6- and
    12-month max DPD: 32 s against 124 s, and the gate passes) or whose structure correlates its
    parameters (the PD hazard's baseline walk beside its intercept: on a 1.6-year ledger 40 s and
    bulk ESS 1,095 against 99 s and 234; the payment model's cutpoints beside its customer
    effects: the HighRadius ledger's first fit passes its gate, bulk ESS 518 in 99 s, where the
    diagonal one fell short at 231 in 75 s and needed its extension; IBM bulk ESS 3,287 against
    988, the demo 1,487 against 1,159 in the same time), the diagonal one otherwise.
    """

    sampler: str = "auto"
    precision: str = "auto"
    draws: int = 1000
    tune: int = 1000
    chains: int = 2
    cores: int = 2
    target_accept: float = 0.9
    seed: int = 20261122
    mass_matrix: str = "auto"

    def __post_init__(self) -> None:
        if self.mass_matrix not in ("auto", "diag", "low_rank"):
            raise ConfigError(
                f"mass_matrix must be auto, diag or low_rank, got {self.mass_matrix!r}"
            )
        if self.sampler not in ("auto", "numpyro", "nutpie", "pymc"):
            raise ConfigError(
                f"sampler must be auto, numpyro, nutpie or pymc, got {self.sampler!r}"
            )
        if self.precision not in ("auto", "float64", "float32"):
            raise ConfigError(f"precision must be auto, float64 or float32, got {self.precision!r}")

    def resolve(self, rows: int) -> tuple[str, str]:
        """The sampler and precision ``auto`` stands for at ``rows`` rows."""
        sampler = self.sampler
        if sampler == "auto":
            sampler = "numpyro" if rows >= AUTO_NUMPYRO_ROWS else "nutpie"
        precision = self.precision
        if precision == "auto":
            precision = "float32" if sampler == "numpyro" else "float64"
        return sampler, precision

    def low_rank(
        self, sampler: str, predictors: int, correlation: float = 0.0, structured: bool = False
    ) -> bool:
        """Whether to adapt a low-rank mass matrix (nutpie only) for ``predictors`` predictors
        whose strongest pairwise correlation is ``correlation`` (absolute), in a model whose
        structure correlates its parameters (``structured``: a random walk beside an intercept)."""
        if sampler != "nutpie":
            return False
        if self.mass_matrix == "auto":
            return (
                structured
                or predictors >= AUTO_LOW_RANK_PREDICTORS
                or correlation >= AUTO_LOW_RANK_CORRELATION
            )
        return self.mass_matrix == "low_rank"


def strongest_correlation(x: np.ndarray) -> float:
    """The largest absolute correlation between two columns of ``x`` (0 with fewer than two)."""
    x = x[:, np.ptp(x, axis=0) > 0]
    if x.shape[1] < 2:
        return 0.0
    c = np.corrcoef(x, rowvar=False)
    np.fill_diagonal(c, 0.0)
    return float(np.abs(c).max())


CORE_CAP_ENV = "CREDITLAB_MAX_CORES"  # set by a batch of portfolios (creditlab.portfolios)


def _cores(config: SamplerConfig) -> int:
    """Cores for parallel chains: ``config.cores``, capped by ``CREDITLAB_MAX_CORES`` when set (a
    Dask worker sharing the machine). Chains and seeds stay, so the draws do not change."""
    cap = os.environ.get(CORE_CAP_ENV, "")
    return max(1, min(config.cores, int(cap))) if cap.isdigit() else config.cores


def _jax_chain_method(chains: int, cores: int) -> str:
    """Run JAX chains in parallel on CPU cores when JAX can still be told to expose ``cores`` of
    them (a GPU is one device: chains are vectorized there); otherwise vectorized."""
    if "jax" not in sys.modules:
        os.environ.setdefault("XLA_FLAGS", f"--xla_force_host_platform_device_count={cores}")
    import jax

    return "parallel" if jax.local_device_count() >= chains else "vectorized"


def sample(
    build: Callable,
    config: SamplerConfig,
    rows: int,
    what: str,
    predictors: int = 0,
    correlation: float = 0.0,
    structured: bool = False,
    backend: str | None = None,
):
    """Build a PyMC model with ``build()`` in the chosen precision and sample it with NUTS.

    Returns ``(idata, {"sampler": ..., "precision": ..., "device": ..., "mass_matrix": ...})``;
    ``rows`` (the likelihood's rows or cells) decides what ``auto`` stands for, ``predictors`` (a
    regression's effects), their strongest ``correlation`` and whether the model is
    ``structured`` (see :meth:`SamplerConfig.low_rank`) the mass matrix; nutpie evaluates the
    model with ``backend`` (``"jax"`` or ``"numba"``), by default with JAX from
    ``AUTO_JAX_CELLS`` rows x effects and with Numba below.
    """
    import pymc as pm
    import pytensor

    sampler, precision = config.resolve(rows)
    nuts: dict = {}  # the implementation's own options
    if sampler == "numpyro":
        nuts["chain_method"] = _jax_chain_method(config.chains, min(config.chains, _cores(config)))
    low_rank = config.low_rank(sampler, predictors, correlation, structured)
    if low_rank:
        nuts["low_rank_modified_mass_matrix"] = True
    if sampler != "nutpie":
        backend = None
    elif backend is None:
        backend = "jax" if rows * predictors >= AUTO_JAX_CELLS else "numba"
    if backend == "jax":  # a big graph: JAX compiles it in seconds where Numba takes half a minute
        nuts |= {"backend": backend, "gradient_backend": backend}
    with pytensor.config.change_flags(floatX=precision):
        model = build()
        log.info(
            "sampling the %s with %s NUTS in %s%s, %d chains x (%d tune + %d draws)",
            what,
            sampler,
            precision,
            " with a low-rank mass matrix" if low_rank else "",
            config.chains,
            config.tune,
            config.draws,
        )
        with model:
            try:
                idata = pm.sample(
                    draws=config.draws,
                    tune=config.tune,
                    chains=config.chains,
                    cores=_cores(config),
                    target_accept=config.target_accept,
                    random_seed=config.seed,
                    nuts_sampler=sampler,
                    progressbar=False,
                    compute_convergence_checks=False,
                    **({"nuts_sampler_kwargs": nuts} if nuts else {}),
                )
            except (RuntimeError, ValueError, FloatingPointError) as exc:
                if not _failed_to_start(exc):
                    raise
                raise ConvergenceError(_start_advice(what, sampler, exc)) from exc
    info = {"sampler": sampler, "precision": precision, "device": "cpu",
            "mass_matrix": "low-rank" if low_rank else "diagonal"}  # fmt: skip
    if sampler == "numpyro" or backend == "jax":
        import jax

        info["device"] = jax.default_backend()  # "gpu" when JAX sees one
    if backend:
        info["backend"] = backend
    return idata, info


_START_FAILURES = ("initialization", "initial evaluation", "logp", "starting point", "-inf", "nan")


def _failed_to_start(exc: Exception) -> bool:
    """Whether the sampler stopped because the model's log-density was not finite where it
    started (pm.SamplingError is a RuntimeError; nutpie raises RuntimeError too)."""
    text = str(exc).lower()
    return any(word in text for word in _START_FAILURES)


def _start_advice(what: str, sampler: str, exc: Exception) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return (
        f"the {what} could not start sampling: its log-density was not finite at any starting "
        f"point ({sampler}: {first}). What to change: look for predictors with extreme values "
        "(ratios with near-zero denominators; heavy tails are capped at the 1st/99th "
        "percentiles, but a column can still be degenerate), columns that separate defaults "
        "perfectly, or values like inf; drop or transform them, or try another sampler "
        "(--sampler pymc)."
    )


def write_posterior(
    idata: az.InferenceData, path: str | Path, state: dict, provenance: dict | None
):
    """Save a posterior as NetCDF with the model's ``state`` and ``provenance`` as attributes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    idata.posterior.attrs["creditlab_state"] = json.dumps(state)
    idata.posterior.attrs["creditlab_provenance"] = json.dumps(provenance or {}, default=str)
    idata.to_netcdf(str(path))
    return path


def read_posterior(path: str | Path, what: str) -> tuple[az.InferenceData, dict, dict]:
    """``(idata, state, provenance)`` of a file written by :func:`write_posterior`."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no saved {what} here")
    import arviz as az

    idata = az.from_netcdf(str(path))
    for group in idata.groups():  # read everything now: the file may be temporary
        getattr(idata, group).load()
    attrs = idata.posterior.attrs
    return (
        idata,
        json.loads(attrs["creditlab_state"]),
        json.loads(attrs.get("creditlab_provenance", "{}")),
    )
