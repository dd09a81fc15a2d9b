"""Publication dates in every form the IOM sites print them, in fr/en/es/ar/pt.

Fast path: one combined regular expression over a folded copy of the text (lower case,
Latin accents and Arabic alef variants removed, Arabic-Indic and Persian digits made
ASCII), tried leftmost-first. `dateparser` is only a fallback for short strings the
regex does not know, restricted to a few languages and to absolute dates.

Every result is a tz-aware UTC datetime. A date without a time of day is 00:00 UTC:
the day printed by IOM stays the day in every feed and export (noon would shift
nothing either, but midnight is what `date` equality and ISO strings expect).
A printed time of day without a zone is taken as UTC; the sites do not say theirs.

Ambiguous numeric dates (`07/06/2016`) are month-first, Drupal's default `m/d/Y`,
unless a part above 12 decides or the caller passes `day_first=True`; dotted and
dashed numeric dates (`24.01.2017`, `24-01-2017`) are day-first.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime, timedelta, timezone
from typing import NamedTuple

MONTHS: dict[str, int] = {
    # English
    **dict.fromkeys(["january", "jan"], 1),
    **dict.fromkeys(["february", "feb"], 2),
    **dict.fromkeys(["march"], 3),
    **dict.fromkeys(["april", "apr"], 4),
    **dict.fromkeys(["may"], 5),
    **dict.fromkeys(["june", "jun"], 6),
    **dict.fromkeys(["july", "jul"], 7),
    **dict.fromkeys(["august", "aug"], 8),
    **dict.fromkeys(["september", "sep", "sept"], 9),
    **dict.fromkeys(["october", "oct"], 10),
    **dict.fromkeys(["november", "nov"], 11),
    **dict.fromkeys(["december", "dec"], 12),
    # French (folded: no accents)
    **dict.fromkeys(["janvier", "janv"], 1),
    **dict.fromkeys(["fevrier", "fevr", "fev"], 2),
    **dict.fromkeys(["mars"], 3),
    **dict.fromkeys(["avril", "avr"], 4),
    **dict.fromkeys(["mai"], 5),
    **dict.fromkeys(["juin"], 6),
    **dict.fromkeys(["juillet", "juil"], 7),
    **dict.fromkeys(["aout"], 8),
    **dict.fromkeys(["septembre"], 9),
    **dict.fromkeys(["octobre"], 10),
    **dict.fromkeys(["novembre"], 11),
    **dict.fromkeys(["decembre"], 12),
    # Spanish
    **dict.fromkeys(["enero", "ene"], 1),
    **dict.fromkeys(["febrero"], 2),
    **dict.fromkeys(["marzo", "mar"], 3),
    **dict.fromkeys(["abril", "abr"], 4),
    **dict.fromkeys(["mayo"], 5),
    **dict.fromkeys(["junio"], 6),
    **dict.fromkeys(["julio"], 7),
    **dict.fromkeys(["agosto", "ago"], 8),
    **dict.fromkeys(["septiembre", "setiembre"], 9),
    **dict.fromkeys(["octubre"], 10),
    **dict.fromkeys(["noviembre"], 11),
    **dict.fromkeys(["diciembre", "dic"], 12),
    # Portuguese
    **dict.fromkeys(["janeiro"], 1),
    **dict.fromkeys(["fevereiro"], 2),
    **dict.fromkeys(["marco"], 3),
    **dict.fromkeys(["maio"], 5),
    **dict.fromkeys(["junho"], 6),
    **dict.fromkeys(["julho"], 7),
    **dict.fromkeys(["setembro"], 9),
    **dict.fromkeys(["outubro"], 10),
    **dict.fromkeys(["novembro"], 11),
    **dict.fromkeys(["dezembro", "dez"], 12),
    # Italian and German (archive and aggregator pages)
    **dict.fromkeys(["gennaio"], 1),
    **dict.fromkeys(["febbraio"], 2),
    **dict.fromkeys(["aprile"], 4),
    **dict.fromkeys(["maggio"], 5),
    **dict.fromkeys(["giugno", "juni"], 6),
    **dict.fromkeys(["luglio", "juli"], 7),
    **dict.fromkeys(["settembre"], 9),
    **dict.fromkeys(["ottobre", "oktober"], 10),
    **dict.fromkeys(["dicembre", "dezember"], 12),
    **dict.fromkeys(["januar"], 1),
    **dict.fromkeys(["februar"], 2),
    **dict.fromkeys(["marz"], 3),
    # Arabic: Egyptian/Gulf, Levantine and Maghreb names (alef variants folded to ا)
    **dict.fromkeys(["يناير", "كانون الثاني", "جانفي"], 1),
    **dict.fromkeys(["فبراير", "شباط", "فيفري"], 2),
    **dict.fromkeys(["مارس", "اذار"], 3),
    **dict.fromkeys(["ابريل", "نيسان", "افريل"], 4),
    **dict.fromkeys(["مايو", "ايار", "ماي"], 5),
    **dict.fromkeys(["يونيو", "يونيه", "حزيران", "جوان"], 6),
    **dict.fromkeys(["يوليو", "يوليه", "تموز", "جويلية"], 7),
    **dict.fromkeys(["اغسطس", "اب", "اوت"], 8),
    **dict.fromkeys(["سبتمبر", "ايلول"], 9),
    **dict.fromkeys(["اكتوبر", "تشرين الاول"], 10),
    **dict.fromkeys(["نوفمبر", "تشرين الثاني"], 11),
    **dict.fromkeys(["ديسمبر", "كانون الاول"], 12),
    # Persian (Dari pages)
    **dict.fromkeys(["ژانویه"], 1),
    **dict.fromkeys(["فوریه"], 2),
    **dict.fromkeys(["آوریل", "اوریل"], 4),
    **dict.fromkeys(["ژوئن"], 6),
    **dict.fromkeys(["ژوئیه"], 7),
    **dict.fromkeys(["اکتبر"], 10),
    **dict.fromkeys(["نوامبر"], 11),
    **dict.fromkeys(["دسامبر"], 12),
}
# Abbreviations that are also common words elsewhere: months only on pt/es pages.
RISKY_MONTHS: dict[str, int] = {"out": 10, "set": 9}
RISKY_LANGS = ("pt", "es")
MIN_YEAR, MAX_YEAR = 1950, 2100
FALLBACK_MAX_CHARS = 100
FALLBACK_LANGS = ("en", "fr", "es", "ar", "pt")


def _fold_table() -> dict[int, str]:
    """A length-preserving map: accented Latin letters to their base, odd digits to ASCII."""
    table: dict[int, str] = {}
    for code in range(0xC0, 0x250):
        base = unicodedata.normalize("NFKD", chr(code))[:1]
        if base.isascii() and base.isalpha():
            table[code] = base
    for offset in range(10):
        table[0x660 + offset] = str(offset)  # Arabic-Indic digits
        table[0x6F0 + offset] = str(offset)  # Persian digits
    table.update({ord(c): "ا" for c in "أإآٱ"})
    table.update({ord("\u00a0"): " ", ord("\u202f"): " ", ord("\u200f"): " ", ord("\u200e"): " "})
    table[ord("ـ")] = " "  # tatweel
    return table


FOLD = _fold_table()
_MONTH_NAMES = sorted({*MONTHS, *RISKY_MONTHS}, key=len, reverse=True)
MONTH_RE = (
    r"(?<![^\W\d_])(?:"
    + "|".join(re.escape(m).replace(r"\ ", r"\s+") for m in _MONTH_NAMES)
    + r")(?![^\W\d_])"
)
ORD = r"(?:st|nd|rd|th|er|re|eme|o|º|°)?"
YEAR = r"(\d{4})(?!\d)"
DATE_RE = re.compile(
    r"(?P<iso>(?<!\d)(\d{4})-(\d{2})-(\d{2})"
    r"(?:[t ](\d{2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?\s*(z|[+-]\d{2}:?\d{2})?)?)"
    r"|(?P<ymd>(?<!\d)(\d{4})/(\d{1,2})/(\d{1,2})(?!\d))"
    rf"|(?P<range>(?<!\d)(\d{{1,2}}){ORD}\s*(?:[-–—]|au|al|to|a)\s*\d{{1,2}}{ORD}(?:\s+de)?\s+"
    rf"({MONTH_RE})\.?(?:\s+de)?\s*[,،]?\s*{YEAR})"
    rf"|(?P<xrange>(?<!\d)(\d{{1,2}}){ORD}\s+({MONTH_RE})\.?\s*[-–—]\s*\d{{1,2}}{ORD}\s+"
    rf"{MONTH_RE}\.?\s*[,،]?\s*{YEAR})"
    r"|(?P<num>(?<![\d/.])(\d{1,2})(?P<nsep>[/.-])(\d{1,2})(?P=nsep)(\d{4})(?!\d))"
    rf"|(?P<dmy>(?<!\d)(\d{{1,2}}){ORD}\.?\s*(?:de\s+|of\s+)?({MONTH_RE})\.?\s*[,،]?\s*"
    rf"(?:del?\s+)?{YEAR})"
    rf"|(?P<mdy>({MONTH_RE})\.?[\s,-]*(\d{{1,2}}){ORD}(?!\d)\s*[,،-]?\s*{YEAR})"
)
TIME_AFTER = re.compile(
    r"\s*(?:[-–,]|at|a|a las|as|à)?\s*(\d{1,2})[:h](\d{2})(?::(\d{2}))?(?!\d)\s*([ap])?\.?(m\b)?"
)
RELATIVE_RE = re.compile(
    r"(\d+)\s*(years?|ans?|anos?|anos?|months?|mois|mes(?:es)?|meses|weeks?|semaines?|semanas?"
    r"|days?|jours?|dias?|hours?|heures?|horas?|min(?:ute)?s?|sec(?:ond)?s?)\b"
)
RELATIVE_UNITS: dict[str, timedelta] = {
    "y": timedelta(days=365),
    "a": timedelta(days=365),
    "mo": timedelta(days=30),
    "me": timedelta(days=30),
    "w": timedelta(weeks=1),
    "s": timedelta(weeks=1),
    "d": timedelta(days=1),
    "j": timedelta(days=1),
    "h": timedelta(hours=1),
    "mi": timedelta(minutes=1),
    "se": timedelta(seconds=1),
}
# The head of a dateline: everything before the first dash that ends it (`Bamako –`, `Lima.-`).
DATELINE_HEAD = re.compile(r"^(.{1,120}?)(?:\s*\.?\s*[–—]|\s*-(?=\s)|\.-|\s-$)", re.S)
DM_RE = re.compile(rf"(?<!\d)(\d{{1,2}}){ORD}\.?\s*(?:de\s+)?({MONTH_RE})")
MD_RE = re.compile(rf"({MONTH_RE})\.?\s+(\d{{1,2}}){ORD}(?!\d)")
BRACKET_DM = re.compile(r"\((\d{1,2})[/.](\d{1,2})\)")


class DateMatch(NamedTuple):
    """A date found in a text: the value and where it sits in the folded text."""

    value: datetime
    start: int
    end: int


def fold_date_text(text: str) -> str:
    """Lower case, Latin accents and Arabic alef variants removed, digits made ASCII."""
    return text.translate(FOLD).lower()


def month_number(name: str, lang: str | None = None) -> int | None:
    """The month number of a (folded) month name, or None."""
    key = re.sub(r"\s+", " ", name.rstrip("."))
    if key in MONTHS:
        return MONTHS[key]
    if key in RISKY_MONTHS and lang and lang.startswith(RISKY_LANGS):
        return RISKY_MONTHS[key]
    return None


def _make(
    year: int, month: int, day: int, hms: tuple[int, int, int] = (0, 0, 0)
) -> datetime | None:
    """A UTC datetime, or None when the parts do not make a plausible date."""
    if not MIN_YEAR <= year <= MAX_YEAR:
        return None
    try:
        return datetime(year, month, day, *hms, tzinfo=UTC)
    except ValueError:
        return None


def _iso(g: tuple[str | None, ...]) -> datetime | None:
    """An ISO 8601 match (groups after the named one) as UTC."""
    y, mo, d, hh, mi, ss, tz = g
    value = _make(
        int(y or 0), int(mo or 0), int(d or 0), (int(hh or 0), int(mi or 0), int(ss or 0))
    )
    if value is None or not tz or tz == "z":
        return value
    sign = -1 if tz[0] == "-" else 1
    digits = tz[1:].replace(":", "")
    offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
    return value.replace(tzinfo=timezone(sign * offset)).astimezone(UTC)


def _numeric(a: str, sep: str, b: str, year: str, day_first: bool | None) -> datetime | None:
    """`MM/DD/YYYY` or `DD/MM/YYYY`: a part above 12 decides, else the separator and caller."""
    first, second = int(a), int(b)
    if first > 12:
        dayfirst = True
    elif second > 12:
        dayfirst = False
    elif day_first is not None:
        dayfirst = day_first
    else:
        dayfirst = sep != "/"
    day, month = (first, second) if dayfirst else (second, first)
    return _make(int(year), month, day)


def _from_match(m: re.Match[str], lang: str | None, day_first: bool | None) -> datetime | None:
    """The date a DATE_RE match stands for, without its time of day."""
    kind = m.lastgroup
    g = m.groups()
    i = m.re.groupindex[kind or ""]
    if kind == "iso":
        return _iso(g[i : i + 7])
    if kind == "ymd":
        return _make(int(g[i]), int(g[i + 1]), int(g[i + 2]))
    if kind == "num":
        return _numeric(g[i], g[i + 1], g[i + 2], g[i + 3], day_first)
    if kind == "mdy":
        month, day, year = month_number(g[i], lang), g[i + 1], g[i + 2]
    else:  # range, xrange, dmy: day, month, year
        day, month, year = g[i], month_number(g[i + 1], lang), g[i + 2]
    return _make(int(year), month, int(day)) if month else None


def _with_time(value: datetime, folded: str, end: int) -> datetime:
    """Add the time of day printed right after the date (`- 07:06`, `à 10h30`), if any."""
    m = TIME_AFTER.match(folded, end)
    if not m:
        return value
    hour, minute, second = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
    if m.group(4) and m.group(5):
        hour = hour % 12 + (12 if m.group(4) == "p" else 0)
    if hour > 23 or minute > 59 or second > 59:
        return value
    return value.replace(hour=hour, minute=minute, second=second)


def search_date(
    text: str, lang: str | None = None, *, day_first: bool | None = None
) -> DateMatch | None:
    """The leftmost full date (day, month and year) in `text`, by the fast regex path only."""
    folded = fold_date_text(text)
    pos = 0
    while (m := DATE_RE.search(folded, pos)) is not None:
        value = _from_match(m, lang, day_first)
        if value is not None:
            if m.lastgroup != "iso" or not m.group(5):
                value = _with_time(value, folded, m.end())
            return DateMatch(value, m.start(), m.end())
        pos = m.start() + 1
    return None


def _relative(folded: str, relative_to: datetime) -> datetime | None:
    """`17 hours 23 min ago`, `il y a 2 jours`, `hace 3 días` against `relative_to`."""
    if not re.search(r"\bago\b|il y a|\bhace\b|\bha\b|\bhá\b|\bha\s", folded):
        return None
    total = timedelta()
    for number, unit in RELATIVE_RE.findall(folded):
        key = unit[:2] if unit[:2] in RELATIVE_UNITS else unit[:1]
        total += int(number) * RELATIVE_UNITS.get(key, timedelta())
    if not total:
        return None
    base = relative_to if relative_to.tzinfo else relative_to.replace(tzinfo=UTC)
    return (base - total).astimezone(UTC)


def _fallback(text: str, lang: str | None) -> datetime | None:
    """dateparser, for the rare absolute forms the regex does not know."""
    import dateparser  # slow to import; most runs never need it

    base = (lang or "").split("-")[0]
    languages = [base, "en"] if base and base != "en" else list(FALLBACK_LANGS)
    settings = {
        "PREFER_DATES_FROM": "past",
        "RETURN_AS_TIMEZONE_AWARE": True,
        "TIMEZONE": "UTC",
        "TO_TIMEZONE": "UTC",
        "REQUIRE_PARTS": ["day", "month", "year"],
        "PARSERS": ["absolute-time", "custom-formats"],
        "DATE_ORDER": "MDY",
    }
    try:
        value: datetime | None = dateparser.parse(text, languages=languages, settings=settings)
    except Exception:  # dateparser raises assorted internal errors on hostile input
        return None
    if value is None or not MIN_YEAR <= value.year <= MAX_YEAR:
        return None
    return value.astimezone(UTC)


def parse_date(
    text: str | None,
    lang: str | None = None,
    *,
    day_first: bool | None = None,
    relative_to: datetime | None = None,
    fallback: bool = True,
) -> datetime | None:
    """The first full date in `text` as a UTC datetime; None when it holds no full date.

    Relative forms (`3 hours ago`) are only read when `relative_to` is given.
    """
    if not text or not text.strip():
        return None
    found = search_date(text, lang, day_first=day_first)
    if found is not None:
        return found.value
    if relative_to is not None:
        value = _relative(fold_date_text(text), relative_to)
        if value is not None:
            return value
    stripped = text.strip()
    if fallback and len(stripped) <= FALLBACK_MAX_CHARS and any(c.isdigit() for c in stripped):
        return _fallback(stripped, lang)
    return None


def _resolve_year(month: int, day: int, reference: date) -> datetime | None:
    """The most recent `day`/`month` that is not after `reference`."""
    for year in range(reference.year, reference.year - 9, -1):
        value = _make(year, month, day)
        if value is not None and value.date() <= reference:
            return value
    return None


def parse_dateline_date(text: str, lang: str | None, reference: date | None) -> datetime | None:
    """The date of a dateline, a year-less one (`Alger, 8 juillet –`, `Mardi (23/06)`) included.

    A day and month without a year resolve to the most recent such date not after
    `reference` (the listing date or the crawl date); without a reference only a
    dateline with a full date gives one.
    """
    if not text:
        return None
    start = fold_date_text(text.lstrip()[:240])
    head_match = DATELINE_HEAD.match(start)
    head = head_match.group(1) if head_match else ""
    if head:
        found = search_date(head, lang)
        if found is not None:
            return found.value
    if reference is None:
        return None
    if head:
        if (m := DM_RE.search(head)) and (month := month_number(m.group(2), lang)):
            return _resolve_year(month, int(m.group(1)), reference)
        if (m := MD_RE.search(head)) and (month := month_number(m.group(1), lang)):
            return _resolve_year(month, int(m.group(2)), reference)
    if m := BRACKET_DM.search(start[:200]):
        return _resolve_year(int(m.group(2)), int(m.group(1)), reference)
    return None
