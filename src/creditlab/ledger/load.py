"""Load a ledger (a folder of CSV/Parquet files, or a DuckDB database) into validated canonical tables.

The work happens inside DuckDB: every source column is read as text, mapped, parsed and checked with
SQL, so a few million invoices validate in seconds and no row is ever dropped silently. Structural
problems (missing file or column, bad encoding, duplicate header, empty table) raise
:class:`~creditlab.errors.SchemaError`. Row problems send the row to ``Ledger.rejects`` with its file,
row number (as a spreadsheet shows it: the header is row 1), id, column, value and reason; for every
file ``read = loaded + rejected``.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import logging
from collections.abc import Callable, Iterable
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from creditlab.errors import RejectsError, SchemaError
from creditlab.ledger.mapping import ISO_DATE, LedgerMapping, parse_mapping
from creditlab.ledger.schema import (
    AMOUNT,
    AMOUNT_PAID,
    CREDIT_LIMIT,
    CURRENCY,
    CUSTOMER_ID,
    DUE_ON,
    EVENT_KINDS,
    ISSUED_ON,
    NAME,
    ONBOARDED_ON,
    PAID_ON,
    PAYMENT_TERMS_DAYS,
    TABLES,
    Column,
    TableSpec,
)

__all__ = ["Ledger", "load_ledger", "REJECT_COLUMNS", "file_sha256"]

log = logging.getLogger(__name__)

REJECT_COLUMNS = ["file", "row", "record_id", "column", "value", "reason"]
COUNT_COLUMNS = ["table", "file", "sha256", "read", "loaded", "rejected"]
_TRUE = ("true", "t", "yes", "y", "1")
_FALSE = ("false", "f", "no", "n", "0")
_DESCRIBE = {
    "date": "a date",
    "decimal": "a number",
    "number": "a number",
    "int": "a whole number",
    "bool": "yes/no (true/false, 1/0)",
    "country": "an ISO 3166 alpha-2 country code (two capital letters)",
    "currency": "an ISO 4217 currency code (three capital letters)",
    "event_kind": "an event kind",
}


class _Accounted:
    """What every loaded ledger reports about its input files (``counts``)."""

    counts: pd.DataFrame

    @property
    def data_hash(self) -> str:
        """sha256 over the input files' hashes: identifies the exact data a run used."""
        digest = hashlib.sha256()
        for sha in sorted(self.counts["sha256"].astype(str)):
            digest.update(sha.encode())
        return digest.hexdigest()

    def summary(self) -> str:
        """One line per input file: ``file: read N = loaded L + rejected R``."""
        return "\n".join(
            f"{r.file}: read {r.read:,} = loaded {r.loaded:,} + rejected {r.rejected:,}"
            for r in self.counts.itertuples()
        )


@dataclasses.dataclass
class Ledger(_Accounted):
    """Validated canonical tables plus everything needed to account for the input rows.

    Attributes
    ----------
    customers, invoices, events
        Canonical tables (columns from :mod:`creditlab.ledger.schema`, typed).
    rejects
        One row per rejected input row: ``file, row, record_id, column, value, reason``.
    counts
        One row per input file: ``table, file, sha256, read, loaded, rejected``.
    notes
        Plain-language caveats (derived tables, assumed currency, mapping notes).
    """

    customers: pd.DataFrame
    invoices: pd.DataFrame
    events: pd.DataFrame
    rejects: pd.DataFrame
    counts: pd.DataFrame
    notes: list[str]
    source: str

    def raise_if_rejects(self) -> None:
        """Raise :class:`RejectsError` when any row was rejected (``--strict``)."""
        if len(self.rejects):
            first = self.rejects.iloc[0]
            raise RejectsError(
                f"{len(self.rejects):,} row(s) rejected and strict mode is on; first: "
                f"{first['file']} row {first['row']}, column {first['column']}: {first['reason']}"
            )


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value: object) -> str:
    if value is None:
        return "NULL"
    return "'" + str(value).replace("'", "''") + "'"


def _clean(expr: str) -> str:
    """Text without surrounding spaces, NULL when empty (only trims values that need it: fast)."""
    return (
        f"NULLIF(CASE WHEN starts_with({expr}, ' ') OR ends_with({expr}, ' ') "
        f"THEN trim({expr}) ELSE {expr} END, '')"
    )


@dataclasses.dataclass
class _Staged:
    """A source table read into DuckDB as text, with its row numbers in ``__row``."""

    table: str
    relation: str
    label: str
    sha256: str
    columns: list[str]
    read: int
    early_rejects: pd.DataFrame


