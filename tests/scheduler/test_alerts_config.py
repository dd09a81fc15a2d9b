"""`[alerts]` and `[operator]`: each key set, and what it does observed; bad values refused.

backfill_window_hours crosses into the crawl's own process (Scrapy settings -> the crawl's
Store), so it is observed through real `iomwatch crawl` runs. The sender's keys are observed
on a real store with a mail server that refuses connections and a webhook port nothing
listens on; poll_seconds on the service's own sender loop.
"""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crawler.items import Release
from crawler.store import Store
from replica import ReplicaServer
from scheduler.alerting import alert_loop, open_sender, sync_targets
from scheduler.config import ServiceConfig
from scheduler.exceptions import ConfigError
from tests.helpers import iomwatch, write_config


def closed_port() -> int:
    """A loopback port nothing listens on (connections are refused at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def load(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> ServiceConfig:
    path = tmp_path / "config.toml"
    path.write_text(
        f'data_dir = "{tmp_path}"\n[database]\nurl = "sqlite:///{tmp_path / "iomwatch.db"}"\n'
        f"{text}",
        encoding="utf-8",
    )
    return ServiceConfig.from_env(str(path), environ=environ or {})


def test_the_defaults() -> None:
    alerts = ServiceConfig().alerts
    assert (alerts.retry_initial_seconds, alerts.retry_max_seconds) == (30, 3600)
    assert (alerts.backfill_window_hours, alerts.webhook_max_failures) == (24, 10)
    assert alerts.poll_seconds == 2
    assert ServiceConfig().operator.email == "" and ServiceConfig().operator.webhook == ""


def test_every_key_can_come_from_the_environment(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        "",
        {
            "IOMWATCH_ALERTS_POLL_SECONDS": "0.5",
            "IOMWATCH_ALERTS_WEBHOOK_MAX_FAILURES": "3",
            "IOMWATCH_OPERATOR_EMAIL": "ops@example.org",
            "IOMWATCH_OPERATOR_WEBHOOK": "https://ops.example.org/hook",
        },
    )
    assert config.alerts.poll_seconds == 0.5 and config.alerts.webhook_max_failures == 3
    assert config.operator.email == "ops@example.org"
    assert config.operator.webhook == "https://ops.example.org/hook"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[alerts]\npoll_seconds = 0\n", "[alerts].poll_seconds: must be at least 0.1"),
        ("[alerts]\nwebhook_max_failures = 0\n", "[alerts].webhook_max_failures: must be at"),
        ("[alerts]\nwebhook_max_failures = 2.5\n", "[alerts].webhook_max_failures: expected a"),
        ("[alerts]\nbackfill_window_hours = -1\n", "[alerts].backfill_window_hours: must be"),
        ("[alerts]\nretry_initial_seconds = 'soon'\n", "[alerts].retry_initial_seconds: expec"),
        ("[alerts]\nretry_after = 3\n", "[alerts]: unknown key(s) retry_after"),
        ("[operator]\nemail = 'ops'\n", "[operator].email: expected an e-mail address"),
        ('[operator]\nemail = "a@b.org\\r\\nBcc: x@y.org"\n', "[operator].email: expected"),
        ("[operator]\nwebhook = 'ops.example.org'\n", "[operator].webhook: expected an http(s)"),
        ("[operator]\npager = 'x'\n", "[operator]: unknown key(s) pager"),
        ("[smtp]\nfrom_addr = 'alerts'\n", "[smtp].from_addr: expected an e-mail address"),
        (
            "[[subscriber]]\nemail = 'a@b.org'\nlanguages = 'fr'\n",
            "[[subscriber]] #1.languages: expected",
        ),
    ],
)
def test_bad_values_are_refused_naming_the_key(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    assert f"{tmp_path / 'config.toml'}: {needle}" in str(info.value)


def test_a_config_subscriber_keeps_its_languages_in_order(tmp_path: Path) -> None:
    config = load(tmp_path, "[[subscriber]]\nemail = 'a@b.org'\nlanguages = ['fr', 'en']\n")
    with Store(config.database_url) as store:
        sync_targets(store, config)
        assert store.subscribers()[0].languages == ("fr", "en")


# -- backfill_window_hours: which releases of a site's first crawl are queued -----------------


def test_backfill_window_hours_bounds_what_a_first_crawl_alerts(tmp_path: Path) -> None:
    """The replica's releases are months old, one is published today. A first crawl with
    the default window (24 h) queues the one of today only; with 0 it queues nothing. (The
    mail server is down: the queued row stays, "failed", and the crawl still exits 0.)"""
    with ReplicaServer(["mena"]) as replica:
        fresh = replica.publish("mena", lang="en", title="Published this very day")
        sites = replica.write_sites_file(tmp_path / "sites.toml")
        queued = {}
        for window in ("24", "0"):
            db = tmp_path / f"window-{window}.db"
            config = write_config(
                tmp_path / f"config-{window}.toml",
                sites_file=sites,
                database_url=f"sqlite:///{db}",
                data_dir=tmp_path,
                extra=f"[smtp]\nhost = '127.0.0.1'\nport = {closed_port()}\n"
                '[[subscriber]]\nemail = "analyst@example.org"\n',
            )
            result = iomwatch(
                "crawl",
                "--config",
                str(config),
                env={"IOMWATCH_ALERTS_BACKFILL_WINDOW_HOURS": window},
            )
            assert result.returncode == 0, result.stderr[-2000:]
            with Store(f"sqlite:///{db}", migrate=False) as store:
                assert store.release_count() == len(replica.releases())
                queued[window] = [store.get_release(r.release_id) for r in store.outbox_rows()]
    assert [release.url for release in queued["24"] if release] == [fresh.url]
    assert queued["0"] == []


# -- the sender's keys --------------------------------------------------------------------------


def seed_alert(store: Store, config: ServiceConfig) -> None:
    """The config's targets, then one release of today (its alerts queued at once)."""
    sync_targets(store, config)
    store.save_release(
        Release(
            url="https://mena.iom.int/news/one-release",
            site="mena",
            lang="en",
            title="One release",
            published=datetime.now(UTC),
            body_text="Cairo – one release for the sender's keys.",
        )
    )


