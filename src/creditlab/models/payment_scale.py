"""The payment-timing model at scale: the population from a sample of customers, then every other
customer's effect from its own invoices given each posterior draw.

NUTS costs one pass over every likelihood cell per gradient and needs tens of thousands of
gradients; at 100k customers (1.6M cells) that is over an hour. But the population's parameters
(cutpoints, industry offsets, the spread of customer effects, weekday and covariate effects) are
pinned down long before every customer is in the fit. So above ``sample_above`` customers:

1. NUTS fits the model on a sample of ``sample_customers`` customers (:func:`choose_sample`: at
   random within each industry, in proportion), with the usual convergence gate;
2. for each kept posterior draw ``theta_s`` and each customer left out, its effect ``u`` is drawn
   from its conditional posterior ``p(u | theta_s, its invoices)``: the prior
   ``Normal(mu + g[industry], sigma_customer)`` times the likelihood of its cells. That posterior
   is one-dimensional and log-concave (the cumulative-logit likelihood is log-concave in ``u``),
   so :func:`conditional_effects` takes its mode and curvature by Newton's method and draws from
   the normal they define (Laplace). Compiled with numba: one pass over the cells per Newton step.

The left-out customers get the population's weekday effects and spread (own timing only for
sampled customers: a large customer left out keeps its own effect ``u`` but not its own weekdays). Together, the draws ``(theta_s, u_s)`` are draws from the joint posterior up to
the Laplace step and to the left-out customers' (negligible) pull on the population.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import pandas as pd

__all__ = ["choose_sample", "conditional_effects"]

_NEWTON_STEPS, _MAX_STEP, _TOLERANCE = 30, 2.0, 1e-8


def choose_sample(customers: pd.Index, group: pd.Series, n: int, seed: int) -> list[str]:
    """About ``n`` customer ids to fit by NUTS, drawn at random within each ``group`` (indexed by
    customer id) in proportion to its customers, at least one per group. Not the largest customers
    first: the population's mean and spread are estimated from the sample, so it must look like
    the portfolio."""
    rng = np.random.default_rng(seed)
    ids = pd.Series(customers.astype(str), index=group.reindex(customers).astype(str).to_numpy())
    chosen: list[str] = []
    for name in sorted(set(ids.index)):
        members = ids.loc[[name]].to_numpy()
        take = min(len(members), max(1, int(round(n * len(members) / len(ids)))))
        chosen += rng.choice(members, take, replace=False).tolist()
    return sorted(chosen)


@numba.njit(cache=True)
def _sigmoid(x):
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


@numba.njit(cache=True)
def _cell_derivatives(a, b, t):
    """First and second derivatives in ``eta`` of ``log(F(a) - F(b)) - log(1 - F(t))`` where
    ``a, b, t`` are the cutpoints less ``eta`` (``F`` logistic)."""
    fa, fb, ft = _sigmoid(a), _sigmoid(b), _sigmoid(t)
    if b > 0:  # both in the upper tail: the difference of survivals keeps its precision
        d = _sigmoid(-b) - _sigmoid(-a)
    else:
        d = fa - fb
    d = max(d, 1e-300)
    da, db = fa * (1 - fa), fb * (1 - fb)
    d1 = db - da
    d2 = da * (1 - 2 * fa) - db * (1 - 2 * fb)
    r = d1 / d
    return r - ft, d2 / d - r * r + ft * (1 - ft)


@numba.njit(cache=True, parallel=True)
def _conditional_effects(
    start, lo, hi, trunc, weekday, pattern, n, cut, w, xb, prior_mean, prior_sd, z
):
    s_count, c_count = prior_mean.shape
    out = np.empty((s_count, c_count))
    for c in numba.prange(c_count):
        first, last = start[c], start[c + 1]
        u = prior_mean[0, c]
        for s in range(s_count):
            m, sd = prior_mean[s, c], prior_sd[s]
            h = -1.0 / (sd * sd)
            for _ in range(_NEWTON_STEPS):
                g = -(u - m) / (sd * sd)
                h = -1.0 / (sd * sd)
                for k in range(first, last):
                    eta = u + w[s, weekday[k]] + xb[s, pattern[k]]
                    d1, d2 = _cell_derivatives(
                        cut[s, hi[k]] - eta, cut[s, lo[k]] - eta, cut[s, trunc[k]] - eta
                    )
                    g += n[k] * d1
                    h += n[k] * d2
                step = -g / h
                step = min(max(step, -_MAX_STEP), _MAX_STEP)
                u += step
                if abs(step) < _TOLERANCE:
                    break
            out[s, c] = u + z[s, c] / math.sqrt(-h)
    return out


def conditional_effects(
    cells: pd.DataFrame,
    n_customers: int,
    cut: np.ndarray,
    w: np.ndarray,
    xb: np.ndarray,
    prior_mean: np.ndarray,
    prior_sd: np.ndarray,
    seed: int,
) -> np.ndarray:
    """Draws ``(S, n_customers)`` of each customer's effect given each population draw.

    Parameters
    ----------
    cells
        Likelihood cells of the customers (``customer`` 0..n_customers-1; ``lo``, ``hi``,
        ``trunc``: indices into the padded cutpoints; ``due_weekday``, ``pattern``, ``n``).
    cut
        ``(S, E + 2)`` padded cutpoints per draw (``-BIG, cut..., +BIG``).
    w, xb
        ``(S, 7)`` due-weekday offsets and ``(S, patterns)`` covariate effects per draw: a cell's
        latent location is ``u + w[due weekday] + xb[pattern]``.
    prior_mean, prior_sd
        ``(S, n_customers)`` and ``(S,)``: each customer's prior ``Normal(mean, sd)`` per draw.
    """
    order = np.argsort(cells["customer"].to_numpy(), kind="stable")
    customer = cells["customer"].to_numpy()[order]
    start = np.searchsorted(customer, np.arange(n_customers + 1)).astype(np.int64)
    z = np.random.default_rng(seed).standard_normal(prior_mean.shape)
    return _conditional_effects(
        start,
        cells["lo"].to_numpy()[order].astype(np.int64),
        cells["hi"].to_numpy()[order].astype(np.int64),
        cells["trunc"].to_numpy()[order].astype(np.int64),
        cells["due_weekday"].to_numpy()[order].astype(np.int64),
        cells["pattern"].to_numpy()[order].astype(np.int64),
        cells["n"].to_numpy()[order].astype(np.float64),
        np.ascontiguousarray(cut, dtype=np.float64),
        np.ascontiguousarray(w, dtype=np.float64),
        np.ascontiguousarray(xb, dtype=np.float64),
        np.ascontiguousarray(prior_mean, dtype=np.float64),
        np.ascontiguousarray(prior_sd, dtype=np.float64),
        z,
    )
