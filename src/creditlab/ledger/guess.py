"""A first params file for an export nobody has mapped yet (``creditlab init``).

:func:`guess_export` reads an export (one file, or a folder of them) with DuckDB, guesses which of
its columns is which canonical column from names and sampled values, the date format, the
currencies and whether ids need normalising; :func:`draft_params` writes that as a commented params
file with a ``mapping:`` section and a ``TODO`` wherever a person has to decide.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
from pathlib import Path

import duckdb

from creditlab.errors import SchemaError
from creditlab.ledger.checks import ident, literal
from creditlab.ledger.schema import (
    AMOUNT,
    AMOUNT_PAID,
    CHANNEL,
    COUNTRY,
    CREDIT_LIMIT,
    CURRENCY,
    CUSTOMER_ID,
    DETAIL,
    DISPUTED,
    DUE_ON,
    EMAIL,
    EVENT_ON,
    EXTERNAL_SCORE,
    INDUSTRY,
    INVOICE_ID,
    ISSUED_ON,
    KIND,
    LANGUAGE,
    NAME,
    NOTE,
    ONBOARDED_ON,
    OUTCOME,
    PAID_ON,
    PAYMENT_TERMS_DAYS,
    PROMISED_ON,
    TABLES,
    VALUE,
)

__all__ = ["ExportGuess", "TableGuess", "draft_params", "guess_export"]

SAMPLE_ROWS = 5000
# names an export commonly uses for each canonical column (compared without case and punctuation)
CUSTOMER_NAMES = (
    "customerid",
    "customer",
    "custno",
    "customerno",
    "customernumber",
    "custid",
    "custkey",
    "customerkey",
    "kunnr",
    "accountid",
    "account",
    "clientid",
    "debtor",
)
SYNONYMS: dict[str, dict[str, tuple[str, ...]]] = {
    "invoices": {
        INVOICE_ID: (
            "invoiceid",
            "invoice",
            "invoiceno",
            "invoicenumber",
            "docno",
            "documentno",
            "documentnumber",
            "docid",
            "belnr",
            "billid",
            "billno",
            "reference",
        ),
        CUSTOMER_ID: CUSTOMER_NAMES,
        ISSUED_ON: (
            "issuedon",
            "invoicedate",
            "postingdate",
            "documentdate",
            "docdate",
            "issuedate",
            "billingdate",
            "bldat",
            "budat",
            "createdon",
            "date",
        ),
        DUE_ON: ("dueon", "duedate", "due", "netduedate", "dueday"),
        PAID_ON: (
            "paidon",
            "cleardate",
            "clearingdate",
            "cleareddate",
            "cleared",
            "settleddate",
            "settlementdate",
            "paymentdate",
            "paiddate",
            "augdt",
            "paid",
        ),
        AMOUNT: (
            "amount",
            "invoiceamount",
            "openamount",
            "totalopenamount",
            "amt",
            "grossamount",
            "value",
            "dmbtr",
            "wrbtr",
            "total",
        ),
        CURRENCY: ("currency", "curr", "currencycode", "invoicecurrency", "waers", "ccy"),
        AMOUNT_PAID: ("amountpaid", "paidamount", "paymentamount"),
        DISPUTED: ("disputed", "dispute", "indispute", "isdisputed"),
    },
    "customers": {
        CUSTOMER_ID: CUSTOMER_NAMES,
        NAME: ("name", "customername", "custname", "companyname", "accountname"),
        INDUSTRY: ("industry", "sector", "segment", "branch", "naics", "sic"),
        COUNTRY: ("country", "countrycode", "land", "land1"),
        CREDIT_LIMIT: ("creditlimit", "limit", "creditline"),
        PAYMENT_TERMS_DAYS: ("paymenttermsdays", "paymentterms", "terms", "termsdays", "netdays"),
        ONBOARDED_ON: ("onboardedon", "customersince", "createdon", "since", "opened"),
        EXTERNAL_SCORE: ("externalscore", "score", "creditscore", "bureauscore", "rating"),
        LANGUAGE: ("language", "lang", "languagecode", "correspondencelanguage", "spras"),
        EMAIL: ("email", "emailaddress", "apemail", "mail", "contactemail"),
    },
    "events": {
        CUSTOMER_ID: CUSTOMER_NAMES,
        EVENT_ON: ("eventon", "date", "eventdate"),
        KIND: ("kind", "event", "eventtype", "type"),
        INVOICE_ID: ("invoiceid", "invoice", "invoiceno", "invoicenumber", "docid", "document"),
        PROMISED_ON: (
            "promisedon",
            "promisedate",
            "promiseddate",
            "ptpdate",
            "promisedpaymentdate",
        ),
        AMOUNT: ("amount", "promisedamount", "disputedamount", "value"),
        CHANNEL: ("channel", "contactchannel", "medium", "via"),
        OUTCOME: ("outcome", "result", "response"),
        DETAIL: ("detail", "reason", "disputereason", "field", "signal", "subtype"),
        VALUE: ("value", "newvalue", "score", "rating"),
        NOTE: ("note", "notes", "comment", "comments", "remark", "text"),
    },
}
_KINDS = {c.name: c.kind for t in TABLES.values() for c in t.columns}
DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%d/%m/%Y", "%d.%m.%Y", "%Y%m%d", "%m/%d/%y", "%d-%m-%Y")


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


@dataclasses.dataclass
class TableGuess:
    """What was guessed about one file: its table, column per canonical column (with a score)."""

    table: str
    path: Path
    rows: int
    columns: list[str]
    mapped: dict[str, str] = dataclasses.field(default_factory=dict)
    date_format: str = "%Y-%m-%d"
    delimiter: str = ","
    currencies: dict[str, int] = dataclasses.field(default_factory=dict)
    id_merges: int = 0
    values: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)

    @property
    def missing(self) -> list[str]:
        """Required canonical columns with no guess (the currency defaults to the portfolio's)."""
        spec = TABLES[self.table]
        return [
            c.name
            for c in spec.columns
            if not c.optional and c.name not in self.mapped and c.name != CURRENCY
        ]


@dataclasses.dataclass
class ExportGuess:
    """Every file of an export with its guesses; ``folder`` holds them."""

    folder: Path
    tables: dict[str, TableGuess]


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise SchemaError(f"{path}: no such file or folder")
    found = sorted(p for p in path.iterdir() if p.suffix.lower() in (".csv", ".parquet", ".txt"))
    if not found:
        raise SchemaError(f"{path}: no CSV or Parquet files in this folder")
    return found


def _read(con: duckdb.DuckDBPyConnection, path: Path) -> tuple[str, str]:
    """A view of the file with every column as text (CSV dialect detected by DuckDB), and the
    file's delimiter."""
    view = ident("f_" + _norm(path.stem))
    if path.suffix.lower() == ".parquet":
        source = f"read_parquet({literal(str(path))})"
        con.execute(f"CREATE VIEW {view} AS SELECT * FROM {source}")
        cols = [r[0] for r in con.execute(f"DESCRIBE {view}").fetchall()]
        casts = ", ".join(f"CAST({ident(c)} AS VARCHAR) AS {ident(c)}" for c in cols)
        con.execute(f"CREATE OR REPLACE VIEW {view} AS SELECT {casts} FROM {source}")
        return view, ","
    try:
        con.execute(
            f"CREATE VIEW {view} AS SELECT * FROM read_csv({literal(str(path))}, all_varchar = true, "
            "header = true, ignore_errors = true)"
        )
        con.execute(f"SELECT * FROM {view} LIMIT 1").fetchall()
        delimiter = con.execute(
            f"SELECT Delimiter FROM sniff_csv({literal(str(path))})"
        ).fetchone()[0]
    except duckdb.Error as exc:
        raise SchemaError(f"{path}: could not be read as CSV: {str(exc).splitlines()[0]}") from exc
    return view, delimiter


def _share(con, view: str, column: str, test: str) -> float:
    """Share of the sampled non-empty values of ``column`` for which the SQL ``test`` (over x) holds."""
    x = f"trim({ident(column)})"
    expr = test.format(x=x)
    ok, n = con.execute(
        f"SELECT count(*) FILTER (WHERE {expr}), count(*) FROM "
        f"(SELECT * FROM {view} LIMIT {SAMPLE_ROWS}) WHERE NULLIF({x}, '') IS NOT NULL"
    ).fetchone()
    return ok / n if n else 0.0


def _date_format(con, view: str, column: str) -> tuple[str, float]:
    best = ("%Y-%m-%d", 0.0)
    for fmt in DATE_FORMATS:
        share = _share(con, view, column, f"try_strptime({{x}}, {literal(fmt)}) IS NOT NULL")
        if share > best[1] + 1e-9:
            best = (fmt, share)
    return best


_VALUE_TESTS = {
    "decimal": "try_cast({x} AS DOUBLE) IS NOT NULL",
    "number": "try_cast({x} AS DOUBLE) IS NOT NULL",
    "int": "regexp_full_match({x}, '[+-]?[0-9]+')",
    "currency": "regexp_full_match({x}, '[A-Z]{{3}}')",
    "country": "regexp_full_match({x}, '[A-Za-z]{{2}}')",
    "bool": "lower({x}) IN ('true','false','t','f','yes','no','y','n','1','0')",
}


def _fits(con, view: str, column: str, kind: str) -> bool:
    """Whether the sampled values of ``column`` look like values of ``kind``."""
    if kind == "date":
        return _date_format(con, view, column)[1] >= 0.9
    test = _VALUE_TESTS.get(kind)
    return test is None or _share(con, view, column, test) >= 0.9


def _score(name: str, synonyms: tuple[str, ...]) -> float:
    n = _norm(name)
    if not n:
        return 0.0
    if n in synonyms:
        return 1.0 - synonyms.index(n) * 0.001  # earlier synonyms are the more usual names
    if any(s in n for s in synonyms if len(s) >= 6):  # not "date" in "clearing date"
        return 0.8
    ratio = max(difflib.SequenceMatcher(None, n, s).ratio() for s in synonyms)
    return ratio * 0.7 if ratio >= 0.75 else 0.0


def _guess_table(con, path: Path, view: str, table: str, columns: list[str]) -> TableGuess:
    rows = con.execute(f"SELECT count(*) FROM {view}").fetchone()[0]
    guess = TableGuess(table, path, rows, columns)
    pairs = sorted(
        (
            (_score(col, names), canonical, col)
            for canonical, names in SYNONYMS[table].items()
            for col in columns
        ),
        reverse=True,
    )
    used: set[str] = set()
    for score, canonical, col in pairs:
        if score <= 0 or canonical in guess.mapped or col in used:
            continue
        if not _fits(con, view, col, _KINDS[canonical]):
            continue
        guess.mapped[canonical] = col
        used.add(col)
    formats = [
        _date_format(con, view, col)[0] for c, col in guess.mapped.items() if _KINDS[c] == "date"
    ]
    if formats:
        guess.date_format = max(set(formats), key=formats.count)
    if CURRENCY in guess.mapped:
        cur = ident(guess.mapped[CURRENCY])
        guess.currencies = dict(
            con.execute(
                f"SELECT trim({cur}), count(*) FROM {view} WHERE NULLIF(trim({cur}), '') IS NOT NULL "
                "GROUP BY 1 ORDER BY 2 DESC"
            ).fetchall()
        )
    if CUSTOMER_ID in guess.mapped:
        cid = f"NULLIF(trim({ident(guess.mapped[CUSTOMER_ID])}), '')"
        raw, stripped = con.execute(
            f"SELECT count(DISTINCT {cid}), count(DISTINCT ltrim({cid}, '0')) FROM {view}"
        ).fetchone()
        guess.id_merges = raw - stripped
    if DISPUTED in guess.mapped:
        values = [
            r[0]
            for r in con.execute(
                f"SELECT DISTINCT trim({ident(guess.mapped[DISPUTED])}) FROM {view} LIMIT 10"
            ).fetchall()
        ]
        yes = {v: "true" for v in values if v and v.lower() in ("yes", "y", "disputed")}
        no = {v: "false" for v in values if v and v.lower() in ("no", "n")}
        if yes or no:
            guess.values[DISPUTED] = {**yes, **no}
    return guess


def guess_export(path: str | Path) -> ExportGuess:
    """Guess the table and the canonical columns of every file of an export.

    A file is taken as events when it has an event kind column, as the invoices when at least
    three of its columns are named like invoice columns, else as the customers; the first file of
    each table counts.

    Raises
    ------
    SchemaError
        No such file or folder, no CSV or Parquet file in it, a file that cannot be read, or no file
        that looks like invoices.
    """
    path = Path(path)
    files = _files(path)
    con = duckdb.connect()
    tables: dict[str, TableGuess] = {}
    try:
        for file in files:
            view, delimiter = _read(con, file)
            columns = [r[0] for r in con.execute(f"DESCRIBE {view}").fetchall()]
            norms = {_norm(c) for c in columns}
            invoice_like = sum(
                any(_score(c, names) >= 0.8 for c in columns)
                for names in SYNONYMS["invoices"].values()
            )
            if _norm(KIND) in norms or "eventtype" in norms:
                table = "events"
            elif invoice_like >= 3:
                table = "invoices"
            else:
                table = "customers"
            if table not in tables:
                tables[table] = _guess_table(con, file, view, table, columns)
                tables[table].delimiter = delimiter
    finally:
        con.close()
    if "invoices" not in tables:
        raise SchemaError(
            f"{path}: no file looks like invoices (columns like invoice id, customer, due date, "
            f"amount); files: {[f.name for f in files]}"
        )
    return ExportGuess(path if path.is_dir() else path.parent, tables)


def _yaml_map(entries: dict[str, str], indent: int) -> list[str]:
    pad = " " * indent
    return [f"{pad}{k}: {_quote(v)}" for k, v in entries.items()]


def _quote(value: object) -> str:
    text = str(value)
    if (
        re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\- ]*", text)
        and text.lower() not in ("yes", "no", "true", "false", "null", "on", "off", "y", "n")
        and text == text.strip()
    ):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# the bank-holiday calendar (payment_model.model.holidays) a draft suggests for a home currency
