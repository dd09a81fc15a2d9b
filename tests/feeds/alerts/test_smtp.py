"""SMTP delivery against a real aiosmtpd server on loopback: plain, STARTTLS, SSL, AUTH, failures."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import logging
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from feeds.alerts.exceptions import DeliveryError, SmtpDeliveryError
from feeds.alerts.smtp import SmtpSender, SmtpSettings
from tests.feeds.alerts.mails import instant, reparse, wire

PASSWORD = "s3cret-Pa55word-xyz"
USER = "mailer"


@dataclass
class Inbox:
    """An aiosmtpd handler that keeps what it receives and refuses marked recipients."""

    envelopes: list[Envelope] = field(default_factory=list)
    tls: list[bool] = field(default_factory=list)

    async def handle_RCPT(
        self,
        server: SMTPServer,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address.startswith("nobody@"):
            return "550 5.1.1 <nobody@example.org>: no such user"
        if address.startswith("busy@"):
            return "450 4.2.1 mailbox busy, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)  # decode_data is off: the raw bytes
        if b"X-Reject-Me" in envelope.content:
            return "554 5.7.1 message content rejected"
        self.envelopes.append(envelope)
        # STARTTLS swaps in a TLS transport; implicit TLS has one from the start
        assert server.transport is not None  # set while the session is connected
        self.tls.append(server.transport.get_extra_info("ssl_object") is not None)
        return "250 2.0.0 queued"


def authenticator(
    server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, auth_data: object
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == USER.encode()
        and auth_data.password == PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535


def free_port() -> int:
    """A port nothing listens on (aiosmtpd's Controller cannot report a port-0 bind)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def smtp_server(**kwargs: Any) -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, made here: (cert, key) files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "iomwatch test smtp")])
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
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def server_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*map(str, certificate))
    return context


def send(settings: SmtpSettings, *messages: EmailMessage) -> None:
    async def run() -> None:
        sender = SmtpSender(settings)
        if len(messages) == 1:
            await sender.send(messages[0])
            return
        async with sender.session() as session:
            for message in messages:
                with contextlib.suppress(SmtpDeliveryError):
                    await session.send(message)

    asyncio.run(run())


def failure(settings: SmtpSettings, message: EmailMessage | None = None) -> SmtpDeliveryError:
    with pytest.raises(SmtpDeliveryError) as caught:
        send(settings, message or instant())
    assert isinstance(caught.value, DeliveryError)
    return caught.value


def assert_received_intact(inbox: Inbox, message: EmailMessage) -> None:
    """What the server got is byte for byte what we built, with every header."""
    (envelope,) = inbox.envelopes
    assert envelope.mail_from == "alerts@example.org"
    assert envelope.rcpt_tos == ["analyst@example.org"]
    assert envelope.content == wire(message)
    received = reparse(envelope.content)
    for header in (
        "Message-ID",
        "Date",
        "From",
        "To",
        "Subject",
        "List-Id",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
        "Auto-Submitted",
        "Precedence",
    ):
        assert received[header] == message[header], header
    assert [p.get_content_type() for p in received.walk()] == [
        "multipart/alternative",
        "text/plain",
        "text/html",
    ]


def test_plain_delivery() -> None:
    message = instant("fr")
    with smtp_server() as (inbox, port):
        send(SmtpSettings("127.0.0.1", port, timeout=5), message)
    assert_received_intact(inbox, message)
    assert inbox.tls == [False]


def test_starttls_with_our_ca_file(certificate: tuple[Path, Path]) -> None:
    message = instant("ar")
    with smtp_server(tls_context=server_tls(certificate), require_starttls=True) as (inbox, port):
        settings = SmtpSettings(
            "127.0.0.1", port, "starttls", timeout=5, ca_file=str(certificate[0])
        )
        send(settings, message)
    assert_received_intact(inbox, message)
    assert inbox.tls == [True]


def test_starttls_verifies_certificates_unless_told_not_to(certificate: tuple[Path, Path]) -> None:
    with smtp_server(tls_context=server_tls(certificate), require_starttls=True) as (inbox, port):
        error = failure(SmtpSettings("127.0.0.1", port, "starttls", timeout=5))
        assert error.retryable and "certificate" in error.message.lower()
        send(SmtpSettings("127.0.0.1", port, "starttls", timeout=5, tls_verify=False), instant())
    assert inbox.tls == [True]


