"""Reminder drafts: tone from the relationship, the customer's language, safe headers and pages,
editable templates, and sending only what the params allow (a real SMTP server, aiosmtpd)."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
from pathlib import Path

import pandas as pd
import pytest
from aiosmtpd.controller import Controller
from helpers import Inbox, free_port

from creditlab.decisions.reminders import (
    DRAFT_COLUMNS,
    ReminderSettings,
    ReminderTemplates,
    draft_email,
    drafts_page,
    parse_reminders,
    reminder_drafts,
)
from creditlab.deliver import SmtpSettings, send_reminders
from creditlab.errors import ConfigError, DeliveryError

AS_OF = dt.date(2026, 11, 20)  # a Friday
EVIL = "Evil Corp\r\nBcc: victim@example.org\r\n<script>alert(1)</script>"
SENDER = "ar@example.org"


def _case() -> dict[str, pd.DataFrame]:
    """Seven customers, one situation each, as the worklist stage hands them over."""
    cust = ["C1", "C2", "C3", "C4", "C5", "C6", "C7"]
    customers = pd.DataFrame(
        {
            "customer_id": cust,
            "name": ["Prompt Ltd", "Müller GmbH", EVIL, "Moan SA", "Stuck BV", "Wait Oy", "Lyon SARL"],
            "country": ["GB", "AT", "GB", "FR", "NL", "FI", "FR"],
            "language": [None, None, "en", "en", "en", "en", "fr"],
            "email": ["ap@prompt.example", "buchhaltung@mueller.example",
                      "x@evil.example\r\nBcc: victim@example.org", "ap@moan.example",
                      "ap@stuck.example", "ap@wait.example", "not an address"],
        }
    )  # fmt: skip
    work = pd.DataFrame(
        {
            "invoice_id": ["I1", "I2", "I3a", "I3b", "I4", "I5", "I6", "I7"],
            "customer_id": ["C1", "C2", "C3", "C3", "C4", "C5", "C6", "C7"],
            "open_amount": [1000.0, 1234.5, 500.0, 300.0, 800.0, 9000.0, 50.0, 70.0],
            "dpd": [0, 12, 20, 5, 15, 40, 12, 1],
            "disputed": [False, False, True, False, False, False, False, False],
            "action": ["send a reminder", "call the customer",
                       "acknowledge the dispute; no dunning until it is resolved", "send a reminder",
                       "acknowledge the complaint; no dunning while it is open", "hold new orders",
                       "wait for the promised payment; follow up after 2026-11-25", "send a reminder"],
            "relationship": ["", "", "this invoice is disputed", "other disputes open (price)",
                             "open complaint", "", "promised to pay by 2026-11-25", ""],
            "contact_on": ["2026-11-24", "2026-11-23", "", "", "", "2026-11-27", "", ""],
            "cash_at_risk": [10.0, 50.0, 40.0, 5.0, 30.0, 900.0, 1.0, 2.0],
        }
    )  # fmt: skip
    invoices = pd.DataFrame(
        {
            "invoice_id": work["invoice_id"],
            "customer_id": work["customer_id"],
            "due_on": pd.to_datetime(["2026-11-20", "2026-11-08", "2026-10-31", "2026-11-15",
                                      "2026-11-05", "2026-10-11", "2026-11-08", "2026-11-19"]),
            "amount": work["open_amount"],
            "currency": "EUR",
            "currency_original": ["", "", "", "", "", "USD", "", ""],
            "amount_original": [None, None, None, None, None, 10000.0, None, None],
        }
    )  # fmt: skip
    behaviour = pd.DataFrame(
        {"customer_id": cust, "behaviour": ["prompt", "prompt", "slow-but-steady", "prompt", "erratic", "prompt", "new"]}
    )  # fmt: skip
    signals = pd.DataFrame(
        {
            "customer_id": cust,
            "promises_broken": [0, 0, 0, 0, 2, 0, 0],
            "open_complaint": [False, False, False, True, False, False, False],
        }
    )
    disputes = pd.DataFrame(
        {"customer_id": ["C3"], "invoice_id": ["I3a"], "reason": ["price <b>too high</b>"]}
    )
    return dict(
        work=work, invoices=invoices, customers=customers, behaviour=behaviour,
        signals=signals, disputes=disputes,
    )  # fmt: skip


def _drafts(settings: ReminderSettings | None = None, **kwargs) -> pd.DataFrame:
    c = _case()
    return reminder_drafts(
        c["work"], c["invoices"], c["customers"], c["behaviour"], c["signals"], c["disputes"],
        AS_OF, settings or ReminderSettings(company="Demo AG"), **kwargs,
    )  # fmt: skip


def test_tone_language_and_send_day_follow_the_relationship():
    drafts = _drafts()
    assert list(drafts.columns) == DRAFT_COLUMNS
    drafts = drafts.set_index("customer_id")
    # most cash at risk first; a customer waiting for its promised payment gets no message
    assert list(drafts.index) == ["C5", "C2", "C3", "C4", "C1", "C7"]
    assert drafts["tone"].to_dict() == {
        "C5": "final", "C2": "firm", "C3": "acknowledge", "C4": "acknowledge",
        "C1": "friendly", "C7": "friendly",
    }  # fmt: skip
    # the working day before the usual payment day (Tuesday -> Monday; Monday -> today, Friday)
    assert drafts.at["C1", "send_on"] == "2026-11-23" and drafts.at["C2", "send_on"] == "2026-11-20"
    assert drafts.at["C3", "send_on"] == "2026-11-23"  # no usual day: the next working day
    # Austria: German, with German numbers and dates
    c2 = drafts.loc["C2"]
    assert c2["language"] == "de" and "1.234,50 EUR" in c2["body"] and "08.11.2026" in c2["body"]
    assert c2["subject"].startswith("Zahlungserinnerung") and "Demo AG" in c2["body"]
    # French has no templates: English, and the draft says why; a bad address is not used
    c7 = drafts.loc["C7"]
    assert c7["language"] == "en" and "no templates for the customer's language 'fr'" in c7["why"]
    assert c7["to"] == "" and "no valid e-mail address" in c7["why"]
    # a foreign-currency invoice is asked for in its own currency
    assert drafts.at["C5", "currency"] == "USD" and "10,000.00 USD" in drafts.at["C5", "body"]
    assert "New orders are on hold" in drafts.at["C5", "body"]
    assert "2 promises" not in drafts.at["C5", "body"]  # the final notice does not argue
    assert (
        "1,000.00 EUR" in drafts.at["C1", "body"] and "20 November 2026" in drafts.at["C1", "body"]
    )
    # a customer handed to a collections agency (or insolvent, written off) gets no reminder
    assert "C5" not in set(_drafts(handed_over=["C5"])["customer_id"])


def test_disputes_and_complaints_are_acknowledged_not_dunned():
    drafts = _drafts().set_index("customer_id")
    c3 = drafts.loc["C3"]  # one invoice disputed: acknowledged; the other is listed, not dunned
    assert "I3a" in c3["subject"] and "price <b>too high</b>" in c3["body"]
    assert "not affected" in c3["body"] and "300.00 EUR" in c3["body"]
    assert c3["amount"] == 300.0  # the disputed invoice is not asked for
    c4 = drafts.loc["C4"]  # an open complaint: nothing is asked for
    assert c4["subject"] == "Your recent complaint" and c4["amount"] == 0
    assert "800.00" not in c4["body"] and "EUR" not in c4["body"]


def test_names_and_notes_never_inject_headers_or_markup():
    drafts = _drafts()
    c3 = drafts.loc[drafts["customer_id"] == "C3"].iloc[0].to_dict()
    assert c3["to"] == ""  # the address with a line break in it is refused
    raw = draft_email(c3).as_bytes()
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Bcc"] is None and parsed["To"] is None and parsed["X-Unsent"] == "1"
    assert b"\nBcc:" not in raw.split(b"\n\n", 1)[0]
    assert parsed.get_content_type() == "text/plain"
    # a name with a line break in a subject stays one line
    evil = {**c3, "subject": "Hello\r\nBcc: victim@example.org", "to": "ok@example.org"}
    headers = email.message_from_bytes(draft_email(evil).as_bytes(), policy=email.policy.default)
    assert headers["Bcc"] is None and headers["Subject"] == "Hello Bcc: victim@example.org"
    page = drafts_page(drafts, AS_OF, "Demo <portfolio>")
    assert "<script>" not in page and "&lt;script&gt;" in page and "<b>too high" not in page
    assert page.count("<section id=") == len(drafts) and "Demo &lt;portfolio&gt;" in page


def test_a_team_edits_the_templates(tmp_path):
    own = tmp_path / "templates"
    (own / "en").mkdir(parents=True)
    (own / "en" / "friendly.txt").write_text(
        "Subject: Hi {{ customer }}\n\nPlease pay {{ total }}.\n"
    )
    settings = parse_reminders({"templates": "templates", "company": "X"}, tmp_path)
    drafts = _drafts(settings).set_index("customer_id")
    assert drafts.at["C1", "subject"] == "Hi Prompt Ltd"
    assert drafts.at["C1", "body"] == "Please pay 1,000.00 EUR.\n"
    assert drafts.at["C2", "subject"].startswith("Zahlungserinnerung")  # the rest: the package's
    (own / "en" / "firm.txt").write_text("Subject: x\n\n{{ amout_due }}\n")
    with pytest.raises(ConfigError, match=r"firm.txt: 'amout_due' is undefined"):
        parse_reminders({"templates": str(own)}, tmp_path)
    (own / "en" / "firm.txt").write_text("Subject: x\n\n{% for i in asked %}\n")
    with pytest.raises(ConfigError, match=r"firm.txt, line \d"):
        ReminderTemplates(own)
    (own / "en" / "firm.txt").write_text("Dear customer\n")
    with pytest.raises(ConfigError, match="first line must be 'Subject: ...'"):
        ReminderTemplates(own)
    (own / "en" / "firm.txt").unlink()
    (own / "en" / "angry.txt").write_text("Subject: x\n\nbody\n")
    with pytest.raises(ConfigError, match="unknown tone 'angry'"):
        ReminderTemplates(own)
    with pytest.raises(ConfigError, match="no folder at"):
        parse_reminders({"templates": "missing"}, tmp_path)
    with pytest.raises(ConfigError, match="no complete set of templates for 'fr'"):
        parse_reminders({"language": "fr"}, tmp_path)
    with pytest.raises(ConfigError, match="send: true needs an allow_list"):
        parse_reminders({"send": True}, tmp_path)
    with pytest.raises(ConfigError, match="unknown"):
        parse_reminders({"sned": True}, tmp_path)


def _run_folder(tmp_path: Path, reminders: dict) -> Path:
    """A succeeded run folder holding the drafts as the decisions stage writes them."""
    run = tmp_path / "run"
    (run / "drafts").mkdir(parents=True)
    drafts = _drafts()
    drafts.loc[drafts["customer_id"] == "C4", "send_on"] = "2026-12-01"  # not due yet
    for d in drafts.to_dict("records"):
        (run / d["file"]).write_bytes(draft_email(d).as_bytes())
    drafts.to_csv(run / "reminders.csv", index=False)
    manifest = {"run_id": "r1", "status": "succeeded", "params": {"reminders": reminders}}
    (run / "manifest.json").write_text(json.dumps(manifest))
    return run


@pytest.mark.slow
def test_only_allowed_drafts_are_sent_on_their_day_and_once(tmp_path):
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        smtp = SmtpSettings("127.0.0.1", port, SENDER, tls="none")
        off = _run_folder(tmp_path / "off", {"send": False, "allow_list": ["C1"]})
        with pytest.raises(DeliveryError, match="reminders.send is off"):
            send_reminders(off, smtp, today=AS_OF)
        run = _run_folder(
            tmp_path, {"send": True, "allow_list": ["AP@prompt.example", "C4", "C3", "C7"]}
        )
        sent = send_reminders(run, smtp, today=dt.date(2026, 11, 23))
        # C1 by address, C4 by id but its day has not come; C3 and C7 have no valid address;
        # C2 and C5 are not on the list
        assert [s["draft_id"] for s in sent] == ["20261120-C1"]
        (msg,) = inbox.messages
        assert msg["To"] == "ap@prompt.example" and msg["From"] == SENDER
        assert msg["X-Unsent"] is None and "1,000.00 EUR" in msg.get_content()
        assert send_reminders(run, smtp, today=dt.date(2026, 11, 23)) == []  # never twice
        later = send_reminders(run, smtp, today=dt.date(2026, 12, 1))
        assert [s["to"] for s in later] == [["ap@moan.example"]]
        records = json.loads((run / "manifest.json").read_text())["delivery"]
        assert [(r["kind"], r["status"], r["draft_id"]) for r in records] == [
            ("reminder", "sent", "20261120-C1"),
            ("reminder", "sent", "20261120-C4"),
        ]
        assert len(inbox.messages) == 2
    finally:
        controller.stop()
