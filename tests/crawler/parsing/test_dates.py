"""Dates in every form the IOM sites print, in five languages, plus datelines without a year."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from crawler.parsing.dates import fold_date_text, parse_date, parse_dateline_date, search_date


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# (text, lang, expected) — the forms of IOM-SITES.md §6 and the SPEC, and their traps.
DATE_CASES = [
    ("2021-07-15T10:00:00+02:00", None, utc(2021, 7, 15, 8, 0)),
    ("2023-05-04T12:00:00Z", None, utc(2023, 5, 4, 12, 0)),
    ("2016-07-15T14:00:00-05:00", None, utc(2016, 7, 15, 19, 0)),
    ("2018-01-01", None, utc(2018, 1, 1)),
    ("2019/03/29", None, utc(2019, 3, 29)),
    ("juillet 15, 2021", "fr", utc(2021, 7, 15)),
    ("07/30/2016", None, utc(2016, 7, 30)),
    ("24/01/2017", None, utc(2017, 1, 24)),
    ("07/06/2016", None, utc(2016, 7, 6)),  # ambiguous: month-first, Drupal's default
    ("24/01/2017 - Vulnerability assessments were conducted", "en", utc(2017, 1, 24)),
    ("24.01.2017", None, utc(2017, 1, 24)),
    ("Fri, 11/29/2019 - 07:06", "en", utc(2019, 11, 29, 7, 6)),
    ("Wed, 12/12/2018", "en", utc(2018, 12, 12)),
    ("Thursday, March 8, 2018", "en", utc(2018, 3, 8)),
    ("06 November, 2016", "en", utc(2016, 11, 6)),
    ("1 March, 2019", "es", utc(2019, 3, 1)),
    ("27 November 2017", "en", utc(2017, 11, 27)),
    ("Posted on Tue. Nov-24-2015", "en", utc(2015, 11, 24)),
    ("Posted on Tue. December 12, 2017", "en", utc(2017, 12, 12)),
    ("IOM - News - Mar, 08/08/2017 - 10:00", "it", utc(2017, 8, 8, 10, 0)),
    ("IOM - News - Ven, 05/18/2018 - 10:08", "it", utc(2018, 5, 18, 10, 8)),
    ("News Mon, 04/25/2016 - 09:57 Share", "en", utc(2016, 4, 25, 9, 57)),
    ("PBN News Germany - Fri, 03/29/2019 - 11:10", "en", utc(2019, 3, 29, 11, 10)),
    (
        "Language English Posted: Wednesday, September 19, 2018 - 17:11Image: x",
        "en",
        utc(2018, 9, 19, 17, 11),
    ),
    ("Feb 23 2021", "en", utc(2021, 2, 23)),
    ("8 juillet 2024", "fr", utc(2024, 7, 8)),
    ("1er mars 2020", "fr", utc(2020, 3, 1)),
    ("le 15 avril 2025", "fr", utc(2025, 4, 15)),
    ("15 décembre 2022 à 14h30", "fr", utc(2022, 12, 15, 14, 30)),
    ("3 févr. 2021", "fr", utc(2021, 2, 3)),
    ("15 de julio de 2016", "es", utc(2016, 7, 15)),
    ("1º de enero de 2020", "es", utc(2020, 1, 1)),
    ("6 de janeiro de 2023", "pt", utc(2023, 1, 6)),
    ("12 de março de 2022", "pt-br", utc(2022, 3, 12)),
    ("5 out 2021", "pt", utc(2021, 10, 5)),
    ("21 مايو 2024", "ar", utc(2024, 5, 21)),
    ("٢١ مايو ٢٠٢٤", "ar", utc(2024, 5, 21)),
    ("۲۱ مايو ۲۰۲۴", "fa", utc(2024, 5, 21)),
    ("15 أيار 2023", "ar", utc(2023, 5, 15)),
    ("5 تشرين الثاني 2019", "ar", utc(2019, 11, 5)),
    ("3 أغسطس 2020", "ar", utc(2020, 8, 3)),
    ("Juba, October 30th, 2019", "en", utc(2019, 10, 30)),
    ("25 - 31 October 2022", "en", utc(2022, 10, 25)),
    ("28 September - 4 October 2022", "en", utc(2022, 9, 28)),
    ("du 3 au 9 mars 2021", "fr", utc(2021, 3, 3)),
    ("Port-au-Prince, le 15 avril 2025 –", "fr", utc(2025, 4, 15)),
    ("طرابلس،  21  مايو  2024  –", "ar", utc(2024, 5, 21)),
    ("Lima, 15 de julio de 2016.-", "es", utc(2016, 7, 15)),
    ("Beira, 14 March 2023 –", "en", utc(2023, 3, 14)),
    ("Sept. 3, 2019 at 4:15 pm", "en", utc(2019, 9, 3, 16, 15)),
]

NOT_DATES = [
    "",
    "   ",
    "hello world",
    "Mardi (23/06)",  # no year: only parse_dateline_date resolves it
    "8 juillet",
    "31/02/2019",  # no such day
    "2 out of 2000 migrants",  # `out` is October only on Portuguese pages
    "PBN News Germany - 17 hours 23 min ago",  # relative: only with relative_to
    "Tel + 93 (0) 700 2",
    "Room 12/14",
]


@pytest.mark.parametrize(("text", "lang", "expected"), DATE_CASES)
def test_parse_date_forms(text: str, lang: str | None, expected: datetime) -> None:
    assert parse_date(text, lang) == expected


@pytest.mark.parametrize("text", NOT_DATES)
def test_parse_date_rejects(text: str) -> None:
    assert parse_date(text, "en") is None


def test_results_are_utc_aware() -> None:
    value = parse_date("8 juillet 2024", "fr")
    assert value is not None and value.tzinfo is not None
    offset = value.utcoffset()
    assert offset is not None and offset.total_seconds() == 0


def test_day_first_hint_decides_ambiguous_numeric() -> None:
    assert parse_date("07/06/2016", "fr", day_first=True) == utc(2016, 6, 7)
    assert parse_date("07/30/2016", "fr", day_first=True) == utc(2016, 7, 30)  # 30 decides


def test_relative_dates_only_when_asked() -> None:
    now = utc(2024, 1, 10, 12, 0)
    text = "PBN News Germany - 17 hours 23 min ago"
    assert parse_date(text, "en") is None
    assert parse_date(text, "en", relative_to=now) == utc(2024, 1, 9, 18, 37)
    assert parse_date("il y a 2 jours", "fr", relative_to=now) == utc(2024, 1, 8, 12, 0)


def test_dateparser_fallback_for_other_languages() -> None:
    assert parse_date("27 Νοεμβρίου 2017", "el") == utc(2017, 11, 27)
    assert parse_date("27 Νοεμβρίου 2017", "el", fallback=False) is None


def test_leftmost_date_wins() -> None:
    assert parse_date("Published 3 May 2021, updated 2022-01-01", "en") == utc(2021, 5, 3)


def test_search_date_reports_position() -> None:
    found = search_date("24/01/2017 - teaser")
    assert found is not None and found.start == 0 and found.end == len("24/01/2017")


def test_fold_keeps_length_and_normalises_digits() -> None:
    text = "Décembre ٢٠٢٤ أيار"
    assert len(fold_date_text(text)) == len(text)
    assert fold_date_text(text) == "decembre 2024 ايار"


DATELINE_CASES = [
    ("Alger, 8 juillet – L'OIM a organisé", "fr", date(2024, 9, 1), utc(2024, 7, 8)),
    ("Alger, 8 juillet – L'OIM a organisé", "fr", date(2024, 7, 1), utc(2023, 7, 8)),
    ("Bamako – Mardi (23/06), 338 migrants", "fr", date(2020, 6, 30), utc(2020, 6, 23)),
    ("Boa Vista, 6 de janeiro - A OIM iniciou", "pt", date(2023, 1, 20), utc(2023, 1, 6)),
    ("Genève/ Port-au-Prince, 9 mars – L'OIM", "fr", date(2021, 3, 9), utc(2021, 3, 9)),
    ("Juba, October 30 – IOM", "en", date(2019, 11, 2), utc(2019, 10, 30)),
    ("Port-au-Prince, le 15 avril 2025 – L'OIM", "fr", date(2030, 1, 1), utc(2025, 4, 15)),
    ("Dhaka, 29 February – leap", "en", date(2023, 6, 1), utc(2020, 2, 29)),
]


@pytest.mark.parametrize(("text", "lang", "reference", "expected"), DATELINE_CASES)
def test_parse_dateline_date(text: str, lang: str, reference: date, expected: datetime) -> None:
    assert parse_dateline_date(text, lang, reference) == expected


def test_dateline_without_date_or_reference() -> None:
    assert parse_dateline_date("Bamako – L'OIM a aidé", "fr", date(2020, 1, 1)) is None
    assert parse_dateline_date("Alger, 8 juillet – x", "fr", None) is None
    assert parse_dateline_date("Lima, 15 de julio de 2016.- La OIM", "es", None) == utc(2016, 7, 15)
    assert parse_dateline_date("", "fr", date(2020, 1, 1)) is None


def test_hostile_input_does_not_raise() -> None:
    assert parse_date("9" * 100_000, "en") is None
    assert parse_date("\x00\ufffd" * 1000, None) is None
    assert parse_date("99/99/9999 - 99:99", None) is None
