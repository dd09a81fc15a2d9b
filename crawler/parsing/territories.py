"""CLDR's localised territory names (the countries' names in five languages), as a snapshot of
what the installed Babel says, kept in `territories.json` beside this module.

Why a snapshot: Babel loads a whole locale to answer `Locale(...).territories` (calendars,
units, every name), ~2 MB resident each, ~10 MB for the five, and a long-lived process keeps
it (freed, it stays in Python's heap). The service needs the names for the `country` filter
vocabulary and the crawl worker for tagging; the snapshot is ~30 KB. Babel stays the source:
a test compares the snapshot with it, and after a Babel upgrade one command rewrites it:

    python -m crawler.parsing.territories
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path

SNAPSHOT = Path(__file__).with_name("territories.json")
LOCALES = ("en", "fr", "es", "pt", "ar")


def from_babel() -> dict[str, dict[str, str]]:
    """Each locale's names of the two-letter territories, from Babel (loads every locale)."""
    from babel import Locale

    return {
        lang: {
            code: str(name)
            for code, name in sorted(Locale.parse(lang).territories.items())
            if len(code) == 2 and code.isalpha()
        }
        for lang in LOCALES
    }


@functools.cache
def territory_names() -> Mapping[str, Mapping[str, str]]:
    """Locale -> territory code -> its name there, from the snapshot (read once per process)."""
    names: dict[str, dict[str, str]] = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    return names


def write_snapshot(path: Path = SNAPSHOT) -> None:
    path.write_text(
        json.dumps(from_babel(), ensure_ascii=False, indent=0, sort_keys=True) + "\n",
        encoding="utf-8",
    )


if __name__ == "__main__":
    write_snapshot()
    print(f"wrote {SNAPSHOT}")
