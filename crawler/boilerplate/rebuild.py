"""Re-learn a site's template from the pages kept in the store, and re-clean their bodies.

`iomwatch templates rebuild` does both from scratch; the boilerplate pipeline uses the two
halves on a site's first crawl, whose first bodies were cleaned by a template that had not
yet seen a second article (their share bar was not template then).
"""

from __future__ import annotations

from crawler.boilerplate import SiteTemplate, extract_html, learn_html
from crawler.parsing.text import summarise
from crawler.store import Store


def learn_stored(store: Store, site_id: str, template: SiteTemplate) -> int:
    """Add every stored page of the site to the template (pages it knows count once)."""
    learned = 0
    for _rid, url, _title, html in store.raw_pages(site_id):
        learned += learn_html(template, html, url=url, article=True)
    return learned


def reclean_stored(store: Store, site_id: str, template: SiteTemplate) -> int:
    """Clean every stored body of the site again with this template, silently: no event.

    Returns how many bodies changed.
    """
    changed = 0
    for rid, url, title, html in store.raw_pages(site_id):
        page = extract_html(html, template, url=url, title=title)
        if page.text.strip() and store.refresh_body(
            rid, body_text=page.text, body_html=page.html, summary=summarise(page.text)
        ):
            changed += 1
    return changed


def rebuild_template(store: Store, site_id: str) -> tuple[int, int]:
    """Re-learn the template from every stored page, then re-clean each body without an event.

    Returns (pages learned, bodies changed).
    """
    template = SiteTemplate.from_state(None)
    learned = learn_stored(store, site_id, template)
    store.save_template(site_id, template.to_state(), template.pages)
    return learned, reclean_stored(store, site_id, template)
