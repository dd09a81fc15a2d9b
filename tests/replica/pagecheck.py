"""Reads replica pages back with lxml, the way a spider would, to compare with the ground truth."""

from __future__ import annotations

from urllib.parse import urljoin

import httpx
from lxml import html as lxml_html

BODY_XPATH = (
    "//*[contains(concat(' ', @class, ' '), ' field--name-body ')"
    " or contains(concat(' ', @class, ' '), ' field-name-body ')]//p"
)
NEXT_XPATH = "//a[@rel='next']/@href | //li[contains(@class, 'pager-next')]/a/@href"


def cf_decode(code: str) -> str:
    """Cloudflare email protection: the first byte is the XOR key of the others."""
    key = int(code[:2], 16)
    return "".join(chr(int(code[i : i + 2], 16) ^ key) for i in range(2, len(code), 2))


def parse(text: str) -> lxml_html.HtmlElement:
    return lxml_html.fromstring(text)


def body_paragraphs(doc: lxml_html.HtmlElement) -> list[str]:
    """Body paragraph texts with protected e-mails decoded and whitespace collapsed."""
    for node in doc.xpath("//*[@data-cfemail]"):
        node.text = cf_decode(node.get("data-cfemail"))
    return [" ".join(p.text_content().split()) for p in doc.xpath(BODY_XPATH)]


def listing_urls(client: httpx.Client, start: str) -> list[str]:
    """Every article URL of a listing, following the pager from the first page to the last."""
    urls: list[str] = []
    page_url: str | None = start
    while page_url:
        doc = parse(client.get(page_url).text)
        urls += [
            urljoin(page_url, h)
            for h in doc.xpath(
                "//div[contains(@class, 'views-row')]//a/@href"
                " | //div[@class='news-teaser']//h3/a/@href"  # the `plain` listing markup
            )
        ]
        nxt = doc.xpath(NEXT_XPATH)
        page_url = urljoin(page_url, nxt[0]) if nxt else None
    return urls
