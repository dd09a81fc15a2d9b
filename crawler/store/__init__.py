"""The release store: SQLAlchemy tables and queries shared by crawler, feeds and scheduler.

SQLite (WAL) by default, PostgreSQL by URL; the schema is managed by Alembic migrations
(`crawler/store/migrations`). Scrapy-free: feeds/ and scheduler/ import it without Scrapy.

    schema.py      tables and the engine set-up
    records.py     value types: ReleaseQuery, StoredRelease, RunStats, CrawlRun, Event, and
                   the alerts' SubscriberSpec, Subscriber, WebhookSpec, Webhook, OutboxRow, Delivery
    identity.py    release ids, URL keys, translation groups, content hashes, search folding
    queries.py     the filter clause and row <-> value mapping
    matching.py    the same filter in Python: whether one release matches a stored filter
    base.py        StoreBase: owns the engine (open, migrate, close), retries locked writes
    releases.py    ReleaseStore: save a release (bounded, flagged), read releases and events
                   (built on OutboxStore: each event's alerts are queued in its transaction)
    outbox.py      OutboxStore: alerts queued with events, claimed under a lease, marked
    subscribers.py SubscriberStore: subscribers (config, CLI, web sign-ups), app secrets
    webhooks.py    WebhookStore: webhooks, their state and delivery log
    health.py      HealthStore: per-site run history, publication latency, metric histograms
    groups.py      GroupStore: releases by translation group (the index page)
    operator.py    OperatorStore: the operator channel's alerts (one open per subject, kind)
    runs.py        RunStore: crawl runs (built on LockStore, to leave live crawls alone)
    locks.py       LockStore: one crawl of a site at a time across processes
    failures.py    FailureStore: article URLs that failed for good, until a retry-after
    retention.py   RetentionStore: prune runs, events and raw page versions
    validators.py  ValidatorStore: HTTP validators for conditional requests
    templates.py   TemplateStore: site templates, raw pages, body refresh

`Store` is assembled from one class per concern over `StoreBase`, rather than a facade
that holds the concern objects and forwards to them: callers use one flat `store.method()`
API, and forwarding would write every signature a second time, to be kept in step by hand.
The concern classes share nothing but `self.engine` and never call one another (except
RunStore, which builds on LockStore, and ReleaseStore, which builds on OutboxStore), so the order of the bases does not matter; each one
also works alone (`RunStore(url)`). Every write is one transaction, retried when the database
is locked, then `StoreBusyError` naming the operation.
"""

from __future__ import annotations

from crawler.exceptions import StoreBusyError, StoreError
from crawler.store.failures import FailureStore
from crawler.store.groups import GroupPage, GroupStore
from crawler.store.health import Buckets, HealthStore, Latency, SiteHistory
from crawler.store.operator import OperatorStore
from crawler.store.outbox import OutboxStore, matches
from crawler.store.queries import query_clause
from crawler.store.records import (
    FILTER_KEYS,
    RUN_COUNTERS,
    CrawlRun,
    Delivery,
    Event,
    OperatorAlert,
    OutboxRow,
    ReleaseQuery,
    RunStats,
    StoredRelease,
    Subscriber,
    SubscriberSpec,
    Webhook,
    WebhookSpec,
)
from crawler.store.releases import ReleaseStore
from crawler.store.retention import RetentionStore
from crawler.store.runs import RunStore
from crawler.store.subscribers import SubscriberStore
from crawler.store.templates import TemplateStore
from crawler.store.validators import ValidatorStore
from crawler.store.webhooks import WebhookStore

__all__ = [
    "FILTER_KEYS",
    "RUN_COUNTERS",
    "Buckets",
    "CrawlRun",
    "Delivery",
    "Event",
    "GroupPage",
    "Latency",
    "OperatorAlert",
    "OutboxRow",
    "ReleaseQuery",
    "RunStats",
    "SiteHistory",
    "Store",
    "StoreBusyError",
    "StoreError",
    "StoredRelease",
    "Subscriber",
    "SubscriberSpec",
    "Webhook",
    "WebhookSpec",
    "matches",
    "query_clause",
]


class Store(
    ReleaseStore,
    OutboxStore,
    SubscriberStore,
    WebhookStore,
    OperatorStore,
    RunStore,
    ValidatorStore,
    TemplateStore,
    FailureStore,
    RetentionStore,
    HealthStore,
    GroupStore,
):
    """Every read and write of releases, events, alerts, operator alerts, runs, locks,
    failures, validators, templates."""
