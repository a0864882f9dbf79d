"""Bayesian time-to-payment model: when will each open invoice be paid?

The days from due date to payment, ``D = paid_on - due_on`` (negative: paid early), fall into
lateness buckets with upper ends ``edges`` (days past due, e.g. ``... -2, 0, 2, 4, 7, ... 90, 120,
180, 365``; the last bucket, past a year, means "not paid within a year"). An ordinal (cumulative
logit) model places every invoice on a latent lateness scale::

    P(D <= edge_j) = logistic((cut_j - eta) / s[customer]),   cut_due = 0
    eta = u[customer] + w[due weekday] + v[customer, due weekday] + x @ beta
    u[c] ~ Normal(mu + g[industry of c], sigma_customer)      g = sigma_group * ZeroSumNormal
    w ~ ZeroSumNormal(prior_weekday_sigma),   v[c, :] ~ ZeroSumNormal(prior_weekday_sigma)
    log s[c] ~ Normal(0, prior_scale_sigma)

so a customer's effect shifts its whole payment distribution (an accelerated-time model, not
proportional hazards: a customer who pays at day 45 +- 6 is not an exponential wait), a new customer
borrows from its industry and a long-standing one from its own history. ``x`` holds invoice
covariates that are categorical, so the likelihood is exact on aggregated cells (customer x
covariate pattern x due weekday x bucket): disputed, amount far below/above the customer's usual
(median), and paperless billing where the ledger has it.

A customer with ``own_timing_min_invoices`` invoices or more also has its own due-weekday effects
``v`` and its own spread ``s`` (a retailer that pays three days early, give or take one, is not a
wholesaler that pays within two weeks); the others have ``v = 0`` and ``s = 1``, so the population's
cutpoints are theirs and the few rich customers do not bend them.

Payment calendars. B2B customers pay in payment runs (fixed weekdays, month end, never at the
weekend), so when an invoice falls due matters: ``w`` moves the payment by the due date's weekday
for the portfolio and ``w + v`` for a customer with its own effects. Inside a bucket, the days get
the customer's weekday shares of payments (:meth:`PaymentModel.day_weights`, pooled with its
industry's) instead of equal weights, so forecasts land on the days the customer actually pays;
the likelihood is on buckets, so this moves no bucket's probability, except that a bucket with no
day the customer pays on (a Friday-due invoice's days +1 and +2) passes its probability to the
next one (:mod:`creditlab.models.payment_forecast`).

The due date's cutpoint is the origin of the latent scale and the other cutpoints lie
Gamma-distributed gaps either side, so a bucket no training invoice reached still has a proper
(prior) width; ``mu`` is the typical customer's location.

Exact partial information, not approximations:

* an invoice still open at the training date is right-censored: ``D > dpd`` (bucket >= k);
* an invoice cannot be paid before it is issued, so every likelihood term is truncated at
  ``D >= -terms`` (the bucket holding the issue date and later).

Stalled invoices (90+ days past due, or of a customer with a default event) leave the ordinary
course: the ordinal model sees each as right-censored on the day it stalled, and their recoveries
have a model of their own (:mod:`creditlab.models.payment_stall`), which forecasts combine with this
one and the customer's PD.

Above ``sample_above`` customers, NUTS fits the population on a sample of ``sample_customers`` of
them and every other customer's effect is drawn given each posterior draw
(:mod:`creditlab.models.payment_scale`).

Predictions condition on what is known today: an open invoice ``e`` days past due (``e < 0``: not
yet due) has ``P(D <= t | D > e) = (G(t) - G(e)) / (1 - G(e))``, with ``G`` the model's CDF spread
over the days inside each bucket by the customer's calendar. Every probability is averaged over
posterior draws; payment dates are simulated per draw (customer effects shared by a customer's
invoices, and a factor by invoices due in the same week), which gives the date intervals and the
weekly cash forecast's intervals.

After the fit, the training invoices' payment quantiles under the model give each customer with
``own_shape_min_invoices`` invoices its own shape per due weekday and the due weeks' shared
timing (:mod:`creditlab.models.payment_forecast`), and the late ones the month-turn lift.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy.special import gammaln

from creditlab.errors import ConfigError
from creditlab.ledger.schema import COUNTRY, CUSTOMER_ID, DUE_ON
from creditlab.models.diagnostics import GateConfig, GateResult, convergence_gate
from creditlab.models.payment_data import PaymentConfig, payer_calendars, payment_cells
from creditlab.models.payment_forecast import (
    SHAPE_KNOTS,
    SHAPE_WEEKDAY_PRIOR,
    TURN_AFTER,
    Conditional,
    due_week_correlation,
    due_weeks,
    month_end_days,
    month_turn_days,
    month_turn_lift,
    quantile_shapes,
    reshape_quantiles,
    week_uniforms,
)
from creditlab.models.payment_promises import PendingPromises, WithPromise
from creditlab.models.payment_scale import choose_sample, conditional_effects
from creditlab.models.payment_stall import Stall, WithStall
from creditlab.models.pd_design import level_codes
from creditlab.models.sampling import SamplerConfig, read_posterior, sample, write_posterior

if TYPE_CHECKING:
    import arviz as az

__all__ = ["CONDITIONAL_DRAWS", "DAY_NAMES", "WEEKDAYS", "PaymentModel"]

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
DAY_NAMES = dict(
    zip(
        WEEKDAYS,
        ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
        strict=True,
    )
)

log = logging.getLogger(__name__)

# how nutpie evaluates the model: Numba when NUTS fits every customer, JAX for a sample fit (more
# than sample_above customers). JAX's gradient was twice as fast at 1,000 customers (32k cells:
# fit 50 s against 100 s, benchmarks/payment_timing.py; the demo 45 s against 67 s), but the same
# seeds walk other paths: on the HighRadius weekly run JAX's extended fit failed the gate (one
# customer's tail ESS 299) where Numba's passed (887), so full fits keep Numba
FULL_FIT_BACKEND, SAMPLE_FIT_BACKEND = "numba", "jax"
# what is learnt from the training invoices after the fit (own shapes, the due-week correlation,
# the month-turn lift) comes from this many invoices at most, and this many posterior draws
QUANTILE_ROWS, QUANTILE_DRAWS = 50_000, 100
# the payments' worth of prior a customer's calendar may get (calendar_prior_payments: auto)
CALENDAR_POOLING = np.geomspace(0.5, 5000.0, 81)
USUAL_INVOICES = 30  # "usually ... days": the median over a customer's last this many invoices
CONDITIONAL_DRAWS = 400  # posterior draws a sample fit's left-out customers get effects for
# the share of each weekday's dates (Monday first) that are their month's last weekday
_DAYS = np.arange(np.datetime64("2001-01-01"), np.datetime64("2101-01-01"))
_MONTH_END_BY_WEEKDAY = np.bincount(
    (_DAYS.astype(np.int64) + 3) % 7, month_end_days(_DAYS), minlength=7
) / np.bincount((_DAYS.astype(np.int64) + 3) % 7, minlength=7)
_DIAGONAL = np.linspace(0.0, 1.0, SHAPE_KNOTS)  # the model's own shape: quantiles unchanged
_BIG = 50.0  # stands in for an infinite cutpoint (exp(+-_BIG) stays finite in float32: JAX)


def _log_sigmoid(x):
    import pytensor.tensor as pt

    return -pt.softplus(-x)


def _weekday_effects(w, sigma: float, rich: np.ndarray, n: int):
    """Each customer's departure ``v`` from the population's due-weekday offsets ``w`` (dims
    ``customer, weekday``, summing to zero over weekdays), for the ``rich`` customers only: their
    total ``w + v`` is the parameter, drawn around ``w`` (a zero-sum normal written as a normal less
    its weekday mean), so a customer whose invoices pin its weekdays down does not tie ``w`` to its
    ``v``. The prior's spread ``sigma`` is fixed: a learnt one formed a funnel with the weekday
    means, which no data inform. The other customers keep the population's offsets."""
    import pymc as pm
    import pytensor.tensor as pt

    v = pt.zeros((n, 7))
    centred = np.flatnonzero(rich)
    if len(centred):
        total = pm.Normal("weekday_centred", w[None, :], sigma, shape=(len(centred), 7))
        total = total - total.mean(axis=1, keepdims=True)
        v = pt.set_subtensor(v[centred], total - w[None, :])
    return pm.Deterministic("customer_weekday", v, dims=("customer", "weekday"))


