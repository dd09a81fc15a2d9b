"""Web sign-up, confirmation and unsubscribe over a real socket, with a real SMTP server.

The app runs under uvicorn on 127.0.0.1 (tests.feeds.conftest.serve); confirmation and alert
mails go through SmtpSender to aiosmtpd on loopback, and every link followed is taken from a
mail that really arrived. Links point at the configured base URL (http://feeds.test); the
tests send their path and query to the served port.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import re
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from urllib.parse import urlsplit

import httpx
import pytest
from aiosmtpd.controller import Controller
from starlette.applications import Starlette

from crawler.store import ReleaseQuery, Store, Subscriber, SubscriberSpec
from feeds.alerts.email import MailOrigin, Recipient, build_instant
from feeds.alerts.smtp import SmtpSender, SmtpSettings
from feeds.alerts.tokens import confirm_token, unsubscribe_token
from feeds.signup import SignupLimits, confirm_subject
from tests.feeds.alerts.mails import release, reparse
from tests.feeds.alerts.test_smtp import Inbox, free_port
from tests.feeds.conftest import BASE_URL, make_app, serve

ORIGIN = MailOrigin("IOM alerts <alerts@example.org>", BASE_URL)
WIDE = SignupLimits(mails_per_address=50, client_burst=100)  # limits out of the way
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@contextlib.contextmanager
def smtp_on(port: int) -> Iterator[Inbox]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


def mailer(port: int, timeout: float = 5.0) -> SmtpSender:
    return SmtpSender(SmtpSettings("127.0.0.1", port, timeout=timeout))


def alerts_app(store: Store, port: int, **kwargs: object) -> Starlette:
    kwargs.setdefault("signup_limits", WIDE)
    return make_app(store, mailer=mailer(port), mail_origin=ORIGIN, **kwargs)


@contextlib.contextmanager
def running(store: Store, **kwargs: object) -> Iterator[tuple[httpx.Client, Inbox, int]]:
    """The app with a mailer, served; the SMTP server it mails through and that server's port."""
    port = free_port()
    with (
        smtp_on(port) as inbox,
        serve(alerts_app(store, port, **kwargs)) as url,
        httpx.Client(base_url=url, timeout=20) as http,
    ):
        yield http, inbox, port


def received(inbox: Inbox, index: int = -1) -> EmailMessage:
    return reparse(inbox.envelopes[index].original_content or b"")


def link_in(message: EmailMessage, path: str) -> str:
    """The one link to `path` in the text part, as the path and query to send to our server."""
    text = message.get_body(("plain",))
    assert text is not None
    links = set(
        re.findall(rf"{re.escape(BASE_URL)}{re.escape(path)}\?token=[\w.%-]+", text.get_content())
    )
    assert len(links) == 1, links
    parts = urlsplit(links.pop())
    return f"{parts.path}?{parts.query}"


def button(page: str) -> tuple[str, dict[str, str]]:
    """The form of a token page: where it posts (path) and its hidden token."""
    forms = re.findall(r'<form method="post" action="([^"]+)">', page)
    tokens = re.findall(r'<input type="hidden" name="token" value="([^"]+)">', page)
    assert len(forms) == 1 and len(tokens) == 1, page
    action = html.unescape(forms[0])
    assert action.startswith(BASE_URL)
    return action[len(BASE_URL) :], {"token": html.unescape(tokens[0])}


def subscribe_form(page: str) -> list[tuple[str, str]]:
    """The hidden fields of the index page's "subscribe to this view" form."""
    found = re.search(
        rf'<form method="post" action="{re.escape(BASE_URL)}/subscribe".*?</form>', page, re.S
    )
    assert found is not None, "no subscription form"
    pairs = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', found.group(0))
    return [(name, html.unescape(value)) for name, value in pairs]


def sign_up(http: httpx.Client, email: str, **fields: str) -> httpx.Response:
    return http.post("/subscribe", data={"email": email, **fields})


def only_subscriber(store: Store) -> Subscriber:
    rows = store.subscribers()
    assert len(rows) == 1, rows
    return rows[0]


