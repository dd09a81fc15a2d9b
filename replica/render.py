"""Renders replica pages from site state through the theme templates (Jinja2)."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup, escape

from replica import dates
from replica.content import lang_prefix
from replica.menus import menu_for
from replica.model import Version
from replica.phrases import bank
from replica.state import PAGE_SIZE, SiteState

ENV = Environment(
    loader=PackageLoader("replica", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
LANG_NAMES = {
    "en": "English",
    "fr": "Français",
    "es": "Español",
    "ar": "العربية",
    "pt-br": "Português",
}
EMAIL_RE = re.compile(r"[A-Za-z0-9._-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
TYPE_CLASSES = {
    "press_release": "press-release",
    "news": "news",
    "story": "story",
    "statement": "statement",
}


def cf_encode(email: str) -> str:
    """Cloudflare email protection: a key byte, then every character XOR the key, in hex."""
    key = 0x20 + int(hashlib.sha1(email.encode()).hexdigest()[:2], 16) % 0xC0
    return f"{key:02x}" + "".join(f"{ord(ch) ^ key:02x}" for ch in email)


def protect(text: str, style: str) -> Markup:
    """Escape a text and replace each e-mail address with Cloudflare's obfuscated markup."""
    out: list[str] = []
    last = 0
    for match in EMAIL_RE.finditer(text):
        out.append(str(escape(text[last : match.start()])))
        code = cf_encode(match.group())
        href = f"/cdn-cgi/l/email-protection#{code}"
        if style == "mailto":
            out.append(f'<a href="{href}"><span class="__cf_email__" data-cfemail="{code}">[email&#160;protected]</span></a>')  # fmt: skip
        else:
            out.append(f'<a href="{href}" class="__cf_email__" data-cfemail="{code}">[email&#160;protected]</a>')  # fmt: skip
        last = match.end()
    out.append(str(escape(text[last:])))
    return Markup("".join(out).replace("(DTM)", '(<a href="https://dtm.iom.int/">DTM</a>)', 1))


def paragraph_html(version: Version, text: str, style: str) -> Markup:
    """One body paragraph; the dateline that opens a release is set in bold."""
    if version.dateline and text.startswith(version.dateline):
        rest = text[len(version.dateline) :]
        return (
            Markup("<strong>")
            + escape(version.dateline)
            + Markup("</strong>")
            + protect(rest, style)
        )
    return protect(text, style)


def noise_token(state: SiteState, salt: str) -> str:
    return hashlib.sha1(f"{state.noise}:{salt}".encode()).hexdigest()[:6]


def site_context(state: SiteState, lang: str) -> dict[str, Any]:
    """What every page of a site in one language shows: name, menu, footer, cookie text."""
    p = state.profile
    menu_variant = p.menus.get(lang)
    context = {
        "member_states": str(p.member_states),
        "countries": str(p.countries),
        "presence": p.presence.get(lang, ""),
    }
    return {
        "id": p.id,
        "name": p.name[lang],
        "theme": p.theme,
        "lang": lang,
        "dir": "rtl" if lang == "ar" else "ltr",
        "base_url": state.base_url,
        "home": lang_prefix(p, lang) or "/",
        "news_path": state.listing_path(lang),
        "menu": menu_for(menu_variant, context) if menu_variant else [],
        "menu_container": p.menu_container,
        "ui": bank(lang)["ui"],
        "address": p.address,
        "assets": noise_token(state, "assets"),
        "email_style": p.email_style,
        "listing_markup": p.listing_markup,
    }


def switcher(state: SiteState, current: str, targets: dict[str, str]) -> list[dict[str, Any]]:
    """Language switcher links: the translation when there is one, else the site's fallback.

    Like the real themes, the fallback is no translation at all: that language's home or
    listing (Drupal 8+), or no link (Drupal 7). A parser that takes every switcher link for a
    translation is wrong on every release that lacks a language.
    """
    mode = state.profile.switcher_current
    links = []
    for lang in state.profile.languages:
        href = targets.get(lang) or _switcher_fallback(state, lang)
        active = lang == current and mode != "self"
        if lang == current and mode == "span":
            href = None
        links.append({"lang": lang, "name": LANG_NAMES[lang], "href": href, "active": active})
    return links


def _switcher_fallback(state: SiteState, lang: str) -> str | None:
    fallback = state.profile.switcher_fallback
    if fallback == "listing":
        return state.listing_path(lang)
    return None if fallback == "none" else lang_prefix(state.profile, lang) or "/"