class _Loader:
    def __init__(
        self,
        source: Path,
        mapping: LedgerMapping,
        currency: str | None,
        con: duckdb.DuckDBPyConnection | None = None,
    ):
        self.source = source
        self.mapping = mapping
        self.currency = currency
        self.con = con if con is not None else duckdb.connect()
        self.con.execute("SET enable_progress_bar = false")
        self.notes: list[str] = list(mapping.notes)
        self.is_database = source.is_file()
        if not source.exists():
            raise SchemaError(f"{source}: ledger folder or database not found")
        if self.is_database:
            try:
                self.con.execute(f"ATTACH {_lit(str(source))} AS src (READ_ONLY)")
            except duckdb.Error as exc:
                raise SchemaError(f"{source}: not a DuckDB database ({exc})") from exc

    # -- locating and staging -------------------------------------------------------------
    def locate(self, spec: TableSpec) -> Path | str | None:
        """The file (or database table) holding ``spec``, or None when it is legitimately absent."""
        derive = spec.name == "customers" and self.mapping.derive_customers is not None
        named = spec.name in self.mapping.files
        name = self.mapping.files.get(spec.name)
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
            raise SchemaError(f"{self.source}: {spec.name} table not found (looked for {wanted})")
        return None

    def stage(self, spec: TableSpec, where: Path | str) -> _Staged:
        relation = f"raw_{spec.name}"
        early = pd.DataFrame(columns=REJECT_COLUMNS)
        if isinstance(where, str):
            label, sha = f"{self.source.name}:{where}", file_sha256(self.source)
            self.con.execute(f"CREATE TEMP TABLE {relation} AS SELECT * FROM src.{_ident(where)}")
            offset = 1
        elif where.suffix.lower() == ".parquet":
            label, sha = where.name, file_sha256(where)
            try:
                self.con.execute(
                    f"CREATE TEMP TABLE {relation} AS SELECT * FROM read_parquet({_lit(str(where))})"
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
        return _Staged(spec.name, relation, label, sha, columns, read, early)

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
        columns = "{" + ", ".join(f"{_lit(h)}: 'VARCHAR'" for h in names) + "}"
        try:
            self.con.execute(
                f"CREATE TEMP TABLE {relation} AS SELECT * FROM read_csv({_lit(str(path))}, "
                f"header = true, delim = {_lit(self.mapping.delimiter)}, quote = '\"', "
                f"escape = '\"', columns = {columns}, encoding = {_lit(encoding.lower())}, "
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

    # -- mapping, parsing and checking ----------------------------------------------------
    def source_expr(self, staged: _Staged, column: Column) -> str:
        table = staged.table
        constants = self.mapping.constants.get(table, {})
        if column.name in constants:
            return _lit(constants[column.name])
        src = self.mapping.source_column(table, column.name)
        if src in staged.columns:
            return f"CAST({_ident(src)} AS VARCHAR)"
        if column.name == CURRENCY and self.currency:
            note = f"{staged.label} has no currency column: amounts are taken to be in {self.currency}."
            if note not in self.notes:  # the column is read once per pass over the file
                self.notes.append(note)
            return _lit(self.currency)
        mapped = column.name in self.mapping.columns.get(table, {})
        if column.optional and not mapped:
            return "NULL"
        raise SchemaError(
            f"{staged.label}: required column {src!r} (canonical {table}.{column.name}) is missing; "
            f"the file has columns {[c for c in staged.columns if c != '__row']}"
        )

    def text_expr(self, staged: _Staged, column: Column) -> str:
        expr = _clean(self.source_expr(staged, column))
        codes = self.mapping.values.get(staged.table, {}).get(column.name)
        if codes:
            cases = " ".join(f"WHEN {_lit(k)} THEN {_lit(v)}" for k, v in codes.items())
            expr = f"(CASE {expr} {cases} ELSE {expr} END)"
        return expr

    def parse_expr(self, table: str, column: Column) -> str:
        r = _ident(f"__r_{column.name}")
        kind = column.kind
        if kind == "date":
            fmt = self.mapping.date_format_for(table, column.name)
            if fmt == ISO_DATE:
                return f"try_cast({r} AS DATE)"
            return f"coalesce(try_strptime({r}, {_lit(fmt)})::DATE, try_cast({r} AS DATE))"
        if kind in ("decimal", "number"):
            return f"(CASE WHEN isfinite(try_cast({r} AS DOUBLE)) THEN try_cast({r} AS DOUBLE) END)"
        if kind == "int":
            return f"(CASE WHEN regexp_full_match({r}, '[+-]?[0-9]+') THEN try_cast({r} AS BIGINT) END)"
        if kind == "bool":
            t, f = ", ".join(map(_lit, _TRUE)), ", ".join(map(_lit, _FALSE))
            return (
                f"(CASE WHEN lower({r}) IN ({t}) THEN true WHEN lower({r}) IN ({f}) THEN false END)"
            )
        if kind == "country":
            return f"(CASE WHEN regexp_full_match({r}, '[A-Z]{{2}}') THEN {r} END)"
        if kind == "currency":
            return f"(CASE WHEN regexp_full_match({r}, '[A-Z]{{3}}') THEN {r} END)"
        if kind == "event_kind":
            kinds = ", ".join(map(_lit, EVENT_KINDS))
            return f"(CASE WHEN {r} IN ({kinds}) THEN {r} END)"
        return r

    def checks(self, spec: TableSpec) -> list[tuple[str, str]]:
        """(condition, struct(col, val, reason)) pairs in SQL, one per rule a row can break."""
        out = []

        def problem(cond: str, col: str, reason: str, val: str | None = None) -> None:
            val = val or f"CAST({_ident('__r_' + col)} AS VARCHAR)"
            out.append((cond, f"struct_pack(col := {_lit(col)}, val := {val}, reason := {reason})"))

        for c in spec.columns:
            r, p = _ident(f"__r_{c.name}"), _ident(c.name)
            if not c.nullable:
                problem(f"{r} IS NULL", c.name, _lit(f"missing {c.name}"))
            describe = _DESCRIBE.get(c.kind)
            if describe:
                if c.kind == "date":
                    describe += f" ({self.mapping.date_format_for(spec.name, c.name)})"
                problem(
                    f"{r} IS NOT NULL AND {p} IS NULL", c.name, _lit(f"{c.name} is not {describe}")
                )
            if c.min is not None:
                op, word = ("<=", ">") if c.min_exclusive else ("<", ">=")
                problem(f"{p} {op} {c.min}", c.name, _lit(f"{c.name} must be {word} {c.min:g}"))
        if spec.name == "invoices":
            problem(
                f"{_ident(DUE_ON)} < {_ident(ISSUED_ON)}",
                DUE_ON,
                _lit(f"{DUE_ON} is before {ISSUED_ON}"),
            )
            problem(
                f"{_ident(PAID_ON)} < {_ident(ISSUED_ON)}",
                PAID_ON,
                _lit(f"{PAID_ON} is before {ISSUED_ON}"),
            )
            problem(
                f"{_ident(AMOUNT_PAID)} > {_ident(AMOUNT)}",
                AMOUNT_PAID,
                _lit(f"{AMOUNT_PAID} is more than {AMOUNT}"),
            )
            if self.currency:
                problem(
                    f"{_ident(CURRENCY)} <> {_lit(self.currency)}",
                    CURRENCY,
                    _lit(
                        f"currency differs from the portfolio currency {self.currency} "
                        "(no FX table is given)"
                    ),
                )
        problem(
            f"{_ident('__first')} IS NOT NULL AND __row > {_ident('__first')}",
            spec.key[0],
            f"'duplicate {'/'.join(spec.key)} (first at row ' || {_ident('__first')} || ')'",
        )
        return out

    def typed_sql(self, staged: _Staged, spec: TableSpec, extra: dict[str, str]) -> str:
        """A query of the staged rows: ``__row``, raw text ``__r_<col>``, typed columns, extras."""
        raw_cols = ", ".join(
            f"{self.text_expr(staged, c)} AS {_ident('__r_' + c.name)}" for c in spec.columns
        )
        extra_cols = "".join(f", {expr} AS {_ident(name)}" for name, expr in extra.items())
        typed = ", ".join(
            f"{self.parse_expr(spec.name, c)} AS {_ident(c.name)}" for c in spec.columns
        )
        return (
            f"SELECT *, {typed} FROM (SELECT __row, {raw_cols}{extra_cols} FROM {staged.relation})"
        )

    def check(
        self, staged: _Staged, spec: TableSpec, extra: dict[str, str], parent: _Staged | None = None
    ) -> str:
        """Create ``chk_<table>``: typed columns, extras and the list of each row's problems.

        Duplicate keys are found with a grouped join; with ``parent`` (the checked customers),
        rows whose customer_id was not loaded are rejected too.
        """
        keys = [_ident(k) for k in spec.key]
        on = " AND ".join(f"t.{k} = d.{_ident('__k' + str(i))}" for i, k in enumerate(keys))
        dup_keys = ", ".join(f"{k} AS {_ident('__k' + str(i))}" for i, k in enumerate(keys))
        problems = self.checks(spec)
        joins = f"LEFT JOIN dups d ON {on}"
        ctes = [
            f"typed AS ({self.typed_sql(staged, spec, extra)})",
            f"dups AS (SELECT {dup_keys}, min(__row) AS __first FROM typed "
            f"WHERE {' AND '.join(f'{k} IS NOT NULL' for k in keys)} "
            f"GROUP BY ALL HAVING count(*) > 1)",
        ]
        if parent is not None:
            cid = _ident(CUSTOMER_ID)
            ctes.append(
                f"ok AS (SELECT DISTINCT {cid} AS __ok FROM chk_customers "
                "WHERE len(__problems) = 0)"
            )
            ctes.append(
                f"bad AS (SELECT {cid} AS __bad, min(__row) AS __bad_row FROM chk_customers "
                "WHERE len(__problems) > 0 GROUP BY ALL)"
            )
            joins += f" LEFT JOIN ok ON t.{cid} = ok.__ok LEFT JOIN bad ON t.{cid} = bad.__bad"
            problems.append(
                (
                    f"t.{cid} IS NOT NULL AND __ok IS NULL",
                    f"struct_pack(col := {_lit(CUSTOMER_ID)}, val := t.{cid}, reason := CASE WHEN "
                    "__bad_row IS NULL THEN 'unknown customer_id (not in customers)' ELSE "
                    f"'customer_id was rejected in ' || {_lit(parent.label)} || ' row ' || __bad_row END)",
                )
            )
        columns = ", ".join(f"t.{_ident(c)}" for c in [*spec.names, *extra])
        # the list of problems is only built for rows that break a rule (most rows break none)
        any_bad = " OR ".join(f"({cond})" for cond, _ in problems)
        listed = ", ".join(f"CASE WHEN {cond} THEN {struct} END" for cond, struct in problems)
        name = f"chk_{spec.name}"
        self.con.execute(f"""
            CREATE TEMP TABLE {name} AS WITH {", ".join(ctes)}
            SELECT t.__row, {columns},
                   CASE WHEN {any_bad} THEN list_filter([{listed}], lambda x: x IS NOT NULL)
                        ELSE CAST([] AS STRUCT(col VARCHAR, val VARCHAR, reason VARCHAR)[])
                   END AS __problems
            FROM typed t {joins}
        """)
        return name

    def results(self, name: str, spec: TableSpec, staged: _Staged, keep: Iterable[str]):
        cols = ", ".join(_ident(c) for c in [*spec.names, *keep])
        loaded = (
            self.con.sql(f"SELECT {cols} FROM {name} WHERE len(__problems) = 0 ORDER BY __row")
            .to_arrow_table()
            .to_pandas(date_as_object=False)
        )
        rejects = self.con.execute(self.rejects_sql(name, spec, staged)).df()
        rejects = pd.concat([staged.early_rejects, rejects], ignore_index=True)
        if spec.name == "customers" and len(loaded):
            loaded[PAYMENT_TERMS_DAYS] = loaded[PAYMENT_TERMS_DAYS].astype("int64")
        count = [spec.name, staged.label, staged.sha256, staged.read, len(loaded), len(rejects)]
        return loaded, rejects, count

    def rejects_sql(self, name: str, spec: TableSpec, staged: _Staged) -> str:
        """The rejected rows of the checked table ``name`` as ``REJECT_COLUMNS``."""
        key = _ident(spec.key[0])
        return f"""
            SELECT {_lit(staged.label)} AS file, __row AS row, CAST({key} AS VARCHAR) AS record_id,
                   array_to_string(list_transform(__problems, lambda x: x.col), '; ') AS "column",
                   array_to_string(list_transform(__problems, lambda x: coalesce(x.val, '')), '; ')
                       AS value,
                   array_to_string(list_transform(__problems, lambda x: x.reason), '; ') AS reason
            FROM {name} WHERE len(__problems) > 0 ORDER BY __row
        """

    def derive_customers(self, staged_invoices: _Staged) -> _Staged:
        derive = self.mapping.derive_customers
        cols = {
            CUSTOMER_ID: f"{_ident(CUSTOMER_ID)}",
            NAME: f"{_ident(CUSTOMER_ID)}",
            ONBOARDED_ON: f"strftime(min({_ident(ISSUED_ON)}), '%Y-%m-%d')",
            PAYMENT_TERMS_DAYS: f"CAST(CAST(round(median(date_diff('day', {_ident(ISSUED_ON)}, "
            f"{_ident(DUE_ON)}))) AS BIGINT) AS VARCHAR)",
            CREDIT_LIMIT: "CAST(NULL AS VARCHAR)",
        }
        for col, src in derive.columns.items():
            if src not in staged_invoices.columns:
                raise SchemaError(
                    f"{staged_invoices.label}: column {src!r} named in mapping.derive_customers "
                    "is missing"
                )
            cols[col] = f"mode({_ident('__d_' + col)})"
        for col, value in derive.constants.items():
            cols[col] = _lit(value)
        select = ", ".join(f"{expr} AS {_ident(col)}" for col, expr in cols.items())
        label = f"{staged_invoices.label} (customers derived)"
        sources = {
            f"__d_{col}": _clean(f"CAST({_ident(src)} AS VARCHAR)")
            for col, src in derive.columns.items()
        }
        typed = self.typed_sql(staged_invoices, TABLES["invoices"], sources)
        self.con.execute(f"""
            CREATE TEMP TABLE raw_customers AS
            SELECT min(__row) AS __row, {select}
            FROM ({typed}) WHERE {_ident(CUSTOMER_ID)} IS NOT NULL
            GROUP BY {_ident(CUSTOMER_ID)}
        """)
        columns = [r[0] for r in self.con.execute("DESCRIBE raw_customers").fetchall()]
        read = self.con.execute("SELECT count(*) FROM raw_customers").fetchone()[0]
        self.notes.append(
            f"There is no customers file: {read:,} customers were derived from the invoices "
            "(name = customer id, onboarded = first invoice, terms = median days to due date); "
            "credit limits are unknown, so utilisation and limit breaches are not computed."
        )
        empty = pd.DataFrame(columns=REJECT_COLUMNS)
        return _Staged(
            "customers", "raw_customers", label, staged_invoices.sha256, columns, read, empty
        )


def _empty(spec: TableSpec) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in spec.names})


