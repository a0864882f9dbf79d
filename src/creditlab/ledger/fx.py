"""Several currencies: exchange rates to the portfolio currency, from a rates file or constants.

The params' ``fx:`` section::

    fx:
      rates: fx_rates.csv          # columns date, currency, rate (relative to the params file)
      max_age_days: 45             # a file's rate is good for this many days (default 45)
      constant: {CAD: 0.75}        # a rate for every date (a quick start, or a pegged currency)

A rate is the value of one unit of ``currency`` in the portfolio currency; the rate of a date is
the latest one on or before it, and a file's rate older than ``max_age_days`` is no rate (a
rates file that stops early must not value later invoices silently). Invoices are converted while they are checked (in DuckDB, at their
issue date: :mod:`creditlab.ledger.checks`), keeping ``currency_original``, ``amount_original`` and
``fx_rate``; :func:`revalue_open` then values what is still open at the as-of date at that date's
rate. An invoice whose currency has no rate on or before its issue date is rejected with that reason.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from creditlab.config import reject_unknown_keys
from creditlab.errors import ConfigError
from creditlab.ledger.schema import AMOUNT, AMOUNT_PAID, CURRENCY, ISSUED_ON, PAID_ON

__all__ = [
    "AMOUNT_ORIGINAL",
    "CURRENCY_ORIGINAL",
    "FX_RATE",
    "FxRates",
    "HOW_TO_GIVE_RATES",
    "load_fx",
    "revalue_open",
]

CURRENCY_ORIGINAL, AMOUNT_ORIGINAL, FX_RATE = "currency_original", "amount_original", "fx_rate"
HOW_TO_GIVE_RATES = (
    "give rates in the params: fx: {constant: {CODE: rate}} or fx: {rates: FILE} "
    "(columns date, currency, rate)"
)
_EVER = dt.date(1900, 1, 1)  # the valid-from date of a constant rate


@dataclasses.dataclass(frozen=True)
class FxRates:
    """Exchange rates to the portfolio currency: ``table`` has ``currency, valid_from, rate,
    constant`` (sorted), ``source`` names where they came from (a file with its sha256, or
    "constant"), ``max_age_days`` how long a file's rate holds."""

    table: pd.DataFrame
    source: str
    max_age_days: int = 45

    @property
    def currencies(self) -> list[str]:
        """The currencies with a rate."""
        return sorted(self.table["currency"].unique())

    def rate_on(self, currency: str, day: dt.date) -> float | None:
        """The rate of ``currency`` on ``day`` (the latest on or before it, not older than
        ``max_age_days`` unless constant), None when there is none."""
        rows = self.table[
            (self.table["currency"] == currency) & (self.table["valid_from"] <= pd.Timestamp(day))
        ]
        if rows.empty:
            return None
        last = rows.iloc[-1]
        fresh = pd.Timestamp(day) - last["valid_from"] <= pd.Timedelta(days=self.max_age_days)
        return float(last["rate"]) if last["constant"] or fresh else None


def _positive_rate(value: Any, where: str) -> float:
    try:
        rate = float(value)
    except (TypeError, ValueError):
        rate = float("nan")
    if not np.isfinite(rate) or rate <= 0:
        raise ConfigError(f"{where}: a rate must be a positive number, got {value!r}")
    return rate


def _currency_code(value: Any, where: str) -> str:
    code = str(value).strip()
    if not (len(code) == 3 and code.isalpha() and code.isupper()):
        raise ConfigError(f"{where}: expected an ISO 4217 code like CAD, got {value!r}")
    return code