def alternates(state: SiteState, links: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The head's `<link rel=alternate hreflang>` list, on the sites whose pages print one."""
    return links if state.profile.head_alternates else []


def iso_datetime(state: SiteState, version: Version) -> str:
    return f"{version.published.isoformat()}T{version.time}:00{state.profile.tz}"


def listing_date(state: SiteState, day: date, lang: str, time: str) -> str:
    return dates.format_date(day, state.profile.listing_date, lang, time)


def related(state: SiteState, version: Version) -> list[dict[str, str]]:
    """Three other seeded releases, a different choice per page and per noise level."""
    pool = [v for v in state.by_lang(version.lang) if v.seeded and v.node_id != version.node_id]
    if not pool:
        return []
    start = int(noise_token(state, f"related:{version.node_id}"), 16)
    indexes = dict.fromkeys((start + k * 7) % len(pool) for k in range(min(3, len(pool))))
    picks = [pool[i] for i in indexes]
    ui = bank(version.lang)["ui"]
    return [
        {
            "href": v.path,
            "lang": v.lang,
            "title": v.title or ui["read_story"],
            "date": listing_date(state, v.published, v.lang, v.time),
        }
        for v in picks
    ]


def jsonld(state: SiteState, version: Version) -> str:
    data = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": version.title or state.profile.name[version.lang],
        "datePublished": iso_datetime(state, version),
        "inLanguage": version.lang,
        "url": state.base_url + version.path,
        "publisher": {"@type": "Organization", "name": state.profile.name[version.lang]},
    }
    if version.image_path:
        data["image"] = state.base_url + version.image_path
    return json.dumps(data, ensure_ascii=False).replace("</", "<\\/")


def article_context(state: SiteState, version: Version) -> dict[str, Any]:
    """The template context of one release page."""
    p, b = state.profile, bank(version.lang)
    siblings = state.node_versions(version.node_id)
    targets = {v.lang: v.path for v in siblings}
    full = version.date_mode == "full"
    default = next((v for v in siblings if v.lang == p.languages[0]), version)
    return {
        "kind": "article",
        "site": site_context(state, version.lang),
        "title_tag": f"{version.title} | {p.name[version.lang]}" if version.title else p.name[version.lang],
        "canonical": state.base_url + version.path,
        "shortlink": f"{state.base_url}{lang_prefix(p, version.lang)}/node/{version.node_id}",
        "alternates": alternates(state, [(v.lang, state.base_url + v.path) for v in siblings] + [("x-default", state.base_url + default.path)]),
        "switcher": switcher(state, version.lang, targets),
        "v": version,
        "type_class": TYPE_CLASSES[version.type],
        "type_label": b["types"][version.type],
        "scope_label": b["scopes"][version.scope],
        "show_type": p.show_type,
        "image_url": state.base_url + version.image_path if version.image_path else None,
        "paragraphs": [paragraph_html(version, t, p.email_style) for t in version.paragraphs],
        "attachments": [(a, a.rsplit("/", 1)[-1]) for a in version.attachments],
        "date_text": dates.format_date(version.published, p.article_date, version.lang, version.time) if full and p.article_date else None,
        "datetime": iso_datetime(state, version),
        "machine": sorted(p.date_sources) if full else [],
        "jsonld": Markup(jsonld(state, version)) if full and "jsonld" in p.date_sources else None,
        "views": 150 + int(noise_token(state, f"views:{version.node_id}"), 16) % 4000 if p.view_counter else None,
        "related": related(state, version),
    }  # fmt: skip


def listing_context(state: SiteState, lang: str, page: int) -> dict[str, Any] | None:
    """The template context of one listing page, or None past the last page."""
    rows = state.by_lang(lang)
    last = max(0, (len(rows) - 1) // PAGE_SIZE)
    if page > last:
        return None
    ui = bank(lang)["ui"]
    items = [
        {
            "href": v.path,
            "title": v.title,
            "link_text": v.title or ui["read_story"],
            "type_label": bank(lang)["types"][v.type],
            "date": listing_date(state, v.published, lang, v.time),
            "datetime": iso_datetime(state, v),
            "teaser": v.teaser,
        }
        for v in rows[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
    ]
    path = state.listing_path(lang)
    return {
        "kind": "listing",
        "site": site_context(state, lang),
        "title_tag": f"{ui['news']} | {state.profile.name[lang]}",
        "canonical": state.base_url + path + (f"?page={page}" if page else ""),
        "shortlink": None,
        "alternates": alternates(
            state,
            [(o, state.base_url + state.listing_path(o)) for o in state.profile.languages],
        ),
        "switcher": switcher(
            state, lang, {o: state.listing_path(o) for o in state.profile.languages}
        ),
        "items": items,
        "page": page,
        "last": last,
        "path": path,
    }


def not_found_context(state: SiteState, lang: str) -> dict[str, Any]:
    ui = bank(lang)["ui"]
    return {
        "kind": "notfound",
        "site": site_context(state, lang),
        "title_tag": f"{ui['not_found']} | {state.profile.name[lang]}",
        "canonical": None,
        "shortlink": None,
        "alternates": [],
        "switcher": switcher(state, lang, {}),
    }


def render(context: dict[str, Any]) -> str:
    """Render a page context with its site's theme."""
    template = ENV.get_template(f"{context['site']['theme']}.html.j2")
    return template.render(ctx=context, **context)


def robots_txt(state: SiteState) -> str:
    lines = ["# robots.txt of a replica IOM site", "User-agent: *"]
    lines += ["Disallow: /core/", "Disallow: /profiles/", "Disallow: /search", "Disallow: /user"]
    lines += ["Disallow: /node/add/", "Disallow: /filter/tips", *state.profile.robots_extra]
    return "\n".join(lines) + "\n"
