"""Small text helpers: numbers, contractions, title case, slugs (with Arabic transliteration)."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

from replica.dates import base_lang

CONTRACTIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "fr": (
        (r"\bde le\b", "du"), (r"\bde les\b", "des"), (r"\bà le\b", "au"),
        (r"\b([dD])e (?=[aeiouéèêâîôûAEIOUÉ])", r"\1'"), (r"\b([lL])a (?=[aeiouéèêâîôûAEIOUÉ])", r"\1'"),
    ),
    "es": ((r"\bde el\b", "del"), (r"\ba el\b", "al")),
    "pt": (
        (r"\bde o\b", "do"), (r"\bde a\b", "da"), (r"\bpor o\b", "pelo"),
        (r"\bpor a\b", "pela"), (r"\bem o\b", "no"), (r"\bem a\b", "na"),
        (r"\ba a\b", "à"), (r"\ba o\b", "ao"),
    ),
}  # fmt: skip
SMALL_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "as",
        "at",
        "but",
        "by",
        "for",
        "in",
        "of",
        "on",
        "or",
        "the",
        "to",
        "with",
        "per",
    ]
)
ARABIC_LATIN = {
    "ا": "a", "أ": "a", "إ": "a", "آ": "a", "ب": "b", "ت": "t", "ث": "th", "ج": "j",
    "ح": "h", "خ": "kh", "د": "d", "ذ": "dh", "ر": "r", "ز": "z", "س": "s", "ش": "sh",
    "ص": "s", "ض": "d", "ط": "t", "ظ": "z", "ع": "", "غ": "gh", "ف": "f", "ق": "q",
    "ك": "k", "ل": "l", "م": "m", "ن": "n", "ه": "h", "و": "w", "ي": "y", "ى": "a",
    "ة": "t", "ء": "", "ؤ": "w", "ئ": "y", "ـ": "",
}  # fmt: skip


def fmt_num(n: int, lang: str) -> str:
    """1200 -> `1,200` (en), `1 200` (fr), `1.200` (es, pt), `1200` (ar)."""
    grouped = f"{n:,}"
    sep = {"en": ",", "fr": " ", "es": ".", "pt": ".", "ar": ""}[base_lang(lang)]
    return grouped.replace(",", sep) if n >= 10000 or base_lang(lang) == "en" else str(n)


def contract(text: str, lang: str) -> str:
    """Apply the article contractions of a language (`de le` -> `du`)."""
    for pattern, repl in CONTRACTIONS.get(base_lang(lang), ()):
        text = re.sub(pattern, repl, text)
    return text


def title_case(text: str) -> str:
    """English headline case, leaving small words and existing capitals alone."""
    words = text.split(" ")
    out = []
    for i, word in enumerate(words):
        keep = i > 0 and word in SMALL_WORDS
        out.append(word if keep or not word[:1].islower() else word[:1].upper() + word[1:])
    return " ".join(out)


def capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]


def slugify(text: str, *, keep_apostrophe: bool = False, max_words: int = 12) -> str:
    """A Drupal pathauto-like slug; Arabic is transliterated to Latin letters."""
    text = "".join(ARABIC_LATIN.get(ch, ch) for ch in text.lower())
    words: list[str] = []
    for raw in text.split():
        word = unicodedata.normalize("NFKD", raw)
        word = "".join(c for c in word if not unicodedata.combining(c))
        allowed = [
            c for c in word if (c.isascii() and c.isalnum()) or (keep_apostrophe and c == "’")
        ]
        if allowed:
            words.append("".join(allowed))
    return "-".join(words[:max_words]) or "node"


def quote_path(path: str) -> str:
    """Percent-encode a path the way a browser sends it (`’` -> `%E2%80%99`)."""
    return quote(path, safe="/-_.~")
