"""Column mappings: how a real export's files, columns, date formats and codes become the canonical
ledger. A mapping is YAML, either a file of its own or the ``mapping:`` section of a params file::

    mapping:
      files: {invoices: export.csv, customers: null}   # null: no such file, derive customers
      date_format: "%m/%d/%Y"                          # default %Y-%m-%d (ISO dates always parse)
      columns:   {invoices: {invoice_id: invoiceNumber, amount: InvoiceAmount}}
      values:    {invoices: {disputed: {"Yes": "true", "No": "false"}}}
      constants: {customers: {industry: unknown}}
      keep:      {invoices: {paperless_bill: PaperlessBill}}   # extra columns carried through
      derive:    {invoices: {issued_on: "due_on - 15"}}         # SQL over the table's columns
      codes:     {customers: {payment_terms_days: {NAA8: 15, NAH4: 30}}}  # a code not listed: reject
      normalize: {customer_id: [trim, strip_leading_zeros]}     # id rules, in every table
      credit_notes: "amount < 0"        # which invoice rows are credit notes (null: none)
      derive_customers: {columns: {country: countryCode}}
      notes: ["what the export lacks and what was assumed"]

``credit_notes`` is a SQL condition over the invoice columns (and the export's) that marks a row
as a credit note: it is loaded into the ledger's ``credit_notes`` with its amount made positive.
``values`` recode what they list and pass everything else through; ``codes`` are a complete code
table: a value they do not list is rejected. ``derive`` expressions are DuckDB SQL evaluated per row
after the table's other columns are mapped and typed; they may name those canonical columns, any
other column of the export (as text), and derived columns listed before them. A row whose
expression gives NULL or a value of the wrong type is rejected like a bad value in the file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from creditlab.config import reject_unknown_keys
from creditlab.errors import ConfigError
from creditlab.ledger.schema import TABLES

__all__ = ["ID_RULES", "LedgerMapping", "DeriveCustomers", "normalized_sql", "parse_mapping"]

ISO_DATE = "%Y-%m-%d"
# id normalisation rules, applied in the order given (SQL templates over the id's text ``{x}``)
ID_RULES = {
    "trim": "trim({x})",
    "upper": "upper({x})",
    "lower": "lower({x})",
    "remove_spaces": "regexp_replace({x}, '\\s+', '', 'g')",
    "strip_leading_zeros": "(CASE WHEN ltrim({x}, '0') = '' THEN '0' ELSE ltrim({x}, '0') END)",
}


def normalized_sql(expr: str, rules: tuple[str, ...]) -> str:
    """The SQL of an id's text ``expr`` after its ``normalize`` rules (empty: NULL)."""
    for rule in rules:
        expr = ID_RULES[rule].format(x=expr)
    return f"NULLIF({expr}, '')"


@dataclasses.dataclass(frozen=True)
class DeriveCustomers:
    """Build the customers table from invoices: one row per customer_id.

    Built in: ``name`` = customer_id, ``onboarded_on`` = first invoice date, ``payment_terms_days`` =
    median (due_on - issued_on), ``credit_limit`` empty. ``columns`` take a customer attribute from an
    invoice source column (its most frequent value per customer); ``constants`` fill the rest.
    """

    columns: Mapping[str, str] = dataclasses.field(default_factory=dict)
    constants: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class LedgerMapping:
    """A parsed, checked column mapping (see the module docstring for the YAML form)."""

    files: Mapping[str, str | None] = dataclasses.field(default_factory=dict)
    columns: Mapping[str, Mapping[str, str]] = dataclasses.field(default_factory=dict)
    values: Mapping[str, Mapping[str, Mapping[str, Any]]] = dataclasses.field(default_factory=dict)
    constants: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    keep: Mapping[str, Mapping[str, str]] = dataclasses.field(default_factory=dict)
    date_format: str = ISO_DATE
    date_formats: Mapping[str, Mapping[str, str]] = dataclasses.field(default_factory=dict)
    encoding: str = "utf-8"
    delimiter: str = ","
    derive_customers: DeriveCustomers | None = None
    derive: Mapping[str, Mapping[str, str]] = dataclasses.field(default_factory=dict)
    codes: Mapping[str, Mapping[str, Mapping[str, Any]]] = dataclasses.field(default_factory=dict)
    normalize: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    credit_notes: str | None = "amount < 0"
    notes: tuple[str, ...] = ()

    def source_column(self, table: str, column: str) -> str:
        """The export's name for a canonical column (the canonical name when not mapped)."""
        return self.columns.get(table, {}).get(column, column)

    def date_format_for(self, table: str, column: str) -> str:
        """The date format of a table's column (the mapping's, or ISO)."""
        return self.date_formats.get(table, {}).get(column, self.date_format)


