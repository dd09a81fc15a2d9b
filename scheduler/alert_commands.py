"""`iomwatch subscribers add|list|remove` and `iomwatch webhooks list|log|replay|enable`.

Subscribers added here are stored with source "cli" and confirmed at once (the operator adds
them); those of the config file are kept in step with it by the service and by each crawl,
so they are changed there, not here. Webhooks come from the config file; here they are
inspected, replayed and enabled again after being disabled. A replay puts rows back in the
outbox with their idempotency key: the running service sends them, with the same
`webhook-id` the receiver saw before. Each handler returns the exit code: 0 done, 1 the
request named something that is not there (or a config subscriber), 2 bad input.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from crawler.store import ReleaseQuery, Store, SubscriberSpec
from crawler.store.records import FILTER_KEYS, OutboxRow
from crawler.store.schema import outbox
from scheduler.config import ServiceConfig, is_address

if TYPE_CHECKING:
    from collections.abc import Sequence

    from crawler.store import Subscriber, Webhook


WIDTH = 160


def _store(args: argparse.Namespace) -> Store:
    return Store(ServiceConfig.from_env(args.config).database_url)


def _fail(message: str, code: int = 2) -> int:
    print(f"iomwatch: {message}", file=sys.stderr)
    return code


def _print(table: Table) -> None:
    Console(file=sys.stdout, width=WIDTH).print(table)


# -- subscribers ------------------------------------------------------------------------------


def _spec(args: argparse.Namespace) -> SubscriberSpec:
    """The subscription the arguments describe; ValueError naming the bad one."""
    if not is_address(args.email):
        raise ValueError(f"EMAIL {args.email!r}: expected an e-mail address")
    for lang in args.prefer:
        if not lang.strip() or not lang.replace("-", "").isalpha():
            raise ValueError(f"--prefer {lang!r}: expected a language code such as fr or pt-br")
    filters = ReleaseQuery.from_mapping({key: getattr(args, key) for key in FILTER_KEYS})
    return SubscriberSpec(
        args.email.strip(),
        args.mode,
        args.hour,
        args.timezone,
        tuple(lang.strip().lower() for lang in args.prefer),
        filters,
    )


def cmd_subscribers_add(args: argparse.Namespace) -> int:
    """Store a confirmed subscriber; the same address with the same filter is refused."""
    try:
        spec = _spec(args)
    except ValueError as exc:
        return _fail(f"subscribers add: {exc}")
    with _store(args) as store:
        known = store.find_subscriber(spec.email, spec.filters)
        if known is not None and known.unsubscribed_at is None:
            return _fail(
                f"subscribers add: {spec.email} already has this subscription (#{known.id}); "
                f"remove it first to change it",
                1,
            )
        subscriber_id = store.add_subscriber(spec, source="cli")
    print(f"subscriber #{subscriber_id} added: {spec.email}, {_when(spec)}")
    return 0


def _when(spec: SubscriberSpec) -> str:
    if spec.mode == "instant":
        return "instant"
    return f"{spec.mode} at {spec.hour:02d}:00 {spec.timezone}"


def _filter_text(query: ReleaseQuery) -> str:
    return " ".join(f"{key}={value}" for key, value in query.as_params()) or "everything"


def _state(subscriber: Subscriber) -> str:
    if subscriber.unsubscribed_at is not None:
        return "unsubscribed"
    return "active" if subscriber.confirmed_at is not None else "unconfirmed"


def cmd_subscribers_list(args: argparse.Namespace) -> int:
    with _store(args) as store:
        found = store.subscribers()
    table = Table(title=f"subscribers ({len(found)})")
    for column in ("id", "email", "mode", "languages", "filter", "source", "state", "since"):
        table.add_column(column)
    for sub in found:
        table.add_row(
            str(sub.id),
            sub.email,
            _when(sub),
            ", ".join(sub.languages) or "as published",
            _filter_text(sub.filters),
            sub.source,
            _state(sub),
            sub.created_at.strftime("%Y-%m-%d"),
        )
    _print(table)
    return 0


def cmd_subscribers_remove(args: argparse.Namespace) -> int:
    """Delete a subscriber and its queued alerts; a config one is removed from the file."""
    with _store(args) as store:
        found = store.get_subscriber(args.id)
        if found is None:
            return _fail(f"subscribers remove: no subscriber #{args.id}", 1)
        if found.source == "config":
            return _fail(
                f"subscribers remove: #{args.id} ({found.email}) comes from the config file; "
                f"remove its [[subscriber]] entry there",
                1,
            )
        store.remove_subscriber(args.id)
    print(f"subscriber #{args.id} removed: {found.email}")
    return 0


# -- webhooks ---------------------------------------------------------------------------------


def shown_url(url: str) -> str:
    """A webhook URL without its query (a token often rides there: never printed)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}" + ("?…" if parts.query else "")


