"""A text document as lines: the unit every text-mode rule (`crawler.boilerplate.text`) reads.

Lines are split with their own terminators and joined back verbatim, so a cleaned document
differs from its input only by the lines dropped. Rules compare lines by a key (whitespace
collapsed, case folded) and judge them by shape: short, a sentence, leaked markup.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

NEWLINE = re.compile(r"(\r\n|\n|\r)")
WHITESPACE = re.compile(r"\s+")
SENTENCE_END = (".", "!", "?", "؟", "。", ":", ";")
HTML_LEAK = re.compile(r'^\s*(?:"[^"\s]+"\s*$|[a-z][a-z-]*="[^"]*"|[a-z][a-z-]*=\s*$)')

SHORT_WORDS = 8  # a "short" line: at most this many words ...
SHORT_CHARS = 80  # ... and characters, and no sentence ending


def split_lines(text: str) -> list[tuple[str, str]]:
    """The text as (line, its own line terminator) pairs; the last terminator may be ''."""
    parts = NEWLINE.split(text)
    pairs = [(parts[i], parts[i + 1]) for i in range(0, len(parts) - 1, 2)]
    pairs.append((parts[-1], ""))
    if pairs[-1] == ("", "") and len(pairs) > 1:
        pairs.pop()
    return pairs


def join_kept(pairs: Sequence[tuple[str, str]], keep: Sequence[bool]) -> str:
    """Kept lines verbatim with their own terminators; no newline added at the very end."""
    out = "".join(line + end for (line, end), k in zip(pairs, keep, strict=True) if k)
    if pairs and not pairs[-1][1]:  # the input had no final newline: neither has the output
        out = _strip_final_newline(out)
    return out


def _strip_final_newline(text: str) -> str:
    if text.endswith("\r\n"):
        return text[:-2]
    if text.endswith(("\n", "\r")):
        return text[:-1]
    return text


def norm(line: str) -> str:
    """Comparison key of a line: whitespace collapsed, case folded."""
    return WHITESPACE.sub(" ", line).strip().casefold()


def words(key: str) -> int:
    return len(key.split())


def is_short(key: str) -> bool:
    return (
        bool(key)
        and words(key) <= SHORT_WORDS
        and len(key) <= SHORT_CHARS
        and not key.endswith(SENTENCE_END)
    )


def is_leak(key: str) -> bool:
    """A fragment of HTML markup that leaked into the text (attributes, a quoted URL)."""
    return bool(HTML_LEAK.match(key))
