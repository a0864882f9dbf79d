"""The ledger store: an embedded DuckDB database that accumulates validated exports.

Ingesting is an upsert on each table's key, so re-ingesting the same export changes nothing and a
newer export of the same ledger updates open invoices (``paid_on`` filled) without duplicating them.
Every ingest is logged in ``ingests`` with its data hash and counts.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from pathlib import Path

import duckdb
import pandas as pd

from creditlab.errors import SchemaError
from creditlab.ledger.load import Ledger
from creditlab.ledger.schema import TABLES, TableSpec

__all__ = ["IngestResult", "ingest", "read_store"]

log = logging.getLogger(__name__)

_SQL_TYPES = {
    "id": "VARCHAR",
    "text": "VARCHAR",
    "category": "VARCHAR",
    "country": "VARCHAR",
    "currency": "VARCHAR",
    "event_kind": "VARCHAR",
    "date": "DATE",
    "decimal": "DOUBLE",
    "number": "DOUBLE",
    "int": "BIGINT",
    "bool": "BOOLEAN",
}


@dataclasses.dataclass(frozen=True)
class IngestResult:
    """Rows per table that were new, changed, or already stored as they are."""

    inserted: dict[str, int]
    updated: dict[str, int]
    unchanged: dict[str, int]


def _create(con: duckdb.DuckDBPyConnection, spec: TableSpec) -> None:
    cols = ", ".join(f'"{c.name}" {_SQL_TYPES[c.kind]}' for c in spec.columns)
    key = ", ".join(f'"{k}"' for k in spec.key)
    con.execute(f"CREATE TABLE IF NOT EXISTS {spec.name} ({cols}, PRIMARY KEY ({key}))")


def _connect(store: Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    try:
        return duckdb.connect(str(store), read_only=read_only)
    except duckdb.Error as exc:
        raise SchemaError(f"{store}: cannot open the DuckDB store ({exc})") from exc


def ingest(ledger: Ledger, store: str | Path) -> IngestResult:
    """Upsert a validated ledger into the store at ``store`` (created when absent)."""
    store = Path(store)
    store.parent.mkdir(parents=True, exist_ok=True)
    inserted, updated, unchanged = {}, {}, {}
    with _connect(store) as con:
        con.execute("""CREATE TABLE IF NOT EXISTS ingests (ingested_at TIMESTAMP, source VARCHAR,
                       data_hash VARCHAR, customers BIGINT, invoices BIGINT, events BIGINT)""")
        for name, frame in (
            ("customers", ledger.customers),
            ("invoices", ledger.invoices),
            ("events", ledger.events),
        ):
            spec = TABLES[name]
            _create(con, spec)
            con.register("incoming", frame[spec.names])
            key = " AND ".join(f's."{k}" = i."{k}"' for k in spec.key)
            same = " AND ".join(f's."{c}" IS NOT DISTINCT FROM i."{c}"' for c in spec.names)
            new, same_n = con.execute(f"""
                SELECT count(*) FILTER (WHERE s."{spec.key[0]}" IS NULL),
                       count(*) FILTER (WHERE s."{spec.key[0]}" IS NOT NULL AND {same})
                FROM incoming i LEFT JOIN {name} s ON {key}
            """).fetchone()
            con.execute(f"INSERT OR REPLACE INTO {name} SELECT * FROM incoming")
            con.unregister("incoming")
            inserted[name], unchanged[name] = int(new), int(same_n)
            updated[name] = len(frame) - int(new) - int(same_n)
        con.execute(
            "INSERT INTO ingests VALUES (?, ?, ?, ?, ?, ?)",
            [
                dt.datetime.now(dt.UTC).replace(tzinfo=None),
                ledger.source,
                ledger.data_hash,
                len(ledger.customers),
                len(ledger.invoices),
                len(ledger.events),
            ],
        )
    log.info("ingested into %s: inserted %s, updated %s", store, inserted, updated)
    return IngestResult(inserted, updated, unchanged)


def read_store(store: str | Path) -> dict[str, pd.DataFrame]:
    """The stored customers, invoices and events (canonical columns), in key order."""
    store = Path(store)
    if not store.is_file():
        raise SchemaError(f"{store}: no ledger store here (run an ingest first)")
    with _connect(store, read_only=True) as con:
        return {
            name: con.execute(f"SELECT * FROM {name} ORDER BY {', '.join(TABLES[name].key)}").df()
            for name in ("customers", "invoices", "events")
        }
