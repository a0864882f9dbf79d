"""Staging and checking a ledger's tables inside DuckDB: each source file read as text (with its
spreadsheet row numbers), its columns mapped, parsed and checked by SQL, bad rows turned into
rejects with their file, row, column, value and reason.

:func:`validate_tables` is the one flow both loaders share: :func:`creditlab.ledger.load.load_ledger`
collects pandas frames, :func:`creditlab.ledger.stream.load_into_database` writes tables into a
DuckDB file under a memory limit.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import logging
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from creditlab.errors import SchemaError
from creditlab.ledger.checks import Checks, Staged, clean, ident, literal
from creditlab.ledger.fx import AMOUNT_ORIGINAL, CURRENCY_ORIGINAL, FX_RATE, FxRates
from creditlab.ledger.mapping import DeriveCustomers, LedgerMapping, normalized_sql
from creditlab.ledger.schema import (
    AMOUNT,
    AMOUNT_PAID,
    CREDIT_LIMIT,
    CREDIT_NOTES,
    CUSTOMER_ID,
    DUE_ON,
    ISSUED_ON,
    NAME,
    ONBOARDED_ON,
    PAYMENT_TERMS_DAYS,
    REJECT_COLUMNS,
    TABLES,
    TableSpec,
)

__all__ = ["Loader", "empty_table", "file_sha256", "validate_tables"]

log = logging.getLogger(__name__)

CREDIT_NOTES_CHECKED = "chk_credit_notes"  # the checked credit-note rows, split from the invoices
# customer columns an export may lack that the invoices give (SQL aggregates over typed invoices)
FROM_INVOICES = {
    ONBOARDED_ON: f"strftime(min({ident(ISSUED_ON)}), '%Y-%m-%d')",
    PAYMENT_TERMS_DAYS: f"CAST(CAST(round(median(date_diff('day', {ident(ISSUED_ON)}, "
    f"{ident(DUE_ON)}))) AS BIGINT) AS VARCHAR)",
}


def file_sha256(path: Path) -> str:
    """The sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Loader(Checks):
    """Reads a ledger's source files (or database) into DuckDB and checks them (:class:`Checks`)."""

    def __init__(
        self,
        source: Path,
        mapping: LedgerMapping,
        currency: str | None,
        con: duckdb.DuckDBPyConnection | None = None,
        fx: FxRates | None = None,
    ):
        self.source = source
        self.mapping = mapping
        self.currency = currency
        self.fx = fx
        self.con = con if con is not None else duckdb.connect()
        self.con.execute("SET enable_progress_bar = false")
        if fx is not None:
            self.con.register("__fx_frame", fx.table)
            self.con.execute(
                "CREATE TEMP TABLE __fx AS SELECT currency, CAST(valid_from AS DATE) AS valid_from, "
                "rate, constant FROM __fx_frame"
            )
            self.con.unregister("__fx_frame")
        self.notes: list[str] = list(mapping.notes)
        self.is_database = source.is_file()
        if not source.exists():
            raise SchemaError(f"{source}: ledger folder or database not found")
        if self.is_database:
            try:
                self.con.execute(f"ATTACH {literal(str(source))} AS src (READ_ONLY)")
            except duckdb.Error as exc:
                raise SchemaError(f"{source}: not a DuckDB database ({exc})") from exc

    # -- locating and staging -------------------------------------------------------------
    def locate(self, spec: TableSpec) -> Path | str | None:
        """The file (or database table) holding ``spec``, or None when it is legitimately absent."""
        named = spec.name in self.mapping.files
        name = self.mapping.files.get(spec.name)
        # customers can be derived from the invoices: asked for, or their file is null
        derive = spec.name == "customers" and (
            self.mapping.derive_customers is not None or (named and name is None)
        )
        if named and name is None:
            if spec.required and not derive:
                raise SchemaError(f"mapping: files.{spec.name} is null but {spec.name} is required")
            return None
        if self.is_database:
            tables = {
                r[0]
                for r in self.con.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_catalog = 'src'"
                ).fetchall()
            }
            wanted = name or spec.name
            if wanted in tables:
                return wanted
        else:
            candidates = (
                [self.source / name]
                if name
                else [self.source / f"{spec.name}{ext}" for ext in (".csv", ".parquet")]
            )
            for path in candidates:
                if path.is_file():
                    return path
            wanted = ", ".join(p.name for p in candidates)
        if named or (spec.required and not derive):
            hint = (
                "; set mapping.files.customers: null to derive the customers from the invoices"
                if spec.name == "customers"
                else ""
            )
            raise SchemaError(
                f"{self.source}: {spec.name} table not found (looked for {wanted}){hint}"
            )
        return None

    def stage(self, spec: TableSpec, where: Path | str) -> Staged:
        """Read one source table into DuckDB as text with its spreadsheet row numbers."""
        relation = f"raw_{spec.name}"
        early = pd.DataFrame(columns=REJECT_COLUMNS)
        if isinstance(where, str):
            label, sha = f"{self.source.name}:{where}", file_sha256(self.source)
            self.con.execute(f"CREATE TEMP TABLE {relation} AS SELECT * FROM src.{ident(where)}")
            offset = 1
        elif where.suffix.lower() == ".parquet":
            label, sha = where.name, file_sha256(where)
            try:
                self.con.execute(
                    f"CREATE TEMP TABLE {relation} AS SELECT * FROM read_parquet({literal(str(where))})"
                )
            except duckdb.Error as exc:
                raise SchemaError(f"{where}: not a readable Parquet file ({exc})") from exc
            offset = 1
        else:
            label, sha = where.name, file_sha256(where)
            early = self._stage_csv(where, relation)
            offset = 2
        columns = [r[0] for r in self.con.execute(f"DESCRIBE {relation}").fetchall()]
        kept = self.con.execute(f"SELECT count(*) FROM {relation}").fetchone()[0]
        read = kept + len(early)
        if read == 0:
            raise SchemaError(f"{where}: the {spec.name} table is empty (no data rows)")
        # Row numbers as a spreadsheet shows them; skip the numbers of rows DuckDB could not parse.
        self.con.execute(f"ALTER TABLE {relation} ADD COLUMN __row BIGINT")
        if len(early):
            bad = np.sort(early["row"].to_numpy(dtype=np.int64))
            idx = np.arange(kept, dtype=np.int64) + offset
            rows = idx + np.searchsorted(bad - np.arange(len(bad)), idx, side="right")
            self.con.register("__rows", pd.DataFrame({"r": rows, "i": np.arange(kept)}))
            self.con.execute(
                f"UPDATE {relation} SET __row = __rows.r FROM __rows WHERE {relation}.rowid = __rows.i"
            )
            early["file"] = label
        else:
            self.con.execute(f"UPDATE {relation} SET __row = rowid + {offset}")
        log.info("staged %s: %s rows from %s", spec.name, f"{read:,}", label)
        return Staged(spec.name, relation, label, sha, columns, read, early)

    def _stage_csv(self, path: Path, relation: str) -> pd.DataFrame:
        encoding = self.mapping.encoding
        try:
            with open(path, encoding=encoding, newline="") as handle:
                header = next(csv.reader(handle, delimiter=self.mapping.delimiter), None)
        except UnicodeDecodeError as exc:
            raise SchemaError(
                f"{path}: the header is not valid {encoding} text ({exc.reason}); "
                "set mapping.encoding to the file's encoding"
            ) from exc
        except LookupError as exc:
            raise SchemaError(f"mapping.encoding: unknown encoding {encoding!r}") from exc
        if not header or not any(h.strip() for h in header):
            raise SchemaError(f"{path}: the file is empty (no header row)")
        names = [h.strip() for h in header]
        dupes = sorted({h for h in names if names.count(h) > 1})
        if dupes:
            raise SchemaError(f"{path}: duplicate column name(s) in the header: {dupes}")
        blank = [i + 1 for i, h in enumerate(names) if not h]
        if blank:
            raise SchemaError(f"{path}: header column(s) {blank} have no name")
        columns = "{" + ", ".join(f"{literal(h)}: 'VARCHAR'" for h in names) + "}"
        try:
            self.con.execute(
                f"CREATE TEMP TABLE {relation} AS SELECT * FROM read_csv({literal(str(path))}, "
                f"header = true, delim = {literal(self.mapping.delimiter)}, quote = '\"', "
                f"escape = '\"', columns = {columns}, encoding = {literal(encoding.lower())}, "
                "store_rejects = true, rejects_table = 'csv_rejects', rejects_scan = 'csv_scans', "
                "auto_detect = false)"
            )
        except duckdb.OutOfMemoryException:
            raise  # not the file's fault: the caller knows the memory limit it set
        except duckdb.Error as exc:
            text = str(exc)
            if "unicode" in text.lower() or "encoding" in text.lower():
                raise SchemaError(
                    f"{path}: not valid {encoding} text ({text.splitlines()[0]}); "
                    "set mapping.encoding to the file's encoding"
                ) from exc
            raise SchemaError(f"{path}: could not be read as CSV: {text.splitlines()[0]}") from exc
        early = self.con.execute(
            "SELECT line AS row, any_value(csv_line) AS csv_line, "
            "arg_min(error_message, coalesce(column_idx, 0)) AS error_message "
            "FROM csv_rejects GROUP BY line ORDER BY line"
        ).df()
        self.con.execute("DROP TABLE csv_rejects; DROP TABLE csv_scans")
        return pd.DataFrame(
            {
                "file": path.name,
                "row": early["row"].astype("int64"),
                "record_id": pd.NA,
                "column": "(whole row)",
                "value": early["csv_line"].astype(str).str.slice(0, 200),
                "reason": "malformed CSV row: " + early["error_message"].astype(str),
            },
            columns=REJECT_COLUMNS,
        )

    def split_credit_notes(self, checked: str, keep: list[str]) -> int:
        """Move the loadable credit-note rows of the checked invoices into their own table, their
        amounts made positive; returns how many (rejected ones stay with the invoices' rejects)."""
        if not self.mapping.credit_notes:
            return 0
        where = "__credit AND len(__problems) = 0"
        n = self.con.execute(f"SELECT count(*) FROM {checked} WHERE {where}").fetchall()[0][0]
        if not n:
            return 0
        positive = [AMOUNT, AMOUNT_PAID] + ([AMOUNT_ORIGINAL] if AMOUNT_ORIGINAL in keep else [])
        replace = ", ".join(f"abs({ident(c)}) AS {ident(c)}" for c in positive)
        self.con.execute(
            f"CREATE TEMP TABLE {CREDIT_NOTES_CHECKED} AS SELECT * REPLACE ({replace}) "
            f"FROM {checked} WHERE {where}"
        )
        self.con.execute(f"DELETE FROM {checked} WHERE {where}")
        self.notes.append(
            f"{n:,} rows of the invoices are credit notes ({self.mapping.credit_notes}): they are "
            "loaded as credit notes, reduce their customer's open AR while unapplied, and count "
            "as dilution (credit notes / sales)."
        )
        return n

    def fill_from_invoices(self, customers: Staged, invoices: Staged) -> Staged:
        """Give a customers file the columns it lacks that the invoices give (``FROM_INVOICES``:
        first invoice date, median terms) as ``__inv_<column>``, joined on the customer id."""
        spec = TABLES["customers"]
        wanted = [c for c in FROM_INVOICES if not self._provided(customers, spec.column(c))]
        if not wanted:
            return customers
        cid = self.text_expr(customers, spec.column(CUSTOMER_ID))
        aggregates = ", ".join(f"{FROM_INVOICES[c]} AS {ident('__inv_' + c)}" for c in wanted)
        typed = self.typed_sql(invoices, TABLES["invoices"], {})
        relation = f"{customers.relation}_filled"
        self.execute(
            f"""
            CREATE TEMP TABLE {relation} AS
            SELECT c.* EXCLUDE (__cid), a.* EXCLUDE (__cid)
            FROM (SELECT *, {cid} AS __cid FROM {customers.relation}) c
            LEFT JOIN (SELECT {ident(CUSTOMER_ID)} AS __cid, {aggregates} FROM ({typed})
                       WHERE {ident(CUSTOMER_ID)} IS NOT NULL GROUP BY 1) a ON c.__cid = a.__cid
            ORDER BY c.__row
        """,
            "invoices",
        )
        columns = [*customers.columns, *(f"__inv_{c}" for c in wanted)]
        return dataclasses.replace(customers, relation=relation, columns=columns)

    def derive_customers(self, staged_invoices: Staged) -> Staged:
        """A customers table derived from the invoices, for exports that have none."""
        derive = self.mapping.derive_customers or DeriveCustomers()
        cols = {
            CUSTOMER_ID: f"{ident(CUSTOMER_ID)}",
            NAME: f"{ident(CUSTOMER_ID)}",
            **FROM_INVOICES,
            CREDIT_LIMIT: "CAST(NULL AS VARCHAR)",
        }
        for col, src in derive.columns.items():
            if src not in staged_invoices.columns:
                raise SchemaError(
                    f"{staged_invoices.label}: column {src!r} named in mapping.derive_customers "
                    "is missing"
                )
            cols[col] = f"mode({ident('__d_' + col)})"
        for col, value in derive.constants.items():
            cols[col] = literal(value)
        select = ", ".join(f"{expr} AS {ident(col)}" for col, expr in cols.items())
        label = f"{staged_invoices.label} (customers derived)"
        sources = {
            f"__d_{col}": clean(f"CAST({ident(src)} AS VARCHAR)")
            for col, src in derive.columns.items()
        }
        typed = self.typed_sql(staged_invoices, TABLES["invoices"], sources)
        self.execute(
            f"""
            CREATE TEMP TABLE raw_customers AS
            SELECT min(__row) AS __row, {select}
            FROM ({typed}) WHERE {ident(CUSTOMER_ID)} IS NOT NULL
            GROUP BY {ident(CUSTOMER_ID)}
        """,
            "invoices",
        )
        columns = [r[0] for r in self.con.execute("DESCRIBE raw_customers").fetchall()]
        read = self.con.execute("SELECT count(*) FROM raw_customers").fetchone()[0]
        name = (
            f"name = most frequent {derive.columns[NAME]}"
            if NAME in derive.columns
            else "name = customer id"
        )
        self.notes.append(
            f"There is no customers file: {read:,} customers were derived from the invoices "
            f"({name}, onboarded = first invoice, terms = median days to due date); "
            "credit limits are unknown, so utilisation and limit breaches are not computed."
        )
        empty = pd.DataFrame(columns=REJECT_COLUMNS)
        return Staged(
            "customers", "raw_customers", label, staged_invoices.sha256, columns, read, empty
        )


