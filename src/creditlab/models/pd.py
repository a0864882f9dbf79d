"""Hierarchical Bayesian logistic regression for the probability of default (PD).

``logit PD = a[group] + sum_f o_f[level of f] + X_std @ beta``, with

* ``a[g] ~ Normal(mu, sigma_group)`` (centred when every group holds at least
  ``centred_min_events`` defaults, otherwise non-centred), ``mu ~ Normal(prior_intercept_mu, prior_intercept_sigma)``; with no group, one
  intercept ``mu``;
* for each further categorical factor ``f`` (e.g. country, or any text column of a table), offsets
  ``o_f = sigma_f * z_f`` with ``z_f ~ ZeroSumNormal(1)``, partially pooled across its levels (the
  zero sum keeps them from trading off against the intercept); with fewer than
  ``POOLED_MIN_LEVELS`` levels the spread is fixed, ``o_f ~ ZeroSumNormal(prior_beta_sigma)``;
  with ``time_varying`` the snapshot period is such a factor too, so a downturn shows up instead
  of being averaged away;
  a level not seen in training is drawn from its factor's distribution;
* standardised predictors, ``beta ~ Normal(0, prior_beta_sigma)``; a missing value is imputed with
  the training median and flagged by an explicit ``<name>_missing`` indicator predictor;
* predictors listed in ``binned`` enter nonlinearly instead, the way scorecards bin them: quantile
  bins whose effects follow a random walk (ordered and smooth, partially pooled between
  neighbouring bins, steps ``~ Normal(0, prior_bin_sigma)``), centred on zero; missing values,
  when training has them, get a bin of their own outside the order. A binned predictor listed in
  ``monotone`` (``increasing`` or ``decreasing`` PD) has half-normal steps of one sign;
* each pair in ``interactions`` gets an effect per cell of the two columns' coarse bins
  (``PAIR_BINS`` each, and missing), ``ZeroSumNormal(prior_interaction_sigma)`` over rows and
  over columns, so that it holds only what the main effects cannot (pairs worth it are found by
  :func:`~creditlab.models.pd_design.screen_pairs`).

A model of a *monthly hazard* (``period_months=1``: each row is a customer followed for
``follow_up_month`` months after a snapshot, labelled with default in the last of them) adds a
baseline over the months ``k = 1..12`` since the snapshot (a random walk with steps
``~ Normal(0, prior_follow_up_sigma)``, so the hazard can rise as a clean customer has time to
fall 90 days behind, and months a short ledger has not shown yet keep a wide interval), has the
discrete-time survival likelihood (months past the end of the data are censored) and gives the PD
over ``m`` months as ``1 - prod_{k<=m} (1 - h_k)`` per draw; its prior intercept is stated on the
12-month scale and converted. Stated priors (:class:`~creditlab.models.pd_priors.Priors`) move
the intercept's, the groups' and the coefficients' prior centres.

Build and fit are separate; the fitted model keeps its configs and posterior (``idata``) and saves
both as NetCDF. Predictions are posterior draws of PD, so every decision downstream can carry its
interval.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from creditlab.errors import ConfigError
from creditlab.ledger.schema import EVIDENCE, FOLLOW_UP, PD_HI, PD_LO, PD_MEAN
from creditlab.models.pd_design import (
    PAIR_BINS,
    Standardizer,
    bin_count,
    bin_edges,
    bin_index,
    bin_labels,
    dim,
    level_codes,
    node,
    pair_index,
    pair_labels,
)
from creditlab.models.pd_priors import PRIOR_DRAWS, Priors, prior_share
from creditlab.models.sampling import (
    SamplerConfig,
    read_posterior,
    sample,
    strongest_correlation,
    write_posterior,
)

if TYPE_CHECKING:
    import arviz as az

__all__ = ["ModelConfig", "PDModel", "SamplerConfig", "Standardizer", "over_months"]

log = logging.getLogger(__name__)

PREDICT_CELLS = 50_000_000  # draws x rows scored at once by PDModel.predict
HAZARD_MONTHS = 12  # months of follow-up a monthly hazard model has a baseline for
POOLED_MIN_LEVELS = 6  # an offset factor's spread is learnt from this many levels on


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Model structure and priors (printed in the report)."""

    group: str | None = "industry"
    factors: tuple[str, ...] = ()
    time_varying: bool = False
    prior_intercept_mu: float = -3.0
    prior_intercept_sigma: float = 1.5
    prior_beta_sigma: float = 1.0
    prior_group_sigma: float = 0.5
    centred_min_events: int = 30
    binned: tuple[str, ...] = ()
    n_bins: int = 5
    prior_bin_sigma: float = 0.5
    prior_follow_up_sigma: float = 0.3  # monthly hazard: step of its baseline from month to month
    aggregate: bool = True  # rows with identical values -> binomial cells (exact) when it pays
    monotone: tuple[tuple[str, str], ...] = ()  # (binned predictor, increasing | decreasing)
    interactions: tuple[tuple[str, str], ...] = ()  # pairs of predictors with a joint effect
    prior_interaction_sigma: float = 0.5

    def __post_init__(self) -> None:
        object.__setattr__(self, "factors", tuple(self.factors))  # YAML gives lists
        object.__setattr__(self, "binned", tuple(self.binned))
        monotone = self.monotone.items() if isinstance(self.monotone, dict) else self.monotone
        object.__setattr__(self, "monotone", tuple((str(c), str(d)) for c, d in monotone))
        pairs = tuple(tuple(str(c) for c in pair) for pair in self.interactions)
        object.__setattr__(self, "interactions", pairs)
        if bad := [d for _, d in self.monotone if d not in ("increasing", "decreasing")]:
            raise ConfigError(f"monotone: each shape is increasing or decreasing, got {bad}")
        if bad := [p for p in pairs if len(p) != 2 or p[0] == p[1]]:
            raise ConfigError(f"interactions: each is a pair of two predictors, got {bad}")


