"""The ledger contract (``shared/DOMAIN.md``): canonical tables, columns, types and row rules.

Every other module refers to columns through these constants, never through string literals.
"""

from __future__ import annotations

import dataclasses

__all__ = [
    "COUNT_COLUMNS",
    "CREDIT_NOTES",
    "REJECT_COLUMNS",
    "AMOUNT",
    "AMOUNT_PAID",
    "ANNUAL_REVENUE",
    "COUNTRY",
    "CREDIT_LIMIT",
    "CURRENCY",
    "CUSTOMER_ID",
    "DISPUTED",
    "DUE_ON",
    "CHANNEL",
    "CONTACT_EVENTS",
    "DETAIL",
    "EVENT_KINDS",
    "EVENT_ON",
    "NOTE",
    "OUTCOME",
    "PROMISED_ON",
    "SIGNALS",
    "VALUE",
    "EXTERNAL_SCORE",
    "EMAIL",
    "LANGUAGE",
    "INDUSTRY",
    "INVOICE_ID",
    "ISSUED_ON",
    "KIND",
    "NAME",
    "ONBOARDED_ON",
    "PAID_ON",
    "PAPERLESS",
    "PAYMENT_TERMS_DAYS",
    "TABLES",
    "Column",
    "TableSpec",
    "DEFAULT_EVENTS",
    "OPEN_AR",
    "OVERDUE_AR",
    "DPD",
    "BUCKET",
    "MAX_DPD",
    "UTILISATION",
    "BREACH",
    "PD_MEAN",
    "FOLLOW_UP",
    "EVIDENCE",
    "THIN_FILE",
    "PD_LO",
    "PD_HI",
    "IN_DEFAULT",
]

# customers
CUSTOMER_ID = "customer_id"
NAME = "name"
INDUSTRY = "industry"
COUNTRY = "country"
CREDIT_LIMIT = "credit_limit"
PAYMENT_TERMS_DAYS = "payment_terms_days"
ONBOARDED_ON = "onboarded_on"
ANNUAL_REVENUE = "annual_revenue"
EXTERNAL_SCORE = "external_score"
LANGUAGE = "language"  # ISO 639-1 code of the language to write to the customer in
EMAIL = "email"  # the customer's accounts-payable address (reminder drafts)
# invoices
INVOICE_ID = "invoice_id"
ISSUED_ON = "issued_on"
DUE_ON = "due_on"
AMOUNT = "amount"
CURRENCY = "currency"
PAID_ON = "paid_on"
AMOUNT_PAID = "amount_paid"
DISPUTED = "disputed"
PAPERLESS = "paperless"  # optional extra invoice column (kept by a mapping): paperless billing
# events
EVENT_ON = "event_on"
KIND = "kind"
PROMISED_ON = "promised_on"  # promise_to_pay: the day the customer said it would pay
CHANNEL = "channel"  # contact: email, phone, letter, visit, portal (free text)
OUTCOME = "outcome"  # contact: what came of it (free text: "no answer", "promised", ...)
DETAIL = "detail"  # dispute reason, the master data that changed, the external signal's name
VALUE = "value"  # external_signal: its new value (a bureau score, a rating's number)
NOTE = "note"  # free text of any event (untrusted: escaped wherever it is shown)
EVENT_KINDS = (
    "write_off",
    "insolvency",
    "collections_agency",
    "reminder_sent",
    "dispute_opened",
    "dispute_closed",
    "complaint",
    "promise_to_pay",
    "contact",
    "master_data_change",
    "external_signal",
)
DEFAULT_EVENTS = ("write_off", "insolvency", "collections_agency")
CONTACT_EVENTS = ("reminder_sent", "contact")  # the collector reached out
# external_signal details the package reads (others load and show on the timeline)
SIGNALS = ("bureau_score", "rating", "adverse_media", "insolvency_notice")
# derived columns every layer shares: exposure (kpi) and PD estimates (models, decisions, reports)
OPEN_AR, OVERDUE_AR, DPD, BUCKET, MAX_DPD = "open_ar", "overdue_ar", "dpd", "bucket", "max_dpd"
UTILISATION, BREACH = "utilisation", "limit_breach"
PD_MEAN, PD_LO, PD_HI, IN_DEFAULT = "pd_mean", "pd_lo", "pd_hi", "in_default"
FOLLOW_UP = "follow_up_month"  # month k = 1..12 after a snapshot that a PD hazard row covers
EVIDENCE, THIN_FILE = "evidence", "thin_file"  # a PD's prior share; a customer with little history


