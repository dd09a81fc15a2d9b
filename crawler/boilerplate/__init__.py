"""Boilerplate removal (SPEC capability 3): the public face of the template learner.

* DOM mode (`crawler.boilerplate.dom`): `SiteTemplate` per site, `learn_html` adds one page,
  `extract_html` gives a `CleanPage` (text + sanitised HTML).
* Text mode (`crawler.boilerplate.text`): `clean_text_corpus` on one site's text documents
  (its lines: `crawler.boilerplate.lines`).
* One page, no history (`crawler.boilerplate.single`, its text blocks in
  `crawler.boilerplate.blocks`).
"""

from __future__ import annotations

from crawler.boilerplate.dom import CleanPage, SiteTemplate, extract_html, learn_html
from crawler.boilerplate.text import clean_text_corpus

__all__ = ["CleanPage", "SiteTemplate", "clean_text_corpus", "extract_html", "learn_html"]
