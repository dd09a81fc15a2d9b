"""Text mode of the boilerplate remover: lines of one site's documents in, kept lines out.

Two sources of evidence, neither a list of menu strings:

* repetition across the site's documents (near-duplicate documents, such as two snapshots
  of one release, count once), and
* the structure of each document: a menu block at the top (bare ``-`` lines, ``- item``
  lines, items printed twice in a row, a description glued to its item name), lone tokens
  and short-line widgets above the content, leaked HTML attributes.

Repeated lines above the first real content line are template; below it only short
link-like lines are (a repeated media-contact sentence at the end of a release stays).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from itertools import pairwise, takewhile

from crawler.boilerplate.lines import (
    SENTENCE_END,
    is_leak,
    is_short,
    join_kept,
    norm,
    split_lines,
    words,
)

# split_lines and norm are read from here too (tests, bench): the text mode's public face
__all__ = ["Corpus", "Family", "classify", "clean_text_corpus", "menu_block", "norm", "split_lines"]

DIGIT = re.compile(r"\d")
SEGMENT_SPLIT = re.compile(r"\s*\|\s*")
YEAR = re.compile(r"\b(?:19|20)\d\d\b|\b\d{1,2}/\d{1,2}/\d{2,4}\b")
BULLET = re.compile(r"^[•·▪◦*]\s")
DATELINE_LEAD = re.compile(r"^[^\W\d][^.!?\d]{1,40}?\s[-–—]\s")  # "Place – " opening a teaser
QUESTION_THEN_ACTION = re.compile(r"^[^?]{3,60}[?؟]\s+(?P<action>[^?.!]{2,30})$")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")

MENU_MIN_STRONG = 4  # strong menu lines needed before a top block is called a menu
MENU_MAX_WEAK_RUN = 3  # short lines allowed between two strong menu lines
ITEM_WORDS = 14  # a "- item" menu line has at most this many words
TEASER_WORDS = 15  # a line this long is a teaser, not a title (listing rows)
ANCHOR_WORDS = 6  # the first unrepeated line this long starts the content
UI_WORDS = 4  # repeated lines this short below the content start are links/buttons
LINK_LIST_WORDS = 3  # a bulleted entry this short above the content is a link (a switcher)
WIDGET_MIN_LINES = 4  # a figures widget: this many short lines in one paragraph ...
WIDGET_MAX_WORDS = 7  # ... each at most this long, half of them carrying digits
NEAR_DUP_SHARE = 0.6  # share of long lines two documents must have in common to count once
NEAR_DUP_MIN_CHARS = 30
FAMILY_MIN_SITES = 2  # a line on this many other sites of the family is the family's chrome


def glued(prev: str, key: str) -> bool:
    """`key` is a menu description glued to the item name on the previous line ("AboutThe ...")."""
    if len(prev) < 2 or len(key) <= len(prev) + 20 or not key.startswith(prev):
        return False
    return not key[len(prev)].isspace()


def _paired(keys: Sequence[str], i: int) -> bool:
    k = keys[i]
    if not is_short(k) or words(k) > 6:
        return False
    return (i > 0 and keys[i - 1] == k) or (i + 1 < len(keys) and keys[i + 1] == k)


def menu_kind(keys: Sequence[str], i: int) -> str:
    """'strong' (menu evidence), 'weak' (short line), 'blank' or 'other' for line i."""
    k = keys[i]
    if not k:
        return "blank"
    if k == "-" or _menu_item(k) or _paired(keys, i):
        return "strong"
    if i > 0 and glued(keys[i - 1], k):
        return "glued"
    return "weak" if is_short(k) else "other"


def _menu_item(key: str) -> bool:
    """A ``- item`` line: a dash, then a few words that are no sentence."""
    return key.startswith("- ") and words(key) <= ITEM_WORDS and not key.endswith((".", ";"))


def _closes_block(keys: Sequence[str], i: int) -> bool:
    return i < len(keys) and is_short(keys[i]) and (i + 1 == len(keys) or not keys[i + 1])


def _bridge(keys: Sequence[str], i: int) -> bool:
    """A lone long line inside a menu (a description on its own line) followed by a pair."""
    return i + 2 < len(keys) and keys[i + 1] == keys[i + 2] and is_short(keys[i + 1])


def menu_block(keys: Sequence[str]) -> tuple[int, int]:
    """[start, end) of the navigation menu block at the top of a document, or (0, 0)."""
    start = next((i for i, k in enumerate(keys) if k), len(keys))
    last, weak_run, strong, glue, pairs, dashes = -1, 0, 0, 0, 0, 0
    for i in range(start, len(keys)):
        kind = menu_kind(keys, i)
        if kind in ("strong", "glued"):
            last, weak_run, strong = i, 0, strong + 1
            glue += kind == "glued"
            pairs += _paired(keys, i)
            dashes += keys[i] == "-"
            continue
        if kind == "weak" or (kind == "other" and _bridge(keys, i)):
            weak_run += 1
            if weak_run <= MENU_MAX_WEAK_RUN:
                continue
        break
    if strong >= MENU_MIN_STRONG and (glue or pairs >= 4 or dashes >= 3):
        if keys[last] == "-" and _closes_block(keys, last + 1):
            last += 1  # a menu ending on a bare dash: the item after it is the last entry
        return start, last + 1
    return 0, 0


class Family:
    """Short lines that repeat across the sites of one family, learned from their documents.

    A new site's first page has no history of its own; a label the family's other sites all
    print outside their menus (a language switcher, "share" and feed labels, a widget heading)
    is evidence that the line is chrome here too. Learned, never listed. Menu items are left
    out (a menu's "What we do" may be a page's own heading elsewhere), and so are long lines
    (two sites may carry the same release).
    """

    def __init__(self, sites: Sequence[Sequence[str]] = ()) -> None:
        on_sites: Counter[str] = Counter()
        for docs in sites:
            site: set[str] = set()
            for doc in docs:
                keys = [norm(line) for line, _ in split_lines(doc)]
                site.update(k for k in keys[menu_block(keys)[1] :] if is_short(k))
            on_sites.update(site)
        self.lines = frozenset(k for k, n in on_sites.items() if n >= FAMILY_MIN_SITES)


class Corpus:
    """Repetition statistics of one site's documents (as comparison keys)."""

    def __init__(self, docs_keys: Sequence[Sequence[str]], family: Family | None = None) -> None:
        roots = _near_duplicate_roots(docs_keys)
        seen: dict[str, set[int]] = defaultdict(set)
        for doc, keys in enumerate(docs_keys):
            for k in set(keys):
                if k:
                    seen[k].add(roots[doc])
        self.template = {k for k, docs in seen.items() if len(docs) >= 2}
        if family is not None:
            self.template |= {k for k in seen if k in family.lines}
        for keys in docs_keys:  # short labels repeated apart within one page: buttons
            self.template.update(_repeated_labels(keys))
        self.segments = {s for k in self.template for s in SEGMENT_SPLIT.split(k) if s}

    def is_template(self, key: str) -> bool:
        if key in self.template:
            return True
        parts = [s for s in SEGMENT_SPLIT.split(key) if s]
        return len(parts) > 1 and all(p in self.segments for p in parts)


