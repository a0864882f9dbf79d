"""How bad can a year get: the portfolio's 12-month credit loss distribution, gross and net of
credit insurance, with the model's own uncertainty carried into the tail.

**Model.** Customer ``i`` defaults within 12 months when its latent asset value
``a Z + b Z_g(i) + s e_i`` falls below ``Phi^-1(PD_i)``: ``Z`` is the systematic factor, ``Z_g`` its
sector's factor (industry or country), ``e_i`` its own; ``a^2`` is the systematic and ``b^2`` the
sector correlation (``s^2 = 1 - a^2 - b^2``). Each scenario takes one posterior draw of the PDs and
LGDs (the PD model's posterior, the LGD priors) and of the correlations (the systematic one updated
from the ledger's default cohorts where they allow, :mod:`creditlab.decisions.correlation`), then
the factors, the defaults and the losses ``EAD x LGD``, less the insurance payout
(:mod:`creditlab.decisions.insurance`).

**Estimates.** The systematic factor is importance-sampled (a tenth of the scenarios shifted into
the bad tail, weights ``phi(z) / q(z)`` at most 1/0.9), so the 99.9 % figures rest on tens of
thousands of tail scenarios instead of a thousand.
VaR is the weighted quantile; expected shortfall the tail mean (Acerbi-Tasche, ties at VaR
weighted so the tail holds exactly ``1 - level``). Each customer's contribution to ES is its mean
loss in the tail scenarios (Euler allocation): the contributions add up to the ES exactly.

**Uncertainty.** The headline figure mixes the posterior (the predictive loss distribution).
``lo``/``hi`` are the interval of the same figure computed draw by draw ("if the PDs, LGDs and
correlation were exactly this draw"); ``posterior_share`` is the part of that spread that is not
Monte Carlo noise (estimated from split halves); ``mc_se`` is the headline's Monte Carlo standard
error (batch means).

**Checks.** The one-factor asymptotic (Vasicek) quantile with Gordy's granularity adjustment is
given beside each VaR; the tests reproduce the Vasicek large-portfolio quantile, the binomial
distribution at zero correlation, and insurance arithmetic worked by hand.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any

import numba
import numpy as np
import pandas as pd
from scipy import special

from creditlab.decisions.correlation import CorrelationPosterior
from creditlab.decisions.draws import interval
from creditlab.decisions.insurance import Insurance, cover
from creditlab.decisions.loss_kernel import scenario_totals, tail_contributions
from creditlab.decisions.loss_settings import PortfolioLossSettings
from creditlab.decisions.settings import BetaPrior
from creditlab.errors import SchemaError
from creditlab.ledger.schema import CUSTOMER_ID

__all__ = [
    "CONTRIBUTION_COLUMNS",
    "LossInputs",
    "LossResult",
    "concentration",
    "one_factor_var",
    "risk_measures",
    "simulate",
    "table_inputs",
]

log = logging.getLogger(__name__)

CONTRIBUTION_COLUMNS = [
    CUSTOMER_ID, "sector", "ead", "insured", "el", "es_contribution", "net_es_contribution",
]  # fmt: skip
_BATCHES = 20


@dataclasses.dataclass
class LossInputs:
    """What one simulation needs, customers in columns and posterior draws in rows."""

    customer_ids: np.ndarray
    sectors: np.ndarray  # each customer's sector label ("all" when none)
    ead: np.ndarray
    pd_draws: np.ndarray  # (draws, customers)
    lgd_draws: np.ndarray  # (draws, customers)
    systematic: np.ndarray  # (draws,) correlation draws
    sector: np.ndarray  # (draws,) correlation draws (zeros: no sector factors)
    insurance: Insurance | None = None

    def __post_init__(self) -> None:
        k, n = self.pd_draws.shape
        if self.lgd_draws.shape != (k, n) or len(self.ead) != n or len(self.customer_ids) != n:
            raise ValueError("pd_draws, lgd_draws, ead and customer_ids disagree in shape")
        if len(self.systematic) != k or len(self.sector) != k:
            raise ValueError("one systematic and one sector correlation per draw")
        if np.any(self.systematic + self.sector >= 1):
            raise ValueError("systematic + sector correlation must stay below 1")

    def insure(self, customer_id: str, limit: float) -> LossInputs:
        """These inputs with ``customer_id`` insured up to ``limit`` (the what-if lever)."""
        base = self.insurance or Insurance()
        return dataclasses.replace(self, insurance=base.insure(customer_id, limit))


def table_inputs(
    frame: pd.DataFrame,
    pd_draws: np.ndarray,
    exposure: str,
    settings: PortfolioLossSettings,
    lgd: BetaPrior,
    seed: int,
    *,
    id_column: str | None = None,
    sector_column: str | None = None,
    insurance: Insurance | None = None,
    where: str = "table",
) -> LossInputs:
    """Inputs for a table of one's own (one row per customer or loan): its PD draws, exposures
    from ``exposure``, LGD draws from ``lgd``, correlations from the settings' priors.

    Raises
    ------
    SchemaError
        A named column is missing, an exposure is not a number >= 0, or an id repeats (the message
        names the row and the column).
    """
    for column in (exposure, id_column, sector_column):
        if column is not None and column not in frame.columns:
            raise SchemaError(f"{where}: no column {column!r}; columns: {list(frame.columns)}")
    ead = pd.to_numeric(frame[exposure], errors="coerce")
    bad = ead.isna() | (ead < 0)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise SchemaError(
            f"{where}: row {row + 2}, column {exposure!r}: expected an exposure >= 0, "
            f"got {frame[exposure].iloc[row]!r}"
        )
    ids = (
        frame[id_column].astype(str).to_numpy()
        if id_column
        else np.array([f"row {i + 2}" for i in range(len(frame))])
    )
    dup = pd.Series(ids).duplicated()
    if dup.any():
        row = int(np.flatnonzero(dup.to_numpy())[0])
        raise SchemaError(f"{where}: row {row + 2}, column {id_column!r}: {ids[row]!r} repeats")
    rows = np.linspace(0, len(pd_draws) - 1, min(len(pd_draws), settings.posterior_draws))
    draws = pd_draws[rows.round().astype(int)]
    rng = np.random.default_rng([seed, 7])
    systematic, sector = correlation_draws(
        dataclasses.replace(settings, sector_by="industry" if sector_column else "none"),
        None, len(draws), seed,
    )  # fmt: skip
    return LossInputs(
        customer_ids=ids,
        sectors=(
            frame[sector_column].fillna("(missing)").astype(str).to_numpy()
            if sector_column
            else np.full(len(frame), "all", dtype=object)
        ),
        ead=ead.to_numpy(dtype=float),
        pd_draws=draws,
        lgd_draws=rng.beta(*lgd.beta, size=draws.shape),
        systematic=systematic,
        sector=sector,
        insurance=insurance,
    )


@dataclasses.dataclass
class LossResult:
    """The loss distribution (``distribution``), the customers' contributions and cover
    (``contributions``), an exceedance curve for charts (``curve``) and the summary."""

    distribution: pd.DataFrame
    contributions: pd.DataFrame
    curve: pd.DataFrame
    summary: dict[str, Any]


def correlation_draws(
    settings: PortfolioLossSettings, posterior: CorrelationPosterior | None, n: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` draws of the systematic correlation (its posterior, else its prior) and the sector one."""
    rng = np.random.default_rng([seed, 20])
    systematic = (
        posterior.draws(n, rng)
        if posterior is not None
        else rng.beta(*settings.systematic.beta, size=n)
    )
    if settings.sector_by == "none":
        return systematic, np.zeros(n)
    sector = rng.beta(*settings.sector.beta, size=n)
    total = systematic + sector
    scale = np.where(total > 0.95, 0.95 / total, 1.0)  # keep room for the customer's own part
    return systematic * scale, sector * scale