BANK_CALENDARS = {"USD": "FED", "EUR": "ECB", "GBP": "GB", "CAD": "CA", "CHF": "CH", "JPY": "JP",
                  "AUD": "AU", "SEK": "SE", "NOK": "NO", "DKK": "DK", "PLN": "PL", "CZK": "CZ"}  # fmt: skip


def draft_params(guess: ExportGuess, out: str | Path) -> str:
    """A commented draft params file for the guessed export (``TODO`` where a person decides).

    The ``data`` path is written relative to ``out``'s folder.
    """
    inv = guess.tables["invoices"]
    cust = guess.tables.get("customers")
    out = Path(out)
    data = os.path.relpath(guess.folder.resolve(), out.resolve().parent)
    currencies = list(inv.currencies)
    home = currencies[0] if currencies else "EUR"
    lines = [
        f"# Draft params written by `creditlab init` for {inv.path.name}: check every line marked TODO,",
        "# then `creditlab validate --data DATA --mapping THIS_FILE` and `creditlab run weekly --params THIS_FILE`.",
        f'title: "Weekly portfolio report: {guess.folder.name}"',
        f"portfolio: {re.sub(r'[^A-Za-z0-9]+', '_', guess.folder.name).strip('_') or 'portfolio'}",
        f"data: {_quote(data)}",
        "as_of: null                 # TODO: the week-ending date to report on (null: the ledger's last date)",
    ]
    if currencies:
        counts = ", ".join(f"{c} {n:,}" for c, n in inv.currencies.items())
        lines.append(
            f"currency: {home}               # the most frequent currency ({counts} invoices)"
        )
    else:
        lines.append(f"currency: {home}               # TODO: the export names no currency")
    if len(currencies) > 1:
        lines += [
            "fx:                         # TODO: rates to the portfolio currency (or a file: rates: FILE "
            "with columns date, currency, rate)",
            "  constant: {" + ", ".join(f"{c}: TODO" for c in currencies[1:]) + "}",
        ]
    lines += ["", "mapping:", "  files:", f"    invoices: {_quote(inv.path.name)}"]
    lines.append(
        f"    customers: {_quote(cust.path.name)}"
        if cust
        else "    customers: null             # no customers file: derived from the invoices"
    )
    if "events" in guess.tables:
        lines.append(f"    events: {_quote(guess.tables['events'].path.name)}")
    if inv.delimiter != ",":
        lines.append(f"  delimiter: {_quote(inv.delimiter)}")
    if inv.date_format != "%Y-%m-%d":
        lines.append(f'  date_format: "{inv.date_format}"')
    lines.append("  columns:")
    for table in ("invoices", "customers", "events"):
        t = guess.tables.get(table)
        if t is None or not t.mapped:
            continue
        lines.append(f"    {table}:")
        order = TABLES[table].names
        lines += _yaml_map(dict(sorted(t.mapped.items(), key=lambda kv: order.index(kv[0]))), 6)
        for column in t.missing:
            if not (table == "invoices" and column == ISSUED_ON and DUE_ON in inv.mapped):
                lines.append(
                    f"      {column}: TODO        # not found in {t.path.name}: {t.columns}"
                )
    if inv.id_merges:
        lines += [
            "  normalize:                  # ids spelled with and without leading zeros: "
            f"{inv.id_merges:,} would merge",
            "    customer_id: [trim, strip_leading_zeros]",
        ]
    if ISSUED_ON not in inv.mapped and DUE_ON in inv.mapped:
        lines += [
            "  derive:",
            "    invoices:",
            "      # TODO: no issue date in the export: due date minus your usual payment terms",
            "      # (an invoice paid before that is rejected; least(due_on - 30, paid_on) takes it",
            "      # as issued on the day it was paid)",
            '      issued_on: "due_on - 30"',
        ]
    values = {t: g.values for t, g in guess.tables.items() if g.values}
    if values:
        lines.append("  values:")
        for table, cols in values.items():
            lines.append(f"    {table}:")
            for col, codes in cols.items():
                lines.append(
                    f"      {col}: {{"
                    + ", ".join(f"{_quote(k)}: {v}" for k, v in codes.items())
                    + "}"
                )
    if cust is None:
        name_cols = [c for c in inv.columns if _score(c, SYNONYMS["customers"][NAME]) >= 0.8]
        lines.append("  derive_customers:")
        if name_cols:
            lines += ["    columns:", f"      name: {_quote(name_cols[0])}"]
        lines.append("    constants: {industry: unknown}   # TODO: industries, if you have them")
    lines += [
        "  notes:",
        f'    - "Mapping drafted by creditlab init from {inv.path.name}; reviewed by: TODO."',
        "",
        "# Payment timing from the paid invoices; decisions that need no PD (provisions, worklist).",
        "payment_model:",
        "  segment_by: none",
        f"  model: {{holidays: {BANK_CALENDARS.get(home, '[]')}}}"
        + (
            f"   # TODO: check: the bank holidays of {home} payments"
            if home in BANK_CALENDARS
            else f"   # TODO: the bank-holiday calendar of {home} payments (README: bank holidays)"
        ),
        "decisions:",
        "  provisions: {history_months: 12}",
        "# pd_model: {}   # switch the PD model on once the ledger has default events (see README)",
    ]
    return "\n".join(lines) + "\n"