def empty_table(spec: TableSpec) -> pd.DataFrame:
    """An empty table with the spec's canonical columns."""
    return pd.DataFrame({c: pd.Series(dtype="object") for c in spec.names})


def _note_merged_ids(loader: Loader, staged: Staged, spec: TableSpec) -> None:
    """Say how many ids the ``normalize`` rules merged in a staged table."""
    for column in spec.columns:
        rules = loader.mapping.normalize.get(column.name)
        src = loader.mapping.source_column(spec.name, column.name)
        if not rules or src not in staged.columns:
            continue
        raw = clean(f"CAST({ident(src)} AS VARCHAR)")
        before, after = loader.con.execute(
            f"SELECT count(DISTINCT {raw}), count(DISTINCT {normalized_sql(raw, rules)}) "
            f"FROM {staged.relation}"
        ).fetchone()
        loader.notes.append(
            f"{staged.label}: {column.name} normalised ({', '.join(rules)}): {before:,} spellings "
            f"became {after:,} ids ({before - after:,} merged)."
        )


def _note_conversions(loader: Loader, checked: str) -> None:
    """Say which currencies were converted, how many invoices and at which rates."""
    rows = loader.con.execute(f"""
        SELECT {ident(CURRENCY_ORIGINAL)}, count(*), min({ident(FX_RATE)}), max({ident(FX_RATE)}),
               sum({ident(AMOUNT_ORIGINAL)})
        FROM {checked} WHERE len(__problems) = 0 AND {ident(CURRENCY_ORIGINAL)} <> {literal(loader.currency)}
        GROUP BY ALL ORDER BY 1
    """).fetchall()
    for currency, n, low, high, total in rows:
        rates = f"{low:g}" if low == high else f"{low:g} to {high:g}"
        loader.notes.append(
            f"{n:,} invoices in {currency} ({total:,.2f} {currency}) were converted to "
            f"{loader.currency} at the rate of each invoice's issue date ({rates}; "
            f"{loader.fx.source})."
        )


