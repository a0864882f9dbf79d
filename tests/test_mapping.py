"""Real exports in: derived columns, code tables, id normalisation, duplicates told apart, optional
columns with their consequence noted, every missing column named at once."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from creditlab.errors import ConfigError, SchemaError
from creditlab.ledger.fx import load_fx
from creditlab.ledger.guess import draft_params, guess_export
from creditlab.ledger.load import load_ledger
from creditlab.ledger.mapping import parse_mapping
from creditlab.run.params import load_params

EXPORT = "doc,cust,name,due,paid,amt,terms\n"
MAPPING = {
    "files": {"invoices": "ar.csv", "customers": None},
    "columns": {
        "invoices": {
            "invoice_id": "doc",
            "customer_id": "cust",
            "due_on": "due",
            "paid_on": "paid",
            "amount": "amt",
        }
    },
    "derive": {"invoices": {"issued_on": "due_on - TRY_CAST(terms AS INTEGER)"}},
    "derive_customers": {"columns": {"name": "name", "payment_terms_days": "terms"}},
}


def export(tmp_path, rows, header=EXPORT):
    folder = tmp_path / "export"
    folder.mkdir(exist_ok=True)
    (folder / "ar.csv").write_text(header + "".join(rows))
    return folder


def ledger_folder(tmp_path, customers: str, invoices: str) -> Path:
    """A ledger folder with a customers and an invoices file."""
    folder = tmp_path / "l"
    folder.mkdir()
    (folder / "customers.csv").write_text(customers)
    (folder / "invoices.csv").write_text(invoices)
    return folder


def rejects_by_id(ledger):
    return ledger.rejects.set_index("record_id")


def test_issue_dates_are_derived_from_due_dates_and_terms(tmp_path):
    folder = export(
        tmp_path,
        [
            "D1,C1,Acme,2024-02-15,2024-02-20,100,30\n",
            "D2,C1,Acme,2024-03-15,,50,15\n",
            "D3,C2,Beta,2024-03-01,,70,abc\n",  # the expression gives NULL: rejected, named
        ],
    )
    ledger = load_ledger(folder, MAPPING, currency="EUR")
    issued = ledger.invoices.set_index("invoice_id")["issued_on"]
    assert issued["D1"] == pd.Timestamp("2024-01-16")
    assert issued["D2"] == pd.Timestamp("2024-02-29")
    bad = rejects_by_id(ledger).loc["D3"]
    assert bad["column"].startswith("issued_on")
    assert "derive: due_on - TRY_CAST(terms AS INTEGER) gave no value" in bad["reason"]
    assert ledger.counts["read"].sum() == ledger.counts["loaded"].sum() + len(ledger.rejects)


def test_a_derive_expression_that_does_not_evaluate_is_one_clear_error(tmp_path):
    folder = export(tmp_path, ["D1,C1,Acme,2024-02-15,,100,30\n"])
    mapping = {**MAPPING, "derive": {"invoices": {"issued_on": "due_on - termz"}}}
    with pytest.raises(
        ConfigError,
        match=r"mapping.derive.invoices.issued_on: cannot evaluate 'due_on - termz'.*termz",
    ):
        load_ledger(folder, mapping, currency="EUR")
    strict = {**MAPPING, "derive": {"invoices": {"issued_on": "due_on - CAST(terms AS INTEGER)"}}}
    folder = export(tmp_path, ["D2,C1,Acme,2024-02-15,,100,abc\n"])
    with pytest.raises(ConfigError, match=r"an expression failed on a value.*'abc'.*use TRY_CAST"):
        load_ledger(folder, strict, currency="EUR")
    with pytest.raises(ConfigError, match="one SQL expression"):
        parse_mapping({"derive": {"invoices": {"issued_on": "1; DROP TABLE x"}}})
    with pytest.raises(ConfigError, match="also given in mapping.columns"):
        parse_mapping({**MAPPING, "derive": {"invoices": {"amount": "1"}}})


def test_code_tables_translate_and_reject_unlisted_codes(tmp_path):
    folder = export(
        tmp_path,
        [
            "D1,C1,Acme,2024-02-15,,100,NT30\n",
            "D2,C2,Beta,2024-02-15,,100,NT99\n",
        ],
    )
    mapping = {
        **MAPPING,
        "derive": {"invoices": {"issued_on": "due_on - 30"}},
        "codes": {"customers": {"payment_terms_days": {"NT30": 30, "NT15": 15}}},
    }
    ledger = load_ledger(folder, mapping, currency="EUR")
    customers = ledger.customers.set_index("customer_id")
    assert customers.loc["C1", "payment_terms_days"] == 30
    bad = rejects_by_id(ledger).loc["C2"]
    assert bad["column"] == "payment_terms_days" and bad["value"] == "NT99"
    assert bad["reason"] == "code not in mapping.codes.customers.payment_terms_days"
    # the customer's invoice is rejected too, pointing at the customer's row
    assert "customer_id was rejected" in rejects_by_id(ledger).loc["D2", "reason"]


def test_ids_are_normalised_before_keys_are_checked_and_merges_are_counted(tmp_path):
    folder = export(
        tmp_path,
        [
            "D1,0200769623,Wal,2024-02-15,,100,30\n",
            "D2,200769623 ,Wal,2024-02-16,,100,30\n",
            "d3,0000,Zero,2024-02-16,,100,30\n",
        ],
    )
    mapping = {
        **MAPPING,
        "normalize": {"customer_id": ["trim", "strip_leading_zeros"], "invoice_id": ["upper"]},
    }
    ledger = load_ledger(folder, mapping, currency="EUR")
    assert sorted(ledger.customers["customer_id"]) == ["0", "200769623"]
    assert ledger.invoices["invoice_id"].tolist() == ["D1", "D2", "D3"]
    assert any("3 spellings became 2 ids (1 merged)" in n for n in ledger.notes)
    with pytest.raises(ConfigError, match="unknown rule"):
        parse_mapping({"normalize": {"customer_id": ["strip_zeros"]}})
    with pytest.raises(ConfigError, match="not an id column"):
        parse_mapping({"normalize": {"amount": ["trim"]}})


def test_a_normalisation_that_merges_two_customers_names_both_rows(tmp_path):
    folder = ledger_folder(
        tmp_path,
        "customer_id,name,industry,country,credit_limit,payment_terms_days,onboarded_on\n"
        "007,Alpha,retail,DE,100,30,2020-01-01\n"
        "7,Beta,retail,DE,100,30,2020-01-01\n"
        "8,Gamma,retail,DE,100,30,2020-01-01\n"
        "8,Gamma,retail,DE,100,30,2020-01-01\n",
        "invoice_id,customer_id,issued_on,due_on,amount,currency,paid_on,disputed\n"
        "I1,007,2024-01-01,2024-01-31,10,EUR,,no\n",
    )
    ledger = load_ledger(
        folder, {"normalize": {"customer_id": ["strip_leading_zeros"]}}, currency="EUR"
    )
    rejects = ledger.rejects.set_index("row")
    assert rejects.loc[3, "reason"] == (
        "conflicting duplicate customer_id: row 2 has the same customer_id with different values "
        "(row 2 is kept, check which is right)"
    )
    assert rejects.loc[5, "reason"] == "exact duplicate of row 4"
    assert ledger.customers.set_index("customer_id").loc["7", "name"] == "Alpha"


def test_missing_required_columns_are_all_named_at_once_with_close_names(tmp_path):
    folder = export(
        tmp_path,
        ["D1,C1,Acme,2024-02-15,,100,30\n"],
        header="doc,cust,nme,due_date,paid,amt,terms\n",
    )
    mapping = {
        "files": {"invoices": "ar.csv", "customers": None},
        "columns": {
            "invoices": {
                "invoice_id": "doc",
                "customer_id": "cust",
                "paid_on": "paid",
                "amount": "amt",
            }
        },
    }
    with pytest.raises(SchemaError) as info:
        load_ledger(folder, mapping, currency="EUR")
    text = str(info.value)
    assert "no column 'issued_on' for invoices.issued_on" in text
    assert "no column 'due_on' for invoices.due_on (closest: due_date)" in text
    assert "disputed" not in text  # optional now: its absence is a note, not an error


def test_absent_optional_columns_take_their_default_and_say_what_it_costs(tmp_path):
    folder = ledger_folder(
        tmp_path,
        "customer_id,name,payment_terms_days,onboarded_on\nC1,Alpha,30,2020-01-01\n",
        "invoice_id,customer_id,issued_on,due_on,amount,currency,paid_on\n"
        "I1,C1,2024-01-01,2024-01-31,10,EUR,\n",
    )
    ledger = load_ledger(folder, currency="EUR")
    row = ledger.customers.iloc[0]
    assert (row["industry"], row["country"]) == ("unknown", "ZZ")
    assert pd.isna(row["credit_limit"])
    assert not ledger.invoices["disputed"].iloc[0]
    notes = " ".join(ledger.notes)
    assert "no credit limits: utilisation and limit-breach alerts are left out" in notes
    assert "no dispute flag" in notes and "no industry" in notes


@pytest.mark.realdata
def test_the_highradius_export_loads_with_only_the_duplicate_copies_rejected(highradius_dir):
    params = load_params("params/highradius_ar.yaml", data=highradius_dir)
    fx = load_fx(params.fx, Path("/"))
    ledger = load_ledger(params.data, params.mapping, currency=params.currency, fx=fx)
    counts = ledger.counts.set_index("table")
    assert counts.loc["invoices", "read"] == 34_989
    assert counts.loc["invoices", "loaded"] == 34_224  # the README's distinct invoice ids
    assert ledger.rejects["reason"].str.startswith("exact duplicate of row").all()
    assert len(ledger.rejects) == 765
    assert len(ledger.customers) == 976  # the README's customer keys: 1,276 spellings merged
    assert any("1,276 spellings became 976 ids (300 merged)" in n for n in ledger.notes)
    inv = ledger.invoices
    cad = inv["currency_original"] == "CAD"
    assert (inv["currency"] == "USD").all() and cad.sum() > 2_800
    assert inv.loc[cad, "amount"].values == pytest.approx(
        inv.loc[cad, "amount_original"].values * 0.7537, abs=0.006
    )
    assert (inv["issued_on"] <= inv["due_on"]).all() and (inv["paid_on"] >= inv["issued_on"]).all()


def test_init_drafts_a_mapping_that_validates_after_its_todos(tmp_path):
    folder = tmp_path / "erp"
    folder.mkdir()
    (folder / "AR_export.csv").write_text(
        "Document Number;Customer No;Customer Name;Net Due Date;Clearing Date;Amount;Curr\n"
        "90001;00042;Acme Ltd;15.03.2024;20.03.2024;1200.50;EUR\n"
        + "90002;42;Acme Ltd;30.03.2024;;300;EUR\n"
        + "90003;00077;Beta AG;30.03.2024;;80;CHF\n"
    )
    guess = guess_export(folder)
    inv = guess.tables["invoices"]
    assert inv.mapped == {
        "invoice_id": "Document Number",
        "customer_id": "Customer No",
        "due_on": "Net Due Date",
        "paid_on": "Clearing Date",
        "amount": "Amount",
        "currency": "Curr",
    }
    assert inv.date_format == "%d.%m.%Y" and inv.id_merges == 1
    out = tmp_path / "params" / "mine.yaml"
    text = draft_params(guess, out)
    assert "customer_id: [trim, strip_leading_zeros]" in text and "constant: {CHF: TODO}" in text
    assert "model: {holidays: ECB}" in text  # TARGET2 holidays for a euro ledger's payments
    out.parent.mkdir()
    out.write_text(text)
    with pytest.raises(ConfigError, match="fx.constant.CHF: a rate must be a positive number"):
        load_params(out)
    out.write_text(text.replace("CHF: TODO", "CHF: 1.05"))
    params = load_params(out)
    assert params.data == folder.resolve()
    ledger = load_ledger(
        params.data, params.mapping, currency=params.currency, fx=load_fx(params.fx, Path("/"))
    )
    assert ledger.rejects.empty and len(ledger.customers) == 2
    assert ledger.invoices.set_index("invoice_id").loc["90003", "amount"] == pytest.approx(84.0)


CN_CUSTOMERS = """customer_id,name,industry,country,credit_limit,payment_terms_days,onboarded_on
C1,Alpha,retail,DE,1000,30,2020-01-01
"""


def test_negative_amounts_load_as_credit_notes_and_every_row_is_counted(tmp_path):
    folder = ledger_folder(
        tmp_path,
        CN_CUSTOMERS,
        "invoice_id,customer_id,issued_on,due_on,amount,currency,paid_on\n"
        "I1,C1,2024-01-01,2024-01-31,500,EUR,\n"
        "CN1,C1,2024-01-10,2024-01-10,-120,EUR,\n"
        "CN2,C1,2024-01-12,2024-01-10,-80,EUR,\n"  # a bad credit note is rejected, not dropped
        "I2,C1,2024-01-05,2024-02-04,0,EUR,\n",
    )
    ledger = load_ledger(folder, currency="EUR")
    assert ledger.invoices["invoice_id"].tolist() == ["I1"]
    assert ledger.credit_notes[["invoice_id", "amount"]].values.tolist() == [["CN1", 120.0]]
    rejects = ledger.rejects.set_index("record_id")
    assert rejects.loc["CN2", "reason"] == "due_on is before issued_on"
    assert rejects.loc["I2", "reason"] == "amount must be > 0"
    counts = ledger.counts.set_index("table")
    assert counts.loc["credit_notes", ["read", "loaded", "rejected"]].tolist() == [1, 1, 0]
    assert counts.loc["invoices", ["read", "loaded", "rejected"]].tolist() == [3, 1, 2]
    assert counts.loc[["invoices", "credit_notes"], "read"].sum() == 4  # the file's rows
    assert any("1 rows of the invoices are credit notes" in n for n in ledger.notes)


def test_credit_notes_by_document_type_or_none(tmp_path):
    folder = ledger_folder(
        tmp_path,
        CN_CUSTOMERS,
        "invoice_id,customer_id,issued_on,due_on,amount,currency,paid_on,doc_type\n"
        "I1,C1,2024-01-01,2024-01-31,500,EUR,,RV\n"
        "G1,C1,2024-01-10,2024-01-10,75,EUR,2024-01-20,G2\n"
        "I3,C1,2024-01-10,2024-01-10,-5,EUR,,RV\n",
    )
    ledger = load_ledger(folder, {"credit_notes": "doc_type = 'G2'"}, currency="EUR")
    assert ledger.credit_notes["invoice_id"].tolist() == ["G1"]
    assert ledger.credit_notes["amount"].tolist() == [75.0]
    assert ledger.rejects.set_index("record_id").loc["I3", "reason"] == "amount must be > 0"
    none = load_ledger(folder, {"credit_notes": None}, currency="EUR")
    assert none.credit_notes.empty and "I3" in set(none.rejects["record_id"])
    with pytest.raises(ConfigError, match="mapping.credit_notes: cannot evaluate"):
        load_ledger(folder, {"credit_notes": "doctype = 'G2'"}, currency="EUR")


def test_a_customers_file_without_terms_or_onboarding_takes_them_from_the_invoices(tmp_path):
    folder = ledger_folder(
        tmp_path,
        "customer_id,name,industry,country\nc1,Alpha,retail,DE\nC2,Beta,retail,DE\n",
        "invoice_id,customer_id,issued_on,due_on,amount,currency,paid_on\n"
        "I1,C1,2024-01-01,2024-01-31,10,EUR,\n"
        "I2,C1,2023-06-01,2023-06-21,10,EUR,\n"
        "I3,C1,2024-02-01,2024-03-02,10,EUR,\n",
    )
    ledger = load_ledger(folder, {"normalize": {"customer_id": ["upper"]}}, currency="EUR")
    c1 = ledger.customers.set_index("customer_id").loc["C1"]
    assert c1["payment_terms_days"] == 30 and c1["onboarded_on"] == pd.Timestamp("2023-06-01")
    bad = ledger.rejects.set_index("record_id").loc["C2"]  # no invoices: nothing to take them from
    assert bad["column"] == "payment_terms_days; onboarded_on"
    assert bad["row"] == 3  # the file's own row number
    assert any("has no onboarded_on: each customer's first invoice date" in n for n in ledger.notes)
