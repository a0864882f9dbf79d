"""Helpers the tests share (not fixtures)."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import http.server
import socket
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def creditlab(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """Run the console script in a fresh process, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "creditlab.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )


# Chromium's own service connections (sign-in, component updates): not the page's requests.
BROWSER_SERVICE_HOSTS = ("accounts.google.com", "googleapis.com", "google.com", "gvt1.com")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--no-pings",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--disable-features=NetworkTimeServiceQuerying,OptimizationHints,MediaRouter,Translate",
    "--enable-logging=stderr",
    "--v=0",
    "--virtual-time-budget=5000",
)


@dataclasses.dataclass
class PageVisit:
    dom: str
    console: list[str]
    requests: list[str]


def visit(page: Path, profile: Path, screenshot: Path | None = None) -> PageVisit:
    """Open ``page`` in headless Chromium behind a recording proxy: the DOM after scripts ran,
    the console messages, and every network request the page made."""
    seen: list[str] = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            seen.append(self.path)
            self.send_response(404)
            self.end_headers()

        do_CONNECT = do_POST = do_HEAD = do_GET

        def log_message(self, *args):
            pass

    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    flags = [
        *CHROMIUM_FLAGS,
        f"--user-data-dir={profile}",
        f"--proxy-server=http://127.0.0.1:{proxy.server_address[1]}",
        "--proxy-bypass-list=<-loopback>",  # even localhost goes through the recorder
    ]
    try:
        dom = subprocess.run(
            ["chromium", *flags, "--dump-dom", page.as_uri()],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        if screenshot is not None:
            subprocess.run(
                ["chromium", *flags, "--window-size=1280,2400", f"--screenshot={screenshot}", page.as_uri()],
                capture_output=True, text=True, timeout=120,
            )  # fmt: skip
    finally:
        proxy.shutdown()
    console = [line for line in dom.stderr.splitlines() if ":CONSOLE" in line]
    own = [r for r in seen if not any(h in r for h in BROWSER_SERVICE_HOSTS)]
    return PageVisit(dom.stdout, console, own)


class Inbox:
    """An aiosmtpd handler that keeps what it receives and can refuse on purpose."""

    def __init__(self, refuse_rcpt: str | None = None, busy: int = 0):
        self.messages: list[email.message.EmailMessage] = []
        self.refuse_rcpt, self.busy = refuse_rcpt, busy

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if self.refuse_rcpt and address == self.refuse_rcpt:
            return "550 5.1.1 no such mailbox here"
        if self.busy > 0:
            self.busy -= 1
            return "451 4.3.2 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.messages.append(
            email.message_from_bytes(envelope.content, policy=email.policy.default)
        )
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
