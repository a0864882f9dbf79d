"""How strongly customers default together: the systematic asset correlation, from its prior and the
ledger's own default history.

In the one-factor (Vasicek) model a cohort's 12-month default rate, given the factor ``Z``, is
``Phi((Phi^-1(p) - sqrt(rho) Z) / sqrt(1 - rho))``; the more the yearly rates swing around their
mean ``p``, the larger ``rho``. The ledger gives one cohort per month (customers active and not in
default at the month's start, and how many of them defaulted within 12 months). Neighbouring
cohorts share 11 of their 12 months, so each cohort's log-likelihood counts 1/12: the cohorts
carry about as much information as ``months / 12`` separate years. The posterior of ``(rho, p)``
is computed on a grid (the factor integrated out by Gauss-Hermite quadrature, the binomial noise of
finite cohorts kept), with the params' Beta prior on ``rho`` and a flat prior on ``logit p``.

A few years of history barely move a correlation prior; the summary says by how much it moved.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from creditlab.decisions.settings import BetaPrior
from creditlab.features import NO_THRESHOLD, Materiality, default_dates
from creditlab.ledger.schema import CUSTOMER_ID, ISSUED_ON

__all__ = ["CorrelationPosterior", "correlation_posterior", "default_cohorts"]

_RHO = np.linspace(0.002, 0.6, 100)
_LOGIT_SPAN = np.linspace(-3.5, 3.5, 60)  # logit p around the pooled default rate's
_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(8)  # weight exp(-x^2 / 2)


def default_cohorts(
    invoices: pd.DataFrame,
    events: pd.DataFrame,
    as_of: dt.date,
    *,
    min_history_days: int = 180,
    materiality: Materiality = NO_THRESHOLD,
) -> pd.DataFrame:
    """Monthly 12-month default cohorts known at ``as_of`` (defaults under ``materiality``).

    A cohort starts on the first of a month at least ``min_history_days`` after the ledger's first
    invoice and at least 12 months before ``as_of``. Its customers had an invoice issued in the 12
    months before the start and were not in default at the start; its defaults are those whose
    first default (90 days past due, a write-off or an insolvency) fell in the 12 months after.

    Returns ``cohort_start, customers, defaults`` (empty when the ledger is too short).
    """
    t = pd.Timestamp(as_of)
    inv = invoices.loc[invoices[ISSUED_ON] <= t, [CUSTOMER_ID, ISSUED_ON]]
    if inv.empty:
        return pd.DataFrame(columns=["cohort_start", "customers", "defaults"])
    defaults = default_dates(invoices, events, as_of, materiality)
    first = (inv[ISSUED_ON].min() + pd.Timedelta(days=min_history_days)).to_period("M")
    starts = pd.period_range(first + 1, (t - pd.DateOffset(years=1)).to_period("M"), freq="M")
    rows = []
    issued = inv[ISSUED_ON].to_numpy(dtype="datetime64[D]")
    cid = inv[CUSTOMER_ID].to_numpy()
    for start in starts.to_timestamp():
        recent = (issued <= np.datetime64(start.date())) & (
            issued > np.datetime64((start - pd.DateOffset(years=1)).date())
        )
        active = pd.Index(np.unique(cid[recent]))
        when = pd.Series(active, index=active).map(defaults)
        alive = ~(when <= start)
        hit = alive & (when > start) & (when <= start + pd.DateOffset(years=1))
        rows.append(
            {
                "cohort_start": start.date(),
                "customers": int(alive.sum()),
                "defaults": int(hit.sum()),
            }
        )
    return pd.DataFrame(rows, columns=["cohort_start", "customers", "defaults"])


@dataclasses.dataclass(frozen=True)
class CorrelationPosterior:
    """The grid posterior of the systematic correlation (or its prior, when not updated)."""

    rho: np.ndarray  # grid
    probability: np.ndarray  # posterior mass on the grid
    prior: BetaPrior
    updated: bool
    reason: str
    cohorts: int = 0
    default_rate: float = float("nan")  # the cohorts' pooled 12-month default rate
    effective_years: float = 0.0

    @classmethod
    def prior_only(cls, prior: BetaPrior, reason: str) -> CorrelationPosterior:
        """The prior itself, not updated, with the reason."""
        a, b = prior.beta  # the Beta density up to its constant, normalised on the grid
        mass = np.exp(special.xlogy(a - 1, _RHO) + special.xlog1py(b - 1, -_RHO))
        return cls(_RHO, mass / mass.sum(), prior, False, reason)

    def draws(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` draws of rho (from the Beta prior itself when not updated)."""
        if not self.updated:
            return rng.beta(*self.prior.beta, size=n)
        step = self.rho[1] - self.rho[0]
        picked = rng.choice(self.rho, size=n, p=self.probability)
        return np.clip(picked + rng.uniform(-step / 2, step / 2, n), 1e-4, 0.99)

    def summary(self, prob: float) -> dict[str, Any]:
        """Prior and posterior mean and interval, the data used, and whether it was used."""
        a, b = self.prior.beta
        lo, hi = special.betaincinv(a, b, [(1 - prob) / 2, (1 + prob) / 2])
        out: dict[str, Any] = {
            "updated": self.updated,
            "reason": self.reason,
            "cohorts": self.cohorts,
            "default_rate": self.default_rate,
            "effective_years": round(self.effective_years, 1),
            "prior": {"mean": self.prior.mean, "lo": float(lo), "hi": float(hi)},
        }
        if self.updated:
            cdf = np.cumsum(self.probability)
            q = np.interp([(1 - prob) / 2, (1 + prob) / 2], cdf, self.rho)
            mean = float((self.rho * self.probability).sum())
            out["posterior"] = {"mean": mean, "lo": float(q[0]), "hi": float(q[1])}
        return out


