"""The dateline opening a release body: its place (`Bamako – …`, `Lima, 15 de julio de 2016.-`)."""

from __future__ import annotations

import re

from crawler.parsing.dates import DATELINE_HEAD, MONTH_RE, fold_date_text
from crawler.parsing.text import phrases

DATE_WORDS = re.compile(
    MONTH_RE + r"|\d|(?<![^\W\d_])(?:lundi|mardi|mercredi|jeudi|vendredi"
    r"|samedi|dimanche|monday|tuesday|wednesday|thursday|friday|saturday|sunday|lunes|martes"
    r"|miercoles|jueves|viernes|sabado|domingo|segunda|terca|quarta|quinta|sexta|yesterday|today"
    r"|hier|aujourd'hui|ayer|hoy|ontem|hoje)(?![^\W\d_])"
)
PLACE_CONNECTORS = frozenset(
    phrases("de|du|des|la|le|les|d'|l'|al|el|es|do|da|dos|das|del|los|las|y|e|et|au|aux|sur|en")
)
PLACE_JOINERS = frozenset(["/", "&", "-", "–"])
MAX_PLACE_WORDS = 7
NOT_PLACES = frozenset(["iom", "oim", "un", "onu", "the", "this", "a", "an", "it", "we", "in"])


def _place_like(part: str) -> bool:
    """True for a short run of capitalised words (or uncased script) without digits."""
    words = [w for w in part.split() if w not in PLACE_JOINERS]
    if not 1 <= len(words) <= MAX_PLACE_WORDS or len(part) > 60 or any(c.isdigit() for c in part):
        return False
    if words[0].lower() in NOT_PLACES or words[0].lower() in PLACE_CONNECTORS:
        return False
    for word in words:
        letters = [c for c in word if c.isalpha()]
        if not letters:
            return False
        if letters[0].islower() and word.lower() not in PLACE_CONNECTORS:
            return False
    return True


def parse_dateline(body_text: str) -> str | None:
    """The place of the dateline opening the body (`Bamako – …` -> `Bamako`), or None."""
    first = next((line.strip() for line in (body_text or "").splitlines() if line.strip()), "")
    m = DATELINE_HEAD.match(first[:200])
    if not m:
        return None
    places: list[str] = []
    for raw in re.split(r"[,،]", m.group(1)):
        part = " ".join(raw.split()).rstrip(".")
        if not places and not _place_like(part):
            return None
        if _place_like(part) and not DATE_WORDS.search(fold_date_text(part)):
            places.append(part)
            continue
        if not DATE_WORDS.search(fold_date_text(part)):
            return None
        break
    return ", ".join(places) or None