def validate_tables(loader: _Loader, collect: Callable) -> tuple[dict, list, list]:
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
    if cust_where is None:
        cust_staged = loader.derive_customers(inv_staged)
    else:
        cust_staged = loader.stage(cust_spec, cust_where)
    cust_chk = loader.check(cust_staged, cust_spec, {})
    inv_chk = loader.check(
        inv_staged,
        inv_spec,
        {k: _clean(_ident(v)) for k, v in keep_inv.items()},
        parent=cust_staged,
    )
    tables, rejects, counts = {}, [], []
    for name, chk, spec, staged, keep in (
        ("customers", cust_chk, cust_spec, cust_staged, []),
        ("invoices", inv_chk, inv_spec, inv_staged, keep_inv),
    ):
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


def load_ledger(
    source: str | Path,
    mapping: LedgerMapping | dict | None = None,
    *,
    currency: str | None = None,
) -> Ledger:
    """Load and validate a ledger.

    Parameters
    ----------
    source
        A folder with ``customers``, ``invoices`` and optional ``events`` files (``.csv`` or
        ``.parquet``; other names through ``mapping.files``), or a DuckDB database file.
    mapping
        A :class:`LedgerMapping` or its YAML content; None when the files use canonical names.
    currency
        The portfolio currency: invoices in another currency are rejected; a missing currency
        column is filled with it (and a note says so).

    Returns
    -------
    Ledger
        Loaded tables, rejects and per-file counts; ``read = loaded + rejected`` for every file.

    Raises
    ------
    SchemaError
        A structural problem: missing file or required column, unreadable encoding, duplicate
        header, empty table.

    Examples
    --------
    >>> ledger = load_ledger("data/")  # doctest: +SKIP
    >>> print(ledger.summary())  # doctest: +SKIP
    invoices.csv: read 12,000 = loaded 11,998 + rejected 2
    """
    if not isinstance(mapping, LedgerMapping):
        mapping = parse_mapping(mapping)
    loader = _Loader(Path(source), mapping, currency)
    tables, rejects, counts = validate_tables(loader, loader.results)
    loader.con.close()
    customers, invoices = tables["customers"], tables["invoices"]
    events = tables.get("events", _empty(TABLES["events"]))

    rejects_df = (
        pd.concat([r for r in rejects if len(r)], ignore_index=True)
        if any(len(r) for r in rejects)
        else pd.DataFrame(columns=REJECT_COLUMNS)
    )
    counts_df = pd.DataFrame(counts, columns=COUNT_COLUMNS)
    ledger = Ledger(customers, invoices, events, rejects_df, counts_df, loader.notes, str(source))
    log.info("loaded ledger from %s\n%s", source, ledger.summary())
    return ledger
