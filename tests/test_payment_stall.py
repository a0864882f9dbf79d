"""The stall: which invoices leave the ordinary course and when, the exact recovery-rate posterior
(recovering planted rates under delayed entry and censoring), and the ordinary course and the stall
combined into one forecast distribution."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from creditlab.models.payment import PaymentModel
from creditlab.models.payment_data import PaymentConfig, payment_frame
from creditlab.models.payment_forecast import Conditional
from creditlab.models.payment_stall import STALL_EDGES, Stall, WithStall

EDGES = np.array(PaymentConfig().edges, dtype=float)
AS_OF = "2026-06-30"


def _frame():
    rows = [  # invoice, customer, issued, due, paid
        ("paid-early", "A", "2026-01-01", "2026-01-31", "2026-01-20"),
        ("paid-at-80", "A", "2026-01-01", "2026-01-31", "2026-04-21"),
        ("paid-at-95", "A", "2026-01-01", "2026-01-31", "2026-05-06"),
        ("open-at-100", "A", "2026-02-20", "2026-03-22", None),
        ("open-at-50", "A", "2026-04-11", "2026-05-11", None),
        ("open-at-event", "B", "2026-03-01", "2026-03-31", None),  # B insolvent on 2026-04-20
        ("paid-before-event", "B", "2026-03-01", "2026-03-31", "2026-04-10"),
        ("issued-after-event", "B", "2026-05-01", "2026-05-31", "2026-06-20"),
        ("paid-after-as-of", "C", "2026-05-01", "2026-05-31", "2026-07-31"),
    ]
    inv = pd.DataFrame(
        rows, columns=["invoice_id", "customer_id", "issued_on", "due_on", "paid_on"]
    ).assign(amount=100.0)
    for c in ("issued_on", "due_on", "paid_on"):
        inv[c] = pd.to_datetime(inv[c])
    cust = pd.DataFrame({"customer_id": ["A", "B", "C"], "industry": ["x", "x", "y"]})
    events = pd.DataFrame(
        {
            "customer_id": ["B", "C"],
            "event_on": pd.to_datetime(["2026-04-20", "2026-08-01"]),  # C's: after the as-of date
            "kind": ["insolvency", "write_off"],
        }
    )
    return payment_frame(inv, cust, AS_OF, events=events).set_index("invoice_id")


def test_an_invoice_stalls_at_90_days_or_at_its_customers_default_event():
    stall = _frame()["stall_from"]
    assert np.isnan(stall["paid-early"]) and np.isnan(stall["paid-at-80"])
    assert stall["paid-at-95"] == 90  # entered at 90, paid 5 days later as a stalled invoice
    assert stall["open-at-100"] == 90
    assert np.isnan(stall["open-at-50"])  # not yet
    assert stall["open-at-event"] == 20  # insolvent 20 days after the due date
    assert np.isnan(stall["paid-before-event"])
    assert stall["issued-after-event"] == -30  # in the stall from its issue date
    assert np.isnan(stall["paid-after-as-of"])  # the write-off is not known on the as-of date


def test_the_ordinary_course_is_censored_on_the_day_an_invoice_stalled():
    frame = _frame()
    seen = PaymentModel()._ordinary_course(frame)
    assert not seen.loc["paid-at-95", "paid"] and seen.loc["paid-at-95", "dpd_now"] == 90
    assert seen.loc["open-at-event", "dpd_now"] == 20  # open: unpaid up to its stall only
    assert seen.loc["paid-early", "paid"] and seen.loc["paid-early", "days_late"] == -11
    off = PaymentModel(PaymentConfig(stall=False))._ordinary_course(frame)
    assert off.loc["paid-at-95", "paid"] and off.loc["paid-at-95", "days_late"] == 95


def test_the_stall_recovers_planted_recovery_rates_under_delayed_entry_and_censoring():
    rng = np.random.default_rng(3)
    n = 20000
    truth = np.array([0.001, 0.001, 0.001, 0.002, 0.008, 0.004, 0.002, 0.001])  # per segment
    entry = rng.choice([-10.0, 20.0, 90.0], n, p=[0.2, 0.2, 0.6])
    censor = entry + rng.uniform(30, 500, n)
    stall = Stall()
    # simulate the planted piecewise-exponential time with the class's own inversion, one draw
    rates = np.repeat(truth[None, :], 1, axis=0)
    days = stall.sample(rates, entry, rng.random((1, n)))[0]
    paid = ~np.isnan(days) & (days <= censor)
    seen = np.where(paid, days, np.minimum(censor, STALL_EDGES[-1]))
    stall.fit(entry, seen, paid)
    draws = stall.rates(4000, seed=1)
    lo, hi = np.quantile(draws, [0.005, 0.995], axis=0)
    busy = stall.exposure > 100_000  # segments the invoices spent time in
    assert busy.sum() >= 6
    assert np.all((lo[busy] <= truth[busy] * 1.05) & (truth[busy] * 0.95 <= hi[busy])), (
        lo,
        truth,
        hi,
    )


def test_a_ledger_without_stalled_invoices_keeps_the_stated_prior():
    stall = Stall(prior_half_days=180).fit(np.array([]), np.array([]), np.array([], bool))
    rates = stall.rates(20000, seed=0)
    assert rates.mean(axis=0) == pytest.approx(np.log(2) / 180, rel=0.05)  # half within 180 days
    # every segment's prior is worth two payments: Gamma(2, .), whose sd is mean / sqrt(2)
    assert rates.std(axis=0) == pytest.approx(rates.mean(axis=0) / np.sqrt(2), rel=0.1)


def test_stall_samples_follow_its_cdf_and_mean():
    stall = Stall().fit(np.full(50, 90.0), np.full(50, 150.0), np.ones(50, bool))
    rates = stall.rates(1, seed=0).repeat(20000, axis=0)
    e = np.array([95.0])
    days = stall.sample(rates, e, np.random.default_rng(0).random((20000, 1)))[:, 0]
    assert np.nanmin(days) >= 96
    for t in (120.0, 200.0, 365.0):
        assert np.mean(days <= t) == pytest.approx(stall.cdf(rates[:1], e, t)[0, 0], abs=0.015)
    within = days[~np.isnan(days)]
    assert within.mean() == pytest.approx(stall.mean_within(rates[:1], e)[0, 0], abs=1.0)


def _mixture(e_now, in_stall, default_rate, n=1):
    cut = np.linspace(-6, 12, len(EDGES))[None, :]
    e_now = np.asarray(e_now, float)
    ordinary = Conditional(cut, np.zeros((1, len(e_now))), EDGES, np.full(len(e_now), 30.0), e_now)
    stall = Stall().fit(np.full(200, 90.0), np.full(200, 200.0), np.arange(200) % 2 == 0)
    rates = stall.rates(1, seed=0)
    mix = WithStall(
        ordinary, stall, rates, e_now, np.asarray(in_stall), np.full((1, len(e_now)), default_rate)
    )
    return mix, ordinary, stall, rates


def test_without_default_the_ordinary_course_holds_to_90_days_then_the_stall_takes_over():
    mix, ordinary, stall, rates = _mixture([-30.0], [False], 0.0)
    for t in (0.0, 30.0, 90.0):
        assert mix.cdf(t)[0, 0] == pytest.approx(ordinary.cdf(t)[0, 0])
    by_90 = ordinary.cdf(90.0)[0, 0]
    after = stall.cdf(rates, np.array([90.0]), 365.0)[0, 0]
    assert mix.cdf(365.0)[0, 0] == pytest.approx(by_90 + (1 - by_90) * after)
    assert mix.p_late[0, 0] == pytest.approx(1 - by_90) and mix.p_default[0, 0] < 1e-12


def test_a_likely_default_moves_the_invoice_into_the_stall():
    safe = _mixture([-30.0], [False], 0.0)[0]
    risky = _mixture([-30.0], [False], -np.log(1 - 0.9) / 365)[0]  # 90 % 12-month PD
    assert risky.p_default[0, 0] > 0.03
    assert risky.cdf(30.0)[0, 0] < safe.cdf(30.0)[0, 0]
    assert risky.cdf(365.0)[0, 0] < safe.cdf(365.0)[0, 0]  # fewer paid within the year
    stalled, _, stall, rates = _mixture([-30.0], [True], 0.0)  # paid as stalled invoices are
    assert stalled.p_ordinary[0, 0] == 0
    for t in (30.0, 365.0):
        assert stalled.cdf(t)[0, 0] == pytest.approx(stall.cdf(rates, np.array([-30.0]), t)[0, 0])


def test_mixture_samples_follow_its_cdf():
    mix, *_ = _mixture([10.0] * 20000, [False] * 20000, -np.log(1 - 0.5) / 365)
    days = mix.sample(np.random.default_rng(2).random((1, 20000)))[0]
    assert np.nanmin(days) >= 11
    for t in (30.0, 90.0, 200.0, 365.0):
        assert np.mean(days <= t) == pytest.approx(mix.cdf(t)[0, 0], abs=0.015)
    within = days[~np.isnan(days)]
    assert within.mean() == pytest.approx(mix.mean_within()[0, 0], abs=1.0)