@dataclasses.dataclass(frozen=True)
class Column:
    """One canonical column.

    ``kind`` is one of: ``id`` (non-empty text), ``text``, ``category`` (non-empty text),
    ``country`` (ISO 3166 alpha-2), ``currency`` (ISO 4217), ``date``, ``decimal``, ``int``,
    ``number``, ``bool``, ``event_kind``, ``ref`` (an optional reference: text, "" when empty, so
    that it can be part of a key). ``optional`` columns may be absent from the file;
    ``nullable`` ones may hold empty values. ``min``/``min_exclusive`` bound numbers. An optional
    column absent from the file takes ``default`` (NULL when None), and ``absent`` says what that
    costs (a data-quality note of the run).
    """

    name: str
    kind: str
    optional: bool = False
    nullable: bool = False
    min: float | None = None
    min_exclusive: bool = False
    default: str | None = None
    absent: str = ""


@dataclasses.dataclass(frozen=True)
class TableSpec:
    """A canonical table: its columns, primary key and whether the ledger needs it."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    required: bool = True

    @property
    def names(self) -> list[str]:
        """The table's canonical column names, in order."""
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        """The canonical column called ``name``."""
        return next(c for c in self.columns if c.name == name)


CUSTOMERS = TableSpec(
    "customers",
    (
        Column(CUSTOMER_ID, "id"),
        Column(NAME, "text", nullable=True),
        Column(
            INDUSTRY,
            "category",
            optional=True,
            default="unknown",
            absent="no industry: every customer is in industry 'unknown' (no pooling by industry)",
        ),
        Column(
            COUNTRY,
            "country",
            optional=True,
            default="ZZ",
            absent="no country: every customer has the ISO code ZZ (unknown)",
        ),
        Column(
            CREDIT_LIMIT,
            "decimal",
            optional=True,
            nullable=True,
            min=0,
            absent="no credit limits: utilisation and limit-breach alerts are left out",
        ),
        Column(PAYMENT_TERMS_DAYS, "int", min=0),
        Column(ONBOARDED_ON, "date"),
        Column(ANNUAL_REVENUE, "decimal", optional=True, nullable=True, min=0),
        Column(EXTERNAL_SCORE, "number", optional=True, nullable=True),
        Column(LANGUAGE, "text", optional=True, nullable=True),
        Column(EMAIL, "text", optional=True, nullable=True),
    ),
    key=(CUSTOMER_ID,),
)

INVOICES = TableSpec(
    "invoices",
    (
        Column(INVOICE_ID, "id"),
        Column(CUSTOMER_ID, "id"),
        Column(ISSUED_ON, "date"),
        Column(DUE_ON, "date"),
        Column(AMOUNT, "decimal", min=0, min_exclusive=True),
        Column(CURRENCY, "currency"),
        Column(PAID_ON, "date", nullable=True),
        Column(AMOUNT_PAID, "decimal", optional=True, nullable=True, min=0),
        Column(
            DISPUTED,
            "bool",
            optional=True,
            default="false",
            absent="no dispute flag: an invoice counts as disputed only where a dispute_opened "
            "event names it; without such events, dispute figures and the dispute effect on "
            "payment timing say nothing",
        ),
    ),
    key=(INVOICE_ID,),
)

EVENTS = TableSpec(
    "events",
    (
        Column(CUSTOMER_ID, "id"),
        Column(EVENT_ON, "date"),
        Column(KIND, "event_kind"),
        # which invoice the event is about ("" when it is about the customer): part of the key,
        # so a letter disputing two invoices is two rows
        Column(INVOICE_ID, "ref", optional=True, nullable=True),
        Column(PROMISED_ON, "date", optional=True, nullable=True),
        Column(AMOUNT, "decimal", optional=True, nullable=True, min=0),
        Column(CHANNEL, "category", optional=True, nullable=True),
        Column(OUTCOME, "text", optional=True, nullable=True),
        Column(DETAIL, "text", optional=True, nullable=True),
        Column(VALUE, "number", optional=True, nullable=True),
        Column(NOTE, "text", optional=True, nullable=True),
    ),
    key=(CUSTOMER_ID, EVENT_ON, KIND, INVOICE_ID),
    required=False,
)

TABLES: dict[str, TableSpec] = {t.name: t for t in (CUSTOMERS, INVOICES, EVENTS)}

# Credit notes come in with the invoices (rows the mapping's ``credit_notes`` condition picks out,
# by default a negative amount) and are kept apart: same columns, ``amount`` the credit's size
# (positive), ``paid_on`` the day it was applied or refunded (empty: an open credit).
CREDIT_NOTES = dataclasses.replace(INVOICES, name="credit_notes", required=False)

# the rejects file (one row per rejected input row) and the per-file counts of a validated ledger
REJECT_COLUMNS = ["file", "row", "record_id", "column", "value", "reason"]
COUNT_COLUMNS = ["table", "file", "sha256", "read", "loaded", "rejected"]
