"""creditlab: a Jupyter-based research and decision-support workbook for trade-credit risk."""

from creditlab import features, features_sql, kpi, report, segments
from creditlab.decisions.params import parse_decision_settings
from creditlab.decisions.settings import DecisionSettings
from creditlab.errors import (
    ConfigError,
    ConvergenceError,
    CreditlabError,
    DeliveryError,
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
from creditlab.models.payment import PaymentModel
from creditlab.models.payment_data import PaymentConfig, payment_frame
from creditlab.models.payment_forecast import cash_forecast
from creditlab.models.payment_validation import Backtest, backtest
from creditlab.models.pd import ModelConfig, PDModel, SamplerConfig
from creditlab.models.table import fit_table, score_table
from creditlab.run.batch import PortfolioJob, discover, run_portfolios
from creditlab.run.folder import Outputs, RunFolder
from creditlab.run.orchestrate import RunOutcome, open_or_prepare, render_review, run_report
from creditlab.run.params import RunParams, load_params
from creditlab.run.prepare import Run, open_run, prepare_run
from creditlab.run.queries import approve, pd_history, read_forecast, whatif_base
from creditlab.run.settings import (
    PaymentSettings,
    PDSettings,
    parse_payment_settings,
    parse_pd_settings,
)
from creditlab.run.stages.decisions import run_decision_stage
from creditlab.run.stages.payment import run_payment_stage
from creditlab.run.stages.pd import run_pd_stage

__version__ = "0.1.0"

__all__ = [
    # errors, params
    "ConfigError",
    "ConvergenceError",
    "CreditlabError",
    "DeliveryError",
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
    # one run: params, folder, stages, orchestration, questions asked of a finished run
    "Outputs",
    "PDSettings",
    "PaymentSettings",
    "Run",
    "RunFolder",
    "RunOutcome",
    "open_or_prepare",
    "open_run",
    "parse_payment_settings",
    "parse_pd_settings",
    "prepare_run",
    "render_review",
    "run_decision_stage",
    "run_payment_stage",
    "run_pd_stage",
    "run_report",
    "approve",
    "pd_history",
    "read_forecast",
    "whatif_base",
    # reports and batches of portfolios
    "report",
    "PortfolioJob",
    "discover",
    "run_portfolios",
]
