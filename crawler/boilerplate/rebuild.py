"""Rebuild a site's learned template from the pages kept in the store (`iomwatch templates rebuild`)."""

from __future__ import annotations

from crawler.boilerplate import SiteTemplate, extract_html, learn_html
from crawler.parsing.text import summarise
from crawler.store import Store


def rebuild_template(store: Store, site_id: str) -> tuple[int, int]:
    """Re-learn the template from every stored page, then re-clean each body without an event.

    Returns (pages learned, bodies changed).
    """
    template = SiteTemplate.from_state(None)
    pages = list(store.raw_pages(site_id))
    for _rid, url, _title, html in pages:
        learn_html(template, html, url=url)
    store.save_template(site_id, template.to_state(), template.pages)
    changed = 0
    for rid, url, title, html in pages:
        page = extract_html(html, template, url=url, title=title)
        if page.text.strip() and store.refresh_body(
            rid, body_text=page.text, body_html=page.html, summary=summarise(page.text)
        ):
            changed += 1
    return len(pages), changed
