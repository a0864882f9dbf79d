"""The DuckDB store: idempotent re-ingest, and newer exports update open invoices in place."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pandas as pd

from creditlab.ledger.fx import load_fx
from creditlab.ledger.load import load_ledger
from creditlab.ledger.store import append_scores, ingest, last_run_before, read_store
from creditlab.run.stages.kpis import comparison_date


def test_reingest_is_idempotent_and_updates_paid_invoices(ledger_copy, tmp_path):
    store = tmp_path / "store.duckdb"
    first = load_ledger(ledger_copy, currency="EUR")
    r1 = ingest(first, store)
    assert r1.inserted["invoices"] == len(first.invoices)
    r2 = ingest(first, store)
    assert r2.inserted["invoices"] == 0 and r2.updated["invoices"] == 0
    assert r2.unchanged["invoices"] == len(first.invoices)

    # a newer export: two open invoices got paid, one new invoice arrived
    inv = pd.read_csv(ledger_copy / "invoices.csv", dtype=str, keep_default_na=False)
    open_idx = inv.index[inv["paid_on"] == ""][:2]
    inv.loc[open_idx, "paid_on"] = "2026-11-20"
    new = inv.iloc[[0]].assign(invoice_id="INV-NEW", paid_on="")
    pd.concat([inv, new]).to_csv(ledger_copy / "invoices.csv", index=False)
    r3 = ingest(load_ledger(ledger_copy, currency="EUR"), store)
    assert (r3.inserted["invoices"], r3.updated["invoices"]) == (1, 2)

    stored = read_store(store)["invoices"].set_index("invoice_id")
    assert len(stored) == len(first.invoices) + 1 and stored.index.is_unique
    ids = inv.loc[open_idx, "invoice_id"]
    assert (stored.loc[ids, "paid_on"] == pd.Timestamp("2026-11-20")).all()


def test_credit_notes_fx_originals_and_kept_columns_are_stored(tmp_path):
    folder = tmp_path / "l"
    folder.mkdir()
    (folder / "customers.csv").write_text(
        "customer_id,name,industry,country,credit_limit,payment_terms_days,onboarded_on\n"
        "C1,Alpha,retail,CA,1000,30,2020-01-01\n"
    )
    (folder / "invoices.csv").write_text(
        "invoice_id,customer_id,issued_on,due_on,amount,currency,paid_on,disputed,channel\n"
        "I1,C1,2024-01-01,2024-01-31,100,CAD,,no,web\n"
        "I2,C1,2024-01-05,2024-02-04,50,EUR,,no,edi\n"
        "K1,C1,2024-01-10,2024-01-10,-20,CAD,,no,web\n"
    )
    ledger = load_ledger(
        folder,
        {"keep": {"invoices": {"channel": "channel"}}},
        currency="EUR",
        fx=load_fx({"constant": {"CAD": 0.5}}, tmp_path),
    )
    store = tmp_path / "store.duckdb"
    ingest(ledger, store)
    assert ingest(ledger, store).unchanged == {
        "customers": 1,
        "invoices": 2,
        "events": 0,
        "credit_notes": 1,
    }
    stored = read_store(store)
    inv = stored["invoices"].set_index("invoice_id")
    assert inv.loc["I1", "amount"] == 50 and inv.loc["I1", "amount_original"] == 100
    assert inv.loc["I1", "currency_original"] == "CAD" and inv.loc["I2", "channel"] == "edi"
    assert stored["credit_notes"][["invoice_id", "amount"]].values.tolist() == [["K1", 10.0]]


def test_this_week_compares_with_the_latest_earlier_run(tmp_path):
    store = tmp_path / "store.duckdb"
    run = SimpleNamespace(params=SimpleNamespace(store=store), as_of=dt.date(2026, 11, 20))
    assert comparison_date(run) == (
        dt.date(2026, 11, 13),
        "one week earlier (no earlier run in the store)",
    )
    scores = pd.DataFrame(
        {"customer_id": ["C1"], "pd_mean": [0.1], "pd_lo": [0.05], "pd_hi": [0.2]}
    )
    append_scores(store, scores, dt.date(2026, 11, 6), "r-old")
    append_scores(store, scores, dt.date(2026, 11, 9), "r-last")
    append_scores(store, scores, dt.date(2026, 11, 20), "r-same-day")  # not earlier: not used
    assert last_run_before(store, dt.date(2026, 11, 20)) == ("r-last", dt.date(2026, 11, 9))
    assert comparison_date(run) == (dt.date(2026, 11, 9), "the previous run (r-last)")
