"""The configuration loader: the only place of the service that reads the environment.

Defaults <- TOML file (`--config` or IOMWATCH_CONFIG) <- environment (IOMWATCH_<SECTION>_<KEY>).
Unknown or invalid keys stop start-up with a message naming them: the file (or the environment
variable) the value came from, the section and the key. Every number has bounds (BOUNDS;
values are typed and bounded in `config_values`).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from email.utils import parseaddr
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crawler.settings import CrawlOptions
from crawler.store.records import FILTER_KEYS, ReleaseQuery, SubscriberSpec, WebhookSpec
from scheduler.config_values import BOUNDS, check_bounds, coerce_value
from scheduler.exceptions import ConfigError

__all__ = [
    "BOUNDS",
    "LISTS",
    "ROLES",
    "SECTIONS",
    "TOP_LEVEL",
    "AlertsConfig",
    "CrawlConfig",
    "DatabaseConfig",
    "OperatorConfig",
    "ServerConfig",
    "ServiceConfig",
    "SmtpConfig",
    "is_address",
]

# The processes of a deployment (scheduler/roles.py; `iomwatch run --role`).
ROLES = ("all", "web", "scheduler", "worker")


@dataclass(frozen=True)
class DatabaseConfig:
    """`[database]`: the store; empty means SQLite in `data_dir`."""

    url: str = field(default="", repr=False)  # may carry a password


@dataclass(frozen=True)
class ServerConfig:
    """`[server]`: where `iomwatch run` listens, and the public address written into links.

    `base_url` may differ from host:port (behind a proxy): every link the service writes
    (feeds, pages, OPML, API, the WebSub topic) starts with it. `websub_hub`, when set, is
    advertised in the feeds and pinged by each crawl that stored a new or updated release.
    """

    host: str = "127.0.0.1"
    port: int = 8080
    base_url: str = "http://localhost:8080"
    websub_hub: str = ""


@dataclass(frozen=True)
class CrawlConfig(CrawlOptions):
    """`[crawl]`: the crawl's own options (CrawlOptions, handed to Scrapy) and its schedule."""

    interval_minutes: float = 30.0
    jitter_seconds: int = 120
    cron: str = ""
    stop_grace_seconds: int = 10
    max_parallel: int = 2
    retention_days: int = 180  # crawl runs and events older than this are pruned; 0: keep all
    # The long-lived crawl worker retires after this many crawls, or above this resident
    # memory, and a fresh one takes over (like Celery's max-tasks-per-child).
    worker_max_crawls: int = 200
    worker_max_memory_mb: int = 120
    # A failing site is retried after interval x 2^(failures-1), at most this long.
    backoff_max_minutes: float = 360.0


@dataclass(frozen=True)
class SmtpConfig:
    """`[smtp]`: validated at start-up; nothing sends mail yet (the alerts issue does)."""

    host: str = "localhost"
    port: int = 25
    security: str = "none"
    username: str = ""
    password: str = field(default="", repr=False)  # secrets never reach logs
    from_addr: str = "alerts@example.org"
    timeout_seconds: int = 30


@dataclass(frozen=True)
class AlertsConfig:
    """`[alerts]`: how the outbox is sent (feeds.alerts.sender.AlertSettings takes these)."""

    retry_initial_seconds: float = 30.0  # first retry of a failed mail or webhook delivery
    retry_max_seconds: float = 3600.0  # backoff cap (exponential, with jitter), the first too
    backfill_window_hours: float = 24.0  # a site's first crawl alerts only releases this recent
    webhook_max_failures: int = 10  # failed deliveries in a row that disable a webhook
    poll_seconds: float = 2.0  # the service's sender looks for due alerts this often
    # A claim's lease: a row a killed sender left unmarked is sent again this much later (the
    # crash window's bound). Below twice the SMTP timeout, a slow send may outlive its lease.
    lease_seconds: float = 300.0


@dataclass(frozen=True)
class OperatorConfig:
    """`[operator]`: the health channel, never mixed into the content feeds.

    Operator alerts (a site failing, yielding nothing, losing a field, a webhook disabled) are
    stored, logged, served at /operator.atom, and sent to `email` and/or `webhook` (signed
    with `webhook_secret`, Standard Webhooks, like content webhooks) when set.
    """

    email: str = ""
    webhook: str = ""
    webhook_secret: str = field(default="", repr=False)  # secrets never reach logs