def test_sign_up_confirm_by_button_then_active(store: Store) -> None:
    with running(store) as (http, inbox, _):
        index = http.get("/?country=mali&type=press_release&q=Bamako")
        assert index.status_code == 200
        # the form posts to the base URL, which the page's CSP allows as a form target
        assert f"form-action 'self' {BASE_URL}" in index.headers["content-security-policy"]
        fields = subscribe_form(index.text)
        assert fields == [("country", "Mali"), ("type", "press_release"), ("q", "Bamako")]
        assert '<option value="fr" lang="fr">Français</option>' in index.text

        form = [*fields, ("email", "Analyst@Example.org"), ("mail_lang", "fr")]
        answer = http.post("/subscribe", data=dict(form))
        assert answer.status_code == 200 and "Consultez votre boîte" in answer.text
        assert answer.headers["cache-control"] == "no-store"
        pending = only_subscriber(store)
        assert (pending.source, pending.confirmed_at, pending.consent_at) == ("web", None, None)
        wanted = ReleaseQuery(country=("Mali",), type=("press_release",), q=("Bamako",))
        assert pending.filters == wanted
        assert pending.languages == ("fr",) and not pending.active

        assert len(inbox.envelopes) == 1
        mail = received(inbox)
        assert (
            mail["To"] == "Analyst@Example.org" and mail["Subject"] == "Confirmez vos alertes OIM"
        )
        link = link_in(mail, "/subscribe/confirm")

        page = http.get(link)  # what a mail scanner does: it must confirm nothing
        assert page.status_code == 200 and 'lang="fr"' in page.text and "Mali" in page.text
        assert store.get_subscriber(pending.id).confirmed_at is None  # type: ignore[union-attr]
        action, token = button(page.text)
        assert action == "/subscribe/confirm"

        before = datetime.now(UTC)
        done = http.post(action, data=token)
        assert done.status_code == 200 and "est confirmé" in done.text
        active = store.get_subscriber(pending.id)
        assert active is not None and active.active
        assert active.consent_at is not None and active.consent_at >= before - timedelta(seconds=1)

        again = http.post(action, data=token)  # single use
        assert again.status_code == 200 and "déjà confirmé" in again.text
        assert store.get_subscriber(pending.id).consent_at == active.consent_at  # type: ignore[union-attr]
        assert "déjà confirmé" in http.get(link).text  # no button any more
        assert "<form" not in http.get(link).text

        twice = sign_up(
            http, "analyst@example.org", type="press_release", country="mali", q="Bamako"
        )
        assert twice.status_code == 200 and "already receives alerts" in twice.text
        assert len(inbox.envelopes) == 1 and len(store.subscribers()) == 1


def test_repeated_sign_up_resends_to_the_same_row_until_the_address_limit(
    sqlite_store: Store,
) -> None:
    limits = SignupLimits(mails_per_address=2, client_burst=100)
    with running(sqlite_store, signup_limits=limits) as (http, inbox, _):
        assert sign_up(http, "a@example.org", site="mali").status_code == 200
        assert sign_up(http, "A@example.org", site="mali").status_code == 200
        assert len(inbox.envelopes) == 2 and len(sqlite_store.subscribers()) == 1
        first, second = received(inbox, 0), received(inbox, 1)
        assert first["Message-ID"] != second["Message-ID"]  # two mails, not one retried
        assert link_in(first, "/subscribe/confirm") and link_in(second, "/subscribe/confirm")

        over = sign_up(http, "a@example.org", site="egypt")  # another filter, same address
        assert over.status_code == 429
        assert 3590 <= int(over.headers["retry-after"]) <= 3600
        assert "Too many requests" in over.text
        assert len(inbox.envelopes) == 2 and len(sqlite_store.subscribers()) == 1
        assert sign_up(http, "b@example.org", site="egypt").status_code == 200  # others go on


