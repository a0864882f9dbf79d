"""Point-in-time features and default labels: no look-ahead, the project's default definition."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from creditlab.features import (
    FEATURE_LABELS,
    FEATURES,
    HAZARD_TARGET,
    SIGNAL_FEATURES,
    SNAPSHOT,
    TARGET,
    WINDOW,
    Materiality,
    cured_defaults,
    default_dates,
    describe_feature,
    hazard_data,
    snapshot_features,
    training_data,
)
from creditlab.ledger.schema import CUSTOMER_ID, FOLLOW_UP


def test_default_dates_follow_the_definition():
    inv = pd.DataFrame(
        {
            "customer_id": ["A", "A", "B", "C"],
            "due_on": pd.to_datetime(["2024-01-31", "2024-03-31", "2024-01-31", "2024-01-31"]),
            "paid_on": pd.to_datetime(["2024-04-15", None, "2024-05-15", "2024-02-15"]),
        }
    )
    ev = pd.DataFrame(
        {
            "customer_id": ["C", "C"],
            "event_on": pd.to_datetime(["2024-06-01", "2024-03-01"]),
            "kind": ["insolvency", "reminder_sent"],
        }
    )
    d = default_dates(inv, ev, dt.date(2024, 12, 31))
    assert d["A"] == pd.Timestamp("2024-06-29")  # the open invoice reached 90 DPD (Mar 31 + 90)
    assert d["B"] == pd.Timestamp("2024-04-30")  # paid 105 days late: it was 90+ on Apr 30
    assert d["C"] == pd.Timestamp("2024-06-01")  # insolvency event; reminders do not count
    assert "A" not in default_dates(inv, ev, dt.date(2024, 5, 31)).index  # not known yet


def test_a_materiality_threshold_asks_for_a_material_amount_90_days_past_due():
    # A: a 100 invoice 90+ DPD beside 100,000 open; B: a 1,000 invoice 90+ DPD beside 200,000 open
    # until that is paid; C: two invoices of 300 each, 90+ DPD from Apr 30 and May 31
    inv = pd.DataFrame(
        {
            "customer_id": ["A", "A", "B", "B", "C", "C"],
            "issued_on": pd.to_datetime(
                ["2024-01-01", "2024-06-01", "2024-01-01", "2024-01-01", "2024-01-01", "2024-02-01"]
            ),  # fmt: skip
            "due_on": pd.to_datetime(
                ["2024-01-31", "2024-12-15", "2024-01-31", "2024-09-30", "2024-01-31", "2024-03-02"]
            ),  # fmt: skip
            "paid_on": pd.to_datetime([None, None, None, "2024-06-14", "2024-05-20", None]),
            "amount": [100.0, 100_000.0, 1_000.0, 200_000.0, 300.0, 300.0],
        }
    )
    ev = pd.DataFrame({"customer_id": [], "event_on": pd.to_datetime([]), "kind": []})
    as_of = dt.date(2024, 12, 31)
    plain = default_dates(inv, ev, as_of)
    assert set(plain.index) == {"A", "B", "C"} and (plain == pd.Timestamp("2024-04-30")).all()
    eba = default_dates(inv, ev, as_of, Materiality(amount=500, share=0.01))
    assert "A" not in eba.index  # 100 is under 500 (and 0.1 % of what it owes)
    assert eba["B"] == pd.Timestamp("2024-06-14")  # 0.5 % until the large invoice was paid
    assert "C" not in eba.index  # the first 300 was paid before the second reached 90 DPD
    both = default_dates(inv.assign(paid_on=inv["paid_on"].where(inv.index != 4)), ev, as_of,
                         Materiality(amount=500))  # fmt: skip
    assert both["C"] == pd.Timestamp("2024-05-31")  # 600 once both are 90+ DPD
    assert default_dates(inv, ev, dt.date(2024, 4, 29), Materiality(500, 0.01)).empty
    assert Materiality(500, 0.01).describe("EUR") == (
        "invoices 90+ days past due adding up to at least 500 EUR and 1% of the customer's open "
        "receivables"
    )
    assert Materiality().describe("EUR") == "an invoice 90+ days past due"


def test_a_default_cures_after_months_without_any_invoice_90_days_past_due():
    # A: 90+ DPD from Apr 30, paid May 15; B: the same, then a small invoice 90+ DPD (unpaid)
    # from Sep 28; C: the same as A, then written off in June; D: 90+ DPD and still unpaid
    inv = pd.DataFrame(
        {
            "customer_id": ["A", "B", "B", "C", "D"],
            "due_on": pd.to_datetime(
                ["2024-01-31", "2024-01-31", "2024-06-30", "2024-01-31", "2024-01-31"]
            ),
            "paid_on": pd.to_datetime(["2024-05-15", "2024-05-15", None, "2024-05-15", None]),
            "amount": [1000.0, 1000.0, 10.0, 1000.0, 1000.0],
            "issued_on": pd.to_datetime(["2024-01-01"] * 5),
        }
    )
    ev = pd.DataFrame(
        {"customer_id": ["C"], "event_on": pd.to_datetime(["2024-06-10"]), "kind": ["write_off"]}
    )
    as_of = dt.date(2024, 10, 31)
    assert set(default_dates(inv, ev, as_of).index) == {"A", "B", "C", "D"}
    # three months of probation from Jul 31: A cleared on May 15 is out; B's 10 EUR invoice is
    # 90+ DPD since Sep 28 (any amount keeps a default going); a write-off never cures
    assert cured_defaults(inv, ev, as_of, 3).tolist() == ["A"]
    assert cured_defaults(inv, ev, as_of, 6).empty  # May 15 is inside six months
    assert cured_defaults(inv, ev, as_of, 0).empty
    # on Aug 14 A's last 90+ DPD day (May 14) is just inside three months; on Aug 15 it is not,
    # and B's small invoice has not reached 90 days yet
    assert cured_defaults(inv, ev, dt.date(2024, 8, 14), 3).empty
    assert cured_defaults(inv, ev, dt.date(2024, 8, 15), 3).tolist() == ["A", "B"]


def test_a_scored_customers_state_leaves_out_defaults_that_are_over(ledger):
    args = (ledger.customers, ledger.invoices, ledger.events, dt.date(2026, 11, 20))
    plain = snapshot_features(*args).set_index("customer_id")["in_default"]
    cured = cured_defaults(*args[1:], 3)
    assert len(cured) > 0 and plain[cured].all()
    now = snapshot_features(*args, cure_months=3).set_index("customer_id")["in_default"]
    assert (now == (plain & ~plain.index.isin(cured))).all()


def test_features_use_no_future_rows(ledger):
    snap = dt.date(2025, 9, 30)
    full = snapshot_features(ledger.customers, ledger.invoices, ledger.events, snap)
    inv = ledger.invoices.loc[ledger.invoices["issued_on"] <= pd.Timestamp(snap)].copy()
    inv.loc[inv["paid_on"] > pd.Timestamp(snap), "paid_on"] = pd.NaT  # what was known then
    ev = ledger.events.loc[ledger.events["event_on"] <= pd.Timestamp(snap)]
    cut = snapshot_features(ledger.customers, inv, ev, snap)
    pd.testing.assert_frame_equal(full, cut)
    assert list(full.columns[-len(FEATURES) :]) == list(FEATURES)


def test_feature_values_on_a_hand_ledger():
    cust = pd.DataFrame(
        {
            "customer_id": ["A"],
            "industry": ["retail"],
            "country": ["DE"],
            "credit_limit": [1000.0],
            "onboarded_on": pd.to_datetime(["2023-01-01"]),
        }
    )
    inv = pd.DataFrame(
        {
            "customer_id": ["A"] * 3,
            "amount": [100.0, 200.0, 300.0],
            "disputed": [False, True, False],
            "issued_on": pd.to_datetime(["2024-01-01", "2024-04-01", "2024-05-15"]),
            "due_on": pd.to_datetime(["2024-01-31", "2024-05-01", "2024-06-14"]),
            "paid_on": pd.to_datetime(["2024-02-10", None, None]),
        }
    )
    ev = pd.DataFrame({"customer_id": [], "event_on": pd.to_datetime([]), "kind": []})
    f = snapshot_features(cust, inv, ev, dt.date(2024, 6, 30)).iloc[0]
    assert f["max_dpd_3m"] == 60 and f["max_dpd_12m"] == 60  # invoice 2 is 60 days past due
    assert f["mean_days_late_12m"] == pytest.approx((10 + 60 + 16) / 3)
    assert f["share_late_12m"] == 1.0
    assert f["utilisation"] == pytest.approx(0.5) and f["log_open_ar"] == pytest.approx(
        np.log1p(500)
    )
    assert f["dispute_share_12m"] == pytest.approx(1 / 3)
    assert not f["in_default"]


def test_training_data_is_split_out_of_time(ledger):
    data = training_data(ledger.customers, ledger.invoices, ledger.events, dt.date(2026, 11, 20))
    assert data.validation_snapshot == dt.date(2025, 11, 20)
    assert max(data.snapshots) <= dt.date(2024, 11, 20)  # no training label overlaps validation
    assert set(data.train[TARGET].unique()) <= {0, 1}
    assert data.validation["snapshot"].nunique() == 1
    with pytest.raises(ValueError, match="too short"):
        training_data(ledger.customers, ledger.invoices, ledger.events, dt.date(2025, 1, 1))


@pytest.mark.parametrize(
    ("as_of", "held"), [(dt.date(2024, 6, 20), 1), (dt.date(2026, 11, 20), 12)]
)
def test_hazard_rows_follow_each_customer_to_its_default_or_the_validation_cut(ledger, as_of, held):
    """A ledger of months gets hazard rows (the 12-month design has none); each row is followed
    to its default month or the validation cut, never past it, and its label is that default."""
    c, inv, ev = ledger.customers, ledger.invoices, ledger.events
    data = hazard_data(c, inv, ev, as_of)
    first = inv["issued_on"].min()
    assert data.validation_months == held and data.period_months == 1
    v = pd.Timestamp(data.validation_snapshot)
    assert v == pd.Timestamp(as_of) - pd.DateOffset(months=held)
    train = data.train
    assert (train[FOLLOW_UP] <= train[WINDOW]).all() and (train[WINDOW] <= 12).all()

    def later(months: pd.Series) -> pd.Series:
        """Each row's snapshot plus ``months`` calendar months."""
        return pd.Series(
            [
                s + pd.DateOffset(months=int(k))
                for s, k in zip(train[SNAPSHOT], months, strict=True)
            ],
            index=train.index,
        )

    assert (later(train[WINDOW]) <= v).all()  # nothing past the cut
    assert train[SNAPSHOT].min() >= first + pd.Timedelta(days=90)
    # the label, from the definition: the first default date in the follow-up month
    when = train[CUSTOMER_ID].map(default_dates(inv, ev, as_of))
    expected = (when > later(train[FOLLOW_UP] - 1)) & (when <= later(train[FOLLOW_UP]))
    assert (train[HAZARD_TARGET] == expected.astype(int)).all()
    assert train[HAZARD_TARGET].sum() > 0
    # a customer that did not default is followed for the whole window
    survived = train.loc[train[HAZARD_TARGET] == 0]
    assert (survived[FOLLOW_UP] == survived[WINDOW]).all()
    assert set(data.validation[HAZARD_TARGET].unique()) <= {0, 1}
    with pytest.raises(ValueError, match="too short"):
        hazard_data(c, inv, ev, (first + pd.Timedelta(days=100)).date())


