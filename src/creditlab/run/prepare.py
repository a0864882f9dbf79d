"""One run's data stages: resolve the ledger, validate it, store it, and freeze it into the run folder.

``prepare_run`` writes into the run folder everything a report notebook needs (the validated ledger
as Parquet, ``rejects.csv`` and ``inputs.json`` with counts, hashes and notes), so the notebook only
reads (``open_run``) and an executed report can always be traced back to its exact inputs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
from pathlib import Path

import pandas as pd

from creditlab.errors import ConfigError
from creditlab.ledger.fx import load_fx, revalue_open
from creditlab.ledger.load import Ledger, load_ledger
from creditlab.ledger.mapping import parse_mapping
from creditlab.ledger.schema import ISSUED_ON, PAID_ON, REJECT_COLUMNS
from creditlab.ledger.store import ingest, read_store
from creditlab.ledger.synth import synthesize
from creditlab.ledger.synth_files import write_portfolio
from creditlab.run.folder import INPUTS_FILE, LEDGER_DIR, REJECTS_FILE
from creditlab.run.params import RunParams, load_params

__all__ = ["Run", "check_as_of", "ledger_dates", "open_run", "prepare_run"]

log = logging.getLogger(__name__)

LEDGER_TABLES = ("customers", "invoices", "events", "credit_notes")  # frozen under ledger/


@dataclasses.dataclass
class Run:
    """A prepared run: its folder, params, as-of date and validated ledger."""

    run_dir: Path
    run_id: str
    params: RunParams
    as_of: dt.date
    ledger: Ledger
    inputs: dict

    @property
    def rows_after_as_of(self) -> int:
        """Invoices issued after the as-of date: in the data, ignored by every figure."""
        return int((self.ledger.invoices[ISSUED_ON] > pd.Timestamp(self.as_of)).sum())


def ledger_dates(ledger: Ledger) -> pd.Series:
    """Every invoice and payment date of the ledger (its activity)."""
    return pd.concat([ledger.invoices[ISSUED_ON], ledger.invoices[PAID_ON]]).dropna()


def _resolve_as_of(params: RunParams, ledger: Ledger) -> dt.date:
    if params.as_of is not None:
        return params.as_of
    dates = ledger_dates(ledger)
    if dates.empty:
        raise ConfigError("as_of is not set and the ledger has no dates to take it from")
    return dates.max().date()


def check_as_of(as_of: dt.date, ledger: Ledger) -> str | None:
    """Check the as-of date against the ledger's dates before any figure is computed.

    Returns a warning (one line) when ``as_of`` lies after the ledger's last date: the figures
    then describe a ledger that stopped earlier, and everything since is missing from it.

    Raises
    ------
    ConfigError
        ``as_of`` lies before the ledger's first invoice: there is nothing to report on.
    """
    issued = ledger.invoices[ISSUED_ON].dropna()
    if issued.empty:
        return None
    first, last = issued.min().date(), ledger_dates(ledger).max().date()
    if as_of < first:
        raise ConfigError(
            f"as-of date {as_of} is before the ledger's first invoice ({first}; the ledger runs "
            f"from {first} to {last}): choose a date in that range"
        )
    if as_of > last:
        return (
            f"as-of date {as_of} is {(as_of - last).days} days after the ledger's last date "
            f"({last}): anything issued or paid since is not in this export"
        )
    return None


def prepare_run(
    params: RunParams | str | Path,
    run_dir: str | Path,
    *,
    data: str | Path | None = None,
    as_of: str | None = None,
) -> Run:
    """Load, validate (and store) the run's ledger and freeze it into ``run_dir``.

    ``rejects.csv`` is written before ``strict`` mode can fail the run, so nothing is lost.

    Raises
    ------
    ConfigError, SchemaError
        Bad params or structural data problems.
    RejectsError
        Rows were rejected and ``params.strict`` is on.
    """
    if not isinstance(params, RunParams):
        params = load_params(params, data=data, as_of=as_of)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    source = params.data
    if source is None:
        cfg = params.synth_config()
        source = write_portfolio(synthesize(cfg), run_dir / "data")
        log.info("generated a synthetic portfolio of %s customers in %s", cfg.customers, source)
    fx = load_fx(params.fx, Path("/"))  # its rates file is already an absolute path
    ledger = load_ledger(source, parse_mapping(params.mapping), currency=params.currency, fx=fx)
    rejects = ledger.rejects if len(ledger.rejects) else pd.DataFrame(columns=REJECT_COLUMNS)
    rejects.to_csv(run_dir / REJECTS_FILE, index=False)
    if params.strict:
        ledger.raise_if_rejects()
    store_counts = None
    if params.store is not None:
        result = ingest(ledger, params.store)
        stored = read_store(params.store)
        ledger = dataclasses.replace(ledger, **stored)
        store_counts = dataclasses.asdict(result)
    as_of_date = _resolve_as_of(params, ledger)
    late = check_as_of(as_of_date, ledger)
    if late:
        log.warning("%s", late)
    if fx is not None:
        invoices, notes = revalue_open(ledger.invoices, fx, as_of_date)
        credits, credit_notes = revalue_open(ledger.credit_notes, fx, as_of_date)
        ledger = dataclasses.replace(
            ledger,
            invoices=invoices,
            credit_notes=credits,
            notes=[*ledger.notes, *notes, *(f"Credit notes: {n}" for n in credit_notes)],
        )
    (run_dir / LEDGER_DIR).mkdir(exist_ok=True)
    for name in LEDGER_TABLES:
        getattr(ledger, name).to_parquet(run_dir / LEDGER_DIR / f"{name}.parquet", index=False)
    inputs = {
        "run_id": run_dir.name,
        "as_of": as_of_date.isoformat(),
        "source": os.path.relpath(source, run_dir)
        if Path(source).is_relative_to(run_dir)
        else str(source),
        "synthetic": params.data is None,
        "data_hash": ledger.data_hash,
        "files": ledger.counts.to_dict(orient="records"),
        "notes": ledger.notes,
        "store": str(params.store) if params.store else None,
        "store_ingest": store_counts,
        "params": params.to_dict(),
    }
    (run_dir / INPUTS_FILE).write_text(json.dumps(inputs, indent=2, default=str) + "\n")
    return Run(run_dir, run_dir.name, params, as_of_date, ledger, inputs)


def open_run(run_dir: str | Path) -> Run:
    """Open a run folder prepared by :func:`prepare_run`."""
    run_dir = Path(run_dir)
    inputs_path = run_dir / INPUTS_FILE
    if not inputs_path.is_file():
        raise ConfigError(f"{run_dir}: not a prepared run folder (no {INPUTS_FILE})")
    inputs = json.loads(inputs_path.read_text())
    params = RunParams.from_dict(inputs["params"])
    frames = {
        name: pd.read_parquet(run_dir / LEDGER_DIR / f"{name}.parquet")
        for name in LEDGER_TABLES
        if (run_dir / LEDGER_DIR / f"{name}.parquet").is_file()  # older runs: no credit notes
    }
    rejects = pd.read_csv(run_dir / REJECTS_FILE, dtype={"record_id": "string"})
    ledger = Ledger(
        **frames,
        rejects=rejects,
        counts=pd.DataFrame(inputs["files"]),
        notes=list(inputs["notes"]),
        source=inputs["source"],
    )
    return Run(
        run_dir, inputs["run_id"], params, dt.date.fromisoformat(inputs["as_of"]), ledger, inputs
    )
