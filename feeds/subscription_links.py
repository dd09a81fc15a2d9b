"""The confirm and unsubscribe links of e-mail subscriptions: a signed token names the subscriber.

    GET  /subscribe/confirm  one confirm button: mail scanners fetch GET links, so only
    POST /subscribe/confirm  the POST confirms (once; store.confirm records the consent time)
    GET  /unsubscribe        one button
    POST /unsubscribe        unsubscribes, no login, cookie or second step: the token in the
                             query string (RFC 8058 one-click) or in the GET page's form

Tokens are signed with store.signing_key() (one for every replica). An unsubscribe token's
subject is the subscriber id; a confirmation's is `<id>.<fingerprint>`, bound to the address and
creation time of that one row, so it can never confirm a later row that got the same id.
The confirm and unsubscribe forms carry a token only the mail's recipient has. The routes are
registered, with the sign-up, by `feeds.subscriptions.SubscriptionPages`.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from operator import attrgetter
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse

from crawler.store import Subscriber
from feeds.alerts.email import CONFIRM_PATH, UNSUBSCRIBE_PATH, query_lines
from feeds.alerts.exceptions import TokenError
from feeds.alerts.tokens import CONFIRM, UNSUBSCRIBE, read_token
from feeds.alerts.words import words_for
from feeds.signup import fingerprint, page_language, read_form, subject_id

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from jinja2 import Environment
    from starlette.requests import Request
    from starlette.responses import Response

    from crawler.store import Store
    from feeds.alerts.words import Words
    from feeds.signup import PageWords

# The subscription pages log under one name, whichever module of theirs writes the line.
logger = logging.getLogger("feeds.subscriptions")

EXPIRED = "token expired"  # feeds.alerts.tokens' message for an expired token
NO_STORE = {"Cache-Control": "no-store"}  # the pages answer links that carry tokens


def utc_now() -> datetime:
    return datetime.now(UTC)


class TokenLinkPages:
    """The confirm and unsubscribe pages over one store, and the page rendering they share.

    `SubscriptionPages` builds on it with the sign-up form and the routes of all three.
    """

    def __init__(self, store: Store, env: Environment, *, base_url: str) -> None:
        self.store = store
        self.env = env
        self.base_url = base_url.rstrip("/")
        self._key: bytes | None = None

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
        subject = read_token(await self.signing_key(), purpose, token, now=utc_now())
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
        done = await run_in_threadpool(act, found.id, at=utc_now())
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
