"""Forecasts from the payment-timing model's posterior draws: the distribution of an open invoice's
payment day given what is known today, and the weekly cash collections from simulated payments.

``G`` (per draw and invoice) is the model's CDF of days past due at payment, truncated at the
issue date and spread evenly over the days inside each bucket; for an invoice ``e`` days past due,
``P(D <= t | D > e) = (G(t) - G(e)) / (1 - G(e))``. A bucket whose days the customer does not pay
on (a weekend, a bank holiday, days outside its payment runs) passes its probability to the next
bucket: the ordinal model cannot leave a bucket empty, but a Friday-due invoice is not paid on
days +1 and +2.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from creditlab.kpi import as_timestamp

__all__ = [
    "CLOSED_SHARE",
    "MIN_WEEKS",
    "MIN_WEEK_INVOICES",
    "SHAPE_KNOTS",
    "SHAPE_PRIOR",
    "SHAPE_WEEKDAY_PRIOR",
    "TURN_AFTER",
    "TURN_DAYS",
    "TURN_PRIOR",
    "Conditional",
    "cash_forecast",
    "due_week_correlation",
    "due_weeks",
    "month_end_days",
    "month_turn_days",
    "month_turn_lift",
    "quantile_shapes",
    "reshape_quantiles",
    "week_uniforms",
]

# a bucket is closed when its days weigh under this share of as many average days of its customer
CLOSED_SHARE = 0.1
# a due week counts towards the common weekly factor with this many training invoices, and the
# factor is estimated from this many such weeks (fewer: none)
MIN_WEEK_INVOICES, MIN_WEEKS = 30, 8
# late payments cluster at the month turn (collections' month-end runs, statements): a payment more
# than TURN_AFTER days past due on one of a month's last TURN_DAYS[0] or first TURN_DAYS[1] days
# weighs the learnt lift more, across lateness buckets; TURN_PRIOR payments at chance shrink the
# lift towards 1
TURN_AFTER, TURN_DAYS, TURN_PRIOR = 14, (5, 3), 20.0
# a customer's own shape: the CDF of its invoices' payment quantiles on this many knots, pooled
# with SHAPE_PRIOR invoices' worth of the model's (uniform quantiles); per due weekday, pooled
# with SHAPE_WEEKDAY_PRIOR invoices' worth of the customer's
SHAPE_KNOTS, SHAPE_PRIOR, SHAPE_WEEKDAY_PRIOR = 401, 30.0, 30.0


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


def due_weeks(due_on) -> np.ndarray:
    """The Monday-to-Sunday week each due date falls in, as whole weeks since Monday
    1970-01-05."""
    return (np.asarray(due_on, dtype="datetime64[D]").astype(np.int64) - 4) // 7


def due_week_correlation(lo, hi, due_on) -> tuple[float, int]:
    """How much invoices due in the same week share their payment timing: ``(rho, weeks)``.

    ``lo, hi`` bound each training invoice's probability integral transform under the model
    (paid ``d`` days past due: ``G(d - 1), G(d)``; still open ``e`` days past due: ``G(e), 1``),
    so its normal score ``z = ndtri(PIT)`` is standard normal. A common factor per due week,
    ``z = sqrt(rho) c_week + sqrt(1 - rho) e``, makes the weekly means of ``m = E[z | lo < PIT <
    hi]`` vary by ``rho * kappa**2`` beyond their sampling noise, ``kappa = E[m**2]`` being the
    share of ``z``'s variance the bounds keep. ``rho`` (clipped to 0 to 0.9) is that excess over
    ``kappa**2``, from the weeks with :data:`MIN_WEEK_INVOICES` invoices or more; with fewer than
    :data:`MIN_WEEKS` such weeks, ``(0.0, weeks)``."""
    lo = np.clip(np.asarray(lo, float), 1e-6, 1 - 1e-6)
    hi = np.clip(np.asarray(hi, float), 1e-6, 1 - 1e-6)
    a, b = ndtri(lo), ndtri(np.maximum(hi, lo))
    mass = ndtr(b) - ndtr(a)
    density = np.exp(-0.5 * a**2) - np.exp(-0.5 * b**2)
    m = np.where(
        mass > 1e-9, density / np.sqrt(2 * np.pi) / np.maximum(mass, 1e-300), 0.5 * (a + b)
    )
    week = np.unique(due_weeks(due_on), return_inverse=True)[1]
    n = np.bincount(week)
    keep = n >= MIN_WEEK_INVOICES
    if keep.sum() < MIN_WEEKS:
        return 0.0, int(keep.sum())
    rows = keep[week]
    mean = np.bincount(week[rows], m[rows], len(n))[keep] / n[keep]
    square = np.bincount(week[rows], m[rows] ** 2, len(n))[keep] / n[keep]
    within = (square - mean**2) * n[keep] / (n[keep] - 1)  # each week's variance
    excess = mean.var(ddof=1) - np.mean(within / n[keep])
    kappa = np.mean(m[rows] ** 2)
    return float(np.clip(excess / max(kappa, 1e-12) ** 2, 0.0, 0.9)), int(keep.sum())


def quantile_shapes(lo, hi, codes, groups: int, prior=None, weight: float = SHAPE_PRIOR):
    """Per group (a customer), the CDF of its invoices' payment quantiles under the model at
    :data:`SHAPE_KNOTS` evenly spaced quantiles ``(groups, SHAPE_KNOTS)``: each invoice's
    quantile uniform between its bounds ``lo, hi`` (as for :func:`due_week_correlation`), pooled
    with ``weight`` invoices' worth of ``prior`` (``(groups, SHAPE_KNOTS)``; default the
    diagonal: uniform quantiles, the model's own shape). A customer whose days the model's shape
    fits has the diagonal; one that pays three days early nearly every time, where the shared
    shape spreads it over a week, has a steep step there."""
    grid = np.linspace(0.0, 1.0, SHAPE_KNOTS)
    prior = np.broadcast_to(grid, (groups, SHAPE_KNOTS)) if prior is None else prior
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    width = np.maximum(hi - lo, 1e-12)
    below = np.clip((grid[None, :] - lo[:, None]) / width[:, None], 0.0, 1.0)  # (n, K)
    sums = np.zeros((groups, SHAPE_KNOTS))
    np.add.at(sums, np.asarray(codes), below)
    counts = np.bincount(np.asarray(codes), minlength=groups)
    return (sums + weight * prior) / (counts + weight)[:, None]


def reshape_quantiles(values: np.ndarray, shapes: np.ndarray) -> np.ndarray:
    """``values`` (``(S, n, ...)`` quantiles of the model) through each row's CDF ``shapes``
    (``(n, SHAPE_KNOTS)``, from :func:`quantile_shapes`), linear between knots."""
    x = np.clip(values, 0.0, 1.0) * (SHAPE_KNOTS - 1)
    i = np.minimum(x.astype(np.int64), SHAPE_KNOTS - 2)
    row = np.arange(shapes.shape[0]).reshape((1, -1) + (1,) * (values.ndim - 2))
    a, b = shapes[row, i], shapes[row, i + 1]
    return a + (x - i) * (b - a)


def week_uniforms(rng, common: np.ndarray, weeks: np.ndarray, rho: float) -> np.ndarray:
    """Uniforms ``(S, n)`` for simulated payment days that share a factor per due week (Gaussian
    copula): invoice ``i`` gets ``ndtr(sqrt(rho) common[:, weeks[i]] + sqrt(1 - rho) e)``, with
    ``common`` ``(S, W)`` standard normals per draw and week. Each is uniform; a week's are
    correlated."""
    own = rng.standard_normal((common.shape[0], len(weeks)))
    return ndtr(np.sqrt(rho) * common[:, weeks] + np.sqrt(1.0 - rho) * own)


def month_end_days(dates: np.ndarray) -> np.ndarray:
    """Whether each date (``datetime64[D]``) is its month's last weekday (Monday to Friday): the
    day month-end payment runs go out."""
    dates = np.asarray(dates, dtype="datetime64[D]")
    if dates.size == 0:
        return np.zeros(dates.shape, dtype=bool)
    first = dates.min()
    every = np.arange(first, dates.max() + 1)  # each day once: invoices share most of them
    last = (every.astype("datetime64[M]") + 1).astype("datetime64[D]") - 1
    flags = every == np.busday_offset(last, 0, roll="backward")
    return flags[(dates - first).astype(np.int64)]


def month_turn_days(dates: np.ndarray) -> np.ndarray:
    """Whether each date (``datetime64[D]``) lies at its month's turn: its last
    ``TURN_DAYS[0]`` calendar days or first ``TURN_DAYS[1]``."""
    dates = np.asarray(dates, dtype="datetime64[D]")
    first = dates.astype("datetime64[M]").astype("datetime64[D]")
    following = (dates.astype("datetime64[M]") + 1).astype("datetime64[D]")
    return (dates - first < TURN_DAYS[1]) | (following - dates <= TURN_DAYS[0])


def month_turn_lift(on_turn: np.ndarray, turn_share: np.ndarray) -> float:
    """The lift of a late payment's weight on month-turn days: ``L`` with
    ``mean(L f / (L f + 1 - f))`` equal to the share of the payments made at a month turn
    (``on_turn``), ``f`` (``turn_share``) being the share of each payment's late tail
    (:meth:`Conditional.turn_share`: the model's probability more than :data:`TURN_AFTER` days
    past due, the days weighted by the calendar) on month-turn days without the lift;
    :data:`TURN_PRIOR` payments at chance (``L = 1``) join the observed ones. Payments whose tail
    holds no month-turn day, or only such days, say nothing of ``L`` and are left out; 1.0
    without any."""
    f = np.asarray(turn_share, float)
    tells = (f > 1e-9) & (f < 1 - 1e-9)
    if not tells.any():
        return 1.0
    f, hits = f[tells], np.asarray(on_turn, bool)[tells]
    target = (hits.sum() + TURN_PRIOR * f.mean()) / (len(f) + TURN_PRIOR)
    lo, hi = -5.0, 5.0  # log L: the expected share increases with it
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        expected = np.mean(np.exp(mid) * f / (np.exp(mid) * f + 1 - f))
        lo, hi = (mid, hi) if expected < target else (lo, mid)
    return float(np.exp(0.5 * (lo + hi)))


def _shut(dates: np.ndarray, closed) -> np.ndarray:
    """Whether banks are closed on each of ``dates`` (rows of days): ``closed`` is
    ``(codes, calendars)``, row ``i`` closed on ``calendars[codes[i]]``
    (:func:`~creditlab.models.payment_data.payer_calendars`)."""
    codes, calendars = closed
    shut = np.zeros(dates.shape, dtype=bool)
    for k, calendar in enumerate(calendars):
        rows = np.asarray(codes) == k
        if rows.any() and len(calendar):
            shut[rows] = np.isin(dates[rows], np.asarray(calendar, dtype="datetime64[D]"))
    return shut


def _to_open_days(w: np.ndarray, dates: np.ndarray, shut: np.ndarray) -> np.ndarray:
    """Day weights ``w`` (rows of consecutive ``dates``) with the weight of each day banks are
    closed (``shut``) moved to the next weekday they are open (dropped past a row's last
    date)."""
    if not shut.any():
        return w
    span = w.shape[1]
    weekday = (dates.astype(np.int64) + 3) % 7  # Monday 0 (1970-01-01 was a Thursday)
    position = np.where(~shut & (weekday < 5), np.arange(span)[None, :], span)
    following = np.minimum.accumulate(position[:, ::-1], axis=1)[:, ::-1]  # open at or after
    after = np.concatenate([following[:, 1:], np.full((len(w), 1), span)], axis=1)
    out = np.where(shut, 0.0, w)
    r, c = np.nonzero(shut & (after < span))
    np.add.at(out, (r, after[r, c]), w[r, c])
    return out


class _Days:
    """Cumulative day weights per invoice, tabulated day by day from ``start``: ``C(x)`` sums the
    weights of the whole days ``start < d <= x`` and ``M(x)`` their weighted days (``d * w(d)``).

    A payment ``d`` days after the due date weighs ``weights[i, d % 7]`` (the customer's weekday
    shares, turned so that column 0 is the due date's weekday), times ``lift[i]`` when that date is
    its month's last weekday (a month-end payer's run; ``due``: each invoice's due date). On a
    bank holiday (``closed``: see :func:`_shut`) nothing is paid: its weight goes to the next
    weekday banks are open (a run due on Thursday 4 July goes out on the Friday); where that day
    lies in the next bucket, the bucket's other days share the holiday's probability, and a
    bucket left with no open day passes it to the next bucket (:func:`_carry_closed`). A day
    more than :data:`TURN_AFTER` days past due at a month turn weighs ``turn`` times more (late
    payments cluster there: :func:`month_turn_lift`). With every weight 1, ``C(x) = x - start``
    (days inside a bucket equally likely)."""

    def __init__(self, start, weights, last, due=None, lift=None, closed=None, turn=1.0):
        self.start = np.asarray(start, dtype=float)
        n = len(self.start)
        span = int(np.max(last - self.start)) if n else 0  # days tabulated per invoice
        day = self.start[:, None] + np.arange(1, span + 1)[None, :]  # (n, span)
        w = np.take_along_axis(weights, day.astype(np.int64) % 7, axis=1)
        turned = np.zeros(w.shape, dtype=bool)  # late days at a month turn
        if due is not None:
            dates = np.asarray(due, dtype="datetime64[D]")[:, None] + day.astype(np.int64)
            if lift is not None:
                w = np.where(month_end_days(dates), w * np.asarray(lift, float)[:, None], w)
            turned = (day > TURN_AFTER) & month_turn_days(dates)
            w = np.where(turned, w * turn, w)
            if closed is not None:
                w = _to_open_days(w, dates, _shut(dates, closed))
        zero = np.zeros((n, 1))
        self.c = np.concatenate([zero, np.cumsum(w, axis=1)], axis=1)  # (n, span + 1)
        self.m = np.concatenate([zero, np.cumsum(w * day, axis=1)], axis=1)
        self.t = np.concatenate([zero, np.cumsum(w * turned, axis=1)], axis=1)
        self.span = span

    def _at(self, table, x):
        k = np.clip(np.asarray(x, dtype=float) - self.start, 0, self.span).astype(np.int64)
        return table[np.arange(len(self.start)), k]

    def cum(self, x):
        """``C(x)`` for ``x`` of shape ``(..., n)`` (whole days)."""
        return self._at(self.c, x)

    def turned(self, x):
        """The part of ``C(x)`` on late month-turn days."""
        return self._at(self.t, x)

    def moment(self, x):
        """``M(x)``: the sum of ``d * w(d)`` over ``start < d <= x``."""
        return self._at(self.m, x)

    def inverse(self, target):
        """The first whole day ``d`` with ``C(d) >= target`` (``target`` of shape ``(S, n)``)."""
        target = np.maximum(target * (1.0 - 1e-12), 0.0)
        n, width = self.c.shape
        # one sorted array for every invoice: row i's table shifted above row i - 1's
        shift = np.arange(n) * (self.c[:, -1].max() + 1.0)
        flat = (self.c + shift[:, None]).ravel()
        k = np.searchsorted(flat, target + shift[None, :], side="left") - np.arange(n) * width
        return self.start[None, :] + np.clip(k, 1, width - 1)


def _carry_closed(values, knots, c_knots, day_weight):
    """``values`` (``G`` at the knots, ``(S, n, E + 1)``) with each closed bucket's probability
    passed to the next bucket: a bucket is closed when its day weights (``c_knots``) sum to under
    :data:`CLOSED_SHARE` of its length times the row's mean day weight ``day_weight``. ``G`` at a
    closed bucket's upper knot becomes its lower knot's; the last bucket keeps its mass (none
    follows it inside the horizon)."""
    closed = np.diff(c_knots, axis=1) < CLOSED_SHARE * np.diff(knots, axis=1) * day_weight[:, None]
    closed[:, -1] = False
    if not closed.any():
        return values
    out = values.copy()
    for j in np.flatnonzero(closed.any(axis=0)):  # in order: a run of closed buckets carries on
        rows = closed[:, j]
        out[:, rows, j + 1] = out[:, rows, j]
    return out


class Conditional:
    """Per draw and invoice: the distribution of ``D`` given ``D > e`` (and ``D >= -terms``).

    ``G`` takes the model's CDF ``logistic((cut - eta) / scale)`` (``scale`` per draw and
    invoice, default 1), truncated at the issue date, at the knots ``-terms - 1``
    (value 0) and the bucket edges; inside a bucket its mass goes to the whole days in proportion
    to ``day_weights`` (``(n, 7)``: the weight of a payment ``d`` days after the due date is
    ``day_weights[i, d % 7]``, the customer's weekday shares turned to its due date's weekday;
    default equal), times ``month_end_lift[i]`` on its month's last weekday (``due_on``: the due
    dates; default no lift), none on a bank holiday (``closed``: ``(codes, calendars)``, invoice
    ``i`` closed on ``calendars[codes[i]]``; its weight to the next open day), times ``turn``
    more than :data:`TURN_AFTER` days past due at a month turn, across buckets
    (:meth:`_tilt_tail`). With ``shapes`` (``(n, SHAPE_KNOTS)``: a customer's own shape,
    :func:`quantile_shapes`), ``G`` at the knots goes through it. A bucket with (almost) no
    weight on its days passes its probability to the next (:func:`_carry_closed`).
    Mass past the last edge means "not paid within the last edge's days".
    """

    def __init__(
        self,
        cut,
        eta,
        edges,
        terms,
        e_now,
        day_weights=None,
        scale=None,
        due_on=None,
        month_end_lift=None,
        closed=None,
        turn=1.0,
        shapes=None,
    ):
        s, n = eta.shape
        scale = np.ones_like(eta) if scale is None else scale
        f = 1.0 / (1.0 + np.exp(-(cut[:, None, :] - eta[:, :, None]) / scale[:, :, None]))
        start = -np.asarray(terms, dtype=float) - 1.0
        tb = np.searchsorted(edges, -terms, side="left")  # bucket holding the issue date
        f_tr = np.where(tb > 0, f[:, np.arange(n), np.maximum(tb - 1, 0)], 0.0)  # (S, n)
        g = np.clip((f - f_tr[..., None]) / (1.0 - f_tr[..., None]), 0.0, 1.0)
        self.knots = np.concatenate(
            [start[:, None], np.maximum(edges[None, :], start[:, None])], axis=1
        )  # (n, E + 1)
        weights = np.ones((n, 7)) if day_weights is None else np.asarray(day_weights, float)
        self.days = _Days(start, weights, edges[-1], due_on, month_end_lift, closed, turn)
        self.c_knots = self.days.cum(self.knots.T).T  # (n, E + 1)
        values = np.concatenate([np.zeros((s, n, 1)), g], axis=2)  # (S, n, E + 1)
        if shapes is not None:
            values = reshape_quantiles(values, shapes)
        values = _carry_closed(values, self.knots, self.c_knots, weights.mean(axis=1))
        if turn != 1.0 and due_on is not None:
            values = self._tilt_tail(values, turn)
        self.values = values
        self.e_now = np.asarray(e_now, dtype=float)
        self.g_now = self._g(self.e_now)
        self.left = np.maximum(1.0 - self.g_now, 1e-12)

    def _late_buckets(self):
        """``(late, weight, turned)``: which buckets lie wholly more than :data:`TURN_AFTER` days
        past due ``(n, E)``, and each bucket's day weight and its part on month-turn days."""
        late = self.knots[:, :-1] >= TURN_AFTER
        turned = np.diff(self.days.turned(self.knots.T).T, axis=1)
        return late, np.diff(self.c_knots, axis=1), turned

    def _tilt_tail(self, values, turn):
        """``G`` at the knots with the late tail (buckets past :data:`TURN_AFTER` days, up to
        the last edge) tilted towards month turns: each such bucket's probability times the
        ratio of its day weight with the lift to without (the days' weights already carry it),
        the tail's total kept. So a late payment's day is the model's, times ``turn`` on a
        month-turn day, across buckets: a customer clearing its backlog at the month's end pays
        then, not spread over the weeks between."""
        late, weight, turned = self._late_buckets()
        plain = weight - turned + turned / turn  # the same days without the lift
        ratio = np.where(late & (plain > 0), weight / np.maximum(plain, 1e-300), 1.0)
        mass = np.diff(values, axis=2)  # (S, n, E)
        tail = (mass * late).sum(axis=2)
        tilted = mass * ratio
        keep = tail / np.maximum((tilted * late).sum(axis=2), 1e-300)
        mass = np.where(late, tilted * keep[..., None], mass)
        return np.concatenate([values[..., :1], values[..., :1] + np.cumsum(mass, axis=2)], 2)

    def turn_share(self):
        """Per draw and invoice, the share of its late tail's probability (more than
        :data:`TURN_AFTER` days past due, up to the last edge) on month-turn days: the ``f`` of
        :func:`month_turn_lift` for a distribution built without the lift; NaN without a tail."""
        late, weight, turned = self._late_buckets()
        mass = np.diff(self.values, axis=2) * late
        on_turn = (mass * (turned / np.maximum(weight, 1e-300))).sum(axis=2)
        total = mass.sum(axis=2)
        return np.where(total > 0, on_turn / np.maximum(total, 1e-300), np.nan)

    def _g(self, x):
        """``G(x)`` for one whole day per invoice (array of length n or a scalar)."""
        x = np.broadcast_to(np.asarray(x, dtype=float), self.knots.shape[:1])
        j = np.clip((self.knots < x[:, None]).sum(axis=1), 1, self.knots.shape[1] - 1)
        c0 = np.take_along_axis(self.c_knots, (j - 1)[:, None], 1)[:, 0]
        c1 = np.take_along_axis(self.c_knots, j[:, None], 1)[:, 0]
        v0 = np.take_along_axis(self.values, (j - 1)[None, :, None], 2)[..., 0]
        v1 = np.take_along_axis(self.values, j[None, :, None], 2)[..., 0]
        w = np.clip((self.days.cum(x) - c0) / np.maximum(c1 - c0, 1e-12), 0.0, 1.0)
        return np.where(x >= self.knots[:, -1], self.values[..., -1], v0 + w * (v1 - v0))

    def cdf(self, t):
        """``P(D <= t | D > e)`` per draw and invoice (0 where ``t <= e``)."""
        t = np.broadcast_to(np.asarray(t, dtype=float), self.e_now.shape)
        h = (self._g(t) - self.g_now) / self.left
        return np.where(t > self.e_now, np.clip(h, 0.0, 1.0), 0.0)

    def mean_within(self, until: float | None = None):
        """``E[D | e < D <= last edge]`` per draw and invoice (whole days); with ``until`` (a
        bucket edge), ``E[D | e < D <= until]``."""
        lower = np.maximum(self.knots[:, :-1], self.e_now[:, None])  # (n, E)
        upper = self.knots[:, 1:]
        # G at a bucket's lower end is its left knot's value, or G(e) in the bucket holding e
        g_lower = np.where(lower > self.knots[:, :-1], self.g_now[..., None], self.values[..., :-1])
        counted = upper > lower if until is None else (upper > lower) & (upper <= until)
        mass = np.where(counted, self.values[..., 1:] - g_lower, 0.0)
        days = self.days
        weight = days.cum(upper.T).T - days.cum(lower.T).T
        mid = (days.moment(upper.T).T - days.moment(lower.T).T) / np.maximum(weight, 1e-300)
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
        rows = np.arange(self.knots.shape[0])[None, :]
        c0, c1 = self.c_knots[rows, j - 1], self.c_knots[rows, j]
        frac = np.clip((target - v0) / np.maximum(v1 - v0, 1e-12), 0.0, 1.0)
        days = np.maximum(self.days.inverse(c0 + frac * (c1 - c0)), self.e_now[None, :] + 1)
        return np.where(target > values[..., -1], np.nan, days)