def test_a_ledger_without_defaults_gets_hazard_rows_labelled_zero(ledger):
    """No customer ever defaulted (as in the IBM sample): the rows are built, all labelled 0."""
    c, inv, ev = ledger.customers, ledger.invoices, ledger.events
    as_of = dt.date(2026, 11, 20)
    clean = ~c[CUSTOMER_ID].isin(default_dates(inv, ev, as_of).index)
    keep = c.loc[clean, CUSTOMER_ID]
    data = hazard_data(
        c.loc[clean],
        inv.loc[inv[CUSTOMER_ID].isin(keep)],
        ev.loc[ev[CUSTOMER_ID].isin(keep)],
        as_of,
    )
    assert len(data.train) > 0 and data.train[HAZARD_TARGET].sum() == 0
    assert data.validation[HAZARD_TARGET].sum() == 0


def test_every_feature_has_plain_words():
    assert set(FEATURE_LABELS) == {*FEATURES, *SIGNAL_FEATURES}
    assert describe_feature("share_late_12m") == "share of invoices paid late in the last 12 months"
    assert describe_feature("external_score_missing") == (
        "no data on external credit score (bureau or rating)"
    )
    assert describe_feature("debt_to_income") == "debt to income"  # a user's own table column


def test_overlap_weights_count_every_customer_month_once():
    """Three monthly snapshots of one customer followed 12 months overlap; the weights spread
    each calendar month's one unit over the rows that hold it (12-month labels: a row's mean)."""
    from creditlab.features import overlap_weights

    train = pd.DataFrame(
        {
            "customer_id": ["A", "A", "A", "B"],
            "snapshot": pd.to_datetime(["2025-01-31", "2025-02-28", "2025-03-31", "2025-01-31"]),
            "follow_up_month": [12, 12, 2, 12],  # A's third row defaulted in its second month
        }
    )
    w = overlap_weights(train, hazard=True)
    assert w.shape == (4, 12)
    assert w[0, 0] == 1.0 and w[0, 1] == 0.5 and w[0, 2] == 1 / 3  # Feb: 2 rows, Mar: 3
    assert w[2, 2:].sum() == 0.0  # past the default: not followed
    assert np.allclose(w[3], 1.0)  # B's single row counts fully
    # each of A's calendar months sums to one: 12 + 1 months (Feb 2025 to Feb 2026)
    assert np.isclose(w[:3].sum(), 13.0)
    rows = overlap_weights(train, hazard=False)
    assert rows.shape == (4,) and rows[3] == 1.0 and rows[0] < 1.0
