"""Static export: the same feeds as the server (all, per site, country, region, language) as
files in a folder, with an OPML document and an index page, ready for any static web server.

Files are written atomically (temporary file, then rename): a server reading the folder during
an export sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from feeds.build import FeedMeta
from feeds.catalog import FORMATS, FeedSpec, catalogue
from feeds.filters import LIMIT_DEFAULT
from feeds.opml import build_opml
from feeds.pages import FORMAT_LABELS, FeedLink, make_environment

if TYPE_CHECKING:
    from crawler.sites import Site
    from crawler.store import Store

logger = logging.getLogger(__name__)


def write_atomic(path: Path, data: bytes) -> Path:
    """Write bytes to path through a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        Path(tmp).chmod(0o644)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _links(base: str, spec: FeedSpec) -> list[FeedLink]:
    return [
        FeedLink(f"{base}/{spec.slug}.{fmt.extension}", fmt.media_type, FORMAT_LABELS[name])
        for name, fmt in FORMATS.items()
    ]


def export_spec(store: Store, spec: FeedSpec, out_dir: Path, meta: FeedMeta) -> list[Path]:
    """One feed of the catalogue in every format."""
    rows = store.query_releases(spec.query, limit=LIMIT_DEFAULT)
    written = []
    for fmt in FORMATS.values():
        self_url = f"{meta.base_url}/{spec.slug}.{fmt.extension}"
        body = fmt.build(rows, _with_self(meta, self_url))
        written.append(write_atomic(out_dir / f"{spec.slug}.{fmt.extension}", body))
    return written


def _with_self(meta: FeedMeta, self_url: str) -> FeedMeta:
    return replace(meta, self_url=self_url)


def _spec_meta(store: Store, spec: FeedSpec, base: str, sites: dict[str, Site]) -> FeedMeta:
    """FeedMeta of one exported feed; its self URL is set per format by `export_spec`."""
    return FeedMeta(
        title=spec.title,
        self_url="",
        home_url=f"{base}/index.html",
        base_url=base,
        language=spec.query.lang[0] if len(spec.query.lang) == 1 else None,
        updated=store.last_change(spec.query)[0],
        sites=sites,
    )


def _index_html(base: str, specs: Sequence[FeedSpec]) -> bytes:
    """The static index page: every feed of the catalogue, grouped, with its file links."""
    template = make_environment().get_template("export_index.html")
    html = template.render(
        base_url=base, groups=_grouped(base, specs), feeds=_links(base, specs[0]), static=True
    )
    return html.encode("utf-8")


def export_feeds(store: Store, sites: Sequence[Site], out_dir: Path, base_url: str) -> list[Path]:
    """Write every feed, `feeds.opml` and `index.html` into out_dir; returns the paths written.

    `base_url` is where the folder will be served: it goes into rel=self, OPML and entry ids
    (ids match the served feeds when both use the same base URL).
    """
    base = base_url.rstrip("/")
    by_id = {s.id: s for s in sites}
    specs = catalogue(sites)
    written: list[Path] = []
    for spec in specs:
        written += export_spec(store, spec, out_dir, _spec_meta(store, spec, base, by_id))
    opml = build_opml(
        sites,
        base_url=base,
        url_for=lambda spec: f"{base}/{spec.slug}.atom",
        html_url_for=lambda spec: f"{base}/index.html",
    )
    written.append(write_atomic(out_dir / "feeds.opml", opml))
    written.append(write_atomic(out_dir / "index.html", _index_html(base, specs)))
    logger.info("exported %d files to %s", len(written), out_dir)
    return written


def _grouped(
    base: str, specs: Sequence[FeedSpec]
) -> list[tuple[str, list[tuple[str, list[FeedLink]]]]]:
    groups: dict[str, list[tuple[str, list[FeedLink]]]] = {}
    for spec in specs:
        groups.setdefault(spec.group, []).append((spec.title, _links(base, spec)))
    return list(groups.items())
