"""The stall: how an invoice is paid once it has left the ordinary course of payment.

An invoice **enters the stall** on the day it reaches :data:`STALL_DPD` (90) days past due unpaid,
or on the day its customer's first default event (write-off, insolvency, collections agency) falls
while it is open; an invoice issued after that event is in the stall from its issue date. What it
is paid from then on is a recovery (an insolvency dividend, an agency's collection, a dispute
settled after months), not a payment run, and most such invoices are never paid within a year.

Kept apart, the two processes stop spoiling each other: the ordinal payment model
(:mod:`creditlab.models.payment`) learns performing customers' payment days with each stalled
invoice right-censored on the day it stalled (it was not paid in the ordinary course by then), so
never-paid invoices no longer squeeze its tail cutpoints together; and the stall's own model
(:class:`Stall`) learns how recoveries arrive.

:class:`Stall` is a piecewise-exponential model of days past due at payment after entry: a daily
rate of payment ``lambda_j`` on each segment of :data:`STALL_EDGES`, counted from each invoice's
entry (delayed entry) until it is paid or the as-of date (right-censoring). With ``d_j`` payments
over ``E_j`` invoice-days at risk, the posterior is exact and conjugate::

    lambda_j ~ Gamma(a + d_j, b + E_j),   a = prior_payments,   b = a / rate

where ``rate`` is the stalled invoices' pooled rate, itself shrunk (one payment's worth) towards
the stated prior of half paid within ``prior_half_days``: each segment's prior is worth
``prior_payments`` payments at the pooled rate, so a segment no stalled invoice reached has a
proper prior, and a ledger with none has the stated one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from creditlab.ledger.schema import CUSTOMER_ID, DEFAULT_EVENTS, DUE_ON, EVENT_ON, KIND, PAID_ON

__all__ = [
    "STALL_DPD",
    "STALL_EDGES",
    "Stall",
    "WithStall",
    "default_events_on",
    "stall_entry",
]

STALL_DPD = 90  # an invoice this many days past due unpaid has left the ordinary course
STALL_EDGES = (0, 30, 60, 90, 120, 180, 270, 365)  # segments of constant daily rate; past: "never"


def default_events_on(events: pd.DataFrame | None, as_of: pd.Timestamp) -> pd.Series:
    """Each customer's first default event on or before ``as_of`` (customer_id -> date)."""
    if events is None or events.empty:
        return pd.Series(dtype="datetime64[s]")
    ev = events.loc[events[KIND].isin(DEFAULT_EVENTS) & (events[EVENT_ON] <= as_of)]
    return ev.groupby(ev[CUSTOMER_ID].astype(str))[EVENT_ON].min()


def stall_entry(
    invoices: pd.DataFrame, as_of: pd.Timestamp, default_on: pd.Series, terms: np.ndarray
) -> np.ndarray:
    """Days past due at which each invoice entered the stall by ``as_of`` (NaN: it did not):
    :data:`STALL_DPD` unpaid, or its customer's first default event (``default_on``: customer_id
    -> date) while it was open, but not before its issue date (``-terms``)."""
    due = pd.to_datetime(invoices[DUE_ON])
    paid_on = pd.to_datetime(invoices[PAID_ON]).where(lambda d: d <= as_of)
    open_until = paid_on.fillna(as_of + pd.Timedelta(days=1))  # open through this day (excl.)
    late = due + pd.Timedelta(days=STALL_DPD)
    entry = np.where((late <= as_of) & (open_until > late), float(STALL_DPD), np.nan)
    if len(default_on):
        ids = invoices[CUSTOMER_ID].astype(str)
        event = pd.Series(pd.to_datetime(default_on).reindex(ids).to_numpy(), index=ids.index)
        at_event = np.maximum((event - due).dt.days.to_numpy(dtype=float), -terms.astype(float))
        hit = (event.notna() & (open_until > event)).to_numpy()
        entry = np.where(hit, np.fmin(entry, at_event), entry)
    return entry


