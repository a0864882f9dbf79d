"""Loading and validation: structural errors stop with a precise message, row problems are rejected
with file, row, column and reason, and read = loaded + rejected for every file."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from creditlab.errors import RejectsError, SchemaError
from creditlab.ledger.load import load_ledger
from creditlab.run.params import load_params

CUSTOMERS = """customer_id,name,industry,country,credit_limit,payment_terms_days,onboarded_on
C1,Alpha <b>GmbH</b>,retail,DE,10000,30,2020-01-01
C2,Beta SAS,construction,FR,,45,2021-06-01
C3,Gamma,retail,DEU,5000,30,2020-01-01
"""
INVOICES_HEADER = "invoice_id,customer_id,issued_on,due_on,amount,currency,paid_on,disputed\n"
GOOD = "I1,C1,2024-01-01,2024-01-31,100.50,EUR,2024-02-10,no\n"


def write(folder, invoices_rows, customers=CUSTOMERS, header=INVOICES_HEADER):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "customers.csv").write_text(customers)
    (folder / "invoices.csv").write_text(header + "".join(invoices_rows))
    return folder


def reject_for(ledger, record_id):
    rows = ledger.rejects.loc[ledger.rejects["record_id"] == record_id]
    assert len(rows) == 1, f"expected one reject for {record_id}, got {len(rows)}"
    return rows.iloc[0]


def test_synthetic_portfolio_loads_without_rejects(ledger, portfolio):
    assert ledger.rejects.empty
    assert len(ledger.invoices) == len(portfolio.invoices)
    assert len(ledger.customers) == len(portfolio.customers)
    assert (ledger.counts["read"] == ledger.counts["loaded"] + ledger.counts["rejected"]).all()
    assert ledger.invoices["amount"].sum() == pytest.approx(portfolio.invoices["amount"].sum())


@pytest.mark.parametrize(
    ("row", "column", "reason"),
    [
        ("I2,C1,2024-13-01,2024-01-31,10,EUR,,no\n", "issued_on", "issued_on is not a date"),
        ("I2,C1,2024-01-01,2024-01-31,0,EUR,,no\n", "amount", "amount must be > 0"),
        ("I2,C1,2024-01-01,2024-01-31,0,EUR,,no\n", "amount", "amount must be > 0"),
        ("I2,C1,2024-01-01,2024-01-31,ten,EUR,,no\n", "amount", "amount is not a number"),
        ("I2,C1,2024-02-01,2024-01-31,10,EUR,,no\n", "due_on", "due_on is before issued_on"),
        (
            "I2,C1,2024-02-01,2024-03-01,10,EUR,2024-01-15,no\n",
            "paid_on",
            "paid_on is before issued_on",
        ),
        ("I2,C9,2024-01-01,2024-01-31,10,EUR,,no\n", "customer_id", "unknown customer_id"),
        ("I2,C1,2024-01-01,2024-01-31,10,USD,,no\n", "currency", "portfolio currency EUR"),
        ("I2,C1,2024-01-01,2024-01-31,10,EUR,,maybe\n", "disputed", "disputed is not yes/no"),
        ("I2,,2024-01-01,2024-01-31,10,EUR,,no\n", "customer_id", "missing customer_id"),
        ("I1,C1,2024-01-01,2024-01-31,10,EUR,,no\n", "invoice_id", "duplicate invoice_id"),
        ("I2,C3,2024-01-01,2024-01-31,10,EUR,,no\n", "customer_id", "customer_id was rejected"),
    ],
)
def test_row_problems_are_rejected_with_reason(tmp_path, row, column, reason):
    folder = write(tmp_path / "l", [GOOD, row])
    ledger = load_ledger(folder, currency="EUR")
    invoices = ledger.counts.set_index("table").loc["invoices"]
    assert (invoices["read"], invoices["loaded"], invoices["rejected"]) == (2, 1, 1)
    rejected = ledger.rejects.loc[ledger.rejects["file"] == "invoices.csv"].iloc[0]
    assert rejected["row"] == 3  # the header is row 1, the good invoice row 2
    assert column in rejected["column"]
    assert reason in rejected["reason"]
    assert list(ledger.invoices["invoice_id"]) == ["I1"]


def test_customer_rules(tmp_path):
    customers = (
        CUSTOMERS + "C4,Delta,retail,NL,-1,30,2020-01-01\nC5,Eps,retail,NL,1,30.5,2020-01-01\n"
    )
    ledger = load_ledger(write(tmp_path / "l", [GOOD], customers=customers), currency="EUR")
    assert "not an ISO 3166" in reject_for(ledger, "C3")["reason"]
    assert "credit_limit must be >= 0" in reject_for(ledger, "C4")["reason"]
    assert "not a whole number" in reject_for(ledger, "C5")["reason"]
    assert sorted(ledger.customers["customer_id"]) == ["C1", "C2"]
    assert ledger.customers.set_index("customer_id").loc["C2", "credit_limit"] != 0  # empty = NaN
    assert pd.isna(ledger.customers.set_index("customer_id").loc["C2", "credit_limit"])


def test_several_problems_in_one_row_are_all_named(tmp_path):
    ledger = load_ledger(
        write(tmp_path / "l", ["I2,C1,2024-02-01,2024-01-31,0,EUR,,no\n"]), currency="EUR"
    )
    reject = reject_for(ledger, "I2")
    assert reject["column"] == "amount; due_on"
    assert reject["value"] == "0; 2024-01-31"


def test_malformed_csv_rows_are_rejected_and_rows_keep_their_numbers(tmp_path):
    rows = [
        GOOD,
        "I2,C1,2024-01-01\n",
        "I3,C1,2024-01-01,2024-01-31,0,EUR,,no\n",
        "I4,C1,2024-01-01,2024-01-31,5,EUR,,no,extra\n",
        "I5,C1,2024-01-01,2024-01-31,x,EUR,,no\n",
    ]
    ledger = load_ledger(write(tmp_path / "l", rows), currency="EUR")
    rejects = ledger.rejects.loc[ledger.rejects["file"] == "invoices.csv"].set_index("row")
    assert sorted(rejects.index) == [3, 4, 5, 6]
    assert rejects.loc[3, "reason"].endswith("Expected Number of Columns: 8 Found: 3")
    assert rejects.loc[3, "reason"].startswith("malformed CSV row")
    assert rejects.loc[4, "record_id"] == "I3"  # numbered as in the file despite row 3's removal
    assert rejects.loc[6, "record_id"] == "I5"
    counts = ledger.counts.set_index("table").loc["invoices"]
    assert (counts["read"], counts["loaded"], counts["rejected"]) == (5, 1, 4)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: (f / "invoices.csv").unlink(), "invoices table not found"),
        (
            lambda f: (f / "invoices.csv").write_text(
                INVOICES_HEADER.replace(",amount", ",amt") + GOOD
            ),
            "no column 'amount' for invoices.amount \\(closest: amt\\)",
        ),
        (lambda f: (f / "invoices.csv").write_text(""), "empty"),
        (lambda f: (f / "invoices.csv").write_text(INVOICES_HEADER), "empty"),
        (
            lambda f: (f / "invoices.csv").write_text(
                INVOICES_HEADER.replace("paid_on", "amount") + GOOD
            ),
            "duplicate column name",
        ),
        (
            lambda f: (f / "invoices.csv").write_bytes(
                INVOICES_HEADER.encode()
                + "I1,C1,2024-01-01,2024-01-31,1,EUR,,n\u00e9\n".encode("latin-1")
            ),
            "not valid utf-8",
        ),
    ],
)
def test_structural_problems_stop_with_file_and_column(tmp_path, mutate, message):
    folder = write(tmp_path / "l", [GOOD])
    mutate(folder)
    with pytest.raises(SchemaError, match=message) as info:
        load_ledger(folder, currency="EUR")
    assert "invoices" in str(info.value)


def test_strict_mode_raises_after_counting(tmp_path):
    customers = CUSTOMERS.replace("DEU", "DE")
    ledger = load_ledger(
        write(tmp_path / "l", [GOOD, "I2,C1,x,2024-01-31,1,EUR,,n\n"], customers=customers)
    )
    with pytest.raises(RejectsError, match="1 row.*invoices.csv row 3, column issued_on"):
        ledger.raise_if_rejects()


def test_parquet_and_duckdb_sources_load_the_same_ledger(ledger, portfolio_dir, tmp_path):
    pq = tmp_path / "pq"
    pq.mkdir()
    db = tmp_path / "ledger.duckdb"
    with duckdb.connect(str(db)) as con:
        for name in ("customers", "invoices", "events"):
            frame = pd.read_csv(portfolio_dir / f"{name}.csv", dtype=str, keep_default_na=False)
            frame.to_parquet(pq / f"{name}.parquet")
            con.execute(f"CREATE TABLE {name} AS SELECT * FROM frame")
    for source in (pq, db):
        other = load_ledger(source, currency="EUR")
        assert other.rejects.empty
        pd.testing.assert_frame_equal(other.invoices, ledger.invoices, check_dtype=False)


def test_mapping_translates_columns_dates_and_codes(tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "ar.csv").write_text(
        "Inv;Cust;Date;Due;Amt;Paid;Disp\n"
        "A-1;X;1/3/2024;2/2/2024;10.5;2/5/2024;Yes\n"
        "A-2;X;1/20/2024;2/19/2024;7;;No\n"
        "A-3;Y;31/1/2024;2/19/2024;7;;No\n"
    )
    mapping = {
        "files": {"invoices": "ar.csv", "customers": None},
        "delimiter": ";",
        "date_format": "%m/%d/%Y",
        "columns": {
            "invoices": {
                "invoice_id": "Inv",
                "customer_id": "Cust",
                "issued_on": "Date",
                "due_on": "Due",
                "amount": "Amt",
                "paid_on": "Paid",
                "disputed": "Disp",
            }
        },
        "values": {"invoices": {"disputed": {"Yes": "true", "No": "false"}}},
        "derive_customers": {"constants": {"industry": "unknown", "country": "XA"}},
    }
    ledger = load_ledger(folder, mapping, currency="EUR")
    assert list(ledger.invoices["invoice_id"]) == ["A-1", "A-2"]
    assert ledger.invoices["disputed"].tolist() == [True, False]
    assert ledger.invoices["issued_on"].iloc[0] == pd.Timestamp("2024-01-03")
    assert "not a date (%m/%d/%Y)" in reject_for(ledger, "A-3")["reason"]
    customers = ledger.customers.set_index("customer_id")
    assert customers.loc["X", "payment_terms_days"] == 30
    assert customers.loc["X", "onboarded_on"] == pd.Timestamp("2024-01-03")
    assert any("derived from the invoices" in n for n in ledger.notes)
    assert any("taken to be in EUR" in n for n in ledger.notes)


@pytest.mark.realdata
def test_ibm_ar_loads_with_zero_rejects(ibm_ar_dir):
    params = load_params("params/ibm_ar.yaml", data=ibm_ar_dir)
    ledger = load_ledger(params.data, params.mapping, currency=params.currency)
    assert ledger.rejects.empty
    assert len(ledger.invoices) == 2466
    assert len(ledger.customers) == 100
    assert ledger.invoices["invoice_id"].str.startswith("0").any()  # leading zeros kept
    assert set(ledger.customers["country"]) == {"XA", "XB", "XC", "XD", "XE"}
    # the README's facts: 35.6 % late; 68.3 % late when disputed
    late = ledger.invoices["paid_on"] > ledger.invoices["due_on"]
    assert late.mean() == pytest.approx(0.356, abs=0.001)
    assert late[ledger.invoices["disputed"]].mean() == pytest.approx(0.683, abs=0.001)
    assert ledger.counts["sha256"].iloc[0].startswith("f5d488ea")


def test_values_are_trimmed_and_events_are_checked(tmp_path):
    folder = write(tmp_path / "l", [" I1 , C1 ,2024-01-01, 2024-01-31 ,100, EUR,,no\n"])
    (folder / "events.csv").write_text(
        "customer_id,event_on,kind\nC1,2024-03-01,write_off\nC1,2024-03-02,lawsuit\n"
        "C9,2024-03-01,insolvency\nC1,2024-03-01,write_off\n"
    )
    ledger = load_ledger(folder, currency="EUR")
    assert ledger.invoices["invoice_id"].tolist() == ["I1"]
    assert ledger.invoices["customer_id"].tolist() == ["C1"]
    events = ledger.rejects.loc[ledger.rejects["file"] == "events.csv"].set_index("row")
    assert "kind is not an event kind" in events.loc[3, "reason"]
    assert "unknown customer_id" in events.loc[4, "reason"]
    assert "exact duplicate of row 2" in events.loc[5, "reason"]
    assert len(ledger.events) == 1


def test_relationship_events_load_with_their_columns_and_rules(tmp_path):
    """Promises, disputes on invoices, contacts and external signals: each kind's rule rejects a
    row that breaks it, an invoice reference must be the customer's own, and an event about the
    customer keeps an empty invoice_id (part of the key: one letter disputing two invoices)."""
    folder = write(
        tmp_path / "l",
        [
            GOOD,
            "I2,C1,2024-01-05,2024-02-04,80,EUR,,no\n",
            "I3,C2,2024-01-05,2024-02-19,50,EUR,,no\n",
        ],
    )
    (folder / "events.csv").write_text(
        "customer_id,event_on,kind,invoice_id,promised_on,amount,channel,outcome,detail,value,note\n"
        "C1,2024-02-05,dispute_opened,I1,,40,,,wrong price,,\n"  # 2
        "C1,2024-02-05,dispute_opened,I2,,80,,,damaged goods,,\n"  # 3: same day, other invoice
        'C1,2024-02-10,promise_to_pay,I2,2024-02-20,80,phone,promised,,,"call \r\nBcc: x"\n'  # 4
        "C1,2024-02-11,promise_to_pay,,,80,,,,,\n"  # 5: no promised_on
        "C1,2024-02-12,promise_to_pay,,2024-02-01,80,,,,,\n"  # 6: promised before the event
        "C1,2024-02-13,external_signal,,,,,,,540,\n"  # 7: which signal?
        "C1,2024-02-14,external_signal,,,,,,bureau_score,540,<script>x</script>\n"  # 8
        "C1,2024-02-15,contact,I3,,,email,,,,\n"  # 9: C2's invoice
        "C1,2024-02-16,contact,I9,,,email,,,,\n"  # 10: no such invoice
        "C2,2024-02-16,master_data_change,,,,,,bank_account,,\n"  # 11
    )
    ledger = load_ledger(folder, currency="EUR")
    bad = ledger.rejects.loc[ledger.rejects["file"] == "events.csv"].set_index("row")
    assert sorted(bad.index) == [5, 6, 7, 9, 10]
    assert "a promise_to_pay needs promised_on" in bad.loc[5, "reason"]
    assert "promised_on is before event_on" in bad.loc[6, "reason"]
    assert "an external_signal needs detail" in bad.loc[7, "reason"]
    assert bad.loc[9, "reason"] == "invoice_id is an invoice of customer C2"
    assert "unknown invoice_id" in bad.loc[10, "reason"]
    ev = ledger.events.set_index(["kind", "invoice_id"])
    assert len(ledger.events) == 5
    assert ev.loc[("dispute_opened", "I2"), "detail"] == "damaged goods"
    assert ev.loc[("promise_to_pay", "I2"), "promised_on"] == pd.Timestamp("2024-02-20")
    assert ev.loc[("external_signal", ""), "value"] == 540
    assert ev.loc[("master_data_change", ""), "detail"] == "bank_account"
    count = ledger.counts.set_index("table").loc["events"]
    assert (count["read"], count["loaded"], count["rejected"]) == (10, 5, 5)
