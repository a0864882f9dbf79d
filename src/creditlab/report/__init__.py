"""Reports: sections that format what a run folder holds (tables, figures, text), the index page of
a batch and the headline rows of e-mails. Executing and rendering notebooks is the run's job
(:mod:`creditlab.run.notebooks`)."""

from creditlab.report import (
    appendix,
    collections_section,
    customer_section,
    decisions_section,
    payment_section,
    pd_section,
    provisions_section,
    validation_section,
    weekly,
)
from creditlab.report.figures import to_image
from creditlab.report.tables import table

__all__ = [
    "appendix",
    "collections_section",
    "customer_section",
    "decisions_section",
    "payment_section",
    "pd_section",
    "provisions_section",
    "table",
    "validation_section",
    "to_image",
    "weekly",
]
