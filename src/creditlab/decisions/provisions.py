"""Expected credit loss per customer, and the IFRS 9 provision matrix from month-end roll rates.

**ECL** = PD x LGD x EAD per customer (EAD = open AR), one value per posterior draw, so each
customer's ECL and the portfolio total carry credible intervals (the PD draws are joint across
customers, so the total's interval is right, not a sum of intervals).

**Provision matrix** (simplified approach, ``shared/DOMAIN.md``). At each of the last month-ends an
open invoice sits in an aging bucket; by the next month-end it has been paid, stayed or rolled on to
a later bucket, or become a loss (unpaid ``loss_dpd`` days, or its customer written off or
insolvent). Each bucket's row of transition probabilities gets a Dirichlet posterior from these
counts (Jeffreys prior 1/2 on every possible move; a segment's row borrows ``prior_strength``
pseudo-invoices from the whole portfolio's). A bucket's loss rate is the probability of ending as a
loss, from the absorbing Markov chain (``(I - Q)^-1 R``); with only forward moves it is the product
of the roll rates, as the textbook matrix has it. The forward-looking overlay multiplies the loss
rates by each scenario's multiplier (capped at 1) and weights the scenarios.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd

from creditlab.decisions.draws import interval
from creditlab.decisions.settings import ProvisionSettings
from creditlab.kpi import AGING_BUCKETS, OPEN_AR, bucket_codes, open_items
from creditlab.ledger.schema import CUSTOMER_ID, DUE_ON, EVENT_ON, ISSUED_ON, KIND, PAID_ON, PD_MEAN

__all__ = [
    "ECL_COLUMNS",
    "LOSS_BUCKET",
    "LOSS_EVENTS",
    "PROVISION_COLUMNS",
    "ProvisionMatrix",
    "absorption",
    "ecl_by",
    "ecl_table",
    "fit_roll_rates",
    "portfolio_roll_rates",
    "provision_matrix",
    "transition_counts",
]

ECL_COLUMNS = [CUSTOMER_ID, "ead", PD_MEAN, "lgd", "ecl_mean", "ecl_lo", "ecl_hi"]
PROVISION_COLUMNS = [
    "segment",
    "bucket",
    "balance",
    "loss_rate_mean",
    "loss_rate_lo",
    "loss_rate_hi",
    "allowance_mean",
]
LOSS_EVENTS = ("write_off", "insolvency")
LOSS_BUCKET = "credit-impaired (loss)"
N_BUCKETS = len(AGING_BUCKETS)
PAID, LOSS = N_BUCKETS, N_BUCKETS + 1  # absorbing states after the buckets
STATES = [*AGING_BUCKETS, "paid", "loss"]


def ecl_table(
    customer_ids: np.ndarray,
    ead: np.ndarray,
    pd_draws: np.ndarray,
    lgd_draws: np.ndarray,
    prob: float,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Per-customer ECL (mean and interval) and the ECL draws ``(draws, customers)``."""
    draws = pd_draws * lgd_draws * np.asarray(ead, dtype=float)[None, :]
    lo, hi = interval(draws, prob)
    table = pd.DataFrame(
        {
            CUSTOMER_ID: customer_ids,
            "ead": ead,
            PD_MEAN: pd_draws.mean(axis=0),
            "lgd": lgd_draws.mean(axis=0),
            "ecl_mean": draws.mean(axis=0),
            "ecl_lo": lo,
            "ecl_hi": hi,
        }
    )
    return table, draws


def ecl_by(
    draws: np.ndarray, ead: np.ndarray, groups: dict[str, pd.Series], prob: float
) -> pd.DataFrame:
    """ECL totals with intervals per group, for each grouping in ``groups`` and for the portfolio.

    The draws of a group's total are sums over its customers within each draw, so the interval
    reflects how the customers' PDs move together.
    """
    rows = []
    for by, labels in {
        **groups,
        "portfolio": pd.Series("all", index=range(draws.shape[1])),
    }.items():
        for name, idx in pd.Series(np.asarray(labels)).groupby(np.asarray(labels)).indices.items():
            total = draws[:, idx].sum(axis=1)
            lo, hi = interval(total, prob)
            rows.append(
                {
                    "group_by": by,
                    "group": name,
                    "customers": len(idx),
                    "ead": float(np.asarray(ead)[idx].sum()),
                    "ecl_mean": float(total.mean()),
                    "ecl_lo": float(lo),
                    "ecl_hi": float(hi),
                }
            )
    return pd.DataFrame(rows)