def _repeated_labels(keys: Sequence[str]) -> set[str]:
    """Short lines or ``|``-separated parts that occur on two lines of a page, not in a row."""
    where: dict[str, list[int]] = defaultdict(list)
    for i, key in enumerate(keys):
        for seg in {s for s in SEGMENT_SPLIT.split(key) if s and words(s) <= UI_WORDS}:
            where[seg].append(i)
    return {s for s, idx in where.items() if any(b - a > 1 for a, b in pairwise(idx))}


def _near_duplicate_roots(docs_keys: Sequence[Sequence[str]]) -> list[int]:
    """Union-find over documents sharing most of their long lines (snapshots of one page)."""
    longs = [{k for k in keys if len(k) >= NEAR_DUP_MIN_CHARS} for keys in docs_keys]
    where: dict[str, list[int]] = defaultdict(list)
    for doc, ks in enumerate(longs):
        for k in ks:
            where[k].append(doc)
    shared: Counter[tuple[int, int]] = Counter()
    for docs in where.values():
        if 2 <= len(docs) <= 5:
            shared.update((a, b) for a in docs for b in docs if a < b)
    parent = list(range(len(docs_keys)))

    def find(x: int) -> int:
        while parent[x] != x:
            x = parent[x]
        return x

    for (a, b), n in shared.items():
        if n >= 3 and n >= NEAR_DUP_SHARE * min(len(longs[a]), len(longs[b])):
            parent[find(b)] = find(a)
    return [find(d) for d in range(len(docs_keys))]


