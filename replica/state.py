"""Mutable state of one replica site: its versions, noise level, faults and change times."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from replica.content import build_site, lang_prefix
from replica.generate import countries_for
from replica.model import ReplicaRelease, Version
from replica.sites import SiteProfile

PAGE_SIZE = 10
EMAIL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789.-_@")


@dataclass
class SiteState:
    """Everything a site serves; the server thread and the test thread share it under `lock`."""

    profile: SiteProfile
    versions: list[Version]
    base_url: str = ""
    noise: int = 0
    noise_time: float = 0.0
    listing_time: dict[str, float] = field(default_factory=dict)
    faults: list[tuple[str, str]] = field(default_factory=list)
    down: bool = False
    lock: threading.RLock = field(default_factory=threading.RLock)
    generation: int = 0
    cache: dict[tuple[int, str], Any] = field(default_factory=dict)

    @classmethod
    def create(cls, profile: SiteProfile, seed: int) -> SiteState:
        return cls(profile, build_site(profile, seed))

    def changed(self) -> None:
        """Bump the generation so cached renderings are dropped."""
        self.generation += 1
        self.cache.clear()

    def by_lang(self, lang: str) -> list[Version]:
        """The versions listed under a language, newest first."""
        rows = [v for v in self.versions if v.lang == lang]
        return sorted(rows, key=lambda v: (v.published, v.node_id), reverse=True)

    def find_path(self, path: str) -> Version | None:
        wanted = unquote(path)
        return next((v for v in self.versions if unquote(v.path) == wanted), None)

    def node_versions(self, node_id: int) -> list[Version]:
        return [v for v in self.versions if v.node_id == node_id]

    def listing_path(self, lang: str) -> str:
        return f"{lang_prefix(self.profile, lang)}/news"

    def listing_modified(self, lang: str) -> float:
        """Last-Modified of a language's listing: its newest entry, a publish, or a noise change."""
        rows = self.by_lang(lang)
        newest = max((v.modified for v in rows if v.seeded), default=0.0)
        return max(newest, self.listing_time.get(lang, 0.0), self.noise_time)

    def page_modified(self, version: Version) -> float:
        return max(version.modified, self.noise_time)

    def bump_time(self, previous: float) -> float:
        """Now, but strictly after `previous` (HTTP dates have one-second resolution)."""
        return max(float(int(time.time())), float(int(previous)) + 1.0)

    def release(self, version: Version) -> ReplicaRelease:
        """The ground truth of one version, with absolute URLs."""
        siblings = self.node_versions(version.node_id)
        return ReplicaRelease(
            site_id=self.profile.id,
            url=self.base_url + version.path,
            lang=version.lang,
            type=version.type,
            title=version.title,
            published=version.published,
            dateline_place=version.dateline_place,
            node_id=str(version.node_id),
            translations={
                v.lang: self.base_url + v.path for v in siblings if v.lang != version.lang
            },
            body_paragraphs=tuple(version.paragraphs),
            image_url=self.base_url + version.image_path if version.image_path else None,
            attachments=tuple(self.base_url + a for a in version.attachments),
            emails=tuple(dict.fromkeys(e for p in version.paragraphs for e in emails_in(p))),
            countries=countries_for(self.profile, version),
        )


def emails_in(text: str) -> list[str]:
    """The e-mail addresses in a paragraph, in order."""
    found = []
    for word in text.replace(",", " ").split():
        word = word.strip(".;:()")
        if "@" in word and set(word.lower()) <= EMAIL_CHARS:
            found.append(word)
    return found