def _customer_effects(mean_u, sigma_c, rich: np.ndarray, n: int):
    """The customer effects ``u`` (dims ``customer``): centred for the ``rich`` customers (their
    likelihood pins each effect down), non-centred for the rest (their prior does)."""
    import pymc as pm
    import pytensor.tensor as pt

    mean_u = mean_u * pt.ones(n)
    u = pt.zeros(n)
    centred, thin = np.flatnonzero(rich), np.flatnonzero(~rich)
    if len(centred):
        u_rich = pm.Normal("u_centred", mean_u[centred], sigma_c, shape=len(centred))
        u = pt.set_subtensor(u[centred], u_rich)
    if len(thin):
        z = pm.Normal("z_customer", 0.0, 1.0, shape=len(thin))
        u = pt.set_subtensor(u[thin], mean_u[thin] + sigma_c * z)
    return pm.Deterministic("u", u, dims="customer")


class PaymentModel:
    """A fitted (or to-be-fitted) payment-timing model.

    Examples
    --------
    >>> model = PaymentModel().fit(payment_frame(invoices, customers, "2026-11-20"))  # doctest: +SKIP
    >>> model.forecast(open_frame, as_of="2026-11-20")                               # doctest: +SKIP
    """

    def __init__(
        self, model_config: PaymentConfig | None = None, sampler_config: SamplerConfig | None = None
    ):
        self.model_config = model_config or PaymentConfig()
        self.sampler_config = sampler_config or SamplerConfig()
        self.idata: az.InferenceData | None = None
        self.covariates: list[str] = []
        self.customers: list[str] = []
        self.groups: list[str] = []
        self.customer_group: list[int] = []
        self.centred = 0  # how many customer effects are centred (the rest: non-centred)
        self.weekday = False  # due-weekday effects in the model
        # per customer, due weekday and weekday paid: how many paid invoices (Monday first)
        self.paid_weekdays = np.zeros((0, 7, 7))
        self.month_end_paid = np.zeros(0)  # per customer: paid invoices on the month's last weekday
        # payments' worth of prior behind each customer's calendar (learnt: _calendar_pooling)
        self.calendar_k = 7.0
        self.group_centred = False
        self.sampled_with: dict[str, str] = {}
        self.timings: dict[str, float] = {}
        self.n_invoices = self.n_paid = self.n_cells = 0
        self.stall: Stall | None = None  # how stalled invoices are paid (None: no stall)
        self.fitted: list[str] = []  # the customers in the NUTS fit (all, unless a sample fit)
        self.extra_customers: list[str] = []  # left out of a sample fit: conditional effects
        self.extra_u = np.zeros((0, 0))
        # invoices due in the same week share this correlation of their timing, estimated from
        # week_count due weeks (payment_forecast.due_week_correlation)
        self.week_rho, self.week_count = 0.0, 0
        # late payments at a month turn: their day weight's lift, and what it was learnt from
        # (late payments, how many at a month turn, the share the model's tail and calendars give)
        self.month_turn = {"lift": 1.0, "payments": 0, "at_turn": 0, "by_calendar": 0.0}
        # each customer with own_shape_min_invoices invoices: its own shape (quantile CDF) per
        # due weekday (customer, weekday, knot)
        self.shape_customers: list[str] = []
        self.shapes = np.zeros((0, 7, SHAPE_KNOTS))
        self.provenance: dict = {}

    # -- build ----------------------------------------------------------------------------
    def build(self, frame: pd.DataFrame):
        """The PyMC model for a :func:`payment_frame` (called by :meth:`fit`)."""
        import pymc as pm
        import pytensor
        import pytensor.tensor as pt

        mc = self.model_config
        t0 = time.perf_counter()
        self.covariates = [c for c in mc.covariates if frame[c].nunique() > 1]
        dropped = sorted(set(mc.covariates) - set(self.covariates))
        if dropped:
            log.info("payment covariates left out (constant in training): %s", dropped)
        group = mc.group if mc.group and mc.group in frame else None
        self.groups = sorted(frame[group].astype(str).unique()) if group else ["all"]
        frame = self._customer_tables(self._ordinary_course(frame))
        self.fitted = list(self.customers)
        self.weekday = bool(mc.calendar and frame["due_weekday"].nunique() > 1)
        cells, patterns = payment_cells(frame, mc.edges, self.covariates, self.weekday)
        self.timings["aggregate_s"] = round(time.perf_counter() - t0, 3)
        self.n_invoices, self.n_paid = len(frame), int(frame["paid"].sum())
        self.n_cells = len(cells)
        invoices = np.bincount(frame["_customer"], minlength=len(self.customers))
        # each customer's effect is centred when its own invoices pin it down and non-centred when
        # it leans on the population: one parameterisation for all fails either way on real
        # ledgers (a retailer with 8,000 invoices beside hundreds with 3 ties mu to its effect)
        rich = invoices >= mc.centred_min_invoices
        self.centred = int(rich.sum())
        rich_timing = invoices >= mc.own_timing_min_invoices  # own weekday effects and spread
        per_group = np.bincount(self.customer_group, minlength=len(self.groups))
        self.group_centred = bool(per_group.min() >= mc.centred_min_group_customers)
        log.info(
            "modelling days to payment in %d buckets with covariates %s; %d customer effects "
            "(%d centred with >= %d invoices, median %.0f invoices) pooled by %s (%s); %s "
            "invoices (%s paid) in %s cells",
            len(mc.edges) + 1,
            self.covariates or "none",
            len(self.customers),
            self.centred,
            mc.centred_min_invoices,
            float(np.median(invoices)),
            group or "one population",
            "centred" if self.group_centred else "non-centred",
            f"{self.n_invoices:,}",
            f"{self.n_paid:,}",
            f"{self.n_cells:,}",
        )

        fx = pytensor.config.floatX
        edges = np.asarray(mc.edges, dtype=float)
        widths = np.diff(edges)
        at = int(np.flatnonzero(edges == 0)[0])
        coords = {
            "edge": [str(e) for e in mc.edges],
            "customer": self.customers,
            "group": self.groups,
            "covariate": self.covariates,
            "weekday": list(WEEKDAYS),
        }
        cust = cells["customer"].to_numpy()
        lo = cells["lo"].to_numpy()
        hi = np.where(cells["censored"].to_numpy(), len(mc.edges) + 1, lo + 1)
        trunc = cells["trunc"].to_numpy()
        n = cells["n"].to_numpy().astype(fx)
        xp = patterns.astype(fx)
        pattern = cells["pattern"].to_numpy()
        due_weekday = cells["due_weekday"].to_numpy()
        with pm.Model(coords=coords) as model:
            # the latent scale's origin is the due date's cutpoint; gaps run either side, so a
            # bucket no invoice reached still has a proper (prior) width
            mean_gap = np.minimum(widths / mc.prior_gap_days, 5.0)  # width in prior_gap_days
            gaps = pm.Gamma("gaps", alpha=2.0, beta=2.0 / mean_gap, shape=len(widths))
            below = -pt.cumsum(gaps[:at][::-1])[::-1]
            above = pt.cumsum(gaps[at:])
            cut = pm.Deterministic("cut", pt.concatenate([below, pt.zeros(1), above]), dims="edge")
            mu = pm.Normal("mu", 0.0, mc.prior_cut_sigma)  # the typical customer's location
            sigma_c = pm.HalfNormal("sigma_customer", mc.prior_customer_sigma)
            mean_u = mu
            if len(self.groups) > 1:
                sigma_g = pm.HalfNormal("sigma_group", mc.prior_group_sigma)
                if self.group_centred:  # every group holds many customers: its mean is pinned
                    g = pm.ZeroSumNormal("offset_group", sigma=sigma_g, dims="group")
                else:
                    zg = pm.ZeroSumNormal("z_group", sigma=1.0, dims="group")
                    g = pm.Deterministic("offset_group", sigma_g * zg, dims="group")
                mean_u = mu + g[np.asarray(self.customer_group)]
            u = _customer_effects(mean_u, sigma_c, rich, len(self.customers))
            eta = u[cust]
            scale = 1.0
            if rich_timing.any():  # how tightly each of them keeps to its own timing
                log_rich = pm.Normal(
                    "log_scale_rich", 0.0, mc.prior_scale_sigma, shape=int(rich_timing.sum())
                )
                log_scale = pt.set_subtensor(
                    pt.zeros(len(self.customers))[np.flatnonzero(rich_timing)], log_rich
                )
                scale = pm.Deterministic("scale", pt.exp(log_scale), dims="customer")[cust]
            if self.weekday:  # payment runs: the due date's weekday moves the payment
                w = pm.ZeroSumNormal("offset_weekday", sigma=mc.prior_weekday_sigma, dims="weekday")
                eta = eta + w[due_weekday]
                if rich_timing.any():
                    v = _weekday_effects(
                        w, mc.prior_weekday_sigma, rich_timing, len(self.customers)
                    )
                    eta = eta + v[cust, due_weekday]
            if self.covariates:
                beta = pm.Normal("beta", 0.0, mc.prior_beta_sigma, dims="covariate")
                eta = eta + pt.dot(xp, beta)[pattern]
            padded = pt.concatenate([pt.stack([-_BIG]), cut, pt.stack([_BIG])])
            a = (padded[hi] - eta) / scale  # upper bound of the bucket (or +inf when censored)
            b = (padded[lo] - eta) / scale
            # log(F(a) - F(b)) = log s(a) + log s(-b) + log(1 - exp(b - a)), stable for b < a
            log_p = _log_sigmoid(a) + _log_sigmoid(-b) + pt.log1mexp(b - a)
            log_p = log_p - _log_sigmoid((eta - padded[trunc]) / scale)  # not before issue
            pm.Potential("loglik", pt.sum(n * log_p))
        return model

    def _customer_tables(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Set the customers of a (stall-censored) frame, their groups and their paid invoices by
        due weekday and weekday paid; returns the frame with each row's customer code."""
        self.customers = sorted(frame[CUSTOMER_ID].unique())
        frame = frame.assign(_customer=level_codes(frame[CUSTOMER_ID], self.customers))
        group = self.model_config.group
        first = frame.drop_duplicates(CUSTOMER_ID).set_index(CUSTOMER_ID)
        self.customer_group = (
            np.maximum(level_codes(first.loc[self.customers, group], self.groups), 0).tolist()
            if len(self.groups) > 1
            else [0] * len(self.customers)
        )
        paid = frame["paid"].to_numpy()
        due_day = frame["due_weekday"].to_numpy()[paid]
        paid_day = (due_day + frame["days_late"].to_numpy()[paid]).astype(int) % 7
        self.paid_weekdays = np.zeros((len(self.customers), 7, 7))
        np.add.at(self.paid_weekdays, (frame["_customer"].to_numpy()[paid], due_day, paid_day), 1)
        paid_on = frame[DUE_ON].to_numpy(dtype="datetime64[D]")[paid] + frame[
            "days_late"
        ].to_numpy()[paid].astype(np.int64)
        self.month_end_paid = np.bincount(
            frame["_customer"].to_numpy()[paid][month_end_days(paid_on)],
            minlength=len(self.customers),
        ).astype(float)
        k = self.model_config.calendar_prior_payments
        self.calendar_k = self._calendar_pooling() if k == "auto" else float(k)
        return frame

    def _calendar_pooling(self) -> float:
        """The payments' worth of prior (``calendar_prior_payments: auto``) that makes the
        customers' counts of payments by weekday most likely: the Dirichlet-multinomial marginal
        likelihood of each customer's counts around its group's shares without it (leave one
        out), maximised over :data:`CALENDAR_POOLING`. Customers who pay on fixed weekdays make it
        small, so each keeps its own calendar; customers who pay any day alike (the IBM sample)
        make it large, so a customer's few payments do not invent a calendar."""
        counts = self.paid_weekdays.sum(axis=1)
        n = counts.sum(axis=1)
        keep = n >= 2  # one payment says nothing of the spread between customers
        if keep.sum() < 2:
            return 7.0
        counts, n = counts[keep], n[keep]
        groups = np.asarray(self.customer_group, dtype=int)[keep]
        by_group = np.zeros((len(self.groups), 7))
        np.add.at(by_group, groups, counts)
        population = (counts.sum(axis=0) + 1.0) / (counts.sum() + 7.0)
        others = by_group[groups] - counts  # the group's payments but the customer's own
        mean = (others + population) / (others.sum(axis=1, keepdims=True) + 1.0)
        ll = [
            (
                gammaln(k)
                - gammaln(k + n)
                + (gammaln(k * mean + counts) - gammaln(k * mean)).sum(1)
            ).sum()
            for k in CALENDAR_POOLING
        ]
        best = float(CALENDAR_POOLING[int(np.argmax(ll))])
        log.info("payment calendars: each customer's weekday shares pooled with %.3g payments' "
                 "worth of its industry's (learnt from %d customers)", best, len(n))  # fmt: skip
        return best

    def _ordinary_course(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The frame as the ordinal model sees it: with the stall on, an invoice that entered the
        stall is right-censored on the day it did (not paid in the ordinary course by then)."""
        if not self.model_config.stall:
            return frame
        stalled = frame["stall_from"].notna().to_numpy()
        return frame.assign(
            paid=frame["paid"].to_numpy() & ~stalled,
            days_late=frame["days_late"].where(~stalled),
            dpd_now=np.where(stalled, frame["stall_from"], frame["dpd_now"]),
        )

    # -- fit ------------------------------------------------------------------------------
    def fit(self, frame: pd.DataFrame) -> PaymentModel:
        """Sample the posterior with NUTS (the configured implementation); with the stall on,
        count its payments and days at risk first (exact, no sampling)."""
        if not self._ordinary_course(frame)["paid"].any():
            raise ConfigError("no paid invoices before the as-of date: nothing to learn from")
        mc = self.model_config
        if mc.stall:
            rows = frame.loc[frame["stall_from"].notna()]
            days = rows["days_late"].where(rows["paid"], rows["dpd_now"]).to_numpy(dtype=float)
            self.stall = Stall(mc.stall_prior_payments, mc.stall_prior_half_days).fit(
                rows["stall_from"].to_numpy(dtype=float), days, rows["paid"].to_numpy()
            )
            log.info(
                "stall: %d invoices entered it (%d paid since), kept out of the ordinary course",
                self.stall.invoices,
                int(self.stall.payments.sum()),
            )
        config = self.sampler_config
        if config.sampler == "auto":  # measured: numpyro is ~3x slower than nutpie on this model
            config = dataclasses.replace(config, sampler="nutpie")
        fitted, backend = frame, FULL_FIT_BACKEND
        first = frame.drop_duplicates(CUSTOMER_ID).set_index(CUSTOMER_ID)
        if mc.sample_customers and len(first) > mc.sample_above:  # the population from a sample
            group = mc.group if mc.group and mc.group in frame else None
            groups = first[group] if group else pd.Series("all", index=first.index)
            keep = choose_sample(first.index, groups, mc.sample_customers, config.seed)
            fitted = frame.loc[level_codes(frame[CUSTOMER_ID], keep) >= 0]
            backend = SAMPLE_FIT_BACKEND
            log.info(
                "payment model: the population from %d of %d customers (sample_customers), the "
                "others' effects given each draw",
                len(keep),
                len(first),
            )
        t0 = time.perf_counter()
        # structured: the cutpoints, shared by every customer, and each customer's effect trade
        # off (u + c with cut + c), most for a customer holding many of the invoices
        self.idata, self.sampled_with = sample(
            lambda: self.build(fitted), config, len(fitted), "payment model", structured=True,
            backend=backend,
        )  # fmt: skip
        self.timings["fit_s"] = round(time.perf_counter() - t0, 3)
        if len(fitted) < len(frame):
            t0 = time.perf_counter()
            self._extend(frame)
            self.timings["conditional_s"] = round(time.perf_counter() - t0, 3)
        self._month_turn(frame)
        self._from_quantiles(frame)
        return self

    def _month_turn(self, frame: pd.DataFrame) -> None:
        """Learn how much likelier a payment more than ``TURN_AFTER`` days late is at a month
        turn than the model's late tail and the customer's calendar say (:func:`month_turn_lift`;
        :meth:`Conditional.turn_share` without the lift), from the late payments of the training
        ledger (at most :data:`QUANTILE_ROWS`); none without a calendar."""
        if not self.model_config.calendar:
            return
        rows = self._ordinary_course(frame)
        edges = np.asarray(self.model_config.edges, dtype=float)
        late = rows["days_late"].to_numpy(dtype=float, na_value=np.nan)
        rows = rows.loc[
            rows["paid"].to_numpy(dtype=bool) & (late > TURN_AFTER) & (late <= edges[-1])
        ]
        if rows.empty:
            return
        if len(rows) > QUANTILE_ROWS:
            rows = rows.sample(QUANTILE_ROWS, random_state=self.sampler_config.seed)
        d = rows["days_late"].to_numpy(dtype=float)
        due = rows[DUE_ON].to_numpy(dtype="datetime64[D]")
        self.month_turn = dict(self.month_turn, lift=1.0)  # the tail as the model has it
        cut, eta, scale = self.effects(rows, QUANTILE_DRAWS, self.sampler_config.seed)
        issued = -rows["terms"].to_numpy(dtype=float) - 1.0
        share = np.empty(len(rows))
        for sl, dist in self._conditionals(rows, cut, eta, scale, issued):
            share[sl] = dist.turn_share().mean(axis=0)
        on_turn = month_turn_days(due + d.astype(np.int64))
        self.month_turn = {
            "lift": month_turn_lift(on_turn, share),
            "payments": len(rows),
            "at_turn": int(on_turn.sum()),
            "by_calendar": float(share.mean()),
        }
        log.info("late payments at a month turn: %s", self.month_turn)

    def _from_quantiles(self, frame: pd.DataFrame) -> None:
        """What the training invoices' payment quantiles under the fitted model say
        (:meth:`_pit_bounds`; a sample of :data:`QUANTILE_ROWS` on a big ledger): each customer
        with ``own_shape_min_invoices`` invoices among them gets its own shape (:func:`quantile_shapes`: a
        shifted and scaled shared shape does not fit a customer that pays three days early nearly
        every time), then how much invoices due in the same week share their timing beyond that
        (a holiday week, a quarter end: :func:`due_week_correlation`)."""
        rows = self._ordinary_course(frame)
        if len(rows) > QUANTILE_ROWS:
            rows = rows.sample(QUANTILE_ROWS, random_state=self.sampler_config.seed)
        self.shape_customers = []  # the quantiles are the shared shape's
        lo, hi = self._pit_bounds(rows)
        # counted in the rows read (so at most QUANTILE_ROWS / own_shape_min_invoices shapes)
        counts = rows[CUSTOMER_ID].value_counts()
        self.shape_customers = sorted(
            counts.index[counts >= self.model_config.own_shape_min_invoices]
        )
        if self.shape_customers:
            codes = level_codes(rows[CUSTOMER_ID], self.shape_customers)
            own, c = codes >= 0, len(self.shape_customers)
            whole = quantile_shapes(lo[own], hi[own], codes[own], c)
            weekday = codes[own] * 7 + rows["due_weekday"].to_numpy()[own]
            self.shapes = quantile_shapes(
                lo[own], hi[own], weekday, c * 7, np.repeat(whole, 7, 0), SHAPE_WEEKDAY_PRIOR
            ).reshape(c, 7, SHAPE_KNOTS)
            shaped = self._shapes_for(codes, rows["due_weekday"].to_numpy())
            lo, hi = (reshape_quantiles(b[None, :], shaped)[0] for b in (lo, hi))
        log.info("payment model: %d customers with their own shape", len(self.shape_customers))
        self.week_rho, self.week_count = due_week_correlation(lo, hi, rows[DUE_ON])
        log.info(
            "payment timing shared by invoices due in the same week: correlation %.3f (%d weeks)",
            self.week_rho,
            self.week_count,
        )

    def _pit_bounds(self, rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Each row's probability integral transform under the model, as at its issue date, lies
        between ``lo`` and ``hi`` (paid ``d`` days past due: ``G(d - 1), G(d)``, or ``G(d - 1), 1``
        past the last edge; still open ``e`` days past due: ``G(e), 1``), ``G`` averaged over
        :data:`QUANTILE_DRAWS` posterior draws."""
        cut, eta, scale = self.effects(rows, QUANTILE_DRAWS, self.sampler_config.seed)
        paid = rows["paid"].to_numpy(dtype=bool)
        days = rows["days_late"].to_numpy(dtype=float, na_value=np.nan)
        issued = -rows["terms"].to_numpy(dtype=float) - 1.0
        dpd_now = rows["dpd_now"].to_numpy(dtype=float)
        edges = self.model_config.edges
        lo, hi = np.zeros(len(rows)), np.ones(len(rows))
        for sl, dist in self._conditionals(rows, cut, eta, scale, issued):
            p = paid[sl]
            upto = np.where(p, days[sl] - 1.0, dpd_now[sl])
            lo[sl] = dist.cdf(upto).mean(axis=0)
            # paid within the last edge: G(d); later, or still open: its quantile is above lo
            within = p & (days[sl] <= edges[-1])
            hi[sl] = np.where(within, dist.cdf(np.where(p, days[sl], 0.0)).mean(axis=0), 1.0)
        return lo, hi

    def _extend(self, frame: pd.DataFrame) -> None:
        """Every customer left out of the sample fit gets its effect drawn given each of
        :data:`CONDITIONAL_DRAWS` posterior draws (:func:`conditional_effects`); the calendar and
        groups then cover all customers."""
        mc = self.model_config
        # hashed lookups: Series.isin on millions of Arrow strings walks them in Python
        rest = frame.loc[level_codes(frame[CUSTOMER_ID], self.fitted) < 0]
        rest = self._ordinary_course(rest)
        extra = sorted(rest[CUSTOMER_ID].unique())
        rest = rest.assign(_customer=level_codes(rest[CUSTOMER_ID], extra))
        cells, patterns = payment_cells(rest, mc.edges, self.covariates, self.weekday)
        n = min(CONDITIONAL_DRAWS, self._draw_count())
        cut = self._posterior("cut", n)
        padded = np.concatenate([np.full((n, 1), -_BIG), cut, np.full((n, 1), _BIG)], axis=1)
        w = self._posterior("offset_weekday", n) if self.weekday else np.zeros((n, 7))
        xb = (
            self._posterior("beta", n) @ patterns.T
            if self.covariates
            else np.zeros((n, max(len(patterns), 1)))
        )
        first = rest.drop_duplicates(CUSTOMER_ID).set_index(CUSTOMER_ID)
        mean = np.repeat(self._posterior("mu", n)[:, None], len(extra), axis=1)
        if len(self.groups) > 1:
            g = np.maximum(level_codes(first.loc[extra, mc.group], self.groups), 0)
            mean = mean + self._posterior("offset_group", n)[:, g]
        cells = cells.assign(hi=np.where(cells["censored"], len(mc.edges) + 1, cells["lo"] + 1))
        self.extra_u = conditional_effects(
            cells, len(extra), padded, w, xb, mean, self._posterior("sigma_customer", n),
            self.sampler_config.seed,
        )  # fmt: skip
        self.extra_customers = extra
        self.n_invoices += len(rest)
        self.n_paid += int(rest["paid"].sum())
        self.n_cells += len(cells)
        self._customer_tables(self._ordinary_course(frame))  # fitted and left out: everyone

    def _draw_count(self) -> int:
        post = self.idata.posterior
        return int(post.sizes["chain"] * post.sizes["draw"])

    def _customer_draws(
        self, name: str, n: int | None, fill: float, codes: np.ndarray
    ) -> np.ndarray:
        """Draws ``(S, len(codes))`` of a per-customer quantity (``u`` or ``scale``) for the
        customers at ``codes`` (places in ``customers``): the fit's for the customers it held; for
        those left out of a sample fit, their conditional draws (``u``; the nearest of them to each
        kept draw when ``n`` differs from their count) or ``fill``. Only those columns are built:
        a block of a 100k-customer ledger costs its own size, not the ledger's."""
        fitted = self._posterior(name, n)
        if not self.extra_customers:
            return fitted[:, codes]
        in_fit, in_extra = (place[codes] for place in self._places())
        out = np.full((len(fitted), len(codes)), fill)
        out[:, in_fit >= 0] = fitted[:, in_fit[in_fit >= 0]]
        if name == "u":
            total = self._draw_count()
            kept = np.linspace(0, total - 1, len(fitted)).astype(int)
            have = np.linspace(0, total - 1, len(self.extra_u)).astype(int)
            nearest = np.abs(kept[:, None] - have[None, :]).argmin(axis=1)
            out[:, in_extra >= 0] = self.extra_u[np.ix_(nearest, in_extra[in_extra >= 0])]
        return out

    def _cached(self, name: str, sources: tuple, compute):
        """``compute()``, kept while ``sources`` (the tables and settings it is computed from) are
        the same objects and values: a forecast or calendar of a large ledger asks for the same
        indexes and shares block after block. The sources are held, so an id is never reused."""
        cache = self.__dict__.setdefault("_cache", {})
        held = cache.get(name)
        same = held is not None and all(
            a is b or (np.isscalar(a) and a == b) for a, b in zip(held[0], sources, strict=True)
        )
        if not same:
            value = compute()
            for part in value if isinstance(value, tuple) else ():  # shared: read-only
                if isinstance(part, np.ndarray):
                    part.setflags(write=False)
            cache[name] = held = (sources, value)
        return held[1]

    def _codes(self, values: pd.Series, levels: str = "customers") -> np.ndarray:
        """:func:`level_codes` of ``values`` in the list attribute ``levels`` (``customers``,
        ``fitted``, ``extra_customers``, ``shape_customers``), its index built once per list."""
        current = getattr(self, levels)
        index = self._cached(f"index:{levels}", (current,), lambda: pd.Index(current))
        return index.get_indexer(values.astype(str)).astype(np.int64)

    def _places(self) -> tuple[np.ndarray, np.ndarray]:
        """Each customer's place among the fitted customers and among those left out of a sample
        fit (-1: not there)."""

        def places():
            everyone = pd.Series(self.customers)
            return self._codes(everyone, "fitted"), self._codes(everyone, "extra_customers")

        return self._cached("places", (self.customers, self.fitted, self.extra_customers), places)

    def gate(
        self, config: GateConfig | None = None, max_customers: int = 1000, advice: str = ""
    ) -> GateResult:
        """The convergence gate on the population parameters and the customer effects (a fixed
        random sample of ``max_customers`` of them when there are more: arviz's diagnostics
        take minutes for 100k effects, a sample of 1,000 catches a sampler that failed).
        Weekday effects and spreads count for the customers that have their own."""
        idata = self.idata
        n = idata.posterior.sizes["customer"]
        if n > max_customers:
            keep = np.sort(np.random.default_rng(0).choice(n, max_customers, replace=False))
            idata = idata.isel(customer=keep)
        names = ["gaps", "mu", "sigma_customer", "u"]
        post = idata.posterior
        if "scale" in post:  # the customers with their own timing: their spread and weekdays
            own = np.flatnonzero(post["scale"].std(("chain", "draw")).to_numpy() > 0)
            mine = {"own_scale": "scale", "own_weekday": "customer_weekday"}
            mine = {new: old for new, old in mine.items() if old in post and len(own)}
            post = post.assign(
                {
                    new: post[old].isel(customer=own).rename(customer="own")
                    for new, old in mine.items()
                }
            )
            idata = type(idata)(posterior=post, sample_stats=idata.sample_stats)
            names += list(mine)
        names += ["beta"] if self.covariates else []
        names += ["sigma_group", "offset_group"] if len(self.groups) > 1 else []
        names += ["offset_weekday"] if self.weekday else []
        return convergence_gate(
            idata, config, var_names=names, model_name="payment model", advice=advice
        )

    # -- predict --------------------------------------------------------------------------
    def _posterior(self, name: str, n: int | None) -> np.ndarray:
        post = self.idata.posterior[name].stack(sample=("chain", "draw")).transpose("sample", ...)
        values = post.to_numpy()
        if n is not None and n < len(values):
            values = values[np.linspace(0, len(values) - 1, n).astype(int)]
        return values.astype(float)

    def effects(self, frame: pd.DataFrame, n_draws: int | None = None, seed: int = 0):
        """Posterior draws ``(cut (S, E), eta (S, rows), scale (S, rows))`` for the rows of a
        payment frame: ``P(D <= edge_j) = logistic((cut_j - eta) / scale)``.

        A customer not seen in training gets fresh effects from its industry's population (and
        an industry not seen from the population of industries), so its wider interval shows.
        """
        if self.idata is None:
            raise ConfigError("the payment model is not fitted")
        rng = np.random.default_rng(seed)
        cut = self._posterior("cut", n_draws)
        s = len(cut)
        sigma_c = self._posterior("sigma_customer", n_draws)
        codes = self._codes(frame[CUSTOMER_ID])
        known = codes >= 0
        eta = np.empty((s, len(frame)))
        eta[:, known] = self._customer_draws("u", n_draws, 0.0, codes[known])
        scale = np.ones_like(eta)  # a customer without a scale of its own (or new) has 1
        if "scale" in self.idata.posterior:
            scale[:, known] = self._customer_draws("scale", n_draws, 1.0, codes[known])
        if (~known).any():
            new_ids, new_idx = np.unique(frame.loc[~known, CUSTOMER_ID], return_inverse=True)
            mean = np.repeat(self._posterior("mu", n_draws)[:, None], len(new_ids), axis=1)
            group = self.model_config.group
            if len(self.groups) > 1:
                offsets = self._posterior("offset_group", n_draws)
                sigma_g = self._posterior("sigma_group", n_draws)
                first = frame.loc[~known].drop_duplicates(CUSTOMER_ID).set_index(CUSTOMER_ID)
                g = level_codes(first.loc[new_ids, group], self.groups)
                fresh = sigma_g[:, None] * rng.standard_normal((s, len(new_ids)))
                mean = mean + np.where(g >= 0, offsets[:, np.maximum(g, 0)], fresh)
            draws = mean + sigma_c[:, None] * rng.standard_normal((s, len(new_ids)))
            eta[:, ~known] = draws[:, new_idx.ravel()]
        if self.weekday:  # a customer without weekday effects of its own has the population's
            day = frame["due_weekday"].to_numpy()
            eta += self._posterior("offset_weekday", n_draws)[:, day]
            if "customer_weekday" in self.idata.posterior:
                v = self._posterior("customer_weekday", n_draws)
                own = self._codes(frame[CUSTOMER_ID], "fitted")  # only fitted ones have theirs
                eta[:, own >= 0] += v[:, own[own >= 0], day[own >= 0]]
        if self.covariates:
            x = frame[self.covariates].to_numpy(dtype=float)
            eta += self._posterior("beta", n_draws) @ x.T
        return cut, eta, scale

    def weekday_shares(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The payment calendar: shares of payments by weekday paid (Monday first) for
        ``(customers (C, 7), groups (G, 7), population (7,))``. Each customer's are the posterior
        mean of a Dirichlet-multinomial whose prior is its group's shares with
        ``calendar_k`` payments' weight (a new customer: its group's), the group's
        likewise around the population's, and the population's add one payment per weekday."""
        return self._cached("weekday_shares", self._calendar_sources(), self._weekday_shares)

    def _calendar_sources(self) -> tuple:
        """What the calendar's shares are computed from (:meth:`_cached`)."""
        return (
            self.paid_weekdays, self.month_end_paid, self.customer_group, self.groups,
            self.calendar_k,
        )  # fmt: skip

    def _weekday_shares(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        k = self.calendar_k
        counts = self.paid_weekdays.sum(axis=1)
        population = (counts.sum(axis=0) + 1.0) / (counts.sum() + 7.0)
        groups = np.asarray(self.customer_group, dtype=int)
        by_group = np.zeros((len(self.groups), 7))
        np.add.at(by_group, groups, counts)
        group = (by_group + k * population) / (by_group.sum(axis=1, keepdims=True) + k)
        customer = (counts + k * group[groups]) / (counts.sum(axis=1, keepdims=True) + k)
        return customer, group, population

    def month_end_shares(self) -> tuple[np.ndarray, np.ndarray, float]:
        """Shares of payments made on the month's last weekday for ``(customers (C,), groups
        (G,), population)``, pooled like :meth:`weekday_shares` (a Beta-binomial: the customer's
        around its group's with ``calendar_k`` payments' weight, the group's around
        the population's, and the population's around what chance gives)."""
        return self._cached("month_end_shares", self._calendar_sources(), self._month_end_shares)

    def _month_end_shares(self) -> tuple[np.ndarray, np.ndarray, float]:
        k = self.calendar_k
        paid = self.paid_weekdays.sum(axis=(1, 2))
        groups = np.asarray(self.customer_group, dtype=int)
        chance = float(self.weekday_shares()[2] @ _MONTH_END_BY_WEEKDAY)
        population = (self.month_end_paid.sum() + chance) / (paid.sum() + 1.0)
        by_group = np.bincount(groups, self.month_end_paid, minlength=len(self.groups))
        group_paid = np.bincount(groups, paid, minlength=len(self.groups))
        group = (by_group + k * population) / (group_paid + k)
        customer = (self.month_end_paid + k * group[groups]) / (paid + k)
        return customer, group, population

    def month_end_lift(self, frame: pd.DataFrame) -> np.ndarray | None:
        """Per row of a payment frame, how much likelier a payment is on the month's last weekday
        than its weekday shares alone say: the odds of its customer's month-end share
        (:meth:`month_end_shares`; a new customer: its group's) against the odds its weekday
        shares give by chance (a Friday payer pays at month end more often than a Tuesday
        payer). 1 for a customer without month-end runs; None without a calendar."""
        if not self.model_config.calendar:
            return None
        weekdays, _, everyone = self.weekday_shares()
        customer, group, population = self.month_end_shares()
        codes = self._codes(frame[CUSTOMER_ID])
        share = np.where(codes >= 0, customer[np.maximum(codes, 0)], population)
        name = self.model_config.group
        if (codes < 0).any() and len(self.groups) > 1 and name in frame:
            g = level_codes(frame[name], self.groups)
            share = np.where((codes < 0) & (g >= 0), group[np.maximum(g, 0)], share)
        by_weekday = np.where((codes >= 0)[:, None], weekdays[np.maximum(codes, 0)], everyone)
        chance = by_weekday @ _MONTH_END_BY_WEEKDAY
        return (share / (1 - share)) / (chance / (1 - chance))

    def day_weights(self, frame: pd.DataFrame) -> np.ndarray | None:
        """Per row of a payment frame, the weight of a payment ``d`` days after its due date at
        ``[d % 7]``, for :class:`~creditlab.models.payment_forecast.Conditional` (None without a
        calendar): its customer's shares of payments by weekday among its invoices due on the
        same weekday, pooled (``calendar_k``) with its shares over all invoices
        (:meth:`weekday_shares`; a new customer: its group's)."""
        if not self.model_config.calendar:
            return None
        customer, group, population = self.weekday_shares()
        codes = self._codes(frame[CUSTOMER_ID])
        due_day = frame["due_weekday"].to_numpy()
        known = codes >= 0
        own = self.paid_weekdays[np.maximum(codes, 0), due_day]  # (rows, 7)
        k = self.calendar_k
        pooled = (own + k * customer[np.maximum(codes, 0)]) / (own.sum(axis=1, keepdims=True) + k)
        shares = np.where(known[:, None], pooled, population)
        name = self.model_config.group
        if (codes < 0).any() and len(self.groups) > 1 and name in frame:
            g = level_codes(frame[name], self.groups)
            new_known_group = (codes < 0) & (g >= 0)
            shares[new_known_group] = group[g[new_known_group]]
        turn = (due_day[:, None] + np.arange(7)) % 7
        return np.take_along_axis(shares, turn, axis=1)

    def forecast(
        self,
        frame: pd.DataFrame,
        as_of,
        weeks: int = 13,
        n_draws: int = 400,
        prob: float = 0.9,
        seed: int = 0,
        pd_12m: np.ndarray | None = None,
        promises: PendingPromises | None = None,
    ) -> tuple[pd.DataFrame, np.ndarray]:
        """Per open invoice: probabilities and payment date, given what is known on ``as_of``.

        ``frame`` is a :func:`payment_frame` of open invoices. Returns ``(invoices, simulated)``:
        ``invoices`` has ``p_paid_by_due, p_dpd30, p_dpd60, p_dpd90, p_unpaid_1y`` (posterior
        predictive probabilities), ``p_stall`` (the chance the invoice is paid, if at all, as a
        stalled one), ``expected_days`` (mean days past due at payment, given payment within a
        year), ``median_days`` (the predictive median; NaN when payment within a year is less
        likely than not), ``days_lo, days_hi`` (the ``prob`` predictive interval; NaN where its
        end lies past a year); ``simulated`` is ``(draws, rows)`` of simulated days past due at
        payment (NaN: not within a year), one payment per invoice and posterior draw.

        With the stall (:mod:`creditlab.models.payment_stall`), an invoice in it by ``as_of``
        (``stall_from`` set) is paid as stalled invoices are, and any other may still enter it:
        on reaching 90 days past due, or when its customer defaults first, at the daily rate of
        its 12-month PD draws ``pd_12m`` (``(draws, rows)``; None: no default).

        With ``promises`` (the frame's :class:`PendingPromises`), an invoice with a pending
        promise to pay is paid on or about the promised day with the chance its customer keeps
        its promises, and otherwise as the model says once the promise's grace has run out
        (:mod:`creditlab.models.payment_promises`); ``invoices`` then has ``p_keep_promise``.
        """
        cut, eta, scale = self.effects(frame, n_draws, seed)
        rng = np.random.default_rng(seed + 1)
        edges = np.asarray(self.model_config.edges, dtype=float)
        e_now = frame["dpd_now"].to_numpy(dtype=float)
        s, n = eta.shape
        keep = np.zeros((s, n)) if promises is None else promises.keep_draws(s, rng)
        # a promise's broken path: the model given no payment by the promise's deadline
        e_from = e_now if promises is None else np.fmax(e_now, promises.deadline)
        common = None
        if self.week_rho > 0:  # the due weeks' common factor, per draw
            week = np.unique(due_weeks(frame[DUE_ON]), return_inverse=True)[1]
            common = rng.standard_normal((s, week.max() + 1))
        if self.stall is not None:
            rates = self.stall.rates(s, seed + 2)
            in_stall = frame["stall_from"].notna().to_numpy()
            default_rate = np.zeros((s, n))
            if pd_12m is not None:
                pd_s = np.clip(np.asarray(pd_12m, float)[np.arange(s) % len(pd_12m)], 0, 0.999)
                default_rate = -np.log1p(-pd_s) / 365.0
        out = {k: np.zeros(n) for k in ("p_paid_by_due", "p_dpd30", "p_dpd60", "p_dpd90")}
        out["p_unpaid_1y"], out["p_stall"] = np.zeros(n), np.zeros(n)
        exp_num, exp_den = np.zeros(n), np.zeros(n)
        simulated = np.empty((s, n))
        for sl, dist in self._conditionals(frame, cut, eta, scale, e_from):
            if self.stall is not None:
                dist = WithStall(
                    dist, self.stall, rates, e_from[sl], in_stall[sl], default_rate[:, sl]
                )
                out["p_stall"][sl] = ((1.0 - dist.p_ordinary) * (1.0 - keep[:, sl])).mean(axis=0)
            if promises is not None:
                dist = WithPromise(
                    dist, keep[:, sl], promises.promised[sl], e_now[sl], promises.offsets,
                    promises.offset_p, edges[-1],
                )  # fmt: skip
            for key, t in (("p_dpd30", 30.0), ("p_dpd60", 60.0), ("p_dpd90", 90.0)):
                out[key][sl] = (1.0 - dist.cdf(t)).mean(axis=0)
            by_due = np.where(e_now[sl] < 0, dist.cdf(0.0).mean(axis=0), 0.0)
            out["p_paid_by_due"][sl] = by_due
            within = dist.cdf(edges[-1])
            out["p_unpaid_1y"][sl] = (1.0 - within).mean(axis=0)
            exp_num[sl] = (dist.mean_within() * within).sum(axis=0)
            exp_den[sl] = within.sum(axis=0)
            u = (
                rng.random((s, sl.stop - sl.start))
                if common is None
                else week_uniforms(rng, common, week[sl], self.week_rho)
            )
            simulated[:, sl] = dist.sample(u)
        lo, median, hi = np.nanquantile(
            np.where(np.isnan(simulated), np.inf, simulated),
            [(1 - prob) / 2, 0.5, (1 + prob) / 2],
            0,
        )
        result = pd.DataFrame(out, index=frame.index)
        result["expected_days"] = np.where(
            exp_den > 0, exp_num / np.maximum(exp_den, 1e-300), np.nan
        )
        result["median_days"] = np.where(np.isfinite(median), median, np.nan)
        result["days_lo"] = np.where(np.isfinite(lo), lo, np.nan)
        result["days_hi"] = np.where(np.isfinite(hi), hi, np.nan)
        if promises is not None:
            pending = ~np.isnan(promises.promised)
            result["p_keep_promise"] = np.where(pending, keep.mean(axis=0), np.nan)
        return result, simulated

    def _conditionals(self, frame: pd.DataFrame, cut, eta, scale, e_now):
        """The frame's :class:`Conditional` distributions given ``D > e_now``, a chunk of rows at a
        time (memory: about 80 MB per array): yields ``(rows, dist)``, ``rows`` a slice."""
        edges = np.asarray(self.model_config.edges, dtype=float)
        terms = frame["terms"].to_numpy(dtype=float)
        weights, lift = self.day_weights(frame), self.month_end_lift(frame)
        due_on = frame[DUE_ON].to_numpy(dtype="datetime64[D]")
        closed = self.closed_days(frame)
        codes = self._shape_codes(frame)
        weekday = frame["due_weekday"].to_numpy()
        for sl in self._chunks(*eta.shape):
            yield (
                sl,
                Conditional(
                    cut,
                    eta[:, sl],
                    edges,
                    terms[sl],
                    e_now[sl],
                    None if weights is None else weights[sl],
                    scale[:, sl],
                    due_on[sl],
                    None if lift is None else lift[sl],
                    None if closed is None else (closed[0][sl], closed[1]),
                    self.month_turn["lift"],
                    None if codes is None else self._shapes_for(codes[sl], weekday[sl]),
                ),
            )

    def _chunks(self, s: int, n: int):
        """Slices of ``n`` rows, so that a chunk's ``(s, rows, edges)`` arrays stay near 80 MB."""
        chunk = max(50, int(1e7 // (s * len(self.model_config.edges))))
        for start in range(0, n, chunk):
            yield slice(start, min(start + chunk, n))

    def _shape_codes(self, frame: pd.DataFrame) -> np.ndarray | None:
        """Per row, its customer's place in ``shape_customers`` (-1: none); None when no customer
        has its own shape."""
        if not self.shape_customers:
            return None
        return self._codes(frame[CUSTOMER_ID], "shape_customers")

    def _shapes_for(self, codes: np.ndarray, weekday: np.ndarray) -> np.ndarray:
        """Per row (``codes``: :meth:`_shape_codes`), its customer's own shape on its due
        ``weekday``, ``(rows, SHAPE_KNOTS)``; the model's, the diagonal, for a customer without
        one."""
        known = np.maximum(codes, 0)
        own = self.shapes[known, weekday]
        return np.where((codes >= 0)[:, None], own, _DIAGONAL)

    def closed_days(self, frame: pd.DataFrame) -> tuple[np.ndarray, list[np.ndarray]] | None:
        """The bank holidays (``holidays`` calendars) each row of a payment frame can meet, from
        its first due date's year to a year past the last's, as ``(codes, calendars)``
        (:func:`~creditlab.models.payment_data.payer_calendars`; the frame's ``country`` column
        where the calendars hold ``country``); None without calendars."""
        if not self.model_config.holidays or len(frame) == 0:
            return None
        years = frame[DUE_ON].to_numpy(dtype="datetime64[Y]").astype(np.int64) + 1970
        countries = (
            frame[COUNTRY].to_numpy(dtype=str) if COUNTRY in frame else np.full(len(frame), "")
        )
        return payer_calendars(
            self.model_config.holidays, countries, int(years.min()), int(years.max()) + 2
        )

    def _median_days(self, eta: np.ndarray) -> np.ndarray:
        """Median days past due at payment per draw for latent location ``eta`` (S,), ignoring
        the issue-date truncation (a typical invoice)."""
        cut = self._posterior("cut", None)
        edges = np.asarray(self.model_config.edges, dtype=float)
        f = 1.0 / (1.0 + np.exp(-(cut - eta[:, None])))
        return np.array([np.interp(0.5, row, edges) for row in f])

    def effects_table(self, prob: float = 0.9) -> pd.DataFrame:
        """Each covariate's effect as days: the median days past due at payment of a typical
        customer's invoice without and with it, the shift in days with its interval, and the
        latent coefficient; with a payment calendar, one row per due weekday too ("due on a
        Saturday": against the average weekday)."""
        mu = self._posterior("mu", None)
        base = self._median_days(mu)
        latent = [
            (name, self._posterior("beta", None)[:, k]) for k, name in enumerate(self.covariates)
        ]
        if self.weekday:
            offsets = self._posterior("offset_weekday", None)
            latent += [(f"due on a {DAY_NAMES[d]}", offsets[:, k]) for k, d in enumerate(WEEKDAYS)]
        rows = []
        for name, beta in latent:
            shift = self._median_days(mu + beta) - base
            lo, hi = np.quantile(shift, [(1 - prob) / 2, (1 + prob) / 2])
            rows.append(
                {
                    "covariate": name,
                    "median_days_without": float(base.mean()),
                    "median_days_with": float((base + shift).mean()),
                    "shift_days": float(shift.mean()),
                    "shift_lo": float(lo),
                    "shift_hi": float(hi),
                    "beta": float(beta.mean()),
                }
            )
        return pd.DataFrame(rows)

    def calendar_table(
        self, frame: pd.DataFrame, prob: float = 0.9, n_draws: int = 100
    ) -> pd.DataFrame:
        """Each customer's payment calendar and timing: ``customer_id, payments`` (paid invoices
        it was learnt from), ``share_mon .. share_sun`` (:meth:`weekday_shares`),
        ``share_month_end`` (:meth:`month_end_shares`), ``pays_on`` ("month end" when half or
        more of its payments fall on the month's last weekday; else the one or two weekdays that
        hold 75 % or more of its payments, most first, e.g. "Tue, Fri"; else "any weekday") and
        ``median_days, median_lo, median_hi``: when it usually pays (:meth:`_usual_days`, from
        its invoices in the payment ``frame``) with the ``prob`` interval over posterior draws."""
        shares = self.weekday_shares()[0]
        median = self._usual_days(frame, n_draws)  # (S, C)
        lo, hi = np.quantile(median, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
        order = np.argsort(-shares, axis=1, kind="stable")
        top = np.take_along_axis(shares, order, axis=1).cumsum(axis=1)
        month_end = self.month_end_shares()[0]
        pays_on = [
            "month end"
            if at_end >= 0.5
            else ", ".join(WEEKDAYS[k] for k in row[: 1 + int(held[0] < 0.75)])
            if held[1] >= 0.75
            else "any weekday"
            for row, held, at_end in zip(order, top, month_end, strict=True)
        ]
        table = pd.DataFrame(
            {
                CUSTOMER_ID: self.customers,
                "payments": self.paid_weekdays.sum(axis=(1, 2)).astype(int),
                **{f"share_{d.lower()}": shares[:, k] for k, d in enumerate(WEEKDAYS)},
                "share_month_end": month_end,
                "pays_on": pays_on,
                "median_days": median.mean(axis=0),
                "median_lo": lo,
                "median_hi": hi,
            }
        )
        return table

    def _usual_days(self, frame: pd.DataFrame, n_draws: int) -> np.ndarray:
        """Per posterior draw and customer ``(S, C)``: the median over its last
        :data:`USUAL_INVOICES` invoices in a payment ``frame`` (by due date) of each one's median
        days past due at payment as at its issue date: its terms, features, due date, calendar,
        month end, holidays and own shape as the forecasts take them. The days of a weekly
        payer's invoices depend on their due weekdays (a Friday payer pays a Monday invoice 4 days
        late, a Friday one on time), a month-end payer's on the day of the month, so a typical
        invoice is one of its own. A customer of the model with no invoice in ``frame`` has
        NaN."""
        frame = frame.loc[self._codes(frame[CUSTOMER_ID]) >= 0]
        frame = frame.sort_values(DUE_ON, kind="stable").groupby(CUSTOMER_ID).tail(USUAL_INVOICES)
        code = self._codes(frame[CUSTOMER_ID])
        frame = frame.iloc[np.argsort(code, kind="stable")].reset_index(drop=True)
        code = np.sort(code)
        place = np.arange(len(frame)) - np.searchsorted(code, code)  # its place among its own
        issued = -frame["terms"].to_numpy(dtype=float) - 1.0
        last = float(self.model_config.edges[-1])
        s = min(n_draws, self._draw_count())
        usual = np.full((s, len(self.customers)), np.nan)
        for block in self._chunks(s * USUAL_INVOICES, len(self.customers)):  # customers
            rows = slice(*np.searchsorted(code, [block.start, block.stop]))
            part = frame.iloc[rows]
            cut, eta, scale = self.effects(part, n_draws)
            half = np.empty(eta.shape)
            for sl, dist in self._conditionals(part, cut, eta, scale, issued[rows]):
                half[:, sl] = dist.sample(np.full((s, sl.stop - sl.start), 0.5))
            per_invoice = np.full((s, block.stop - block.start, USUAL_INVOICES), np.nan)
            # not paid within the last edge: at it, or later
            per_invoice[:, code[rows] - block.start, place[rows]] = np.nan_to_num(half, nan=last)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN: no invoice in frame
                usual[:, block] = np.nanmedian(per_invoice, axis=2)
        return usual

    def customer_spread_days(self, prob: float = 0.9) -> dict[str, float]:
        """How far one standard deviation of customer effect moves the median payment day."""
        sigma, mu = self._posterior("sigma_customer", None), self._posterior("mu", None)
        shift = self._median_days(mu + sigma) - self._median_days(mu)
        lo, hi = np.quantile(shift, [(1 - prob) / 2, (1 + prob) / 2])
        return {"mean": float(shift.mean()), "lo": float(lo), "hi": float(hi)}

    # -- persistence ----------------------------------------------------------------------
    def save(self, path: str | Path, provenance: dict | None = None) -> Path:
        """Write the posterior and what prediction needs as one NetCDF file."""
        state = {
            "model_config": dataclasses.asdict(self.model_config),
            "sampler_config": dataclasses.asdict(self.sampler_config),
            "covariates": self.covariates,
            "customers": self.customers,
            "groups": self.groups,
            "customer_group": list(map(int, self.customer_group)),
            "centred": self.centred,
            "weekday": self.weekday,
            "paid_weekdays": self.paid_weekdays.tolist(),
            "month_end_paid": self.month_end_paid.tolist(),
            "sampled_with": self.sampled_with,
            "timings": self.timings,
            "counts": [self.n_invoices, self.n_paid, self.n_cells],
            "stall": None if self.stall is None else self.stall.state(),
            "fitted": self.fitted,
            "extra_customers": self.extra_customers,
            "due_week": [self.week_rho, self.week_count],
            "month_turn": self.month_turn,
            "calendar_k": self.calendar_k,
            "shape_customers": self.shape_customers,
        }
        import xarray as xr

        groups = {}
        if self.extra_customers:  # a sample fit: the left-out customers' conditional draws
            groups["conditional"] = xr.Dataset(
                {"u": (("conditional_draw", "extra_customer"), self.extra_u)}
            )
        if self.shape_customers:
            groups["shapes"] = xr.Dataset(
                {"cdf": (("shape_customer", "due_weekday", "knot"), self.shapes)}
            )
        idata = self.idata
        if groups:  # written afresh: a model read from a file already holds them
            idata = idata.copy()
            for name in set(groups) & set(idata.groups()):
                delattr(idata, name)
            idata.add_groups(groups)
        return write_posterior(idata, path, state, provenance)

    @classmethod
    def load(cls, path: str | Path) -> PaymentModel:
        """Read a model written by :meth:`save`."""
        idata, state, provenance = read_posterior(path, "payment model")
        model = cls(
            PaymentConfig(**state["model_config"]), SamplerConfig(**state["sampler_config"])
        )
        model.idata = idata
        for key in ("covariates", "customers", "groups", "customer_group", "centred", "weekday"):
            setattr(model, key, state[key])
        model.paid_weekdays = np.asarray(state["paid_weekdays"], dtype=float).reshape(-1, 7, 7)
        model.month_end_paid = np.asarray(state["month_end_paid"], dtype=float)
        model.sampled_with, model.timings = state["sampled_with"], state["timings"]
        model.n_invoices, model.n_paid, model.n_cells = state["counts"]
        model.stall = None if state["stall"] is None else Stall.from_state(state["stall"])
        model.fitted, model.extra_customers = state["fitted"], state["extra_customers"]
        model.week_rho, model.week_count = state.get("due_week", [0.0, 0])
        model.month_turn = state.get("month_turn", model.month_turn)
        model.calendar_k = state.get("calendar_k", model.calendar_k)
        model.shape_customers = state.get("shape_customers", [])
        if model.shape_customers:
            model.shapes = idata.shapes["cdf"].to_numpy()
        if model.extra_customers:
            model.extra_u = idata.conditional["u"].to_numpy()
        model.provenance = provenance
        return model
