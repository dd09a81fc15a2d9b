"""Errors of the alerts package.

AlertError
├── DeliveryError            one send failed; `retryable` says whether to try again later
│   ├── SmtpDeliveryError    the SMTP server refused, timed out or could not be reached
│   └── WebhookDeliveryError the webhook receiver refused, timed out or could not be reached
└── TokenError               a signed token is malformed, tampered, for another purpose or expired
"""

from __future__ import annotations


class AlertError(Exception):
    """Base class of the alerts package's own errors."""


class DeliveryError(AlertError):
    """One delivery failed.

    `retryable` tells the outbox whether the row waits for another attempt or is given up;
    `retry_after` is the delay in seconds the receiver asked for, if any.
    """

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after


class SmtpDeliveryError(DeliveryError):
    """The SMTP server could not take the message (connection, timeout, 4xx or 5xx reply)."""


class WebhookDeliveryError(DeliveryError):
    """The webhook receiver did not accept the event (connection, timeout, or HTTP status)."""


class TokenError(AlertError, ValueError):
    """A signed token is malformed, tampered with, for another purpose, expired or used."""
