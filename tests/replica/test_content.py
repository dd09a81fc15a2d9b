"""The ground truth of every release can be read from the replica's pages."""

from __future__ import annotations

from collections import Counter
from datetime import date

import httpx
import pytest

from replica import ReplicaRelease, ReplicaServer
from replica.dates import format_date
from replica.sites import SITES_BY_ID
from tests.replica.pagecheck import body_paragraphs, listing_urls, parse


def test_default_sites_and_counts(replica: ReplicaServer) -> None:
    counts = Counter(r.site_id for r in replica.releases())
    assert counts == {
        "global": 25,
        "mali": 20,
        "mena": 19,
        "brazil": 15,
        "colombia": 17,
        "southsudan": 11,
    }
    types = Counter(r.type for r in replica.releases())
    assert set(types) == {"press_release", "news", "story", "statement"}
    assert any(r.title is None for r in replica.releases())


def test_content_is_deterministic() -> None:
    a = ReplicaServer(["mali"]).start()
    b = ReplicaServer(["mali"]).start()
    try:

        def strip(r: ReplicaRelease) -> tuple[str | None, date, tuple[str, ...], str]:
            return (r.title, r.published, r.body_paragraphs, r.url.split("/", 3)[3])

        assert [strip(r) for r in a.releases()] == [strip(r) for r in b.releases()]
    finally:
        a.stop()
        b.stop()


@pytest.mark.parametrize("site_id", list(SITES_BY_ID))
def test_pagination_reaches_every_release(replica: ReplicaServer, site_id: str) -> None:
    base = replica.base_url(site_id)
    profile = SITES_BY_ID[site_id]
    with httpx.Client() as client:
        for lang in profile.languages:
            path = "/news" if lang == profile.languages[0] else f"/{lang}/news"
            found = listing_urls(client, base + path)
            expected = [r.url for r in replica.releases(site_id) if r.lang == lang]
            assert found == expected  # newest first, each once
            assert client.get(f"{base}{path}?page=1").status_code == (
                200 if len(expected) > 10 else 404
            )


def _check_release(client: httpx.Client, release: ReplicaRelease) -> None:
    response = client.get(release.url)
    assert response.status_code == 200, release.url
    doc = parse(response.text)
    assert body_paragraphs(doc) == list(release.body_paragraphs)
    h1 = [" ".join(h.text_content().split()) for h in doc.xpath("//h1")]
    assert h1 == ([release.title] if release.title else [])
    shortlink = doc.xpath("//link[@rel='shortlink']/@href")[0]
    assert shortlink.endswith(f"/node/{release.node_id}")
    assert doc.xpath("//link[@rel='canonical']/@href") == [release.url]
    links = {a.get("hreflang"): a.get("href") for a in doc.xpath("//link[@rel='alternate']")}
    if SITES_BY_ID[release.site_id].head_alternates:  # they list the page itself too
        own = {release.lang: release.url}
        assert {k: v for k, v in links.items() if k != "x-default"} == own | release.translations
    else:
        assert links == {}
    if release.image_url:
        assert release.image_url.endswith(
            doc.xpath(
                "//figure//img/@src | //div[contains(@class,'field-name-field-image')]/img/@src"
            )[0]
        )
    assert [response.url.join(h) for h in doc.xpath("//a[@type='application/pdf']/@href")] == [
        httpx.URL(a) for a in release.attachments
    ]
    if release.emails:
        assert "[email&#160;protected]" in response.text
        assert not any(email in response.text for email in release.emails)
    if release.dateline_place:
        assert release.body_paragraphs[0].startswith(release.dateline_place)


def _date_visible(page: str, listing: str, release: ReplicaRelease) -> bool:
    """The publication date is on the page (machine-readable or as text) or in the listing."""
    profile = SITES_BY_ID[release.site_id]
    iso = release.published.isoformat()
    texts = {format_date(release.published, f, release.lang) for f in ("long", "month_first", "us")}
    on_page = (
        iso in page
        or any(t in page for t in texts)
        or release.published.strftime("%m/%d/%Y") in page
    )
    in_listing = format_date(release.published, profile.listing_date, release.lang) in listing
    return on_page or in_listing


@pytest.mark.parametrize("site_id", list(SITES_BY_ID))
def test_every_ground_truth_field_is_on_its_page(replica: ReplicaServer, site_id: str) -> None:
    with httpx.Client() as client:
        listings = {
            lang: "".join(client.get(u).text for u in _listing_pages(replica, site_id, lang))
            for lang in SITES_BY_ID[site_id].languages
        }
        for release in replica.releases(site_id):
            _check_release(client, release)
            assert _date_visible(client.get(release.url).text, listings[release.lang], release)


def _listing_pages(replica: ReplicaServer, site_id: str, lang: str) -> list[str]:
    profile = SITES_BY_ID[site_id]
    path = "/news" if lang == profile.languages[0] else f"/{lang}/news"
    count = sum(1 for r in replica.releases(site_id) if r.lang == lang)
    base = replica.base_url(site_id) + path
    return [base] + [f"{base}?page={n}" for n in range(1, (count + 9) // 10)]


def test_some_dates_are_only_in_the_listing(replica: ReplicaServer) -> None:
    """On mali.iom.int-like pages some releases carry only a yearless dateline."""
    only_listing = []
    with httpx.Client() as client:
        for release in replica.releases("mali"):
            page = client.get(release.url).text
            article = page.split("<article", 1)[1].split("</article>", 1)[0]
            forms = {
                format_date(release.published, f, release.lang)
                for f in ("long", "month_first", "us")
            }
            if release.published.isoformat() not in page and not any(f in article for f in forms):
                only_listing.append(release)
    assert len(only_listing) >= 3
    assert all(not r.body_paragraphs[0][:40].count(str(r.published.year)) for r in only_listing)


def test_arabic_pages_are_rtl_with_arabic_dates(replica: ReplicaServer) -> None:
    release = next(r for r in replica.releases("mena") if r.lang == "ar" and r.title)
    text = httpx.get(release.url).text
    doc = parse(text)
    assert doc.get("dir") == "rtl" and doc.get("lang") == "ar"
    assert release.url.isascii()  # transliterated slug
    assert any(
        m in text
        for m in (
            "يناير",
            "فبراير",
            "مارس",
            "أبريل",
            "مايو",
            "يونيو",
            "يوليو",
            "أغسطس",
            "سبتمبر",
            "أكتوبر",
            "نوفمبر",
            "ديسمبر",
        )
    )


def test_slug_quirks_exist(replica: ReplicaServer) -> None:
    urls = [r.url for r in replica.releases()]
    assert any(u.endswith("-0") for u in urls)
    assert any("%E2%80%99" in u for u in urls)
    assert any("/stories/" in u for u in urls) and any("/statements/" in u for u in urls)


def test_body_paragraphs_do_not_repeat_across_releases(replica: ReplicaServer) -> None:
    """Only the media-contact line repeats within a site (a boilerplate learner must keep it)."""
    for site_id in replica.site_ids:
        seen = Counter(p for r in replica.releases(site_id) for p in r.body_paragraphs[:-1])
        assert max(seen.values()) == 1, site_id
        contacts = Counter(r.body_paragraphs[-1] for r in replica.releases(site_id))
        assert max(contacts.values()) > 5