def test_address_limit_counts_sign_ups_made_by_other_replicas(sqlite_store: Store) -> None:
    limits = SignupLimits(mails_per_address=2, client_burst=100)
    with (
        running(sqlite_store, signup_limits=limits) as (one, inbox, _),
        serve(alerts_app(sqlite_store, free_port(), signup_limits=limits)) as url,
        httpx.Client(base_url=url, timeout=20) as other,
    ):
        assert sign_up(one, "c@example.org", site="mali").status_code == 200
        assert sign_up(one, "c@example.org", site="egypt").status_code == 200
        # the other replica never mailed c@, yet sees the two sign-ups in the store
        refused = sign_up(other, "c@example.org", site="brazil")
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 3500
    assert len(inbox.envelopes) == 2


def test_client_limit_429_with_retry_after(sqlite_store: Store) -> None:
    limits = SignupLimits(mails_per_address=50, client_burst=2, client_refill=600)
    with running(sqlite_store, signup_limits=limits) as (http, inbox, _):
        assert sign_up(http, "d1@example.org").status_code == 200
        assert sign_up(http, "d2@example.org").status_code == 200
        refused = sign_up(http, "d3@example.org")
        assert refused.status_code == 429 and 590 <= int(refused.headers["retry-after"]) <= 600
        assert "10 min" in refused.text
        assert len(inbox.envelopes) == 2 and len(sqlite_store.subscribers()) == 2


def test_smtp_down_503_keeps_the_row_and_a_later_try_sends(sqlite_store: Store) -> None:
    port = free_port()  # nothing listens yet
    with (
        serve(alerts_app(sqlite_store, port)) as url,
        httpx.Client(base_url=url, timeout=20) as http,
    ):
        down = sign_up(http, "e@example.org", region="South America")
        assert down.status_code == 503
        assert (
            "could not send the confirmation mail" in down.text and "try again later" in down.text
        )
        row = only_subscriber(sqlite_store)
        assert row.confirmed_at is None and row.source == "web"
        with smtp_on(port) as inbox:
            up = sign_up(http, "e@example.org", region="South America")
            assert up.status_code == 200 and len(inbox.envelopes) == 1
        assert only_subscriber(sqlite_store).id == row.id  # the same sign-up, mailed now


def test_smtp_that_never_answers_is_a_503_within_the_mail_timeout(sqlite_store: Store) -> None:
    with socket.socket() as mute:  # accepts connections (backlog), never greets
        mute.bind(("127.0.0.1", 0))
        mute.listen(8)
        port = mute.getsockname()[1]
        service_app = make_app(sqlite_store, mailer=mailer(port, timeout=30), mail_origin=ORIGIN)
        service_app.state.service.subscriptions.mail_timeout = 0.5
        with serve(service_app) as url, httpx.Client(base_url=url, timeout=20) as http:
            started = time.monotonic()
            answer = sign_up(http, "f@example.org")
            assert answer.status_code == 503 and time.monotonic() - started < 5
    assert only_subscriber(sqlite_store).confirmed_at is None


def test_bad_forged_expired_and_foreign_tokens_are_400_pages(sqlite_store: Store) -> None:
    spec = SubscriberSpec("g@example.org", languages=("es",))
    sub_id = sqlite_store.add_subscriber(spec, source="web")
    sub = sqlite_store.get_subscriber(sub_id)
    assert sub is not None
    key = sqlite_store.signing_key()
    good = confirm_token(key, confirm_subject(sub), now=datetime.now(UTC))
    expired = confirm_token(key, confirm_subject(sub), now=datetime.now(UTC) - timedelta(hours=49))
    payload, signature = good.split(".")
    forged = f"{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    other_key = confirm_token(b"not-our-key", confirm_subject(sub), now=datetime.now(UTC))
    wrong_purpose = unsubscribe_token(key, str(sub_id))
    stale_row = confirm_token(key, f"{sub_id}.0000000000000000", now=datetime.now(UTC))
    with running(sqlite_store) as (http, _, _):
        cases = {
            expired: "This link has expired: subscribe again",
            forged: "bad token signature",
            other_key: "bad token signature",
            wrong_purpose: "token is not for 'confirm'",
            stale_row: "no such sign-up",
            "garbage": "malformed token",
            "": "no token",
        }
        for token, problem in cases.items():
            for answer in (
                http.get("/subscribe/confirm", params={"token": token}),
                http.post("/subscribe/confirm", data={"token": token}),
            ):
                assert answer.status_code == 400, (token, answer.text)
                assert problem in html.unescape(answer.text) and "Traceback" not in answer.text
        assert http.get("/unsubscribe", params={"token": good}).status_code == 400
        assert (
            http.post("/unsubscribe?token=x.y", data={"List-Unsubscribe": "One-Click"}).status_code
            == 400
        )
    assert sqlite_store.get_subscriber(sub_id).confirmed_at is None  # type: ignore[union-attr]


