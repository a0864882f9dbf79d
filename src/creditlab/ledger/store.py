"""The ledger store: an embedded DuckDB database that accumulates validated exports, and beside
them the PD fits (``pd_fits``, a cache) and every run's scores (``score_history``).

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
from creditlab.ledger.schema import (
    CREDIT_NOTES,
    CUSTOMER_ID,
    PD_HI,
    PD_LO,
    PD_MEAN,
    TABLES,
    TableSpec,
)

__all__ = [
    "IngestResult",
    "append_scores",
    "ingest",
    "last_run_before",
    "load_fit",
    "previous_scores",
    "read_store",
    "save_fit",
]

log = logging.getLogger(__name__)

STORED = {**TABLES, CREDIT_NOTES.name: CREDIT_NOTES}  # the ledger's tables, as the store keeps them

_SQL_TYPES = {
    "id": "VARCHAR",
    "text": "VARCHAR",
    "category": "VARCHAR",
    "country": "VARCHAR",
    "currency": "VARCHAR",
    "event_kind": "VARCHAR",
    "ref": "VARCHAR",
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
        for name, spec in STORED.items():
            frame = getattr(ledger, name)
            _create(con, spec)
            con.register("incoming", frame)
            # columns beyond the contract (kept by a mapping, FX originals) are stored too
            have = {r[0] for r in con.execute(f"DESCRIBE {name}").fetchall()}
            for column, kind, *_ in con.execute("DESCRIBE incoming").fetchall():
                if column not in have:
                    con.execute(f'ALTER TABLE {name} ADD COLUMN "{column}" {kind}')
            key = " AND ".join(f's."{k}" = i."{k}"' for k in spec.key)
            same = " AND ".join(f's."{c}" IS NOT DISTINCT FROM i."{c}"' for c in spec.names)
            new, same_n = con.execute(f"""
                SELECT count(*) FILTER (WHERE s."{spec.key[0]}" IS NULL),
                       count(*) FILTER (WHERE s."{spec.key[0]}" IS NOT NULL AND {same})
                FROM incoming i LEFT JOIN {name} s ON {key}
            """).fetchone()
            con.execute(f"INSERT OR REPLACE INTO {name} BY NAME SELECT * FROM incoming")
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
    """The stored customers, invoices, events and credit notes (every stored column), in key
    order; a store from before credit notes has none."""
    store = Path(store)
    if not store.is_file():
        raise SchemaError(f"{store}: no ledger store here (run an ingest first)")
    with _connect(store, read_only=True) as con:
        present = {r[0] for r in con.execute("SHOW TABLES").fetchall()}
        return {
            name: con.execute(f"SELECT * FROM {name} ORDER BY {', '.join(spec.key)}").df()
            for name, spec in STORED.items()
            if name in present
        }


# -- model artifacts kept beside the ledger -------------------------------------------------
_PD_FITS = (
    "CREATE TABLE IF NOT EXISTS pd_fits (key VARCHAR PRIMARY KEY, created_at TIMESTAMP, "
    "netcdf BLOB)"
)
_SCORE_HISTORY = (
    "CREATE TABLE IF NOT EXISTS score_history (customer_id VARCHAR, as_of DATE, "
    "run_id VARCHAR, pd_mean DOUBLE, pd_lo DOUBLE, pd_hi DOUBLE)"
)


def load_fit(store: Path | None, key: str) -> bytes | None:
    """The cached model file stored under ``key`` (None when absent or there is no store)."""
    if store is None or not Path(store).is_file():
        return None
    with _connect(Path(store)) as con:
        con.execute(_PD_FITS)
        row = con.execute("SELECT netcdf FROM pd_fits WHERE key = ?", [key]).fetchone()
    return None if row is None else bytes(row[0])


def save_fit(store: Path, key: str, content: bytes) -> None:
    """Cache a model file under ``key``."""
    with _connect(Path(store)) as con:
        con.execute(_PD_FITS)
        con.execute(
            "INSERT OR REPLACE INTO pd_fits VALUES (?, ?, ?)",
            [key, dt.datetime.now(dt.UTC).replace(tzinfo=None), content],
        )


def previous_scores(store: Path | None, as_of: dt.date, run_id: str) -> pd.DataFrame | None:
    """The scores of the latest other run with an as-of date on or before ``as_of``."""
    if store is None or not Path(store).is_file():
        return None
    with _connect(Path(store)) as con:
        con.execute(_SCORE_HISTORY)
        prev = con.execute(
            "SELECT run_id FROM score_history WHERE run_id <> ? AND as_of <= ? "
            "ORDER BY as_of DESC, run_id DESC LIMIT 1",
            [run_id, as_of],
        ).fetchone()
        if prev is None:
            return None
        return con.execute("SELECT * FROM score_history WHERE run_id = ?", [prev[0]]).df()


def last_run_before(store: Path | None, as_of: dt.date) -> tuple[str, dt.date] | None:
    """The run id and as-of date of the latest run in the store dated before ``as_of``."""
    if store is None or not Path(store).is_file():
        return None
    with _connect(Path(store)) as con:
        con.execute(_SCORE_HISTORY)
        row = con.execute(
            "SELECT run_id, as_of FROM score_history WHERE as_of < ? "
            "ORDER BY as_of DESC, run_id DESC LIMIT 1",
            [as_of],
        ).fetchone()
    return None if row is None else (str(row[0]), pd.Timestamp(row[1]).date())


def append_scores(store: Path, scores: pd.DataFrame, as_of: dt.date, run_id: str) -> None:
    """Record a run's scores (``customer_id, pd_mean, pd_lo, pd_hi``); a re-run replaces them."""
    rows = scores[[CUSTOMER_ID, PD_MEAN, PD_LO, PD_HI]].copy()
    rows.insert(1, "as_of", pd.Timestamp(as_of))
    rows.insert(2, "run_id", run_id)
    with _connect(Path(store)) as con:
        con.execute(_SCORE_HISTORY)
        con.register("incoming", rows)
        con.execute("DELETE FROM score_history WHERE run_id = ?", [run_id])
        con.execute("INSERT INTO score_history SELECT * FROM incoming")
