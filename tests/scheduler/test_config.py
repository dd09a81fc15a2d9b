from __future__ import annotations

from pathlib import Path

import pytest

from crawler.store import ReleaseQuery
from scheduler.config import ServiceConfig
from scheduler.exceptions import ConfigError


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_defaults_need_no_file() -> None:
    config = ServiceConfig.from_env(None, environ={})
    assert config.server.port == 8080
    assert config.database_url.startswith("sqlite:///")
    assert config.database_url.endswith("iomwatch.db")
    assert "iomwatch/" in config.crawl.user_agent and "+http" in config.crawl.user_agent


def test_file_then_environment_override(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[smtp]\nhost = "mail.example.org"\npassword = "file-secret"\n[crawl]\ninterval_minutes = 10\n'
        '[[subscriber]]\nemail = "a@example.org"\nmode = "daily"\ntimezone = "Africa/Bamako"\n'
        'country = ["Mali", "Niger"]\nq = "réintégration"\n',
    )
    env = {"IOMWATCH_SMTP_PASSWORD": "env-secret", "IOMWATCH_CRAWL_INTERVAL_MINUTES": "5"}
    config = ServiceConfig.from_env(path, environ=env)
    assert config.smtp.host == "mail.example.org"
    assert config.smtp.password == "env-secret"
    assert config.crawl.interval_minutes == 5.0
    sub = config.subscribers[0]
    assert sub.filters == ReleaseQuery(country=("Mali", "Niger"), q=("réintégration",))
    assert sub.mode == "daily"


def test_config_file_from_environment(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nport = 9999\n")
    assert ServiceConfig.from_env(None, environ={"IOMWATCH_CONFIG": path}).server.port == 9999


@pytest.mark.parametrize(
    ("text", "env", "needle"),
    [
        ("[smtp]\nhots = 'x'\n", {}, "[smtp]: unknown key(s) hots"),
        ("colour = 'red'\n", {}, "unknown key(s) colour"),
        ("[server]\nport = 'eighty'\n", {}, "[server].port: expected a number"),
        ("[smtp]\nsecurity = 'tls'\n", {}, "[smtp].security"),
        ("[[subscriber]]\nemail = 'nobody'\n", {}, "[[subscriber]] #1.email"),
        ("[[subscriber]]\nemail = 'a@b.org'\ntimezone = 'Mars/Base'\n", {}, "unknown time zone"),
        ("[[webhook]]\nurl = 'ftp://x'\n", {}, "[[webhook]] #1.url"),
        ("", {"IOMWATCH_NOPE_KEY": "1"}, "IOMWATCH_NOPE_KEY"),
        ("[crawl]\nmax_backfill_pages = 0\n", {}, "max_backfill_pages"),
        ("[crawl]\nmax_parallel = 0\n", {}, "[crawl].max_parallel: must be at least 1"),
        ("[crawl]\ncron = '*/5 * * *'\n", {}, "[crawl].cron: invalid crontab expression"),
        ("not toml ===", {}, "invalid TOML"),
    ],
)
def test_invalid_config_names_the_key(
    tmp_path: Path, text: str, env: dict[str, str], needle: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        ServiceConfig.from_env(path, environ=env)
    assert needle in str(info.value)
    assert str(path) in str(info.value) or "IOMWATCH_" in needle


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nowhere\.toml: not found"):
        ServiceConfig.from_env(str(tmp_path / "nowhere.toml"), environ={})


def test_secrets_are_not_in_repr(tmp_path: Path) -> None:
    config = ServiceConfig.from_env(None, environ={"IOMWATCH_SMTP_PASSWORD": "hunter2"})
    assert config.smtp.password == "hunter2"
    assert "hunter2" not in repr(config)
    hooked = ServiceConfig.from_env(
        None, environ={"IOMWATCH_DATABASE_URL": "postgresql://u:pw123@h/d"}
    )
    assert "pw123" not in repr(hooked)