def _loss_dates(invoices: pd.DataFrame, events: pd.DataFrame) -> np.ndarray:
    """Per invoice, the first write-off or insolvency date of its customer (NaT when none)."""
    ev = events.loc[events[KIND].isin(LOSS_EVENTS)].groupby(CUSTOMER_ID)[EVENT_ON].min()
    return invoices[CUSTOMER_ID].map(ev).to_numpy(dtype="datetime64[D]")


def _state(issued, due, paid, loss_on, day: np.datetime64, loss_dpd: int) -> np.ndarray:
    """State of every invoice at the end of ``day``: -1 not open, bucket index, PAID or LOSS."""
    dpd = (day - due).astype("timedelta64[D]").astype(int)
    state = bucket_codes(dpd)
    state = np.where((dpd >= loss_dpd) | (loss_on <= day), LOSS, state)
    state = np.where(~np.isnat(paid) & (paid <= day), PAID, state)
    return np.where(issued <= day, state, -1)


def transition_counts(
    invoices: pd.DataFrame,
    events: pd.DataFrame,
    as_of: dt.date,
    months: int,
    loss_dpd: int,
    segment_of: pd.Series | None = None,
) -> tuple[list[str], np.ndarray]:
    """Counts of invoices moving between states over each of the last ``months`` month-ends.

    Returns the segment labels and an array ``(segments, buckets, states)``: invoices in bucket
    ``i`` at a month-end that are in state ``j`` at the next one (both on or before ``as_of``).
    """
    t = pd.Timestamp(as_of)
    last = t if t.is_month_end else t - pd.offsets.MonthEnd(1)
    ends = [
        np.datetime64((last - pd.offsets.MonthEnd(k)).date(), "D") for k in range(months, -1, -1)
    ]
    issued = invoices[ISSUED_ON].to_numpy(dtype="datetime64[D]")
    due = invoices[DUE_ON].to_numpy(dtype="datetime64[D]")
    paid = invoices[PAID_ON].to_numpy(dtype="datetime64[D]")
    loss_on = _loss_dates(invoices, events)
    if segment_of is None:
        labels, seg = ["all"], np.zeros(len(invoices), dtype=int)
    else:
        values = invoices[CUSTOMER_ID].map(segment_of).fillna("unknown").astype(str)
        labels = sorted(values.unique())
        seg = pd.Categorical(values, categories=labels).codes
    counts = np.zeros((len(labels), N_BUCKETS, len(STATES)), dtype=np.int64)
    before = _state(issued, due, paid, loss_on, ends[0], loss_dpd)
    for day in ends[1:]:
        after = _state(issued, due, paid, loss_on, day, loss_dpd)
        moving = (before >= 0) & (before < N_BUCKETS)
        np.add.at(counts, (seg[moving], before[moving], after[moving]), 1)
        before = after
    return labels, counts


def _feasible() -> np.ndarray:
    """Moves an unpaid invoice can make in a month: to the same or a later bucket, paid, loss."""
    ok = np.zeros((N_BUCKETS, len(STATES)), dtype=bool)
    for i in range(N_BUCKETS):
        ok[i, i:N_BUCKETS] = True
        ok[i, PAID] = ok[i, LOSS] = True
    return ok


def absorption(p: np.ndarray) -> np.ndarray:
    """Probabilities of ending paid and as a loss from each bucket: ``(..., buckets, 2)``.

    ``p`` holds transition matrices ``(..., buckets, states)`` whose last two states absorb.
    """
    q, r = p[..., :N_BUCKETS], p[..., N_BUCKETS:]
    eye = np.broadcast_to(np.eye(N_BUCKETS), q.shape)
    return np.linalg.solve(eye - q, r)


