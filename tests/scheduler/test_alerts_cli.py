"""`iomwatch subscribers ...` and `iomwatch webhooks ...` on a real store; webhooks posted to
the real receiver by the sender the service runs."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from crawler.items import Release
from crawler.store import ReleaseQuery, Store
from scheduler.alerting import open_sender, sync_targets
from scheduler.cli import main
from scheduler.config import ServiceConfig
from tests.feeds.alerts.receiver import serve
from tests.helpers import iomwatch

SECRET = "a plain-string secret of the receiver"


def config_file(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f'data_dir = "{tmp_path}"\n[database]\nurl = "sqlite:///{tmp_path / "iomwatch.db"}"\n'
        + extra,
        encoding="utf-8",
    )
    return path


def run(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> tuple[int, str, str]:
    code = main([*args, "--config", str(config)])
    out, err = capsys.readouterr()
    return code, out, err


def test_subscribers_add_list_remove(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = config_file(tmp_path)
    code, out, _ = run(
        capsys,
        config,
        "subscribers",
        "add",
        "analyst@example.org",
        "--mode",
        "daily",
        "--hour",
        "7",
        "--timezone",
        "Africa/Bamako",
        "--prefer",
        "FR",
        "--prefer",
        "en",
        "--country",
        "Mali",
        "--q",
        "réintégration",
    )
    assert code == 0 and "subscriber #1 added" in out and "daily at 07:00 Africa/Bamako" in out
    with Store(ServiceConfig.from_env(str(config), environ={}).database_url) as store:
        [sub] = store.subscribers()
    assert (sub.mode, sub.hour, sub.timezone, sub.languages) == (
        "daily",
        7,
        "Africa/Bamako",
        ("fr", "en"),
    )
    assert sub.filters == ReleaseQuery(country=("Mali",), q=("réintégration",))
    assert sub.source == "cli" and sub.active
    # the same address with the same filter: refused; another filter: a second subscription
    code, _, err = run(
        capsys,
        config,
        "subscribers",
        "add",
        "Analyst@Example.org",
        "--country",
        "Mali",
        "--q",
        "réintégration",
    )
    assert code == 1 and "already has this subscription (#1)" in err
    assert run(capsys, config, "subscribers", "add", "analyst@example.org")[0] == 0
    # the console script itself, as a user runs it
    listed = iomwatch("subscribers", "list", "--config", str(config))
    assert listed.returncode == 0, listed.stderr
    for text in ("analyst@example.org", "country=Mali", "fr, en", "instant", "active", "cli"):
        assert text in listed.stdout
    code, out, _ = run(capsys, config, "subscribers", "remove", "1")
    assert code == 0 and "removed" in out
    code, _, err = run(capsys, config, "subscribers", "remove", "1")
    assert code == 1 and "no subscriber #1" in err


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["nobody"], "EMAIL 'nobody': expected an e-mail address"),
        (["a@b.org\r\nBcc: x@y.org"], "expected an e-mail address"),
        (["a@b.org", "--hour", "24"], "hour 24: expected 0 to 23"),
        (["a@b.org", "--timezone", "Mars/Olympus"], "time zone 'Mars/Olympus': unknown"),
        (["a@b.org", "--prefer", "fr;en"], "--prefer 'fr;en': expected a language code"),
    ],
)
def test_subscribers_add_names_the_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], needle: str
) -> None:
    code, out, err = run(capsys, config_file(tmp_path), "subscribers", "add", *args)
    assert code == 2 and needle in err and not out
    assert "Traceback" not in err


def test_a_config_subscriber_is_removed_in_the_file_not_here(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = config_file(tmp_path, '[[subscriber]]\nemail = "ops@example.org"\n')
    loaded = ServiceConfig.from_env(str(config), environ={})
    with Store(loaded.database_url) as store:
        sync_targets(store, loaded)
    code, _, err = run(capsys, config, "subscribers", "remove", "1")
    assert code == 1 and "comes from the config file" in err


def save_release(store: Store, title: str) -> None:
    store.save_release(
        Release(
            url=f"https://mena.iom.int/news/{abs(hash(title))}",
            site="mena",
            lang="en",
            title=title,
            published=datetime.now(UTC),
            body_text=f"Cairo – {title}.",
        )
    )


async def service_pass(store: Store, config: ServiceConfig) -> None:
    """One pass of the sender `iomwatch run` runs."""
    async with open_sender(store, config, []) as sender:
        await sender.send_due()


def test_webhooks_list_log_replay_enable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with serve(SECRET, [500, 200, 200]) as receiver:
        config = config_file(
            tmp_path,
            f"[alerts]\nretry_initial_seconds = 0.1\nretry_max_seconds = 0.2\n"
            f'[[webhook]]\nurl = "{receiver.url}?token=do-not-print"\nsecret = "{SECRET}"\n',
        )
        loaded = ServiceConfig.from_env(str(config), environ={})
        with Store(loaded.database_url) as store:
            sync_targets(store, loaded)
            save_release(store, "Posted, then replayed")
            asyncio.run(service_pass(store, loaded))  # 500: retried
            asyncio.run(asyncio.sleep(0.25))
            asyncio.run(service_pass(store, loaded))  # 200
            [row] = store.outbox_rows(channel="webhook")
            assert row.state == "sent"

            code, out, _ = run(capsys, config, "webhooks", "list")
            assert code == 0 and "/hook?…" in out and "enabled" in out and "yes" in out
            assert "do-not-print" not in out and SECRET not in out
            code, out, _ = run(capsys, config, "webhooks", "log", "1")
            assert code == 0 and "500" in out and "retry" in out and "200" in out
            assert "do-not-print" not in out
            assert out.index("200") < out.index("500")  # newest first

            code, out, _ = run(capsys, config, "webhooks", "replay", str(row.id))
            assert code == 0 and "1 webhook deliveries queued again" in out
            assert store.outbox_rows(channel="webhook")[0].state == "pending"
            asyncio.run(service_pass(store, loaded))
            first, second, replayed = receiver.wait_for(3)
            assert first.headers["webhook-id"] == replayed.headers["webhook-id"]
            assert second.headers["webhook-id"] == replayed.headers["webhook-id"]
            assert replayed.verified and replayed.status == 200
            assert store.outbox_rows(channel="webhook")[0].state == "sent"

            store.disable_webhook(1, reason="the receiver answered 410 Gone", at=datetime.now(UTC))
            code, out, _ = run(capsys, config, "webhooks", "list")
            assert "disabled: the receiver answered 410 Gone" in out
            code, out, _ = run(capsys, config, "webhooks", "replay", str(row.id))
            assert code == 0 and "webhook #1 is disabled" in out
            code, out, _ = run(capsys, config, "webhooks", "enable", "1")
            assert code == 0 and "enabled" in out
            hook = store.get_webhook(1)
            assert hook is not None and hook.enabled and hook.consecutive_failures == 0


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["webhooks", "log", "7"], 1, "no webhook #7"),
        (["webhooks", "log", "1", "--limit", "0"], 2, "--limit 0: expected at least 1"),
        (["webhooks", "replay", "41", "42"], 1, "no outbox row 41, 42"),
        (["webhooks", "enable", "3"], 1, "no webhook #3"),
    ],
)
def test_webhooks_commands_name_what_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], code: int, needle: str
) -> None:
    got, _, err = run(capsys, config_file(tmp_path), *args)
    assert got == code and needle in err


def test_replay_refuses_a_mail_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = config_file(tmp_path, '[[subscriber]]\nemail = "a@example.org"\n')
    loaded = ServiceConfig.from_env(str(config), environ={})
    with Store(loaded.database_url) as store:
        sync_targets(store, loaded)
        save_release(store, "A mail, not a webhook")
        [row] = store.outbox_rows()
    code, _, err = run(capsys, config, "webhooks", "replay", str(row.id))
    assert code == 2 and "is not a webhook delivery (channel email)" in err


def test_an_id_must_be_a_positive_number(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["webhooks", "replay", "0"])
    assert info.value.code == 2
    assert "'0': expected a positive number" in capsys.readouterr().err