def correlation_posterior(
    cohorts: pd.DataFrame, prior: BetaPrior, min_years: float = 2.0
) -> CorrelationPosterior:
    """The posterior of the systematic correlation given the monthly cohorts.

    Updated only when the cohorts span ``min_years`` effective years and hold a default; otherwise
    the prior, with the reason.
    """
    used = cohorts.loc[cohorts["customers"] > 0]
    years = len(used) / 12
    n_def = int(used["defaults"].sum()) if len(used) else 0
    prior_mass = CorrelationPosterior.prior_only(prior, "").probability
    rate = n_def / used["customers"].sum() if len(used) else float("nan")
    keep = {"cohorts": len(used), "default_rate": float(rate), "effective_years": years}
    if years < min_years or n_def == 0:
        why = (
            f"{len(used)} monthly cohorts ({years:.1f} effective years) with "
            f"{'no' if n_def == 0 else 'some'} defaults; updating needs {min_years:g} effective "
            "years with defaults"
        )
        return CorrelationPosterior(_RHO, prior_mass, prior, False, why, **keep)
    centre = special.logit(np.clip(rate, 1e-4, 0.5))
    c = special.ndtri(special.expit(centre + _LOGIT_SPAN))[None, :]  # (1, P)
    k = np.sqrt(_RHO / (1 - _RHO))[:, None]  # (R, 1): a = (c - sqrt(rho) z) / sqrt(1 - rho)
    c = c / np.sqrt(1 - _RHO)[:, None]  # (R, P)
    loglik = np.zeros((len(_RHO), len(_LOGIT_SPAN)))
    for ni, di in zip(used["customers"], used["defaults"], strict=True):
        loglik += _cohort_loglik(float(ni), float(di), c, k) / 12.0
    log_post = loglik + np.log(prior_mass)[:, None]
    post = np.exp(log_post - log_post.max())
    marginal = post.sum(axis=1)
    why = (
        f"updated from {len(used)} monthly cohorts ({years:.1f} effective years, pooled 12-month "
        f"default rate {rate:.2%})"
    )
    return CorrelationPosterior(_RHO, marginal / marginal.sum(), prior, True, why, **keep)


def _cohort_loglik(n: float, d: float, c: np.ndarray, k: np.ndarray) -> np.ndarray:
    """``log of integral Binomial(d | n, Phi(c - k z)) phi(z) dz`` on the (rho, p) grid.

    The integrand is log-concave in ``z`` and, for large cohorts, far narrower than the factor's
    own spread, so fixed quadrature nodes would miss it: the nodes are placed around its mode
    (a few Newton steps) and scaled by its curvature (adaptive Gauss-Hermite).
    """

    def h(z: np.ndarray, c: np.ndarray, k: np.ndarray) -> np.ndarray:
        a = c - k * z
        return d * special.log_ndtr(a) + (n - d) * special.log_ndtr(-a) - z * z / 2

    def mills(z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        a = c - k * z
        log_phi = -a * a / 2 - 0.5 * np.log(2 * np.pi)
        return a, np.exp(log_phi - special.log_ndtr(a)), np.exp(log_phi - special.log_ndtr(-a))

    # start where the cohort's default rate is expected, then Newton steps (h is concave)
    z = np.clip((c - special.ndtri((d + 0.5) / (n + 1))) / k, -50, 50)
    for _ in range(8):
        a, m, r = mills(z)
        slope = -k * d * m + k * (n - d) * r - z
        curve = -(k**2) * (d * m * (a + m) + (n - d) * r * (r - a)) - 1
        z = np.clip(z - slope / curve, -50, 50)
    a, m, r = mills(z)
    curve = -(k**2) * (d * m * (a + m) + (n - d) * r * (r - a)) - 1
    scale = 1 / np.sqrt(-curve)
    nodes = z[..., None] + scale[..., None] * _NODES
    terms = h(nodes, c[..., None], k[..., None]) + _NODES**2 / 2 + np.log(_WEIGHTS)
    return special.logsumexp(terms, axis=-1) + np.log(scale) - 0.5 * np.log(2 * np.pi)
