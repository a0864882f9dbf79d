"""E-mail delivery of finished runs, and failure notices for runs that did not finish.

SMTP settings come from environment variables only (never params, manifests, notebooks or logs):
``CREDITLAB_SMTP_HOST``, ``CREDITLAB_SMTP_PORT``, ``CREDITLAB_SMTP_USER``,
``CREDITLAB_SMTP_PASSWORD``, ``CREDITLAB_SMTP_TLS`` (``none``, ``starttls`` or ``ssl``; certificates
are verified), ``CREDITLAB_SMTP_FROM`` and optionally ``CREDITLAB_SMTP_CAFILE`` (a CA bundle to
trust, e.g. a company relay's).

A temporary failure (connection refused or dropped, timeout, a 4xx reply) is retried with
exponential backoff; a permanent one (5xx: recipient rejected, authentication failed) is reported
at once. Either way the report stays in its run folder, and every attempt is recorded in the run's
``manifest.json`` (``delivery``), so a run can be re-sent later with ``creditlab deliver``.

Reminder drafts (``drafts/*.eml``) go to customers only through :func:`send_reminders`, only when
the run's params say ``reminders.send: true``, only to addresses or customer ids on
``reminders.allow_list``, not before each draft's send day and never twice.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import html
import logging
import os
import smtplib
import socket
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import formatdate, make_msgid
from pathlib import Path

from creditlab.errors import DeliveryError
from creditlab.report.headline import headline_rows
from creditlab.run.folder import MANIFEST_FILE, REMINDERS_FILE
from creditlab.run.manifest import read_manifest, write_manifest

__all__ = [
    "SmtpSettings",
    "compose_failure",
    "compose_report",
    "deliver_outcome",
    "deliver_run",
    "notify_failure",
    "send",
    "send_reminders",
]

log = logging.getLogger(__name__)

TLS_MODES = ("none", "starttls", "ssl")
_STYLE = {
    "body": "font-family:Arial,Helvetica,sans-serif;font-size:14px;color:#1d2733",
    "th": "text-align:left;padding:4px 10px;border-bottom:1px solid #d9dee4;background:#eef2f5",
    "td": "text-align:right;padding:4px 10px;border-bottom:1px solid #d9dee4",
    "warn": "border:2px solid #a4161a;background:#fdecea;padding:8px;margin:8px 0",
}


@dataclasses.dataclass(frozen=True)
class SmtpSettings:
    """Where and how to send; read with :meth:`from_env`. The password never appears in repr."""

    host: str
    port: int
    sender: str
    tls: str = "starttls"
    user: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)
    cafile: str | None = None
    timeout: float = 30.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SmtpSettings:
        """Read ``CREDITLAB_SMTP_*``; a missing or bad variable is named (its value never is)."""
        env = os.environ if env is None else env
        missing = [v for v in ("CREDITLAB_SMTP_HOST", "CREDITLAB_SMTP_FROM") if not env.get(v)]
        if missing:
            raise DeliveryError(
                f"set {', '.join(missing)} (SMTP settings come from the environment)"
            )
        tls = env.get("CREDITLAB_SMTP_TLS", "starttls").lower()
        if tls not in TLS_MODES:
            raise DeliveryError(f"CREDITLAB_SMTP_TLS must be one of {list(TLS_MODES)}")
        try:
            port = int(
                env.get("CREDITLAB_SMTP_PORT") or {"ssl": 465, "starttls": 587, "none": 25}[tls]
            )
        except ValueError as exc:
            raise DeliveryError("CREDITLAB_SMTP_PORT must be a number") from exc
        user, password = (
            env.get("CREDITLAB_SMTP_USER") or None,
            env.get("CREDITLAB_SMTP_PASSWORD") or None,
        )
        if bool(user) != bool(password):
            raise DeliveryError(
                "set both CREDITLAB_SMTP_USER and CREDITLAB_SMTP_PASSWORD, or neither"
            )
        cafile = env.get("CREDITLAB_SMTP_CAFILE") or None
        if cafile and not Path(cafile).is_file():
            raise DeliveryError(f"CREDITLAB_SMTP_CAFILE: no file at {cafile}")
        return cls(
            env["CREDITLAB_SMTP_HOST"],
            port,
            env["CREDITLAB_SMTP_FROM"],
            tls,
            user,
            password,
            cafile,
        )

    def context(self) -> ssl.SSLContext:
        """A verifying TLS context (the system's CAs, or ``cafile``)."""
        return ssl.create_default_context(cafile=self.cafile)


class _Temporary(Exception):
    """A failure worth retrying."""


def _classify(exc: Exception) -> Exception:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        refused = ", ".join(
            f"{r} ({c} {m.decode(errors='replace')})" for r, (c, m) in exc.recipients.items()
        )
        if all(400 <= c < 500 for c in codes):
            return _Temporary(f"recipients temporarily refused: {refused}")
        return DeliveryError(f"the server refused the recipient(s): {refused}")
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return DeliveryError(
            f"SMTP authentication failed ({exc.smtp_code}): check CREDITLAB_SMTP_USER / _PASSWORD"
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        text = f"{exc.smtp_code} {exc.smtp_error.decode(errors='replace') if isinstance(exc.smtp_error, bytes) else exc.smtp_error}"
        return (
            _Temporary(text)
            if 400 <= exc.smtp_code < 500
            else DeliveryError(f"the server said {text}")
        )
    if isinstance(exc, ssl.SSLError):
        return DeliveryError(
            f"TLS failed: {exc} (CREDITLAB_SMTP_CAFILE can name a CA bundle to trust)"
        )
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return _Temporary(f"the server hung up: {exc}")
    if isinstance(exc, smtplib.SMTPException):  # e.g. AUTH or STARTTLS not offered
        return DeliveryError(f"{type(exc).__name__}: {exc}")
    if isinstance(exc, OSError | socket.timeout):  # refused, unreachable, timed out
        return _Temporary(f"{type(exc).__name__}: {exc}")
    return DeliveryError(f"{type(exc).__name__}: {exc}")


def _send_once(message: EmailMessage, smtp: SmtpSettings) -> dict:
    if smtp.tls == "ssl":
        client = smtplib.SMTP_SSL(
            smtp.host, smtp.port, timeout=smtp.timeout, context=smtp.context()
        )
    else:
        client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
    with client:
        if smtp.tls == "starttls":
            client.starttls(context=smtp.context())
        if smtp.user:
            client.login(smtp.user, smtp.password or "")
        return client.send_message(message)


def send(
    message: EmailMessage,
    smtp: SmtpSettings,
    *,
    attempts: int = 4,
    backoff: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
) -> dict:
    """Send ``message``, retrying temporary failures (waits ``backoff``, 2x, 4x ... seconds).

    Returns ``{"message_id", "sent_at", "attempts", "to"}``.

    Raises
    ------
    DeliveryError
        A permanent failure, some recipients refused, or still failing after ``attempts`` tries.
    """
    last = ""
    for attempt in range(1, attempts + 1):
        try:
            refused = _send_once(message, smtp)
        except Exception as exc:  # noqa: BLE001 - every failure is classified just below
            problem = _classify(exc)
            if isinstance(problem, DeliveryError):
                raise problem from exc
            last = str(problem)
            log.warning("delivery attempt %d of %d failed: %s", attempt, attempts, last)
            if attempt < attempts:
                sleep(backoff * 2 ** (attempt - 1))
            continue
        if refused:
            raise DeliveryError(f"the server accepted the message but refused: {sorted(refused)}")
        return {
            "message_id": message["Message-ID"],
            "sent_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "attempts": attempt,
            "to": [a.strip() for a in message["To"].split(",")],
        }
    raise DeliveryError(f"could not deliver after {attempts} attempts: {last}")


def _message(
    subject: str, sender: str, to: Sequence[str], body_html: str, body_text: str
) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"], msg["From"], msg["To"] = subject, sender, ", ".join(to)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1])
    msg.set_content(body_text)
    msg.add_alternative(f'<div style="{_STYLE["body"]}">{body_html}</div>', subtype="html")
    return msg


def compose_report(run_dir: Path, to: Sequence[str], sender: str) -> EmailMessage:
    """The weekly e-mail: an inline-styled summary and every HTML report of the run attached."""
    manifest = read_manifest(run_dir)
    params = manifest.get("params", {})
    prefix = (params.get("delivery") or {}).get("subject_prefix", "[creditlab]")
    subject = f"{prefix} {params.get('title', 'Report')}: {params.get('portfolio', '')} as of {manifest.get('as_of')}"
    rows = headline_rows(manifest)
    table = "".join(
        f'<tr><th style="{_STYLE["th"]}">{html.escape(k)}</th><td style="{_STYLE["td"]}">{html.escape(v)}</td></tr>'
        for k, v in rows
    )
    warnings = "".join(f"<li>{html.escape(w)}</li>" for w in manifest.get("warnings", []))
    reports = sorted(p.name for p in run_dir.glob("*.html"))
    body_html = (
        f"<p>{html.escape(params.get('title', 'Report'))} for portfolio "
        f"<b>{html.escape(str(params.get('portfolio', '')))}</b> as of <b>{manifest.get('as_of')}</b>.</p>"
        + (
            f'<div style="{_STYLE["warn"]}"><b>Warnings</b><ul>{warnings}</ul></div>'
            if warnings
            else ""
        )
        + f'<table style="border-collapse:collapse">{table}</table>'
        + f"<p>Attached: {html.escape(', '.join(reports))}. Run folder: <code>{html.escape(str(run_dir))}</code> "
        f"(run {html.escape(manifest['run_id'])}).</p>"
    )
    body_text = "\n".join(
        [f"{params.get('title')} for {params.get('portfolio')} as of {manifest.get('as_of')}", ""]
        + [f"{k}: {v}" for k, v in rows]
        + [f"Warning: {w}" for w in manifest.get("warnings", [])]
        + ["", f"Attached: {', '.join(reports)}", f"Run folder: {run_dir}"]
    )
    msg = _message(subject, sender, to, body_html, body_text)
    for name in reports:
        text = (run_dir / name).read_text(encoding="utf-8")
        msg.add_attachment(text, subtype="html", filename=name, cte="base64")
    return msg


def compose_failure(run_dir: Path, to: Sequence[str], sender: str) -> EmailMessage:
    """A failure notice for operators: what failed, at which step, and where the record is."""
    manifest = read_manifest(run_dir)
    params = manifest.get("params", {})
    prefix = (params.get("delivery") or {}).get("subject_prefix", "[creditlab]")
    step, error = manifest.get("failed_step", "?"), manifest.get("error", "")
    subject = (
        f"{prefix} FAILED: {params.get('portfolio', '')} run {manifest['run_id']} at step {step}"
    )
    body_text = (
        f"The run {manifest['run_id']} of {params.get('portfolio')} failed at step '{step}'.\n\n"
        f"Error: {error}\n\nNo report was sent. The run's record is {run_dir / MANIFEST_FILE}."
    )
    body_html = (
        f'<div style="{_STYLE["warn"]}"><b>Run {html.escape(manifest["run_id"])} failed at step '
        f"'{html.escape(step)}'</b></div><p>Error: <code>{html.escape(error)}</code></p>"
        f"<p>No report was sent. The run's record is <code>{html.escape(str(run_dir / MANIFEST_FILE))}</code>.</p>"
    )
    return _message(subject, sender, to, body_html, body_text)


def _record(run_dir: Path, entry: dict) -> None:
    path = run_dir / MANIFEST_FILE
    manifest = read_manifest(run_dir)
    manifest.setdefault("delivery", []).append(entry)
    write_manifest(path, manifest)


def deliver_run(
    run_dir: str | Path, to: Sequence[str] | None = None, smtp: SmtpSettings | None = None, **retry
) -> dict:
    """E-mail a succeeded run's reports to ``to`` (default: the params' ``delivery.to``).

    Every attempt's outcome is appended to the manifest's ``delivery`` list.

    Raises
    ------
    DeliveryError
        The run did not succeed (a half-built report is never sent), no recipients, or sending
        failed.
    """
    run_dir = Path(run_dir)
    path = run_dir / MANIFEST_FILE
    if not path.is_file():
        raise DeliveryError(f"{run_dir}: not a run folder (no {MANIFEST_FILE})")
    manifest = read_manifest(run_dir)
    if manifest.get("status") != "succeeded":
        raise DeliveryError(
            f"{run_dir}: the run's status is {manifest.get('status')!r}; only succeeded runs are sent"
        )
    to = list(to or (manifest.get("params", {}).get("delivery") or {}).get("to") or [])
    if not to:
        raise DeliveryError("no recipients: pass --to ADDR or set delivery.to in the params")
    smtp = smtp or SmtpSettings.from_env()
    entry: dict = {
        "kind": "report",
        "to": to,
        "requested_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    try:
        result = send(compose_report(run_dir, to, smtp.sender), smtp, **retry)
    except DeliveryError as exc:
        _record(run_dir, {**entry, "status": "failed", "error": str(exc)})
        raise
    _record(run_dir, {**entry, "status": "sent", **result})
    log.info(
        "report of run %s sent to %s (%s)", manifest["run_id"], ", ".join(to), result["message_id"]
    )
    return result


def notify_failure(
    run_dir: str | Path, to: Sequence[str], smtp: SmtpSettings | None = None, **retry
) -> dict:
    """Send operators a failure notice for a failed run (recorded in its manifest)."""
    run_dir = Path(run_dir)
    smtp = smtp or SmtpSettings.from_env()
    entry: dict = {"kind": "failure notice", "to": list(to)}
    try:
        result = send(compose_failure(run_dir, to, smtp.sender), smtp, **retry)
    except DeliveryError as exc:
        _record(run_dir, {**entry, "status": "failed", "error": str(exc)})
        raise
    _record(run_dir, {**entry, "status": "sent", **result})
    return result


def deliver_outcome(
    run_dir: str | Path, succeeded: bool, operators: Sequence[str], smtp: SmtpSettings | None
) -> str:
    """E-mail a finished run: its reports to ``delivery.to`` when it succeeded (and the reminder
    drafts its params allow, :func:`send_reminders`), otherwise a failure notice to ``operators``
    (when there are any). Returns one line saying what was sent.

    Raises
    ------
    DeliveryError
        Sending failed (recorded in the run's manifest).
    """
    if succeeded:
        sent = deliver_run(run_dir, smtp=smtp)
        line = f"sent to {', '.join(sent['to'])} ({sent['message_id']})"
        if (read_manifest(Path(run_dir)).get("params", {}).get("reminders") or {}).get("send"):
            line += f"; {len(send_reminders(run_dir, smtp))} reminder(s) sent"
        return line
    if not operators:
        return "failed; no delivery.operators to notify"
    notify_failure(run_dir, operators, smtp)
    return f"failure notice sent to {', '.join(operators)}"


def send_reminders(
    run_dir: str | Path,
    smtp: SmtpSettings | None = None,
    today: dt.date | None = None,
    **retry,
) -> list[dict]:
    """E-mail a succeeded run's reminder drafts that its params allow (see the module docstring);
    each is sent as its ``.eml`` file holds it (a collector may have edited it), from
    ``CREDITLAB_SMTP_FROM``. Every attempt is recorded in the manifest (``kind: reminder``).

    Returns the sent drafts' records.

    Raises
    ------
    DeliveryError
        Sending is off in the params, the run did not succeed, or a draft could not be sent (the
        others are still tried first).
    """
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    if manifest.get("status") != "succeeded":
        raise DeliveryError(f"{run_dir}: only a succeeded run's reminders are sent")
    settings = manifest.get("params", {}).get("reminders") or {}
    if not settings.get("send"):
        raise DeliveryError(
            f"{run_dir}: reminders.send is off in the run's params; drafts go to customers only "
            "when the params say reminders.send: true and list them in reminders.allow_list"
        )
    allowed = {str(a).strip().lower() for a in settings.get("allow_list") or ()}
    done = {
        e.get("draft_id")
        for e in manifest.get("delivery", [])
        if e.get("kind") == "reminder" and e.get("status") == "sent"
    }
    today = today or dt.date.today()
    with open(run_dir / REMINDERS_FILE, newline="", encoding="utf-8") as f:
        drafts = list(csv.DictReader(f))
    smtp = smtp or SmtpSettings.from_env()
    sent, failed = [], []
    for d in drafts:
        if not d["to"] or not ({d["to"].lower(), d["customer_id"].lower()} & allowed):
            continue
        if d["send_on"] > today.isoformat() or d["draft_id"] in done:
            continue
        with open(run_dir / d["file"], "rb") as f:
            msg = BytesParser(policy=policy.default).parse(f)
        for header in ("X-Unsent", "To", "From", "Date", "Message-ID"):
            del msg[header]
        msg["To"], msg["From"] = d["to"], smtp.sender
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = make_msgid(domain=smtp.sender.rsplit("@", 1)[-1])
        entry = {"kind": "reminder", "draft_id": d["draft_id"], "to": [d["to"]]}
        try:
            result = send(msg, smtp, **retry)
        except DeliveryError as exc:
            _record(run_dir, {**entry, "status": "failed", "error": str(exc)})
            failed.append(f"{d['draft_id']}: {exc}")
            continue
        _record(run_dir, {**entry, "status": "sent", **result})
        sent.append({**entry, **result})
    log.info("%d reminder(s) sent from run %s", len(sent), manifest.get("run_id"))
    if failed:
        raise DeliveryError(f"{len(failed)} reminder(s) not sent: " + "; ".join(failed))
    return sent
