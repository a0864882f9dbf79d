"""Validate a ledger into a DuckDB database file without loading it into memory.

:func:`load_ledger` hands the validated tables to pandas, which is right up to a few million
invoices. For ledgers larger than memory, :func:`load_into_database` runs the same staging, mapping
and checks (the same SQL) inside DuckDB with a memory limit and spilling to a temporary folder, and
writes the loaded rows into tables ``customers``, ``invoices``, ``events``, ``credit_notes`` and the rejected ones into
``rejects`` of a database file (and, when asked, a rejects CSV). Nothing row-level reaches Python;
features are then built in SQL (:mod:`creditlab.features_sql`), so pandas only sees per-customer
aggregates.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import duckdb
import pandas as pd

from creditlab.errors import ConfigError, RejectsError
from creditlab.ledger.checks import ident, literal
from creditlab.ledger.fx import FxRates
from creditlab.ledger.load import Accounted
from creditlab.ledger.mapping import LedgerMapping, parse_mapping
from creditlab.ledger.schema import COUNT_COLUMNS, CREDIT_NOTES, REJECT_COLUMNS, TABLES, TableSpec
from creditlab.ledger.staging import Loader, validate_tables

__all__ = ["EngineLimits", "LedgerDatabase", "connect", "load_into_database"]

log = logging.getLogger(__name__)

REJECTS_TABLE = "rejects"


@dataclasses.dataclass(frozen=True)
class EngineLimits:
    """DuckDB's resources: ``memory_limit`` (e.g. ``"2GB"``), the folder it spills to when a join
    or sort does not fit (default: ``<database>.tmp`` beside the database) and its threads (default:
    every core)."""

    memory_limit: str = "2GB"
    temp_directory: Path | None = None
    threads: int | None = None


def connect(
    database: str | Path, limits: EngineLimits = EngineLimits(), read_only: bool = False
) -> duckdb.DuckDBPyConnection:
    """A connection to ``database`` with the memory limit and the spill folder set."""
    database = Path(database)
    spill = limits.temp_directory or database.with_name(database.name + ".tmp")
    try:
        con = duckdb.connect(str(database), read_only=read_only)
        con.execute(f"SET memory_limit = {literal(limits.memory_limit)}")
    except duckdb.Error as exc:
        raise ConfigError(f"{database}: cannot open it with {limits}: {exc}") from exc
    con.execute(f"SET temp_directory = {literal(str(spill))}")
    con.execute("SET preserve_insertion_order = false")  # lets big scans stream
    if limits.threads:
        con.execute(f"SET threads = {int(limits.threads)}")
    return con


@dataclasses.dataclass
class LedgerDatabase(Accounted):
    """A validated ledger in a DuckDB file: where it is and how every input row was accounted for.

    ``counts`` has one row per input file (``read = loaded + rejected``), like ``Ledger.counts``.
    """

    database: Path
    counts: pd.DataFrame
    rejected: int
    notes: list[str]
    source: str

    def raise_if_rejects(self) -> None:
        """Raise :class:`RejectsError` when any row was rejected (``--strict``)."""
        if self.rejected:
            raise RejectsError(
                f"{self.rejected:,} row(s) rejected and strict mode is on; see table "
                f"{REJECTS_TABLE!r} of {self.database}"
            )


_SQL_TYPES = {"date": "DATE", "decimal": "DOUBLE", "number": "DOUBLE", "int": "BIGINT",
              "bool": "BOOLEAN"}  # fmt: skip


def _columns_sql(spec: TableSpec) -> str:
    """Column definitions of an empty canonical table (events, when the ledger has none)."""
    return ", ".join(f"{ident(c.name)} {_SQL_TYPES.get(c.kind, 'VARCHAR')}" for c in spec.columns)


def _persist(loader: Loader):
    """A ``collect`` for :func:`validate_tables` that writes tables into the database."""
    loader.con.execute(
        f"CREATE OR REPLACE TABLE {REJECTS_TABLE} (file VARCHAR, row BIGINT, record_id VARCHAR, "
        '"column" VARCHAR, value VARCHAR, reason VARCHAR)'
    )

    def collect(name, spec, staged, keep):
        cols = ", ".join(ident(c) for c in [*spec.names, *keep])
        loader.con.execute(
            f"CREATE OR REPLACE TABLE {spec.name} AS "
            f"SELECT {cols} FROM {name} WHERE len(__problems) = 0"
        )
        loader.con.execute(f"INSERT INTO {REJECTS_TABLE} {loader.rejects_sql(name, spec, staged)}")
        if len(staged.early_rejects):  # rows the CSV reader could not parse (few)
            early = staged.early_rejects.reindex(columns=REJECT_COLUMNS)
            loader.con.register("__early", early.astype({"row": "int64"}))
            loader.con.execute(f"INSERT INTO {REJECTS_TABLE} SELECT * FROM __early")
            loader.con.unregister("__early")
        loaded = loader.con.execute(f"SELECT count(*) FROM {spec.name}").fetchone()[0]
        rejected = staged.read - loaded
        return (
            loaded,
            rejected,
            [spec.name, staged.label, staged.sha256, staged.read, loaded, rejected],
        )

    return collect


def load_into_database(
    source: str | Path,
    database: str | Path,
    mapping: LedgerMapping | dict | None = None,
    *,
    currency: str | None = None,
    fx: FxRates | None = None,
    limits: EngineLimits = EngineLimits(),
    rejects_file: str | Path | None = None,
) -> LedgerDatabase:
    """Validate the ledger at ``source`` into the DuckDB file ``database`` in bounded memory.

    Same inputs, checks, row numbers and reasons as :func:`creditlab.ledger.load.load_ledger`;
    existing tables ``customers``, ``invoices``, ``events`` and ``rejects`` of ``database`` are
    replaced. ``rejects_file`` (CSV) gets the rejected rows too.

    Raises
    ------
    SchemaError
        A structural problem with the input (as ``load_ledger``).
    ConfigError
        The database cannot be opened or the memory limit is not understood.
    """
    if not isinstance(mapping, LedgerMapping):
        mapping = parse_mapping(mapping)
    database = Path(database)
    if Path(source).resolve() == database.resolve():
        raise ConfigError(f"{database}: the database to write must not be the ledger it reads")
    con = connect(database, limits)
    try:
        loader = Loader(Path(source), mapping, currency, con=con, fx=fx)
        _, _, counts = validate_tables(loader, _persist(loader))
        present = {r[0] for r in con.execute("SHOW TABLES").fetchall()}
        for spec in (TABLES["events"], CREDIT_NOTES):
            if spec.name not in present:
                con.execute(f"CREATE TABLE {spec.name} ({_columns_sql(spec)})")
        rejected = con.execute(f"SELECT count(*) FROM {REJECTS_TABLE}").fetchone()[0]
        if rejects_file is not None:
            con.execute(
                f"COPY (SELECT * FROM {REJECTS_TABLE} ORDER BY file, row) "
                f"TO {literal(str(rejects_file))} (HEADER, DELIMITER ',')"
            )
    except duckdb.OutOfMemoryException as exc:
        raise ConfigError(
            f"{source}: DuckDB ran out of its {limits.memory_limit} memory limit "
            f"({str(exc).splitlines()[0]}); raise the memory limit or use fewer threads"
        ) from exc
    finally:
        con.close()
    out = LedgerDatabase(
        database, pd.DataFrame(counts, columns=COUNT_COLUMNS), rejected, loader.notes, str(source)
    )
    log.info("validated %s into %s\n%s", source, database, out.summary())
    return out
