"""Terms economics: what an early-payment discount or factoring costs, and what it is worth per customer.

Annualised costs (``shared/DOMAIN.md``):

- discount ``d`` for paying in ``D`` days instead of ``N``: ``d / (1 - d) x 365 / (N - D)``;
- factoring with advance ``a``, fee ``f`` per 30 days and annual interest ``i`` on the advance,
  collected in ``t`` days: ``(f t / 30 + i a t / 365) / a x 365 / t``.

Per customer, per year and per posterior draw, with its sales ``S``, days to pay ``T``, cost of
capital ``k`` and ``PD x LGD`` draws:

- discount: ``take_up x S x ((T - D) / 365 x (k + PD LGD) - d)``: receivables shrink by the days
  saved, which saves financing and expected loss, at the price of the discount;
- factoring (non-recourse): ``S x T / 365 x (k a + PD LGD) - S x (f T / 30 + i a T / 365)``: the
  advance is financing at the factor's price and the credit loss moves to the factor.

Each is reported as a mean with its credible interval and the probability it pays off.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from creditlab.decisions.draws import interval
from creditlab.decisions.settings import Economics, TermsSettings
from creditlab.ledger.schema import CUSTOMER_ID, PAYMENT_TERMS_DAYS

__all__ = ["discount_apr", "discount_value", "factoring_apr", "terms_economics"]


def discount_apr(discount: float, discount_days: int, net_days: int) -> float:
    """Annualised cost of an early-payment discount.

    Examples
    --------
    >>> round(discount_apr(0.02, 10, 30), 3)
    0.372
    """
    return discount / (1 - discount) * 365 / (net_days - discount_days)


def factoring_apr(advance: float, fee_per_30d: float, days: float, interest: float = 0.0) -> float:
    """Effective annual cost of factoring an invoice collected in ``days``.

    Examples
    --------
    >>> round(factoring_apr(0.85, 0.02, 45), 3)
    0.286
    """
    cost = fee_per_30d * days / 30 + interest * advance * days / 365
    return cost / advance * 365 / days


def discount_value(
    sales: np.ndarray, days: np.ndarray, pd_lgd: np.ndarray, econ: Economics, terms: TermsSettings
) -> np.ndarray:
    """Yearly value of offering the discount, per customer (``pd_lgd``: PD x LGD, per draw or its
    mean; the value is linear in it)."""
    saved = np.maximum(days - terms.discount_days, 0) / 365
    return terms.take_up * sales * (saved * (econ.cost_of_capital + pd_lgd) - terms.discount)


def terms_economics(
    frame: pd.DataFrame,
    pd_draws: np.ndarray,
    lgd_draws: np.ndarray,
    econ: Economics,
    terms: TermsSettings,
    prob: float = 0.9,
) -> pd.DataFrame:
    """Per customer: expected yearly value of offering the discount and of factoring.

    ``frame`` has ``customer_id, annual_sales, days_to_pay, payment_terms_days`` (its current
    terms) per draw column.
    """
    sales = frame["annual_sales"].to_numpy(dtype=float)
    days = frame["days_to_pay"].clip(lower=1).to_numpy(dtype=float)
    pl = pd_draws * lgd_draws
    k, dd = econ.cost_of_capital, terms.discount_days
    disc = discount_value(sales, days, pl, econ, terms)
    a, f, i = terms.factoring_advance, terms.factoring_fee_per_30d, terms.factoring_interest
    fact = sales * days / 365 * (k * a + pl) - sales * (f * days / 30 + i * a * days / 365)
    d_lo, d_hi = interval(disc, prob)
    f_lo, f_hi = interval(fact, prob)
    out = pd.DataFrame(
        {
            CUSTOMER_ID: frame[CUSTOMER_ID].to_numpy(),
            "annual_sales": sales,
            "days_to_pay": days,
            "discount_apr": [
                discount_apr(terms.discount, dd, int(n)) if n > dd else np.nan
                for n in frame[PAYMENT_TERMS_DAYS]
            ],
            "discount_value": disc.mean(axis=0),
            "discount_lo": d_lo,
            "discount_hi": d_hi,
            "p_discount_pays": (disc > 0).mean(axis=0),
            "factoring_apr": [factoring_apr(a, f, t, i) for t in days],
            "factoring_value": fact.mean(axis=0),
            "factoring_lo": f_lo,
            "factoring_hi": f_hi,
            "p_factoring_pays": (fact > 0).mean(axis=0),
        }
    )
    best = np.where(
        (out["discount_value"] > 0) & (out["discount_value"] >= out["factoring_value"]),
        "offer the discount",
        np.where(out["factoring_value"] > 0, "factor its invoices", "neither"),
    )
    out["suggestion"] = np.where(sales > 0, best, "no recent sales")
    return out