def instant_mail(store: Store, subscriber_id: int, email: str, lang: str) -> EmailMessage:
    """An instant alert for one subscriber, built as the sender builds it."""
    token = unsubscribe_token(store.signing_key(), str(subscriber_id))
    recipient = Recipient(email, lang, "UTC", token)
    now = datetime.now(UTC)
    return build_instant(release(), origin=ORIGIN, recipient=recipient, key="outbox:1", now=now)


def one_click_target(message: EmailMessage) -> str:
    """The https (here http) URL of List-Unsubscribe, as path and query for our server."""
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    urls = re.findall(r"<([^>]+)>", message["List-Unsubscribe"])
    web = [u for u in urls if u.startswith(f"{BASE_URL}/unsubscribe?token=")]
    assert len(web) == 1, urls
    parts = urlsplit(web[0])
    return f"{parts.path}?{parts.query}"


async def deliver(port: int, message: EmailMessage) -> None:
    await mailer(port).send(message)


def test_one_click_unsubscribe_from_a_real_instant_mail(store: Store) -> None:
    spec = SubscriberSpec("h@example.org", languages=("fr",))
    sub_id = store.add_subscriber(spec, source="cli")
    with running(store) as (http, inbox, port):
        asyncio.run(deliver(port, instant_mail(store, sub_id, "h@example.org", "fr")))
        target = one_click_target(received(inbox))

        page = http.get(target)  # a person clicking the link: one button, nothing done yet
        assert page.status_code == 200 and 'lang="fr"' in page.text
        assert "Ne plus envoyer aucune alerte OIM à h@example.org" in page.text
        assert store.get_subscriber(sub_id).unsubscribed_at is None  # type: ignore[union-attr]
        assert button(page.text)[0] == "/unsubscribe"

        # RFC 8058: what a mail provider sends, with no cookie, login or Origin
        one_click = http.post(target, content=b"List-Unsubscribe=One-Click", headers=FORM)
        assert one_click.status_code == 200 and "ne recevra plus" in one_click.text
        gone = store.get_subscriber(sub_id)
        assert gone is not None and gone.unsubscribed_at is not None and not gone.active
        assert not store.subscribers(active_only=True)

        again = http.post(target, content=b"List-Unsubscribe=One-Click", headers=FORM)
        assert again.status_code == 200 and "déjà désabonné" in again.text  # idempotent
        assert store.get_subscriber(sub_id).unsubscribed_at == gone.unsubscribed_at  # type: ignore[union-attr]
        assert "<form" not in http.get(target).text


def test_unsubscribe_button_form_in_the_subscribers_language(sqlite_store: Store) -> None:
    spec = SubscriberSpec("i@example.org", languages=("ar", "en"))
    sub_id = sqlite_store.add_subscriber(spec, source="cli")
    token = unsubscribe_token(sqlite_store.signing_key(), str(sub_id))
    with running(sqlite_store) as (http, _, _):
        page = http.get("/unsubscribe", params={"token": token})
        assert 'lang="ar" dir="rtl"' in page.text and "إلغاء الاشتراك" in page.text
        action, fields = button(page.text)
        done = http.post(action, data=fields)  # the page's own form: token in the body
        assert done.status_code == 200 and "i@example.org" in done.text
        assert sqlite_store.get_subscriber(sub_id).unsubscribed_at is not None  # type: ignore[union-attr]
        unknown = unsubscribe_token(sqlite_store.signing_key(), "99999")
        answer = http.post(f"/unsubscribe?token={unknown}", headers={"Accept-Language": "es;q=0.9"})
        assert answer.status_code == 200 and "Esta suscripción ya no existe" in answer.text


