"""The index page in a real headless browser (Debian chromium driven by Playwright).

Fails, never skips, when chromium is missing: CI installs it (`make` does too).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Dialog, sync_playwright

from crawler.store import ReleaseQuery, Store
from tests.feeds.conftest import BASE_URL, SITES, make_app, serve

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.mark.browser
def test_index_and_release_pages_in_chromium(seeded_sqlite: Store) -> None:
    assert CHROMIUM.exists(), "Debian chromium is required: apt-get install -y chromium"
    arabic = seeded_sqlite.query_releases(ReleaseQuery(lang=("ar",)))[0]
    hostile = next(
        r for r in seeded_sqlite.query_releases(ReleaseQuery()) if r.url.endswith("hostile")
    )
    app = make_app(seeded_sqlite)
    dialogs: list[str] = []
    console: list[str] = []
    with serve(app) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page()
            page.on("dialog", lambda d: _record(d, dialogs))
            page.on("console", lambda m: console.append(m.text))
            response = page.goto(f"{url}/", wait_until="load")
            assert response is not None and response.status == 200
            assert "default-src 'none'" in response.headers["content-security-policy"]
            # The Content-Security-Policy still lets the page's own stylesheet apply.
            width = page.evaluate("getComputedStyle(document.body).maxWidth")
            assert width == "960px", width
            assert page.title().startswith("IOM releases")
            links = page.locator('head link[rel="alternate"]')
            types = {links.nth(i).get_attribute("type") for i in range(links.count())}
            assert types == {"application/atom+xml", "application/rss+xml", "application/feed+json"}
            hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
            assert f"{BASE_URL}/feed.atom" in hrefs
            direction = page.eval_on_selector(
                'article[lang="ar"]', "e => getComputedStyle(e).direction"
            )
            assert direction == "rtl"
            french = page.eval_on_selector(
                'article[lang="fr"]', "e => getComputedStyle(e).direction"
            )
            assert french == "ltr"
            assert page.locator("#sites tbody tr").count() == len(SITES)
            page.goto(f"{url}/releases/{arabic.id}", wait_until="load")
            root_dir = page.evaluate("getComputedStyle(document.documentElement).direction")
            assert root_dir == "rtl" and page.evaluate("document.documentElement.lang") == "ar"
            page.goto(f"{url}/releases/{hostile.id}", wait_until="load")
            page.goto(f"{url}/?site=global", wait_until="load")
            page.wait_for_timeout(200)
            assert page.evaluate("document.querySelectorAll('script, iframe').length") == 0
        finally:
            browser.close()
    assert dialogs == [], "hostile content ran script in the page"
    # Only the hostile release's images (src=x) may be refused, never the page's own parts.
    refused = [m for m in console if "Content Security Policy" in m and "img-src" not in m]
    assert refused == [], refused


def _record(dialog: Dialog, dialogs: list[str]) -> None:
    dialogs.append(dialog.message)
    dialog.dismiss()