@dataclass(frozen=True)
class ServiceConfig:
    sites_file: str = ""
    data_dir: str = "./data"
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    server: ServerConfig = field(default_factory=ServerConfig)
    crawl: CrawlConfig = field(default_factory=CrawlConfig)
    smtp: SmtpConfig = field(default_factory=SmtpConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    operator: OperatorConfig = field(default_factory=OperatorConfig)
    subscribers: tuple[SubscriberSpec, ...] = ()  # the store's own value objects
    webhooks: tuple[WebhookSpec, ...] = ()

    @property
    def database_url(self) -> str:
        """The database URL; SQLite in data_dir unless one is configured."""
        if self.database.url:
            return self.database.url
        return f"sqlite:///{Path(self.data_dir) / 'iomwatch.db'}"

    @classmethod
    def from_env(
        cls, path: str | None = None, environ: Mapping[str, str] | None = None
    ) -> ServiceConfig:
        """Load defaults, then the TOML file, then IOMWATCH_* environment overrides."""
        env = os.environ if environ is None else environ
        path = path or env.get("IOMWATCH_CONFIG") or None
        raw: dict[str, Any] = _read_toml(Path(path)) if path else {}
        source = _Source(path or "defaults", _apply_env(raw, env))
        return _build(raw, source)


SECTIONS: dict[str, type] = {
    "database": DatabaseConfig,
    "server": ServerConfig,
    "crawl": CrawlConfig,
    "smtp": SmtpConfig,
    "alerts": AlertsConfig,
    "operator": OperatorConfig,
}
TOP_LEVEL = {"sites_file", "data_dir"}
LISTS = {"subscriber", "webhook"}


@dataclass(frozen=True)
class _Source:
    """Where the values came from: the file (or the defaults), or an environment variable."""

    name: str
    env: Mapping[str, str] = field(default_factory=dict)  # "section.key" -> variable name

    def of(self, section: str, key: str) -> str:
        """`<file>: [section].key`, or `environment IOMWATCH_…: [section].key`."""
        variable = self.env.get(f"{section}.{key}")
        origin = f"environment {variable}" if variable else self.name
        return f"{origin}: [{section}].{key}"


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path}: not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: invalid TOML: {exc}") from None


def _apply_env(raw: dict[str, Any], env: Mapping[str, str]) -> dict[str, str]:
    """Overlay IOMWATCH_<SECTION>_<KEY> and IOMWATCH_<TOPKEY> on the raw TOML tree.

    Returns the variable that set each "section.key", so that an error names it.
    """
    origins: dict[str, str] = {}
    for name, value in env.items():
        if not name.startswith("IOMWATCH_") or name == "IOMWATCH_CONFIG":
            continue
        if name.startswith("IOMWATCH_TEST_"):
            continue  # the test suite's own knobs, not service configuration
        key = name.removeprefix("IOMWATCH_").lower()
        if key in TOP_LEVEL:
            raw[key] = value
            continue
        section, _, sub = key.partition("_")
        if section not in SECTIONS or not sub:
            raise ConfigError(f"environment variable {name}: unknown configuration key")
        raw.setdefault(section, {})[sub] = value
        origins[f"{section}.{sub}"] = name
    return origins


def _section(cls: type, raw: Mapping[str, Any], name: str, source: _Source) -> Any:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source.name}: [{name}]: expected a table")
    defaults = cls()
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"{source.name}: [{name}]: unknown key(s) {', '.join(unknown)}")
    values = {}
    for key, value in raw.items():
        where = source.of(name, key)
        values[key] = coerce_value(value, getattr(defaults, key), where)
        check_bounds(f"{name}.{key}", values[key], where)
    return replace(defaults, **values)


def _filters(entry: Mapping[str, Any], where: str) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for key in FILTER_KEYS:
        if key in entry:
            value = entry[key]
            items = [value] if isinstance(value, str) else value
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                raise ConfigError(f"{where}.{key}: expected a string or a list of strings")
            out[key] = tuple(items)
    return out


def _subscriber(entry: Mapping[str, Any], where: str) -> SubscriberSpec:
    allowed = {"email", "mode", "hour", "timezone", "languages", *FILTER_KEYS}
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")
    email = entry.get("email")
    if not isinstance(email, str) or not is_address(email):
        raise ConfigError(f"{where}.email: expected an e-mail address, got {email!r}")
    mode = entry.get("mode", "instant")
    if mode not in {"instant", "daily", "weekly"}:
        raise ConfigError(f"{where}.mode: expected instant, daily or weekly, got {mode!r}")
    hour = entry.get("hour", 8)
    if isinstance(hour, bool) or not isinstance(hour, int) or not 0 <= hour <= 23:
        raise ConfigError(f"{where}.hour: expected an hour 0-23, got {hour!r}")
    tz = entry.get("timezone", "UTC")
    try:
        ZoneInfo(str(tz))
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{where}.timezone: unknown time zone {tz!r}") from None
    languages = entry.get("languages", [])
    if not isinstance(languages, list) or not all(
        isinstance(lang, str) and lang.strip() for lang in languages
    ):
        raise ConfigError(
            f"{where}.languages: expected a list of language codes, got {languages!r}"
        )
    filters = ReleaseQuery.from_mapping(_filters(entry, where))
    return SubscriberSpec(email, mode, hour, str(tz), tuple(languages), filters=filters)


