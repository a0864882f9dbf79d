"""Load a ledger (a folder of CSV/Parquet files, or a DuckDB database) into validated canonical tables.

The work happens inside DuckDB (:mod:`creditlab.ledger.staging`): every source column is read as
text, mapped, parsed and checked with SQL, so a few million invoices validate in seconds and no row
is ever dropped silently. Structural problems (missing file or column, bad encoding, duplicate
header, empty table) raise :class:`~creditlab.errors.SchemaError`. Row problems send the row to
``Ledger.rejects`` with its file, row number (as a spreadsheet shows it: the header is row 1), id,
column, value and reason; for every file ``read = loaded + rejected``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from pathlib import Path

import pandas as pd

from creditlab.errors import RejectsError
from creditlab.ledger.fx import FxRates
from creditlab.ledger.mapping import LedgerMapping, parse_mapping
from creditlab.ledger.schema import COUNT_COLUMNS, CREDIT_NOTES, REJECT_COLUMNS, TABLES
from creditlab.ledger.staging import Loader, empty_table, validate_tables

__all__ = ["Accounted", "Ledger", "load_ledger"]

log = logging.getLogger(__name__)


class Accounted:
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
class Ledger(Accounted):
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
    credit_notes
        The invoice rows that are credit notes (``mapping.credit_notes``), amounts positive.
    """

    customers: pd.DataFrame
    invoices: pd.DataFrame
    events: pd.DataFrame
    rejects: pd.DataFrame
    counts: pd.DataFrame
    notes: list[str]
    source: str
    credit_notes: pd.DataFrame = dataclasses.field(
        default_factory=lambda: empty_table(CREDIT_NOTES)
    )

    def raise_if_rejects(self) -> None:
        """Raise :class:`RejectsError` when any row was rejected (``--strict``)."""
        if len(self.rejects):
            first = self.rejects.iloc[0]
            raise RejectsError(
                f"{len(self.rejects):,} row(s) rejected and strict mode is on; first: "
                f"{first['file']} row {first['row']}, column {first['column']}: {first['reason']}"
            )


def load_ledger(
    source: str | Path,
    mapping: LedgerMapping | dict | None = None,
    *,
    currency: str | None = None,
    fx: FxRates | None = None,
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
        The portfolio currency: invoices in another currency are converted with ``fx`` or, without
        a rate, rejected; a missing currency column is filled with it (and a note says so).
    fx
        Exchange rates to ``currency`` (:func:`creditlab.ledger.fx.load_fx`): converted invoices
        keep ``currency_original``, ``amount_original`` and ``fx_rate``.

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
    loader = Loader(Path(source), mapping, currency, fx=fx)
    tables, rejects, counts = validate_tables(loader, loader.results)
    loader.con.close()
    customers, invoices = tables["customers"], tables["invoices"]
    events = tables.get("events", empty_table(TABLES["events"]))

    rejects_df = (
        pd.concat([r for r in rejects if len(r)], ignore_index=True)
        if any(len(r) for r in rejects)
        else pd.DataFrame(columns=REJECT_COLUMNS)
    )
    counts_df = pd.DataFrame(counts, columns=COUNT_COLUMNS)
    ledger = Ledger(
        customers,
        invoices,
        events,
        rejects_df,
        counts_df,
        loader.notes,
        str(source),
        credit_notes=tables.get("credit_notes", empty_table(CREDIT_NOTES)),
    )
    log.info("loaded ledger from %s\n%s", source, ledger.summary())
    return ledger
