"""E-mail subscriptions on the web: sign-up with double opt-in, confirmation, one-click unsubscribe.

    POST /subscribe          email + the index page's filter (hidden fields) + `mail_lang` ->
                             an unconfirmed "web" subscriber, and its confirmation mail sent now
    GET  /subscribe/confirm  the token links: one button each, only the POST acts
    POST /subscribe/confirm  (feeds.subscription_links: the pages, the tokens they carry)
    GET  /unsubscribe
    POST /unsubscribe

The sign-up form needs no token (it sends one confirmation mail, and nobody gets alerts before
following it), but a POST whose Origin or Referer names another site is refused. Rate limits:
see feeds.signup.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.routing import Route

from crawler.store import Subscriber, SubscriberSpec
from feeds.alerts.email import (
    CONFIRM_PATH,
    UNSUBSCRIBE_PATH,
    Recipient,
    build_confirmation,
    query_lines,
)
from feeds.alerts.exceptions import DeliveryError
from feeds.alerts.tokens import confirm_token
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
    page_language,
    read_form,
)
from feeds.subscription_links import TokenLinkPages, utc_now

if TYPE_CHECKING:
    from datetime import datetime

    from jinja2 import Environment
    from starlette.requests import Request
    from starlette.responses import Response

    from crawler.store import Store
    from feeds.alerts.email import MailOrigin
    from feeds.alerts.smtp import SmtpSender
    from feeds.filters import Vocabulary

logger = logging.getLogger(__name__)

SUBSCRIBE_PATH = "/subscribe"
MAIL_TIMEOUT = 15.0  # seconds the sign-up request waits for the SMTP server, at most


class SubscriptionPages(TokenLinkPages):
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
        super().__init__(store, env, base_url=base_url)
        self.vocabulary = vocabulary
        parts = urlsplit(self.base_url)
        self.own_origin = (parts.scheme, parts.netloc.lower())
        self.mailer = mailer
        self.origin = origin
        self.limits = limits or SignupLimits()
        self.clients = ClientBuckets(self.limits)
        self.resends = ResendLog(self.limits)
        self.mail_timeout = mail_timeout
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

    # -- sign-up -----------------------------------------------------------------------------

    def too_many(self, words: PageWords, wait: float) -> Response:
        """429: a client or an address over its sign-up limit, told when to try again."""
        seconds = math.ceil(wait)
        message = words.say("too_many", minutes=max(1, math.ceil(seconds / 60)))
        return self.page(words, 429, message, headers={"Retry-After": str(seconds)})

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
        now = utc_now()
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
