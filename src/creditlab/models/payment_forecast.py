"""Forecasts from the payment-timing model's posterior draws: the distribution of an open invoice's
payment day given what is known today, and the weekly cash collections from simulated payments.

``G`` (per draw and invoice) is the model's CDF of days past due at payment, truncated at the
issue date and spread evenly over the days inside each bucket; for an invoice ``e`` days past due,
``P(D <= t | D > e) = (G(t) - G(e)) / (1 - G(e))``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from creditlab.kpi import as_timestamp

__all__ = ["Conditional", "cash_forecast"]


def cash_forecast(
    simulated: np.ndarray,
    due_on: pd.Series,
    amount: np.ndarray,
    as_of,
    weeks: int = 13,
    prob: float = 0.9,
    segment: pd.Series | None = None,
) -> pd.DataFrame:
    """Collections per week from simulated payment days: ``week, week_start, week_end, expected,
    lo, hi, segment`` (``segment`` "portfolio" for the total, then one block per segment).

    Week 1 is the 7 days after ``as_of``. ``expected`` is the mean over draws and ``lo, hi`` the
    ``prob`` interval of the simulated totals (model and payment-date uncertainty together).
    """
    t = as_timestamp(as_of)
    offset = (pd.to_datetime(due_on).to_numpy() - t.to_datetime64()) / np.timedelta64(1, "D")
    day = offset[None, :] + simulated  # days after as_of the payment lands
    week = np.where(np.isnan(day), -1, np.ceil(day / 7.0)).astype(np.int64)
    inside = (week >= 1) & (week <= weeks)
    week = np.where(inside, week - 1, weeks)  # bin ``weeks`` collects the rest
    s = simulated.shape[0]
    draw = np.repeat(np.arange(s), simulated.shape[1]).reshape(simulated.shape)
    labels = segment.astype(str).to_numpy() if segment is not None else None
    blocks = [("portfolio", np.ones(simulated.shape[1], dtype=bool))]
    if labels is not None:
        blocks += [(str(v), labels == v) for v in sorted(set(labels))]
    rows = []
    for name, mask in blocks:
        w = np.broadcast_to(np.asarray(amount, dtype=float) * mask, simulated.shape)
        totals = np.bincount(
            (draw * (weeks + 1) + week).ravel(), weights=w.ravel(), minlength=s * (weeks + 1)
        ).reshape(s, weeks + 1)[:, :weeks]
        lo, hi = np.quantile(totals, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
        for k in range(weeks):
            rows.append(
                {
                    "week": k + 1,
                    "week_start": (t + pd.Timedelta(days=7 * k + 1)).date(),
                    "week_end": (t + pd.Timedelta(days=7 * k + 7)).date(),
                    "expected": float(totals[:, k].mean()),
                    "lo": float(lo[k]),
                    "hi": float(hi[k]),
                    "segment": name,
                }
            )
    return pd.DataFrame(rows)


class Conditional:
    """Per draw and invoice: the distribution of ``D`` given ``D > e`` (and ``D >= -terms``).

    ``G`` is piecewise linear between knots: ``-terms - 1`` (value 0) and the bucket edges (the
    model's CDF, truncated at the issue date); days inside a bucket are equally likely. Mass past
    the last edge means "not paid within the last edge's days".
    """

    def __init__(self, cut, eta, edges, terms, e_now):
        s, n = eta.shape
        f = 1.0 / (1.0 + np.exp(-(cut[:, None, :] - eta[:, :, None])))  # (S, n, E)
        start = -terms - 1.0
        tb = np.searchsorted(edges, -terms, side="left")  # bucket holding the issue date
        f_tr = np.where(tb > 0, f[:, np.arange(n), np.maximum(tb - 1, 0)], 0.0)  # (S, n)
        g = np.clip((f - f_tr[..., None]) / (1.0 - f_tr[..., None]), 0.0, 1.0)
        self.knots = np.concatenate(
            [start[:, None], np.maximum(edges[None, :], start[:, None])], axis=1
        )  # (n, E + 1)
        self.values = np.concatenate([np.zeros((s, n, 1)), g], axis=2)  # (S, n, E + 1)
        self.g_now = self._g(e_now)
        self.left = np.maximum(1.0 - self.g_now, 1e-12)
        self.e_now = e_now

    def _g(self, x):
        """``G(x)`` for one value per invoice (array of length n or a scalar)."""
        x = np.broadcast_to(np.asarray(x, dtype=float), self.knots.shape[:1])
        j = np.clip((self.knots < x[:, None]).sum(axis=1), 1, self.knots.shape[1] - 1)
        k0 = np.take_along_axis(self.knots, (j - 1)[:, None], 1)[:, 0]
        k1 = np.take_along_axis(self.knots, j[:, None], 1)[:, 0]
        v0 = np.take_along_axis(self.values, (j - 1)[None, :, None], 2)[..., 0]
        v1 = np.take_along_axis(self.values, j[None, :, None], 2)[..., 0]
        w = np.clip((x - k0) / np.maximum(k1 - k0, 1e-9), 0.0, 1.0)
        return np.where(x >= self.knots[:, -1], self.values[..., -1], v0 + w * (v1 - v0))

    def cdf(self, t):
        """``P(D <= t | D > e)`` per draw and invoice (0 where ``t <= e``)."""
        t = np.broadcast_to(np.asarray(t, dtype=float), self.e_now.shape)
        h = (self._g(t) - self.g_now) / self.left
        return np.where(t > self.e_now, np.clip(h, 0.0, 1.0), 0.0)

    def mean_within(self):
        """``E[D | e < D <= last edge]`` per draw and invoice (whole days)."""
        lower = np.maximum(self.knots[:, :-1], self.e_now[:, None])  # (n, E)
        upper = self.knots[:, 1:]
        # G at a bucket's lower end is its left knot's value, or G(e) in the bucket holding e
        g_lower = np.where(lower > self.knots[:, :-1], self.g_now[..., None], self.values[..., :-1])
        mass = np.where(upper > lower, self.values[..., 1:] - g_lower, 0.0)
        mid = (lower + 1.0 + upper) / 2.0
        total = mass.sum(axis=2)
        mean = (mass * mid[None]).sum(axis=2) / np.maximum(total, 1e-300)
        return np.where(total > 0, mean, np.nan)

    def sample(self, u):
        """Whole days past due drawn from the conditional distribution; NaN: past the last edge."""
        target = self.g_now + u * self.left
        values = self.values
        j = np.clip((values < target[..., None]).sum(axis=2), 1, values.shape[2] - 1)
        v0 = np.take_along_axis(values, (j - 1)[..., None], 2)[..., 0]
        v1 = np.take_along_axis(values, j[..., None], 2)[..., 0]
        k0 = self.knots[np.arange(self.knots.shape[0])[None, :], j - 1]
        k1 = self.knots[np.arange(self.knots.shape[0])[None, :], j]
        frac = np.clip((target - v0) / np.maximum(v1 - v0, 1e-12), 0.0, 1.0)
        days = np.maximum(np.ceil(k0 + frac * (k1 - k0)), self.e_now[None, :] + 1)
        return np.where(target > values[..., -1], np.nan, days)
