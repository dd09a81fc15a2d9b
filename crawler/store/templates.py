"""Site templates: the boilerplate learner's per-site state, and the pages it is rebuilt from."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from crawler.store.base import StoreBase, upsert, writes
from crawler.store.identity import content_hash
from crawler.store.queries import search_text, unpack_html
from crawler.store.releases import bound_body
from crawler.store.schema import releases, site_templates, utcnow

if TYPE_CHECKING:
    from collections.abc import Iterator


class TemplateStore(StoreBase):
    """Keeps each site's learned template; a rebuild re-reads raw pages and refreshes bodies."""

    def load_template(self, site: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(site_templates.c.state).where(site_templates.c.site == site)
            ).first()
        return json.loads(row.state) if row else None

    @writes("site_templates")
    def save_template(self, site: str, state: dict[str, Any], pages: int = 0) -> None:
        values = {
            "state": json.dumps(state, ensure_ascii=False),
            "pages": pages,
            "updated": utcnow(),
        }
        with self.engine.begin() as conn:
            upsert(conn, site_templates, "site", site, values)

    @writes("site_templates")
    def delete_template(self, site: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(site_templates.delete().where(site_templates.c.site == site))

    def raw_pages(self, site: str) -> Iterator[tuple[str, str, str | None, str]]:
        """(id, url, title, raw HTML) of a site's releases, oldest first: to rebuild its template."""
        stmt = (
            select(releases.c.id, releases.c.url, releases.c.title, releases.c.raw_html)
            .where(releases.c.site == site)
            .order_by(releases.c.first_seen, releases.c.id)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        for row in rows:
            if row.raw_html:
                yield row.id, row.url, row.title, unpack_html(row.raw_html)

    @writes("releases")
    def refresh_body(self, rid: str, *, body_text: str, body_html: str, summary: str) -> bool:
        """Replace a body after a template rebuild, silently: a better cleaning is not an edit.

        Bounded as `save_release` bounds it; a cut adds the "truncated" flag.
        """
        body_text, body_html, cut = bound_body(body_text, body_html)
        with self.engine.begin() as conn:
            row = conn.execute(
                select(releases.c.title, releases.c.flags).where(releases.c.id == rid)
            ).one()
            digest = content_hash(row.title, body_text)
            flags = json.loads(row.flags or "[]")
            done = conn.execute(
                update(releases)
                .where(releases.c.id == rid, releases.c.content_hash != digest)
                .values(
                    body_text=body_text,
                    body_html=body_html,
                    summary=summary,
                    content_hash=digest,
                    search_text=search_text(row.title, summary, body_text),
                    flags=json.dumps(list(dict.fromkeys([*flags, "truncated"])) if cut else flags),
                )
            )
            return bool(done.rowcount)
