"""Fraud and bust-out screens on small ledgers built for each pattern, and the planted bust-outs of
synthetic portfolios."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from creditlab.decisions.screens import SURGE_TAIL, bust_out_screens, surge_tail
from creditlab.ledger.synth import SynthConfig, synthesize

AS_OF = dt.date(2026, 11, 20)
T = pd.Timestamp(AS_OF)


def _invoices(rows: list[tuple[str, pd.Timestamp, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "invoice_id": [f"I{i}" for i in range(len(rows))],
            "customer_id": [r[0] for r in rows],
            "issued_on": [r[1] for r in rows],
            "amount": [r[2] for r in rows],
        }
    )


def _monthly(cid: str, first: int, last: int, amount: float = 1000.0) -> list:
    """An invoice every 30 days from ``first`` to ``last`` days before the as-of date."""
    return [(cid, T - pd.Timedelta(days=d), amount) for d in range(first, last - 1, -30)]


def _screens(rows: list, events: pd.DataFrame | None = None, as_of: dt.date = AS_OF) -> dict:
    inv = _invoices(rows)
    ids = sorted(set(inv["customer_id"]))
    customers = pd.DataFrame({"customer_id": ids, "name": ids})
    ev = (
        events
        if events is not None
        else pd.DataFrame(
            {"customer_id": [], "event_on": pd.to_datetime([]), "kind": [], "detail": []}
        )
    )
    out = bust_out_screens(customers, inv, ev, as_of)
    return {(r.customer_id, r.alert): r.detail for r in out.itertuples()}


def _peers(n: int = 30) -> list:
    """Customers of every age whose first 60 days bill about 2,000."""
    rng = np.random.default_rng(1)
    rows = []
    for i in range(n):
        start = int(rng.integers(300, 700))
        rows += _monthly(f"P{i}", start, 40, float(rng.uniform(800, 1200)))
    return rows


def test_an_order_surge_is_caught_with_its_evidence_and_steady_customers_are_not():
    surging = _monthly("S", 720, 40) + [
        ("S", T - pd.Timedelta(days=d), 6000.0) for d in (20, 10, 2)
    ]
    got = _screens(_monthly("Q", 720, 5) + surging)
    assert set(got) == {("S", "order surge")}
    assert got[("S", "order surge")].startswith("invoiced 18,000 in the last 30 days")
    assert "mean 917" in got[("S", "order surge")]  # 11 invoices of 1,000 in 12 windows
    # a month earlier nothing had happened yet
    assert _screens(surging, as_of=AS_OF - dt.timedelta(days=25)) == {}


def test_a_dormant_account_reactivated_with_large_orders():
    rows = _monthly("D", 700, 300) + [("D", T - pd.Timedelta(days=d), 5000.0) for d in (40, 5)]
    got = _screens(rows)
    assert ("D", "dormant account reactivated") in got
    assert "no order for 270 days" in got[("D", "dormant account reactivated")]
    small = _monthly("E", 700, 300) + [("E", T - pd.Timedelta(days=40), 900.0)]
    assert ("E", "dormant account reactivated") not in _screens(small)


def test_a_new_account_growing_faster_than_new_accounts_do():
    fast = [("N", T - pd.Timedelta(days=d), 7000.0) for d in (60, 45, 30, 15)]
    slow = [("M", T - pd.Timedelta(days=d), 1000.0) for d in (60, 30)]
    got = _screens(_peers() + fast + slow)
    assert ("N", "new account growing fast") in got and ("M", "new account growing fast") not in got
    assert got[("N", "new account growing fast")].startswith("invoiced 28,000 in its first 60 days")


def test_a_new_account_is_compared_with_new_accounts_of_its_industry():
    retail = _peers()
    big = [(f"B{i}", d, a * 15) for i, (_, d, a) in enumerate(_peers())]  # construction bills more
    fast = [(cid, T - pd.Timedelta(days=d), 7000.0) for cid in ("R", "K") for d in (60, 45, 30, 15)]
    inv = _invoices(retail + big + fast)
    ids = sorted(set(inv["customer_id"]))
    industry = ["construction" if c.startswith(("B", "K")) else "retail" for c in ids]
    customers = pd.DataFrame({"customer_id": ids, "name": ids, "industry": industry})
    events = pd.DataFrame(
        {"customer_id": [], "event_on": pd.to_datetime([]), "kind": [], "detail": []}
    )
    out = bust_out_screens(customers, inv, events, AS_OF)
    got = {
        r.customer_id: r.detail for r in out.itertuples() if r.alert == "new account growing fast"
    }
    assert set(got) == {"R"}  # 28,000 is a lot for retail, ordinary for construction
    assert "retail customers billed a median" in got["R"]


def test_a_bank_or_address_change_shortly_before_a_large_order():
    rows = _monthly("B", 700, 40) + [("B", T - pd.Timedelta(days=5), 5000.0)]
    rows += _monthly("C", 700, 40) + [("C", T - pd.Timedelta(days=5), 5000.0)]
    events = pd.DataFrame(
        {
            "customer_id": ["B", "C"],
            "event_on": [T - pd.Timedelta(days=25), T - pd.Timedelta(days=120)],
            "kind": ["master_data_change"] * 2,
            "detail": ["bank_account", "bank_account"],
        }
    )
    got = _screens(rows, events)
    assert got[("B", "details changed before a large order")].startswith(
        "bank account changed on 2026-10-26, 20 days before invoice"
    )
    assert ("C", "details changed before a large order") not in got  # four months before


def test_planted_bust_outs_order_far_more_then_stop_paying_and_leave_the_rest_alone():
    plain = synthesize(SynthConfig(customers=300, seed=2))
    planted = synthesize(SynthConfig(customers=300, seed=2, bust_outs=0.05))
    truth = planted.truth_customers.set_index("customer_id")
    busts = truth["bust_out_on"].dropna()
    assert len(busts) >= 8 and set(truth.loc[busts.index, "bust_out_kind"]) == {"ramp", "dormant"}
    assert not truth.loc[busts.index, "defaulted"].any()
    inv = planted.invoices
    for cid, b in busts.items():
        mine = inv.loc[inv["customer_id"] == cid]
        ramp = mine.loc[mine["issued_on"] >= b - pd.Timedelta(days=75)]
        assert ramp["paid_on"].isna().all() and (mine["issued_on"] <= b).all()
        assert ramp["amount"].sum() > 3 * mine["amount"].median() * 4
    others = ~plain.invoices["customer_id"].isin(busts.index)
    same = plain.invoices.loc[others].sort_values("invoice_id").reset_index(drop=True)
    kept = inv.loc[~inv["customer_id"].isin(busts.index)].sort_values("invoice_id")
    kept = kept.reset_index(drop=True).astype({"paid_on": same["paid_on"].dtype})
    pd.testing.assert_frame_equal(same, kept, check_dtype=False)
    assert inv["invoice_id"].is_unique


def test_the_surge_chance_is_calibrated_where_orders_follow_its_model():
    """Customers whose invoices per month are bursty Poisson and whose amounts come from their own
    price lists: a next month drawn the same way gets a chance under 0.1 about 10 % of the time;
    with orders this bursty a month of four times the usual is not yet rare, one of ten times is."""
    rng = np.random.default_rng(0)
    m = 400
    rate = rng.gamma(4.0, 0.75, m)  # about 3 invoices a month
    counts = rng.poisson(rate[:, None] * rng.gamma(2.0, 0.5, (m, 13)))
    prices = [rng.lognormal(7.0, 0.6, 30) for _ in range(m)]
    year = [rng.choice(prices[i], counts[i, :12].sum()) for i in range(m)]
    nxt = np.array([rng.choice(prices[i], counts[i, 12]).sum() for i in range(m)])
    rows = np.arange(m)
    tail = surge_tail(counts[:, :12], rows, year, nxt, seed=1)
    assert 0.06 <= np.mean(tail < 0.1) <= 0.15
    usual = np.array([y.sum() / 12 for y in year])
    assert np.mean(surge_tail(counts[:, :12], rows, year, 4 * usual, seed=1) < SURGE_TAIL) < 0.05
    assert np.mean(surge_tail(counts[:, :12], rows, year, 10 * usual, seed=1) < SURGE_TAIL) > 0.8
    # a customer with a month not yet counted (NaN) is judged on the months it was one
    short = counts[:, :12].astype(float)
    short[:, 6:] = np.nan
    assert surge_tail(short, rows[:1], year[:1], nxt[:1], seed=1).shape == (1,)