def _read_rates_file(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise ConfigError(f"fx.rates: rates file {path} not found")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise ConfigError(f"{path}: not a readable CSV file ({exc})") from exc
    raw.columns = [str(c).strip().lower() for c in raw.columns]
    missing = [c for c in ("date", "currency", "rate") if c not in raw.columns]
    if missing:
        raise ConfigError(
            f"{path}: missing column(s) {missing}; a rates file has columns date, currency, rate "
            f"(found {list(raw.columns)})"
        )
    rows = []
    for i, rec in enumerate(
        raw.itertuples(index=False), start=2
    ):  # a small file: checked row by row
        where = f"{path} row {i}"
        try:
            day = dt.date.fromisoformat(rec.date.strip())
        except ValueError:
            raise ConfigError(
                f"{where}, column date: {rec.date!r} is not a date (YYYY-MM-DD)"
            ) from None
        currency = _currency_code(rec.currency, f"{where}, column currency")
        rows.append((currency, day, _positive_rate(rec.rate.strip(), f"{where}, column rate")))
    table = pd.DataFrame(rows, columns=["currency", "valid_from", "rate"])
    dupes = table[table.duplicated(["currency", "valid_from"], keep=False)]
    if len(dupes):
        first = dupes.iloc[0]
        raise ConfigError(
            f"{path}: two rates for {first['currency']} on {first['valid_from']} "
            f"(rows {', '.join(str(i + 2) for i in dupes.index[:2])})"
        )
    return table


def load_fx(raw: Mapping[str, Any] | None, base: Path, where: str = "fx") -> FxRates | None:
    """Parse an ``fx:`` section (``rates`` relative to ``base``, the params file's folder).

    Raises
    ------
    ConfigError
        Unknown keys, a rates file that is missing or has a bad row (its file, row and column are
        named), a rate that is not a positive number, a code that is not ISO 4217.
    """
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a mapping with 'rates' (a file) and/or 'constant'")
    reject_unknown_keys(raw, {"rates", "constant", "max_age_days"}, where)
    max_age = raw.get("max_age_days", 45)
    if not isinstance(max_age, int) or isinstance(max_age, bool) or max_age < 0:
        raise ConfigError(f"{where}.max_age_days: expected a whole number of days, got {max_age!r}")
    parts, sources = [], []
    if raw.get("rates"):
        path = (base / str(raw["rates"])).resolve()
        parts.append(_read_rates_file(path).assign(constant=False))
        sources.append(f"{path.name} (sha256 {hashlib.sha256(path.read_bytes()).hexdigest()[:12]})")
    constant = raw.get("constant") or {}
    if not isinstance(constant, Mapping):
        raise ConfigError(f"{where}.constant: expected currency -> rate, e.g. {{CAD: 0.75}}")
    if constant:
        parts.append(
            pd.DataFrame(
                [
                    (
                        _currency_code(c, f"{where}.constant"),
                        _EVER,
                        _positive_rate(r, f"{where}.constant.{c}"),
                    )
                    for c, r in constant.items()
                ],
                columns=["currency", "valid_from", "rate"],
            ).assign(constant=True)
        )
        sources.append("constant rates " + ", ".join(f"{c} {r:g}" for c, r in constant.items()))
    if not parts:
        raise ConfigError(f"{where}: give 'rates' (a file) or 'constant' (currency -> rate)")
    table = pd.concat(parts, ignore_index=True)
    table["valid_from"] = pd.to_datetime(table["valid_from"])
    table = table.sort_values(["currency", "valid_from"], ignore_index=True)
    return FxRates(table, "; ".join(sources), max_age)


def revalue_open(
    invoices: pd.DataFrame, fx: FxRates, as_of: dt.date
) -> tuple[pd.DataFrame, list[str]]:
    """Value the converted invoices still open at ``as_of`` at the as-of rate.

    History (paid invoices) keeps the issue-date rate it was converted at. Returns the invoices
    and one note per currency revalued ("open CAD invoices valued at 0.7547, the rate on
    2019-10-31").
    """
    if CURRENCY_ORIGINAL not in invoices.columns or invoices.empty:
        return invoices, []
    day = pd.Timestamp(as_of)
    original = invoices[CURRENCY_ORIGINAL]  # empty for rows stored before FX was given
    foreign = original.notna() & (original != invoices[CURRENCY])
    open_ = (invoices[ISSUED_ON] <= day) & (invoices[PAID_ON].isna() | (invoices[PAID_ON] > day))
    out, notes = invoices.copy(), []
    for currency in sorted(invoices.loc[foreign & open_, CURRENCY_ORIGINAL].unique()):
        rows = foreign & open_ & (invoices[CURRENCY_ORIGINAL] == currency)
        rate = fx.rate_on(currency, as_of)
        if rate is None:
            notes.append(
                f"No {currency} rate within {fx.max_age_days} days before {as_of}: the "
                f"{int(rows.sum()):,} open {currency} invoices keep their issue dates' rates."
            )
            continue
        scale = rate / out.loc[rows, FX_RATE]
        out.loc[rows, AMOUNT] = (out.loc[rows, AMOUNT_ORIGINAL] * rate).round(2)
        if AMOUNT_PAID in out.columns:
            out.loc[rows, AMOUNT_PAID] = (out.loc[rows, AMOUNT_PAID] * scale).round(2)
        out.loc[rows, FX_RATE] = rate
        notes.append(
            f"{int(rows.sum()):,} {currency} invoices open on {as_of} are valued at {rate:g}, "
            f"the {currency} rate on that date"
        )
    return out, notes
