"""The synthetic generator: reproducible, and its ledger carries the truth it claims."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from creditlab import kpi
from creditlab.ledger.synth import SynthConfig, synthesize


def _auc(score, label):
    ranks = pd.Series(score).rank().to_numpy()
    pos = label.astype(bool)
    return (ranks[pos].sum() - pos.sum() * (pos.sum() + 1) / 2) / (pos.sum() * (~pos).sum())


@pytest.fixture(scope="module")
def big():
    return synthesize(SynthConfig(customers=4000, seed=5, years=3.0))


def test_same_seed_same_portfolio_other_seed_differs():
    a, b = (
        synthesize(SynthConfig(customers=50, seed=1)),
        synthesize(SynthConfig(customers=50, seed=1)),
    )
    pd.testing.assert_frame_equal(a.invoices, b.invoices)
    c = synthesize(SynthConfig(customers=50, seed=2))
    assert not a.invoices["amount"].equals(c.invoices["amount"])


def test_true_pd_follows_the_stated_coefficients(big):
    t = big.truth_customers
    coef = big.truth_coefficients.set_index("name")["value"]
    ind = big.customers["industry"].map(lambda k: coef[f"industry[{k}]"])
    ctry = big.customers["country"].map(lambda k: coef[f"country[{k}]"])
    eta = (
        coef["intercept"]
        + ind
        + ctry
        + coef["b_size"] * t["size_z"]
        + coef["b_score"] * t["score_z"]
        + coef["b_tenure"] * t["tenure_z"]
        + coef["b_latent"] * t["latent_risk"]
    )
    np.testing.assert_allclose(eta, t["eta"])
    np.testing.assert_allclose(1 / (1 + np.exp(-eta)), t["pd_12m"])


def test_defaults_are_driven_by_true_pd_and_show_in_the_ledger(big):
    t = big.truth_customers
    assert 0.02 < t["defaulted"].mean() < 0.3
    assert _auc(t["pd_12m"].to_numpy(), t["defaulted"].to_numpy()) > 0.7
    # every defaulter left a sign in the ledger: a write-off-type event or an invoice 90+ DPD
    end = big.config.end
    exposure = kpi.customer_exposure(big.customers, big.invoices, end).set_index("customer_id")
    ev = big.events.loc[big.events["kind"].isin(["write_off", "insolvency", "collections_agency"])]
    early = t.loc[
        t["defaulted"] & (t["default_on"] < pd.Timestamp(end) - pd.Timedelta(days=200)),
        "customer_id",
    ]
    signs = (exposure.loc[early, "max_dpd"] >= 90) | early.isin(ev["customer_id"]).to_numpy()
    assert signs.mean() > 0.9


@pytest.mark.slow
def test_regime_shift_raises_the_shifted_industrys_defaults():
    kw = dict(customers=6000, seed=9, years=3.0)
    on, off = synthesize(SynthConfig(**kw)), synthesize(SynthConfig(**kw, regime_shift=False))
    rate = {}
    for name, p in (("on", on), ("off", off)):
        mask = p.customers["industry"] == "construction"
        rate[name] = p.truth_customers.loc[mask.to_numpy(), "defaulted"].mean()
    assert rate["on"] > rate["off"] + 0.03


def test_disputes_delay_payment_and_nothing_is_dated_after_the_end(big):
    inv = big.invoices.dropna(subset=["paid_on"])
    late = (inv["paid_on"] - inv["due_on"]).dt.days
    assert late[inv["disputed"]].mean() > late[~inv["disputed"]].mean() + 10
    end = pd.Timestamp(big.config.end)
    assert big.invoices["issued_on"].max() <= end and inv["paid_on"].max() <= end
    assert (big.invoices["due_on"] >= big.invoices["issued_on"]).all()


def test_exact_defaults_make_the_ledgers_defaults_the_latent_ones():
    """With ``exact_defaults`` the ledger's definition (90+ DPD or a default event) finds exactly
    the latent defaulters, on their default day; without it, slow payers count as well."""
    from creditlab.features import default_dates

    kw = dict(customers=1500, seed=5, years=3.0, intercept=-4.5)
    for exact in (False, True):
        p = synthesize(SynthConfig(**kw, exact_defaults=exact))
        found = default_dates(p.invoices, p.events, p.config.end)
        truth = p.truth_customers.set_index("customer_id")
        latent = truth.loc[truth["defaulted"], "default_on"]
        if exact:
            assert set(found.index) == set(latent.index)
            assert (found.reindex(latent.index) == latent.astype(found.dtype)).all()
        else:
            assert len(found) > 2 * len(latent)
