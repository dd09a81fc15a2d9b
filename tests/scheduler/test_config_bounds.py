"""Every numeric key has bounds; a value outside them, NaN or infinity stops start-up naming it.

Each case is tried from the TOML file and from the environment: the message names where the
value came from (the file, or the variable) and `[section].key`.
"""

from __future__ import annotations

import math
from dataclasses import fields
from pathlib import Path

import pytest

from scheduler.config import BOUNDS, SECTIONS, ServiceConfig
from scheduler.exceptions import ConfigError


def numeric_keys() -> list[tuple[str, str, bool]]:
    """(section, key, whole) of every int or float key of every section."""
    keys = []
    for section, cls in SECTIONS.items():
        defaults = cls()
        for f in fields(cls):
            value = getattr(defaults, f.name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                keys.append((section, f.name, isinstance(value, int)))
    return keys


NUMERIC = numeric_keys()


def out_of_bounds(key: str, whole: bool) -> dict[str, float]:
    least, most = BOUNDS[key]
    below = least - 1 if whole or least == 0 else least / 2
    return {"below": below, "above": most + 1, "nan": math.nan, "inf": math.inf}


CASES = [
    pytest.param(section, key, value, id=f"{section}.{key}-{kind}")
    for section, key, whole in NUMERIC
    for kind, value in out_of_bounds(f"{section}.{key}", whole).items()
]


def toml_number(value: float) -> str:
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf"
    return repr(int(value)) if float(value).is_integer() else repr(value)


def test_every_numeric_key_has_bounds() -> None:
    assert {f"{section}.{key}" for section, key, _ in NUMERIC} == set(BOUNDS)


def test_the_defaults_are_within_the_bounds() -> None:
    config = ServiceConfig()
    for section, key, _ in NUMERIC:
        least, most = BOUNDS[f"{section}.{key}"]
        assert least <= getattr(getattr(config, section), key) <= most, f"{section}.{key}"


@pytest.mark.parametrize(("section", "key", "value"), CASES)
def test_out_of_bounds_in_the_file(tmp_path: Path, section: str, key: str, value: float) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f"[{section}]\n{key} = {toml_number(value)}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        ServiceConfig.from_env(str(path), environ={})
    assert f"{path}: [{section}].{key}: " in str(info.value)


@pytest.mark.parametrize(("section", "key", "value"), CASES)
def test_out_of_bounds_in_the_environment(section: str, key: str, value: float) -> None:
    variable = f"IOMWATCH_{section.upper()}_{key.upper()}"
    with pytest.raises(ConfigError) as info:
        ServiceConfig.from_env(None, environ={variable: toml_number(value)})
    assert f"environment {variable}: [{section}].{key}: " in str(info.value)


@pytest.mark.parametrize(("section", "key", "whole"), NUMERIC)
def test_the_bounds_themselves_are_accepted(section: str, key: str, whole: bool) -> None:
    variable = f"IOMWATCH_{section.upper()}_{key.upper()}"
    for bound in BOUNDS[f"{section}.{key}"]:
        config = ServiceConfig.from_env(None, environ={variable: toml_number(bound)})
        assert getattr(getattr(config, section), key) == bound


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[crawl]\ninterval_minutes = 0\n", "[crawl].interval_minutes: must be at least 0.01"),
        ("[crawl]\ntimeout_seconds = 0\n", "[crawl].timeout_seconds: must be at least 1"),
        ("[server]\nport = 99999\n", "[server].port: must be at most 65535"),
        ("[server]\nport = 80.5\n", "[server].port: expected a whole number"),
        (f"[server]\nport = {'9' * 400}\n", "[server].port: expected a finite number"),
        ("[server]\nport = true\n", "[server].port: expected a number"),
        ("[crawl]\nuser_agent = ''\n", "[crawl].user_agent: must not be empty"),
        ("[crawl]\nuser_agent = '   '\n", "[crawl].user_agent: must not be empty"),
        ('[crawl]\nuser_agent = "bot\\r\\nX-Evil: 1"\n', "[crawl].user_agent: control character"),
        ("[server]\nbase_url = 'localhost:8080'\n", "[server].base_url: expected an http(s) URL"),
        ("[server]\nwebsub_hub = 'hub.example'\n", "[server].websub_hub: expected an http(s)"),
        ("[[subscriber]]\nemail = 'a@b.org'\nhour = true\n", "[[subscriber]] #1.hour: expected"),
        ("[crawl]\ncron = '0 0 31 2 *'\n", "[crawl].cron: crontab expression '0 0 31 2 *' never"),
    ],
)
def test_bad_values_name_the_file_section_and_key(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        ServiceConfig.from_env(str(path), environ={})
    assert f"{path}: {needle}" in str(info.value)


def test_the_cli_reports_a_bad_value_without_a_traceback(tmp_path: Path) -> None:
    from tests.helpers import iomwatch

    path = tmp_path / "config.toml"
    path.write_text("[crawl]\ninterval_minutes = nan\n", encoding="utf-8")
    result = iomwatch("status", "--config", str(path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{path}: [crawl].interval_minutes: expected a finite number" in result.stderr
