"""The configuration loader: the only place of the service that reads the environment.

Defaults <- TOML file (`--config` or IOMWATCH_CONFIG) <- environment (IOMWATCH_<SECTION>_<KEY>).
Unknown or invalid keys stop start-up with a message naming them.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crawler.settings import CrawlOptions
from crawler.store.records import FILTER_KEYS
from scheduler.exceptions import ConfigError


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
class SubscriberConfig:
    """One `[[subscriber]]`: validated at start-up; not used until alerts exist."""

    email: str
    mode: str = "instant"
    hour: int = 8
    timezone: str = "UTC"
    filters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class WebhookConfig:
    """One `[[webhook]]`: validated at start-up; not used until alerts exist."""

    url: str
    secret: str = field(default="", repr=False)
    filters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class ServiceConfig:
    sites_file: str = ""
    data_dir: str = "./data"
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    server: ServerConfig = field(default_factory=ServerConfig)
    crawl: CrawlConfig = field(default_factory=CrawlConfig)
    smtp: SmtpConfig = field(default_factory=SmtpConfig)
    subscribers: tuple[SubscriberConfig, ...] = ()
    webhooks: tuple[WebhookConfig, ...] = ()

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
        source = path or "defaults"
        _apply_env(raw, env)
        return _build(raw, source)


SECTIONS: dict[str, type] = {
    "database": DatabaseConfig,
    "server": ServerConfig,
    "crawl": CrawlConfig,
    "smtp": SmtpConfig,
}
TOP_LEVEL = {"sites_file", "data_dir"}
AT_LEAST_ONE = ("max_backfill_pages", "max_parallel")  # [crawl] keys where 0 means nothing runs
LISTS = {"subscriber", "webhook"}


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path}: not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: invalid TOML: {exc}") from None


def _apply_env(raw: dict[str, Any], env: Mapping[str, str]) -> None:
    """Overlay IOMWATCH_<SECTION>_<KEY> and IOMWATCH_<TOPKEY> on the raw TOML tree."""
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


def _coerce(value: Any, target: Any, where: str) -> Any:
    """Convert a TOML or environment value to the type of the dataclass default."""
    if isinstance(target, bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {
            "1",
            "true",
            "yes",
            "on",
            "0",
            "false",
            "no",
            "off",
        }:
            return value.lower() in {"1", "true", "yes", "on"}
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if isinstance(target, int | float):
        try:
            number = type(target)(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected a number, got {value!r}") from None
        if number < 0:
            raise ConfigError(f"{where}: must not be negative, got {value!r}")
        return number
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    return value


def _section(cls: type, raw: Mapping[str, Any], where: str) -> Any:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a table")
    defaults = cls()
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")
    values = {k: _coerce(v, getattr(defaults, k), f"{where}.{k}") for k, v in raw.items()}
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


def _subscriber(entry: Mapping[str, Any], where: str) -> SubscriberConfig:
    allowed = {"email", "mode", "hour", "timezone", *FILTER_KEYS}
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")
    email = entry.get("email")
    if not isinstance(email, str) or "@" not in email:
        raise ConfigError(f"{where}.email: expected an e-mail address, got {email!r}")
    mode = entry.get("mode", "instant")
    if mode not in {"instant", "daily", "weekly"}:
        raise ConfigError(f"{where}.mode: expected instant, daily or weekly, got {mode!r}")
    hour = entry.get("hour", 8)
    if not isinstance(hour, int) or not 0 <= hour <= 23:
        raise ConfigError(f"{where}.hour: expected an hour 0-23, got {hour!r}")
    tz = entry.get("timezone", "UTC")
    try:
        ZoneInfo(str(tz))
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{where}.timezone: unknown time zone {tz!r}") from None
    return SubscriberConfig(email, mode, hour, str(tz), _filters(entry, where))


def _webhook(entry: Mapping[str, Any], where: str) -> WebhookConfig:
    unknown = sorted(set(entry) - {"url", "secret", *FILTER_KEYS})
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")
    url = entry.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ConfigError(f"{where}.url: expected an http(s) URL, got {url!r}")
    return WebhookConfig(url, str(entry.get("secret", "")), _filters(entry, where))


def _build(raw: Mapping[str, Any], source: str) -> ServiceConfig:
    unknown = sorted(set(raw) - TOP_LEVEL - set(SECTIONS) - LISTS)
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {', '.join(unknown)}")
    kwargs: dict[str, Any] = {
        key: _coerce(raw[key], "", f"{source}: {key}") for key in TOP_LEVEL if key in raw
    }
    for name, cls in SECTIONS.items():
        kwargs[name] = _section(cls, raw.get(name, {}), f"{source}: [{name}]")
    subs = raw.get("subscriber", [])
    hooks = raw.get("webhook", [])
    kwargs["subscribers"] = tuple(
        _subscriber(e, f"{source}: [[subscriber]] #{i + 1}") for i, e in enumerate(subs)
    )
    kwargs["webhooks"] = tuple(
        _webhook(e, f"{source}: [[webhook]] #{i + 1}") for i, e in enumerate(hooks)
    )
    config = ServiceConfig(**kwargs)
    if config.smtp.security not in {"none", "starttls", "ssl"}:
        raise ConfigError(f"{source}: [smtp].security: expected none, starttls or ssl")
    for key in AT_LEAST_ONE:
        if getattr(config.crawl, key) < 1:
            raise ConfigError(f"{source}: [crawl].{key}: must be at least 1")
    if config.crawl.cron:
        _check_cron(config.crawl.cron, f"{source}: [crawl].cron")
    return config


def _check_cron(expression: str, where: str) -> None:
    """Refuse at start-up a crontab line the scheduler would refuse later."""
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(expression, timezone="UTC")
    except ValueError as exc:
        raise ConfigError(f"{where}: invalid crontab expression {expression!r}: {exc}") from None
