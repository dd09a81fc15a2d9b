"""Routing: turns a request path into a response (status, headers, body) for one site."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from email.utils import formatdate
from urllib.parse import parse_qs, unquote, urlsplit

from replica import render
from replica.content import lang_prefix
from replica.model import Version
from replica.state import SiteState

HTML = "text/html; charset=utf-8"
TINY_JPEG = bytes.fromhex(
    "ffd8ffe000104a46494600010100000100010000ffdb004300080606070605080707070909080a0c140d0c0b0b0c1912130f"
    "141d1a1f1e1d1a1c1c20242e2720222c231c1c2837292c30313434341f27393d38323c2e333432ffc0000b08000100010101"
    "1100ffc4001f0000010501010101010100000000000000000102030405060708090a0bffc400b5100002010303020403050504"
    "040000017d01020300041105122131410613516107227114328191a1082342b1c11552d1f02433627282090a161718191a25"
    "262728292a3435363738393a434445464748494a535455565758595a636465666768696a737475767778797a838485868788"
    "898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3"
    "e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9faffda0008010100003f00fbd3ffd9"
)
TINY_PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


@dataclass
class Page:
    """A response before faults and conditional handling are applied."""

    status: int
    body: bytes = b""
    content_type: str = HTML
    headers: dict[str, str] = field(default_factory=dict)
    modified: float | None = None

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha1(self.body).hexdigest()[:20] + '"'

    def cache_headers(self) -> dict[str, str]:
        """Strong ETag and Last-Modified for a cacheable page."""
        headers = {"ETag": self.etag}
        if self.modified is not None:
            headers["Last-Modified"] = formatdate(self.modified, usegmt=True)
        return headers


def html_page(html: str, modified: float | None, status: int = 200) -> Page:
    return Page(
        status, html.encode("utf-8"), HTML, {"Cache-Control": "max-age=0, public"}, modified
    )


def split_lang(state: SiteState, path: str) -> tuple[str, str]:
    """(`fr`, `/news`) for `/fr/news`; the default language for unprefixed paths."""
    parts = path.split("/", 2)
    if len(parts) > 1 and parts[1] in state.profile.languages[1:]:
        return parts[1], "/" + (parts[2] if len(parts) > 2 else "")
    return state.profile.languages[0], path


def route(state: SiteState, raw_path: str) -> Page:
    """The page for a request path (with query) on a site."""
    parts = urlsplit(raw_path)
    path = parts.path.rstrip("/") or "/"
    if path == "/robots.txt":
        return Page(
            200, render.robots_txt(state).encode(), "text/plain; charset=utf-8", modified=0.0
        )
    if path.startswith("/sites/g/files/"):
        return _asset(path)
    lang, rest = split_lang(state, unquote(path))
    if rest in {"/", "/news"}:
        return _listing(state, lang, parse_qs(parts.query).get("page", ["0"])[0])
    if rest.startswith("/node/"):
        return _node_redirect(state, lang, rest.removeprefix("/node/"))
    version = state.find_path(path)
    if version is None:
        return not_found(state, lang)
    return html_page(
        render.render(render.article_context(state, version)), state.page_modified(version)
    )


def not_found(state: SiteState, lang: str) -> Page:
    page = html_page(render.render(render.not_found_context(state, lang)), None, 404)
    page.headers = {"Cache-Control": "no-cache"}
    return page


def _listing(state: SiteState, lang: str, page_param: str) -> Page:
    page = int(page_param) if page_param.isdigit() else 0
    context = render.listing_context(state, lang, page)
    if context is None:
        return not_found(state, lang)
    return html_page(render.render(context), state.listing_modified(lang))


def _node_redirect(state: SiteState, lang: str, node: str) -> Page:
    """`/node/1234` -> 301 to the alias of that node in the language of the prefix."""
    versions = state.node_versions(int(node)) if node.isdigit() else []
    target: Version | None = next((v for v in versions if v.lang == lang), None)
    if target is None:
        return not_found(state, lang)
    return Page(301, b"", HTML, {"Location": state.base_url + target.path})


def _asset(path: str) -> Page:
    if path.endswith(".jpg"):
        return Page(200, TINY_JPEG, "image/jpeg", modified=1_600_000_000.0)
    if path.endswith(".pdf"):
        return Page(200, TINY_PDF, "application/pdf", modified=1_600_000_000.0)
    if path.endswith(".css"):
        return Page(200, b"body{margin:0}\n", "text/css", modified=1_600_000_000.0)
    return Page(404, b"Not found\n", "text/plain; charset=utf-8")


def home_prefix(state: SiteState, lang: str) -> str:
    return lang_prefix(state.profile, lang) or "/"
