"""Response headers every answer carries: a Content-Security-Policy, nosniff, a referrer policy,
no framing, and `Vary: Accept-Encoding` (also on 304s and small bodies gzip left alone).

The pages show scraped HTML (sanitised twice) and need nothing but their own inline stylesheet,
images and one GET form: the policy allows exactly that, so whatever the sanitiser might miss
still cannot run script, load a frame or post anywhere else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send


def content_security_policy(base_url: str) -> str:
    """The pages' policy. The search form posts to `base_url`, which may be another origin than
    the one serving the page (a proxy, a test server), so that origin is allowed as a target."""
    parts = urlsplit(base_url)
    form_targets = "'self'" + (f" {parts.scheme}://{parts.netloc}" if parts.netloc else "")
    return "; ".join(
        [
            "default-src 'none'",
            "style-src 'self' 'unsafe-inline'",  # base.html has one inline <style> block
            "img-src https: http: data:",  # lead images stay on IOM's servers
            "frame-ancestors 'none'",
            "base-uri 'none'",
            f"form-action {form_targets}",
        ]
    )


def security_headers(base_url: str) -> dict[str, str]:
    """Headers set on every response. The policy applies to feeds and JSON too: a browser that
    renders one of them directly gets the same limits as the pages."""
    return {
        "Content-Security-Policy": content_security_policy(base_url),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",  # a reader's searches and pages stay theirs
        "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate CSP 2
    }


class SecurityHeadersMiddleware:
    """Adds `headers` to every HTTP response (a handler's own value wins) and makes sure `Vary`
    names Accept-Encoding: gzip adds it only to bodies it compresses, and RFC 9110 15.4.5 wants
    a 304 to carry the Vary its 200 would have."""

    def __init__(self, app: ASGIApp, headers: dict[str, str]) -> None:
        self.app = app
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers.setdefault(name, value)
                vary = [v.strip().lower() for v in ",".join(headers.getlist("vary")).split(",")]
                if "accept-encoding" not in vary and "*" not in vary:
                    headers.add_vary_header("Accept-Encoding")
            await send(message)

        await self.app(scope, receive, send_with_headers)
