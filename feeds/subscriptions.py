"""E-mail subscriptions on the web: sign-up with double opt-in, confirmation, one-click unsubscribe.

    POST /subscribe          email + the index page's filter (hidden fields) + `mail_lang` ->
                             an unconfirmed "web" subscriber, and its confirmation mail sent now
    GET  /subscribe/confirm  one confirm button: mail scanners fetch GET links, so only
    POST /subscribe/confirm  the POST confirms (once; store.confirm records the consent time)
    GET  /unsubscribe        one button
    POST /unsubscribe        unsubscribes, no login, cookie or second step: the token in the
                             query string (RFC 8058 one-click) or in the GET page's form

Tokens are signed with store.signing_key() (one for every replica). An unsubscribe token's
subject is the subscriber id; a confirmation's is `<id>.<fingerprint>`, bound to the address and
creation time of that one row, so it can never confirm a later row that got the same id.
The confirm and unsubscribe forms carry a token only the mail's recipient has; the sign-up form
needs none (it sends one confirmation mail, and nobody gets alerts before following it), but a
POST whose Origin or Referer names another site is refused. Rate limits: see feeds.signup.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
from datetime import UTC, datetime
from operator import attrgetter
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse
from starlette.routing import Route

from crawler.store import Subscriber, SubscriberSpec
from feeds.alerts.email import (
    CONFIRM_PATH,
    UNSUBSCRIBE_PATH,
    Recipient,
    build_confirmation,
    query_lines,
)
from feeds.alerts.exceptions import DeliveryError, TokenError
from feeds.alerts.tokens import CONFIRM, UNSUBSCRIBE, confirm_token, read_token
from feeds.alerts.words import words_for
from feeds.exceptions import BadQueryError
from feeds.filters import parse_params
from feeds.signup import (
    PAGE_WORDS,
    SHOWN_CHARS,
    ClientBuckets,
    PageWords,
    ResendLog,
    SignupLimits,
    address_wait,
    alert_languages,
    canonical,
    check_email,
    confirm_subject,
    fingerprint,
    page_language,
    read_form,
    subject_id,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from jinja2 import Environment
    from starlette.requests import Request
    from starlette.responses import Response

    from crawler.store import Store
    from feeds.alerts.email import MailOrigin
    from feeds.alerts.smtp import SmtpSender
    from feeds.alerts.words import Words
    from feeds.filters import Vocabulary

logger = logging.getLogger(__name__)

SUBSCRIBE_PATH = "/subscribe"
MAIL_TIMEOUT = 15.0  # seconds the sign-up request waits for the SMTP server, at most
EXPIRED = "token expired"  # feeds.alerts.tokens' message for an expired token
NO_STORE = {"Cache-Control": "no-store"}  # the pages answer links that carry tokens


def _now() -> datetime:
    return datetime.now(UTC)


class SubscriptionPages:
    """The sign-up, confirm and unsubscribe routes over one store (and a mailer, if any).

    Without `mailer` (or `origin`) the confirm and unsubscribe pages still work (the config's
    and the CLI's subscribers get alert mails from the service's own sender), and a sign-up is
    answered 503: the form is not shown, and this process cannot send the confirmation.
    """

    def __init__(
        self,
        store: Store,
        env: Environment,
        vocabulary: Vocabulary,
        *,
        base_url: str,
        mailer: SmtpSender | None = None,
        origin: MailOrigin | None = None,
        limits: SignupLimits | None = None,
        mail_timeout: float = MAIL_TIMEOUT,
    ) -> None:
        if (mailer is None) != (origin is None):
            raise ValueError("a web sign-up needs both a mailer and a mail origin, or neither")
        self.store = store
        self.env = env
        self.vocabulary = vocabulary
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        self.own_origin = (parts.scheme, parts.netloc.lower())
        self.mailer = mailer
        self.origin = origin
        self.limits = limits or SignupLimits()
        self.clients = ClientBuckets(self.limits)
        self.resends = ResendLog(self.limits)
        self.mail_timeout = mail_timeout
        self._key: bytes | None = None
        env.globals["email_alerts"] = mailer is not None
        env.globals["alert_languages"] = alert_languages()

    def routes(self) -> list[Route]:
        return [
            Route(SUBSCRIBE_PATH, self.subscribe, methods=["POST"]),
            Route(CONFIRM_PATH, self.confirm_page, methods=["GET"]),
            Route(CONFIRM_PATH, self.confirm, methods=["POST"]),
            Route(UNSUBSCRIBE_PATH, self.unsubscribe_page, methods=["GET"]),
            Route(UNSUBSCRIBE_PATH, self.unsubscribe, methods=["POST"]),
        ]

    # -- rendering ---------------------------------------------------------------------------

    def page(
        self,
        words: PageWords,
        status_code: int,
        message: str,
        *,
        heading: str = "",
        lines: list[tuple[str, str]] | None = None,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """A result page (or, with `form`, the page of one token button); autoescaped."""
        html = self.env.get_template("subscription_form.html" if form else "subscription.html")
        body = html.render(
            base_url=self.base_url,
            page_lang=words.lang,
            page_dir=words.direction,
            heading=heading or words.say("title"),
            status_code=status_code,
            message=message,
            lines=lines,
            everything=words_for(words.lang).everything,
            **(form or {}),
        )
        return HTMLResponse(body, status_code=status_code, headers={**NO_STORE, **(headers or {})})

    def too_many(self, words: PageWords, wait: float) -> Response:
        seconds = math.ceil(wait)
        message = words.say("too_many", minutes=max(1, math.ceil(seconds / 60)))
        return self.page(words, 429, message, headers={"Retry-After": str(seconds)})

    def token_problem(self, words: PageWords, problem: TokenError) -> Response:
        """400 naming what is wrong with the link's token."""
        if str(problem) == EXPIRED:
            return self.page(words, 400, words.say("expired_link"))
        return self.page(words, 400, words.say("bad_link", reason=str(problem)))

    # -- tokens ------------------------------------------------------------------------------

    async def signing_key(self) -> bytes:
        # made once and never changed: one read per process is enough
        if self._key is None:
            self._key = await run_in_threadpool(self.store.signing_key)
        return self._key

    async def lookup(self, purpose: str, token: str) -> Subscriber | None:
        """The subscriber a valid token names (None: no longer stored); TokenError if invalid."""
        if not token:
            raise TokenError("no token")
        subject = read_token(await self.signing_key(), purpose, token, now=_now())
        subscriber_id, bound_to = subject_id(subject)
        found = await run_in_threadpool(self.store.get_subscriber, subscriber_id)
        if found is not None and purpose == CONFIRM and bound_to != fingerprint(found):
            return None  # the row it was made for is gone; this one has its id
        return found

    async def posted_token(self, request: Request) -> str | Response:
        """The token of a POST: the form's (our button), else the query string's (RFC 8058)."""
        form = await read_form(request)
        if form is None:
            return self.page(self.words_of(request, None), 413, "Request body too large.")
        return dict(form).get("token") or request.query_params.get("token", "")

    def words_of(self, request: Request, subscriber: Subscriber | None) -> PageWords:
        preferred = subscriber.languages if subscriber is not None else ()
        return page_language(preferred, request.headers.get("accept-language", ""))

    # -- unsubscribe -------------------------------------------------------------------------

    async def _subscribed(self, request: Request, token: str) -> Subscriber | Response:
        """The subscriber an unsubscribe link names, or the page to answer instead."""
        try:
            found = await self.lookup(UNSUBSCRIBE, token)
        except TokenError as exc:
            return self.token_problem(self.words_of(request, None), exc)
        if found is None:  # removed since: nothing goes to the address, so nothing to do
            words = self.words_of(request, None)
            heading = words_for(words.lang).unsubscribe
            return self.page(words, 200, words.say("gone"), heading=heading)
        return found

    async def unsubscribe_page(self, request: Request) -> Response:
        return await self._token_page(
            request,
            self._subscribed,
            done=lambda found: found.unsubscribed_at is not None,
            done_key="already_unsubscribed",
            ask_key="ask_unsubscribe",
            heading=attrgetter("unsubscribe"),
            button=attrgetter("unsubscribe"),
            path=UNSUBSCRIBE_PATH,
        )

    async def unsubscribe(self, request: Request) -> Response:
        """One-click: the token (query string or form) is all it takes; idempotent."""
        return await self._token_post(
            request,
            self._subscribed,
            self.store.unsubscribe,
            "unsubscribed",
            attrgetter("unsubscribe"),
        )

    async def _token_page(
        self,
        request: Request,
        resolve: Callable[[Request, str], Awaitable[Subscriber | Response]],
        *,
        done: Callable[[Subscriber], bool],
        done_key: str,
        ask_key: str,
        heading: Callable[[Words], str],
        button: Callable[[Words], str],
        path: str,
        with_filters: bool = False,
    ) -> Response:
        """A token link's GET: a page with one button that POSTs the token (mail scanners
        follow links; only the button acts), or "already done" when it was."""
        token = request.query_params.get("token", "")
        found = await resolve(request, token)
        if not isinstance(found, Subscriber):
            return found
        words = self.words_of(request, found)
        lang_words = words_for(words.lang)
        title = heading(lang_words)
        if done(found):
            return self.page(words, 200, words.say(done_key, email=found.email), heading=title)
        form = {"action": f"{self.base_url}{path}", "token": token, "button": button(lang_words)}
        lines = query_lines(found.filters, words.lang) if with_filters else None
        message = words.say(ask_key, email=found.email)
        return self.page(words, 200, message, heading=title, lines=lines, form=form)

    async def _token_post(
        self,
        request: Request,
        resolve: Callable[[Request, str], Awaitable[Subscriber | Response]],
        act: Callable[..., bool],
        done_key: str,
        heading: Callable[[Words], str],
    ) -> Response:
        """A token button's POST: `act(id, at=now)` on the subscriber the token names, once.

        Again is fine: the page says it was done before (`already_<done_key>`).
        """
        token = await self.posted_token(request)
        if not isinstance(token, str):
            return token
        found = await resolve(request, token)
        if not isinstance(found, Subscriber):
            return found
        words = self.words_of(request, found)
        done = await run_in_threadpool(act, found.id, at=_now())
        if done:
            logger.info("subscriber %d %s on the web", found.id, done_key)
        message = words.say(done_key if done else f"already_{done_key}", email=found.email)
        return self.page(words, 200, message, heading=heading(words_for(words.lang)))

    # -- confirm -----------------------------------------------------------------------------

    async def _pending(self, request: Request, token: str) -> Subscriber | Response:
        """The sign-up a confirm link names, or the page to answer instead."""
        try:
            found = await self.lookup(CONFIRM, token)
        except TokenError as exc:
            return self.token_problem(self.words_of(request, None), exc)
        if found is None:
            words = self.words_of(request, None)
            return self.page(words, 400, words.say("bad_link", reason="no such sign-up"))
        return found

    async def confirm_page(self, request: Request) -> Response:
        return await self._token_page(
            request,
            self._pending,
            done=lambda found: found.confirmed_at is not None,
            done_key="already_confirmed",
            ask_key="ask_confirm",
            heading=attrgetter("confirm_subject"),
            button=attrgetter("confirm_action"),
            path=CONFIRM_PATH,
            with_filters=True,
        )

    async def confirm(self, request: Request) -> Response:
        """The consent: once per sign-up (a second POST is told it is already confirmed)."""
        return await self._token_post(
            request, self._pending, self.store.confirm, "confirmed", attrgetter("confirm_subject")
        )

    # -- sign-up -----------------------------------------------------------------------------

    def foreign_form(self, request: Request) -> bool:
        """True when the Origin (else the Referer) names a site other than ours.

        Our pages send `Referrer-Policy: no-referrer`, under which browsers post our own form
        with `Origin: null` and no Referer: that, like no header at all, says nothing.
        """
        claimed = request.headers.get("origin", "")
        if claimed in ("", "null"):
            claimed = request.headers.get("referer", "")
        if not claimed:
            return False
        parts = urlsplit(claimed)
        return (parts.scheme, parts.netloc.lower()) != self.own_origin

    def signup_spec(self, form: list[tuple[str, str]], words: PageWords) -> SubscriberSpec | str:
        """The subscription a sign-up form asks for, or the message naming what is wrong."""
        try:
            query, extras = parse_params(form, self.vocabulary, single=("email", "mail_lang"))
            chosen = extras.get("mail_lang", "").strip().lower()
            if chosen and chosen not in PAGE_WORDS:
                raise BadQueryError("mail_lang", f"unknown language {chosen[:SHOWN_CHARS]!r}")
        except BadQueryError as exc:
            return f"Bad request: {exc}"
        raw = extras.get("email", "")
        address = check_email(raw)
        if address is None:
            return words.say("bad_email", email=raw.strip()[:SHOWN_CHARS] or "—")
        # the language picked is also the one the alerts prefer (each release's own otherwise)
        languages = (chosen,) if chosen else ()
        return SubscriberSpec(address, languages=languages, filters=canonical(query))

    async def subscribe(self, request: Request) -> Response:
        form = await read_form(request)
        words = page_language([dict(form or []).get("mail_lang", "")])
        if self.mailer is None:
            return self.page(words, 503, words.say("alerts_off"))
        if form is None:
            return self.page(words, 413, "Request body too large.")
        if self.foreign_form(request):
            return self.page(words, 403, words.say("foreign_form"))
        wait = self.clients.take(request.client.host if request.client else "unknown")
        if wait:
            return self.too_many(words, wait)
        spec = self.signup_spec(form, words)
        if isinstance(spec, str):
            return self.page(words, 400, spec)
        return await self.sign_up(spec, words)

    async def sign_up(self, spec: SubscriberSpec, words: PageWords) -> Response:
        """A valid sign-up: reuse or store the row, mind the address's limit, mail the link."""
        now = _now()
        mine = await run_in_threadpool(self._address_rows, spec.email)
        same = [s for s in mine if s.filters == spec.filters and s.unsubscribed_at is None]
        lines = query_lines(spec.filters, words.lang)
        if any(s.confirmed_at is not None for s in same):
            message = words.say("already_subscribed", email=spec.email)
            return self.page(words, 200, message, lines=lines)
        address = spec.email.casefold()
        firsts = [s.created_at for s in mine if s.source == "web"]
        wait = address_wait(self.limits, [*firsts, *self.resends.recent(address, now)], now)
        if wait:
            return self.too_many(words, wait)
        if same:
            subscriber = same[0]  # a pending sign-up of this address and filter: mail it again
        else:
            subscriber = await run_in_threadpool(self._add, spec, now)
        if not await self.send_confirmation(subscriber, words.lang, now):
            return self.page(words, 503, words.say("mail_failed"))
        if same:
            self.resends.record(address, now)
        return self.page(words, 200, words.say("check_mailbox", email=spec.email), lines=lines)

    def _address_rows(self, address: str) -> list[Subscriber]:
        # The store looks subscribers up by address *and* filter; the limit is per address.
        # A scan of the subscribers, behind the client limit: sign-ups are rare.
        wanted = address.casefold()
        return [s for s in self.store.subscribers() if s.email.casefold() == wanted]

    def _add(self, spec: SubscriberSpec, now: datetime) -> Subscriber:
        stored = self.store.get_subscriber(self.store.add_subscriber(spec, source="web", at=now))
        assert stored is not None  # just written, in this process
        return stored

    async def send_confirmation(self, subscriber: Subscriber, lang: str, now: datetime) -> bool:
        """Mail the confirmation link now, bounded by `mail_timeout`; False when it failed."""
        assert self.mailer is not None and self.origin is not None
        token = confirm_token(await self.signing_key(), confirm_subject(subscriber), now=now)
        message = build_confirmation(
            subscriber.filters,
            origin=self.origin,
            recipient=Recipient(subscriber.email, lang),
            token=token,
            key=f"confirm:{subscriber.id}:{secrets.token_hex(8)}",  # each mail its Message-ID
            now=now,
        )
        try:
            await asyncio.wait_for(self.mailer.send(message), self.mail_timeout)
        except (DeliveryError, TimeoutError) as exc:
            reason = str(exc) or f"no answer within {self.mail_timeout:g} s"
            logger.warning("confirmation mail to subscriber %d not sent: %s", subscriber.id, reason)
            return False
        return True


__all__ = ["PageWords", "SignupLimits", "SubscriptionPages", "check_email", "page_language"]
