"""Reminder drafts: for each customer on the collections worklist, one message a collector can
send or edit, in the customer's language, in a tone that fits the relationship.

**Tone** (the strongest of the customer's worklist items decides):

* ``acknowledge``: an invoice of the customer is disputed or a complaint is open. No dunning for
  what is disputed (and none at all while a complaint is open): the message acknowledges it and,
  for a dispute, lists the other open invoices as not affected.
* ``final``: the dunning cadence has reached holding orders or escalating.
* ``firm``: the cadence has reached a call, the customer has broken a promise to pay in the last
  12 months, or it pays late as a habit (behaviour segment other than prompt or new).
* ``friendly``: a first nudge for a customer who usually pays on time (prompt or new).

Items that wait for a promised payment get no message, nor do customers already written off,
insolvent or with a collections agency (``handed_over``: the agency or the administrator is who
speaks to them now). The **send day** is the working day before
the customer's usual payment weekday (so the invoices make its next payment run), not before the
as-of date; without a usual weekday, the next working day. The **language** is the customer's
``language`` column (an ISO 639-1 code) where the ledger has one, else the params' map from
country, else the default; a language without templates falls back to the default, and the
draft says so.

Templates are files (:data:`TEMPLATE_DIR`; a team's own folder overrides them file by file), read
and test-rendered when the params are loaded, so a broken template fails in seconds. Drafts are
plain text: the ``.eml`` files carry no HTML, and their headers are stripped of line breaks and
control characters, so a customer name or a note can never inject a header. The HTML page of
drafts escapes every text.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import html
import re
from collections.abc import Collection, Mapping
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd
from jinja2.sandbox import SandboxedEnvironment

from creditlab.config import parse_section
from creditlab.errors import ConfigError
from creditlab.ledger.fx import AMOUNT_ORIGINAL, CURRENCY_ORIGINAL
from creditlab.ledger.schema import (
    AMOUNT,
    COUNTRY,
    CURRENCY,
    CUSTOMER_ID,
    DUE_ON,
    EMAIL,
    INVOICE_ID,
    LANGUAGE,
    NAME,
)

__all__ = [
    "DRAFT_COLUMNS",
    "TEMPLATE_DIR",
    "TONES",
    "ReminderSettings",
    "ReminderTemplates",
    "draft_email",
    "drafts_page",
    "parse_reminders",
    "reminder_drafts",
    "valid_email",
]

TONES = ("friendly", "firm", "final", "acknowledge")
TEMPLATE_DIR = Path(__file__).with_name("reminder_templates")
DRAFT_COLUMNS = [
    "draft_id",
    CUSTOMER_ID,
    NAME,
    "to",
    "language",
    "tone",
    "send_on",
    "invoices",
    "amount",
    "currency",
    "max_dpd",
    "subject",
    "body",
    "why",
    "file",
]
_LATE_HABIT = ("erratic", "deteriorating", "slow-but-steady")  # behaviour segments (segments.py)
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")
_MONTHS_EN = "January February March April May June July August September October November December"


@dataclasses.dataclass(frozen=True)
class ReminderSettings:
    """The ``reminders:`` params section."""

    enabled: bool = True
    templates: str | None = None  # a folder of <language>/<tone>.txt overriding the package's
    language: str = "en"  # the default language (needs every tone's template)
    language_by_country: Mapping[str, str] = dataclasses.field(
        default_factory=lambda: {"DE": "de", "AT": "de"}
    )
    company: str = "Accounts receivable"  # who signs the drafts
    payment_link: str = "[payment link]"  # a URL; {customer_id} is replaced by the customer's id
    send: bool = False  # send drafts by e-mail (only to addresses or customer ids in allow_list)
    allow_list: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.allow_list, list | tuple) or not all(
            isinstance(a, str) for a in self.allow_list
        ):
            raise ConfigError("allow_list: expected a list of e-mail addresses or customer ids")
        object.__setattr__(self, "allow_list", tuple(self.allow_list))
        if not isinstance(self.language_by_country, Mapping):
            raise ConfigError("language_by_country: expected a mapping like {DE: de}")
        if not re.fullmatch(r"[a-z]{2}", str(self.language)):
            raise ConfigError(
                f"language: expected an ISO 639-1 code like 'en', got {self.language!r}"
            )
        if self.send and not self.allow_list:
            raise ConfigError("send: true needs an allow_list (who may receive a reminder)")


class ReminderTemplates:
    """The reminder templates, the package's overlaid with a team's folder, compiled and checked."""

    def __init__(self, folder: str | Path | None = None) -> None:
        env = SandboxedEnvironment(
            undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False
        )
        self.templates: dict[tuple[str, str], tuple[jinja2.Template, jinja2.Template]] = {}
        self.files: dict[tuple[str, str], Path] = {}
        roots = [TEMPLATE_DIR] + ([Path(folder)] if folder else [])
        if folder and not Path(folder).is_dir():
            raise ConfigError(f"reminders.templates: no folder at {folder}")
        for root in roots:
            for path in sorted(root.glob("*/*.txt")):
                language, tone = path.parent.name, path.stem
                if tone not in TONES:
                    raise ConfigError(
                        f"{path}: unknown tone {tone!r}; expected one of {list(TONES)}"
                    )
                self.templates[(language, tone)] = _compile(env, path)
                self.files[(language, tone)] = path
        for key, path in self.files.items():  # test-render every template now
            self._render(key, _SAMPLE, path)

    @property
    def languages(self) -> set[str]:
        """The languages that have every tone."""
        langs = {lang for lang, _ in self.templates}
        return {lang for lang in langs if all((lang, t) in self.templates for t in TONES)}

    def _render(
        self, key: tuple[str, str], context: Mapping[str, Any], path: Path
    ) -> tuple[str, str]:
        subject, body = self.templates[key]
        try:
            return _one_line(subject.render(context)), body.render(context).strip() + "\n"
        except jinja2.TemplateError as exc:
            raise ConfigError(f"{path}: {exc}") from exc

    def render(self, language: str, tone: str, context: Mapping[str, Any]) -> tuple[str, str]:
        """The subject (one line) and body of ``tone`` in ``language``."""
        return self._render((language, tone), context, self.files[(language, tone)])


def _compile(env: SandboxedEnvironment, path: Path) -> tuple[jinja2.Template, jinja2.Template]:
    text = path.read_text(encoding="utf-8")
    first, _, body = text.partition("\n")
    if not first.startswith("Subject:"):
        raise ConfigError(f"{path}: the first line must be 'Subject: ...'")
    try:
        return env.from_string(first[len("Subject:") :].strip()), env.from_string(body.lstrip("\n"))
    except jinja2.TemplateSyntaxError as exc:
        raise ConfigError(f"{path}, line {exc.lineno}: {exc.message}") from exc


def parse_reminders(raw: Any, base: Path, where: str = "reminders") -> ReminderSettings:
    """Check the ``reminders:`` section; ``templates`` is resolved against ``base`` (the params
    file's folder), and every template is compiled and test-rendered.

    Raises
    ------
    ConfigError
        Unknown keys, a bad value, a missing template folder, a template that does not compile or
        render, or a default language without every tone.
    """
    settings = parse_section(ReminderSettings, raw, where)
    if settings.templates:
        folder = (base / settings.templates).resolve()
        settings = dataclasses.replace(settings, templates=str(folder))
    templates = ReminderTemplates(settings.templates)
    if settings.language not in templates.languages:
        raise ConfigError(
            f"{where}.language: no complete set of templates for {settings.language!r} "
            f"(every tone of {list(TONES)}); complete: {sorted(templates.languages)}"
        )
    return settings


def valid_email(address: Any) -> str:
    """``address`` when it is one plain e-mail address (no name, no line breaks), else ""."""
    if not isinstance(address, str):
        return ""
    address = address.strip()
    return address if _EMAIL.fullmatch(address) else ""


def _one_line(text: Any) -> str:
    """``text`` with line breaks and control characters replaced by spaces (safe in a header)."""
    return re.sub(r"\s+", " ", _CONTROL.sub(" ", str(text))).strip()


def _money(value: float, currency: str, language: str) -> str:
    text = f"{value:,.2f}"
    if language == "de":
        text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return f"{text} {currency}"


def _date(day: pd.Timestamp, language: str) -> str:
    if language == "de":
        return f"{day.day:02d}.{day.month:02d}.{day.year}"
    if language == "en":
        return f"{day.day} {_MONTHS_EN.split()[day.month - 1]} {day.year}"
    return day.date().isoformat()


def _send_day(as_of: dt.date, contact_on: Any) -> dt.date:
    """The working day before the customer's usual payment day, not before ``as_of``; without
    one, the next working day."""
    if isinstance(contact_on, str) and contact_on:
        day = dt.date.fromisoformat(contact_on) - dt.timedelta(days=1)
        while day.weekday() >= 5:
            day -= dt.timedelta(days=1)
        return max(day, as_of)
    day = as_of + dt.timedelta(days=1)
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return day


def _tone(rows: pd.DataFrame, behaviour: str, signals: Mapping) -> str:
    actions = rows["action"].astype(str)
    if rows["disputed"].astype(bool).any() or actions.str.startswith("acknowledge").any():
        return "acknowledge"
    if actions.str.contains("hold new orders|escalate", regex=True).any():
        return "final"
    broken = int(signals.get("promises_broken", 0) or 0)
    if actions.str.contains("call").any() or broken or behaviour in _LATE_HABIT:
        return "firm"
    return "friendly"


def _language(customer: Mapping, settings: ReminderSettings, have: set[str]) -> tuple[str, str]:
    """The draft's language and, when it is not the customer's own, why."""
    own = customer.get(LANGUAGE)
    code = str(own).strip().lower()[:2] if isinstance(own, str) and own.strip() else ""
    if code and re.fullmatch(r"[a-z]{2}", code) and code in have:
        return code, ""
    if code:
        return settings.language, f"no templates for the customer's language {own!r}"
    by_country = settings.language_by_country.get(str(customer.get(COUNTRY, "")))
    if by_country in have:
        return by_country, ""
    return settings.language, ""


def reminder_drafts(
    work: pd.DataFrame,
    invoices: pd.DataFrame,
    customers: pd.DataFrame,
    behaviour: pd.DataFrame,
    signals: pd.DataFrame,
    disputes: pd.DataFrame,
    as_of: dt.date,
    settings: ReminderSettings,
    templates: ReminderTemplates | None = None,
    handed_over: Collection[str] = (),
) -> pd.DataFrame:
    """One draft per customer on the worklist (:data:`DRAFT_COLUMNS`), most cash at risk first.

    ``work`` is the worklist (:func:`creditlab.decisions.worklist.worklist`); ``invoices`` the
    ledger's (for due dates and each invoice's own currency); ``customers`` the ledger's (name,
    country and the optional ``language`` and ``email``); ``behaviour`` has ``customer_id,
    behaviour``; ``signals`` is :func:`creditlab.signals.customer_signals`; ``disputes`` is
    :func:`creditlab.signals.open_disputes` (for each disputed invoice's reason); ``handed_over``
    the customers that get no reminder because a default event handed them to others.
    """
    templates = templates or ReminderTemplates(settings.templates)
    have = templates.languages
    acting = work.loc[
        ~work["action"].astype(str).str.startswith("wait for")
        & ~work[CUSTOMER_ID].astype(str).isin([str(c) for c in handed_over])
    ]
    inv = invoices.set_index(invoices[INVOICE_ID].astype(str))
    own_amount = inv.get(AMOUNT_ORIGINAL, inv[AMOUNT])
    own_currency = inv.get(CURRENCY_ORIGINAL, inv[CURRENCY])
    foreign = own_currency.notna() & (own_currency.astype(str) != "")
    scale = pd.Series(np.where(foreign, own_amount / inv[AMOUNT], 1.0), index=inv.index)
    currency = own_currency.where(foreign, inv[CURRENCY]).astype(str)
    who = customers.set_index(customers[CUSTOMER_ID].astype(str)).to_dict("index")
    habit = behaviour.set_index(CUSTOMER_ID)["behaviour"].to_dict()
    sig = signals.set_index(CUSTOMER_ID).to_dict("index") if len(signals) else {}
    reasons = disputes.set_index(disputes[INVOICE_ID].astype(str))["reason"].fillna("").to_dict()
    complaining = {c for c, s in sig.items() if s.get("open_complaint")}
    rows = []
    order = (
        acting.groupby(CUSTOMER_ID, sort=False)["cash_at_risk"].sum().sort_values(ascending=False)
    )
    for cid in order.index:
        items = acting.loc[acting[CUSTOMER_ID] == cid]
        customer = who.get(str(cid), {})
        signals_row = sig.get(cid, {})
        tone = _tone(items, habit.get(cid, ""), signals_row)
        language, why_language = _language(customer, settings, have)
        listed = []
        for r in items.itertuples(index=False):
            iid = str(r.invoice_id)
            listed.append(
                {
                    "id": iid,
                    "due": _date(inv.at[iid, DUE_ON], language),
                    "value": float(r.open_amount) * float(scale.get(iid, 1.0)),
                    "currency": currency.get(iid, ""),
                    "days_overdue": int(r.dpd),
                    "disputed": bool(r.disputed),
                    "reason": reasons.get(iid, ""),
                }
            )
        # nothing is asked for while a complaint is open; a dispute holds only its own invoices
        asked = [] if cid in complaining else [i for i in listed if not i["disputed"]]
        cur = sorted({i["currency"] for i in asked}) or sorted({i["currency"] for i in listed})
        total = sum(i["value"] for i in asked)
        for i in listed:
            i["amount"] = _money(i["value"], i["currency"], language)
        context = {
            "customer": _one_line(customer.get(NAME) or cid),
            "customer_id": str(cid),
            "invoices": listed,
            "asked": asked,
            "disputed": [i for i in listed if i["disputed"]],
            "total": " + ".join(
                _money(sum(i["value"] for i in asked if i["currency"] == c), c, language)
                for c in cur
            ),
            "max_days": max((i["days_overdue"] for i in asked), default=0),
            "complaint": cid in complaining,
            "promises_broken": int(signals_row.get("promises_broken", 0) or 0),
            "payment_link": settings.payment_link.replace("{customer_id}", str(cid)),
            "company": settings.company,
            "today": _date(pd.Timestamp(as_of), language),
        }
        subject, body = templates.render(language, tone, context)
        to = valid_email(customer.get(EMAIL))
        why = [r for r in items["relationship"].astype(str).unique() if r]
        why += [why_language] if why_language else []
        why += [] if to else ["no valid e-mail address in the ledger"]
        draft_id = f"{as_of:%Y%m%d}-{_file_safe(str(cid))}"
        rows.append(
            {
                "draft_id": draft_id,
                CUSTOMER_ID: cid,
                NAME: customer.get(NAME),
                "to": to,
                "language": language,
                "tone": tone,
                "send_on": _send_day(as_of, items["contact_on"].iloc[0]).isoformat(),
                "invoices": " ".join(i["id"] for i in listed),
                "amount": total,
                "currency": " + ".join(cur),
                "max_dpd": int(items["dpd"].max()),
                "subject": subject,
                "body": body,
                "why": "; ".join(why),
                "file": f"drafts/{draft_id}.eml",
            }
        )
    return pd.DataFrame(rows, columns=DRAFT_COLUMNS)


def _file_safe(text: str) -> str:
    """``text`` as a file-name part; a short hash keeps two ids that clean alike apart."""
    clean = re.sub(r"[^A-Za-z0-9_-]", "_", text)[:40]
    return clean if clean == text else f"{clean}-{hashlib.sha1(text.encode()).hexdigest()[:8]}"


def draft_email(draft: Mapping[str, Any]) -> EmailMessage:
    """The draft as an unsent plain-text e-mail (``X-Unsent: 1`` opens it as a draft in most
    mail programs). Headers carry no line breaks whatever the ledger's text holds."""
    msg = EmailMessage()
    msg["Subject"] = _one_line(draft["subject"])
    if valid_email(draft.get("to")):
        msg["To"] = draft["to"]
    msg["X-Unsent"] = "1"
    msg["X-Creditlab-Draft"] = _one_line(draft["draft_id"])
    msg["X-Creditlab-Send-On"] = _one_line(draft["send_on"])
    msg.set_content(str(draft["body"]))
    return msg


def drafts_page(drafts: pd.DataFrame, as_of: dt.date, title: str) -> str:
    """A self-contained HTML page of the drafts, each under an anchor ``#<draft_id>``; every text
    escaped."""
    esc = html.escape
    parts = []
    for d in drafts.itertuples(index=False):
        to = esc(d.to) if d.to else "<i>no e-mail address in the ledger</i>"
        parts.append(
            f'<section id="{esc(d.draft_id)}"><h2>{esc(str(d.name or d.customer_id))} '
            f"<small>({esc(str(d.customer_id))})</small></h2>"
            f"<p><b>Tone:</b> {esc(d.tone)} &middot; <b>language:</b> {esc(d.language)} &middot; "
            f"<b>send on:</b> {esc(d.send_on)} &middot; <b>to:</b> {to} &middot; "
            f'<a href="{esc(d.file)}">{esc(d.file)}</a></p>'
            + (f"<p><b>Why:</b> {esc(d.why)}</p>" if d.why else "")
            + f"<p><b>Subject:</b> {esc(d.subject)}</p><pre>{esc(d.body)}</pre></section>"
        )
    body = "\n".join(parts) or "<p>No customer needs a reminder this week.</p>"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)}: reminder drafts as of {as_of.isoformat()}</title>"
        "<style>body{font-family:Arial,Helvetica,sans-serif;max-width:52rem;margin:2rem auto;"
        "color:#1d2733}section{border-top:1px solid #d9dee4;padding:.5rem 0}pre{background:#f5f7f9;"
        "padding:.8rem;white-space:pre-wrap;font-family:inherit}small{color:#5b6774}</style></head>"
        f"<body><h1>Reminder drafts as of {as_of.isoformat()}</h1>"
        f"<p>{len(drafts)} draft(s), one per customer on the worklist, most cash at risk first. "
        "Nothing here has been sent: review, edit and send from your mail program (the "
        "<code>.eml</code> files open as drafts), or let the run send those allowed by the params "
        "(<code>reminders.send</code> and <code>reminders.allow_list</code>).</p>"
        f"{body}</body></html>"
    )


_SAMPLE: dict[str, Any] = {  # what a template is test-rendered with when it is loaded
    "customer": "Sample GmbH",
    "customer_id": "C1",
    "invoices": [
        {
            "id": "I1",
            "due": "1 May 2026",
            "amount": "1.00 EUR",
            "days_overdue": 3,
            "disputed": False,
            "reason": "",
        },
        {
            "id": "I2",
            "due": "2 May 2026",
            "amount": "2.00 EUR",
            "days_overdue": 2,
            "disputed": True,
            "reason": "price",
        },
    ],
    "total": "1.00 EUR",
    "max_days": 3,
    "complaint": False,
    "promises_broken": 1,
    "payment_link": "[payment link]",
    "company": "Sample AG",
    "today": "5 May 2026",
}
_SAMPLE["asked"] = _SAMPLE["invoices"][:1]
_SAMPLE["disputed"] = _SAMPLE["invoices"][1:]
