"""The product's own words in its five languages, for mails (and later the subscription pages).

Release content stays in its own language; only what iomwatch itself says is translated. The
texts are data, in `words.toml` beside this module (translators edit that file, not code);
plurals follow CLDR through Babel (Arabic has six forms), dates and numbers too.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import date
from functools import cached_property
from importlib.resources import files
from types import MappingProxyType
from typing import Any

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_decimal

from feeds.entries import RTL_LANGUAGES

DEFAULT_LANGUAGE = "en"
WORDS_FILE = "words.toml"


@dataclass(frozen=True)
class Words:
    """What one language says; `{n}`, `{date}` and `{site}` are filled in by the methods."""

    lang: str
    subject_prefix: str
    view_online: str
    read_original: str
    unsubscribe: str
    why: str  # the footer line saying why this mail came; {site} is our host
    daily_digest: str
    weekly_digest: str
    new_releases: Mapping[str, str]  # CLDR plural category -> text with {n}
    published: str  # with {date}
    other_languages: str
    everything: str
    confirm_subject: str
    confirm_intro: str
    confirm_action: str
    confirm_note: str
    filter_labels: Mapping[str, str]  # filter key (site, country...) -> label
    type_labels: Mapping[str, str]  # release type -> label

    @property
    def direction(self) -> str:
        return "rtl" if self.lang in RTL_LANGUAGES else "ltr"

    @cached_property
    def locale(self) -> Locale:
        return Locale.parse(self.lang)

    def releases(self, n: int) -> str:
        """'3 new releases' with the plural form the language needs for `n`."""
        form = self.locale.plural_form(n)
        text = self.new_releases.get(form, self.new_releases["other"])
        return text.format(n=format_decimal(n, locale=self.locale))

    def long_date(self, day: date) -> str:
        """A long local date: '29 mars 2026', '29 مارس 2026'."""
        return format_date(day, format="long", locale=self.locale)

    def published_on(self, day: date) -> str:
        return self.published.format(date=self.long_date(day))

    def digest_title(self, mode: str) -> str:
        return self.weekly_digest if mode == "weekly" else self.daily_digest

    def language_name(self, code: str) -> str:
        """A language's name in this language ('anglais' in French); the code if unknown."""
        return str(self.locale.languages.get(code.split("-")[0].lower(), code))

    def type_label(self, release_type: str) -> str:
        return self.type_labels.get(release_type, release_type.replace("_", " ").capitalize())


def load_words(text: str) -> dict[str, Words]:
    """Every language of a words file; ValueError naming the language and key that is wrong."""
    expected = {f.name for f in fields(Words)} - {"lang"}
    found = {}
    for lang, table in tomllib.loads(text).items():
        if missing := expected - set(table):
            raise ValueError(f"{WORDS_FILE} [{lang}]: missing {', '.join(sorted(missing))}")
        if unknown := set(table) - expected:
            raise ValueError(f"{WORDS_FILE} [{lang}]: unknown {', '.join(sorted(unknown))}")
        if "other" not in table["new_releases"]:
            raise ValueError(f"{WORDS_FILE} [{lang}.new_releases]: needs 'other'")
        values: dict[str, Any] = {}
        for key, value in table.items():
            texts = value.values() if isinstance(value, dict) else [value]
            if not all(isinstance(t, str) and t for t in texts):
                raise ValueError(f"{WORDS_FILE} [{lang}] {key}: expected non-empty text")
            values[key] = MappingProxyType(value) if isinstance(value, dict) else value
        found[lang] = Words(lang=lang, **values)
    return found


WORDS: Mapping[str, Words] = MappingProxyType(
    load_words(files(__package__).joinpath(WORDS_FILE).read_text(encoding="utf-8"))
)
LANGUAGES = tuple(WORDS)


def words_for(lang: str) -> Words:
    """The words of BCP 47 tag `lang`: exact, else its primary subtag (pt-BR: pt), else English."""
    tag = lang.strip().replace("_", "-").lower()
    return WORDS.get(tag) or WORDS.get(tag.split("-")[0]) or WORDS[DEFAULT_LANGUAGE]
