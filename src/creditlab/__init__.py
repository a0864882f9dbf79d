"""creditlab: a Jupyter-based research and decision-support workbook for trade-credit risk.

Every public name below is imported on first use (``creditlab.open_or_prepare``,
``from creditlab import PDModel``): ``import creditlab`` and the console script stay quick, and only
what a command or notebook uses (PyMC, papermill, Dask, ...) is loaded.
"""

from __future__ import annotations

from creditlab.lazy import lazy_getattr

__version__ = "0.1.0"

# public name -> the module that defines it (a module itself where the two are the same)
_EXPORTS = {
    "features": "creditlab.features",
    "features_sql": "creditlab.features_sql",
    "kpi": "creditlab.kpi",
    "report": "creditlab.report",
    "segments": "creditlab.segments",
    "parse_decision_settings": "creditlab.decisions.params",
    "DecisionSettings": "creditlab.decisions.settings",
    "ConfigError": "creditlab.errors",
    "ConvergenceError": "creditlab.errors",
    "CreditlabError": "creditlab.errors",
    "DeliveryError": "creditlab.errors",
    "RejectsError": "creditlab.errors",
    "ReportError": "creditlab.errors",
    "SchemaError": "creditlab.errors",
    "Ledger": "creditlab.ledger",
    "LedgerMapping": "creditlab.ledger",
    "SynthConfig": "creditlab.ledger",
    "ingest": "creditlab.ledger",
    "load_ledger": "creditlab.ledger",
    "parse_mapping": "creditlab.ledger",
    "read_store": "creditlab.ledger",
    "synthesize": "creditlab.ledger",
    "write_portfolio": "creditlab.ledger",
    "write_bulk_ledger": "creditlab.ledger.bulk",
    "FxRates": "creditlab.ledger.fx",
    "load_fx": "creditlab.ledger.fx",
    "draft_params": "creditlab.ledger.guess",
    "guess_export": "creditlab.ledger.guess",
    "EngineLimits": "creditlab.ledger.stream",
    "LedgerDatabase": "creditlab.ledger.stream",
    "load_into_database": "creditlab.ledger.stream",
    "GateConfig": "creditlab.models.diagnostics",
    "convergence_gate": "creditlab.models.diagnostics",
    "PaymentModel": "creditlab.models.payment",
    "PaymentConfig": "creditlab.models.payment_data",
    "payment_frame": "creditlab.models.payment_data",
    "cash_forecast": "creditlab.models.payment_forecast",
    "Backtest": "creditlab.models.payment_validation",
    "backtest": "creditlab.models.payment_validation",
    "ModelConfig": "creditlab.models.pd",
    "PDModel": "creditlab.models.pd",
    "SamplerConfig": "creditlab.models.pd",
    "fit_table": "creditlab.models.table",
    "score_table": "creditlab.models.table",
    "PortfolioJob": "creditlab.run.batch",
    "discover": "creditlab.run.batch",
    "run_portfolios": "creditlab.run.batch",
    "Outputs": "creditlab.run.folder",
    "RunFolder": "creditlab.run.folder",
    "RunOutcome": "creditlab.run.orchestrate",
    "open_or_prepare": "creditlab.run.orchestrate",
    "render_review": "creditlab.run.orchestrate",
    "run_report": "creditlab.run.orchestrate",
    "RunParams": "creditlab.run.params",
    "load_params": "creditlab.run.params",
    "Run": "creditlab.run.prepare",
    "open_run": "creditlab.run.prepare",
    "prepare_run": "creditlab.run.prepare",
    "approve": "creditlab.run.queries",
    "pd_history": "creditlab.run.queries",
    "read_forecast": "creditlab.run.queries",
    "whatif_base": "creditlab.run.queries",
    "PaymentSettings": "creditlab.run.settings",
    "PDSettings": "creditlab.run.settings",
    "parse_payment_settings": "creditlab.run.settings",
    "parse_pd_settings": "creditlab.run.settings",
    "run_decision_stage": "creditlab.run.stages.decisions",
    "run_payment_stage": "creditlab.run.stages.payment",
    "run_pd_stage": "creditlab.run.stages.pd",
}


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
    "FxRates",
    "load_fx",
    "draft_params",
    "guess_export",
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


__getattr__ = lazy_getattr("creditlab", _EXPORTS, globals())


def __dir__() -> list[str]:
    """Every public name, imported or not (for completion in JupyterLab)."""
    return sorted([*globals(), *__all__])
