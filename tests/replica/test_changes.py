"""publish(), edit() and touch_noise() change exactly what they say."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import httpx
import pytest

from replica import ReplicaServer
from tests.replica.pagecheck import body_paragraphs, listing_urls, parse


def test_publish_adds_one_release_on_top_and_changes_the_listing_validators(
    fresh: ReplicaServer,
) -> None:
    url = fresh.base_url("mali") + "/news"
    before = fresh.releases("mali")
    first = httpx.get(url)
    release = fresh.publish("mali", title="L’OIM ouvre un bureau à Ségou")
    after = fresh.releases("mali")
    assert len(after) == len(before) + 1 and after[0] == release
    assert release.published == date.today() and release.lang == "fr"
    assert "%E2%80%99" in release.url
    second = httpx.get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert second.status_code == 200
    assert second.headers["ETag"] != first.headers["ETag"]
    assert second.headers["Last-Modified"] != first.headers["Last-Modified"]
    stale = httpx.get(url, headers={"If-Modified-Since": first.headers["Last-Modified"]})
    assert stale.status_code == 200
    with httpx.Client() as client:
        urls = listing_urls(client, url)
    assert urls[0] == release.url and len(urls) == len(set(urls)) == len(
        [r for r in after if r.lang == "fr"]
    )
    doc = parse(httpx.get(release.url).text)
    assert body_paragraphs(doc) == list(release.body_paragraphs)
    assert doc.xpath("//h1")[0].text_content().strip() == release.title


def test_publish_other_language_and_story(fresh: ReplicaServer) -> None:
    story = fresh.publish(
        "mena", lang="ar", type="story", body="فقرة أولى من القصة.\n\nفقرة ثانية."
    )
    assert story.title is None and story.url.startswith(fresh.base_url("mena") + "/ar/stories/")
    assert story.body_paragraphs[:2] == ("فقرة أولى من القصة.", "فقرة ثانية.")
    en_listing = httpx.get(fresh.base_url("mena") + "/news").text
    assert story.url.split("/", 3)[3] not in en_listing
    with pytest.raises(ValueError):
        fresh.publish("mena", lang="fr")


def test_edit_changes_the_page_not_the_listing(fresh: ReplicaServer) -> None:
    release = fresh.releases("global")[3]
    listing = fresh.base_url("global") + "/news"
    listing_tag = httpx.get(listing).headers["ETag"]
    page_tag = httpx.get(release.url).headers["ETag"]
    edited = fresh.edit(release.url, body="New first paragraph.\n\nSecond one.")
    assert edited.url == release.url and edited.body_paragraphs != release.body_paragraphs
    assert edited.body_paragraphs[0].startswith(release.body_paragraphs[0].split(" – ")[0])
    assert edited.body_paragraphs[-1] == release.body_paragraphs[-1]  # media contact kept
    assert httpx.get(release.url).headers["ETag"] != page_tag
    assert httpx.get(listing, headers={"If-None-Match": listing_tag}).status_code == 304
    assert body_paragraphs(parse(httpx.get(release.url).text)) == list(edited.body_paragraphs)


def test_touch_noise_changes_every_page_but_no_ground_truth(fresh: ReplicaServer) -> None:
    truth = fresh.releases("southsudan")
    urls = [fresh.base_url("southsudan") + "/news", truth[0].url, truth[5].url]
    before = {u: httpx.get(u) for u in urls}
    fresh.touch_noise("southsudan")
    assert fresh.releases("southsudan") == truth
    for url in urls:
        after = httpx.get(url, headers={"If-None-Match": before[url].headers["ETag"]})
        assert after.status_code == 200 and after.text != before[url].text
    article_before = parse(before[truth[0].url].text)
    article_after = parse(httpx.get(truth[0].url).text)
    assert body_paragraphs(article_before) == body_paragraphs(article_after)
    assert article_before.xpath("//h1")[0].text == article_after.xpath("//h1")[0].text


def test_sites_file_lists_every_site(fresh: ReplicaServer, tmp_path: Path) -> None:
    import tomllib

    path = fresh.write_sites_file(tmp_path / "sites.toml")
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    assert [s["id"] for s in data["site"]] == fresh.site_ids
    mali = next(s for s in data["site"] if s["id"] == "mali")
    assert mali["languages"] == ["fr", "en"] and mali["country"] == "Mali"
    assert mali["base_url"] == fresh.base_url("mali") and mali["news_paths"] == [
        "/news",
        "/en/news",
    ]
    assert "country" not in next(s for s in data["site"] if s["id"] == "global")
