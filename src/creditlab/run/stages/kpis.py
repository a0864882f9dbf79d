"""The KPI stage of a run: the ledger's figures of the week, computed once and written as artifacts.

Writes ``kpis.json`` (the headline: open and overdue AR, DSO and its variants, CEI, utilisation,
breaches, concentration) and one Parquet table each for the aging, the monthly trend, the at-risk
rates, the customer exposures, the industries and the currencies (``KPI_TABLES``). The weekly report and the
manifest read them; nothing downstream computes a KPI again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pandas as pd

from creditlab import kpi
from creditlab.ledger.store import last_run_before
from creditlab.run.folder import KPI_TABLES, KPIS_FILE, RunFolder
from creditlab.run.prepare import Run

__all__ = ["SINCE_KEYS", "KpiStage", "comparison_date", "kpi_tables"]


@dataclasses.dataclass(frozen=True)
class KpiStage:
    """The KPI stage: always on, no settings beyond the params' periods."""

    name = "kpis"
    section = "kpis"
    summary_file = KPIS_FILE
    manifest_keys = None  # the manifest keeps the whole headline

    def check(self, run: Run) -> None:
        """Nothing to check: every ledger has KPIs."""

    def compute(self, run: Run) -> dict[str, Any]:
        """Write the KPI tables; return the headline, with the same figures at the comparison
        date under ``since`` (see :func:`comparison_date`)."""
        for key, frame in kpi_tables(run).items():
            frame.to_parquet(RunFolder(run.run_dir) / KPI_TABLES[key], index=False)
        led, p = run.ledger, run.params
        now = kpi.headline(
            led.customers, led.invoices, run.as_of, p.dso_period_days, led.credit_notes
        )
        then, basis = comparison_date(run)
        before = kpi.headline(
            led.customers, led.invoices, then, p.dso_period_days, led.credit_notes
        )
        now["since"] = {"as_of": then.isoformat(), "basis": basis} | {
            key: before[key] for key in SINCE_KEYS
        }
        return now


SINCE_KEYS = ("open_ar", "overdue_ar", "overdue_share", "open_invoices", "dso", "limit_breaches")


def comparison_date(run: Run) -> tuple[dt.date, str]:
    """The date "this week" is compared with, and why: the as-of date of the latest earlier run
    in the store, else one week before the as-of date. Both are read from this run's ledger as it
    stood on that date, so a corrected export changes the past figures too."""
    last = last_run_before(run.params.store, run.as_of)
    if last is not None:
        return last[1], f"the previous run ({last[0]})"
    return run.as_of - dt.timedelta(days=7), "one week earlier (no earlier run in the store)"


def kpi_tables(run: Run) -> dict[str, pd.DataFrame]:
    """The weekly KPI tables as of the run's date, keyed as in ``KPI_TABLES``."""
    led, p = run.ledger, run.params
    return {
        "aging": kpi.aging(led.invoices, run.as_of),
        "trend": kpi.monthly_trend(led.invoices, run.as_of, p.trend_months, p.dso_period_days),
        "at_risk": kpi.at_risk_rates(led.invoices, run.as_of, p.trend_months),
        "exposure": kpi.customer_exposure(
            led.customers, led.invoices, run.as_of, led.credit_notes, p.dso_period_days
        ),
        "industries": kpi.industry_kpis(
            led.customers, led.invoices, run.as_of, p.dso_period_days, led.credit_notes
        ),
        "currencies": kpi.currency_exposure(led.invoices, run.as_of),
    }
