"""ECL and the IFRS 9 provision matrix: hand-worked transitions, roll rates, absorption."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from creditlab.decisions.provisions import (
    LOSS_BUCKET,
    absorption,
    ecl_by,
    ecl_table,
    fit_roll_rates,
    provision_matrix,
    transition_counts,
)
from creditlab.decisions.settings import ProvisionSettings
from creditlab.kpi import AGING_BUCKETS

PAID, LOSS = 6, 7
TS = pd.Timestamp


def _ledger():
    invoices = pd.DataFrame(
        {
            "invoice_id": ["A", "B", "C", "D"],
            "customer_id": ["c1", "c2", "c3", "c4"],
            "issued_on": [TS("2026-01-05"), TS("2025-12-01"), TS("2025-01-01"), TS("2026-01-10")],
            "due_on": [TS("2026-02-04"), TS("2025-12-31"), TS("2025-01-31"), TS("2026-02-09")],
            "paid_on": [TS("2026-02-20"), pd.NaT, pd.NaT, pd.NaT],
            "amount": [100.0, 200.0, 300.0, 400.0],
            "amount_paid": [100.0, 0.0, 0.0, 0.0],
            "disputed": [False] * 4,
        }
    )
    events = pd.DataFrame(
        {"customer_id": ["c4"], "event_on": [TS("2026-03-15")], "kind": ["write_off"]}
    )
    return invoices, events


def test_transitions_between_month_ends_worked_by_hand():
    invoices, events = _ledger()
    labels, counts = transition_counts(invoices, events, dt.date(2026, 3, 31), 2, 365)
    assert labels == ["all"]
    expected = np.zeros((6, 8), dtype=int)
    expected[0, PAID] = 1  # A: current at 31 Jan, paid by 28 Feb
    expected[2, 2] = 1  # B: 31 DPD at 31 Jan, 59 DPD at 28 Feb
    expected[2, 3] = 1  # B: 59 DPD at 28 Feb, 90 DPD at 31 Mar
    expected[0, 1] = 1  # D: current at 31 Jan, 19 DPD at 28 Feb
    expected[1, LOSS] = 1  # D: its customer written off on 15 Mar
    # C: 365 DPD at 31 Jan is already a loss, so it is never counted
    np.testing.assert_array_equal(counts[0], expected)


def test_loss_rates_are_products_of_roll_rates_for_a_forward_chain():
    roll = [0.1, 0.5, 0.4, 0.5, 0.5, 0.5]  # P(rolling on) from each bucket; the rest is paid
    p = np.zeros((6, 8))
    for i, r in enumerate(roll):
        p[i, i + 1 if i < 5 else LOSS] = r
        p[i, PAID] = 1 - r
    loss = absorption(p)[:, 1]
    expected = [np.prod(roll[i:]) for i in range(6)]
    np.testing.assert_allclose(loss, expected)
    assert loss[0] == pytest.approx(0.0025)
    # a bucket where invoices can also stay (91-180 spans three months) still absorbs correctly
    p[4] = 0.0
    p[4, 4], p[4, 5], p[4, PAID] = 0.5, 0.25, 0.25  # stays half the time: rolls on with 1/2
    assert absorption(p)[4, 1] == pytest.approx(0.5 * 0.5)


def test_roll_rate_posterior_recovers_the_rates_and_shrinks_small_segments():
    roll = [0.1, 0.5, 0.4, 0.5, 0.5, 0.5]
    counts = np.zeros((2, 6, 8))
    for i, r in enumerate(roll):
        counts[0, i, i + 1 if i < 5 else LOSS] = 10_000 * r
        counts[0, i, PAID] = 10_000 * (1 - r)
    counts[1, 0, PAID] = 3  # a tiny segment: three invoices, all paid
    draws = fit_roll_rates(counts, prior_strength=20, draws=2000, seed=0)
    loss = absorption(draws)[..., 1]  # (draws, segments, buckets)
    big = loss[:, 0, 0]
    assert big.mean() == pytest.approx(0.0025, rel=0.1)
    lo, hi = np.quantile(big, [0.05, 0.95])
    assert lo < 0.0025 < hi
    # the small segment borrows from the portfolio rather than claiming a zero loss rate
    assert loss[:, 1, 0].mean() > 0.001


def test_matrix_applies_rates_to_balances_and_the_overlay_weights_scenarios():
    invoices, events = _ledger()
    settings = ProvisionSettings(
        history_months=2,
        scenarios={
            "base": {"weight": 0.5, "multiplier": 1.0},
            "down": {"weight": 0.5, "multiplier": 2.0},
        },
    )
    pm = provision_matrix(invoices, events, dt.date(2026, 3, 31), settings, draws=500)
    m = pm.matrix.set_index("bucket")
    # open at 31 Mar: B (200, 90 DPD -> 61-90), C (300, 424 DPD: a loss), D (400, written off)
    assert m.loc["61-90", "balance"] == 200 and m.loc[LOSS_BUCKET, "balance"] == 700
    assert (
        m.loc[LOSS_BUCKET, "loss_rate_mean"] == 1.0 and m.loc[LOSS_BUCKET, "allowance_mean"] == 700
    )
    row = m.loc["61-90"]
    assert row["allowance_historical"] == pytest.approx(200 * row["loss_rate_mean"])
    assert row["forward_loss_rate"] > row["loss_rate_mean"]
    assert list(pm.matrix["bucket"]) == [*AGING_BUCKETS, LOSS_BUCKET]
    totals = pm.totals.set_index("scenario")["allowance_mean"]
    assert totals["historical loss rates"] == pytest.approx(pm.matrix["allowance_historical"].sum())
    assert totals["forward-looking (scenario-weighted)"] == pytest.approx(
        pm.matrix["allowance_mean"].sum()
    )
    assert totals["forward-looking (scenario-weighted)"] > totals["historical loss rates"]


def test_ecl_is_pd_times_lgd_times_ead_per_draw():
    pds = np.array([[0.1, 0.2], [0.3, 0.4]])
    lgd = np.array([[0.5, 0.5], [0.5, 1.0]])
    table, draws = ecl_table(np.array(["a", "b"]), np.array([100.0, 10.0]), pds, lgd, prob=0.9)
    np.testing.assert_allclose(table["ecl_mean"], [(5 + 15) / 2, (1 + 4) / 2])
    np.testing.assert_allclose(draws.sum(axis=1), [5 + 1, 15 + 4])
    by = ecl_by(draws, np.array([100.0, 10.0]), {"grade": pd.Series(["x", "y"])}, prob=0.9)
    total = by.loc[by["group_by"] == "portfolio"].iloc[0]
    assert total["ecl_mean"] == pytest.approx(12.5) and total["ead"] == 110
    assert by.loc[by["group"] == "y", "ecl_mean"].iloc[0] == pytest.approx(2.5)
    assert (table["ecl_lo"] <= table["ecl_mean"]).all() and (
        table["ecl_mean"] <= table["ecl_hi"]
    ).all()