@dataclasses.dataclass(frozen=True)
class _Design:
    """What the likelihood sees: predictors, level codes and events per row, or per cell of rows
    with identical values (``trials`` rows each) when aggregated; or each row with its ``weights``
    (per row, or per row and month of follow-up for the hazard), never aggregated."""

    x: np.ndarray
    codes: dict[str, np.ndarray]
    events: np.ndarray
    trials: np.ndarray | None
    weights: np.ndarray | None = None


def over_months(p: np.ndarray | float, months: float, period_months: float) -> np.ndarray:
    """PD over ``months`` from a PD ``p`` over ``period_months`` at a constant hazard:
    ``1 - (1 - p)^(months / period_months)`` (``p`` itself when the two are equal)."""
    p = np.asarray(p, dtype=float)
    if months == period_months:
        return p
    return -np.expm1(months / period_months * np.log1p(-np.minimum(p, 1.0 - 1e-15)))


class PDModel:
    """A fitted (or to-be-fitted) hierarchical PD model.

    Examples
    --------
    >>> model = PDModel(predictors=["share_late_12m", "max_dpd_6m"])  # doctest: +SKIP
    >>> model.fit(train, target="default_12m")                          # doctest: +SKIP
    >>> draws = model.predict_draws(score_frame)   # (draws, rows) of PD  # doctest: +SKIP

    ``period_months`` is the span of the training label: 12 for "default within 12 months", 1 for
    a monthly hazard; predictions are converted to the horizon asked for (12 months by default).
    """

    def __init__(
        self,
        predictors: Sequence[str],
        model_config: ModelConfig | None = None,
        sampler_config: SamplerConfig | None = None,
        period_months: int = 12,
        priors: Priors | None = None,
    ):
        self.predictors = list(predictors)
        self.period_months = period_months
        self.priors = priors or Priors()
        self.priors.check_predictors(self.predictors)
        self.model_config = model_config or ModelConfig()
        self.sampler_config = sampler_config or SamplerConfig()
        self.idata: az.InferenceData | None = None
        self.standardizer: Standardizer | None = None
        self.levels: dict[str, list[str]] = {}
        self.timings: dict[str, float] = {}
        self.centred = True
        self.sampled_with: dict[str, str] = {}
        self.bins: dict[str, dict] = {}
        self.pairs: dict[str, dict] = {}  # "a x b" -> its columns and their coarse bins
        self.n_rows = self.n_events = self.n_cells = 0
        self._fitted_design: _Design | None = None  # kept in memory for the prior's draws
        self._draws_from = "posterior"  # the idata group predictions draw from
        mc = self.model_config
        unknown = sorted(set(mc.binned) - set(self.predictors))
        if unknown:
            raise ConfigError(f"binned predictor(s) {unknown} are not among the predictors")
        if unknown := sorted({c for c, _ in mc.monotone} - set(mc.binned)):
            raise ConfigError(f"monotone predictor(s) {unknown} are not binned predictors")
        if unknown := sorted({c for p in mc.interactions for c in p} - set(self.predictors)):
            raise ConfigError(f"interaction predictor(s) {unknown} are not among the predictors")
        self.provenance: dict = {}

    @property
    def hazard(self) -> bool:
        """Whether the model is a monthly hazard over months of follow-up."""
        return self.period_months == 1

    # -- build ----------------------------------------------------------------------------
    def _factors(self) -> list[str]:
        """The configured categorical factors: the group, the offsets, the snapshot if asked."""
        mc = self.model_config
        return [f for f in (mc.group, *mc.factors, *(["snapshot"] if mc.time_varying else [])) if f]

    @property
    def _group(self) -> str | None:
        """The group the intercepts are pooled by (none when training had a single level)."""
        return self.model_config.group if self.model_config.group in self.levels else None

    def _offsets(self) -> list[str]:
        """The zero-mean offset factors with two levels or more in training."""
        return [f for f in self._factors()[1 if self._group else 0 :] if f in self.levels]

    def _pooled(self, factor: str) -> bool:
        """Whether an offset factor's spread is learnt (``POOLED_MIN_LEVELS`` levels or more);
        over fewer levels it is barely identified and makes a funnel (German credit's 3-level
        guarantor column: R-hat 1.03, tail ESS 99), so it is fixed at ``prior_beta_sigma``."""
        return len(self.levels[factor]) >= POOLED_MIN_LEVELS

    def _design(
        self, frame: pd.DataFrame, target: str, weights: np.ndarray | None = None
    ) -> _Design:
        """Standardised predictors and level codes of ``frame``; rows that share every value
        collapse into binomial cells when that at least halves the likelihood's terms (unless
        rows carry ``weights``)."""
        import pytensor

        mc = self.model_config
        linear = [p for p in self.predictors if p not in mc.binned]
        self.standardizer = Standardizer.fit(frame, linear)
        self.bins = {c: bin_edges(frame[c], mc.n_bins) for c in mc.binned}
        self.pairs = {
            f"{a} x {b}": {"columns": [a, b],
                           "specs": [bin_edges(frame[a], PAIR_BINS), bin_edges(frame[b], PAIR_BINS)]}
            for a, b in mc.interactions
        }  # fmt: skip
        x = self.standardizer.transform(frame).astype(pytensor.config.floatX)
        y = frame[target].to_numpy(dtype=np.int64)
        levels = {f: sorted(frame[f].astype(str).unique()) for f in self._factors()}
        self.levels = {f: v for f, v in levels.items() if len(v) > 1}
        if single := sorted(set(levels) - set(self.levels)):
            log.info("one level only in the training data, so no effect of: %s", single)
        codes = {f: level_codes(frame[f], self.levels[f]) for f in self.levels}
        codes |= {f"bin_{c}": bin_index(frame[c], spec) for c, spec in self.bins.items()}
        codes |= {f"pair_{name}": pair_index(frame, pair) for name, pair in self.pairs.items()}
        if self.hazard:
            codes[FOLLOW_UP] = np.minimum(frame[FOLLOW_UP].to_numpy(np.int64), HAZARD_MONTHS) - 1
        group = self._group
        if group:
            # a logistic likelihood informs a group through its events, not its rows
            smallest = int(
                np.bincount(codes[group], weights=y, minlength=len(self.levels[group])).min()
            )
            self.centred = smallest >= mc.centred_min_events
        log.info(
            "modelling P(default) with %d predictors; %s%s",
            x.shape[1],
            f"intercepts pooled by {group} ({len(self.levels[group])} groups, smallest "
            f"{smallest} defaults: {'centred' if self.centred else 'non-centred'})"
            if group
            else "one intercept",
            "".join(f"; offsets by {f} ({len(self.levels[f])} levels)" for f in self._offsets())
            + "".join(
                f"; {c} in {len(b['edges']) + 1} ordered bins"
                + (" and a missing bin" if b.get("missing") else "")
                for c, b in self.bins.items()
            )
            + "".join(f"; {name}: an effect per cell" for name in self.pairs)
            + (
                "; a monthly hazard with a baseline over 12 months of follow-up"
                if self.hazard
                else ""
            ),
        )
        design = _Design(x, codes, y, None, weights)
        if mc.aggregate and len(y) and weights is None:
            # a hazard row's outcome is part of its cell (its likelihood is not binomial)
            keys = np.column_stack([x, *codes.values(), *([y] if self.hazard else [])])
            _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
            if 2 * len(first) <= len(y):
                inverse = inverse.ravel()
                trials = np.bincount(inverse)
                events = y[first] if self.hazard else np.bincount(inverse, weights=y)
                events = events.astype(np.int64)
                design = _Design(x[first], {k: v[first] for k, v in codes.items()}, events, trials)
                log.info(
                    "%s rows share their values in %s cells: the likelihood is binomial over the "
                    "cells (exactly the same posterior, %.0fx fewer terms)",
                    f"{len(y):,}",
                    f"{len(first):,}",
                    len(y) / len(first),
                )
        self.n_cells = len(design.events)
        return design

    def build(self, frame: pd.DataFrame, target: str):
        """The PyMC model for ``frame`` (called by :meth:`fit`)."""
        return self._model(self._design(frame, target))

    def _model(self, design: _Design):
        import pymc as pm
        import pytensor.tensor as pt

        mc = self.model_config
        x, codes = design.x, design.codes
        coords = {
            "predictor": self.standardizer.names,
            **{dim(f): v for f, v in self.levels.items()},
        }

        # priors are stated for a 12-month PD; a shorter label's rates are lower
        def to_period(p12: float) -> float:
            return float(over_months(p12, self.period_months, 12))

        p12 = 1.0 / (1.0 + np.exp(-self.priors.intercept_centre(mc.prior_intercept_mu)))
        centre = float(np.log(to_period(p12) / (1.0 - to_period(p12))))
        beta_mean, beta_sd = self.priors.beta_prior(
            self.standardizer.names, self.standardizer.scales, mc.prior_beta_sigma
        )
        with pm.Model(coords=coords) as model:
            mu = pm.Normal("mu", centre, mc.prior_intercept_sigma)
            if x.shape[1]:
                beta = pm.Normal("beta", beta_mean, beta_sd, dims="predictor")
                eta = pm.math.dot(x, beta)
            else:  # every predictor binned (a scorecard): no straight-line effects
                eta = pt.zeros(x.shape[0])
            if group := self._group:
                sigma = pm.HalfNormal("sigma_group", mc.prior_group_sigma)
                centres = mu + self.priors.group_shifts(self.levels[group], to_period, p12)
                if self.centred:
                    a = pm.Normal("a_group", centres, sigma, dims=dim(group))
                else:
                    z = pm.Normal("z_group", 0.0, 1.0, dims=dim(group))
                    a = pm.Deterministic("a_group", centres + sigma * z, dims=dim(group))
                eta = eta + a[codes[group]]
            else:
                eta = eta + mu
            for factor in self._offsets():
                # offsets sum to zero, so they do not trade off against the intercept
                if self._pooled(factor):
                    s = pm.HalfNormal(node("sigma", factor), mc.prior_group_sigma)
                    off = s * pm.ZeroSumNormal(node("z", factor), sigma=1.0, dims=dim(factor))
                else:  # too few levels to learn their spread: fixed, as for a coefficient
                    off = pm.ZeroSumNormal(
                        node("z", factor), sigma=mc.prior_beta_sigma, dims=dim(factor)
                    )
                pm.Deterministic(node("offset", factor), off, dims=dim(factor))
                eta = eta + off[codes[factor]]
            monotone = dict(mc.monotone)
            for c, spec in self.bins.items():
                # ordered, smooth effects: a random walk over the bins, centred on zero
                # the step scale is fixed: a learnt one made funnels (divergences and bulk ESS
                # 330 on HMEQ's ten binned columns); steps are the data's to make
                model.add_coord(node("bin", c), bin_labels(spec))
                n_steps, sd = len(spec["edges"]), mc.prior_bin_sigma
                if c in monotone:  # steps of one sign: the PD only rises (or falls) along c
                    sign = 1.0 if monotone[c] == "increasing" else -1.0
                    steps = sign * pm.HalfNormal(node("steps", c), sd, shape=n_steps)
                else:
                    steps = pm.Normal(node("steps", c), 0.0, sd, shape=n_steps)
                walk = pt.concatenate([pt.zeros(1), pt.cumsum(steps)])
                walk = walk - walk.mean()
                if spec.get("missing"):  # missing values: a bin of their own, outside the order
                    gap = pm.Normal(node("missing", c), 0.0, mc.prior_beta_sigma)
                    walk = pt.concatenate([walk, pt.atleast_1d(gap)])
                effect = pm.Deterministic(node("bins", c), walk, dims=node("bin", c))
                eta = eta + effect[codes[f"bin_{c}"]]
            for name, pair in self.pairs.items():
                # a joint effect per cell, summing to zero over rows and over columns: only
                # what the two columns' main effects cannot hold; its prior scale is fixed (a
                # learnt one made a funnel on HMEQ: tail ESS 134 at 2 x 1000 draws)
                model.add_coord(node("cell", name), pair_labels(pair))
                shape = [bin_count(spec) for spec in pair["specs"]]
                cells = pm.ZeroSumNormal(node("z", name), sigma=mc.prior_interaction_sigma,
                                         shape=shape, n_zerosum_axes=2)  # fmt: skip
                cells = pm.Deterministic(
                    node("pair", name), cells.flatten(), dims=node("cell", name)
                )
                eta = eta + cells[codes[f"pair_{name}"]]
            if self.hazard:
                self._hazard_likelihood(model, eta, design)
            elif design.weights is not None:  # a weighted Bernoulli log-likelihood
                w = design.weights
                pm.Potential(
                    "y", (w * design.events * eta).sum() - (w * pm.math.log1pexp(eta)).sum()
                )
            elif design.trials is None:
                pm.Bernoulli("y", logit_p=eta, observed=design.events)
            else:
                pm.Binomial("y", n=design.trials, logit_p=eta, observed=design.events)
        return model

    def _hazard_likelihood(self, model, eta, design: _Design) -> None:
        """A monthly hazard ``h_k = logistic(eta + baseline_k)``: a row followed for ``K`` months
        adds ``sum_{k<=K} log(1 - h_k)``, plus ``log(h_K / (1 - h_K))`` when it defaulted in month
        K (the discrete-time survival likelihood; ``trials`` counts identical rows, ``weights``
        weigh each row's months)."""
        import pymc as pm
        import pytensor.tensor as pt

        # the baseline over months since the snapshot: a random walk, so the hazard can rise as a
        # clean customer has time to fall 90 days behind; its step scale is fixed (a learnt one
        # makes a funnel where early months are well observed and late ones not at all)
        model.add_coord(FOLLOW_UP, list(range(1, HAZARD_MONTHS + 1)))
        steps = pm.Normal(
            "steps_follow_up", 0.0, self.model_config.prior_follow_up_sigma, shape=HAZARD_MONTHS - 1
        )
        walk = pt.concatenate([pt.zeros(1), pt.cumsum(steps)])
        baseline = pm.Deterministic("baseline", walk - walk.mean(), dims=FOLLOW_UP)
        last = design.codes[FOLLOW_UP]
        followed = (np.arange(HAZARD_MONTHS)[None, :] <= last[:, None]).astype(float)
        if design.weights is not None:
            followed = followed * design.weights
        elif design.trials is not None:
            followed = followed * design.trials[:, None]
        month_eta = eta[:, None] + baseline[None, :]
        survived = -(pm.math.log1pexp(month_eta) * followed).sum()
        defaulted = design.events * followed[np.arange(len(last)), last]
        pm.Potential("y", survived + (defaulted * (eta + baseline[last])).sum())

    @property
    def n_coefficients(self) -> int:
        """The regression's effects: one per standardised predictor, bin and interaction cell
        (what decides the mass matrix: :meth:`SamplerConfig.low_rank`)."""
        return (
            len(self.standardizer.names)
            + sum(bin_count(spec) for spec in self.bins.values())
            + sum(bin_count(a) * bin_count(b) for a, b in (p["specs"] for p in self.pairs.values()))
        )

    # -- fit ------------------------------------------------------------------------------
    def fit(self, frame: pd.DataFrame, target: str, weights: np.ndarray | None = None) -> PDModel:
        """Sample the posterior with NUTS (the configured implementation). ``weights``: how much
        each row counts, per row or (a monthly hazard) per row and month of follow-up, as
        :func:`~creditlab.features.overlap_weights` gives for a ledger's overlapping snapshots."""
        t0 = time.perf_counter()
        design = self._design(frame, target, weights)
        self.idata, self.sampled_with = sample(
            lambda: self._model(design), self.sampler_config, len(design.events), "PD model",
            predictors=self.n_coefficients, correlation=strongest_correlation(design.x),
            structured=self.hazard,  # the baseline's walk moves with the intercept
        )  # fmt: skip
        self.timings["fit_s"] = round(time.perf_counter() - t0, 3)
        self.n_rows = len(frame)
        self.n_events = int(frame[target].sum())
        self._fitted_design = design
        return self

    def add_prior_draws(self, seed: int = 0) -> PDModel:
        """Keep draws of the prior (group ``prior``) and the log prior density of each posterior
        draw (group ``log_prior``) in ``idata``, for :meth:`prior_share` and the prior
        sensitivity; saved with the model. Call right after :meth:`fit`."""
        import pymc as pm
        import pytensor

        if self._fitted_design is None:
            raise ConfigError(
                "the prior's draws need the fit's data: call add_prior_draws after fit"
            )
        model = self._model(self._fitted_design)
        wanted = ["mu", "beta", "a_group", "sigma_group", "baseline"]
        wanted += [node(v, f) for f in self._offsets() for v in ("offset", "sigma")]
        wanted += [node("bins", c) for c in self.bins] + [node("pair", p) for p in self.pairs]
        names = [v for v in wanted if v in model.named_vars]
        # small graphs evaluated once: compiling them to C would cost more than running them
        with model, pytensor.config.change_flags(mode="FAST_COMPILE"), warnings.catch_warnings():
            # the likelihood (a Potential for the hazard) plays no part in draws of the prior
            warnings.filterwarnings("ignore", "The effect of Potentials", UserWarning)
            prior = pm.sample_prior_predictive(PRIOR_DRAWS, var_names=names, random_seed=seed)
            self.idata.add_groups(prior=prior.prior)
            pm.compute_log_prior(self.idata, progressbar=False)
        return self

    def prior_share(self, frame: pd.DataFrame) -> np.ndarray:
        """Per row, the share of its 12-month PD's uncertainty the prior still holds
        (:func:`~creditlab.models.pd_priors.prior_share`); NaN without prior draws."""
        return self.predict(frame, with_prior_share=True)[EVIDENCE].to_numpy()

    # -- predict --------------------------------------------------------------------------
    def _posterior(self, name: str) -> np.ndarray:
        post = self.idata[self._draws_from][name]
        return post.stack(sample=("chain", "draw")).transpose("sample", ...).to_numpy()

    def prior_draws(self, frame: pd.DataFrame, months: float = 12) -> np.ndarray | None:
        """Draws of the PD over ``months`` under the prior alone (``None`` when the fit kept no
        prior draws: see :meth:`add_prior_draws`)."""
        if self.idata is None or "prior" not in self.idata.groups():
            return None
        self._draws_from = "prior"
        try:
            return self.predict_draws(frame, months=months)
        finally:
            self._draws_from = "posterior"

    def log_prior(self) -> np.ndarray | None:
        """The joint log prior density at each posterior draw, ``(draws,)`` (``None`` without)."""
        if self.idata is None or "log_prior" not in self.idata.groups():
            return None
        total = sum(
            v.sum([d for d in v.dims if d not in ("chain", "draw")])
            for v in self.idata.log_prior.data_vars.values()
        )
        return total.stack(sample=("chain", "draw")).to_numpy()

    def predict_draws(
        self, frame: pd.DataFrame, seed: int = 0, months: float | np.ndarray = 12
    ) -> np.ndarray:
        """Posterior draws of the PD over ``months`` for each row of ``frame``: ``(draws, rows)``.

        A level of the group or of a factor not seen in training gets a fresh intercept drawn from
        its population distribution, so its extra uncertainty shows in the interval. A monthly
        hazard model gives ``1 - prod_{k<=months} (1 - h_k)`` (``months`` may differ by row);
        another model whose label spans other than ``months`` converts at a constant hazard
        (:func:`over_months`).
        """
        if self.idata is None or self.standardizer is None:
            raise ConfigError("the model is not fitted")
        rng = np.random.default_rng(seed)
        x = self.standardizer.transform(frame)
        n = self._posterior("mu").shape[0]
        eta = self._posterior("beta") @ x.T if x.shape[1] else np.zeros((n, len(frame)))

        def level_effects(levels, values, post, mean, scale):
            idx = level_codes(values, levels)
            fresh = mean[:, None] + scale[:, None] * rng.standard_normal((n, 1))
            padded = np.concatenate([post, fresh], axis=1)
            return padded[:, np.where(idx < 0, len(levels), idx)]

        if group := self._group:
            eta += level_effects(
                self.levels[group],
                frame[group],
                self._posterior("a_group"),
                self._posterior("mu"),
                self._posterior("sigma_group"),
            )
        else:
            eta += self._posterior("mu")[:, None]
        for c, spec in self.bins.items():
            eta += self._posterior(node("bins", c))[:, bin_index(frame[c], spec)]
        for name, pair in self.pairs.items():
            eta += self._posterior(node("pair", name))[:, pair_index(frame, pair)]
        for factor in self._offsets():
            spread = (
                self._posterior(node("sigma", factor))
                if self._pooled(factor)
                else np.full(n, self.model_config.prior_beta_sigma)
            )
            offsets = self._posterior(node("offset", factor))
            eta += level_effects(self.levels[factor], frame[factor], offsets, np.zeros(n), spread)
        if self.hazard:
            baseline = self._posterior("baseline")
            months = np.broadcast_to(np.asarray(months), eta.shape[1:])
            # log survival = sum_k log(1 - h_k) = -sum_k log(1 + e^eta_k): stable for tiny hazards
            log_survival = np.zeros_like(eta)
            for k in range(int(months.max(initial=0))):
                hazard = np.logaddexp(0.0, eta + baseline[:, min(k, HAZARD_MONTHS - 1), None])
                log_survival -= np.where(k < months, hazard, 0.0)
            return -np.expm1(log_survival)
        if months == self.period_months:
            return 1.0 / (1.0 + np.exp(-eta))
        return over_months(1.0 / (1.0 + np.exp(-eta)), months, self.period_months)

    def predict(
        self,
        frame: pd.DataFrame,
        prob: float = 0.9,
        max_cells: int = PREDICT_CELLS,
        months: float = 12,
        with_prior_share: bool = False,
    ) -> pd.DataFrame:
        """``pd_mean, pd_lo, pd_hi`` of the PD over ``months`` per row (equal-tailed interval of
        probability ``prob``), and with ``with_prior_share`` its ``evidence`` (:meth:`prior_share`).

        Rows are scored in chunks of at most ``max_cells`` draws x rows (~400 MB of float64 by
        default), so memory stays bounded however many customers there are; chunks give the same
        numbers as one pass (an unseen level's fresh intercept depends only on the seed).
        """
        n_draws = self.idata.posterior.sizes["chain"] * self.idata.posterior.sizes["draw"]
        step = max(1, max_cells // n_draws)
        columns = [PD_MEAN, PD_LO, PD_HI, *([EVIDENCE] if with_prior_share else [])]
        has_prior = "prior" in self.idata.groups()
        parts = []
        for start in range(0, len(frame), step):
            part = frame.iloc[start : start + step]
            draws = self.predict_draws(part, months=months)
            lo, hi = np.quantile(draws, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
            cols = [draws.mean(axis=0), lo, hi]
            if with_prior_share:  # from the same draws: no second pass over the portfolio
                cols.append(
                    prior_share(draws, self.prior_draws(part, months))
                    if has_prior
                    else np.full(len(part), np.nan)
                )
            parts.append(np.column_stack(cols))
        values = np.concatenate(parts) if parts else np.empty((0, len(columns)))
        return pd.DataFrame(values, columns=columns, index=frame.index)

    # -- persistence ----------------------------------------------------------------------
    def save(self, path: str | Path, provenance: dict | None = None) -> Path:
        """Write the posterior and everything needed to predict as one NetCDF file."""
        state = {
            "predictors": self.predictors,
            "period_months": self.period_months,
            "priors": dataclasses.asdict(self.priors),
            "model_config": dataclasses.asdict(self.model_config),
            "sampler_config": dataclasses.asdict(self.sampler_config),
            "standardizer": dataclasses.asdict(self.standardizer),
            "levels": self.levels,
            "centred": self.centred,
            "sampled_with": self.sampled_with,
            "bins": self.bins,
            "pairs": self.pairs,
            "n_rows": self.n_rows,
            "n_events": self.n_events,
            "n_cells": self.n_cells,
            "timings": self.timings,
        }
        return write_posterior(self.idata, path, state, provenance)

    @classmethod
    def load(cls, path: str | Path) -> PDModel:
        """Read a model written by :meth:`save`."""
        idata, state, provenance = read_posterior(path, "PD model")
        config = state["model_config"]
        model = cls(
            state["predictors"],
            ModelConfig(**config),
            SamplerConfig(**state["sampler_config"]),
            state.get("period_months", 12),  # saved before the monthly hazard existed
            Priors(**state.get("priors", {})),
        )
        model.idata = idata
        model.standardizer = Standardizer(**state["standardizer"])
        model.levels = state["levels"]
        model.centred = state["centred"]
        model.sampled_with = state["sampled_with"]
        model.bins = state["bins"]
        model.pairs = state.get("pairs", {})  # saved before interactions existed
        model.n_rows, model.n_events = state["n_rows"], state["n_events"]
        model.n_cells = state.get("n_cells", state["n_rows"])  # saved before aggregation existed
        model.timings = state["timings"]
        model.provenance = provenance
        return model
