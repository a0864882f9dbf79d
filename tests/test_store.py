"""The DuckDB store: idempotent re-ingest, and newer exports update open invoices in place."""

from __future__ import annotations

import pandas as pd

from creditlab.ledger.load import load_ledger
from creditlab.ledger.store import ingest, read_store


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
