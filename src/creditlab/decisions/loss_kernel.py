"""The compiled inner loop of the portfolio loss simulation (numba).

One scenario draws a systematic factor ``Z`` (from a defensive importance-sampling mixture: a share
of the scenarios from N(-shift, 1), the rest from N(0, 1); ``shift = (shift, share)``), one factor
per sector, and each customer's
default given the factors: customer ``i`` defaults when ``a Z + b Z_g + s e_i < c_i`` with
``c_i = Phi^-1(PD_i)``, i.e. with conditional probability ``Phi((c_i - a Z - b Z_g) / s)``.

Defaults are drawn without visiting every customer. Within a sector the customers are sorted by
``c_i`` (riskiest first), so their conditional PDs fall along the list; a geometric jump with the
last candidate's PD as its rate (no later PD is larger) finds the next candidate, which defaults
with probability ``q_i / bound`` (thinning). This is exact, and costs about as much as the number of defaults,
not the number of customers.

Every scenario has its own random stream (SplitMix64 keyed by the seed and the scenario's
number), so a scenario can be drawn again exactly: the second pass, which allocates tail losses to
customers, redraws only the tail scenarios.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from scipy import special

__all__ = ["scenario_totals", "tail_contributions"]

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_TO_UNIT = 2.0**-53
# Phi on a fine grid: linear interpolation is ~10x faster than erfc and off by < 1e-6 relative
# down to Phi(-5) (the error is h^2/8 |Phi''| and Phi''/Phi ~ x^2 in the tail)
_PHI_LO, _PHI_STEPS = -9.0, 2048.0
_PHI_TABLE = special.ndtr(np.arange(_PHI_LO, -_PHI_LO + 2 / _PHI_STEPS, 1 / _PHI_STEPS))


@numba.njit(inline="always", cache=True)
def _mix(z: np.uint64) -> np.uint64:
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@numba.njit(inline="always", cache=True)
def _uniform(state: np.ndarray) -> float:
    """A uniform in (0, 1) from the SplitMix64 stream held in ``state[0]``."""
    state[0] += _GAMMA
    return (float(_mix(state[0]) >> _S11) + 0.5) * _TO_UNIT


@numba.njit(inline="always", cache=True)
def _normal(state: np.ndarray) -> float:
    """A standard normal (Box-Muller, one of the pair)."""
    u1 = _uniform(state)
    u2 = _uniform(state)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


@numba.njit(inline="always", cache=True)
def _phi(x: float) -> float:
    """The standard normal cdf from the table (0 below -9, 1 above 9)."""
    pos = (x - _PHI_LO) * _PHI_STEPS
    if pos <= 0.0:
        return 0.0
    if pos >= _PHI_TABLE.shape[0] - 1:  # also x = +inf (a customer already in default)
        return 1.0
    i = int(pos)
    f = pos - i
    return _PHI_TABLE[i] * (1.0 - f) + _PHI_TABLE[i + 1] * f


@numba.njit(cache=True)
def _scenario(
    seed: np.uint64,
    s: int,
    thresholds: np.ndarray,
    order: np.ndarray,
    group_start: np.ndarray,
    loadings: np.ndarray,
    shift: np.ndarray,
    state: np.ndarray,
    defaulters: np.ndarray,
) -> tuple[int, int, float]:
    """Draw scenario ``s``: fill ``defaulters`` and return (count, draw, importance weight)."""
    state[0] = _mix(seed + _mix(np.uint64(s) * _GAMMA + _GAMMA))
    k = s % thresholds.shape[0]
    a, b, sd = loadings[k, 0], loadings[k, 1], loadings[k, 2]
    z = _normal(state)
    weight = 1.0
    mu, share = shift[0], shift[1]
    if mu > 0.0 and share > 0.0:
        if _uniform(state) < share:
            z -= mu
        weight = 1.0 / (1.0 - share + share * math.exp(-mu * z - 0.5 * mu * mu))
    count = 0
    for g in range(group_start.shape[0] - 1):
        m = a * z + b * _normal(state)
        j, end = group_start[g], group_start[g + 1]
        bound = _phi((thresholds[k, j] - m) / sd) if j < end else 0.0
        while j < end and bound > 0.0:
            if bound < 1.0:  # jump to the next candidate, as if every PD were ``bound``
                # log(1 - bound), fast (log1p costs twice log; below 1e-6 -bound is exact enough)
                step = math.log(1.0 - bound) if bound > 1e-6 else -bound
                jump = math.log(_uniform(state)) / step
                if jump >= end - j:
                    break
                j += int(jump)
            q = _phi((thresholds[k, j] - m) / sd)
            if q >= bound or _uniform(state) * bound < q:  # keep it with probability q / bound
                defaulters[count] = order[k, j]
                count += 1
            bound = q  # sorted: no later customer's PD is above this one's
            j += 1
    return count, k, weight


@numba.njit(cache=True)
def _losses(
    k: int,
    count: int,
    defaulters: np.ndarray,
    ead: np.ndarray,
    lgd: np.ndarray,
    insured_base: np.ndarray,
    indemnity: np.ndarray,
    policy: np.ndarray,
    gross: np.ndarray,
    claim: np.ndarray,
) -> tuple[float, float, float]:
    """Each defaulter's gross loss and insurance claim; returns (gross, claims, payout) totals.

    ``policy`` = (deductible per claim, aggregate first loss, maximum liability).
    """
    total, claims = 0.0, 0.0
    for n in range(count):
        i = defaulters[n]
        gross[n] = ead[i] * lgd[k, i]
        claim[n] = indemnity[i] * max(0.0, lgd[k, i] * insured_base[i] - policy[0])
        total += gross[n]
        claims += claim[n]
    payout = min(policy[2], max(0.0, claims - policy[1]))
    return total, claims, payout


@numba.njit(parallel=True, cache=True)
def scenario_totals(
    seed: int,
    n_scenarios: int,
    thresholds: np.ndarray,
    order: np.ndarray,
    group_start: np.ndarray,
    loadings: np.ndarray,
    shift: np.ndarray,
    ead: np.ndarray,
    lgd: np.ndarray,
    insured_base: np.ndarray,
    indemnity: np.ndarray,
    policy: np.ndarray,
    chunks: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Gross and net portfolio loss, importance weight and defaults count of every scenario.

    Parameters
    ----------
    thresholds, order
        ``(draws, customers)``: per posterior draw, ``Phi^-1(PD)`` sorted descending within each
        sector, and the customer each position holds.
    group_start
        Where each sector's customers start in that order (``sectors + 1`` offsets).
    loadings
        ``(draws, 3)``: the systematic loading, the sector loading and the idiosyncratic sd.
    ead, lgd, insured_base, indemnity
        Per customer (``lgd`` per draw and customer); ``insured_base`` is the insured part of the
        exposure, ``min(EAD, insured limit)``.
    policy
        (deductible per claim, aggregate first loss, maximum liability).
    """
    gross_out = np.empty(n_scenarios)
    net_out = np.empty(n_scenarios)
    weight_out = np.empty(n_scenarios)
    count_out = np.empty(n_scenarios, dtype=np.int32)
    n = ead.shape[0]
    seed64 = np.uint64(seed)
    size = (n_scenarios + chunks - 1) // chunks
    for c in numba.prange(chunks):
        state = np.zeros(1, dtype=np.uint64)
        defaulters = np.empty(n, dtype=np.int64)
        gross = np.empty(n)
        claim = np.empty(n)
        for s in range(c * size, min((c + 1) * size, n_scenarios)):
            count, k, w = _scenario(
                seed64, s, thresholds, order, group_start, loadings, shift, state, defaulters
            )
            total, _, payout = _losses(
                k, count, defaulters, ead, lgd, insured_base, indemnity, policy, gross, claim
            )
            gross_out[s], net_out[s], weight_out[s], count_out[s] = total, total - payout, w, count
    return gross_out, net_out, weight_out, count_out