def _webhook(entry: Mapping[str, Any], where: str) -> WebhookSpec:
    unknown = sorted(set(entry) - {"url", "secret", *FILTER_KEYS})
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")
    url = entry.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ConfigError(f"{where}.url: expected an http(s) URL, got {url!r}")
    filters = ReleaseQuery.from_mapping(_filters(entry, where))
    return WebhookSpec(url, str(entry.get("secret", "")), filters)


def _build(raw: Mapping[str, Any], source: _Source) -> ServiceConfig:
    unknown = sorted(set(raw) - TOP_LEVEL - set(SECTIONS) - LISTS)
    if unknown:
        raise ConfigError(f"{source.name}: unknown key(s) {', '.join(unknown)}")
    kwargs: dict[str, Any] = {
        key: coerce_value(raw[key], "", f"{source.name}: {key}") for key in TOP_LEVEL if key in raw
    }
    for name, cls in SECTIONS.items():
        kwargs[name] = _section(cls, raw.get(name, {}), name, source)
    subs = raw.get("subscriber", [])
    hooks = raw.get("webhook", [])
    kwargs["subscribers"] = tuple(
        _subscriber(e, f"{source.name}: [[subscriber]] #{i + 1}") for i, e in enumerate(subs)
    )
    kwargs["webhooks"] = tuple(
        _webhook(e, f"{source.name}: [[webhook]] #{i + 1}") for i, e in enumerate(hooks)
    )
    config = ServiceConfig(**kwargs)
    if config.smtp.security not in {"none", "starttls", "ssl"}:
        raise ConfigError(f"{source.of('smtp', 'security')}: expected none, starttls or ssl")
    _check_text(config, source)
    _check_alerts(config, source)
    if config.crawl.cron:
        _check_cron(config.crawl.cron, source.of("crawl", "cron"))
    return config


def _check_text(config: ServiceConfig, source: _Source) -> None:
    """Strings a request or a link is built from: no empty User-Agent, no header injection."""
    agent = config.crawl.user_agent
    if not agent.strip():
        raise ConfigError(f"{source.of('crawl', 'user_agent')}: must not be empty")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in agent):
        raise ConfigError(f"{source.of('crawl', 'user_agent')}: control character in {agent!r}")
    for key in ("base_url", "websub_hub"):
        url = getattr(config.server, key)
        if (url or key == "base_url") and not url.startswith(("http://", "https://")):
            raise ConfigError(f"{source.of('server', key)}: expected an http(s) URL, got {url!r}")


def _check_alerts(config: ServiceConfig, source: _Source) -> None:
    """Addresses mail is sent from or to, refused before anything is sent."""
    addresses = (
        ("smtp", "from_addr", config.smtp.from_addr),
        ("operator", "email", config.operator.email),
    )
    for section, key, value in addresses:
        if (value or key == "from_addr") and not is_address(value):
            raise ConfigError(
                f"{source.of(section, key)}: expected an e-mail address, got {value!r}"
            )
    hook = config.operator.webhook
    if hook and (not hook.startswith(("http://", "https://")) or _has_control(hook)):
        raise ConfigError(
            f"{source.of('operator', 'webhook')}: expected an http(s) URL, got {hook!r}"
        )


def _has_control(text: str) -> bool:
    return any(ord(ch) < 32 or ord(ch) == 127 for ch in text)


def is_address(text: str) -> bool:
    """Something with a local part and a domain, and no line break to inject a header with."""
    local, at, domain = parseaddr(text)[1].rpartition("@")
    return bool(local and at and domain) and not _has_control(text)


def _check_cron(expression: str, where: str) -> None:
    """Refuse at start-up a crontab line the scheduler would refuse later."""
    from apscheduler.triggers.cron import CronTrigger

    try:
        trigger = CronTrigger.from_crontab(expression, timezone=UTC)
    except ValueError as exc:
        raise ConfigError(f"{where}: invalid crontab expression {expression!r}: {exc}") from None
    if trigger.get_next_fire_time(None, datetime.now(UTC)) is None:  # e.g. "0 0 31 2 *"
        raise ConfigError(f"{where}: crontab expression {expression!r} never fires")