class Stall:
    """Posterior of the stall's daily payment rates (see the module doc), with the conditional
    distribution of days past due at payment ``D`` for invoices in (or entering) the stall.

    Parameters
    ----------
    prior_payments
        Payments the prior of each segment's rate is worth.
    prior_half_days
        The stated prior: half of the stalled invoices paid within this many days.
    """

    def __init__(self, prior_payments: float = 2.0, prior_half_days: float = 365.0):
        self.prior_payments = float(prior_payments)
        self.prior_half_days = float(prior_half_days)
        self.edges = np.asarray(STALL_EDGES, dtype=float)
        self.payments = np.zeros(len(STALL_EDGES))  # segment 0: before the due date
        self.exposure = np.zeros(len(STALL_EDGES))
        self.invoices = 0

    def _bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Segment ends ``(lower, upper)``: ``(-inf, 0], (0, 30], ... (270, 365]``."""
        return np.concatenate([[-np.inf], self.edges[:-1]]), self.edges

    def fit(self, entry: np.ndarray, days: np.ndarray, paid: np.ndarray) -> Stall:
        """Count payments and days at risk from each invoice's ``entry`` (days past due) to its
        payment (``days``, where ``paid``) or censoring (``days``: days past due at the as-of
        date)."""
        entry, days = np.asarray(entry, float), np.asarray(days, float)
        paid = np.asarray(paid, bool)
        lower, upper = self._bounds()
        lo = np.maximum(entry[:, None], lower[None, :])
        hi = np.minimum(days[:, None], upper[None, :])
        self.exposure = np.maximum(hi - lo, 0.0).sum(axis=0)
        inside = paid[:, None] & (days[:, None] > lower) & (days[:, None] <= upper)
        self.payments = inside.sum(axis=0).astype(float)
        self.invoices = len(entry)
        return self

    def prior_rate(self) -> float:
        """The pooled daily rate the segments' priors centre on (see the module doc)."""
        stated = np.log(2.0) / self.prior_half_days
        return float((self.payments.sum() + 1.0) / (self.exposure.sum() + 1.0 / stated))

    def rates(self, n: int, seed: int = 0) -> np.ndarray:
        """``(n, segments)`` posterior draws of the daily payment rates."""
        a = self.prior_payments
        b = a / self.prior_rate()
        rng = np.random.default_rng(seed)
        return rng.gamma(a + self.payments, 1.0 / (b + self.exposure), (n, len(self.edges)))

    def _cumulative(self, rates: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Cumulative rate from the due date to day ``x`` (negative before it), per draw:
        ``rates (S, J)``, ``x (m,)`` -> ``(S, m)``; flat past the last edge."""
        lower, upper = self._bounds()
        x = np.minimum(np.asarray(x, float), self.edges[-1])
        total = rates[:, :1] * np.minimum(x, 0.0)[None, :]  # segment 0 runs up to the due date
        for j in range(1, len(self.edges)):
            total = total + rates[:, j : j + 1] * np.clip(x - lower[j], 0.0, upper[j] - lower[j])
        return total

    def cdf(self, rates: np.ndarray, e: np.ndarray, t) -> np.ndarray:
        """``P(D <= t | D > e)`` per draw and invoice (``e (n,)``, ``t`` a day); payment past
        :data:`STALL_EDGES`' last day is "not within a year"."""
        days, at = np.unique(np.asarray(e, float), return_inverse=True)  # few distinct days
        gained = self._cumulative(rates, np.array([float(t)])) - self._cumulative(rates, days)
        h = np.where(float(t) > days, 1.0 - np.exp(-np.maximum(gained, 0.0)), 0.0)
        return h[:, at.ravel()]

    def mean_within(self, rates: np.ndarray, e: np.ndarray) -> np.ndarray:
        """``E[D | e < D <= last edge]`` per draw and invoice, in whole days (payments land on the
        day after the continuous time, so half a day is added)."""
        days, at = np.unique(np.asarray(e, float), return_inverse=True)
        lower, upper = self._bounds()
        s = np.ones((len(rates), len(days)))
        mass, moment = np.zeros_like(s), np.zeros_like(s)
        for j in range(len(self.edges)):
            a = np.maximum(days, lower[j])[None, :]
            length = np.maximum(upper[j] - a, 0.0)
            lam = np.maximum(rates[:, j : j + 1], 1e-12)
            decay = np.exp(-lam * length)
            mass += s * (1.0 - decay)
            # int_0^L (a + y) lam exp(-lam y) dy
            moment += s * (a * (1.0 - decay) + 1.0 / lam - decay * (length + 1.0 / lam))
            s = s * decay
        mean = np.where(mass > 0, moment / np.maximum(mass, 1e-300) + 0.5, np.nan)
        return mean[:, at.ravel()]

    def sample(self, rates: np.ndarray, e: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Whole days past due at payment given ``D > e``, from uniforms ``u (S, n)``; NaN:
        not within the last edge's days."""
        e = np.asarray(e, float)
        days, at = np.unique(e, return_inverse=True)
        target = self._cumulative(rates, days)[:, at.ravel()] - np.log(np.maximum(u, 1e-300))
        lower, upper = self._bounds()
        ends = self._cumulative(rates, upper)  # (S, J): at each segment's upper end
        j = (ends[:, :, None] < target[:, None, :]).sum(axis=1)  # the segment holding the target
        inside = j < len(self.edges)
        j = np.minimum(j, len(self.edges) - 1)
        start = np.maximum(e[None, :], lower[j])  # where the target's segment begins for this e
        base = np.where(
            start > e[None, :],
            np.take_along_axis(np.concatenate([np.zeros((len(rates), 1)), ends], 1), j, 1),
            target + np.log(np.maximum(u, 1e-300)),  # the segment holding e: from e itself
        )
        x = start + (target - base) / np.maximum(np.take_along_axis(rates, j, 1), 1e-12)
        day = np.maximum(np.ceil(x), e[None, :] + 1)
        return np.where(inside, day, np.nan)

    def summary(self, prob: float = 0.9, n: int = 2000, seed: int = 0) -> dict:
        """What the stall looks like: the invoices, payments and days at risk it was learnt from,
        and the chance that an invoice stalled at :data:`STALL_DPD` days past due is paid by day
        180, 270 and 365 past due (``paid_by_<day>``), with ``prob`` intervals."""
        rates = self.rates(n, seed)
        e = np.array([float(STALL_DPD)])
        out = {
            "invoices": int(self.invoices),
            "payments": int(self.payments.sum()),
            "days_at_risk": float(self.exposure.sum()),
            "prior_half_days": self.prior_half_days,
            "prior_payments": self.prior_payments,
        }
        for t in (180, 270, 365):
            p = self.cdf(rates, e, t)[:, 0]
            lo, hi = np.quantile(p, [(1 - prob) / 2, (1 + prob) / 2])
            out[f"paid_by_{t}"] = {"mean": float(p.mean()), "lo": float(lo), "hi": float(hi)}
        return out

    def state(self) -> dict:
        """What :meth:`from_state` needs (saved with the payment model)."""
        return {
            "prior_payments": self.prior_payments,
            "prior_half_days": self.prior_half_days,
            "payments": self.payments.tolist(),
            "exposure": self.exposure.tolist(),
            "invoices": self.invoices,
        }

    @classmethod
    def from_state(cls, state: dict) -> Stall:
        stall = cls(state["prior_payments"], state["prior_half_days"])
        stall.payments = np.asarray(state["payments"], float)
        stall.exposure = np.asarray(state["exposure"], float)
        stall.invoices = int(state["invoices"])
        return stall


class WithStall:
    """Per draw and invoice: the ordinary course and the stall together, given ``D > e``.

    An invoice already in the stall (``in_stall``) is paid as stalled invoices are. Any other is
    paid in the ordinary course (``ordinary``: a
    :class:`~creditlab.models.payment_forecast.Conditional`) unless its customer defaults first or
    it reaches :data:`STALL_DPD` unpaid:

    * paid in the ordinary course by day ``t <= 90``: ``P_o(t) * exp(-rate * (m - e))``, with
      ``rate`` the customer's daily default rate (``-log(1 - PD_12m) / 365``) and ``m`` the
      ordinary course's mean payment day up to day 90 (one survival factor per draw and invoice:
      exact when ``rate`` is 0, close while ``rate`` times the spread of the day is small);
    * reaching day 90 unpaid, the customer not in default: ``(1 - P_o(90)) * exp(-rate * (90 -
      e))``, then paid as a stalled invoice that entered at day 90;
    * the rest (the customer defaults first): paid as a stalled invoice that entered today.

    The same interface as ``Conditional``: :meth:`cdf`, :meth:`mean_within`, :meth:`sample`.
    """

    def __init__(self, ordinary, stall: Stall, rates, e_now, in_stall, default_rate):
        self.ordinary, self.stall, self.rates = ordinary, stall, rates
        self.e = np.asarray(e_now, float)
        self.at = np.full_like(self.e, float(STALL_DPD))
        self.in_stall = np.asarray(in_stall, bool)[None, :]
        self.ordinary_90 = ordinary.cdf(STALL_DPD)  # kept: every t >= 90 needs it
        self.by_90 = np.where(self.in_stall, 0.0, self.ordinary_90)
        self.m = ordinary.mean_within(STALL_DPD)
        self.thin = np.exp(-default_rate * np.nan_to_num(np.maximum(self.m - self.e, 0.0)))
        self.p_ordinary = self.by_90 * self.thin
        reach = np.exp(-default_rate * np.maximum(STALL_DPD - self.e, 0.0))
        self.p_late = np.where(self.in_stall, 0.0, (1.0 - self.by_90) * reach)
        self.p_default = np.clip(1.0 - self.p_ordinary - self.p_late, 0.0, 1.0)

    def cdf(self, t) -> np.ndarray:
        """``P(D <= t | D > e)`` per draw and invoice."""
        t = float(t)
        ordinary = self.ordinary_90 if t >= STALL_DPD else self.ordinary.cdf(t)
        ordinary = np.where(self.in_stall, 0.0, ordinary)
        return (
            self.thin * ordinary
            + self.p_late * self.stall.cdf(self.rates, self.at, t)
            + self.p_default * self.stall.cdf(self.rates, self.e, t)
        )

    def mean_within(self) -> np.ndarray:
        """``E[D | e < D <= last edge]`` per draw and invoice (whole days)."""
        last = float(STALL_EDGES[-1])
        parts = [(self.p_ordinary, self.m)]
        for p, e in ((self.p_late, self.at), (self.p_default, self.e)):
            parts.append(
                (p * self.stall.cdf(self.rates, e, last), self.stall.mean_within(self.rates, e))
            )
        weight = sum(p for p, _ in parts)
        total = sum(np.where(p > 0, p * np.nan_to_num(mean), 0.0) for p, mean in parts)
        return np.where(weight > 0, total / np.maximum(weight, 1e-300), np.nan)

    def sample(self, u: np.ndarray) -> np.ndarray:
        """Whole days past due (NaN: not within a year). One uniform per draw and invoice picks
        the path and, rescaled to that path, the day on it."""
        po, pl, pd_ = self.p_ordinary, self.p_late, self.p_default

        def within(v, p):
            return np.clip(v / np.maximum(p, 1e-12), 1e-12, 1.0)

        ordinary = self.ordinary.sample(within(u, po) * self.by_90)
        late = self.stall.sample(self.rates, self.at, within(u - po, pl))
        default = self.stall.sample(self.rates, self.e, within(u - po - pl, pd_))
        return np.where(u < po, ordinary, np.where(u < po + pl, late, default))
