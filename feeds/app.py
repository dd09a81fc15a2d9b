"""The ASGI app (Starlette): feeds, API, OPML, HTML pages, status, metrics, health.

Thin I/O around pure builders: each handler parses its parameters (400 naming a bad one), asks
the store, and hands the rows to a builder or template. Feeds and the API answer conditional
requests from `Store.last_change` alone and keep rendered bodies in an LRU cache bounded by
bytes. Every response carries the security headers of `feeds.security`.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Match, Route

from crawler.store import ReleaseQuery
from feeds.api import api_page
from feeds.caching import (
    FEED_CACHE_CONTROL,
    NO_CACHE,
    PAGE_CACHE_CONTROL,
    ChangeMemo,
    RenderCache,
    is_not_modified,
    make_validators,
)
from feeds.catalog import FORMATS, describe, feed_meta
from feeds.entries import make_entry
from feeds.exceptions import BadQueryError
from feeds.filters import Vocabulary, parse_feed_request, parse_page_request
from feeds.health import health_view
from feeds.metrics import (
    CrawlMetrics,
    HealthCollector,
    MetricsMiddleware,
    RequestMetrics,
    StoreCollector,
)
from feeds.operator_feed import OperatorFeed
from feeds.opml import build_opml
from feeds.pages import (
    filter_fields,
    group_items,
    make_environment,
    release_versions,
    render_error,
    render_index,
    render_release,
    render_status,
    site_rows,
)
from feeds.security import SecurityHeadersMiddleware, security_headers
from feeds.status import StatusHook, collect_status
from feeds.subscriptions import SubscriptionPages
from feeds.unavailable import DATABASE_AWAY, DatabaseAwayHandler

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from starlette.requests import Request

    from crawler.sites import Site
    from crawler.store import Store
    from feeds.alerts.email import MailOrigin
    from feeds.alerts.smtp import SmtpSender
    from feeds.signup import SignupLimits

logger = logging.getLogger(__name__)

HTML = "text/html; charset=utf-8"
JSON = "application/json; charset=utf-8"
OPML = "text/x-opml; charset=utf-8"
DEFAULT_CHANGE_TTL = 2.0  # seconds a data-state lookup is reused (see caching.ChangeMemo)


class FeedService:
    """The app's state and handlers: one store, one site registry, one base URL.

    `status` is an optional zero-argument callable whose dict joins /status; `cache` replaces
    the default render cache (32 MB). With `mailer` and `mail_origin` the index offers e-mail
    alerts (feeds.subscriptions: the confirmation mail is sent by this process); without, the
    confirm and unsubscribe pages still work and a sign-up is answered 503.
    """

    def __init__(
        self,
        store: Store,
        sites: Sequence[Site],
        *,
        base_url: str,
        websub_hub: str = "",
        status: StatusHook | None = None,
        change_ttl: float = DEFAULT_CHANGE_TTL,
        cache: RenderCache | None = None,
        mailer: SmtpSender | None = None,
        mail_origin: MailOrigin | None = None,
        signup_limits: SignupLimits | None = None,
    ) -> None:
        self.store = store
        self.sites = tuple(sites)
        self.sites_by_id = {s.id: s for s in self.sites}
        self.base_url = base_url.rstrip("/")
        self.hub = websub_hub
        self.status_hook = status
        self.vocabulary = Vocabulary.from_sites(self.sites)
        self.cache = cache if cache is not None else RenderCache()
        self.changes = ChangeMemo(store.last_change, change_ttl)
        self.env = make_environment()
        self.registry = CollectorRegistry()
        self.registry.register(StoreCollector(store, self.cache))
        self.registry.register(HealthCollector(store))
        self.metrics = RequestMetrics(self.registry)
        self.crawl_metrics = CrawlMetrics(self.registry)  # fed by the service after each crawl
        self.subscriptions = SubscriptionPages(
            store,
            self.env,
            self.vocabulary,
            base_url=self.base_url,
            mailer=mailer,
            origin=mail_origin,
            limits=signup_limits,
        )
        # What else shapes every body: a change here changes every ETag.
        # (the index shows the sign-up form only when this process can mail)
        alerts = mailer is not None
        settings = repr((self.base_url, self.hub, [(s.id, s.name) for s in self.sites], alerts))
        self.salt = hashlib.sha256(settings.encode("utf-8")).hexdigest()[:16]

    def invalidate(self) -> None:
        """Forget remembered data states: the next request sees the store as it is now."""
        self.changes.invalidate()

    def _conditional(
        self,
        request: Request,
        key: Hashable,
        query: ReleaseQuery | None,
        render: Callable[[datetime | None], bytes],
        *,
        media_type: str,
        cache_control: str = FEED_CACHE_CONTROL,
    ) -> Response:
        """304 when the client's copy is current; else the (cached) rendering with validators."""
        changed, count = self.changes.get(query)
        validators = make_validators(key, changed, count, self.salt)
        headers = validators.headers(cache_control)
        if is_not_modified(request.headers, validators):
            return Response(status_code=304, headers=headers)
        body = self.cache.get_or_build((key, changed, count, self.salt), lambda: render(changed))
        return Response(body, media_type=media_type, headers=headers)

    def feed(self, request: Request) -> Response:
        fmt = FORMATS[request.url.path.rsplit(".", 1)[-1]]
        wanted = parse_feed_request(request.query_params.multi_items(), self.vocabulary)
        params = wanted.params()

        def render(changed: datetime | None) -> bytes:
            rows = self.store.query_releases(wanted.query, limit=wanted.limit)
            meta = feed_meta(
                base_url=self.base_url,
                fmt=fmt.name,
                params=params,
                query=wanted.query,
                sites=self.sites_by_id,
                hub=self.hub,
                updated=changed,
            )
            return fmt.build(rows, meta)

        key = (fmt.name, tuple(params))
        return self._conditional(request, key, wanted.query, render, media_type=fmt.content_type)

    def api(self, request: Request) -> Response:
        wanted = parse_page_request(request.query_params.multi_items(), self.vocabulary)

        def render(changed: datetime | None) -> bytes:
            page = api_page(self.store, wanted, base_url=self.base_url, sites=self.sites_by_id)
            return json.dumps(page, ensure_ascii=False, indent=1).encode("utf-8")

        key = ("api", tuple(wanted.params(wanted.offset)))
        return self._conditional(request, key, wanted.query, render, media_type=JSON)

    def opml(self, request: Request) -> Response:
        def render() -> bytes:
            return build_opml(self.sites, base_url=self.base_url)

        # The OPML lists feeds, not releases: its state is the registry (in the salt) alone.
        validators = make_validators(("opml",), None, 0, self.salt)
        if is_not_modified(request.headers, validators):
            return Response(status_code=304, headers=validators.headers(PAGE_CACHE_CONTROL))
        body = self.cache.get_or_build(("opml", self.salt), render)
        return Response(body, media_type=OPML, headers=validators.headers(PAGE_CACHE_CONTROL))

    def index(self, request: Request) -> Response:
        # The feeds' filters plus `page` (or `offset`) and `per_page`: one release per
        # translation group, in the language the filter asks for when it has one.
        wanted = parse_page_request(request.query_params.multi_items(), self.vocabulary)

        def render(changed: datetime | None) -> bytes:
            page = self.store.group_page(
                wanted.query,
                limit=wanted.per_page,
                offset=wanted.offset,
                prefer=wanted.query.lang,
                site_languages={s.id: s.languages for s in self.sites},
            )
            html = render_index(
                self.env,
                base_url=self.base_url,
                title=describe(wanted.query, self.sites_by_id),
                wanted=wanted,
                groups=group_items(self.base_url, page, self.sites_by_id),
                total=page.total,
                sites=site_rows(self.base_url, self.sites, self.store.site_summaries()),
                filters=filter_fields(wanted.query, self.vocabulary, self.sites),
            )
            return html.encode("utf-8")

        # The page also shows per-site counts of *all* releases, so its state is the whole store.
        key = ("index", tuple(wanted.params(wanted.offset)))
        return self._conditional(
            request, key, None, render, media_type=HTML, cache_control=PAGE_CACHE_CONTROL
        )

    def release(self, request: Request) -> Response:
        rid = request.path_params["release_id"]
        row = self.store.get_release(rid)
        if row is None:
            return self.error(404, f"No release with id {rid!r}.")
        entry = make_entry(row, base_url=self.base_url, site=self.sites_by_id.get(row.site))
        group = self.store.releases_of_groups([row.group_key])
        # A translation stored later changes the page: the group's newest update is its state.
        changed = max((r.updated for r in group), default=row.updated)
        validators = make_validators(("release", rid), changed, len(group), self.salt)
        if is_not_modified(request.headers, validators):
            return Response(status_code=304, headers=validators.headers(PAGE_CACHE_CONTROL))
        versions = release_versions(self.base_url, row, group)
        html = render_release(self.env, base_url=self.base_url, entry=entry, versions=versions)
        return HTMLResponse(html, headers=validators.headers(PAGE_CACHE_CONTROL))

    def status(self, request: Request) -> Response:
        status = collect_status(self.store, self.sites, self.status_hook)
        headers = {"Cache-Control": NO_CACHE, "Vary": "Accept"}
        if _wants_json(request):
            return JSONResponse(status, headers=headers, media_type=JSON)
        html = render_status(self.env, base_url=self.base_url, status=status)
        return HTMLResponse(html, headers=headers)

    def prometheus(self, request: Request) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

    async def healthz(self, request: Request) -> Response:
        # No store access: answers at once, even while the database is busy or empty; the hook
        # adds whether the scheduler and the crawl worker are alive (feeds/health.py).
        code, body = health_view(self.status_hook)
        return JSONResponse(body, status_code=code, headers={"Cache-Control": "no-store"})

    def error(self, status_code: int, message: str) -> Response:
        html = render_error(
            self.env, base_url=self.base_url, status_code=status_code, message=message
        )
        return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": NO_CACHE})

    async def bad_query(self, request: Request, exc: Exception) -> Response:
        """400 naming the parameter: JSON for the API, plain text for feeds, HTML for pages."""
        assert isinstance(exc, BadQueryError)
        path = request.url.path
        if path.startswith("/api/"):
            body = {"error": str(exc), "parameter": exc.parameter}
            return JSONResponse(body, status_code=400, media_type=JSON)
        if path.startswith("/feed."):
            return PlainTextResponse(f"400 Bad Request: {exc}\n", status_code=400)
        return self.error(400, f"Bad request: {exc}")

    async def not_found(self, request: Request, exc: Exception) -> Response:
        """404, or a redirect to the route the path names with its trailing slash toggled."""
        twin = _slash_twin(request)
        if twin is not None:
            query = f"?{request.url.query}" if request.url.query else ""
            # Starlette's own slash redirect builds the URL from the Host header, which the
            # client chooses; ours always points at the configured base URL.
            return RedirectResponse(f"{self.base_url}{twin}{query}", status_code=307)
        return self.error(404, "Not found.")

    def routes(self) -> list[Route]:
        return [
            Route("/healthz", self.healthz),
            Route("/feed.atom", self.feed),
            Route("/feed.rss", self.feed),
            Route("/feed.json", self.feed),
            Route("/api/releases", self.api),
            Route("/opml", self.opml),
            Route("/", self.index),
            Route("/releases/{release_id}", self.release),
            Route("/status", self.status),
            Route("/metrics", self.prometheus),
            *self.subscriptions.routes(),
            *OperatorFeed(self.store, base_url=self.base_url).routes(),  # never mixed in
        ]


