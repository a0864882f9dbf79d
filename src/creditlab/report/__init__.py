"""Reports: formatted tables, figures, weekly sections, papermill execution and HTML rendering."""

from creditlab.report import (
    appendix,
    customer_section,
    decisions_section,
    payment_section,
    pd_section,
    validation_section,
    weekly,
)
from creditlab.report.figures import to_image
from creditlab.report.render import execute_notebook, render_html
from creditlab.report.runner import REPORTS, RunOutcome, notebook_path, open_or_prepare, run_report
from creditlab.report.tables import table

__all__ = [
    "REPORTS",
    "RunOutcome",
    "appendix",
    "customer_section",
    "decisions_section",
    "execute_notebook",
    "notebook_path",
    "open_or_prepare",
    "payment_section",
    "pd_section",
    "render_html",
    "run_report",
    "table",
    "validation_section",
    "to_image",
    "weekly",
]