def _webhook_state(hook: Webhook) -> str:
    if hook.enabled:
        return "enabled"
    return f"disabled: {hook.disabled_reason or 'unknown reason'}"


def cmd_webhooks_list(args: argparse.Namespace) -> int:
    with _store(args) as store:
        found = store.webhooks()
    table = Table(title=f"webhooks ({len(found)})")
    for column in ("id", "url", "filter", "signed", "source", "failures", "state"):
        table.add_column(column)
    for hook in found:
        table.add_row(
            str(hook.id),
            shown_url(hook.url),
            _filter_text(hook.filters),
            "yes" if hook.secret else "no",
            hook.source,
            str(hook.consecutive_failures),
            _webhook_state(hook),
        )
    _print(table)
    return 0


def cmd_webhooks_log(args: argparse.Namespace) -> int:
    """The latest delivery attempts of one webhook, newest first."""
    if args.limit < 1:
        return _fail(f"webhooks log: --limit {args.limit}: expected at least 1")
    with _store(args) as store:
        hook = store.get_webhook(args.id)
        if hook is None:
            return _fail(f"webhooks log: no webhook #{args.id}", 1)
        log = store.delivery_log(args.id, limit=args.limit)
    table = Table(title=f"webhook #{hook.id} {shown_url(hook.url)}: last {len(log)} attempts")
    for column in ("at", "outbox", "attempt", "status", "outcome", "reason"):
        table.add_column(column)
    for entry in log:
        table.add_row(
            entry.at.isoformat(timespec="seconds"),
            str(entry.outbox_id),
            str(entry.attempt),
            str(entry.status) if entry.status is not None else "-",
            entry.outcome,
            entry.reason or "",
        )
    _print(table)
    return 0


def _rows(store: Store, ids: Sequence[int]) -> dict[int, OutboxRow]:
    """The outbox rows of these ids (the store lists rows by channel, state or target only)."""
    stmt = select(outbox).where(outbox.c.id.in_(list(ids)))
    with store.engine.connect() as conn:
        return {int(r.id): OutboxRow(**r._asdict()) for r in conn.execute(stmt)}


def cmd_webhooks_replay(args: argparse.Namespace) -> int:
    """Due again now, whatever their state: the service sends them with the same webhook-id."""
    ids = sorted(set(args.outbox_ids))
    with _store(args) as store:
        rows = _rows(store, ids)
        missing = [i for i in ids if i not in rows]
        if missing:
            return _fail(f"webhooks replay: no outbox row {', '.join(map(str, missing))}", 1)
        other = [i for i in ids if rows[i].channel != "webhook"]
        if other:
            return _fail(
                f"webhooks replay: outbox row {', '.join(map(str, other))} is not a webhook "
                f"delivery (channel {rows[other[0]].channel})"
            )
        count = store.requeue(ids, at=datetime.now(UTC))
        disabled = sorted(
            {r.target_id for r in rows.values()}
            - {hook.id for hook in store.webhooks(enabled_only=True)}
        )
    print(f"{count} webhook deliveries queued again; the running service sends them")
    for hook_id in disabled:
        print(f"note: webhook #{hook_id} is disabled: `iomwatch webhooks enable {hook_id}` first")
    return 0


def cmd_webhooks_enable(args: argparse.Namespace) -> int:
    with _store(args) as store:
        if not store.enable_webhook(args.id):
            return _fail(f"webhooks enable: no webhook #{args.id}", 1)
    print(f"webhook #{args.id} enabled; its failure count starts again at 0")
    return 0


def positive_id(text: str) -> int:
    """An id on the command line: a positive whole number (argparse names the argument)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a positive number")
    return value
