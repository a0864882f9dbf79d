"""The ledger: schema, column mappings, loading with rejects, synthetic portfolios, the store."""

from creditlab.ledger.load import Ledger, load_ledger
from creditlab.ledger.mapping import LedgerMapping, parse_mapping
from creditlab.ledger.store import IngestResult, ingest, read_store
from creditlab.ledger.synth import Portfolio, SynthConfig, synthesize
from creditlab.ledger.synth_files import write_portfolio

__all__ = [
    "IngestResult",
    "Ledger",
    "LedgerMapping",
    "Portfolio",
    "SynthConfig",
    "ingest",
    "load_ledger",
    "parse_mapping",
    "read_store",
    "synthesize",
    "write_portfolio",
]
