"""HMAC-SHA256 signed, URL-safe tokens for unsubscribe links and subscription confirmations.

A token is `<payload>.<signature>`, both base64url without padding. The payload is compact
JSON naming the purpose, the subject (a subscriber id, or an address plus a nonce) and the
expiry; the signature covers the payload, so nothing in it can be changed. The purpose is
inside the signed payload: an unsubscribe token can never confirm a subscription.

Single use (confirmations) is not a property of the token: the store enforces it through a
nonce in the subject.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

from feeds.alerts.exceptions import TokenError

UNSUBSCRIBE = "unsubscribe"  # no expiry: a link in a mail from last year still works
CONFIRM = "confirm"
CONFIRM_TTL = timedelta(hours=48)
# a token that does not even fit in a URL was not made here; refuse before any decoding work
MAX_TOKEN_CHARS = 2048


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise TokenError("malformed token: not base64url") from exc


def _signature(key: bytes, payload: str) -> str:
    if not key:
        raise ValueError("token key is empty: configure a secret key")
    return _b64encode(hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest())


def make_token(key: bytes, purpose: str, subject: str, *, expires: datetime | None) -> str:
    """A signed token binding `subject` to `purpose`, valid until `expires` (None: forever)."""
    if expires is not None and expires.tzinfo is None:
        raise ValueError(f"naive expiry {expires!r}: tokens take tz-aware datetimes")
    claims = {
        "p": purpose,
        "s": subject,
        "e": int(expires.timestamp()) if expires is not None else None,
    }
    payload = _b64encode(json.dumps(claims, separators=(",", ":")).encode("utf-8"))
    return f"{payload}.{_signature(key, payload)}"


def confirm_token(key: bytes, subject: str, *, now: datetime) -> str:
    """A confirmation token for `subject` that expires CONFIRM_TTL after `now`."""
    return make_token(key, CONFIRM, subject, expires=now + CONFIRM_TTL)


def unsubscribe_token(key: bytes, subscriber_id: str) -> str:
    """The unsubscribe token of one subscriber (stable: the same in every mail)."""
    return make_token(key, UNSUBSCRIBE, subscriber_id, expires=None)


def _claims(key: bytes, token: str) -> dict[str, object]:
    if len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
        raise TokenError("malformed token")
    payload, signature = token.split(".")
    # compare_digest takes only ASCII str; a non-ASCII token was never made here
    if not token.isascii() or not hmac.compare_digest(_signature(key, payload), signature):
        raise TokenError("bad token signature")
    try:
        claims = json.loads(_b64decode(payload))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TokenError("malformed token payload") from exc
    if not isinstance(claims, dict):
        raise TokenError("malformed token payload")
    return claims


def read_token(key: bytes, purpose: str, token: str, *, now: datetime) -> str:
    """The subject of a valid token for `purpose`; TokenError if bad, tampered, other or expired."""
    if now.tzinfo is None:
        raise ValueError(f"naive now {now!r}: tokens take tz-aware datetimes")
    claims = _claims(key, token)
    subject, expires = claims.get("s"), claims.get("e")
    if claims.get("p") != purpose:
        raise TokenError(f"token is not for {purpose!r}")
    if not isinstance(subject, str) or not (expires is None or isinstance(expires, int)):
        raise TokenError("malformed token payload")
    if expires is not None and now.astimezone(UTC) >= datetime.fromtimestamp(expires, UTC):
        raise TokenError("token expired")
    return subject
