"""Tags a release with the countries it is about (crawler.parsing.countries), once its body
is clean: the site's country, the dateline place's, those its title and lead paragraph name.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from crawler.extensions import crawled_site
from crawler.parsing.countries import release_countries

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

    from crawler.items import Release

logger = logging.getLogger(__name__)


def lead_paragraph(body_text: str) -> str:
    """The body's first non-empty line: the dateline and the lead sentence."""
    return next((line for line in body_text.splitlines() if line.strip()), "")


class CountryPipeline:
    """Sets `item.countries`; a release it cannot tag keeps its site's country alone."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CountryPipeline:
        return cls(crawler)

    def process_item(self, item: Release) -> Release:
        site = crawled_site(self.crawler.spider)
        item.countries = release_countries(
            item.title, lead_paragraph(item.body_text), item.dateline, site
        )
        return item