def validate_tables(loader: Loader, collect: Callable) -> tuple[dict, list, list]:
    """Stage, check and ``collect`` customers, invoices and (when present) events.

    ``collect(checked_table, spec, staged, keep)`` returns ``(loaded, rejects, count_row)``: pandas
    frames for :func:`load_ledger`, tables written into a database for
    :func:`creditlab.ledger.stream.load_into_database`. Returns the loaded tables by name, the
    rejects and the count rows.
    """
    mapping = loader.mapping
    inv_spec, cust_spec, ev_spec = TABLES["invoices"], TABLES["customers"], TABLES["events"]
    inv_staged = loader.stage(inv_spec, loader.locate(inv_spec))
    keep_inv = dict(mapping.keep.get("invoices", {}))
    for src in keep_inv.values():
        if src not in inv_staged.columns:
            raise SchemaError(
                f"{inv_staged.label}: column {src!r} named in mapping.keep is missing"
            )
    cust_where = loader.locate(cust_spec)
    missing = loader.missing(inv_staged, inv_spec)
    if cust_where is not None:
        cust_staged = loader.stage(cust_spec, cust_where)
        if not missing:  # the invoices can give what the customers file lacks
            cust_staged = loader.fill_from_invoices(cust_staged, inv_staged)
        missing += loader.missing(cust_staged, cust_spec)
    if missing:  # every missing column at once, not one run at a time
        raise SchemaError(
            "required column(s) missing (map them in mapping.columns, or give mapping.constants "
            "or mapping.derive):\n  " + "\n  ".join(missing)
        )
    if cust_where is None:
        cust_staged = loader.derive_customers(inv_staged)
    _note_merged_ids(loader, inv_staged, inv_spec)
    if cust_where is not None:
        _note_merged_ids(loader, cust_staged, cust_spec)
    cust_chk = loader.check(cust_staged, cust_spec, {})
    inv_chk = loader.check(
        inv_staged,
        inv_spec,
        {k: clean(ident(v)) for k, v in keep_inv.items()},
        parent=cust_staged,
    )
    inv_keep = list(keep_inv)
    if loader.fx is not None and loader.currency:
        _note_conversions(loader, inv_chk)
        inv_keep += [CURRENCY_ORIGINAL, AMOUNT_ORIGINAL, FX_RATE]
    credits = loader.split_credit_notes(inv_chk, inv_keep)
    tables, rejects, counts = {}, [], []
    # the invoices file's rows are counted once: as invoices (loaded or rejected) or credit notes
    parts = [
        ("customers", cust_chk, cust_spec, cust_staged, []),
        (
            "invoices",
            inv_chk,
            inv_spec,
            dataclasses.replace(inv_staged, read=inv_staged.read - credits),
            inv_keep,
        ),
    ]
    if credits:
        empty = pd.DataFrame(columns=REJECT_COLUMNS)
        cn_staged = dataclasses.replace(inv_staged, read=credits, early_rejects=empty)
        parts.append(("credit_notes", CREDIT_NOTES_CHECKED, CREDIT_NOTES, cn_staged, inv_keep))
    for name, chk, spec, staged, keep in parts:
        tables[name], bad, count = collect(chk, spec, staged, keep)
        rejects.append(bad)
        counts.append(count)
    ev_where = loader.locate(ev_spec)
    if ev_where is not None:
        ev_staged = loader.stage(ev_spec, ev_where)
        ev_chk = loader.check(ev_staged, ev_spec, {}, parent=cust_staged)
        tables["events"], bad, count = collect(ev_chk, ev_spec, ev_staged, [])
        rejects.append(bad)
        counts.append(count)
    return tables, rejects, counts