def _slash_twin(request: Request) -> str | None:
    """The request path with its trailing slash toggled, when a route matches that instead."""
    path = request.url.path
    if path == "/":
        return None
    twin = path.rstrip("/") if path.endswith("/") else f"{path}/"
    scope = {**request.scope, "path": twin}
    for route in request.app.router.routes:
        match, _ = route.matches(scope)
        if match is not Match.NONE:
            return twin
    return None


def _wants_json(request: Request) -> bool:
    if request.query_params.get("format") == "json":
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def create_app(service: FeedService) -> Starlette:
    """The HTTP app over `service`, which stays reachable as `app.state.service`.

    Feeds notice a new release within the service's `change_ttl` seconds by themselves; call
    `app.state.service.invalidate()` after a publish to make it immediate.
    """
    app = Starlette(
        routes=service.routes(),
        middleware=[
            Middleware(MetricsMiddleware, metrics=service.metrics),
            Middleware(SecurityHeadersMiddleware, headers=security_headers(service.base_url)),
            Middleware(GZipMiddleware, minimum_size=512),
        ],
        exception_handlers={
            BadQueryError: service.bad_query,
            404: service.not_found,
            **dict.fromkeys(DATABASE_AWAY, DatabaseAwayHandler(service.error)),
        },
    )
    app.router.redirect_slashes = False  # see FeedService.not_found
    app.state.service = service
    return app


__all__ = ["FeedService", "create_app"]