@numba.njit(parallel=True, cache=True)
def tail_contributions(
    seed: int,
    scenarios: np.ndarray,
    tail_gross: np.ndarray,
    tail_net: np.ndarray,
    thresholds: np.ndarray,
    order: np.ndarray,
    group_start: np.ndarray,
    loadings: np.ndarray,
    shift: np.ndarray,
    ead: np.ndarray,
    lgd: np.ndarray,
    insured_base: np.ndarray,
    indemnity: np.ndarray,
    policy: np.ndarray,
    chunks: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Each customer's share of the tail losses, per level: ``(levels, customers)`` gross and net.

    ``scenarios`` are the tail scenarios' numbers; ``tail_gross[t, l]`` (``tail_net``) is scenario
    ``t``'s weight in level ``l``'s gross (net) tail. The scenarios are drawn again exactly, and a
    defaulter's net loss is its gross loss less its pro-rata share of the policy's payout, so the
    customers' contributions add up to the portfolio's figure.
    """
    n, levels = ead.shape[0], tail_gross.shape[1]
    acc_gross = np.zeros((chunks, levels, n))
    acc_net = np.zeros((chunks, levels, n))
    seed64 = np.uint64(seed)
    size = (scenarios.shape[0] + chunks - 1) // chunks
    for c in numba.prange(chunks):
        state = np.zeros(1, dtype=np.uint64)
        defaulters = np.empty(n, dtype=np.int64)
        gross = np.empty(n)
        claim = np.empty(n)
        for t in range(c * size, min((c + 1) * size, scenarios.shape[0])):
            count, k, _ = _scenario(
                seed64, scenarios[t], thresholds, order, group_start, loadings, shift, state,
                defaulters,
            )  # fmt: skip
            _, claims, payout = _losses(
                k, count, defaulters, ead, lgd, insured_base, indemnity, policy, gross, claim
            )
            for d in range(count):
                i = defaulters[d]
                net = gross[d] - (payout * claim[d] / claims if claims > 0.0 else 0.0)
                for lev in range(levels):
                    acc_gross[c, lev, i] += tail_gross[t, lev] * gross[d]
                    acc_net[c, lev, i] += tail_net[t, lev] * net
    return acc_gross.sum(axis=0), acc_net.sum(axis=0)