def test_hostile_email_and_filter_values_are_inert(sqlite_store: Store) -> None:
    script = '"><script>alert(1)</script>'
    with running(sqlite_store) as (http, inbox, _):
        index = http.get("/", params={"q": script})
        assert "<script>alert(1)" not in index.text
        assert 'name="q" value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in index.text

        bad = sign_up(http, f"{script}@example.org")
        assert bad.status_code == 400 and "Not an email address" in bad.text
        assert "<script>" not in bad.text and "&lt;script&gt;alert(1)" in bad.text

        odd = sign_up(http, "o'brien+news@example.org", q=script)
        assert odd.status_code == 200, odd.text
        assert "<script>" not in odd.text and "o&#39;brien+news@example.org" in odd.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in odd.text
        mail = received(inbox)
        html_part = mail.get_body(("html",))
        assert html_part is not None and "<script>" not in html_part.get_content()
        page = http.get(link_in(mail, "/subscribe/confirm"))
        assert "<script>" not in page.text and "&lt;script&gt;" in page.text
        header_injection = sign_up(http, "p@example.org\r\nBcc: victim@example.org")
        assert header_injection.status_code == 400
    assert [s.email for s in sqlite_store.subscribers()] == ["o'brien+news@example.org"]


@pytest.mark.parametrize(
    ("fields", "status", "text"),
    [
        ({"email": "not-an-address"}, 400, "Not an email address: not-an-address"),
        ({"email": ""}, 400, "Not an email address"),
        ({"email": "j@example.org", "site": "atlantis"}, 400, "unknown site 'atlantis'"),
        ({"email": "j@example.org", "colour": "red"}, 400, "parameter 'colour': unknown"),
        ({"email": "j@example.org", "mail_lang": "es"}, 200, "Revise su buzón"),
        ({"email": "j@example.org", "mail_lang": "xx"}, 400, "'mail_lang': unknown language 'xx'"),
    ],
)
def test_sign_up_form_values_are_checked(
    sqlite_store: Store, fields: dict[str, str], status: int, text: str
) -> None:
    with running(sqlite_store) as (http, inbox, _):
        answer = http.post("/subscribe", data=fields)
        assert answer.status_code == status and text in html.unescape(answer.text)
        assert len(inbox.envelopes) == (1 if status == 200 else 0)
        too_big = http.post("/subscribe", data={"email": "k@example.org", "q": "x" * 9000})
        assert too_big.status_code == 413


def test_foreign_origin_refused_own_and_null_accepted(sqlite_store: Store) -> None:
    with running(sqlite_store) as (http, inbox, _):
        for origin, status in [
            ("https://evil.example", 403),
            ("null", 200),  # our no-referrer pages make browsers send this
            (BASE_URL, 200),
        ]:
            email = f"{len(inbox.envelopes)}@example.org"
            answer = http.post("/subscribe", data={"email": email}, headers={"Origin": origin})
            assert answer.status_code == status, origin
        referer = {"Referer": "https://evil.example/page"}
        assert (
            http.post("/subscribe", data={"email": "r@example.org"}, headers=referer).status_code
            == 403
        )
        assert len(inbox.envelopes) == 2


def test_without_a_mailer_no_form_and_sign_up_is_503(sqlite_store: Store) -> None:
    sub_id = sqlite_store.add_subscriber(SubscriberSpec("s@example.org"), source="cli")
    token = unsubscribe_token(sqlite_store.signing_key(), str(sub_id))
    with serve(make_app(sqlite_store)) as url, httpx.Client(base_url=url, timeout=20) as http:
        assert "/subscribe" not in http.get("/").text
        off = sign_up(http, "t@example.org")
        assert off.status_code == 503 and "Email alerts are off" in off.text
        assert http.post(f"/unsubscribe?token={token}").status_code == 200  # still works
    assert sqlite_store.get_subscriber(sub_id).unsubscribed_at is not None  # type: ignore[union-attr]
    assert len(sqlite_store.subscribers()) == 1
