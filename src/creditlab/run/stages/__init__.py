"""The stages of a run, in the order they run: KPIs, PD model, payment model, decisions, portfolio
loss."""

from __future__ import annotations

from creditlab.run.params import RunParams
from creditlab.run.stages.base import Stage, run_stage, run_stages
from creditlab.run.stages.decisions import DecisionStage
from creditlab.run.stages.kpis import KpiStage
from creditlab.run.stages.payment import PaymentStage
from creditlab.run.stages.pd import PDStage
from creditlab.run.stages.portfolio_loss import PortfolioLossStage

__all__ = ["Stage", "run_stage", "run_stages", "weekly_stages"]


def weekly_stages(params: RunParams) -> list[Stage]:
    """Every stage of a run, in order, with its settings from ``params`` (the one place the
    sequence is written down)."""
    return [
        KpiStage(),
        PDStage(params.pd_model),
        PaymentStage(params.payment_model, params.decisions.behaviour),
        DecisionStage(params.decisions),
        PortfolioLossStage(params.portfolio_loss, params.insurance),
    ]
