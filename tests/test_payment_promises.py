"""Pending promises to pay in the payment forecast: what the ledger says of a customer's promises,
and the forecast mixing a kept promise with the model's course once it is broken (the synthetic
check against what happened is in test_payment.py, beside the fitted model it uses)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from creditlab.models.payment_data import PaymentConfig
from creditlab.models.payment_forecast import Conditional
from creditlab.models.payment_promises import (
    PROMISE_EARLY_DAYS,
    PROMISE_PRIOR,
    PendingPromises,
    WithPromise,
)

EDGES = np.array(PaymentConfig().edges, dtype=float)
GRACE = 3


def _promises() -> pd.DataFrame:
    day = pd.Timestamp
    rows = [  # customer, made on, invoice, promised on, status, paid on
        ("A", day("2025-10-01"), "H1", day("2025-10-05"), "kept", day("2025-10-05")),
        ("A", day("2025-11-01"), "H2", day("2025-11-05"), "kept", day("2025-11-06")),
        ("A", day("2025-12-01"), "H3", day("2025-12-05"), "kept", day("2025-12-08")),
        ("A", day("2025-12-10"), "H4", day("2025-12-12"), "broken", pd.NaT),
        ("A", day("2026-01-02"), "I1", day("2026-01-10"), "pending", pd.NaT),
        ("A", day("2026-01-05"), "I1", day("2026-01-12"), "pending", pd.NaT),  # the latest
        ("B", day("2026-01-05"), "", day("2026-01-12"), "pending", pd.NaT),  # no invoice named
    ]
    cols = ["customer_id", "event_on", "invoice_id", "promised_on", "status", "paid_on"]
    return pd.DataFrame(rows, columns=cols)


def _open() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "invoice_id": ["I1", "I2"],
            "customer_id": ["A", "B"],
            "due_on": pd.to_datetime(["2026-01-01", "2026-01-01"]),
        }
    )


def test_pending_promises_read_the_ledgers_record_of_promises():
    p = PendingPromises(_open(), _promises(), GRACE)
    assert (p.kept, p.broken) == (3, 1)
    # the latest promise on I1 (the 12th: 11 days past due); B's names no invoice, so I2 has none
    assert p.promised[0] == 11 and np.isnan(p.promised[1]) and p.deadline[0] == 14
    assert p.rows.tolist() == [0]
    # kept promises paid 0, 1 and 3 days after the promised day, plus one promise spread evenly
    # over the promised day and the grace
    share = dict(zip(p.offsets.tolist(), p.offset_p, strict=True))
    assert p.offsets[0] == -PROMISE_EARLY_DAYS and p.offsets[-1] == GRACE
    assert share[0] == pytest.approx(1.25 / 4) and share[2] == pytest.approx(0.25 / 4)
    assert share[-1] == 0.0
    # A's chance of keeping: its 3 of 4 beside PROMISE_PRIOR promises at the portfolio's rate
    # (Beta(1 + 3, 1 + 1): mean 2/3)
    keep = p.keep_draws(40000, np.random.default_rng(0))
    expected = (PROMISE_PRIOR * 2 / 3 + 3) / (PROMISE_PRIOR + 4)
    assert keep[:, 0].mean() == pytest.approx(expected, abs=0.005)
    assert (keep[:, 1] == 0).all()  # no pending promise
    summary = p.summary(np.array([keep[:, 0].mean(), np.nan]), np.array([500.0, 80.0]), 0.9)
    assert summary["pending"] == 1 and summary["pending_amount"] == 500.0
    assert summary["keep_rate_lo"] < summary["keep_rate"] == pytest.approx(4 / 6)
    assert summary["keep_rate"] < summary["keep_rate_hi"]


def test_without_any_promise_the_forecast_is_the_models():
    frame = _open()
    empty = _promises().iloc[:0]
    p = PendingPromises(frame, empty, GRACE)
    assert (p.kept, p.broken) == (0, 0) and not len(p.rows)
    assert (p.keep_draws(5, np.random.default_rng(0)) == 0).all()
    assert p.offset_p[p.offsets >= 0] == pytest.approx(np.full(GRACE + 1, 1 / (GRACE + 1)))


def _conditional(e_from, s=1):
    cut = np.linspace(-6, 12, len(EDGES))[None, :].repeat(s, 0)
    eta = np.full((s, len(e_from)), 2.0)
    return Conditional(cut, eta, EDGES, np.full(len(e_from), 30.0), np.asarray(e_from, float))


def test_a_promise_is_kept_about_its_day_or_broken_into_the_models_course():
    # row 0: promised 11 days past due, grace to 14, seen 5 days past due; row 1: no promise
    p = PendingPromises(_open(), _promises(), GRACE)
    e_now = np.array([5.0, 5.0])
    broken = _conditional(np.fmax(e_now, p.deadline))
    plain = _conditional(e_now)
    keep = np.array([[0.7, 0.0]])
    dist = WithPromise(broken, keep, p.promised, e_now, p.offsets, p.offset_p, EDGES[-1])
    # by the grace's last day: the kept promises only (the broken path starts after it)
    assert dist.cdf(14.0)[0, 0] == pytest.approx(0.7)
    assert dist.cdf(10.0)[0, 0] == pytest.approx(0.7 * p.offset_p[p.offsets <= -1].sum())
    assert dist.cdf(30.0)[0, 0] == pytest.approx(0.7 + 0.3 * broken.cdf(30.0)[0, 0])
    # without a promise the model's distribution given D > e_now
    for t in (10.0, 30.0, 90.0):
        assert dist.cdf(t)[0, 1] == pytest.approx(plain.cdf(t)[0, 1])
    rng = np.random.default_rng(1)
    n = 20000
    many = WithPromise(
        _conditional(np.full(n, 14.0)), np.full((1, n), 0.7), np.full(n, 11.0),
        np.full(n, 5.0), p.offsets, p.offset_p, EDGES[-1],
    )  # fmt: skip
    days = many.sample(rng.random((1, n)))[0]
    assert np.mean(days <= 14) == pytest.approx(0.7, abs=0.01)
    assert np.nanmin(days) >= 6 and np.mean(days == 11) > 0.2  # after today (5 days past due)
    assert np.nanmean(days) == pytest.approx(many.mean_within()[0, 0], abs=0.3)
    # seen 12 days past due (a day after the promised one): only the grace's days remain
    late = WithPromise(
        _conditional([14.0]), np.array([[0.7]]), np.array([11.0]), np.array([12.0]),
        p.offsets, p.offset_p, EDGES[-1],
    )  # fmt: skip
    kept_days = late.days[0][late.p[0] > 0]
    assert kept_days.tolist() == [13.0, 14.0] and late.p[0].sum() == pytest.approx(1.0)