def fit_roll_rates(counts: np.ndarray, prior_strength: float, draws: int, seed: int) -> np.ndarray:
    """Posterior draws of the monthly transition matrices: ``(draws, segments, buckets, states)``."""
    rng = np.random.default_rng(seed)
    ok = _feasible()
    pooled = 0.5 * ok + counts.sum(axis=0)
    pooled_mean = pooled / pooled.sum(axis=1, keepdims=True)
    out = np.empty((draws, *counts.shape))
    for s in range(counts.shape[0]):
        alpha = pooled if counts.shape[0] == 1 else prior_strength * pooled_mean + counts[s]
        for i in range(N_BUCKETS):
            cols = np.flatnonzero(ok[i])
            out[:, s, i, :] = 0.0
            out[:, s, i, cols] = rng.dirichlet(np.maximum(alpha[i, cols], 1e-9), size=draws)
    return out


@dataclasses.dataclass
class ProvisionMatrix:
    """The provision matrix and what it rests on."""

    matrix: pd.DataFrame  # PROVISION_COLUMNS + allowance_lo, allowance_hi, forward_loss_rate ...
    roll_rates: pd.DataFrame  # posterior mean monthly moves per segment and bucket
    totals: pd.DataFrame  # total allowance: historical, each scenario, forward-looking (weighted)
    p_reach_90: dict[str, np.ndarray]  # per segment: P(an invoice in bucket i reaches 90+ DPD)
    rates: np.ndarray  # loss-rate draws (draws, segments, buckets + credit-impaired)
    balance: np.ndarray  # open balances (segments, buckets + credit-impaired)

    def allowance(self, multiplier: float, prob: float) -> tuple[float, float, float]:
        """Total allowance (mean, lo, hi) with every loss rate multiplied (capped at 1)."""
        tot = (_scaled(self.rates, multiplier) * self.balance[None]).sum(axis=(1, 2))
        lo, hi = interval(tot, prob)
        return float(tot.mean()), float(lo), float(hi)


