"""The service's operator watch, built from `[operator]`: a site failing three crawls in a row
reaches the operator webhook once, signed with `webhook_secret`; its recovery once too."""

from __future__ import annotations

import asyncio
from pathlib import Path

from crawler.store import RunStats, Store
from scheduler.config import ServiceConfig
from scheduler.watch import OperatorWatch
from tests.feeds.alerts.receiver import serve

SECRET = "whsec_" + "b3BlcmF0b3Itc2VjcmV0LW9mLXRoZS10ZXN0cw=="


def _config(tmp_path: Path, url: str, secret: str) -> ServiceConfig:
    path = tmp_path / "config.toml"
    path.write_text(
        f'data_dir = "{tmp_path}"\n[operator]\nwebhook = "{url}"\nwebhook_secret = "{secret}"\n',
        encoding="utf-8",
    )
    return ServiceConfig.from_env(str(path), environ={})


def _runs(store: Store, site: str, statuses: list[str]) -> None:
    for status in statuses:
        run = store.start_run(site)
        reason = "site unreachable" if status == "failed" else None
        store.finish_run(run, RunStats(errors=status == "failed"), status=status, reason=reason)


def _watch(store: Store, config: ServiceConfig) -> None:
    from feeds.alerts.email import MailOrigin

    async def check() -> None:
        import httpx

        async with httpx.AsyncClient(timeout=5) as http:
            watch = OperatorWatch(
                store, config, http=http, mailer=None, origin=MailOrigin("a@b.org", "http://x")
            )
            watch.crawled("mali")
            await watch.stop()

    asyncio.run(check())


def test_operator_webhook_secret_signs_the_alert_and_the_recovery(tmp_path: Path) -> None:
    with serve(SECRET) as receiver:
        config = _config(tmp_path, receiver.url, SECRET)
        with Store(config.database_url) as store:
            _runs(store, "mali", ["ok", "failed", "failed", "failed"])
            _watch(store, config)
            _watch(store, config)  # checked again: nothing new to tell
            [alert] = receiver.wait_for(1)
            _runs(store, "mali", ["ok"])
            _watch(store, config)
            alert, recovery = receiver.wait_for(2)
    assert alert.verified and recovery.verified  # the library's own check, with our secret
    assert alert.payload["type"] == "operator.alert.raised"
    assert recovery.payload["type"] == "operator.alert.resolved"
    assert "mali" in str(alert.payload["data"])


def test_a_wrong_operator_webhook_secret_is_refused_by_the_receiver(tmp_path: Path) -> None:
    with serve(SECRET) as receiver:
        config = _config(tmp_path, receiver.url, "whsec_" + "d3Jvbmctc2VjcmV0LXdyb25nLXdyb25n")
        with Store(config.database_url) as store:
            _runs(store, "mali", ["failed", "failed", "failed"])
            _watch(store, config)
            [attempt] = receiver.wait_for(1)
    assert not attempt.verified and attempt.status == 401