def _table_section(raw: Mapping[str, Any], key: str, where: str, *, nested: bool) -> dict:
    section = raw.get(key) or {}
    if not isinstance(section, Mapping):
        raise ConfigError(f"{where}.{key}: expected a mapping of table name to settings")
    out: dict[str, Any] = {}
    for table, entries in section.items():
        if table not in TABLES:
            raise ConfigError(f"{where}.{key}: unknown table {table!r}; tables: {sorted(TABLES)}")
        if not isinstance(entries, Mapping):
            raise ConfigError(f"{where}.{key}.{table}: expected a mapping")
        if key != "keep":
            unknown = sorted(set(entries) - set(TABLES[table].names))
            if unknown:
                raise ConfigError(
                    f"{where}.{key}.{table}: unknown canonical column(s) {unknown}; "
                    f"columns of {table}: {TABLES[table].names}"
                )
        if nested:
            for column, codes in entries.items():
                if not isinstance(codes, Mapping):
                    raise ConfigError(f"{where}.{key}.{table}.{column}: expected a mapping")
        out[table] = {str(k): v for k, v in entries.items()}
    return out


def parse_mapping(raw: Mapping[str, Any] | None, where: str = "mapping") -> LedgerMapping:
    """Check a mapping read from YAML and return a :class:`LedgerMapping`.

    Raises
    ------
    ConfigError
        Unknown keys, tables or canonical columns, or values of the wrong shape.
    """
    if raw is None:
        return LedgerMapping()
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a mapping")
    reject_unknown_keys(raw, {f.name for f in dataclasses.fields(LedgerMapping)}, where)
    files = raw.get("files") or {}
    if not isinstance(files, Mapping) or set(files) - set(TABLES):
        raise ConfigError(f"{where}.files: expected table -> file name, tables: {sorted(TABLES)}")
    derive = raw.get("derive_customers")
    if derive is not None:
        if not isinstance(derive, Mapping) or set(derive) - {"columns", "constants"}:
            raise ConfigError(f"{where}.derive_customers: expected keys 'columns' and 'constants'")
        derive = DeriveCustomers(
            columns=dict(derive.get("columns") or {}), constants=dict(derive.get("constants") or {})
        )
        bad = sorted((set(derive.columns) | set(derive.constants)) - set(TABLES["customers"].names))
        if bad:
            raise ConfigError(f"{where}.derive_customers: unknown customer column(s) {bad}")
    derived = _table_section(raw, "derive", where, nested=False)
    for table, entries in derived.items():
        for column, expr in entries.items():
            if not isinstance(expr, str | int | float) or ";" in str(expr) or not str(expr).strip():
                raise ConfigError(
                    f"{where}.derive.{table}.{column}: expected one SQL expression, got {expr!r}"
                )
            others = [
                k for k in ("columns", "constants") if column in (raw.get(k) or {}).get(table, {})
            ]
            if others:
                raise ConfigError(
                    f"{where}.derive.{table}.{column}: also given in {where}.{others[0]}; "
                    "a column is mapped, constant or derived, not two of these"
                )
    normalize = _normalize(raw.get("normalize"), where)
    credit_notes = raw.get("credit_notes", "amount < 0")
    if credit_notes is False:
        credit_notes = None
    if credit_notes is not None and (not isinstance(credit_notes, str) or ";" in credit_notes):
        raise ConfigError(
            f"{where}.credit_notes: expected one SQL condition over the invoice columns, e.g. "
            f'"amount < 0" or "doc_type = \'CN\'" (null: no credit notes), got {credit_notes!r}'
        )
    notes = raw.get("notes") or ()
    if isinstance(notes, str):
        notes = (notes,)
    delimiter = str(raw.get("delimiter", ","))
    if len(delimiter) != 1:
        raise ConfigError(f"{where}.delimiter: expected one character, got {delimiter!r}")
    return LedgerMapping(
        files=dict(files),
        columns=_table_section(raw, "columns", where, nested=False),
        values=_table_section(raw, "values", where, nested=True),
        constants=_table_section(raw, "constants", where, nested=False),
        keep=_table_section(raw, "keep", where, nested=False),
        date_format=str(raw.get("date_format", ISO_DATE)),
        date_formats=_table_section(raw, "date_formats", where, nested=False),
        encoding=str(raw.get("encoding", "utf-8")),
        delimiter=delimiter,
        derive_customers=derive,
        derive={t: {c: str(e) for c, e in cols.items()} for t, cols in derived.items()},
        codes=_table_section(raw, "codes", where, nested=True),
        normalize=normalize,
        credit_notes=credit_notes,
        notes=tuple(str(n) for n in notes),
    )


def _normalize(raw: Any, where: str) -> dict[str, tuple[str, ...]]:
    """``normalize:``: canonical id column -> its rules (checked against :data:`ID_RULES`)."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}.normalize: expected id column -> list of rules")
    ids = {c.name for t in TABLES.values() for c in t.columns if c.kind == "id"}
    out = {}
    for column, rules in raw.items():
        if column not in ids:
            raise ConfigError(
                f"{where}.normalize: {column!r} is not an id column; id columns: {sorted(ids)}"
            )
        rules = [rules] if isinstance(rules, str) else rules
        if not isinstance(rules, list | tuple) or not rules:
            raise ConfigError(f"{where}.normalize.{column}: expected a list of rules")
        unknown = [r for r in rules if r not in ID_RULES]
        if unknown:
            raise ConfigError(
                f"{where}.normalize.{column}: unknown rule(s) {unknown}; rules: {list(ID_RULES)}"
            )
        out[str(column)] = tuple(rules)
    return out
