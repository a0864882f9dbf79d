"""creditlab: a Jupyter-based research and decision-support workbook for trade-credit risk."""

from creditlab import kpi, report
from creditlab.config import RunParams, load_params
from creditlab.errors import ConfigError, CreditlabError, RejectsError, ReportError, SchemaError
from creditlab.ledger import (
    Ledger,
    LedgerMapping,
    SynthConfig,
    ingest,
    load_ledger,
    parse_mapping,
    read_store,
    synthesize,
    write_portfolio,
)
from creditlab.pipeline import Run, open_run, prepare_run

__version__ = "0.1.0"

__all__ = [
    # errors, config
    "ConfigError",
    "CreditlabError",
    "RejectsError",
    "ReportError",
    "SchemaError",
    "RunParams",
    "load_params",
    # ledger
    "Ledger",
    "LedgerMapping",
    "SynthConfig",
    "ingest",
    "load_ledger",
    "parse_mapping",
    "read_store",
    "synthesize",
    "write_portfolio",
    # kpis
    "kpi",
    # pipeline
    "Run",
    "open_run",
    "prepare_run",
    # reports
    "report",
]
