"""Posterior draws the decisions share: PD draws thinned to a fixed count, LGD draws from its prior.

Decisions are functions of draws (rows = draws, columns = customers), so every figure they
produce (limits, ECL, allowances) inherits the PD model's uncertainty and the LGD prior's.
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

from creditlab.decisions.settings import DecisionSettings

__all__ = ["interval", "lgd_draws", "thin"]


def thin(draws: np.ndarray, n: int) -> np.ndarray:
    """At most ``n`` draws (rows), evenly spaced over the chains, order kept."""
    if len(draws) <= n:
        return draws
    return draws[np.linspace(0, len(draws) - 1, n).round().astype(int)]


def lgd_draws(
    customer_ids: pd.Series | np.ndarray,
    labels: pd.Series | np.ndarray,
    settings: DecisionSettings,
    n: int,
    seed: int,
) -> np.ndarray:
    """``(n, customers)`` LGD draws, each customer's from the Beta prior of its label.

    Each customer's stream is seeded by ``seed`` and its id, so one customer's draws are the same
    whether drawn alone (an order check) or with the whole portfolio.
    """
    out = np.empty((n, len(labels)))
    for j, (cid, label) in enumerate(
        zip(np.asarray(customer_ids), np.asarray(labels), strict=True)
    ):
        a, b = settings.lgd_prior(str(label)).beta
        rng = np.random.default_rng([seed, zlib.crc32(str(cid).encode())])
        out[:, j] = rng.beta(a, b, size=n)
    return out


def interval(draws: np.ndarray, prob: float, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Equal-tailed credible interval of probability ``prob`` along ``axis``."""
    lo, hi = np.quantile(draws, [(1 - prob) / 2, (1 + prob) / 2], axis=axis)
    return lo, hi
