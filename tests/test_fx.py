"""Several currencies: invoices converted at their issue date's rate (originals kept), open ones
revalued at the as-of rate, a missing rate rejected with the date and the source named."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from creditlab.errors import ConfigError
from creditlab.ledger.fx import load_fx, revalue_open
from creditlab.ledger.load import load_ledger

CUSTOMERS = """customer_id,name,industry,country,credit_limit,payment_terms_days,onboarded_on
C1,Alpha,retail,CA,10000,30,2020-01-01
"""
INVOICES = """invoice_id,customer_id,issued_on,due_on,amount,currency,paid_on,disputed
I1,C1,2024-01-10,2024-02-09,100,CAD,2024-02-01,no
I2,C1,2024-02-10,2024-03-11,100,CAD,,no
I3,C1,2023-12-01,2023-12-31,100,CAD,,no
I4,C1,2024-02-10,2024-03-11,80,EUR,,no
I5,C1,2024-02-10,2024-03-11,80,GBP,,no
"""
RATES = "date,currency,rate\n2024-01-01,CAD,0.70\n2024-02-01,CAD,0.68\n2024-03-01,CAD,0.65\n"


@pytest.fixture
def ledger_dir(tmp_path):
    folder = tmp_path / "ledger"
    folder.mkdir()
    (folder / "customers.csv").write_text(CUSTOMERS)
    (folder / "invoices.csv").write_text(INVOICES)
    (tmp_path / "rates.csv").write_text(RATES)
    return folder


def test_invoices_convert_at_the_issue_date_and_keep_their_originals(ledger_dir, tmp_path):
    fx = load_fx({"rates": "rates.csv"}, tmp_path)
    ledger = load_ledger(ledger_dir, currency="EUR", fx=fx)
    inv = ledger.invoices.set_index("invoice_id")
    assert inv.loc["I1", "amount"] == pytest.approx(70.0)  # the 2024-01-01 rate
    assert inv.loc["I2", "amount"] == pytest.approx(68.0)  # the 2024-02-01 rate
    assert (inv.loc["I1", "currency"], inv.loc["I1", "currency_original"]) == ("EUR", "CAD")
    assert inv.loc["I2", "amount_original"] == 100 and inv.loc["I2", "fx_rate"] == 0.68
    assert inv.loc["I4", "fx_rate"] == 1.0 and inv.loc["I4", "amount"] == 80
    rejects = ledger.rejects.set_index("record_id")
    assert rejects.loc["I3", "reason"].startswith(
        "no CAD rate in the 45 days up to 2023-12-01 in the FX rates (rates.csv"
    )
    assert "no CAD rate" not in rejects.loc["I5", "reason"]
    assert rejects.loc["I5", "reason"].startswith("no GBP rate in the 45 days up to 2024-02-10")
    assert any("2 invoices in CAD" in n and "0.68 to 0.7" in n for n in ledger.notes)

    revalued, notes = revalue_open(ledger.invoices, fx, dt.date(2024, 3, 5))
    inv = revalued.set_index("invoice_id")
    assert inv.loc["I2", "amount"] == pytest.approx(65.0)  # open: the as-of rate
    assert inv.loc["I1", "amount"] == pytest.approx(70.0)  # paid before the as-of: history
    assert notes == [
        "1 CAD invoices open on 2024-03-05 are valued at 0.65, the CAD rate on that date"
    ]


def test_without_rates_other_currencies_are_rejected_with_how_to_give_them(ledger_dir):
    ledger = load_ledger(ledger_dir, currency="EUR")
    reason = ledger.rejects.set_index("record_id").loc["I1", "reason"]
    assert reason.startswith("currency CAD differs from the portfolio currency EUR and no FX rates")
    assert "fx: {constant: {CODE: rate}}" in reason
    assert len(ledger.invoices) == 1


def test_constant_rates_apply_on_every_date(ledger_dir, tmp_path):
    fx = load_fx({"constant": {"CAD": 0.5, "GBP": 1.2}}, tmp_path)
    ledger = load_ledger(ledger_dir, currency="EUR", fx=fx)
    assert ledger.rejects.empty
    inv = ledger.invoices.set_index("invoice_id")
    assert inv.loc["I3", "amount"] == 50 and inv.loc["I5", "amount"] == 96


@pytest.mark.parametrize(
    "rates, message",
    [
        (
            "date,currency,rate\n2024-01-01,CAD,-1\n",
            r"rates.csv row 2, column rate: a rate must be a positive",
        ),
        (
            "date,currency,rate\n01/01/2024,CAD,1\n",
            r"rates.csv row 2, column date: '01/01/2024' is not a date",
        ),
        (
            "date,currency,rate\n2024-01-01,cad,1\n",
            r"row 2, column currency: expected an ISO 4217 code",
        ),
        ("date,curr,rate\n2024-01-01,CAD,1\n", r"missing column\(s\) \['currency'\]"),
        (
            "date,currency,rate\n2024-01-01,CAD,1\n2024-01-01,CAD,2\n",
            r"two rates for CAD on 2024-01-01 \(rows 2, 3\)",
        ),
    ],
)
def test_a_bad_rates_file_is_one_clear_error_naming_row_and_column(tmp_path, rates, message):
    (tmp_path / "rates.csv").write_text(rates)
    with pytest.raises(ConfigError, match=message):
        load_fx({"rates": "rates.csv"}, tmp_path)


def test_fx_section_mistakes_are_named():
    with pytest.raises(ConfigError, match="unknown key"):
        load_fx({"rate": "x.csv"}, Path("."))
    with pytest.raises(ConfigError, match="not found"):
        load_fx({"rates": "nowhere.csv"}, Path("."))
    with pytest.raises(ConfigError, match="positive number"):
        load_fx({"constant": {"CAD": "zero"}}, Path("."))


def test_a_rates_file_that_stops_early_is_no_rate_for_later_invoices(ledger_dir, tmp_path):
    (tmp_path / "rates.csv").write_text("date,currency,rate\n2024-01-01,CAD,0.70\n")
    fx = load_fx({"rates": "rates.csv", "max_age_days": 20}, tmp_path)
    ledger = load_ledger(ledger_dir, currency="EUR", fx=fx)
    rejects = ledger.rejects.set_index("record_id")
    assert "I1" in set(ledger.invoices["invoice_id"])  # 9 days after the rate
    assert rejects.loc["I2", "reason"].startswith("no CAD rate in the 20 days up to 2024-02-10")
    assert fx.rate_on("CAD", dt.date(2024, 1, 21)) == 0.70
    assert fx.rate_on("CAD", dt.date(2024, 1, 22)) is None
    _, notes = revalue_open(ledger.invoices.assign(paid_on=pd.NaT), fx, dt.date(2024, 3, 1))
    assert notes == [
        "No CAD rate within 20 days before 2024-03-01: the 1 open CAD invoices keep their issue dates' rates."
    ]
    with pytest.raises(ConfigError, match="max_age_days: expected a whole number"):
        load_fx({"rates": "rates.csv", "max_age_days": "a month"}, tmp_path)
