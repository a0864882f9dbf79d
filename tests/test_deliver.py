"""E-mail delivery against a real SMTP server (aiosmtpd on 127.0.0.1): plain, STARTTLS and implicit
TLS with a certificate made here, authentication, retries, and the failures a relay can cause."""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from helpers import Inbox, creditlab, free_port

from creditlab.deliver import SmtpSettings, deliver_run
from creditlab.errors import DeliveryError

pytestmark = pytest.mark.slow
SENDER, TO = "creditlab@example.org", "reviewer@example.org"
USER, PASSWORD = "robot", "s3cret-Pa55"


def _authenticator(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == USER.encode()
        and auth_data.password == PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 535 itself


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture()
def server(certificate):
    """Start servers on demand: ``server(mode, inbox, auth)``; all stopped afterwards."""
    started = []

    def start(mode: str = "none", inbox: Inbox | None = None, auth: bool = False):
        inbox = inbox or Inbox()
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(*certificate)
        kwargs = {}
        if mode == "starttls":
            kwargs.update(tls_context=ctx, require_starttls=True)
        if mode == "ssl":
            kwargs.update(ssl_context=ctx)
        if auth:
            # aiosmtpd cannot tell an implicit-TLS session is encrypted, so only demand it on STARTTLS
            kwargs.update(
                authenticator=_authenticator,
                auth_required=True,
                auth_require_tls=mode == "starttls",
            )
        port = free_port()
        controller = Controller(
            inbox, hostname="127.0.0.1", port=port, server_hostname="localhost", **kwargs
        )
        controller.start()
        started.append(controller)
        return port, inbox

    yield start
    for controller in started:
        controller.stop()


@pytest.fixture()
def run_copy(weekly_run, tmp_path) -> Path:
    target = tmp_path / weekly_run.name
    shutil.copytree(weekly_run, target)
    return target


def _env(port: int, tls: str, cafile: Path | None = None, auth: bool = False) -> dict[str, str]:
    env = {"CREDITLAB_SMTP_HOST": "127.0.0.1", "CREDITLAB_SMTP_PORT": str(port),
           "CREDITLAB_SMTP_TLS": tls, "CREDITLAB_SMTP_FROM": SENDER}  # fmt: skip
    if cafile:
        env["CREDITLAB_SMTP_CAFILE"] = str(cafile)
    if auth:
        env.update(CREDITLAB_SMTP_USER=USER, CREDITLAB_SMTP_PASSWORD=PASSWORD)
    return env


def test_plain_delivery_carries_the_summary_and_the_reports(server, run_copy):
    port, inbox = server("none")
    result = deliver_run(run_copy, to=[TO], smtp=SmtpSettings.from_env(_env(port, "none")))
    (msg,) = inbox.messages
    manifest = json.loads((run_copy / "manifest.json").read_text())
    assert msg["Message-ID"] == result["message_id"] and msg["To"] == TO
    assert manifest["params"]["portfolio"] in msg["Subject"] and manifest["as_of"] in msg["Subject"]
    body = msg.get_body(("html",)).get_content()
    assert (
        f"{manifest['kpis']['open_ar']:,.0f}" in body and "Alerts" in body and "converged" in body
    )
    attached = {part.get_filename(): part.get_content() for part in msg.iter_attachments()}
    assert set(attached) == {p.name for p in run_copy.glob("*.html")}
    assert attached["weekly_portfolio.html"] == (run_copy / "weekly_portfolio.html").read_text()
    assert manifest["delivery"][-1]["status"] == "sent" and manifest["delivery"][-1]["to"] == [TO]
    # re-sending later works and is recorded again
    deliver_run(run_copy, to=[TO], smtp=SmtpSettings.from_env(_env(port, "none")))
    assert len(inbox.messages) == 2
    assert len(json.loads((run_copy / "manifest.json").read_text())["delivery"]) == 2


@pytest.mark.parametrize("mode", ["starttls", "ssl"])
def test_tls_with_a_verified_certificate_and_authentication(server, certificate, run_copy, mode):
    port, inbox = server(mode, auth=True)
    deliver_run(
        run_copy, to=[TO], smtp=SmtpSettings.from_env(_env(port, mode, certificate[0], auth=True))
    )
    assert len(inbox.messages) == 1
    # without trusting the certificate the client refuses the server: verification is on
    with pytest.raises(DeliveryError, match="TLS failed"):
        deliver_run(
            run_copy, to=[TO], smtp=SmtpSettings.from_env(_env(port, mode, None, auth=True))
        )
    text = (run_copy / "manifest.json").read_text()
    assert PASSWORD not in text and "failed" in text


def test_wrong_password_is_a_clear_permanent_failure(server, certificate, run_copy):
    port, _ = server("starttls", auth=True)
    env = {**_env(port, "starttls", certificate[0], auth=True), "CREDITLAB_SMTP_PASSWORD": "wrong"}
    sleeps = []
    with pytest.raises(DeliveryError, match="authentication failed"):
        deliver_run(run_copy, to=[TO], smtp=SmtpSettings.from_env(env), sleep=sleeps.append)
    assert sleeps == []  # permanent: no retries


def test_rejected_recipient_fails_at_once(server, run_copy):
    port, inbox = server("none", Inbox(refuse_rcpt="nobody@example.org"))
    sleeps = []
    with pytest.raises(DeliveryError, match="refused the recipient.*nobody@example.org.*550"):
        deliver_run(
            run_copy,
            to=["nobody@example.org"],
            smtp=SmtpSettings.from_env(_env(port, "none")),
            sleep=sleeps.append,
        )
    assert sleeps == [] and inbox.messages == []
    assert (
        json.loads((run_copy / "manifest.json").read_text())["delivery"][-1]["status"] == "failed"
    )


def test_temporary_failures_are_retried_with_backoff(server, run_copy):
    port, inbox = server("none", Inbox(busy=2))
    sleeps = []
    result = deliver_run(
        run_copy,
        to=[TO],
        smtp=SmtpSettings.from_env(_env(port, "none")),
        backoff=0.5,
        sleep=sleeps.append,
    )
    assert result["attempts"] == 3 and sleeps == [0.5, 1.0] and len(inbox.messages) == 1


def test_server_down_is_retried_then_reported(run_copy):
    sleeps = []
    smtp = SmtpSettings.from_env(_env(free_port(), "none"))
    with pytest.raises(DeliveryError, match="could not deliver after 3 attempts"):
        deliver_run(run_copy, to=[TO], smtp=smtp, attempts=3, backoff=1.0, sleep=sleeps.append)
    assert sleeps == [1.0, 2.0]
    assert (run_copy / "weekly_portfolio.html").is_file()  # the report is never lost


def test_settings_come_from_the_environment_and_are_checked():
    with pytest.raises(DeliveryError, match="CREDITLAB_SMTP_HOST"):
        SmtpSettings.from_env({})
    with pytest.raises(DeliveryError, match="CREDITLAB_SMTP_TLS"):
        SmtpSettings.from_env(
            {
                "CREDITLAB_SMTP_HOST": "h",
                "CREDITLAB_SMTP_FROM": SENDER,
                "CREDITLAB_SMTP_TLS": "maybe",
            }
        )
    settings = SmtpSettings.from_env(
        {**_env(25, "starttls"), "CREDITLAB_SMTP_USER": USER, "CREDITLAB_SMTP_PASSWORD": PASSWORD}
    )
    assert PASSWORD not in repr(settings)


def test_cli_deliver_and_failure_notices(server, run_copy, tmp_path, monkeypatch):
    port, inbox = server("none")
    for key, value in _env(port, "none").items():
        monkeypatch.setenv(key, value)
    sent = creditlab("-q", "deliver", "--run", str(run_copy), "--to", TO)
    assert sent.returncode == 0, sent.stderr
    assert inbox.messages[-1]["Message-ID"] in sent.stdout
    # a failed run sends operators a notice, never a report
    params = tmp_path / "p.yaml"
    params.write_text(
        Path("params/ci.yaml").read_text()
        + "delivery: {to: ["
        + TO
        + "], operators: [ops@example.org]}\n"
    )
    failed = creditlab("-q", "run", "weekly", "--params", str(params), "--data", str(tmp_path / "missing"),
                       "--out", str(tmp_path / "runs"), "--email")  # fmt: skip
    assert failed.returncode == 3 and "failure notice sent" in failed.stderr
    notice = inbox.messages[-1]
    assert (
        notice["To"] == "ops@example.org"
        and "FAILED" in notice["Subject"]
        and "prepare" in notice["Subject"]
    )
    assert not list(notice.iter_attachments())
    failed_dir = next((tmp_path / "runs" / "failed").iterdir())
    refused = creditlab("-q", "deliver", "--run", str(failed_dir), "--to", TO)
    assert refused.returncode == 7 and "only succeeded runs are sent" in refused.stderr
    assert PASSWORD not in (failed_dir / "manifest.json").read_text()
