"""Decision-theoretic credit limits and the order-approval check.

A limit ``L`` lets a customer carry receivables up to ``L``. Its next-year need for credit is
``N = annual sales x days to pay / 365`` (the receivables it runs), uncertain:
``N ~ LogNormal(log(n0), demand_sd)`` around what the last 12 months show. Per year, each unit of
used limit earns ``gain = margin x 365 / days_to_pay - cost_of_capital`` (the margin on the sales it
turns over, less financing), and a default costs ``ccf x L x LGD``. The posterior expected profit is

    E[profit(L)] = gain x E[min(N, L)] - ccf x E[PD x LGD] x L,

concave in ``L``; it is highest where ``P(N > L) = ccf E[PD LGD] / gain`` (the newsvendor critical
ratio), so ``L* = n0 exp(demand_sd z)``, ``z`` the standard-normal quantile of
``1 - ccf E[PD LGD] / gain``. The risk appetite caps it: the largest ``L`` with
``P(loss > loss_threshold) <= max_probability`` under the joint PD and LGD draws. The recommended
limit is the smaller of the two, rounded down, then the segment's policy applies.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri  # the normal cdf and its inverse (light to import)

from creditlab.decisions.draws import interval
from creditlab.decisions.settings import Appetite, Economics
from creditlab.ledger.schema import CREDIT_LIMIT, CUSTOMER_ID, IN_DEFAULT, MAX_DPD, OPEN_AR

__all__ = [
    "LIMIT_COLUMNS",
    "OrderDecision",
    "appetite_cap",
    "approve_order",
    "expected_min_lognormal",
    "lgd_order",
    "loss_exceedance",
    "max_order",
    "optimal_limit",
    "recommend_limits",
]

LIMIT_COLUMNS = [CUSTOMER_ID, "current_limit", "recommended_limit", "rationale"]


def optimal_limit(
    need: np.ndarray, demand_sd: float, gain: np.ndarray, el_rate: np.ndarray
) -> np.ndarray:
    """The limit maximising ``gain E[min(N, L)] - el_rate L`` for ``N ~ LogNormal(log need, sd)``.

    Zero where expected loss per unit of limit is at least what it earns (``el_rate >= gain``).

    Examples
    --------
    >>> round(float(optimal_limit(np.array([10_000.0]), 0.5, np.array([1.0]), np.array([0.5]))[0]))
    10000
    """
    need, gain, el_rate = (np.asarray(v, dtype=float) for v in (need, gain, el_rate))
    ratio = np.divide(el_rate, gain, out=np.ones_like(el_rate * gain), where=gain > 0)
    z = ndtri(1 - np.clip(ratio, 1e-12, 1.0))
    return np.where((ratio < 1) & (need > 0), need * np.exp(demand_sd * z), 0.0)


def expected_min_lognormal(need: np.ndarray, sd: float, limit: np.ndarray) -> np.ndarray:
    """``E[min(N, L)]`` for ``N ~ LogNormal(log need, sd)``."""
    need, limit = np.asarray(need, dtype=float), np.asarray(limit, dtype=float)
    mu = np.log(np.maximum(need, 1e-12))
    with np.errstate(divide="ignore"):
        log_l = np.log(np.maximum(limit, 1e-300))
    body = np.exp(mu + sd**2 / 2) * ndtr((log_l - mu - sd**2) / sd)
    tail = limit * ndtr(-(log_l - mu) / sd)
    return np.where((limit > 0) & (need > 0), body + tail, 0.0)


def lgd_order(lgd_draws: np.ndarray) -> np.ndarray:
    """Each customer's draws sorted by LGD, largest first: ``(customers, draws)`` indices.

    Rescaling or shifting LGD (what-if levers, scenario shocks) keeps this order, so it can be
    computed once and passed to :func:`appetite_cap`.
    """
    return np.argsort(-np.ascontiguousarray(lgd_draws.T), axis=1, kind="stable")


def appetite_cap(
    pd_draws: np.ndarray,
    lgd_draws: np.ndarray,
    appetite: Appetite,
    ccf: float,
    order: np.ndarray | None = None,
) -> np.ndarray:
    """Per customer, the largest limit with ``P(ccf L LGD x default > threshold) <= max_probability``.

    With draws ``(PD_s, LGD_s)`` the probability is ``mean_s PD_s 1[ccf L LGD_s > X]``. Sorting
    draws by LGD (largest first), it first exceeds ``Y`` once the ``k+1``-th largest LGD counts, so
    the cap is ``X / (ccf LGD_(k+1))`` (infinite when even all draws stay within the appetite).
    ``order`` (from :func:`lgd_order`) saves the sort when LGD only moved monotonically.
    """
    cap = np.full(pd_draws.shape[1], np.inf)
    # P(loss > X) <= E[PD]: customers whose mean PD is within the appetite can never breach it
    cols = np.flatnonzero(pd_draws.mean(axis=0) > appetite.max_probability)
    if cols.size == 0:
        return cap
    g_all = np.ascontiguousarray(lgd_draws[:, cols].T)  # (customers, draws): sort along rows
    rows = lgd_order(lgd_draws[:, cols]) if order is None else order[cols]
    g = np.take_along_axis(g_all, rows, axis=1)
    p = np.take_along_axis(np.ascontiguousarray(pd_draws[:, cols].T), rows, axis=1)
    n = g.shape[1]
    k = (np.cumsum(p, axis=1) / n <= appetite.max_probability + 1e-15).sum(axis=1)
    binding = k < n
    g_next = g[np.arange(len(cols)), np.minimum(k, n - 1)]
    with np.errstate(divide="ignore"):
        cap[cols] = np.where(binding, appetite.loss_threshold / (ccf * g_next), np.inf)
    return cap


def loss_exceedance(
    pd_draws: np.ndarray, lgd_draws: np.ndarray, exposure: np.ndarray, threshold: float
) -> np.ndarray:
    """``P(exposure x LGD x default > threshold)`` per customer, over the joint draws."""
    return (pd_draws * (lgd_draws * np.asarray(exposure) > threshold)).mean(axis=0)


def _money(x: float) -> str:
    return f"{x:,.0f}"


def recommend_limits(
    frame: pd.DataFrame,
    pd_draws: np.ndarray,
    lgd_draws: np.ndarray,
    econ: Economics,
    appetite: Appetite,
    prob: float = 0.9,
    explain: bool = True,
    order: np.ndarray | None = None,
    pl: np.ndarray | None = None,
) -> pd.DataFrame:
    """Current and recommended limit per customer, with the reason that set it.

    ``frame`` has one row per draw column: ``customer_id, credit_limit, annual_sales,
    days_to_pay, limit_policy, policy, in_default, pd_mean, pd_lo, pd_hi``.
    Returns :data:`LIMIT_COLUMNS` plus ``change, optimum, appetite_cap, binding,
    expected_profit, profit_lo, profit_hi``; ``explain=False`` leaves out the rationale and the
    profit interval (for scenario grids and what-if updates, where only the totals are read); ``order`` is passed to
    :func:`appetite_cap`; ``pl`` is ``pd_draws x lgd_draws`` when the caller has it already.
    """
    days = frame["days_to_pay"].clip(lower=1).to_numpy(dtype=float)
    turns = 365.0 / days
    gain = econ.margin * turns - econ.cost_of_capital
    need = frame["annual_sales"].to_numpy(dtype=float) / turns
    pl = pd_draws * lgd_draws if pl is None else pl
    el_rate = econ.ccf * pl.mean(axis=0)
    optimum = optimal_limit(need, econ.demand_sd, gain, el_rate)
    cap = appetite_cap(pd_draws, lgd_draws, appetite, econ.ccf, order)
    raw = np.minimum(optimum, cap)
    current = frame[CREDIT_LIMIT].astype(float).to_numpy()
    policy = frame["limit_policy"].to_numpy()
    rec = np.floor(raw / econ.limit_rounding) * econ.limit_rounding
    rec = np.where(policy == "no_increase", np.minimum(np.nan_to_num(current, nan=0.0), rec), rec)
    rec = np.where(policy == "cash_in_advance", 0.0, rec)
    no_history = need <= 0
    rec = np.where(no_history & (policy != "cash_in_advance"), current, rec)
    profit = gain * expected_min_lognormal(need, econ.demand_sd, rec)
    if explain:
        profit_draws = profit[None, :] - econ.ccf * pl * np.nan_to_num(rec)[None, :]
        expected, (lo, hi) = profit_draws.mean(axis=0), interval(profit_draws, prob)
    else:  # the expectation is linear in the draws: no need to form them all
        expected = profit - el_rate * np.nan_to_num(rec)
        lo = hi = np.full(len(rec), np.nan)
    binding = np.select(
        [
            policy == "cash_in_advance",
            no_history,
            (policy == "no_increase")
            & (rec < np.floor(raw / econ.limit_rounding) * econ.limit_rounding),
            el_rate >= gain,
            cap < optimum,
        ],
        [
            "policy: cash in advance",
            "no recent sales",
            "policy: no increase",
            "no margin",
            "risk appetite",
        ],
        default="demand",
    )
    out = pd.DataFrame(
        {
            CUSTOMER_ID: frame[CUSTOMER_ID].to_numpy(),
            "current_limit": current,
            "recommended_limit": rec,
            "change": rec - current,
            "optimum": optimum,
            "appetite_cap": cap,
            "binding": binding,
            "expected_profit": expected,
            "profit_lo": lo,
            "profit_hi": hi,
        }
    )
    out["rationale"] = (
        [
            _rationale(r, f, econ, appetite)
            for r, f in zip(out.itertuples(index=False), frame.itertuples(index=False), strict=True)
        ]
        if explain
        else ""
    )
    return out[[*LIMIT_COLUMNS, *[c for c in out.columns if c not in LIMIT_COLUMNS]]]


def _rationale(r, f, econ: Economics, appetite: Appetite) -> str:
    pd_text = f"PD {f.pd_mean:.1%} ({f.pd_lo:.1%} to {f.pd_hi:.1%})"
    current = "no limit" if np.isnan(r.current_limit) else _money(r.current_limit)
    verb = (
        "Keep at" if r.recommended_limit == r.current_limit
        else "Raise to" if np.isnan(r.current_limit) or r.recommended_limit > r.current_limit
        else "Cut to"
    )  # fmt: skip
    head = f"{verb} {_money(r.recommended_limit)} (now {current})"
    if r.binding == "policy: cash in advance":
        return f"{head}: policy '{f.policy}' allows cash in advance only ({pd_text})."
    if r.binding == "no recent sales":
        return f"{head}: no sales in the last 12 months, so no basis for a change; review by hand."
    if r.binding == "policy: no increase":
        return f"{head}: policy '{f.policy}' allows no increase; the model alone would set {_money(min(r.optimum, r.appetite_cap))} ({pd_text})."
    if r.binding == "no margin":
        return f"{head}: expected loss per unit of credit exceeds the margin it earns ({pd_text})."
    if r.binding == "risk appetite":
        return (
            f"{head}: above it the chance of losing more than {_money(appetite.loss_threshold)} "
            f"on this customer would exceed {appetite.max_probability:.0%} ({pd_text})."
        )
    return (
        f"{head}: covers the likely need for credit (sales about {_money(f.annual_sales)} a year, "
        f"paid in {f.days_to_pay:.0f} days); margin outweighs expected loss ({pd_text})."
    )


@dataclasses.dataclass(frozen=True)
class OrderDecision:
    """The answer to "may this customer place an order of this amount on credit?"."""

    customer_id: str
    amount: float
    decision: str  # approve, refer or decline
    reasons: tuple[str, ...]
    exposure_after: float
    current_limit: float
    recommended_limit: float
    p_loss_exceeds: float

    def to_text(self) -> str:
        """The decision and its reasons as the lines ``creditlab approve`` prints."""
        lines = [
            f"{self.decision.upper()}: order of {_money(self.amount)} for customer {self.customer_id}"
        ]
        return "\n".join([*lines, *(f"- {r}" for r in self.reasons)])


def approve_order(
    customer: pd.Series,
    amount: float,
    pd_draws: np.ndarray,
    lgd_draws: np.ndarray,
    appetite: Appetite,
    ccf: float = 1.0,
) -> OrderDecision:
    """Approve, refer or decline an order: exposure after it against limits and risk appetite.

    ``customer`` is the customer's row of the decisions table (``customer_id, open_ar,
    current_limit, recommended_limit, appetite_cap, in_default, limit_policy, policy, approval,
    max_dpd, pd_mean``); ``pd_draws`` and ``lgd_draws`` are its draws (1-d).
    """
    exposure = float(customer[OPEN_AR]) + float(amount)
    limit = float(customer["current_limit"])
    rec = float(customer["recommended_limit"])
    p_exceed = float(
        loss_exceedance(
            pd_draws[:, None], lgd_draws[:, None], ccf * exposure, appetite.loss_threshold
        )[0]
    )
    appetite_text = (
        f"P(loss > {_money(appetite.loss_threshold)}) would be {p_exceed:.2%} "
        f"(appetite {appetite.max_probability:.0%})"
    )
    reasons: list[str] = []
    decision = "approve"
    if bool(customer[IN_DEFAULT]):
        decision = "decline"
        reasons.append(
            "the customer is in default (an invoice 90+ days past due or a default event)"
        )
    if customer["limit_policy"] == "cash_in_advance":
        decision = "decline"
        reasons.append(f"policy '{customer['policy']}' allows cash in advance only")
    if p_exceed > appetite.max_probability:
        decision = "decline"
        reasons.append(f"outside the risk appetite: {appetite_text}")
    if decision != "decline":
        if float(customer[MAX_DPD]) > 60:
            decision = "refer"
            reasons.append(f"an open invoice is {int(customer['max_dpd'])} days past due")
        if np.isnan(limit) or exposure > limit:
            decision = "refer"
            over = (
                "there is no credit limit"
                if np.isnan(limit)
                else f"exposure {_money(exposure)} exceeds the limit {_money(limit)}"
            )
            within = "within" if exposure <= rec else "above"
            reasons.append(
                f"{over}; it is {within} the recommended limit {_money(rec)}: "
                f"{customer['approval']} to decide"
            )
    if decision == "approve":
        reasons.append(
            f"exposure after the order {_money(exposure)} is within the limit {_money(limit)} "
            f"({exposure / limit:.0%} used) and the risk appetite ({appetite_text})"
        )
    elif p_exceed <= appetite.max_probability:
        reasons.append(f"within the risk appetite: {appetite_text}")
    reasons.append(f"PD {float(customer['pd_mean']):.1%} over 12 months")
    return OrderDecision(
        str(customer[CUSTOMER_ID]),
        float(amount),
        decision,
        tuple(reasons),
        exposure,
        limit,
        rec,
        p_exceed,
    )


def max_order(
    customer: pd.Series,
    pd_draws: np.ndarray,
    lgd_draws: np.ndarray,
    appetite: Appetite,
    ccf: float = 1.0,
) -> tuple[float, str]:
    """The largest order :func:`approve_order` approves on the spot (0 when none), and what stops
    a larger one; the arguments are :func:`approve_order`'s.

    Examples
    --------
    A customer owing 4,000 of a 10,000 limit, with a risk appetite that never binds:

    >>> from creditlab.decisions.settings import Appetite
    >>> row = pd.Series({"open_ar": 4000.0, "current_limit": 10000.0, "in_default": False,
    ...                  "limit_policy": "standard", "policy": "standard", "max_dpd": 0})
    >>> max_order(row, np.full(100, 0.01), np.full(100, 0.45), Appetite(1e6, 0.05))
    (6000.0, 'the credit limit')
    """
    if bool(customer[IN_DEFAULT]):
        return 0.0, "the customer is in default: no order on credit"
    if customer["limit_policy"] == "cash_in_advance":
        return 0.0, f"policy '{customer['policy']}' allows cash in advance only"
    if float(customer[MAX_DPD]) > 60:
        return 0.0, (
            f"an open invoice is {int(customer[MAX_DPD])} days past due: every order goes to the "
            "approver"
        )
    limit = float(customer["current_limit"])
    if np.isnan(limit):
        return 0.0, "there is no credit limit on record: every order goes to the approver"
    cap = float(appetite_cap(pd_draws[:, None], lgd_draws[:, None], appetite, ccf)[0])
    by_limit, by_appetite = limit - float(customer[OPEN_AR]), cap - float(customer[OPEN_AR])
    if by_limit <= by_appetite:
        return max(by_limit, 0.0), "the credit limit"
    return max(by_appetite, 0.0), "the risk appetite"
