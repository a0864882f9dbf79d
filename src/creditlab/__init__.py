"""creditlab: a Jupyter-based research and decision-support workbook for trade-credit risk."""

from creditlab import features, features_sql, kpi, report, segments
from creditlab.config import RunParams, load_params
from creditlab.decision_stage import approve, run_decision_stage
from creditlab.decisions.settings import DecisionSettings, parse_decision_settings
from creditlab.errors import (
    ConfigError,
    ConvergenceError,
    CreditlabError,
    RejectsError,
    ReportError,
    SchemaError,
)
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
from creditlab.ledger.bulk import write_bulk_ledger
from creditlab.ledger.stream import EngineLimits, LedgerDatabase, load_into_database
from creditlab.models.diagnostics import GateConfig, convergence_gate
from creditlab.models.payment import PaymentConfig, PaymentModel, payment_frame
from creditlab.models.payment_forecast import cash_forecast
from creditlab.models.payment_validation import Backtest, backtest
from creditlab.models.pd import ModelConfig, PDModel, SamplerConfig
from creditlab.models.table import fit_table, score_table
from creditlab.payment_stage import parse_payment_settings, read_forecast, run_payment_stage
from creditlab.pipeline import Run, open_run, prepare_run
from creditlab.portfolios import PortfolioJob, discover, run_portfolios
from creditlab.scoring import parse_pd_settings, run_pd_stage

__version__ = "0.1.0"

__all__ = [
    # errors, config
    "ConfigError",
    "ConvergenceError",
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
    "EngineLimits",
    "LedgerDatabase",
    "load_into_database",
    "write_bulk_ledger",
    # kpis and features
    "kpi",
    "features",
    "features_sql",
    # models
    "Backtest",
    "GateConfig",
    "ModelConfig",
    "PDModel",
    "PaymentConfig",
    "PaymentModel",
    "backtest",
    "cash_forecast",
    "payment_frame",
    "SamplerConfig",
    "convergence_gate",
    "fit_table",
    "score_table",
    # segments and decisions
    "segments",
    "DecisionSettings",
    "parse_decision_settings",
    "run_decision_stage",
    "approve",
    # pipeline
    "Run",
    "open_run",
    "prepare_run",
    "parse_pd_settings",
    "run_pd_stage",
    "parse_payment_settings",
    "read_forecast",
    "run_payment_stage",
    # reports and batches of portfolios
    "report",
    "PortfolioJob",
    "discover",
    "run_portfolios",
]
