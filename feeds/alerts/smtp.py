"""Sending mail over SMTP with aiosmtplib: plain, STARTTLS or implicit TLS, with auth and timeouts.

Every failure becomes an `SmtpDeliveryError` whose `retryable` tells the outbox what to do:

- the server could not be reached, timed out, dropped us, answered 4xx, refused our login,
  TLS or sender: retryable. These concern every message, not this one; the rows wait until
  the server or the operator's settings are fixed, and nothing is lost.
- 5xx for this recipient (RCPT) or this message (DATA): permanent. Trying again would be
  refused again, and hammering a server that said "no such user" gets us blocklisted.

The password lives only in `SmtpSettings` (hidden from its repr) and in the aiosmtplib client
while it logs in; no message, repr or log line here carries it.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import aiosmtplib

from feeds.alerts.exceptions import SmtpDeliveryError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from email.message import EmailMessage

logger = logging.getLogger(__name__)

SECURITY_MODES = ("none", "starttls", "ssl")
DEFAULT_TIMEOUT = 30.0
REPLY_CHARS = 200  # server replies can be long; the error keeps their start
# errors whose 5xx is about this recipient or this message, not about the server or us
PER_MESSAGE_ERRORS = (aiosmtplib.SMTPRecipientRefused, aiosmtplib.SMTPDataError)


@dataclass(frozen=True)
class SmtpSettings:
    """How to reach the SMTP server: plain values from `[smtp]`.

    `tls_verify=False` accepts any certificate (a relay with a self-signed one on a private
    network); `ca_file` trusts one CA bundle instead of the system's.
    """

    host: str
    port: int
    security: str = "none"
    username: str = ""
    password: str = field(default="", repr=False)
    timeout: float = DEFAULT_TIMEOUT
    tls_verify: bool = True
    ca_file: str | None = None

    def __post_init__(self) -> None:
        if self.security not in SECURITY_MODES:
            raise ValueError(f"smtp security {self.security!r}: expected none, starttls or ssl")
        if not 0 < self.port < 65536 or self.timeout <= 0:
            raise ValueError(f"smtp port {self.port!r} / timeout {self.timeout!r} out of range")

    @property
    def where(self) -> str:
        """'host:port' for errors and logs."""
        return f"{self.host}:{self.port}"


def _reply(code: int, message: str) -> str:
    return f"{code} {' '.join(message.split())[:REPLY_CHARS]}"


def delivery_error(exc: Exception, where: str) -> SmtpDeliveryError:
    """The outbox's view of an aiosmtplib (or socket) failure: what happened, retry or not."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        replies = "; ".join(_reply(r.code, r.message) for r in exc.recipients)
        retryable = any(code < 500 for code in codes)
        return SmtpDeliveryError(f"smtp {where}: recipient refused: {replies}", retryable=retryable)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        permanent = isinstance(exc, PER_MESSAGE_ERRORS) and exc.code >= 500
        reason = f"{type(exc).__name__} {_reply(exc.code, exc.message)}"
        return SmtpDeliveryError(f"smtp {where}: {reason}", retryable=not permanent)
    # connection refused, timeouts, disconnects, TLS failures, STARTTLS not offered...
    reason = " ".join(str(exc).split())[:REPLY_CHARS] or type(exc).__name__
    return SmtpDeliveryError(f"smtp {where}: {type(exc).__name__}: {reason}", retryable=True)


@contextmanager
def _delivery_errors(where: str) -> Iterator[None]:
    try:
        yield
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise delivery_error(exc, where) from exc


class SmtpSession:
    """One open, logged-in connection: send many messages (a digest run) without reconnecting."""

    def __init__(self, client: aiosmtplib.SMTP, where: str) -> None:
        self._client = client
        self._where = where

    def __repr__(self) -> str:
        return f"SmtpSession({self._where})"

    async def send(self, message: EmailMessage) -> None:
        """Send one message to its To addresses; SmtpDeliveryError if the server does not take it."""
        with _delivery_errors(self._where):
            await self._client.send_message(message)
        logger.debug("smtp %s: sent %s", self._where, message["Message-ID"])


class SmtpSender:
    """Sends mail through one SMTP server; built once from `SmtpSettings`."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    def __repr__(self) -> str:
        s = self.settings
        return f"SmtpSender({s.where}, security={s.security}, username={s.username!r})"

    def _client(self) -> aiosmtplib.SMTP:
        s = self.settings
        return aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            username=s.username or None,
            password=s.password if s.username else None,
            timeout=s.timeout,
            use_tls=s.security == "ssl",
            # False, not None: "none" must never upgrade on its own, "starttls" must not fall back
            start_tls=s.security == "starttls",
            validate_certs=s.tls_verify,
            cert_bundle=s.ca_file,
        )

    @asynccontextmanager
    async def session(self) -> AsyncIterator[SmtpSession]:
        """Connect (TLS and login as configured), yield a session, then QUIT."""
        client = self._client()
        with _delivery_errors(self.settings.where):
            await client.connect()
        try:
            yield SmtpSession(client, self.settings.where)
        finally:
            # the message is already accepted or refused; a failed QUIT changes nothing
            with suppress(aiosmtplib.SMTPException, OSError):
                await client.quit()
            client.close()

    async def send(self, message: EmailMessage) -> None:
        """Send one message on a connection of its own."""
        async with self.session() as session:
            await session.send(message)
