"""KPIs against hand-worked examples (DOMAIN.md) and against direct recomputation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from creditlab import kpi

AS_OF = "2024-06-30"


def invoices(rows):
    frame = pd.DataFrame(
        rows,
        columns=[
            "invoice_id",
            "customer_id",
            "issued_on",
            "due_on",
            "amount",
            "paid_on",
            "amount_paid",
            "disputed",
        ],
    )
    for col in ("issued_on", "due_on", "paid_on"):
        frame[col] = pd.to_datetime(frame[col])
    return frame


def customers(rows):
    return pd.DataFrame(rows, columns=["customer_id", "name", "industry", "credit_limit"])


def test_countback_dso_worked_example():
    assert kpi.dso_countback(212_000, [100_000, 80_000, 70_000], [30, 30, 30]) == pytest.approx(
        30 + 30 + 32 / 70 * 30
    )
    assert round(kpi.dso_countback(212_000, [100_000, 80_000, 70_000], [30, 30, 30]), 1) == 73.7
    assert kpi.dso_countback(50, [100, 100], [31, 30]) == pytest.approx(15.5)
    assert np.isnan(kpi.dso_countback(500, [100, 100], [30, 30]))  # AR older than the window


def test_standard_dso_and_cei_formulas():
    assert kpi.dso_standard(300_000, 900_000, 90) == pytest.approx(30.0)
    assert np.isnan(kpi.dso_standard(1, 0, 90))
    # begin 100, sales 50, end total 60, end current 40: (150-60)/(150-40) = 81.8 %
    assert kpi.cei(100, 50, 60, 40) == pytest.approx(90 / 110 * 100)


def test_aging_buckets_boundaries_and_point_in_time():
    due = pd.Timestamp(AS_OF)
    rows = []
    for i, dpd in enumerate([-5, 0, 1, 30, 31, 60, 61, 90, 91, 180, 181]):
        rows.append(
            (
                f"I{i}",
                "C1",
                due - pd.Timedelta(days=dpd + 30),
                due - pd.Timedelta(days=dpd),
                100.0,
                None,
                0.0,
                False,
            )
        )
    rows.append(("P1", "C1", "2024-01-01", "2024-01-31", 1000.0, "2024-07-15", 1000.0, False))
    rows.append(("P2", "C1", "2024-01-01", "2024-01-31", 1000.0, "2024-06-15", 1000.0, False))
    rows.append(("F1", "C1", "2024-07-01", "2024-07-31", 1000.0, None, 0.0, False))  # future
    rows.append(("Q1", "C1", "2024-06-01", "2024-07-01", 500.0, None, 200.0, False))  # part paid
    table = kpi.aging(invoices(rows), AS_OF).set_index("bucket")
    # P1 was paid after the as-of date: open then, 151 DPD
    assert table.loc["current", "invoices"] == 3 and table.loc["current", "open_ar"] == 500
    assert table.loc["1-30", "invoices"] == 2
    assert table.loc["31-60", "invoices"] == 2
    assert table.loc["61-90", "invoices"] == 2
    assert table.loc["91-180", "open_ar"] == 100 + 100 + 1000
    assert table.loc["180+", "invoices"] == 1
    assert table["share"].sum() == pytest.approx(1.0)
    assert table["open_ar"].sum() == 11 * 100 + 1000 + 300


def test_exposure_utilisation_breaches_and_concentration():
    inv = invoices(
        [
            ("I1", "A", "2024-06-01", "2024-07-01", 800.0, None, 0.0, True),
            ("I2", "A", "2024-04-01", "2024-05-01", 400.0, None, 0.0, False),
            ("I3", "B", "2024-06-01", "2024-07-01", 300.0, None, 0.0, False),
            ("I4", "C", "2024-06-01", "2024-07-01", 900.0, "2024-06-20", 900.0, False),
        ]
    )
    cust = customers(
        [
            ("A", "A & <Co>", "retail", 1000.0),
            ("B", "B", "retail", None),
            ("C", "C", "media", 500.0),
        ]
    )
    exp = kpi.customer_exposure(cust, inv, AS_OF).set_index("customer_id")
    assert exp.loc["A", "open_ar"] == 1200 and exp.loc["A", "overdue_ar"] == 400
    assert exp.loc["A", "max_dpd"] == 60 and exp.loc["A", "open_disputes"] == 1
    assert exp.loc["A", "utilisation"] == pytest.approx(1.2) and exp.loc["A", "limit_breach"]
    assert np.isnan(exp.loc["B", "utilisation"]) and not exp.loc["B", "limit_breach"]
    assert exp.loc["C", "open_ar"] == 0
    breaches = kpi.limit_breaches(exp.reset_index())
    assert list(breaches["customer_id"]) == ["A"] and breaches["excess"].iloc[0] == 200
    conc = kpi.concentration(exp.reset_index())
    assert conc["top10_share"] == pytest.approx(1.0)
    assert conc["herfindahl"] == pytest.approx((1200 / 1500) ** 2 + (300 / 1500) ** 2)
    head = kpi.headline(cust, inv, AS_OF)
    assert head["open_ar"] == 1500 and head["limit_breaches"] == 1
    assert head["utilisation"] == pytest.approx(1200 / 1500)  # customers with a limit only


def test_at_risk_rate_by_billing_month():
    inv = invoices(
        [
            ("I1", "A", "2024-01-10", "2024-02-09", 100.0, "2024-02-01", 100.0, False),
            ("I2", "A", "2024-01-20", "2024-02-19", 300.0, "2024-05-15", 300.0, False),  # > Apr 30
            ("I3", "A", "2024-02-05", "2024-03-06", 200.0, None, 0.0, False),
        ]
    )
    rates = kpi.at_risk_rates(inv, AS_OF, months=4).set_index("billing_month")
    # January's horizon is Jan 31 + 90 days = Apr 30; I2 was still unpaid then
    assert rates.loc["2024-01", "at_risk_rate"] == pytest.approx(0.75)
    assert rates.loc["2024-02", "at_risk_rate"] == pytest.approx(1.0)
    assert rates.index.max() == "2024-03"  # March's horizon is Jun 29, April's is after as-of


def test_monthly_trend_matches_direct_computation(ledger):
    trend = kpi.monthly_trend(ledger.invoices, "2026-11-20", months=6, dso_period_days=90)
    assert list(pd.to_datetime(trend["period_end"]).dt.day)[:-1] == [30, 31, 31, 30, 31]  # Jun..Oct
    last = trend.iloc[-1]
    items = kpi.open_items(ledger.invoices, "2026-11-20")
    assert last["open_ar"] == pytest.approx(items["open_ar"].sum())
    assert last["current_ar"] == pytest.approx(items.loc[items["dpd"] == 0, "open_ar"].sum())
    inv = ledger.invoices
    window = (inv["issued_on"] > pd.Timestamp("2026-08-22")) & (inv["issued_on"] <= "2026-11-20")
    assert last["dso"] == pytest.approx(last["open_ar"] / inv.loc[window, "amount"].sum() * 90)
    assert last["add"] == pytest.approx(last["dso"] - last["bpdso"])
    assert ((trend["cei"] > 0) & (trend["cei"] <= 100)).all()


def test_industry_kpis_split_the_portfolio(ledger):
    as_of = "2026-11-20"
    table = kpi.industry_kpis(ledger.customers, ledger.invoices, as_of).set_index("industry")
    head = kpi.headline(ledger.customers, ledger.invoices, as_of)
    assert table["open_ar"].sum() == pytest.approx(head["open_ar"])
    assert table["customers"].sum() == head["customers"]
    assert table["share_of_ar"].sum() == pytest.approx(1.0)
    aging_cols = [f"aging_{b}" for b in kpi.AGING_BUCKETS]
    has_ar = table["open_ar"] > 0
    np.testing.assert_allclose(table.loc[has_ar, aging_cols].sum(axis=1), 1.0)
    name = table.index[0]
    ids = ledger.customers.loc[ledger.customers["industry"] == name, "customer_id"]
    sub = kpi.headline(
        ledger.customers.loc[ledger.customers["customer_id"].isin(ids)],
        ledger.invoices.loc[ledger.invoices["customer_id"].isin(ids)],
        as_of,
    )
    assert table.loc[name, "dso"] == pytest.approx(sub["dso"])
    assert table.loc[name, "cei"] == pytest.approx(sub["cei"])


def test_currency_exposure_adds_up_to_open_ar_in_both_currencies():
    inv = invoices(
        [
            ("A", "C1", "2024-05-01", "2024-05-31", 100.0, None, None, False),
            ("B", "C1", "2024-05-01", "2024-05-31", 60.0, None, 20.0, False),
            ("C", "C2", "2024-05-01", "2024-05-31", 50.0, "2024-06-01", None, False),  # paid
        ]
    )
    inv["currency"] = "USD"
    inv["currency_original"] = ["USD", "CAD", "CAD"]
    inv["fx_rate"] = [1.0, 0.75, 0.75]
    table = kpi.currency_exposure(inv, AS_OF).set_index("currency")
    assert table.loc["USD", "open_ar"] == 100 and table.loc["CAD", "open_ar"] == 40
    assert table.loc["CAD", "open_ar_original"] == pytest.approx(40 / 0.75)
    assert table.loc["CAD", "rate"] == 0.75 and table.loc["CAD", "open_invoices"] == 1
    assert table["share"].sum() == pytest.approx(1.0)
    assert table["open_ar"].sum() == pytest.approx(kpi.open_items(inv, AS_OF)["open_ar"].sum())
    # a ledger in one currency: one row at rate 1
    single = kpi.currency_exposure(inv.drop(columns=["currency_original", "fx_rate"]), AS_OF)
    assert single[["currency", "rate"]].values.tolist() == [["USD", 1.0]]


def test_unapplied_credit_notes_reduce_open_ar_and_count_as_dilution():
    cust = customers([("C1", "A", "retail", 1000.0), ("C2", "B", "retail", None)])
    inv = invoices(
        [
            ("I1", "C1", "2024-05-01", "2024-05-31", 300.0, None, None, False),
            ("I2", "C1", "2024-06-01", "2024-07-01", 100.0, None, None, False),
            ("I3", "C2", "2024-06-10", "2024-07-10", 50.0, None, None, False),
        ]
    )
    credits = invoices(
        [
            ("K1", "C1", "2024-06-05", "2024-06-05", 40.0, None, None, False),  # unapplied
            ("K2", "C1", "2024-06-06", "2024-06-06", 10.0, "2024-06-07", None, False),  # applied
            ("K3", "C2", "2024-06-20", "2024-06-20", 80.0, None, None, False),  # more than owed
        ]
    )
    exp = kpi.customer_exposure(cust, inv, AS_OF, credits, period_days=90).set_index("customer_id")
    assert exp.loc["C1", "open_credits"] == 40 and exp.loc["C1", "open_ar"] == 360
    assert exp.loc["C1", "utilisation"] == pytest.approx(0.36)
    assert exp.loc["C2", "open_ar"] == 0 and exp.loc["C2", "credit_balance"] == 30
    assert exp.loc["C1", "dilution"] == pytest.approx(50 / 400)
    head = kpi.headline(cust, inv, AS_OF, 90, credits)
    assert head["open_credits"] == 120 and head["open_ar"] == 360
    assert head["dilution"] == pytest.approx(130 / 450)
    plain = kpi.headline(cust, inv, AS_OF, 90)
    assert plain["open_ar"] == 450 and plain["open_credits"] == 0
    ind = kpi.industry_kpis(cust, inv, AS_OF, 90, credits)
    assert ind.loc[0, "dilution"] == pytest.approx(130 / 450)