async def one_pass(store: Store, config: ServiceConfig, now: datetime) -> None:
    async with open_sender(store, config, []) as sender:
        await sender.send_due(now)


def test_retry_initial_and_max_seconds_set_the_next_attempt(tmp_path: Path) -> None:
    """First retry within [initial/2, initial]; the second would be 2 x initial, capped."""
    config = load(
        tmp_path,
        f"[smtp]\nhost = '127.0.0.1'\nport = {closed_port()}\n"
        "[alerts]\nretry_initial_seconds = 100\nretry_max_seconds = 120\n"
        "[[subscriber]]\nemail = 'analyst@example.org'\n",
    )
    with Store(config.database_url) as store:
        seed_alert(store, config)
        now = datetime.now(UTC)
        asyncio.run(one_pass(store, config, now))
        row = store.outbox_rows()[0]
        assert row.state == "failed" and "SMTPConnectError" in (row.last_error or "")
        first = (row.next_attempt_at - now).total_seconds()
        assert 50 <= first <= 100, first
        later = row.next_attempt_at + timedelta(seconds=1)
        asyncio.run(one_pass(store, config, later))
        row = store.outbox_rows()[0]
        second = (row.next_attempt_at - later).total_seconds()
        assert row.attempts == 2 and 60 <= second <= 120, second  # uncapped: 100 to 200


@pytest.mark.parametrize(("limit", "disabled_after"), [(2, 2), (10, None)])
def test_webhook_max_failures_disables_a_failing_webhook(
    tmp_path: Path, limit: int, disabled_after: int | None
) -> None:
    config = load(
        tmp_path,
        f"[alerts]\nwebhook_max_failures = {limit}\nretry_initial_seconds = 1\n"
        f"[[webhook]]\nurl = 'http://127.0.0.1:{closed_port()}/hook'\n",
    )
    with Store(config.database_url) as store:
        seed_alert(store, config)
        hook = store.webhooks()[0].id
        now = datetime.now(UTC)
        for attempt in range(1, 4):
            asyncio.run(one_pass(store, config, now))
            now += timedelta(seconds=10)  # past any retry
            state = store.get_webhook(hook)
            assert state is not None
            if disabled_after is not None and attempt >= disabled_after:
                assert not state.enabled, attempt
                assert f"{limit}" in (state.disabled_reason or "")
            else:
                assert state.enabled and state.consecutive_failures == attempt
        assert len(store.delivery_log(hook)) == min(3, disabled_after or 3)


# -- poll_seconds: the service's sender loop -----------------------------------------------------


async def passes_in(store: Store, config: ServiceConfig, seconds: float) -> int:
    async with open_sender(store, config, []) as sender:
        loop = alert_loop(sender, config)
        loop.start()
        await asyncio.sleep(seconds)
        await loop.stop()
        return loop.passes


@pytest.mark.parametrize(("poll", "least", "most"), [(0.2, 4, 8), (0.7, 2, 3)])
def test_poll_seconds_is_the_period_of_the_service_sender(
    tmp_path: Path, poll: float, least: int, most: int
) -> None:
    """Over 1.5 s, an idle loop passes once at start and then once per period."""
    config = load(tmp_path, f"[alerts]\npoll_seconds = {poll}\n")
    with Store(config.database_url) as store:
        passes = asyncio.run(passes_in(store, config, 1.5))
    assert least <= passes <= most, passes
