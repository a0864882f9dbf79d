"""Reports: sections that format what a run folder holds (tables, figures, text), the index page of
a batch and the headline rows of e-mails. Executing and rendering notebooks is the run's job
(:mod:`creditlab.run.notebooks`).

The sections load on first use (``from creditlab.report import weekly``), so the e-mail and index
code that needs only the formatting helpers does not import the models behind the sections.
"""

from __future__ import annotations

from creditlab.lazy import lazy_getattr

_EXPORTS = {
    "appendix": "creditlab.report.appendix",
    "collections_section": "creditlab.report.collections_section",
    "customer_section": "creditlab.report.customer_section",
    "decisions_section": "creditlab.report.decisions_section",
    "loss_section": "creditlab.report.loss_section",
    "payment_section": "creditlab.report.payment_section",
    "pd_section": "creditlab.report.pd_section",
    "provisions_section": "creditlab.report.provisions_section",
    "sales_section": "creditlab.report.sales_section",
    "this_week": "creditlab.report.this_week",
    "validation_section": "creditlab.report.validation_section",
    "weekly": "creditlab.report.weekly",
    "table": "creditlab.report.tables",
    "to_image": "creditlab.report.figures",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr("creditlab.report", _EXPORTS, globals())
