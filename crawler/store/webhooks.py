"""Webhooks: the endpoints alerts are posted to, their state and their delivery log.

Webhooks come from the config file ("config", kept in step by `sync_config_webhooks`) or
the CLI ("cli"). A webhook is disabled by the sender (410 Gone, or N failed deliveries in a
row, counted by `record_delivery`) until `enable_webhook`; disabling ends the rows still
waiting for it in the outbox (state "dead", with the reason), and a disabled webhook gets no
new ones. The secret is kept as given (`whsec_...` or a plain string) and never shown in a
repr.

    add_webhook(spec, *, source="cli", at=None) -> int
    webhooks(*, enabled_only=False) -> list[Webhook]
    get_webhook(id) -> Webhook | None
    remove_webhook(id) -> bool                    (its outbox rows and log go with it)
    sync_config_webhooks(entries, *, at=None) -> {"added": n, "updated": n, "removed": n}
    disable_webhook(id, *, reason, at) -> bool
    enable_webhook(id) -> bool
    record_delivery(outbox_id, *, attempt, status, outcome, reason, at) -> int (failures in a row)
    delivery_log(webhook_id, limit=50) -> list[Delivery]   (newest first)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update

from crawler.store.base import StoreBase, writes
from crawler.store.records import DELIVERY_OUTCOMES, Delivery, Webhook, WebhookSpec
from crawler.store.schema import outbox, utcnow, webhook_deliveries, webhooks
from crawler.store.subscribers import (
    delete_target,
    end_waiting,
    filters_json,
    filters_query,
    remove_unlisted,
    sync_counts,
    upsert_listed,
)

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime

    from sqlalchemy.engine import Connection

CHANNELS = ("webhook",)


class WebhookStore(StoreBase):
    """Webhooks (add, list, sync, disable, enable) and the log of their deliveries."""

    @writes("webhooks")
    def add_webhook(
        self, spec: WebhookSpec, *, source: str = "cli", at: datetime | None = None
    ) -> int:
        if source not in ("config", "cli"):
            raise ValueError(f"webhook source {source!r}: expected config or cli")
        with self.engine.begin() as conn:
            return _insert_webhook(conn, spec, source, at or utcnow())

    def webhooks(self, *, enabled_only: bool = False) -> list[Webhook]:
        stmt = select(webhooks).order_by(webhooks.c.id)
        if enabled_only:
            stmt = stmt.where(webhooks.c.enabled.is_(True))
        with self.engine.connect() as conn:
            return [_row_webhook(r) for r in conn.execute(stmt)]

    def get_webhook(self, webhook_id: int) -> Webhook | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(webhooks).where(webhooks.c.id == webhook_id)).first()
        return _row_webhook(row) if row else None

    @writes("webhooks")
    def remove_webhook(self, webhook_id: int) -> bool:
        """Delete a webhook, its outbox rows and its delivery log; False when there was none."""
        with self.engine.begin() as conn:
            return delete_target(conn, webhooks, CHANNELS, webhook_id)

    @writes("webhooks")
    def sync_config_webhooks(
        self, entries: Iterable[WebhookSpec], *, at: datetime | None = None
    ) -> dict[str, int]:
        """Make the "config" webhooks those of the config file, by URL and filter.

        A known one gets the file's secret and keeps its id, state and log; one left out of
        the file is removed. A disabled one stays disabled (`enable_webhook` after a fix).
        """
        now = at or utcnow()
        with self.engine.begin() as conn:

            def known(spec: WebhookSpec) -> list[int]:
                stmt = select(webhooks.c.id).where(
                    webhooks.c.source == "config",
                    webhooks.c.url == spec.url,
                    webhooks.c.filters == filters_json(spec.filters),
                )
                return [int(i) for i in conn.execute(stmt.order_by(webhooks.c.id)).scalars()]

            def refresh(webhook_id: int, spec: WebhookSpec) -> None:
                stmt = update(webhooks).where(webhooks.c.id == webhook_id)
                conn.execute(stmt.values(secret=spec.secret))

            def add(spec: WebhookSpec) -> int:
                return _insert_webhook(conn, spec, "config", now)

            listed = upsert_listed(entries, known=known, refresh=refresh, add=add)
            return sync_counts(listed, remove_unlisted(conn, webhooks, CHANNELS, listed))

    @writes("webhooks")
    def disable_webhook(self, webhook_id: int, *, reason: str, at: datetime) -> bool:
        """Disable a webhook (410, too many failures); its waiting rows end. False if it was."""
        stmt = (
            update(webhooks)
            .where(webhooks.c.id == webhook_id, webhooks.c.enabled.is_(True))
            .values(enabled=False, disabled_at=at, disabled_reason=reason)
        )
        with self.engine.begin() as conn:
            done = bool(conn.execute(stmt).rowcount)
            end_waiting(conn, CHANNELS, webhook_id, f"webhook disabled: {reason}")
        return done

    @writes("webhooks")
    def enable_webhook(self, webhook_id: int) -> bool:
        """Enable a webhook again, its failure count reset; False when unknown."""
        stmt = (
            update(webhooks)
            .where(webhooks.c.id == webhook_id)
            .values(enabled=True, consecutive_failures=0, disabled_at=None, disabled_reason=None)
        )
        with self.engine.begin() as conn:
            return bool(conn.execute(stmt).rowcount)

    @writes("webhook_deliveries")
    def record_delivery(
        self,
        outbox_id: int,
        *,
        attempt: int,
        status: int | None,
        outcome: str,
        reason: str | None,
        at: datetime,
    ) -> int:
        """Log one delivery attempt of a webhook row; the webhook's failures in a row after it.

        "ok" resets the count; any other outcome adds one (the sender disables at N).
        """
        if outcome not in DELIVERY_OUTCOMES:
            raise ValueError(f"delivery outcome {outcome!r}: expected one of {DELIVERY_OUTCOMES}")
        with self.engine.begin() as conn:
            webhook_id = conn.execute(
                select(outbox.c.target_id).where(
                    outbox.c.id == outbox_id, outbox.c.channel == "webhook"
                )
            ).scalar_one()
            logged = {"attempt": attempt, "status": status, "outcome": outcome, "reason": reason}
            conn.execute(
                insert(webhook_deliveries).values(
                    {**logged, "outbox_id": outbox_id, "webhook_id": webhook_id, "at": at}
                )
            )
            failures = 0 if outcome == "ok" else webhooks.c.consecutive_failures + 1
            count = conn.execute(
                update(webhooks)
                .where(webhooks.c.id == webhook_id)
                .values(consecutive_failures=failures)
                .returning(webhooks.c.consecutive_failures)
            ).scalar_one()
        return int(count)

    def delivery_log(self, webhook_id: int, limit: int = 50) -> list[Delivery]:
        """The latest delivery attempts of a webhook, newest first."""
        stmt = (
            select(webhook_deliveries)
            .where(webhook_deliveries.c.webhook_id == webhook_id)
            .order_by(webhook_deliveries.c.id.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [Delivery(**r._asdict()) for r in conn.execute(stmt)]


def _insert_webhook(conn: Connection, spec: WebhookSpec, source: str, at: datetime) -> int:
    stmt = insert(webhooks).values(
        url=spec.url,
        secret=spec.secret,
        filters=filters_json(spec.filters),
        source=source,
        enabled=True,
        consecutive_failures=0,
        created_at=at,
    )
    return int(conn.execute(stmt.returning(webhooks.c.id)).scalar_one())


def _row_webhook(row: Any) -> Webhook:
    values = row._asdict()
    return Webhook(**{**values, "filters": filters_query(values["filters"])})
