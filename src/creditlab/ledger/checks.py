"""The SQL side of staging a ledger: each canonical column's expression over the staged text (mapped,
parsed with its format), the rules every table obeys (ids, codes, dates, amounts, references), and
the rejects those rules produce, with their file, row, column, value and reason."""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable

import duckdb
import pandas as pd

from creditlab.errors import ConfigError, SchemaError
from creditlab.ledger.fx import (
    AMOUNT_ORIGINAL,
    CURRENCY_ORIGINAL,
    FX_RATE,
    HOW_TO_GIVE_RATES,
    FxRates,
)
from creditlab.ledger.mapping import ISO_DATE, LedgerMapping, normalized_sql
from creditlab.ledger.schema import (
    AMOUNT,
    AMOUNT_PAID,
    CURRENCY,
    CUSTOMER_ID,
    DETAIL,
    DUE_ON,
    EVENT_KINDS,
    EVENT_ON,
    INVOICE_ID,
    ISSUED_ON,
    KIND,
    ONBOARDED_ON,
    PAID_ON,
    PAYMENT_TERMS_DAYS,
    PROMISED_ON,
    SIGNALS,
    Column,
    TableSpec,
)

__all__ = ["Checks", "Staged", "clean", "ident", "literal"]

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


def ident(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def literal(value: object) -> str:
    """A quoted SQL literal (``NULL`` for None)."""
    if value is None:
        return "NULL"
    return "'" + str(value).replace("'", "''") + "'"


def clean(expr: str) -> str:
    """Text without surrounding spaces, NULL when empty (only trims values that need it: fast)."""
    return (
        f"NULLIF(CASE WHEN starts_with({expr}, ' ') OR ends_with({expr}, ' ') "
        f"THEN trim({expr}) ELSE {expr} END, '')"
    )


@dataclasses.dataclass
class Staged:
    """A source table read into DuckDB as text, with its row numbers in ``__row``."""

    table: str
    relation: str
    label: str
    sha256: str
    columns: list[str]
    read: int
    early_rejects: pd.DataFrame


class Checks:
    """Column expressions, rule checks and rejects over staged tables (mixed into
    :class:`creditlab.ledger.staging.Loader`, which holds the connection and the mapping)."""

    con: duckdb.DuckDBPyConnection
    mapping: LedgerMapping
    currency: str | None
    fx: FxRates | None
    notes: list[str]

    def _note(self, text: str) -> None:
        if text not in self.notes:  # a column is read once per pass over the file
            self.notes.append(text)

    # -- mapping, parsing and checking ----------------------------------------------------
    def missing(self, staged: Staged, spec: TableSpec) -> list[str]:
        """One line per required column the staged file lacks, with the closest names it has."""
        have = [c for c in staged.columns if not c.startswith("__")]
        out = []
        for column in spec.columns:
            if self._provided(staged, column):
                continue
            src = self.mapping.source_column(spec.name, column.name)
            close = difflib.get_close_matches(src, have, n=3, cutoff=0.5)
            hint = f" (closest: {', '.join(close)})" if close else ""
            out.append(f"{staged.label}: no column {src!r} for {spec.name}.{column.name}{hint}")
        if out:
            out.append(f"{staged.label} has columns {have}")
        return out

    def _provided(self, staged: Staged, column: Column) -> bool:
        """Whether the column comes from the file, a constant, an expression or a default."""
        table = staged.table
        if column.name in self.mapping.constants.get(table, {}):
            return True
        if column.name in self.mapping.derive.get(table, {}):
            return True
        if self.mapping.source_column(table, column.name) in staged.columns:
            return True
        if column.name == CURRENCY and self.currency:
            return True
        if f"__inv_{column.name}" in staged.columns:  # taken from the invoices
            return True
        return column.optional and column.name not in self.mapping.columns.get(table, {})

    def source_expr(self, staged: Staged, column: Column) -> str:
        """The SQL expression of a canonical column over the staged text (mapped, or a constant)."""
        table = staged.table
        constants = self.mapping.constants.get(table, {})
        if column.name in constants:
            return literal(constants[column.name])
        src = self.mapping.source_column(table, column.name)
        if src in staged.columns:
            return f"CAST({ident(src)} AS VARCHAR)"
        if column.name == CURRENCY and self.currency:
            self._note(
                f"{staged.label} has no currency column: amounts are taken to be in {self.currency}."
            )
            return literal(self.currency)
        if f"__inv_{column.name}" in staged.columns:
            how = {
                ONBOARDED_ON: "first invoice date",
                PAYMENT_TERMS_DAYS: "median days from issue to due date",
            }
            self._note(
                f"{staged.label} has no {column.name}: each customer's "
                f"{how.get(column.name, column.name)} in the invoices is used (a customer without "
                "invoices is rejected)."
            )
            return f"CAST({ident('__inv_' + column.name)} AS VARCHAR)"
        if not self._provided(staged, column):
            raise SchemaError("; ".join(self.missing(staged, TableSpec(table, (column,), ()))))
        if column.absent:
            self._note(f"{staged.label}: {column.absent}.")
        return literal(column.default)

    def text_expr(self, staged: Staged, column: Column) -> str:
        """The column's text: trimmed, empty as NULL, ids normalised, values recoded, codes looked up."""
        expr = clean(self.source_expr(staged, column))
        if column.name in self.mapping.normalize:
            expr = normalized_sql(expr, self.mapping.normalize[column.name])
        recode = self.mapping.values.get(staged.table, {}).get(column.name)
        if recode:
            cases = " ".join(f"WHEN {literal(k)} THEN {literal(v)}" for k, v in recode.items())
            expr = f"(CASE {expr} {cases} ELSE {expr} END)"
        code_table = self._coded(staged.table, column.name)
        if code_table:  # a complete code table: a code it does not list gives NULL (and a reject)
            cases = " ".join(f"WHEN {literal(k)} THEN {literal(v)}" for k, v in code_table.items())
            expr = f"(CASE {expr} {cases} END)"
        return expr

    def execute(self, sql: str, table: str) -> None:
        """Run a statement over a table's typed rows; a derive expression that fails on a value
        (a CAST of text that is no number) becomes one clear error naming it."""
        try:
            self.con.execute(sql)
        except (duckdb.ConversionException, duckdb.InvalidInputException) as exc:
            derive = self.mapping.derive.get(table)
            if not derive:
                raise
            raise ConfigError(
                f"mapping.derive.{table}: an expression failed on a value ({str(exc).splitlines()[0]}); "
                f"expressions {dict(derive)}: use TRY_CAST(x AS type) so that a bad value rejects "
                "its row instead"
            ) from exc

    def _credit_condition(self, spec: TableSpec) -> str | None:
        """The condition that marks an invoice row as a credit note (None: no credit notes)."""
        return self.mapping.credit_notes if spec.name == "invoices" else None

    def _coded(self, table: str, column: str) -> dict | None:
        return self.mapping.codes.get(table, {}).get(column)

    def parse_expr(self, table: str, column: Column) -> str:
        """The column's typed value parsed from its text (dates with their format, yes/no, numbers)."""
        r = ident(f"__r_{column.name}")
        kind = column.kind
        if kind == "date":
            fmt = self.mapping.date_format_for(table, column.name)
            if fmt == ISO_DATE:
                return f"try_cast({r} AS DATE)"
            return f"coalesce(try_strptime({r}, {literal(fmt)})::DATE, try_cast({r} AS DATE))"
        if kind in ("decimal", "number"):
            return f"(CASE WHEN isfinite(try_cast({r} AS DOUBLE)) THEN try_cast({r} AS DOUBLE) END)"
        if kind == "int":
            return f"(CASE WHEN regexp_full_match({r}, '[+-]?[0-9]+') THEN try_cast({r} AS BIGINT) END)"
        if kind == "bool":
            t, f = ", ".join(map(literal, _TRUE)), ", ".join(map(literal, _FALSE))
            return (
                f"(CASE WHEN lower({r}) IN ({t}) THEN true WHEN lower({r}) IN ({f}) THEN false END)"
            )
        if kind == "country":
            return f"(CASE WHEN regexp_full_match({r}, '[A-Z]{{2}}') THEN {r} END)"
        if kind == "currency":
            return f"(CASE WHEN regexp_full_match({r}, '[A-Z]{{3}}') THEN {r} END)"
        if kind == "event_kind":
            kinds = ", ".join(map(literal, EVENT_KINDS))
            return f"(CASE WHEN {r} IN ({kinds}) THEN {r} END)"
        if kind == "ref":
            return f"coalesce({r}, '')"
        return r

    def checks(self, spec: TableSpec) -> list[tuple[str, str]]:
        """(condition, struct(col, val, reason)) pairs in SQL, one per rule a row can break."""
        out = []
        credits = self._credit_condition(spec) is not None

        def problem(cond: str, col: str, reason: str, val: str | None = None) -> None:
            val = val or f"CAST({ident('__r_' + col)} AS VARCHAR)"
            out.append(
                (cond, f"struct_pack(col := {literal(col)}, val := {val}, reason := {reason})")
            )

        for c in spec.columns:
            r, p = ident(f"__r_{c.name}"), ident(c.name)
            derived = self.mapping.derive.get(spec.name, {}).get(c.name)
            if self._coded(spec.name, c.name):
                code = ident(f"__c_{c.name}")
                problem(
                    f"{code} IS NOT NULL AND {r} IS NULL",
                    c.name,
                    literal(f"code not in mapping.codes.{spec.name}.{c.name}"),
                    val=code,
                )
                r_missing = f"{r} IS NULL AND {code} IS NULL"
            else:
                r_missing = f"{r} IS NULL"
            if not c.nullable:
                reason = f"missing {c.name}" + (
                    f" (derive: {derived} gave no value)" if derived else ""
                )
                problem(r_missing, c.name, literal(reason))
            describe = _DESCRIBE.get(c.kind)
            if describe:
                if c.kind == "date":
                    describe += f" ({self.mapping.date_format_for(spec.name, c.name)})"
                problem(
                    f"{r} IS NOT NULL AND {p} IS NULL",
                    c.name,
                    literal(f"{c.name} is not {describe}"),
                )
            if c.min is not None:
                op, word = ("<=", ">") if c.min_exclusive else ("<", ">=")
                cond = f"{p} {op} {c.min}"
                if credits and c.name in (AMOUNT, AMOUNT_PAID):
                    cond += " AND NOT __credit"  # a credit note's amounts are negative
                problem(cond, c.name, literal(f"{c.name} must be {word} {c.min:g}"))
        if credits:
            problem(
                f"__credit AND {ident(AMOUNT)} = 0",
                AMOUNT,
                literal("a credit note's amount must not be 0"),
            )
        if spec.name == "invoices":
            problem(
                f"{ident(DUE_ON)} < {ident(ISSUED_ON)}",
                DUE_ON,
                literal(f"{DUE_ON} is before {ISSUED_ON}"),
            )
            problem(
                f"{ident(PAID_ON)} < {ident(ISSUED_ON)}",
                PAID_ON,
                literal(f"{PAID_ON} is before {ISSUED_ON}"),
            )
            problem(
                f"{ident(AMOUNT_PAID)} > {ident(AMOUNT)}"
                + (" AND NOT __credit" if credits else ""),
                AMOUNT_PAID,
                literal(f"{AMOUNT_PAID} is more than {AMOUNT}"),
            )
            if self.currency:
                if self.fx is None:
                    why = literal(
                        f" differs from the portfolio currency {self.currency} and no FX rates "
                        f"are given: {HOW_TO_GIVE_RATES}"
                    )
                    reason = f"'currency ' || {ident(CURRENCY)} || {why}"
                else:
                    source = literal(f" in the FX rates ({self.fx.source})")
                    window = literal(f" rate in the {self.fx.max_age_days} days up to ")
                    reason = (
                        f"'no ' || {ident(CURRENCY)} || {window} || "
                        f"coalesce(CAST({ident(ISSUED_ON)} AS VARCHAR), 'the issue date') || {source}"
                    )
                problem(f"{ident(CURRENCY)} <> {literal(self.currency)}", CURRENCY, reason)
        if spec.name == "events":
            kind, promised = ident(KIND), ident(PROMISED_ON)
            problem(
                f"{kind} = 'promise_to_pay' AND {promised} IS NULL",
                PROMISED_ON,
                literal(f"a promise_to_pay needs {PROMISED_ON} (the day the customer will pay)"),
            )
            problem(
                f"{promised} < {ident(EVENT_ON)}",
                PROMISED_ON,
                literal(f"{PROMISED_ON} is before {EVENT_ON}"),
            )
            problem(
                f"{kind} = 'external_signal' AND {ident(DETAIL)} IS NULL",
                DETAIL,
                literal(
                    f"an external_signal needs {DETAIL}: which signal ("
                    + ", ".join(SIGNALS)
                    + " or a name of your own)"
                ),
            )
        key = "/".join(spec.key)
        first = ident("__first")
        problem(
            f"{first} IS NOT NULL AND __row > {first}",
            spec.key[0],
            f"CASE WHEN __h = __first_h THEN 'exact duplicate of row ' || {first} "
            f"ELSE 'conflicting duplicate {key}: row ' || {first} || ' has the same {key} with "
            f"different values (row ' || {first} || ' is kept, check which is right)' END",
        )
        return out

    def typed_sql(self, staged: Staged, spec: TableSpec, extra: dict[str, str]) -> str:
        """A query of the staged rows: ``__row``, raw text ``__r_<col>``, typed columns, extras.

        Derived columns (``mapping.derive``) come last, one after another, each from the typed
        columns, the export's other columns and the derived columns before it.
        """
        derive = self.mapping.derive.get(spec.name, {})
        direct = [c for c in spec.columns if c.name not in derive]
        parts = [f"{self.text_expr(staged, c)} AS {ident('__r_' + c.name)}" for c in direct]
        for c in direct:
            if self._coded(spec.name, c.name):
                parts.append(f"{clean(self.source_expr(staged, c))} AS {ident('__c_' + c.name)}")
        parts += [f"{expr} AS {ident(name)}" for name, expr in extra.items()]
        taken = {c.lower() for c in (*spec.names, *extra)}  # SQL names ignore case
        if derive or self._credit_condition(spec):  # expressions may name the export's columns
            parts += [
                ident(c)
                for c in staged.columns
                if c.lower() not in taken and not c.startswith("__")
            ]
        typed = ", ".join(f"{self.parse_expr(spec.name, c)} AS {ident(c.name)}" for c in direct)
        query = f"SELECT *, {typed} FROM (SELECT __row, {', '.join(parts)} FROM {staged.relation})"
        for column, expr in derive.items():
            query = (
                f"SELECT *, CAST(({expr}) AS VARCHAR) AS {ident('__r_' + column)} FROM ({query})"
            )
            try:
                self.con.execute(f"SELECT * FROM ({query}) LIMIT 0")
            except duckdb.Error as exc:
                raise ConfigError(
                    f"mapping.derive.{spec.name}.{column}: cannot evaluate {expr!r}: "
                    f"{str(exc).splitlines()[0]}"
                ) from exc
            parsed = self.parse_expr(spec.name, spec.column(column))
            query = f"SELECT *, {parsed} AS {ident(column)} FROM ({query})"
        return query

    def check(
        self, staged: Staged, spec: TableSpec, extra: dict[str, str], parent: Staged | None = None
    ) -> str:
        """Create ``chk_<table>``: typed columns, extras and the list of each row's problems.

        Duplicate keys are found with a grouped join; with ``parent`` (the checked customers),
        rows whose customer_id was not loaded are rejected too.
        """
        keys = [ident(k) for k in spec.key]
        on = " AND ".join(f"t.{k} = d.{ident('__k' + str(i))}" for i, k in enumerate(keys))
        dup_keys = ", ".join(f"{k} AS {ident('__k' + str(i))}" for i, k in enumerate(keys))
        problems = self.checks(spec)
        joins = f"LEFT JOIN dups d ON {on}"
        # a row's hash over every loaded value tells an exact duplicate from a conflicting one
        row_hash = "hash(" + ", ".join(ident(c) for c in [*spec.names, *extra]) + ")"
        typed = f"SELECT *, {row_hash} AS __h FROM ({self.typed_sql(staged, spec, extra)})"
        credit = self._credit_condition(spec)
        if credit:
            typed = f"SELECT *, coalesce(({credit}), false) AS __credit FROM ({typed})"
            try:
                self.con.execute(f"SELECT * FROM ({typed}) LIMIT 0")
            except duckdb.Error as exc:
                raise ConfigError(
                    f"mapping.credit_notes: cannot evaluate {credit!r}: {str(exc).splitlines()[0]}"
                ) from exc
        ctes = [f"typed AS ({typed})"]
        fx_cols: list[str] = []
        if spec.name == "invoices" and self.fx is not None and self.currency:
            ctes = [f"unconverted AS ({typed})", f"typed AS ({self._convert_sql()})"]
            fx_cols = [CURRENCY_ORIGINAL, AMOUNT_ORIGINAL, FX_RATE]
        ctes.append(
            f"dups AS (SELECT {dup_keys}, min(__row) AS __first, arg_min(__h, __row) AS __first_h "
            f"FROM typed WHERE {' AND '.join(f'{k} IS NOT NULL' for k in keys)} "
            f"GROUP BY ALL HAVING count(*) > 1)"
        )
        if parent is not None:
            cid = ident(CUSTOMER_ID)
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
                    f"struct_pack(col := {literal(CUSTOMER_ID)}, val := t.{cid}, reason := CASE WHEN "
                    "__bad_row IS NULL THEN 'unknown customer_id (not in customers)' ELSE "
                    f"'customer_id was rejected in ' || {literal(parent.label)} || ' row ' || __bad_row END)",
                )
            )
        if spec.name == "events":  # an event about an invoice names one of the customer's
            inv, cid = ident(INVOICE_ID), ident(CUSTOMER_ID)
            ctes.append(
                f"invs AS (SELECT {inv} AS __inv, {cid} AS __inv_customer FROM chk_invoices "
                "WHERE len(__problems) = 0)"
            )
            joins += f" LEFT JOIN invs ON t.{inv} = invs.__inv"
            problems.append(
                (
                    f"t.{inv} <> '' AND (__inv IS NULL OR __inv_customer <> t.{cid})",
                    f"struct_pack(col := {literal(INVOICE_ID)}, val := t.{inv}, reason := CASE "
                    "WHEN __inv IS NULL THEN 'unknown invoice_id (not among the loaded invoices)' "
                    "ELSE 'invoice_id is an invoice of customer ' || __inv_customer END)",
                )
            )
        columns = ", ".join(
            f"t.{ident(c)}"
            for c in [*spec.names, *extra, *fx_cols, *(["__credit"] if credit else [])]
        )
        # the list of problems is only built for rows that break a rule (most rows break none)
        any_bad = " OR ".join(f"({cond})" for cond, _ in problems)
        listed = ", ".join(f"CASE WHEN {cond} THEN {struct} END" for cond, struct in problems)
        name = f"chk_{spec.name}"
        self.execute(
            f"""
            CREATE TEMP TABLE {name} AS WITH {", ".join(ctes)}
            SELECT t.__row, {columns},
                   CASE WHEN {any_bad} THEN list_filter([{listed}], lambda x: x IS NOT NULL)
                        ELSE CAST([] AS STRUCT(col VARCHAR, val VARCHAR, reason VARCHAR)[])
                   END AS __problems
            FROM typed t {joins}
        """,
            spec.name,
        )
        return name

    def _convert_sql(self) -> str:
        """The invoices in the portfolio currency at their issue date's rate (see ``ledger.fx``);
        an invoice without a rate keeps its currency, and the currency rule rejects it."""
        cur, amount, paid = ident(CURRENCY), ident(AMOUNT), ident(AMOUNT_PAID)
        home = literal(self.currency)
        fresh = (
            f"(f.constant OR f.valid_from >= t.{ident(ISSUED_ON)} - {int(self.fx.max_age_days)})"
        )
        rate = f"(CASE WHEN t.{cur} = {home} THEN 1.0 WHEN {fresh} THEN f.rate END)"
        return f"""
            SELECT t.* REPLACE (
                       CASE WHEN {rate} IS NULL THEN t.{cur} ELSE {home} END AS {cur},
                       round(t.{amount} * coalesce({rate}, 1.0), 2) AS {amount},
                       round(t.{paid} * coalesce({rate}, 1.0), 2) AS {paid}),
                   t.{cur} AS {ident(CURRENCY_ORIGINAL)}, t.{amount} AS {ident(AMOUNT_ORIGINAL)},
                   {rate} AS {ident(FX_RATE)}
            FROM unconverted t ASOF LEFT JOIN __fx f
              ON t.{cur} = f.currency AND t.{ident(ISSUED_ON)} >= f.valid_from
        """

    def results(self, name: str, spec: TableSpec, staged: Staged, keep: Iterable[str]):
        """The loaded rows, the rejects and the count row of a checked table (pandas)."""
        cols = ", ".join(ident(c) for c in [*spec.names, *keep])
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

    def rejects_sql(self, name: str, spec: TableSpec, staged: Staged) -> str:
        """The rejected rows of the checked table ``name`` as ``REJECT_COLUMNS``."""
        key = ident(spec.key[0])
        return f"""
            SELECT {literal(staged.label)} AS file, __row AS row, CAST({key} AS VARCHAR) AS record_id,
                   array_to_string(list_transform(__problems, lambda x: x.col), '; ') AS "column",
                   array_to_string(list_transform(__problems, lambda x: coalesce(x.val, '')), '; ')
                       AS value,
                   array_to_string(list_transform(__problems, lambda x: x.reason), '; ') AS reason
            FROM {name} WHERE len(__problems) > 0 ORDER BY __row
        """
