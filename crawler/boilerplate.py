"""Boilerplate removal (SPEC capability 3): the public face of the template learner.

* DOM mode (`crawler.boilerplate_html`): `SiteTemplate` per site, `learn_html` adds one page,
  `extract_html` gives a `CleanPage` (text + sanitised HTML).
* Text mode (`crawler.boilerplate_text`): `clean_text_corpus` on one site's text documents.
"""

from __future__ import annotations

from crawler.boilerplate_html import CleanPage, SiteTemplate, extract_html, learn_html
from crawler.boilerplate_text import clean_text_corpus

__all__ = ["CleanPage", "SiteTemplate", "clean_text_corpus", "extract_html", "learn_html"]
