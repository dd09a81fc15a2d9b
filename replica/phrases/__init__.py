"""Phrase banks of the replica, one module per language; all texts are written for the replica."""

from __future__ import annotations

from typing import Any

from replica.phrases import ar, en, es, fr, pt

BANKS: dict[str, dict[str, Any]] = {
    "en": en.PHRASES,
    "fr": fr.PHRASES,
    "es": es.PHRASES,
    "ar": ar.PHRASES,
    "pt": pt.PHRASES,
}


def bank(lang: str) -> dict[str, Any]:
    """The phrase bank of a language code (`pt-br` uses `pt`)."""
    return BANKS[lang.split("-")[0]]