def provision_matrix(
    invoices: pd.DataFrame,
    events: pd.DataFrame,
    as_of: dt.date,
    settings: ProvisionSettings,
    segment_of: pd.Series | None = None,
    draws: int = 1000,
    prob: float = 0.9,
    seed: int = 0,
) -> ProvisionMatrix:
    """Estimate the matrix from history and apply it to the open balances at ``as_of``."""
    labels, counts = transition_counts(
        invoices, events, as_of, settings.history_months, settings.loss_dpd, segment_of
    )
    p = fit_roll_rates(counts, settings.prior_strength, draws, seed)
    loss_rate = absorption(p)[..., 1]  # (draws, segments, buckets)

    items = open_items(invoices, as_of)
    t = np.datetime64(pd.Timestamp(as_of).date(), "D")
    lost = (
        _state(
            items[ISSUED_ON].to_numpy(dtype="datetime64[D]"),
            items[DUE_ON].to_numpy(dtype="datetime64[D]"),
            np.full(len(items), np.datetime64("NaT"), dtype="datetime64[D]"),
            _loss_dates(items, events),
            t,
            settings.loss_dpd,
        )
        == LOSS
    )
    seg_values = (
        pd.Series("all", index=items.index)
        if segment_of is None
        else items[CUSTOMER_ID].map(segment_of).fillna("unknown").astype(str)
    )
    bucket = np.where(lost, N_BUCKETS, bucket_codes(items["dpd"].to_numpy()))
    balance = np.zeros((len(labels), N_BUCKETS + 1))
    seg_idx = pd.Categorical(seg_values, categories=labels).codes
    np.add.at(balance, (seg_idx, bucket), items[OPEN_AR].to_numpy(dtype=float))
    rates = np.concatenate([loss_rate, np.ones((draws, len(labels), 1))], axis=2)
    historical = rates * balance[None]
    weighted = sum(
        s["weight"] * _scaled(rates, s["multiplier"]) for s in settings.scenarios.values()
    )
    forward = weighted * balance[None]

    rows = []
    r_lo, r_hi = interval(rates, prob)
    a_lo, a_hi = interval(forward, prob)
    for si, seg in enumerate(labels):
        for bi, name in enumerate([*AGING_BUCKETS, LOSS_BUCKET]):
            rows.append(
                {
                    "segment": seg,
                    "bucket": name,
                    "balance": balance[si, bi],
                    "loss_rate_mean": rates[:, si, bi].mean(),
                    "loss_rate_lo": r_lo[si, bi],
                    "loss_rate_hi": r_hi[si, bi],
                    "forward_loss_rate": weighted[:, si, bi].mean(),
                    "allowance_mean": forward[:, si, bi].mean(),
                    "allowance_lo": a_lo[si, bi],
                    "allowance_hi": a_hi[si, bi],
                    "allowance_historical": historical[:, si, bi].mean(),
                }
            )
    matrix = pd.DataFrame(rows)

    mean_p = p.mean(axis=0)
    roll = []
    for si, seg in enumerate(labels):
        for bi, name in enumerate(AGING_BUCKETS):
            row = mean_p[si, bi]
            roll.append(
                {
                    "segment": seg,
                    "bucket": name,
                    "observed": int(counts[si, bi].sum()),
                    "paid": row[PAID],
                    "stayed": row[bi],
                    "rolled_on": row[bi + 1 : N_BUCKETS].sum(),
                    "loss": row[LOSS],
                }
            )

    pm = ProvisionMatrix(
        matrix, pd.DataFrame(roll), pd.DataFrame(), _p_reach_90(p, labels), rates, balance
    )
    fwd = forward.sum(axis=(1, 2))
    f_lo, f_hi = interval(fwd, prob)
    totals = [("historical loss rates", pm.allowance(1.0, prob))]
    totals += [
        (f"{name} (weight {s['weight']:.0%})", pm.allowance(s["multiplier"], prob))
        for name, s in settings.scenarios.items()
    ]
    totals.append(
        ("forward-looking (scenario-weighted)", (float(fwd.mean()), float(f_lo), float(f_hi)))
    )
    pm.totals = pd.DataFrame(
        [(name, *values) for name, values in totals],
        columns=["scenario", "allowance_mean", "allowance_lo", "allowance_hi"],
    )
    return pm


def _scaled(rates: np.ndarray, multiplier: float) -> np.ndarray:
    """Loss rates times a scenario multiplier, capped at 1; credit-impaired balances stay at 1."""
    out = np.minimum(1.0, multiplier * rates)
    out[..., N_BUCKETS] = 1.0
    return out


def _p_reach_90(p: np.ndarray, labels: list[str]) -> dict[str, np.ndarray]:
    """P(reaching 91+ DPD or loss before being paid) from each bucket, posterior mean."""
    bad_from = AGING_BUCKETS.index("91-180")
    q = p[..., :bad_from, :bad_from]
    bad = p[..., :bad_from, bad_from:N_BUCKETS].sum(axis=-1) + p[..., :bad_from, LOSS]
    eye = np.broadcast_to(np.eye(bad_from), q.shape)
    reach = np.linalg.solve(eye - q, bad[..., None])[..., 0].mean(axis=0)  # (segments, buckets<4)
    full = np.concatenate([reach, np.ones((len(labels), N_BUCKETS - bad_from))], axis=1)
    return {seg: full[i] for i, seg in enumerate(labels)}


def portfolio_roll_rates(roll_rates: pd.DataFrame) -> pd.DataFrame:
    """The monthly moves of the whole portfolio per bucket: each segment's posterior mean moves
    weighted by the invoices it observed (``bucket, observed, paid, stayed, rolled_on, loss``)."""
    moves = ("paid", "stayed", "rolled_on", "loss")
    rows = [
        {
            "bucket": bucket,
            "observed": group["observed"].sum(),
            **{c: np.average(group[c], weights=group["observed"] + 1e-9) for c in moves},
        }
        for bucket, group in roll_rates.groupby("bucket", sort=False)
    ]
    return pd.DataFrame(rows, columns=["bucket", "observed", *moves])
