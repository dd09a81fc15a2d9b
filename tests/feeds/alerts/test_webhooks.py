"""Webhooks against a real receiver on loopback that checks every signature with
`standardwebhooks`' own `Webhook.verify`: payload, signing, and how each answer is classified."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest
from standardwebhooks import Webhook

from crawler.store.records import StoredRelease
from feeds.alerts.exceptions import WebhookDeliveryError
from feeds.alerts.webhooks import (
    DeliveryResult,
    Outcome,
    WebhookTarget,
    deliver,
    deliver_sync,
    parse_retry_after,
    safe_url,
    signed_headers,
    webhook_id,
    webhook_payload,
)
from feeds.entries import Entry, make_entry
from tests.feeds.alerts.receiver import Reply, serve, verifier

WHSEC = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
PLAIN = "correct horse battery staple"
SECRETS = pytest.mark.parametrize("secret", [WHSEC, PLAIN], ids=["whsec", "plain"])
EVENT_AT = datetime(2024, 5, 10, 9, 30, tzinfo=UTC)
HOSTILE_TITLE = '"},"type":"release.deleted","x":{"a":"\\ </script><img src=x onerror=alert(1)>'
HOSTILE_TEXT = 'line\u2028sep\x00nul\x1b[31m "quotes" \\ back \ud800 lone } ] {"inject":1}'


def release(title: str = "Sustainable reintegration in Bamako", text: str = "Body.") -> Entry:
    stored = StoredRelease(
        id="mali-101",
        site="mali",
        url="https://mali.iom.int/fr/news/reintegration",
        group_key="mali:101",
        lang="fr",
        country="Mali",
        region="West and Central Africa",
        type="press_release",
        title=title,
        published=datetime(2024, 5, 10, 9, tzinfo=UTC),
        dateline="Bamako",
        body_text=text,
        body_html="<p>Body.</p>",
        summary="Summary.",
        image_url="https://mali.iom.int/lead.jpg",
        attachments=["https://mali.iom.int/report.pdf"],
        translations={"en": "https://mali.iom.int/news/reintegration"},
        content_hash="h",
        first_seen=datetime(2024, 5, 10, 10, tzinfo=UTC),
        updated=datetime(2024, 5, 10, 10, tzinfo=UTC),
    )
    return make_entry(stored, base_url="http://feeds.test")


def body_of(entry: Entry | None = None, kind: str = "new") -> bytes:
    return webhook_payload(
        kind,
        entry or release(),
        feed_url="http://feeds.test/feeds/site/mali.atom",
        page_url="http://feeds.test/releases/mali-101",
        timestamp=EVENT_AT,
    )


def attempts(url: str, body: bytes, secret: str, count: int, **kw: float) -> list[DeliveryResult]:
    """`count` attempts of one delivery through one AsyncClient: same id, signed afresh."""
    delivery = webhook_id("outbox-row-1")
    timeout = httpx.Timeout(kw.pop("timeout", 5.0))

    async def run() -> list[DeliveryResult]:
        async with httpx.AsyncClient(timeout=timeout) as client:
            results = []
            for _ in range(count):
                headers = signed_headers(secret, delivery, body, now=datetime.now(UTC))
                results.append(await deliver(client, url, body, headers, **kw))
            return results

    return asyncio.run(run())


def test_payload_carries_the_event_the_release_and_its_urls() -> None:
    payload = json.loads(body_of())
    assert payload["type"] == "release.created"
    assert payload["timestamp"] == "2024-05-10T09:30:00Z"
    data = payload["data"]
    assert data["id"] == "mali-101" and data["site"] == "mali" and data["country"] == "Mali"
    assert data["lang"] == "fr" and data["type"] == "press_release"
    assert data["published"] == "2024-05-10T09:00:00Z"
    assert data["feed_url"] == "http://feeds.test/feeds/site/mali.atom"
    assert data["page_url"] == "http://feeds.test/releases/mali-101"
    assert data["translations"] == [
        {"lang": "en", "url": "https://mali.iom.int/news/reintegration"}
    ]
    assert data["attachments"] == [
        {"url": "https://mali.iom.int/report.pdf", "type": "application/pdf"}
    ]
    assert json.loads(body_of(kind="updated"))["type"] == "release.updated"
    assert body_of() == body_of()  # a retry or replay rebuilds the same bytes
    with pytest.raises(ValueError, match="'deleted'"):
        body_of(kind="deleted")


def test_hostile_release_content_stays_inside_its_json_strings() -> None:
    # raw text as well as the entry's own cleaning: the builder must not rely on it
    entry = replace(release(HOSTILE_TITLE), content_text=HOSTILE_TEXT)
    assert '"},"type":"release.deleted"' in entry.title  # plain text keeps the quotes
    body = body_of(entry)
    payload = json.loads(body.decode("utf-8"))  # strict UTF-8, valid JSON
    assert set(payload) == {"type", "timestamp", "data"}
    assert payload["type"] == "release.created"
    assert payload["data"]["title"] == entry.title
    assert payload["data"]["content_text"] == HOSTILE_TEXT.replace("\ud800", "\ufffd")
    assert b"\x00" not in body and b"\x1b" not in body
    with serve(PLAIN) as receiver:
        assert attempts(receiver.url, body, PLAIN, 1)[0].ok
        assert receiver.received[0].payload["data"]["title"] == entry.title


@SECRETS
def test_the_receiver_verifies_the_signature_with_the_library(secret: str) -> None:
    with serve(secret) as receiver:
        [result] = attempts(receiver.url, body_of(), secret, 1)
    assert result.ok and result.status == 200
    [got] = receiver.received
    assert got.verified, got.error
    assert got.headers["webhook-id"] == webhook_id("outbox-row-1")
    assert got.headers["content-type"] == "application/json"
    assert got.payload == json.loads(body_of())


def test_a_wrong_secret_is_refused_by_the_receiver() -> None:
    with serve(WHSEC) as receiver:
        [result] = attempts(receiver.url, body_of(), PLAIN, 1)
    assert not receiver.received[0].verified
    assert result.outcome is Outcome.PERMANENT and result.status == 401


def test_signing_converts_a_non_utc_clock_before_the_library_sees_it() -> None:
    # standardwebhooks replaces tzinfo instead of converting: UTC+2 unconverted is 2 h off
    now = datetime.now(UTC).astimezone(timezone(timedelta(hours=2)))
    headers = signed_headers(PLAIN, "msg_1", b"{}", now=now)
    assert verifier(PLAIN).verify(b"{}", headers) == {}
    assert headers["webhook-timestamp"] == str(int(now.timestamp()))


def test_500_500_200_is_retryable_twice_then_ok_under_one_webhook_id() -> None:
    with serve(WHSEC, [500, 500, 200]) as receiver:
        results = attempts(receiver.url, body_of(), WHSEC, 3)
    assert [r.outcome for r in results] == [Outcome.RETRYABLE, Outcome.RETRYABLE, Outcome.OK]
    assert [r.status for r in results] == [500, 500, 200]
    assert results[0].reason == "HTTP 500" and results[0].retry_after is None
    assert all(got.verified for got in receiver.received)
    assert {got.headers["webhook-id"] for got in receiver.received} == {webhook_id("outbox-row-1")}
    assert [got.status for got in receiver.received] == [500, 500, 200]


def test_429_with_retry_after_seconds_gives_the_hint() -> None:
    with serve(PLAIN, [Reply(429, retry_after="7")]) as receiver:
        [result] = attempts(receiver.url, body_of(), PLAIN, 1)
    assert result.retryable and result.status == 429 and result.retry_after == 7.0
    assert result.reason == "HTTP 429 (Retry-After 7 s)"
    with pytest.raises(WebhookDeliveryError) as caught:
        result.raise_for_outcome()
    assert caught.value.retryable and caught.value.retry_after == 7.0


def test_503_with_retry_after_http_date_is_read_against_the_receivers_clock() -> None:
    with serve(PLAIN, [Reply(503, retry_after="Wed, 21 Oct 2099 07:28:00 GMT")]) as receiver:
        [result] = attempts(receiver.url, body_of(), PLAIN, 1)
    assert result.retryable and result.retry_after == 86_400.0  # capped at a day


def test_retry_after_forms() -> None:
    now = datetime(2024, 5, 10, 9, 0, tzinfo=UTC)
    assert parse_retry_after("120", now=now) == 120.0
    assert parse_retry_after(" 0 ", now=now) == 0.0
    assert parse_retry_after("Fri, 10 May 2024 09:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Fri, 10 May 2024 08:00:00 GMT", now=now) == 0.0  # past: now
    assert parse_retry_after("9" * 5000, now=now) == 86_400.0
    for bad in (None, "", "soon", "-5", "1.5", "٧", "Fri, 99 Foo 2024"):
        assert parse_retry_after(bad, now=now) is None, bad


def test_410_is_gone_and_404_is_permanent() -> None:
    with serve(PLAIN, [410, 404, 302]) as receiver:
        gone, missing, moved = attempts(receiver.url, body_of(), PLAIN, 3)
    assert gone.gone and gone.status == 410 and gone.reason == "HTTP 410 gone"
    assert missing.outcome is Outcome.PERMANENT and missing.status == 404
    assert moved.outcome is Outcome.PERMANENT and moved.status == 302  # no signed re-POST
    for result in (gone, missing):
        with pytest.raises(WebhookDeliveryError) as caught:
            result.raise_for_outcome()
        assert not caught.value.retryable


def test_a_receiver_slower_than_the_client_timeout_is_retryable() -> None:
    with serve(PLAIN, [Reply(200, delay=1.5)]) as receiver:
        [result] = attempts(receiver.url, body_of(), PLAIN, 1, timeout=0.3)
    assert result.retryable and result.status is None
    assert result.reason == "timeout (ReadTimeout)" and result.elapsed < 1.4


def test_the_deadline_bounds_the_whole_attempt() -> None:
    with serve(PLAIN, [Reply(200, delay=1.5)]) as receiver:
        [result] = attempts(receiver.url, body_of(), PLAIN, 1, timeout=5.0, deadline=0.3)
    assert result.retryable and result.reason == "timeout (TimeoutError)"


def test_connection_refused_is_retryable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    [result] = attempts(f"http://127.0.0.1:{port}/hook", body_of(), PLAIN, 1)
    assert result.retryable and result.status is None
    assert result.reason == "connection error (ConnectError)"


def test_a_url_without_http_is_permanent() -> None:
    [result] = attempts("ftp://127.0.0.1/hook", body_of(), PLAIN, 1)
    assert result.outcome is Outcome.PERMANENT and result.reason.startswith("bad webhook URL")


def test_the_sync_client_classifies_the_same_way() -> None:
    with serve(WHSEC, [503, 200]) as receiver, httpx.Client(timeout=httpx.Timeout(5.0)) as client:
        body = body_of()
        results = [
            deliver_sync(
                client,
                receiver.url,
                body,
                signed_headers(WHSEC, "msg_x", body, now=datetime.now(UTC)),
            )
            for _ in range(2)
        ]
    assert [r.outcome for r in results] == [Outcome.RETRYABLE, Outcome.OK]
    assert all(got.verified for got in receiver.received)


def test_the_secret_never_shows_in_results_reprs_errors_or_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="feeds.alerts.webhooks")
    secret_url = "https://hooks.example.org/services/T000/B000/tokenpart"
    target = WebhookTarget(secret_url, WHSEC, {"site": ("mali",)})
    with serve(WHSEC, [500, 200]) as receiver:
        results = attempts(receiver.url, body_of(), WHSEC, 2)
    shown = " ".join([repr(target), str(target), *map(repr, results), caplog.text])
    assert caplog.text.count("127.0.0.1") == 2 and "/hook" not in caplog.text
    for secret_part in (WHSEC, WHSEC.removeprefix("whsec_"), "tokenpart"):
        assert secret_part not in shown
    assert safe_url(secret_url) == "https://hooks.example.org/…"
    for bad, message in (
        ("", "empty"),
        ("whsec_", "empty"),
        ("whsec_@@@", "base64"),
        ("whsec_a", "base64"),
    ):
        with pytest.raises(ValueError, match=message) as caught:
            WebhookTarget(secret_url, bad)
        assert "@@@" not in str(caught.value)
    with pytest.raises(ValueError, match="http"):
        WebhookTarget("ftp://hooks.example.org/tokenpart", PLAIN)


def test_webhook_ids_are_stable_and_header_safe() -> None:
    assert webhook_id("row-1") == webhook_id("row-1") != webhook_id("row-2")
    assert webhook_id("row-1").startswith("msg_") and len(webhook_id("row-1")) == 36
    target = WebhookTarget("https://hooks.example.org/x", PLAIN)
    headers = target.headers(webhook_id("row-1"), b"{}", now=datetime.now(UTC))
    assert Webhook(PLAIN.encode()).verify(b"{}", headers) == {}
    for bad in ("", "a b", "a\r\nX-Evil: 1", "é"):
        with pytest.raises(ValueError, match="webhook id"):
            signed_headers(PLAIN, bad, b"{}", now=datetime.now(UTC))
