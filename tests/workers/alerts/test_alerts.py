"""Alerts: one notification per change of status, on every channel, with no secret in it."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import update

from tests.harness import TOKEN, Harness, hubspot_harness
from workers.alerts import after_run, check_backlog
from workers.settings import Settings
from workers.state import RunStatus, StateStore
from workers.state.schema import EventStatus, InboxEventRow
from workers.sync.crm_schema import apply_schema
from workers.sync.plan import load_playbook
from workers.sync.runner import run_sync

pytestmark = pytest.mark.integration
BOOK = load_playbook("b2b_saas")
SLACK_PATH = "/services/T0SEGSYNC/B0ALERTS/canary-slack-path-7c1f"
HOOK_SECRET = "canary-hook-secret-5d2e9a"
SMTP_PASSWORD = "canary-smtp-password-81b3"


class Receiver:
    """A local HTTP endpoint that keeps every POST (a Slack webhook's stand-in)."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, str], bytes]] = []
        posts = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                posts.append((self.path, dict(self.headers), body))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Mailbox:
    """Keeps every message the SMTP server accepts."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.logins: list[str] = []

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        self.messages.append(envelope.original_content or b"")
        return "250 OK"

    def authenticate(
        self, server: Any, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        good = isinstance(data, LoginPassword) and data.password.decode() == SMTP_PASSWORD
        if good:
            self.logins.append(data.login.decode())
        return AuthResult(success=good)


def certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (and the CA file that trusts it)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "smtp.crt", folder / "smtp.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@pytest.fixture
def channels(tmp_path: Path) -> Iterator[tuple[Receiver, Receiver, Mailbox, dict[str, Any]]]:
    slack, hook, mailbox = Receiver(), Receiver(), Mailbox()
    cert_file, key_file = certificate(tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert_file, key_file)
    with socket.socket() as probe:  # the controller checks its server by connecting
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    smtp = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=tls,
        require_starttls=True,
        authenticator=mailbox.authenticate,
        auth_require_tls=True,
    )
    smtp.start()
    options = {
        "alert_slack_webhook_url": slack.url + SLACK_PATH,
        "alert_webhook_url": hook.url + "/segsync",
        "alert_webhook_secret": HOOK_SECRET,
        "alert_smtp_host": "127.0.0.1",
        "alert_smtp_port": port,
        "alert_smtp_username": "revops",
        "alert_smtp_password": SMTP_PASSWORD,
        "alert_smtp_ca_file": str(cert_file),
        "alert_email_to": ["revops@example.com"],
    }
    yield slack, hook, mailbox, options
    smtp.stop()
    slack.close()
    hook.close()


@pytest.fixture
def hubspot() -> Iterator[Harness]:
    harness = hubspot_harness(contacts=200, companies=30, deals=60)
    yield harness
    harness.server.stop()


def test_a_failure_and_its_recovery_alert_once_each_on_every_channel(
    hubspot: Harness,
    channels: tuple[Receiver, Receiver, Mailbox, dict[str, Any]],
    tmp_path: Path,
) -> None:
    slack, hook, mailbox, options = channels
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'state.db'}", redis_url=None, **options
    )
    connector = hubspot.build()
    apply_schema(connector, BOOK, ["contact", "company"])
    hubspot.admin("POST", "tokens/revoke", json={"token": TOKEN})
    for _ in range(2):  # two failed runs in a row: still one alert
        with pytest.raises(Exception, match=r"401|[Uu]nauthori"):
            run_sync(settings, "hubspot", BOOK, connector=connector, full=True)
    hubspot.admin("POST", "tokens/restore", json={"token": TOKEN})
    for full in (True, False):  # two good runs: one recovery
        assert run_sync(settings, "hubspot", BOOK, connector=connector, full=full).rejected == 0
    with StateStore(settings.database_url) as store:
        runs = sorted(store.list_runs(crm="hubspot"), key=lambda r: r.id)
    failed, recovered = runs[0], runs[2]
    assert failed.status is RunStatus.FAILED and recovered.status is RunStatus.SUCCEEDED

    slack_texts = [json.loads(body)["text"] for _, _, body in slack.posts]
    assert len(slack_texts) == 2, slack_texts
    assert {path for path, _, _ in slack.posts} == {SLACK_PATH}
    assert f"run #{failed.id}" in slack_texts[0] and "failed" in slack_texts[0]
    assert failed.error and failed.error in slack_texts[0]
    assert f"run #{recovered.id}" in slack_texts[1] and "succeeded" in slack_texts[1]

    assert len(hook.posts) == 2
    bodies = []
    for _, headers, body in hook.posts:
        stamp, signature = (p.split("=", 1)[1] for p in headers["X-Segsync-Signature"].split(","))
        expected = hmac.new(HOOK_SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256)
        assert hmac.compare_digest(signature, expected.hexdigest())
        bodies.append(json.loads(body))
    assert [(b["condition"], b["status"], b["run_id"]) for b in bodies] == [
        ("run", "firing", failed.id),
        ("run", "ok", recovered.id),
    ]
    assert failed.error in bodies[0]["details"]

    assert len(mailbox.messages) == 2 and mailbox.logins == ["revops", "revops"]
    mails = [message_from_bytes(m) for m in mailbox.messages]
    assert f"run #{failed.id}" in str(mails[0]["Subject"]) and "failed" in str(mails[0]["Subject"])
    assert failed.error in mails[0].get_payload(decode=True).decode()
    assert f"run #{recovered.id}" in str(mails[1]["Subject"])

    everything = b"".join([*mailbox.messages, *(b for _, _, b in slack.posts + hook.posts)])
    for secret in (TOKEN, HOOK_SECRET, SMTP_PASSWORD, SLACK_PATH):
        assert secret.encode() not in everything


def test_rejections_dead_letters_and_inbox_lag_alert_on_change_only(tmp_path: Path) -> None:
    hook = Receiver()
    try:
        settings = Settings(
            database_url=f"sqlite:///{tmp_path / 'state.db'}",
            redis_url=None,
            alert_webhook_url=hook.url,
            alert_webhook_secret=HOOK_SECRET,
            alert_rejected_above=5,
            alert_inbox_lag_seconds=60,
        )
        with StateStore(settings.database_url) as store:
            store.migrate()
            clean = store.start_run("hubspot", "sync-incremental")
            store.finish_run(clean, "succeeded", {"rejected": 5})
            assert after_run(settings, store, store.get_run(clean)) == []  # ok from the start
            bad = store.start_run("hubspot", "sync-incremental")
            store.finish_run(bad, "succeeded", {"rejected": 6})
            (sent,) = after_run(settings, store, store.get_run(bad))
            assert (sent.condition, sent.status) == ("rejections", "firing")
            assert "6 rows" in sent.summary and "deadletter list" in sent.details
            assert after_run(settings, store, store.get_run(bad)) == []  # seen already
            # An event waiting two minutes: the inbox lags; processed, it recovers.
            store.add_event("hubspot", "k1", {"objectId": 1})
            with store._write() as conn:
                two_minutes_ago = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=120)
                conn.execute(update(InboxEventRow).values(received_at=two_minutes_ago))
            (lag,) = check_backlog(settings, store, "hubspot")
            assert lag.condition == "inbox_lag" and lag.status == "firing"
            assert "events wait 12" in lag.summary  # 120 s and the test's own seconds
            assert check_backlog(settings, store, "hubspot") == []
            with store._write() as conn:
                conn.execute(update(InboxEventRow).values(status=EventStatus.DONE.value))
            (back,) = check_backlog(settings, store, "hubspot")
            assert (back.condition, back.status) == ("inbox_lag", "ok")
        conditions = [(json.loads(b)["condition"], json.loads(b)["status"]) for *_, b in hook.posts]
        assert conditions == [
            ("rejections", "firing"),
            ("inbox_lag", "firing"),
            ("inbox_lag", "ok"),
        ]
    finally:
        hook.close()
