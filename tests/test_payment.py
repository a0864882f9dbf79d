"""The payment-timing model: exact aggregation, conditional forecasts, recovery of known payment
parameters from a synthetic portfolio, calibration out of time, and the real IBM ledger."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt

import numpy as np
import pandas as pd
import pytest
from scipy.special import ndtr, ndtri

from creditlab.errors import ConfigError
from creditlab.ledger.synth import SynthConfig, synthesize
from creditlab.models import payment as payment_module
from creditlab.models.payment import WEEKDAYS, PaymentModel
from creditlab.models.payment_data import (
    PaymentConfig,
    bank_holidays,
    payer_calendars,
    payment_cells,
    payment_frame,
)
from creditlab.models.payment_forecast import (
    MIN_WEEKS,
    SHAPE_KNOTS,
    Conditional,
    cash_forecast,
    due_week_correlation,
    due_weeks,
    month_end_days,
    month_turn_days,
    month_turn_lift,
    quantile_shapes,
    week_uniforms,
)
from creditlab.models.payment_promises import PendingPromises
from creditlab.models.payment_scale import choose_sample
from creditlab.models.payment_validation import backtest, history_features
from creditlab.models.pd import SamplerConfig
from creditlab.signals import PROMISE_GRACE_DAYS, promise_outcomes

EDGES = np.array(PaymentConfig().edges, dtype=float)


def _ledger(rows):
    inv = pd.DataFrame(
        rows, columns=["invoice_id", "customer_id", "issued_on", "due_on", "paid_on", "amount"]
    )
    for c in ("issued_on", "due_on", "paid_on"):
        inv[c] = pd.to_datetime(inv[c])
    inv["disputed"] = [False, True, False, False]
    cust = pd.DataFrame({"customer_id": ["A", "B"], "industry": ["x", "y"]})
    return inv, cust


def test_cells_hold_buckets_censoring_and_truncation_by_hand():
    inv, cust = _ledger(
        [
            ("1", "A", "2026-01-01", "2026-01-31", "2026-01-20", 100.0),  # 11 days early
            ("2", "A", "2026-01-05", "2026-02-04", "2026-02-24", 100.0),  # paid after the as-of
            ("3", "B", "2026-02-01", "2026-02-15", None, 500.0),  # open, 5 DPD on 2026-02-20
            ("4", "B", "2026-02-25", "2026-03-11", None, 100.0),  # issued after the as-of date
        ]
    )
    frame = payment_frame(inv, cust, "2026-02-20")
    assert list(frame["invoice_id"]) == ["1", "2", "3"]  # nothing after the as-of date
    assert list(frame["days_late"].fillna(-999)) == [-11, -999, -999]  # no look-ahead
    assert list(frame["paid"]) == [True, False, False]
    assert list(frame["dpd_now"]) == [20, 16, 5]  # as_of - due_on
    assert list(frame["disputed"]) == [False, True, False]
    assert frame["amount_high"].sum() == 0  # 500 is B's only (so usual) amount
    frame["_customer"] = [0, 0, 1]
    cells, patterns = payment_cells(frame, PaymentConfig().edges, ["disputed"])
    cells = cells.sort_values("lo").reset_index(drop=True)
    # -11 <= -10 -> bucket 2 ((-14, -10]); open at 5 DPD: D >= 6 -> bucket 9 ((4, 7]) or later;
    # open at 16 DPD: D >= 17 -> bucket 12 ((14, 21]) or later; issued 30 (or 14) days before due
    assert list(cells["lo"]) == [2, 9, 12]
    assert list(cells["censored"]) == [False, True, True]
    assert list(cells["trunc"]) == [0, 1, 0]  # -30 is in bucket 0, -14 in bucket 1
    assert patterns.tolist() == [[0.0], [1.0]]
    assert cells["n"].sum() == 3


def test_disputes_kept_as_events_count_while_the_invoice_was_open(ledger):
    inv, cust = _ledger(
        [
            ("1", "A", "2026-01-01", "2026-01-31", "2026-02-10", 100.0),  # disputed before paid
            ("2", "A", "2026-01-05", "2026-02-04", "2026-02-06", 100.0),  # complaint after paid
            ("3", "B", "2026-02-01", "2026-02-15", None, 500.0),  # disputed after the as-of
            ("4", "B", "2026-02-02", "2026-02-16", None, 100.0),  # customer-wide dispute only
        ]
    )
    inv = inv.drop(columns="disputed")  # disputes live in a dispute-management system
    events = pd.DataFrame(
        {
            "customer_id": ["A", "A", "B", "B"],
            "event_on": pd.to_datetime(["2026-02-01", "2026-02-12", "2026-02-25", "2026-02-05"]),
            "kind": ["dispute_opened"] * 4,
            "invoice_id": ["1", "2", "3", ""],
        }
    )
    frame = payment_frame(inv, cust, "2026-02-20", events=events)
    assert list(frame["disputed"]) == [True, False, False, False]
    later = payment_frame(inv, cust, "2026-03-01", events=events)
    assert list(later["disputed"]) == [True, False, True, False]  # known from its event on
    # the demo generator's flags and its events agree, except where the event was still to come
    t = pd.Timestamp("2026-06-30")
    flags = payment_frame(ledger.invoices, ledger.customers, t)
    events_only = payment_frame(
        ledger.invoices.drop(columns="disputed"), ledger.customers, t, events=ledger.events
    )
    assert flags["disputed"].sum() >= events_only["disputed"].sum() > 50
    differ = flags["disputed"] != events_only["disputed"]
    assert differ.sum() <= 5 and (flags.loc[differ, "issued_on"] > t - pd.Timedelta(days=21)).all()


def _dist(eta, e_now, terms=30.0, s=1):
    cut = np.linspace(-6, 12, len(EDGES))[None, :].repeat(s, 0)
    eta = np.full((s, len(e_now)), eta, dtype=float)
    return Conditional(cut, eta, EDGES, np.full(len(e_now), terms), np.asarray(e_now, float))


def test_conditional_distribution_conditions_on_elapsed_days():
    fresh, late = _dist(0.0, [-30.0]), _dist(0.0, [40.0])
    # a fresh invoice can be paid by its due date; one 40 days overdue cannot
    assert 0 < fresh.cdf(0.0)[0, 0] < 1 and late.cdf(0.0)[0, 0] == 0
    # P(D <= t | D > e) = (G(t) - G(e)) / (1 - G(e)), with G the unconditional CDF
    g = _dist(0.0, [-30.0])
    g40, g60 = g._g(np.array([40.0]))[0, 0], g._g(np.array([60.0]))[0, 0]
    assert late.cdf(60.0)[0, 0] == pytest.approx((g60 - g40) / (1 - g40))
    # CDFs increase; a later customer (higher eta) pays later
    ts = np.arange(-29, 366, 7.0)
    values = np.array([fresh.cdf(t)[0, 0] for t in ts])
    assert np.all(np.diff(values) >= -1e-12)
    assert _dist(2.0, [-30.0]).cdf(0.0)[0, 0] < fresh.cdf(0.0)[0, 0]


def test_samples_follow_the_conditional_cdf_and_mean():
    rng = np.random.default_rng(0)
    dist = _dist(1.0, [5.0] * 20000)
    days = dist.sample(rng.random((1, 20000)))[0]
    within = days[~np.isnan(days)]
    assert within.min() >= 6  # paid after today
    for t in (10.0, 30.0, 90.0):
        assert np.mean(days <= t) == pytest.approx(dist.cdf(t)[0, 0], abs=0.015)
    assert np.isnan(days).mean() == pytest.approx(1 - dist.cdf(EDGES[-1])[0, 0], abs=0.01)
    assert within.mean() == pytest.approx(dist.mean_within()[0, 0], abs=0.5)


@pytest.mark.slow
def test_day_weights_put_payments_on_the_customers_payment_days():
    # a customer that pays on Tuesdays only (weights: Monday first), invoices due on each weekday
    rng = np.random.default_rng(1)
    due_weekday = np.tile(np.arange(7), 3000)
    n = len(due_weekday)
    shares = np.array([1e-4, 1.0, 1e-4, 1e-4, 1e-4, 1e-6, 1e-6])
    weights = shares[(due_weekday[:, None] + np.arange(7)) % 7]
    cut = np.linspace(-6, 12, len(EDGES))[None, :]
    args = (cut, np.zeros((1, n)), EDGES, np.full(n, 30.0), np.full(n, -31.0))
    plain, dist = Conditional(*args), Conditional(*args, weights)
    days = dist.sample(rng.random((1, n)))[0]
    paid = ~np.isnan(days)
    d = np.nan_to_num(days).astype(int)
    on_tuesday = (due_weekday + d) % 7 == 1
    # payments land on Tuesdays (the other days weigh 1e-4): a bucket of a day or two with none
    # passes its probability to the next bucket, as the customer does not pay on those days
    assert paid.mean() > 0.5 and on_tuesday[paid].mean() > 0.999
    # the bucket probabilities stay the model's where a bucket holds a Tuesday (G at its end is
    # unchanged); a bucket without one ends where the previous bucket did
    lower = np.concatenate([[-31.0], EDGES[:-1]])
    for low, t in zip(lower, EDGES, strict=True):
        if t <= -30:
            continue
        has_tuesday = (t - low >= 7) | ((1 - due_weekday[:7] - low - 1) % 7 < t - low)
        g, g_plain = dist.cdf(t)[0, :7], plain.cdf(t)[0, :7]
        assert g[has_tuesday] == pytest.approx(g_plain[has_tuesday])
        assert g[~has_tuesday] == pytest.approx(dist.cdf(low)[0, :7][~has_tuesday])
        assert (g[~has_tuesday] < g_plain[~has_tuesday]).all()
    # the mean inside the buckets is the calendar's, exactly
    grid = np.arange(-30, EDGES[-1] + 1)
    cdf = np.stack([dist.cdf(float(t))[0, :7] for t in grid])
    mass = np.diff(np.vstack([np.zeros((1, 7)), cdf]), axis=0)
    exact = (mass * grid[:, None]).sum(axis=0) / mass.sum(axis=0)
    assert dist.mean_within()[0, :7] == pytest.approx(exact)
    assert dist.mean_within()[0, :7] != pytest.approx(plain.mean_within()[0, :7])
    # and the simulated days follow the calendar's distribution
    for t in (0.0, 7.0, 30.0):
        assert np.mean(days[: 7 * 500] <= t) == pytest.approx(
            dist.cdf(t)[0, :3500].mean(), abs=0.03
        )


def _weekday_payers(rng, n: int, first: str, days: int):
    """``n`` invoices due on random days from ``first`` whose customers pay Monday to Friday:
    their due dates and day weights (column 0: the due date's weekday)."""
    due = np.datetime64(first) + rng.integers(0, days, n).astype("timedelta64[D]")
    weekdays = np.tile([1.0, 1.0, 1.0, 1.0, 1.0, 1e-6, 1e-6], (n, 1))  # Monday first
    turn = (((due.astype(np.int64) + 3) % 7)[:, None] + np.arange(7)) % 7
    return due, np.take_along_axis(weekdays, turn, axis=1)


def test_a_month_end_lift_puts_payments_on_the_months_last_weekday():
    rng = np.random.default_rng(2)
    n = 4000
    due, weights = _weekday_payers(rng, n, "2026-01-05", 365)
    cut = np.linspace(-6, 12, len(EDGES))[None, :]
    args = (cut, np.full((1, n), 6.0), EDGES, np.full(n, 30.0), np.full(n, -31.0), weights, None)
    plain = Conditional(*args, due, None)
    month_end = Conditional(*args, due, np.full(n, 200.0))  # a month-end payer's odds
    u = rng.random((1, n))
    days_plain, days_end = plain.sample(u)[0], month_end.sample(u)[0]
    paid = ~np.isnan(days_end)
    d = np.nan_to_num(days_end).astype(int)
    upper = EDGES[np.searchsorted(EDGES, d)].astype(int)
    lower = np.concatenate([[-31], EDGES])[np.searchsorted(EDGES, d)].astype(int)
    # does the payment's bucket hold a month's last weekday?
    offsets = np.arange(1, 366)
    inside = (offsets[None, :] > lower[:, None]) & (offsets[None, :] <= upper[:, None])
    ends = month_end_days(due[:, None] + offsets[None, :])
    has_end = (inside & ends).any(axis=1)
    on_end = month_end_days(due + d)
    by_chance = month_end_days(due + np.nan_to_num(days_plain).astype(int))
    assert has_end[paid].mean() > 0.2
    assert on_end[paid & has_end].mean() > 0.9 and by_chance[paid & has_end].mean() < 0.2
    assert not on_end[paid & ~has_end].any()
    # bucket probabilities stay the model's: the lift only moves days inside buckets
    for t in (0.0, 30.0, 90.0):
        assert month_end.cdf(t) == pytest.approx(plain.cdf(t))


def test_a_customers_own_shape_recovers_what_the_shared_shape_misses():
    # a customer that pays 3 days early 85 % of the time, otherwise 2 to 20 days late: the shared
    # shape (a logistic around the due date) spreads it over a fortnight
    rng = np.random.default_rng(8)
    n = 3000
    true = np.where(rng.random(n) < 0.85, -3, rng.integers(2, 21, n)).astype(float)
    cut = np.linspace(-6, 12, len(EDGES))[None, :]
    args = (cut, np.zeros((1, n)), EDGES, np.full(n, 30.0), np.full(n, -31.0))
    shared = Conditional(*args)
    lo, hi = shared.cdf(true - 1)[0], shared.cdf(true)[0]
    shapes = quantile_shapes(lo, hi, np.zeros(n, dtype=np.int64), 1)
    assert (np.diff(shapes[0]) >= 0).all() and shapes[0, 0] == 0 and shapes[0, -1] == 1
    own = Conditional(*args, None, None, None, None, None, 1.0, np.repeat(shapes, n, 0))
    for t in (-4.0, -2.0, 0.0, 7.0, 21.0):  # at the bucket edges: the customer's own CDF
        assert own.cdf(t)[0, 0] == pytest.approx(np.mean(true <= t), abs=0.015)
    assert abs(shared.cdf(-2.0)[0, 0] - np.mean(true <= -2)) > 0.2
    # a customer the shared shape fits keeps it: its quantiles are uniform
    fits = shared.sample(rng.random((1, n)))[0]
    beyond = np.isnan(fits)  # not paid within the last edge: its quantile is above G(last)
    fits = np.where(beyond, EDGES[-1] + 1, fits)
    lo, hi = shared.cdf(fits - 1)[0], np.where(beyond, 1.0, shared.cdf(fits)[0])
    diagonal = quantile_shapes(lo, hi, np.zeros(n, dtype=np.int64), 1)[0]
    assert np.abs(diagonal - np.linspace(0, 1, SHAPE_KNOTS)).max() < 0.03


def test_the_usual_payment_day_is_the_median_after_the_issue_date():
    # customers under a hand-made posterior: A's latent timing lies 10 days before the due date,
    # but A is invoiced 5 days before it, so A pays in the days after issue (a model fitted to
    # such invoices learns exactly this: only the part after the issue date is ever seen); B, on
    # 30-day terms, keeps its latent median; C has no invoice in the frame
    import arviz as az

    s = 40
    posterior = {
        "cut": np.tile(EDGES + 0.5, (1, s, 1)),
        "u": np.tile([-10.0, 3.0, 0.0], (1, s, 1)),
        "mu": np.zeros((1, s)),
        "sigma_customer": np.ones((1, s)),
    }
    model = PaymentModel(PaymentConfig(calendar=False))
    model.idata = az.from_dict(posterior=posterior, dims={"u": ["customer"]})
    model.customers = model.fitted = ["A", "B", "C"]
    model.groups, model.customer_group = ["all"], [0, 0, 0]
    model.paid_weekdays, model.month_end_paid = np.ones((3, 7, 7)), np.zeros(3)
    due = pd.Series(pd.date_range("2026-01-05", periods=20, freq="3D"))
    frame = pd.DataFrame(
        {
            "customer_id": ["A", "B"] * 10,
            "due_on": due,
            "due_weekday": due.dt.day_of_week,
            "terms": [5.0, 30.0] * 10,
        }
    )
    table = model.calendar_table(frame).set_index("customer_id")
    assert -5 <= table.at["A", "median_days"] <= -4  # not -10: it cannot pay before issue
    assert table.at["A", "median_lo"] >= -5
    # B: P(D <= edge) = logistic(edge + 0.5 - 3); half its payments are in by day 3
    assert table.at["B", "median_days"] == 3
    assert table.loc["C", ["median_days", "median_lo", "median_hi"]].isna().all()


@pytest.mark.slow
@pytest.mark.parametrize("lift", [1.0, 3.0])
def test_late_payments_at_the_month_turn_recover_a_planted_lift(lift):
    days = np.array(["2019-01-26", "2019-01-27", "2019-01-31", "2019-02-03", "2019-02-04",
                     "2019-02-23", "2019-02-24"], dtype="datetime64[D]")  # fmt: skip
    assert month_turn_days(days).tolist() == [False, True, True, True, False, False, True]
    rng = np.random.default_rng(7)
    n = 20000
    due, weights = _weekday_payers(rng, n, "2019-01-07", 300)
    cut = np.linspace(-6, 12, len(EDGES))[None, :]
    args = (cut, np.full((1, n), 9.0), EDGES, np.full(n, 30.0), np.full(n, -31.0), weights)
    plain = Conditional(*args, None, due)
    turned = Conditional(*args, None, due, None, None, lift)
    # the lift moves late payments across buckets towards month turns; the chance of paying
    # more than 14 days late, and within the last edge, stays the model's
    for t in EDGES[(EDGES > -30) & (EDGES <= 14)]:
        assert turned.cdf(t) == pytest.approx(plain.cdf(t))
    assert turned.cdf(EDGES[-1]) == pytest.approx(plain.cdf(EDGES[-1]))
    d = turned.sample(rng.random((1, n)))[0]
    late = (d > 14) & ~np.isnan(d)
    share = plain.turn_share()[0, late]  # the tail's share on month-turn days, no lift
    on_turn = month_turn_days(due[late] + d[late].astype(np.int64))
    assert late.sum() > 3000 and 0.15 < share.mean() < 0.4
    # without a lift, late payments fall at month turns as often as the model's tail says
    assert (
        (on_turn.mean() - share.mean() > 0.1)
        if lift > 1
        else (on_turn.mean() == pytest.approx(share.mean(), abs=0.02))
    )
    assert month_turn_lift(on_turn, share) == pytest.approx(lift, rel=0.12)
    if lift > 1:  # mass moved between buckets, not only inside them
        assert np.abs(turned.cdf(30.0) - plain.cdf(30.0)).max() > 0.005
    assert month_turn_lift(on_turn[:0], share[:0]) == 1.0  # nothing to learn from


def test_no_payment_lands_on_a_bank_holiday():
    rng = np.random.default_rng(3)
    n = 6000
    due, weights = _weekday_payers(rng, n, "2019-06-03", 200)
    closed = bank_holidays(("FED",), 2019, 2020)
    assert np.datetime64("2019-07-04") in closed and np.datetime64("2019-09-02") in closed
    cut = np.linspace(-6, 12, len(EDGES))[None, :]
    args = (cut, np.full((1, n), 5.0), EDGES, np.full(n, 30.0), np.full(n, -31.0), weights)
    plain = Conditional(*args, None, due, None)
    everyone = (np.zeros(n, dtype=np.int64), [closed])  # one calendar for every invoice
    banks = Conditional(*args, None, due, None, everyone)
    u = rng.random((1, n))
    paid_plain, paid_banks = (
        due + np.nan_to_num(d.sample(u)[0]).astype(int) for d in (plain, banks)
    )
    found = ~np.isnan(banks.sample(u)[0])
    holiday = np.isin(paid_plain, closed) & found
    assert holiday.sum() > 20  # without the calendar, payments land on holidays
    assert not np.isin(paid_banks[found], closed).any()
    # mostly to the next open day (4 July, a Thursday, to the 5th); where that is past the
    # bucket's end, to the bucket's other open days
    moved = (paid_banks[holiday] - paid_plain[holiday]).astype(int)
    assert (moved != 0).all() and np.mean(moved == 1) > 0.5
    # onto weekdays: a bucket whose only weekday is the holiday passes its mass to the next
    assert (((paid_banks[found].astype(np.int64) + 3) % 7) < 5).all()
    for t in (0.0, 30.0, 90.0):  # bucket probabilities stay the model's but for such buckets
        same = np.isclose(banks.cdf(t), plain.cdf(t), rtol=1e-9, atol=0)
        assert same.mean() > 0.97 and (banks.cdf(t)[~same] < plain.cdf(t)[~same]).all()
    with pytest.raises(ConfigError, match="unknown calendar 'XX'"):
        PaymentConfig(holidays=["XX"])


def test_each_payer_meets_its_own_countrys_bank_holidays():
    countries = np.array(["US", "CA", "US", "ZZ", ""])
    codes, calendars = payer_calendars(("country", "ECB"), countries, 2019, 2019)
    mine = [set(calendars[c].astype(str)) for c in codes]
    assert "2019-07-04" in mine[0] and "2019-07-01" not in mine[0]  # Independence Day
    assert "2019-07-01" in mine[1] and "2019-07-04" not in mine[1]  # Canada Day
    assert codes[0] == codes[2] and mine[3] == mine[4] == {"2019-01-01", "2019-04-19",
        "2019-04-22", "2019-05-01", "2019-12-25", "2019-12-26"}  # unknown or none: ECB only  # fmt: skip
    assert all("2019-12-26" in m for m in mine)  # the common calendar holds for everyone
    # in the forecast: a US and a Canadian payer due on the same days, paid the same quantile
    due = np.repeat(np.datetime64("2019-06-24"), 2)
    cut = np.linspace(-6, 12, len(EDGES))[None, :]
    weights = np.tile([1.0, 1.0, 1.0, 1.0, 1.0, 1e-6, 1e-6], (2, 1))
    args = (cut, np.full((1, 2), 2.0), EDGES, np.full(2, 30.0), np.full(2, -31.0), weights)
    both = Conditional(
        *args, None, due, None, payer_calendars(("country",), countries[:2], 2019, 2019)
    )
    days = np.arange(0, 20)
    mass = np.diff(np.stack([both.cdf(float(d))[0] for d in days]), axis=0)  # P(paid on day d)
    on = {str(due[0] + int(d)): m for d, m in zip(days[1:], mass, strict=True)}
    assert on["2019-07-04"][0] == 0 and on["2019-07-04"][1] > 0
    assert on["2019-07-01"][1] == 0 and on["2019-07-01"][0] > 0
    frame = payment_frame(
        pd.DataFrame({"invoice_id": ["I1"], "customer_id": ["C1"], "issued_on": [pd.Timestamp("2019-06-01")],
                      "due_on": [pd.Timestamp("2019-07-01")], "amount": [10.0], "paid_on": [pd.NaT]}),
        pd.DataFrame({"customer_id": ["C1"], "industry": ["x"], "country": [" ca "]}),
        "2019-06-15", PaymentConfig(holidays="country"),
    )  # fmt: skip
    assert frame["country"].tolist() == ["CA"]


def test_chance_of_a_month_end_by_weekday():
    # Friday is the last weekday of every month that ends on a Friday, Saturday or Sunday
    by_weekday = payment_module._MONTH_END_BY_WEEKDAY
    assert by_weekday[5] == by_weekday[6] == 0
    assert by_weekday[4] == pytest.approx(3 * by_weekday[:4].mean(), rel=0.05)
    assert by_weekday.sum() * 52.18 == pytest.approx(12, rel=0.01)


def _planted_pits(rng, rho: float, weeks: int, per_week: int = 150):
    """Bounds of the probability integral transforms of invoices whose payment quantiles share a
    factor per due week (``rho``), as a model with 12 buckets sees them, and their due dates. A
    third meet a training date at a uniform quantile of their own: those not paid by then are
    open (known only to lie above it)."""
    week = np.repeat(np.arange(weeks), per_week)
    z = np.sqrt(rho) * rng.standard_normal(weeks)[week] + np.sqrt(1 - rho) * rng.standard_normal(
        len(week)
    )
    edges = np.array([0, 0.05, 0.15, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0])
    k = np.searchsorted(edges, ndtr(z)) - 1
    lo, hi = edges[k], edges[k + 1]
    at = np.where(rng.random(len(week)) < 1 / 3, rng.random(len(week)), 1.0)
    still_open = ndtr(z) > at
    lo, hi = np.where(still_open, at, lo), np.where(still_open, 1.0, hi)
    due = np.datetime64("2024-01-01") + (7 * week + rng.integers(0, 7, len(week))).astype(
        "timedelta64[D]"
    )
    return lo, hi, due


@pytest.mark.parametrize("rho", [0.0, 0.03, 0.1])
def test_due_week_correlation_recovers_a_planted_common_factor(rho):
    rng = np.random.default_rng(int(rho * 100))
    estimate, weeks = due_week_correlation(*_planted_pits(rng, rho, 150))
    assert weeks == 150 and estimate == pytest.approx(rho, abs=0.03)  # standard error ~0.011
    # the weeks are Monday to Sunday
    w = due_weeks(np.array(["2024-01-01", "2024-01-07", "2024-01-08"], "datetime64[D]"))
    assert w[0] == w[1] == w[2] - 1
    # too few weeks to tell: none
    assert due_week_correlation(*_planted_pits(rng, 0.3, MIN_WEEKS - 3)) == (0.0, MIN_WEEKS - 3)


def test_week_uniforms_correlate_a_weeks_invoices_and_keep_each_uniform():
    rng = np.random.default_rng(5)
    draws, weeks = 4000, np.array([0, 0, 1, 1, 1])
    u = week_uniforms(rng, rng.standard_normal((draws, 2)), weeks, 0.3)
    assert ((u > 0) & (u < 1)).all()
    for col in u.T:  # each invoice's payment quantile stays uniform
        assert np.quantile(col, [0.1, 0.5, 0.9]) == pytest.approx([0.1, 0.5, 0.9], abs=0.03)
    r = np.corrcoef(ndtri(u).T)
    assert r[0, 1] == pytest.approx(0.3, abs=0.05) and r[2, 4] == pytest.approx(0.3, abs=0.05)
    assert abs(r[0, 2]) < 0.05 and abs(r[1, 4]) < 0.05  # other weeks: independent


def test_cash_forecast_sums_amounts_into_weeks():
    as_of = dt.date(2026, 1, 1)
    due = pd.Series(pd.to_datetime(["2026-01-01", "2026-01-10"]))
    # two draws: days past due at payment (NaN = not within a year)
    simulated = np.array([[3.0, 0.0], [10.0, np.nan]])
    cash = cash_forecast(simulated, due, np.array([100.0, 50.0]), as_of, weeks=3, prob=0.5)
    whole = cash.loc[cash["segment"] == "portfolio"].set_index("week")
    # draw 1: 100 on day 3 (week 1), 50 on day 9 (week 2); draw 2: 100 on day 10 (week 2)
    assert whole.loc[1, "expected"] == pytest.approx(50.0)
    assert whole.loc[2, "expected"] == pytest.approx(75.0)
    assert whole.loc[3, "expected"] == 0
    assert str(whole.loc[1, "week_start"]) == "2026-01-02"
    by = cash_forecast(
        simulated, due, np.array([100.0, 50.0]), as_of, 3, 0.5, pd.Series(["a", "b"])
    )
    parts = by.loc[by["segment"] != "portfolio"].groupby("week")["expected"].sum()
    assert parts.to_numpy() == pytest.approx(whole["expected"].to_numpy())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"edges": (-7, 0, 30, 60)}, ">= 5"),
        ({"edges": (-7, 0, 14, 30, 45, 90)}, "include 60"),
        ({"edges": (-7, 0, 14, 30, 30, 60, 90)}, "strictly increasing"),
        ({"covariates": ("disputed", "weather")}, "weather"),
        ({"amount_low": 1.5}, "amount_low"),
        ({"sample_customers": 3000, "sample_above": 2000}, "sample_customers <= sample_above"),
        ({"stall_prior_half_days": 0}, "stall_prior_half_days"),
        ({"own_shape_min_invoices": 0}, "own_shape_min_invoices"),
        ({"calendar_prior_payments": "often"}, "calendar_prior_payments must be auto or > 0"),
        ({"calendar_prior_payments": 0}, "calendar_prior_payments must be auto or > 0"),
    ],
)
def test_bad_model_config_is_a_clear_error(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        PaymentConfig(**kwargs)


@pytest.mark.parametrize("k_true", [2.0, 20.0, np.inf])
def test_the_calendars_pooling_is_learnt_from_how_much_customers_differ(k_true):
    # customers' weekday shares drawn around their industry's with k_true payments' worth of
    # spread (a Dirichlet; inf: all alike), then 30 payments each: the pooling that makes them
    # most likely (30 payments cannot tell 500 from 5,000: alike is "large")
    rng = np.random.default_rng(5)
    industry = np.array([[0.3, 0.1, 0.1, 0.1, 0.4, 0, 0], [0.2, 0.2, 0.2, 0.2, 0.2, 0, 0]]) + 1e-3
    industry /= industry.sum(axis=1, keepdims=True)
    groups = np.repeat([0, 1], 300)
    shares = np.array(
        [industry[g] if np.isinf(k_true) else rng.dirichlet(k_true * industry[g]) for g in groups]
    )
    counts = np.array([rng.multinomial(30, p) for p in shares])
    model = PaymentModel()
    model.groups, model.customer_group = ["a", "b"], groups.tolist()
    model.paid_weekdays = np.zeros((len(groups), 7, 7))
    model.paid_weekdays[:, 0, :] = counts  # due weekday does not matter to the pooling
    learnt = model._calendar_pooling()
    assert learnt > 300 if np.isinf(k_true) else k_true / 1.5 < learnt < k_true * 1.5


def test_calendar_shares_are_kept_until_their_tables_or_pooling_change():
    rng = np.random.default_rng(0)
    model = PaymentModel()
    model.groups = ["a"]

    def tables(n):
        model.paid_weekdays = rng.poisson(1.0, (n, 7, 7)).astype(float)
        model.month_end_paid = rng.poisson(2.0, n).astype(float)
        model.customer_group = [0] * n

    tables(10)
    first = model.weekday_shares()[0]
    assert model.weekday_shares()[0] is first and not first.flags.writeable
    tables(12)  # new tables (a refit, a sample fit's extension): new shares
    second = model.weekday_shares()[0]
    assert second.shape == (12, 7) and model.month_end_shares()[0].shape == (12,)
    model.calendar_k = 50.0
    assert np.abs(model.weekday_shares()[0] - second).max() > 0


def test_forecast_without_a_fit_is_a_clear_error():
    with pytest.raises(ConfigError, match="not fitted"):
        PaymentModel().effects(pd.DataFrame({"customer_id": ["A"]}))


def test_customer_effects_are_centred_where_the_invoices_pin_them_down():
    portfolio = synthesize(SynthConfig(customers=40, seed=3, years=1.0, regime_shift=False))
    frame = payment_frame(portfolio.invoices, portfolio.customers, portfolio.config.end)
    counts = frame.groupby("customer_id").size()
    threshold = int(counts.median())
    model = PaymentModel(PaymentConfig(centred_min_invoices=threshold))
    pm_model = model.build(frame)
    rich = int((counts >= threshold).sum())
    assert model.centred == rich and 0 < rich < len(counts)
    sizes = {v.name: v.eval().size for v in pm_model.free_RVs}
    assert sizes["u_centred"] == rich and sizes["z_customer"] == len(counts) - rich
    assert pm_model["u"].eval().shape == (len(counts),)  # one effect per customer, in order


def test_history_features_see_only_payments_before_the_date():
    frame = pd.DataFrame(
        {
            "customer_id": ["A"] * 4 + ["B"],
            "issued_on": pd.to_datetime(["2026-01-01"] * 4 + ["2026-01-01"]),
            "due_on": pd.to_datetime(
                ["2026-01-05", "2026-01-12", "2026-01-19", "2026-01-26"] * 1 + ["2026-01-05"]
            ),
            "amount": [100.0, 100.0, 300.0, 100.0, 50.0],
            "paid": [True, True, True, False, True],
            "days_late": [1.0, 5.0, 2.0, np.nan, 0.0],  # paid 01-06, 01-17, 01-21
            "due_weekday": [0, 0, 0, 0, 0],
        }
    )
    rows = frame.iloc[[3, 3, 4]]
    x = history_features(frame, rows, pd.to_datetime(["2026-01-18", "2026-02-01", "2026-01-01"]))
    assert list(x["n_paid"]) == [2, 3, 0]  # the payment on 01-21 is unknown on 01-18
    assert x["median_late"].iloc[0] == 3.0 and x["median_late"].iloc[1] == 2.0
    assert x["last_late"].iloc[0] == 5.0 and x["days_since_paid"].iloc[0] == 1.0
    assert x["late_rate"].iloc[1] == 1.0
    assert x["amount_vs_usual"].iloc[1] == 1.0  # 100 against the median of 100, 100, 300
    assert x["median_late"].isna().iloc[2]  # B had paid nothing on 01-01


def test_only_customers_with_many_invoices_get_their_own_weekdays_and_spread():
    portfolio = synthesize(SynthConfig(customers=40, seed=3, years=1.0, regime_shift=False))
    frame = payment_frame(portfolio.invoices, portfolio.customers, portfolio.config.end)
    counts = frame.groupby("customer_id").size()
    threshold = int(counts.quantile(0.75))
    model = PaymentModel(PaymentConfig(own_timing_min_invoices=threshold))
    pm_model = model.build(frame)
    own = int((counts >= threshold).sum())
    assert model.weekday and 0 < own < len(counts)
    sizes = {v.name: v.eval().shape for v in pm_model.free_RVs}
    assert sizes["weekday_centred"] == (own, 7) and sizes["log_scale_rich"] == (own,)
    v = pm_model["customer_weekday"].eval()
    assert np.allclose(v.sum(axis=1), 0)  # departures from the portfolio's weekdays sum to zero
    assert (np.abs(v).sum(axis=1) > 0).sum() == own  # the others keep the portfolio's
    scale = pm_model["scale"].eval()
    assert (scale != 1).sum() == own
    # no weekday structure to learn when every invoice falls due on the same weekday
    monday = frame.assign(due_weekday=0)
    assert not PaymentModel().build(monday).named_vars.get("offset_weekday")


# -- recovery and calibration on a synthetic portfolio with known payment parameters -----------
@pytest.fixture(scope="module")
def synthetic_backtest():
    # the model's own family: its parameters are known and must be recovered
    cfg = SynthConfig(
        customers=160, seed=5, years=2.0, intercept=-9.0, regime_shift=False,
        payment_process="ordinal",
    )  # fmt: skip
    return _backtest(cfg, PaymentConfig(calendar=False))  # no weekday structure: its family


def _backtest(cfg: SynthConfig, config: PaymentConfig):
    """A synthetic portfolio and the backtest of the payment model on it, split 240 days before
    its end (small NUTS runs)."""
    portfolio = synthesize(cfg)
    result = backtest(
        portfolio.invoices,
        portfolio.customers,
        cfg.end - dt.timedelta(days=240),
        config,
        SamplerConfig(sampler="nutpie", draws=300, tune=300, seed=2),
        n_draws=300,
    )
    return portfolio, result


@pytest.mark.slow
def test_recovers_the_true_payment_parameters(synthetic_backtest):
    portfolio, b = synthetic_backtest
    post, cfg = b.model.idata.posterior, portfolio.config
    truth = portfolio.truth_payment.set_index("name")["latent"]
    # amount_high is attenuated a little: the model's "usual amount" is the median of the invoices
    # up to the split, the generator's the median of all of them (~15 % of flags differ)
    for name, tolerance in (("beta[disputed]", 0.1), ("beta[amount_high]", 0.2)):
        draws = post["beta"].sel(covariate=name[5:-1]).to_numpy().ravel()
        assert abs(draws.mean() - truth[name]) < tolerance * truth[name], name
    sigma = post["sigma_customer"].to_numpy().ravel()
    assert abs(sigma.mean() - truth["sigma_customer"]) < 0.15 * truth["sigma_customer"]
    # customer effects and cutpoints match up to the model's choice of origin
    tc = portfolio.truth_customers.set_index("customer_id").loc[b.model.customers]
    u_true = tc["pay_effect_days"].to_numpy() / cfg.pay_scale
    u = post["u"].mean(("chain", "draw")).to_numpy()
    assert np.corrcoef(u, u_true)[0, 1] > 0.95
    cut = post["cut"].mean(("chain", "draw")).to_numpy()
    cut_true = (EDGES + 0.5 - cfg.pay_mu) / cfg.pay_scale
    dense = (EDGES >= -14) & (EDGES <= 21)  # buckets most invoices fall in
    shift = (cut - u.mean()) - (cut_true - u_true.mean())
    assert np.abs(shift[dense]).max() < 0.35
    offsets = post["offset_group"].mean(("chain", "draw")).to_series()
    true_offsets = truth.loc[[f"industry[{k}]" for k in offsets.index]].to_numpy()
    assert np.corrcoef(offsets.to_numpy(), true_offsets)[0, 1] > 0.85


@pytest.mark.slow
def test_forecasts_are_calibrated_out_of_time(synthetic_backtest):
    _, b = synthetic_backtest
    rel = b.reliability
    assert rel["n"].sum() == b.counts["test_invoices"]
    # each band's observed on-time share is consistent with its forecast (Jeffreys), allowing
    # one miss in ten at this sample size
    assert (~rel["consistent"]).sum() <= 1, rel
    assert 0.84 <= b.coverage <= 0.96  # the 90 % predictive interval of the payment day
    both = b.test.dropna(subset=["median_days", "days_lo", "days_hi"])
    assert (
        len(both)
        and (
            (both["days_lo"] <= both["median_days"]) & (both["median_days"] <= both["days_hi"])
        ).all()
    )
    table = b.comparison.set_index("model")
    ours = table.loc["creditlab Bayesian payment-timing model"]
    assert ours["rmse_days"] < table.loc["pays on the due date", "rmse_days"]
    assert ours["rmse_days"] < table.loc["customer's historical average delay", "rmse_days"]
    assert ours["auc"] > table.loc["customer's historical average delay", "auc"]
    # weekly collections of the invoices open at the split land inside their intervals
    assert b.cash["inside"].mean() >= 0.75, b.cash


@pytest.fixture(scope="module")
def ledger_backtest():
    # outside the model's family: payment runs, slips with a heavy tail, disputes resolved after
    # weeks, customers drifting later (see creditlab.ledger.synth)
    cfg = SynthConfig(customers=160, seed=11, years=2.0, intercept=-9.0, regime_shift=False)
    return _backtest(cfg, PaymentConfig())


@pytest.mark.slow
def test_learns_each_customers_payment_calendar(ledger_backtest):
    portfolio, b = ledger_backtest
    split = portfolio.config.end - dt.timedelta(days=240)
    train = payment_frame(portfolio.invoices, portfolio.customers, split)
    calendar = b.model.calendar_table(train).set_index("customer_id")
    truth = portfolio.truth_customers.set_index("customer_id")["pay_runs"]
    seen = calendar.loc[calendar["payments"] >= 10]
    runs = truth.loc[seen.index]
    weekly = runs.str.match(r"^(Mon|Tue|Wed|Thu|Fri)(, (Mon|Tue|Wed|Thu|Fri))?$")
    assert weekly.sum() >= 10
    # a customer paying in weekly runs is named with its run days (in either order)
    same = [
        set(seen.at[c, "pays_on"].split(", ")) == set(runs[c].split(", "))
        for c in runs[weekly].index
    ]
    # 13 of 15 here: two customers whose 13-18 payments all fall on one weekday are also lent a
    # second day by the segment's calendar (the pooling is strong at that count; issue 17). The
    # collectors' reminders that bring some payments forward (synth_events) leave the weekdays
    # as they are but changed the fit enough to show it.
    assert np.mean(same) >= 0.85, seen.loc[weekly, ["payments", "pays_on"]].join(runs)
    assert not seen["pays_on"].str.contains("Sat|Sun").any()  # nobody pays at the weekend
    # "usually N days": each customer's own median payment day up to the split, within its
    # interval for most customers and a day of it on average
    own = train.loc[train["paid"]].groupby("customer_id")["days_late"].median()
    both = seen.join(own.rename("own"), how="inner")
    inside = both["own"].between(both["median_lo"] - 0.5, both["median_hi"] + 0.5)
    assert inside.mean() >= 0.85 and (both["median_days"] - both["own"]).abs().mean() < 1.2, both
    # month-end payers are named so, and nobody else is
    month_end = runs == "month end"
    assert month_end.sum() >= 5
    assert (seen.loc[month_end[month_end].index, "pays_on"] == "month end").mean() >= 0.8
    assert (seen.loc[month_end[~month_end].index, "pays_on"] != "month end").all()
    # the forecasts land on those days: invoices of single-weekday payers, simulated with and
    # without the calendar spreading the days inside each bucket
    single = runs[weekly & ~runs.str.contains(",")]
    test = b.test.loc[b.test["customer_id"].isin(single.index)].reset_index(drop=True)
    fresh = test.assign(paid=False, dpd_now=-test["terms"])
    run_day = test["customer_id"].map(single).map(WEEKDAYS.index).to_numpy()

    def on_run_day(model) -> float:
        _, simulated = model.forecast(fresh, portfolio.config.end)
        paid = ~np.isnan(simulated)
        day = (test["due_weekday"].to_numpy()[None, :] + np.nan_to_num(simulated)) % 7
        return float((day == run_day[None, :])[paid].mean())

    plain = copy.copy(b.model)
    plain.model_config = dataclasses.replace(b.model.model_config, calendar=False)
    with_calendar, without = on_run_day(b.model), on_run_day(plain)
    assert with_calendar > 0.35 and with_calendar > 1.5 * without


@pytest.mark.slow
def test_outside_its_family_the_model_still_beats_the_baselines(ledger_backtest):
    _, b = ledger_backtest
    table = b.comparison.set_index("model")
    ours = table.loc["creditlab Bayesian payment-timing model"]
    assert 0.84 <= b.coverage <= 0.96
    for other in (
        "customer's historical median delay",
        "customer's historical median delay on the due weekday",
    ):
        assert ours["mae_days"] < table.loc[other, "mae_days"], other
        assert ours["auc"] > table.loc[other, "auc"], other


@pytest.mark.slow
def test_pending_promises_bring_the_forecast_to_the_promised_day(ledger_backtest):
    # the generator's collectors call, and four calls in ten end in a promise: kept by a customer
    # with a chance falling in its latent risk (not the Beta the forecast learns), paid up to
    # three days after the promised day; broken ones paid later or never (synth_events)
    portfolio, b = ledger_backtest
    inv, events = portfolio.invoices, portfolio.events
    split = portfolio.config.end - dt.timedelta(days=240)
    rows = []
    for week in range(0, 60):  # twice a week: most promises fall due within a week
        as_of = split + dt.timedelta(days=4 * week)
        frame = payment_frame(inv, portfolio.customers, as_of, events=events)
        open_now = frame.loc[~frame["paid"]].reset_index(drop=True)
        outcomes = promise_outcomes(events, inv, as_of)
        named = outcomes.loc[outcomes["status"] == "pending", "invoice_id"]
        promised = open_now.loc[open_now["invoice_id"].isin(named)].reset_index(drop=True)
        if promised.empty:
            continue
        pending = PendingPromises(promised, outcomes, PROMISE_GRACE_DAYS)
        without, _ = b.model.forecast(promised, as_of, n_draws=200, seed=week)
        with_, _ = b.model.forecast(promised, as_of, n_draws=200, seed=week, promises=pending)
        paid = inv.set_index("invoice_id").loc[promised["invoice_id"], "paid_on"].to_numpy()
        days = (paid - promised["due_on"].to_numpy(dtype="datetime64[ns]")) / np.timedelta64(1, "D")
        rows.append(
            pd.DataFrame(
                {
                    "actual": days,
                    "promised": pending.promised,
                    "keep": with_["p_keep_promise"],
                    **{f"{k}_{name}": r[c] for name, r in (("without", without), ("with", with_))
                       for k, c in (("median", "median_days"), ("lo", "days_lo"),
                                    ("hi", "days_hi"))},
                }
            )
        )  # fmt: skip
    d = pd.concat(rows, ignore_index=True).dropna(subset=["actual"])
    assert len(d) >= 40 and d["keep"].between(0.3, 0.95).all()
    kept = d["actual"] <= d["promised"] + PROMISE_GRACE_DAYS
    # 87 rows here (a promise counts at each as-of date it is pending), 80 % kept, 89 % forecast
    assert 0.6 < kept.mean() < 0.95 and abs(d["keep"].mean() - kept.mean()) < 0.15

    def mae(name, rows=slice(None)):
        return float((d.loc[rows, f"median_{name}"] - d.loc[rows, "actual"]).abs().mean())

    def coverage(name):
        return float(d["actual"].between(d[f"lo_{name}"], d[f"hi_{name}"]).mean())

    # kept promises land near their day (MAE 5.35 -> 1.15 days here); the whole set's error
    # falls (4.83 -> 1.68); the intervals still hold (coverage 98.9 -> 97.7 %)
    assert mae("with", kept) < 2.0 and mae("with", kept) < 0.5 * mae("without", kept)
    assert mae("with") < 0.75 * mae("without"), (mae("with"), mae("without"))
    assert coverage("with") >= 0.8, (coverage("with"), coverage("without"))


@pytest.mark.slow
@pytest.mark.realdata
def test_ibm_time_split_beats_the_baselines(ibm_ar_dir):
    from creditlab.ledger.load import load_ledger
    from creditlab.ledger.mapping import parse_mapping
    from creditlab.run.params import load_params

    params = load_params("params/ibm_ar.yaml", data=ibm_ar_dir)
    led = load_ledger(params.data, parse_mapping(params.mapping), currency=params.currency)
    b = backtest(
        led.invoices,
        led.customers,
        "2012-12-31",
        sampler=SamplerConfig(sampler="nutpie", draws=500, tune=500),
        settle_days=0,  # every invoice in the file is paid: all outcomes are known
    )
    assert b.counts["test_invoices"] == 1189  # every 2013 invoice is paid
    table = b.comparison.set_index("model")
    ours = table.loc["creditlab Bayesian payment-timing model"]
    assert ours["auc"] > table.loc["scikit-learn logistic (late) / linear (days) regression", "auc"]
    assert ours["accuracy"] > 0.85
    assert ours["rmse_days"] < 0.7 * table.loc["customer's historical average delay", "rmse_days"]
    assert ours["rmse_days"] < 0.5 * table.loc["pays on the due date", "rmse_days"]
    # the MAE is scored on the predictive median, the customer-median baseline on its own median
    assert ours["mae_days"] < 0.7 * table.loc["customer's historical median delay", "mae_days"]
    assert "paperless" in b.model.covariates and "disputed" in b.model.covariates
    assert b.cash["inside"].mean() >= 0.75


# -- at scale: the population from a sample of customers, the others given each draw -----------
def test_the_sample_is_drawn_within_every_industry_in_proportion():
    ids = pd.Index([f"C{k:04d}" for k in range(1000)])
    group = pd.Series(np.where(np.arange(1000) < 800, "big", "small"), index=ids)
    group.iloc[-3:] = "tiny"
    chosen = choose_sample(ids, group, 200, seed=1)
    counts = group[chosen].value_counts()
    assert counts["big"] == 160 and counts["small"] == 39 and counts["tiny"] == 1
    assert chosen == choose_sample(ids, group, 200, seed=1)  # seeded
    assert chosen != choose_sample(ids, group, 200, seed=2)


@pytest.mark.slow
def test_a_customer_left_out_of_the_fit_gets_the_effect_the_full_fit_gives_it(ledger_backtest):
    portfolio, b = ledger_backtest
    train = payment_frame(
        portfolio.invoices, portfolio.customers, portfolio.config.end - dt.timedelta(days=240)
    )
    left_out = b.model.customers[::4]
    model = copy.copy(b.model)
    model.fitted = [c for c in b.model.customers if c not in set(left_out)]
    model.idata = b.model.idata.sel(customer=model.fitted)  # as if fitted without them
    model._extend(train)  # their effects given each posterior draw, from their own invoices
    assert model.customers == b.model.customers and model.extra_customers == left_out
    pos = [b.model.customers.index(c) for c in left_out]
    full = b.model._posterior("u", 400)[:, pos]
    given = model._customer_draws("u", 400, 0.0, np.array(pos))
    sd = full.std(axis=0)
    assert np.median(np.abs(given.mean(axis=0) - full.mean(axis=0)) / sd) < 0.25
    assert 0.8 < np.median(given.std(axis=0) / sd) < 1.25


@pytest.mark.slow
def test_a_sample_fit_forecasts_every_customer_and_survives_a_round_trip(tmp_path):
    cfg = SynthConfig(customers=120, seed=3, years=1.5, regime_shift=False)
    portfolio = synthesize(cfg)
    frame = payment_frame(portfolio.invoices, portfolio.customers, cfg.end, events=portfolio.events)
    model = PaymentModel(
        PaymentConfig(sample_customers=50, sample_above=50, own_timing_min_invoices=45),
        SamplerConfig(sampler="nutpie", draws=200, tune=200, seed=4),
    ).fit(frame)
    assert 40 <= len(model.fitted) <= 60 and len(model.customers) == frame["customer_id"].nunique()
    assert model.idata.posterior.sizes["customer"] == len(model.fitted)
    assert set(model.calendar_table(frame)["customer_id"]) == set(model.customers)
    open_now = frame.loc[~frame["paid"]].reset_index(drop=True)
    result, _ = model.forecast(open_now, cfg.end, n_draws=100)
    assert result["p_dpd30"].between(0, 1).all() and result["p_dpd30"].notna().all()
    model.week_rho = 0.2  # as if the ledger had a common due-week factor: simulated with it
    result, simulated = model.forecast(open_now, cfg.end, n_draws=100)
    back = PaymentModel.load(model.save(tmp_path / "payment.nc"))
    assert (back.week_rho, back.week_count) == (model.week_rho, model.week_count)
    assert back.month_turn == model.month_turn and model.month_turn["payments"] > 0
    assert back.shape_customers == model.shape_customers and len(model.shape_customers) > 0
    assert np.array_equal(back.shapes, model.shapes)
    again = PaymentModel.load(back.save(tmp_path / "again.nc"))  # a model read back saves again
    assert np.array_equal(again.shapes, model.shapes)
    assert again.extra_customers == model.extra_customers and np.array_equal(
        again.extra_u, model.extra_u
    )
    again, resimulated = back.forecast(open_now, cfg.end, n_draws=100)
    assert np.allclose(again["p_dpd30"], result["p_dpd30"])
    assert np.array_equal(resimulated, simulated, equal_nan=True)
    assert back.extra_customers == model.extra_customers