def paragraphs(keys: Sequence[str], lo: int, hi: int) -> list[list[int]]:
    """Runs of non-empty lines in [lo, hi), as lists of line indexes."""
    out: list[list[int]] = []
    run: list[int] = []
    for i in range(lo, hi):
        if keys[i]:
            run.append(i)
        elif run:
            out.append(run)
            run = []
    if run:
        out.append(run)
    return out


def is_widget(keys: Sequence[str], para: Sequence[int]) -> bool:
    """A figures widget: several short label/value lines, half of them numbers."""
    lines = [keys[i] for i in para]
    if len(lines) < WIDGET_MIN_LINES or any(words(k) > WIDGET_MAX_WORDS for k in lines):
        return False
    if any(k.endswith(".") for k in lines):
        return False
    return 2 * sum(bool(DIGIT.search(k)) for k in lines) >= len(lines)


def is_ui(key: str) -> bool:
    """Short enough to be a link or button label, and nothing a contact line would carry."""
    return words(key) <= UI_WORDS and not DIGIT.search(key) and "@" not in key and ":" not in key


def classify(keys: Sequence[str], corpus: Corpus) -> list[bool]:
    """Keep flags for one document's lines."""
    keep = [not is_leak(k) for k in keys]
    start, end = menu_block(keys)
    keep[start:end] = [False] * (end - start)
    for i in range(max(end, 1), len(keys)):
        if keys[i] and keys[i] == keys[i - 1] and words(keys[i]) <= 20:
            keep[i] = False  # the same line printed twice in a row: a title, a menu item
    paras = paragraphs(keys, end, len(keys))
    for para in paras:
        if is_widget(keys, para):
            for i in para:
                keep[i] = False
    anchor = next(
        (i for i in range(end, len(keys)) if keep[i] and _is_anchor(keys[i], corpus)),
        len(keys),
    )
    for para in paras:
        if para[0] < anchor:
            _top_paragraph(keys, corpus, keep, para, anchor)
        for i in para:
            if corpus.is_template(keys[i]) and (is_ui(keys[i]) or "|" in keys[i]):
                keep[i] = False
            if is_link_row(keys[i]):
                keep[i] = False
    heading = section_heading(keys, keep)
    if heading is not None:
        keep[heading] = False
    if paras and anchor < paras[-1][0] and _lone_word(keys, paras[-1]):
        keep[paras[-1][0]] = False  # a label closing the page below its content: a pager's
    return keep


def _lone_word(keys: Sequence[str], para: Sequence[int]) -> bool:
    """A paragraph of one word that could be a link's label (no digits, address or colon)."""
    return len(para) == 1 and words(keys[para[0]]) == 1 and is_ui(keys[para[0]])


def is_link_row(key: str) -> bool:
    """Link labels side by side ("Read more | Share on"): two or more, each a button's length."""
    parts = [p for p in SEGMENT_SPLIT.split(key) if p]
    return "|" in key and len(parts) >= 2 and all(is_ui(p) and words(p) <= 3 for p in parts)


def row_kind(key: str) -> str | None:
    """What opens a row of a listing: a date line, a bulleted entry, a datelined teaser."""
    if is_short(key) and YEAR.search(key):
        return "date"
    if BULLET.match(key) and words(key) >= UI_WORDS:
        return "bullet"
    if DATELINE_LEAD.match(key) and _teaser(key):
        return "dateline"
    return None


