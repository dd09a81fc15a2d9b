"""Value objects of the replica: the published ground truth, request records and page versions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

RELEASE_TYPES = ("press_release", "news", "story", "statement")


@dataclass(frozen=True)
class ReplicaRelease:
    """What a spider must extract from one language version of a release (the ground truth)."""

    site_id: str
    url: str
    lang: str
    type: str
    title: str | None
    published: date
    dateline_place: str | None
    node_id: str
    # The release's other-language versions (language -> URL); never itself, {} when none.
    translations: dict[str, str]
    body_paragraphs: tuple[str, ...]
    image_url: str | None
    attachments: tuple[str, ...]
    emails: tuple[str, ...]
    # The countries the release is about, registry spelling, sorted: the site's country, the
    # dateline place's country, the countries its title and lead paragraph name (not donors).
    countries: tuple[str, ...] = ()


@dataclass(frozen=True)
class RequestRecord:
    """One request the replica answered (or dropped)."""

    site_id: str
    method: str
    path: str
    status: int
    bytes_sent: int
    headers: dict[str, str]
    fault: str | None = None

    def header(self, name: str) -> str | None:
        """A request header, looked up case-insensitively."""
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)


@dataclass
class Version:
    """One language version of a node, as the replica holds it (mutable: edits change it)."""

    node_id: int
    lang: str
    type: str
    title: str | None
    path: str
    published: date
    time: str
    dateline: str | None
    dateline_place: str | None
    paragraphs: list[str]
    teaser: str
    date_mode: str
    image_path: str | None = None
    caption: str | None = None
    attachments: list[str] = field(default_factory=list)
    scope: str = "Global"
    seeded: bool = True
    modified: float = 0.0
    dateline_sep: str = " – "
    bare_slug: bool = False