def test_starttls_never_falls_back_to_plain() -> None:
    with smtp_server() as (inbox, port):  # offers no STARTTLS
        error = failure(SmtpSettings("127.0.0.1", port, "starttls", timeout=5))
    assert error.retryable and inbox.envelopes == []


def test_implicit_tls(certificate: tuple[Path, Path]) -> None:
    message = instant("es")
    with smtp_server(ssl_context=server_tls(certificate)) as (inbox, port):
        send(
            SmtpSettings("127.0.0.1", port, "ssl", timeout=5, ca_file=str(certificate[0])), message
        )
    assert_received_intact(inbox, message)
    assert inbox.tls == [True]


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_auth_over_starttls_and_plain(certificate: tuple[Path, Path]) -> None:
    message = instant()
    tls = {"tls_context": server_tls(certificate), "require_starttls": True}
    with smtp_server(authenticator=authenticator, auth_required=True, **tls) as (inbox, port):
        settings = SmtpSettings(
            "127.0.0.1", port, "starttls", USER, PASSWORD, 5, ca_file=str(certificate[0])
        )
        send(settings, message)
    assert_received_intact(inbox, message)
    with smtp_server(authenticator=authenticator, auth_required=True, auth_require_tls=False) as (
        inbox,
        port,
    ):
        send(SmtpSettings("127.0.0.1", port, "none", USER, PASSWORD, 5), message)
    assert_received_intact(inbox, message)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_password_never_in_reprs_errors_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with smtp_server(authenticator=authenticator, auth_required=True, auth_require_tls=False) as (
        inbox,
        port,
    ):
        good = SmtpSettings("127.0.0.1", port, "none", USER, PASSWORD, 5)
        send(good, instant())
        wrong = SmtpSettings("127.0.0.1", port, "none", USER, PASSWORD + "-wrong", 5)
        error = failure(wrong)
    assert len(inbox.envelopes) == 1
    # a refused login concerns every mail: the rows wait for the operator to fix it
    assert error.retryable and "535" in error.message
    ours = "\n".join(
        r.getMessage() for r in caplog.records if not r.name.startswith("mail.")
    )  # mail.log is aiosmtpd, the test's server, not iomwatch
    assert "sent <" in ours
    for text in (repr(good), str(good), repr(SmtpSender(good)), str(error), repr(error), ours):
        assert PASSWORD not in text
    assert "password" not in repr(good)


def test_smtp_down_is_retryable_and_quick() -> None:
    port = free_port()
    started = time.monotonic()
    error = failure(SmtpSettings("127.0.0.1", port, timeout=3))
    assert error.retryable
    assert time.monotonic() - started < 2
    assert f"smtp 127.0.0.1:{port}: " in error.message


def test_silent_server_times_out_within_the_timeout() -> None:
    """A peer that accepts the connection and never greets: the timeout bounds the wait."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # the kernel completes the handshake; nobody ever says 220
        started = time.monotonic()
        error = failure(SmtpSettings("127.0.0.1", silent.getsockname()[1], timeout=0.5))
        elapsed = time.monotonic() - started
    assert error.retryable and "Timeout" in error.message
    assert 0.4 < elapsed < 3


def test_recipient_rejections() -> None:
    with smtp_server() as (inbox, port):
        settings = SmtpSettings("127.0.0.1", port, timeout=5)
        permanent = failure(settings, _to("nobody@example.org"))
        temporary = failure(settings, _to("busy@example.org"))
        content = failure(settings, _header(instant(), "X-Reject-Me", "yes"))
    assert not permanent.retryable and "550" in permanent.message
    assert temporary.retryable and "450" in temporary.message
    assert not content.retryable and "554" in content.message
    assert inbox.envelopes == []


def test_one_session_survives_a_rejection() -> None:
    """A digest run on one connection: a refused recipient does not stop the next mail."""
    good = instant()
    with smtp_server() as (inbox, port):
        send(SmtpSettings("127.0.0.1", port, timeout=5), _to("nobody@example.org"), good)
    assert_received_intact(inbox, good)


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="security"):
        SmtpSettings("localhost", 25, "tls")
    with pytest.raises(ValueError, match="port"):
        SmtpSettings("localhost", 0)
    with pytest.raises(ValueError, match="timeout"):
        SmtpSettings("localhost", 25, timeout=0)


def _to(address: str) -> EmailMessage:
    message = instant()
    message.replace_header("To", address)
    return message


def _header(message: EmailMessage, name: str, value: str) -> EmailMessage:
    message[name] = value
    return message
