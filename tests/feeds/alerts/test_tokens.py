"""Signed tokens: round trip, and every way a token can be wrong is refused with TokenError."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from feeds.alerts.exceptions import TokenError
from feeds.alerts.tokens import (
    CONFIRM,
    CONFIRM_TTL,
    UNSUBSCRIBE,
    confirm_token,
    make_token,
    read_token,
    unsubscribe_token,
)

KEY = b"k" * 32
NOW = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)


def test_round_trip_for_both_purposes() -> None:
    token = unsubscribe_token(KEY, "subscriber-42")
    assert read_token(KEY, UNSUBSCRIBE, token, now=NOW) == "subscriber-42"
    # an unsubscribe link from years ago still works
    assert read_token(KEY, UNSUBSCRIBE, token, now=NOW + timedelta(days=3650)) == "subscriber-42"
    subject = "analyst@example.org:nonce-9f2c"
    assert read_token(KEY, CONFIRM, confirm_token(KEY, subject, now=NOW), now=NOW) == subject


def test_token_is_url_safe_and_stable() -> None:
    token = unsubscribe_token(KEY, "sübscriber/42?&=")
    assert token == unsubscribe_token(KEY, "sübscriber/42?&=")
    assert all(c.isalnum() or c in "-_." for c in token), token
    assert read_token(KEY, UNSUBSCRIBE, token, now=NOW) == "sübscriber/42?&="


def _forge(token: str, **claims: object) -> str:
    """The token with its payload rewritten and its signature kept."""
    payload, signature = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data.update(claims)
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode() + "." + signature


def test_tampered_payload_or_signature_is_refused() -> None:
    token = unsubscribe_token(KEY, "subscriber-42")
    with pytest.raises(TokenError, match="signature"):
        read_token(KEY, UNSUBSCRIBE, _forge(token, s="subscriber-43"), now=NOW)
    payload, signature = token.split(".")
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    with pytest.raises(TokenError, match="signature"):
        read_token(KEY, UNSUBSCRIBE, f"{payload}.{flipped}", now=NOW)
    # lifting the expiry of a confirmation is tampering too
    confirm = confirm_token(KEY, "a@example.org:n", now=NOW)
    with pytest.raises(TokenError, match="signature"):
        read_token(KEY, CONFIRM, _forge(confirm, e=None), now=NOW + timedelta(days=30))


def test_wrong_purpose_is_refused() -> None:
    token = unsubscribe_token(KEY, "subscriber-42")
    with pytest.raises(TokenError, match="not for 'confirm'"):
        read_token(KEY, CONFIRM, token, now=NOW)
    confirm = confirm_token(KEY, "subscriber-42", now=NOW)
    with pytest.raises(TokenError, match="not for 'unsubscribe'"):
        read_token(KEY, UNSUBSCRIBE, confirm, now=NOW)


def test_expired_confirmation_is_refused() -> None:
    token = confirm_token(KEY, "a@example.org:n", now=NOW)
    just_before = NOW + CONFIRM_TTL - timedelta(seconds=1)
    assert read_token(KEY, CONFIRM, token, now=just_before) == "a@example.org:n"
    with pytest.raises(TokenError, match="expired"):
        read_token(KEY, CONFIRM, token, now=NOW + CONFIRM_TTL)
    assert timedelta(hours=48) == CONFIRM_TTL


def test_wrong_key_is_refused() -> None:
    token = unsubscribe_token(KEY, "subscriber-42")
    with pytest.raises(TokenError, match="signature"):
        read_token(b"another key", UNSUBSCRIBE, token, now=NOW)


@pytest.mark.parametrize(
    "token",
    ["", "nodot", "a.b.c", "é.é", "a.b", "!!!.???", "x" * 5000, "." + "A" * 43],
)
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(TokenError):
        read_token(KEY, UNSUBSCRIBE, token, now=NOW)


def test_signed_garbage_payload_is_refused() -> None:
    """A payload that is not our JSON is refused even with a valid signature (a key reused)."""
    from feeds.alerts.tokens import _b64encode, _signature

    for raw in (b"\xff\xfe", b"[1, 2]", b'{"p": "unsubscribe", "s": 42, "e": null}'):
        payload = _b64encode(raw)
        with pytest.raises(TokenError, match="malformed"):
            read_token(KEY, UNSUBSCRIBE, f"{payload}.{_signature(KEY, payload)}", now=NOW)


def test_bad_arguments_are_errors() -> None:
    with pytest.raises(ValueError, match="empty"):
        unsubscribe_token(b"", "s")
    with pytest.raises(ValueError, match="naive"):
        make_token(KEY, CONFIRM, "s", expires=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="naive"):
        read_token(KEY, UNSUBSCRIBE, unsubscribe_token(KEY, "s"), now=datetime(2026, 1, 1))