def _teaser(key: str) -> bool:
    """A teaser or body line: a sentence, or too long for a title or a date line."""
    return words(key) > TEASER_WORDS or key.endswith((*SENTENCE_END, "…"))


def section_heading(keys: Sequence[str], keep: Sequence[bool]) -> int | None:
    """The heading of a listing ("Latest news"): the one short line above its first row.

    A listing is two or more rows of one kind whose rows end on a teaser, so the short line
    above the first row is not that row's own title but the section's.
    """
    kept = [i for i, k in enumerate(keys) if k and keep[i]]
    for kind in ("date", "bullet", "dateline"):
        rows = [n for n, i in enumerate(kept) if row_kind(keys[i]) == kind]
        if len(rows) < 2 or rows[0] != 1 or (kind == "date" and rows[1] - rows[0] < 2):
            continue
        before_second = keys[kept[rows[1] - 1]]
        first = keys[kept[0]]
        if _teaser(before_second) and is_short(first) and not first.endswith(":"):
            return kept[0]
    return None


def _is_anchor(key: str, corpus: Corpus) -> bool:
    return (
        words(key) >= ANCHOR_WORDS
        and not corpus.is_template(key)
        and not is_leak(key)
        and not is_call_to_action(key)
    )


def is_call_to_action(key: str) -> bool:
    """A question followed by a link's label ("Cannot read this? View it online"): the line a
    mailing's web copy opens with, never a title (a title ends on its question)."""
    match = QUESTION_THEN_ACTION.match(key)
    return match is not None and is_ui(match["action"])


def is_link_item(key: str) -> bool:
    """A bulleted entry of a few words: one link of a list (languages, sections)."""
    return bool(BULLET.match(key)) and words(BULLET.sub("", key)) <= LINK_LIST_WORDS


def _top_paragraph(
    keys: Sequence[str], corpus: Corpus, keep: list[bool], para: Sequence[int], anchor: int
) -> None:
    """Above the first content line: repeated lines, lone tokens, and a paragraph that opens
    with repeated lines or a list of link entries followed only by short ones (a language
    switcher and its feed links); a call to action or a lone address line (a mailing's header)."""
    tmpl = [i for i in para if corpus.is_template(keys[i]) or _header_line(keys, para, i)]
    rest = [i for i in para if i not in tmpl]
    opens_with_template = bool(tmpl) and tmpl[0] == para[0] and 2 * len(tmpl) >= len(para)
    if opens_with_template and all(is_short(keys[i]) for i in rest):
        tmpl = list(para)
    if len(para) == 1 and words(keys[para[0]]) == 1 and keys[para[0]] != "-":
        tmpl = list(para)  # a lone word above the content: a label, a button, an artifact
    for i in tmpl:
        if i < anchor or tmpl == list(para):
            keep[i] = False


def _header_line(keys: Sequence[str], para: Sequence[int], i: int) -> bool:
    """A line of a page's header by its shape alone (see `_top_paragraph`)."""
    if is_call_to_action(keys[i]):
        return True
    if len(para) == 1 and is_short(keys[i]) and EMAIL.search(keys[i]):
        return True
    lead = list(takewhile(lambda j: is_link_item(keys[j]), para))  # the list opening it
    return len(lead) >= 2 and i in lead


def clean_text_corpus(docs: Sequence[str], family: Family | None = None) -> list[str]:
    """Each document of one site with its boilerplate lines removed, kept lines verbatim.

    `family`: what the family's other sites repeat (`Family`), for a site with little history.
    """
    split = [split_lines(d) for d in docs]
    docs_keys = [[norm(line) for line, _ in pairs] for pairs in split]
    # menus are found by structure; their items must not make page headings look repeated
    corpus = Corpus([keys[menu_block(keys)[1] :] for keys in docs_keys], family)
    return [
        join_kept(pairs, classify(keys, corpus))
        for pairs, keys in zip(split, docs_keys, strict=True)
    ]
