"""Date forms the IOM sites print, per language (IOM-SITES.md §6)."""

from __future__ import annotations

from datetime import date

MONTHS: dict[str, tuple[str, ...]] = {
    "en": (
        "January", "February", "March", "April", "May", "June",
        "July", "August", "September", "October", "November", "December",
    ),
    "fr": (
        "janvier", "février", "mars", "avril", "mai", "juin",
        "juillet", "août", "septembre", "octobre", "novembre", "décembre",
    ),
    "es": (
        "enero", "febrero", "marzo", "abril", "mayo", "junio",
        "julio", "agosto", "septiembre", "octubre", "noviembre", "diciembre",
    ),
    "pt": (
        "janeiro", "fevereiro", "março", "abril", "maio", "junho",
        "julho", "agosto", "setembro", "outubro", "novembro", "dezembro",
    ),
    "ar": (
        "يناير", "فبراير", "مارس", "أبريل", "مايو", "يونيو",
        "يوليو", "أغسطس", "سبتمبر", "أكتوبر", "نوفمبر", "ديسمبر",
    ),
}  # fmt: skip
WEEKDAYS: dict[str, tuple[str, ...]] = {
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "fr": ("Lundi", "Mardi", "Mercredi", "Jeudi", "Vendredi", "Samedi", "Dimanche"),
    "es": ("Lun", "Mar", "Mié", "Jue", "Vie", "Sáb", "Dom"),
}


def base_lang(lang: str) -> str:
    """`pt-br` -> `pt`: the key of the month and weekday tables."""
    return lang.split("-")[0]


def month(d: date, lang: str) -> str:
    return MONTHS[base_lang(lang)][d.month - 1]


def long_date(d: date, lang: str) -> str:
    """`21 May 2024`, `21 mai 2024`, `21 de mayo de 2024`, `21 مايو 2024`."""
    if base_lang(lang) in {"es", "pt"}:
        return f"{d.day} de {month(d, lang)} de {d.year}"
    return f"{d.day} {month(d, lang)} {d.year}"


def month_first(d: date, lang: str) -> str:
    """`juillet 15, 2021` (mali.iom.int) or `July 15, 2021`."""
    return f"{month(d, lang)} {d.day}, {d.year}"


def us_numeric(d: date) -> str:
    """`07/30/2016`: month first."""
    return f"{d.month:02d}/{d.day:02d}/{d.year}"


def drupal_medium(d: date, time: str, lang: str) -> str:
    """`Sáb, 07/30/2016 - 09:57` (Drupal 7 medium date, weekday in the site language)."""
    table = WEEKDAYS.get(base_lang(lang), WEEKDAYS["en"])
    weekday = table[d.weekday()][:3] if base_lang(lang) != "es" else table[d.weekday()]
    return f"{weekday}, {us_numeric(d)} - {time}"


def day_month(d: date, lang: str) -> str:
    """`8 juillet`, `6 de janeiro`, `8 July`: a dateline without the year."""
    if base_lang(lang) in {"es", "pt"}:
        return f"{d.day} de {month(d, lang)}"
    return f"{d.day} {month(d, lang)}"


def ordinal_en(d: date) -> str:
    """`October 30th, 2019`."""
    suffix = "th" if 11 <= d.day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(d.day % 10, "th")
    return f"{month(d, 'en')} {d.day}{suffix}, {d.year}"


def weekday_ref(d: date, lang: str) -> str:
    """`Mardi (23/06)`: a weekday with day/month in brackets."""
    table = WEEKDAYS["fr"] if base_lang(lang) == "fr" else WEEKDAYS["en"]
    return f"{table[d.weekday()]} ({d.day:02d}/{d.month:02d})"


FORMATS = {
    "long": long_date,
    "month_first": month_first,
}


def format_date(d: date, form: str, lang: str, time: str = "10:00") -> str:
    """A date in one of the named forms: long, month_first, us, drupal, ordinal."""
    if form == "us":
        return us_numeric(d)
    if form == "drupal":
        return drupal_medium(d, time, lang)
    if form == "ordinal":
        return ordinal_en(d) if base_lang(lang) == "en" else long_date(d, lang)
    if form == "month_first":
        return month_first(d, lang)
    return long_date(d, lang)
