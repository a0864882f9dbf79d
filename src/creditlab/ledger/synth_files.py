"""Write a synthetic portfolio (:mod:`creditlab.ledger.synth`) as a ledger folder: the three CSV
files a user's export would hold, and ``truth/`` with the parameters it was drawn from."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from creditlab.ledger.synth import Portfolio

__all__ = ["write_portfolio"]


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    arrays = {
        col: pa.array(values.to_numpy().astype("datetime64[D]"), type=pa.date32())
        if pd.api.types.is_datetime64_any_dtype(values)
        else pa.array(values, from_pandas=True)  # NaN as empty
        for col, values in frame.items()
    }
    table = pa.table(arrays)
    pacsv.write_csv(table, path, pacsv.WriteOptions(quoting_style="needed"))


def write_portfolio(portfolio: Portfolio, out: str | Path) -> Path:
    """Write ``customers.csv``, ``invoices.csv``, ``events.csv`` and ``truth/`` into ``out``."""
    out = Path(out)
    (out / "truth").mkdir(parents=True, exist_ok=True)
    _write_csv(portfolio.customers, out / "customers.csv")
    _write_csv(portfolio.invoices, out / "invoices.csv")
    _write_csv(portfolio.events, out / "events.csv")
    _write_csv(portfolio.truth_customers, out / "truth" / "customers.csv")
    _write_csv(portfolio.truth_coefficients, out / "truth" / "coefficients.csv")
    _write_csv(portfolio.truth_payment, out / "truth" / "payment.csv")
    _write_csv(portfolio.truth_contacts, out / "truth" / "contacts.csv")
    cfg = dataclasses.asdict(portfolio.config)
    cfg["end"] = portfolio.config.end.isoformat()
    (out / "truth" / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    return out