def risk_measures(
    losses: np.ndarray, weights: np.ndarray, levels: tuple[float, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """VaR and ES at each level of a weighted sample, and each scenario's tail weight.

    Returns ``var (L,)``, ``es (L,)`` and ``tail (S, L)``: scenario ``s``'s probability mass in
    level ``l``'s tail divided by ``1 - level`` (ties at VaR get the fraction that makes the tail
    exactly ``1 - level``), so ``ES_l = tail[:, l] @ losses``.
    """
    w = weights / weights.sum()
    order = np.argsort(losses, kind="stable")
    sorted_l, cum = losses[order], np.cumsum(w[order])
    var = np.empty(len(levels))
    tail = np.zeros((len(losses), len(levels)))
    for j, level in enumerate(levels):
        var[j] = sorted_l[min(np.searchsorted(cum, level - 1e-12), len(cum) - 1)]  # float sums
        above = losses > var[j]
        at = losses == var[j]
        p_at = w[at].sum()
        below_or_at = 1.0 - w[above].sum()
        frac = (below_or_at - level) / p_at if p_at > 0 else 0.0
        tail[:, j] = np.where(above, w, np.where(at, w * frac, 0.0)) / (1 - level)
    es = tail.T @ losses
    return var, es, tail


def one_factor_var(
    pd_mean: np.ndarray,
    lgd_mean: np.ndarray,
    lgd_var: np.ndarray,
    ead: np.ndarray,
    rho: float,
    levels: tuple[float, ...],
) -> tuple[np.ndarray, np.ndarray]:
    """The one-factor asymptotic VaR (Vasicek) and Gordy's granularity adjustment at each level.

    ``ASRF = sum_i EAD_i LGD_i p_i(x)`` with ``p_i(x) = Phi((Phi^-1(PD_i) + sqrt(rho) x) /
    sqrt(1 - rho))`` at ``x = Phi^-1(level)``; ``GA = (x sigma^2 / mu' - (sigma^2)' / mu' +
    sigma^2 mu'' / mu'^2) / 2`` (Gordy 2003, Martin and Wilde 2002), with ``mu``, ``sigma^2`` the
    loss's conditional mean and variance (LGD variance included), derivatives numerical.
    """
    c = special.ndtri(np.clip(pd_mean, 1e-12, 1 - 1e-12))
    e2 = lgd_var + lgd_mean**2

    def moments(x: float) -> tuple[float, float]:
        p = special.ndtr((c + math.sqrt(rho) * x) / math.sqrt(1 - rho))
        mu = float(np.sum(ead * lgd_mean * p))
        var = float(np.sum(ead**2 * (e2 * p - lgd_mean**2 * p**2)))
        return mu, var

    asrf, ga = np.empty(len(levels)), np.empty(len(levels))
    h = 1e-3
    for j, level in enumerate(levels):
        x = float(special.ndtri(level))
        (m0, v0), (mp, vp), (mm, vm) = moments(x), moments(x + h), moments(x - h)
        d1, d2, dv = (mp - mm) / (2 * h), (mp - 2 * m0 + mm) / h**2, (vp - vm) / (2 * h)
        asrf[j] = m0
        ga[j] = 0.5 * (x * v0 / d1 - dv / d1 + v0 * d2 / d1**2) if d1 > 0 else 0.0
    return asrf, ga


def concentration(ead: np.ndarray, sectors: np.ndarray) -> dict[str, float]:
    """Single-name and sector Herfindahl indices of exposure, and their effective numbers."""
    total = float(np.sum(ead))
    if total <= 0:
        keys = (
            "single_name_hhi",
            "effective_names",
            "top10_share",
            "sector_hhi",
            "effective_sectors",
        )
        return dict.fromkeys(keys, float("nan"))
    shares = ead / total
    by_sector = pd.Series(ead).groupby(np.asarray(sectors)).sum().to_numpy() / total
    hhi, shhi = float(np.sum(shares**2)), float(np.sum(by_sector**2))
    return {
        "single_name_hhi": hhi,
        "effective_names": 1 / hhi,
        "top10_share": float(np.sort(shares)[::-1][:10].sum()),
        "sector_hhi": shhi,
        "effective_sectors": 1 / shhi,
    }


def _layout(inputs: LossInputs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per draw, thresholds sorted descending within sectors, the customers in that order, and
    where each sector starts."""
    codes, labels = pd.factorize(pd.Series(inputs.sectors).astype(str), sort=True)
    group_start = np.searchsorted(np.sort(codes), np.arange(len(labels) + 1)).astype(np.int64)
    c = special.ndtri(np.clip(inputs.pd_draws, 0.0, 1.0))  # -inf at PD 0, +inf at PD 1
    # sort by sector, then by threshold descending
    order = np.lexsort((-c, np.broadcast_to(codes, c.shape)), axis=1).astype(np.int64)
    return np.take_along_axis(c, order, axis=1), order, group_start


def simulate(
    inputs: LossInputs, settings: PortfolioLossSettings, prob: float, seed: int
) -> LossResult:
    """Simulate the loss distribution; see the module docstring for what each figure means."""
    keep = inputs.ead > 0  # customers without exposure cannot lose anything
    cov, unknown = cover(inputs.customer_ids, inputs.ead, inputs.insurance)
    ins = inputs.insurance
    terms = ins.terms if ins is not None else np.array([0.0, 0.0, 0.0])
    sub = dataclasses.replace(
        inputs,
        customer_ids=inputs.customer_ids[keep],
        sectors=inputs.sectors[keep],
        ead=inputs.ead[keep],
        pd_draws=inputs.pd_draws[:, keep],
        lgd_draws=inputs.lgd_draws[:, keep],
    )
    thresholds, order, group_start = _layout(sub)
    a, b = np.sqrt(sub.systematic), np.sqrt(sub.sector)
    loadings = np.column_stack([a, b, np.sqrt(1 - sub.systematic - sub.sector)])
    shift = np.array([settings.importance_shift, settings.importance_share], dtype=float)
    args = (
        thresholds, order, group_start, loadings, shift,
        sub.ead.astype(float), np.ascontiguousarray(sub.lgd_draws, dtype=float),
        cov["insured"].to_numpy(float)[keep], cov["indemnity"].to_numpy(float)[keep], terms,
    )  # fmt: skip
    threads = numba.get_num_threads()
    gross, net, w, count = scenario_totals(seed, settings.scenarios, *args, 16 * threads)
    levels = settings.levels
    var_g, es_g, tail_g = risk_measures(gross, w, levels)
    var_n, es_n, tail_n = risk_measures(net, w, levels)
    contrib = int(levels.index(settings.contribution_level))
    tail_rows = np.flatnonzero(
        ((tail_g[:, contrib] > 0) & (gross > 0)) | ((tail_n[:, contrib] > 0) & (net > 0))
    )
    c_gross, c_net = tail_contributions(
        seed, tail_rows.astype(np.int64),
        np.ascontiguousarray(tail_g[tail_rows][:, [contrib]]),
        np.ascontiguousarray(tail_n[tail_rows][:, [contrib]]),
        *args, threads,
    )  # fmt: skip
    el_draws = sub.pd_draws * sub.lgd_draws * sub.ead[None, :]
    el_gross = el_draws.sum(axis=1)
    distribution = _distribution(gross, net, w, len(sub.pd_draws), levels, prob)
    asrf, ga = one_factor_var(
        sub.pd_draws.mean(axis=0), sub.lgd_draws.mean(axis=0), sub.lgd_draws.var(axis=0),
        sub.ead, float(np.mean(sub.systematic + sub.sector)), levels,
    )  # fmt: skip
    is_var = distribution["measure"] == "VaR"
    distribution.loc[is_var, "one_factor"] = asrf
    distribution.loc[is_var, "granularity_adjustment"] = ga
    contributions = cov.assign(sector=np.asarray(inputs.sectors).astype(str), ead=inputs.ead)
    full = np.zeros(len(inputs.ead))
    for name, values in (
        ("el", el_draws.mean(axis=0)),
        ("es_contribution", c_gross[0]),
        ("net_es_contribution", c_net[0]),
    ):
        full[:] = 0.0
        full[keep] = values
        contributions[name] = full.copy()
    contributions = contributions[
        CONTRIBUTION_COLUMNS + [c for c in contributions.columns if c not in CONTRIBUTION_COLUMNS]
    ]
    reserve_j = int(levels.index(settings.reserve_level))
    summary: dict[str, Any] = {
        "scenarios": int(settings.scenarios),
        "posterior_draws": int(len(sub.pd_draws)),
        "customers": int(len(inputs.ead)),
        "customers_exposed": int(keep.sum()),
        "levels": list(levels),
        "contribution_level": settings.contribution_level,
        "reserve_level": settings.reserve_level,
        "expected_loss": {
            "analytic": float(el_gross.mean()),
            "simulated": float(np.average(gross, weights=w)),
            "simulated_net": float(np.average(net, weights=w)),
        },
        "var": {"gross": var_g.tolist(), "net": var_n.tolist()},
        "es": {"gross": es_g.tolist(), "net": es_n.tolist()},
        "reserve": {
            "level": settings.reserve_level,
            "net_var": float(var_n[reserve_j]),
            "net_expected_loss": float(np.average(net, weights=w)),
            "suggested": float(max(0.0, var_n[reserve_j] - np.average(net, weights=w))),
            "gross_var": float(var_g[reserve_j]),
            "expected_loss": float(el_gross.mean()),
        },
        "mean_defaults": float(np.average(count, weights=w)),
        "tail_scenarios": int(len(tail_rows)),
        "effective_sample_size": float(w.sum() ** 2 / np.sum(w**2)),
        "correlation": {
            "systematic_mean": float(np.mean(sub.systematic)),
            "sector_mean": float(np.mean(sub.sector)),
        },
        "concentration": concentration(inputs.ead, np.asarray(inputs.sectors)),
        "exposure": {
            "total": float(np.sum(inputs.ead)),
            "insured": float(cov["insured"].sum()),
            "uninsured": float(cov["uninsured"].sum()),
        },
        "insurance": None if ins is None else {
            "covered_customers": int(len(cov.loc[cov["insured_limit"] > 0])),
            "not_in_ledger": unknown[:20],
            "not_in_ledger_count": len(unknown),
            "terms": {
                "deductible": float(terms[0]),
                "aggregate_first_loss": float(terms[1]),
                "max_liability": None if math.isinf(terms[2]) else float(terms[2]),
            },
        },
    }  # fmt: skip
    log.info(
        "portfolio loss: %d scenarios x %d customers, ES%.1f%% gross %.0f net %.0f",
        settings.scenarios, keep.sum(), 100 * settings.contribution_level,
        es_g[contrib], es_n[contrib],
    )  # fmt: skip
    return LossResult(distribution, contributions, _curve(gross, net, w), summary)


def _distribution(
    gross: np.ndarray, net: np.ndarray, w: np.ndarray, k: int, levels: tuple, prob: float
) -> pd.DataFrame:
    """Expected loss, VaR and ES gross and net, with the posterior's interval, the posterior's
    share of that spread and the Monte Carlo standard error."""
    s = len(gross)
    draw = np.arange(s) % k
    batch = np.arange(s) * _BATCHES // s

    def figures(losses: np.ndarray, weights: np.ndarray) -> np.ndarray:
        var, es, _ = risk_measures(losses, weights, levels)
        return np.concatenate([[np.average(losses, weights=weights)], var, es])

    rows: dict[str, np.ndarray] = {}
    for name, losses in (("gross", gross), ("net", net)):
        head = figures(losses, w)
        per_draw, noise = [], []
        for j in range(k):
            idx = np.flatnonzero(draw == j)
            per_draw.append(figures(losses[idx], w[idx]))
            half = (idx[::2], idx[1::2])
            noise.append(
                figures(losses[half[0]], w[half[0]]) - figures(losses[half[1]], w[half[1]])
            )
        per_draw_a = np.array(per_draw)
        lo, hi = interval(per_draw_a, prob)
        spread = per_draw_a.var(axis=0)
        mc = np.array(noise).var(axis=0) / 4  # variance of one draw's estimate from its halves
        share = np.where(spread > 0, np.clip(1 - mc / np.where(spread > 0, spread, 1), 0, 1), 0)
        batches = np.array([figures(losses[batch == b], w[batch == b]) for b in range(_BATCHES)])
        rows[name] = head
        rows[f"{name}_lo"], rows[f"{name}_hi"] = lo, hi
        rows[f"{name}_posterior_share"] = share
        rows[f"{name}_mc_se"] = batches.std(axis=0, ddof=1) / math.sqrt(_BATCHES)
    table = pd.DataFrame(
        {
            "measure": ["expected loss"] + ["VaR"] * len(levels) + ["ES"] * len(levels),
            "level": [np.nan, *levels, *levels],
            "gross": rows["gross"],
            "net": rows["net"],
            "lo": rows["gross_lo"],
            "hi": rows["gross_hi"],
            "net_lo": rows["net_lo"],
            "net_hi": rows["net_hi"],
            "posterior_share": rows["gross_posterior_share"],
            "net_posterior_share": rows["net_posterior_share"],
            "mc_se": rows["gross_mc_se"],
            "net_mc_se": rows["net_mc_se"],
        }
    )
    return table


def _curve(gross: np.ndarray, net: np.ndarray, w: np.ndarray, points: int = 200) -> pd.DataFrame:
    """P(loss > x) gross and net on a grid of losses up to the largest 99.99 % quantile."""
    top = max(float(risk_measures(gross, w, (0.9999,))[0][0]), 1.0)
    grid = np.linspace(0.0, top, points)
    wn = w / w.sum()

    def exceed(losses: np.ndarray) -> np.ndarray:
        order = np.argsort(losses)
        tail = np.cumsum(wn[order][::-1])[::-1]  # P(L >= sorted[i])
        pos = np.searchsorted(losses[order], grid, side="right")
        return np.append(tail, 0.0)[pos]

    return pd.DataFrame(
        {"loss": grid, "p_exceed_gross": exceed(gross), "p_exceed_net": exceed(net)}
    )
