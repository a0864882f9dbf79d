"""Pending promises to pay in the payment forecast.

A customer that promised to pay an open invoice on a day whose grace has not run out pays it on or
about that day if it keeps its word, and otherwise as the payment model says for an invoice still
unpaid once that grace has run out. So the forecast of such an invoice is a mixture:

* **kept**, with the chance this customer keeps its promises: paid ``o`` days after the promised
  day, ``o`` drawn from how the ledger's kept promises were paid (from a week early to the
  grace's last day; :data:`PROMISE_EARLY_DAYS`), never on or before the as-of date;
* **broken**: the model's distribution of the payment day given ``D > promised day + grace``
  (the caller builds it so; :class:`WithPromise` mixes it in).

The chance of keeping is per customer and posterior draw: the portfolio's rate of kept promises
(Beta(1 + kept, 1 + broken) over the promises resolved by the as-of date) lends each customer
:data:`PROMISE_PRIOR` promises' worth, to which its own kept and broken ones are added. Only
promises naming an invoice move that invoice's forecast (one about the customer as a whole does
not say which invoice it pays).

``promises`` is the table of :func:`creditlab.signals.promise_outcomes`: ``customer_id,
event_on, invoice_id, promised_on, status`` (kept, broken or pending) and ``paid_on`` (the day a
kept promise was kept).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import beta

from creditlab.ledger.schema import CUSTOMER_ID, DUE_ON, EVENT_ON, INVOICE_ID, PAID_ON, PROMISED_ON

__all__ = ["PROMISE_EARLY_DAYS", "PROMISE_PRIOR", "PendingPromises", "WithPromise"]

# a promise paid this many days before its day or earlier counts as paid this many days early;
# a customer's chance of keeping borrows this many promises' worth of the portfolio's
PROMISE_EARLY_DAYS, PROMISE_PRIOR = 7, 4.0


class PendingPromises:
    """The pending promises on a forecast's invoices, and what the ledger says of promises.

    ``frame`` holds the open invoices (``invoice_id, customer_id, due_on``), ``promises`` every
    promise made by ``as_of`` with its status, ``grace`` the days after the promised day that
    still keep it. Per row: ``promised`` (the promised day in days past due; NaN without a pending
    promise) and ``deadline`` (``promised + grace``). ``offsets`` and ``offset_p``: the days from
    the promised day to payment of kept promises and their shares; ``kept`` and ``broken``: the
    portfolio's counts.
    """

    def __init__(self, frame: pd.DataFrame, promises: pd.DataFrame, grace: int):
        self.grace = int(grace)
        done = promises.loc[promises["status"] != "pending"]
        kept = done.loc[done["status"] == "kept"]
        self.kept, self.broken = len(kept), len(done) - len(kept)
        self._by_customer = (  # per customer: kept, and kept or broken
            done.assign(kept=done["status"] == "kept")
            .groupby(CUSTOMER_ID)["kept"]
            .agg(["sum", "size"])
        )
        self.offsets = np.arange(-PROMISE_EARLY_DAYS, self.grace + 1)
        late = (kept[PAID_ON] - kept[PROMISED_ON]).dt.days.to_numpy(dtype=float)
        counts = np.bincount(
            np.clip(late, -PROMISE_EARLY_DAYS, self.grace).astype(np.int64) + PROMISE_EARLY_DAYS,
            minlength=len(self.offsets),
        ).astype(float)
        counts[self.offsets >= 0] += 1.0 / (self.grace + 1)  # one promise's worth on its days
        self.offset_p = counts / counts.sum()

        pending = promises.loc[(promises["status"] == "pending") & (promises[INVOICE_ID] != "")]
        latest = pending.sort_values(EVENT_ON).groupby(INVOICE_ID)[PROMISED_ON].last()
        promised_on = pd.to_datetime(latest.reindex(frame[INVOICE_ID].astype(str)).to_numpy())
        due_on = pd.to_datetime(frame[DUE_ON].to_numpy())
        self.promised = ((promised_on - due_on) / pd.Timedelta(days=1)).to_numpy(float)
        self.deadline = self.promised + self.grace
        self.customers = frame[CUSTOMER_ID].astype(str).to_numpy()
        self.rows = np.flatnonzero(~np.isnan(self.promised))

    def keep_draws(self, n_draws: int, rng: np.random.Generator) -> np.ndarray:
        """``(n_draws, rows)``: each row's chance its promise is kept, per draw (0 without a
        pending promise)."""
        out = np.zeros((n_draws, len(self.promised)))
        if not len(self.rows):
            return out
        portfolio = rng.beta(1 + self.kept, 1 + self.broken, n_draws)
        own = self._by_customer.reindex(pd.Index(self.customers[self.rows])).fillna(0)
        kept, total = own["sum"].to_numpy(float), own["size"].to_numpy(float)
        a = PROMISE_PRIOR * portfolio[:, None] + kept[None, :]
        b = PROMISE_PRIOR * (1 - portfolio[:, None]) + (total - kept)[None, :]
        out[:, self.rows] = rng.beta(a, b)
        return out

    def summary(self, p_keep: np.ndarray, amount: np.ndarray, prob: float) -> dict:
        """The pending promises for ``payment.json``: how many, their open amount, the
        portfolio's kept and broken promises, its keep rate with its interval, and the mean
        chance of keeping the pending ones (``p_keep``: per row, NaN without one)."""
        lo, hi = (1 - prob) / 2, (1 + prob) / 2
        rate = (1 + self.kept) / (2 + self.kept + self.broken)
        return {
            "pending": len(self.rows),
            "pending_amount": float(np.asarray(amount, float)[self.rows].sum()),
            "kept": self.kept,
            "broken": self.broken,
            "keep_rate": rate,
            "keep_rate_lo": float(beta.ppf(lo, 1 + self.kept, 1 + self.broken)),
            "keep_rate_hi": float(beta.ppf(hi, 1 + self.kept, 1 + self.broken)),
            "grace_days": self.grace,
            "mean_keep": float(np.nanmean(p_keep)) if len(self.rows) else None,
        }


class WithPromise:
    """Per draw and invoice: a pending promise kept (``keep``: its chance per draw and invoice,
    0 without one) or broken (``broken``: the distribution given ``D > deadline``, a
    :class:`~creditlab.models.payment_forecast.Conditional` or a
    :class:`~creditlab.models.payment_stall.WithStall`), given ``D > e_now``.

    A kept promise is paid ``promised + o`` days past due, ``o`` one of ``offsets`` with shares
    ``offset_p``, those days after ``e_now`` only (renormalised). The same interface as
    ``Conditional``: :meth:`cdf`, :meth:`mean_within`, :meth:`sample`; ``last`` is the horizon
    ``mean_within`` counts payments within.
    """

    def __init__(self, broken, keep, promised, e_now, offsets, offset_p, last: float):
        self.broken, self.last = broken, float(last)
        days = np.nan_to_num(promised)[:, None] + offsets[None, :]  # (n, k)
        p = np.where(days > np.asarray(e_now, float)[:, None], offset_p[None, :], 0.0)
        total = p.sum(axis=1, keepdims=True)
        self.days = days
        self.p = np.where(total > 0, p / np.maximum(total, 1e-300), 0.0)
        self.keep = np.where((total[:, 0] > 0) & ~np.isnan(promised), keep, 0.0)  # (S, n)

    def _kept_cdf(self, t) -> np.ndarray:
        return (self.p * (self.days <= np.asarray(t, float)[..., None])).sum(axis=-1)

    def cdf(self, t) -> np.ndarray:
        """``P(D <= t | D > e)`` per draw and invoice."""
        return self.keep * self._kept_cdf(t) + (1 - self.keep) * self.broken.cdf(t)

    def mean_within(self) -> np.ndarray:
        """``E[D | e < D <= last]`` per draw and invoice (whole days)."""
        kept_mean = (self.p * self.days).sum(axis=1)
        within = (1 - self.keep) * self.broken.cdf(self.last)
        broken_mean = np.nan_to_num(self.broken.mean_within())
        weight = self.keep + within
        total = self.keep * kept_mean + within * broken_mean
        return np.where(weight > 0, total / np.maximum(weight, 1e-300), np.nan)

    def sample(self, u: np.ndarray) -> np.ndarray:
        """Whole days past due (NaN: not within a year): ``u < keep`` keeps the promise, and the
        uniform rescaled to the path picks the day on it."""
        keep = self.keep
        v = np.clip(u / np.maximum(keep, 1e-12), 0.0, 1.0 - 1e-12)
        k = (np.cumsum(self.p, axis=1)[None, :, :] <= v[..., None]).sum(axis=-1)
        kept = self.days[np.arange(self.days.shape[0])[None, :], np.minimum(k, self.p.shape[1] - 1)]
        rest = np.clip((u - keep) / np.maximum(1 - keep, 1e-12), 0.0, 1.0 - 1e-12)
        return np.where(u < keep, kept, self.broken.sample(rest))
