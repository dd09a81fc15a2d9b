"""Deterministic content of the replica sites: nodes, their language versions and texts."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from replica import dates
from replica.model import Version
from replica.phrases import bank
from replica.sites import SiteProfile
from replica.text import capitalize, contract, fmt_num, title_case

SECTIONS = {"press_release": "news", "news": "news", "story": "stories", "statement": "statements"}
DONORS: dict[str, tuple[str, ...]] = {
    "en": ("the European Union", "the Government of Germany", "the Government of Japan", "the United States Agency for International Development (USAID)", "the Government of Canada", "Sweden"),
    "fr": ("l'Union européenne", "l'Allemagne", "le Japon", "l'Agence des États-Unis pour le développement international (USAID)", "le Canada", "la Suède"),
    "es": ("la Unión Europea", "el Gobierno de Alemania", "el Gobierno de Japón", "la Agencia de los Estados Unidos para el Desarrollo Internacional (USAID)", "el Gobierno de Canadá", "Suecia"),
    "pt": ("a União Europeia", "o Governo da Alemanha", "o Governo do Japão", "a Agência dos Estados Unidos para o Desenvolvimento Internacional (USAID)", "o Governo do Canadá", "a Suécia"),
    "ar": ("الاتحاد الأوروبي", "حكومة ألمانيا", "حكومة اليابان", "الوكالة الأمريكية للتنمية الدولية", "حكومة كندا", "السويد"),
}  # fmt: skip
ROLES: dict[str, tuple[str, ...]] = {
    "en": ("Chief of Mission", "Programme Coordinator", "Regional Director"),
    "fr": ("Cheffe de mission", "Coordinateur de programme", "Directrice régionale"),
    "es": ("Jefa de Misión", "Coordinador de Programas", "Directora Regional"),
    "pt": ("Chefe de Missão", "Coordenador de Programas", "Diretora Regional"),
    "ar": ("رئيسة البعثة", "منسق البرامج", "المديرة الإقليمية"),
}
STORY_NAMES: dict[str, tuple[str, ...]] = {
    "en": ("Nyabol", "Achol", "Halima"),
    "fr": ("Fatoumata", "Aminata", "Mariam"),
    "es": ("Yuleidy", "Marisol", "Daniela"),
    "pt": ("Yusmary", "Daniela", "Oriana"),
    "ar": ("فاطمة", "مريم", "هدى"),
}
ARABIC_NAMES = {"Rania Haddad": "رانيا حداد", "Omar Khalil": "عمر خليل"}
PHOTOGRAPHERS = ("Alexander Bee", "Mireille Nana", "Javier Soto", "Hana Saleh", "Peter Okello")
STORY_SETS = ((0, 1, 2, 3), (4, 5, 2), (0, 3, 4, 5))
DATELINE_SEP = {"day_month": " – ", "weekday_ref": ", ", "es_dot": ".- ", "long": " – "}


def make_facts(rng: random.Random, profile: SiteProfile, kind: str) -> dict[str, Any]:
    """The language-independent facts of one node; every language version renders them."""
    topics = list(bank("en")["topics"])
    return {
        "num": rng.randint(150, 48000), "num2": rng.randint(6, 95), "pct": rng.randint(12, 78),
        "amount": rng.randrange(50_000, 9_000_000, 25_000), "age": rng.randint(19, 54),
        "area": rng.randrange(len(profile.areas)), "place": rng.randrange(len(profile.places)),
        "topic": rng.choice(topics), "donor": rng.randrange(6), "person": rng.randrange(len(profile.people)),
        "role": 2 if profile.theme in {"www", "regional"} else rng.randrange(2),
        "lead": rng.randrange(5), "context": rng.sample(range(10), 3), "quote": rng.randrange(4),
        "funding": rng.randrange(3), "title": rng.randrange(6 if kind == "press_release" else 4 if kind == "news" else 2),
        "story": rng.randrange(len(STORY_SETS)), "name": rng.randrange(3), "caption": rng.randrange(4),
        "photographer": rng.choice(PHOTOGRAPHERS), "image": rng.random() < 0.8,
        "attach": kind == "press_release" and rng.random() < 0.4, "scope": rng.choice(("Global", "Local")),
    }  # fmt: skip


def fill(template: str, facts: dict[str, Any], lang: str, profile: SiteProfile, day: date) -> str:
    """Render one phrase template with a node's facts in one language."""
    b, base = bank(lang), dates.base_lang(lang)
    topic = b["topics"][facts["topic"]]
    values = {
        "num": fmt_num(facts["num"], lang), "num2": facts["num2"], "pct": facts["pct"],
        "amount": fmt_num(facts["amount"], lang), "age": facts["age"], "year": day.year,
        "topic": topic, "Topic": title_case(topic) if base == "en" else topic,
        "in_area": profile.areas[facts["area"]][lang], "place": profile.places[facts["place"]][lang],
        "in_country": profile.in_country[lang], "donor": DONORS[base][facts["donor"]],
        "person": _person(profile.people[facts["person"]], base), "role": ROLES[base][facts["role"]],
        "month": dates.month(day, lang), "name": STORY_NAMES[base][facts["name"]],
        "photographer": facts["photographer"],
    }  # fmt: skip
    text = contract(template.format(**values), lang)
    return " ".join(text.replace(" ,", ",").split())


def _person(name: str, base: str) -> str:
    return ARABIC_NAMES.get(name, name) if base == "ar" else name


def dateline_for(profile: SiteProfile, lang: str, place: str, day: date, form: str) -> str:
    """The dateline that opens a release: `Bamako, 8 juillet`, `Juba, October 30th, 2019`..."""
    if form == "day_month":
        return f"{place}, {dates.day_month(day, lang)}"
    if form == "weekday_ref":
        return f"{place} – {dates.weekday_ref(day, lang)}"
    if form == "ordinal":
        return f"{place}, {dates.ordinal_en(day)}"
    if form == "ar":
        return f"{place}، {dates.long_date(day, lang)}"
    return f"{place}, {dates.long_date(day, lang)}"


def body_for(
    kind: str, facts: dict[str, Any], lang: str, profile: SiteProfile, day: date
) -> list[str]:
    """Body paragraphs without the dateline and without the closing media contact."""
    b = bank(lang)

    def f(t: str) -> str:
        return fill(t, facts, lang, profile, day)

    if kind == "story":
        return [f(b["story"][i]) for i in STORY_SETS[facts["story"]]]
    if kind == "statement":
        return [f(t) for t in b["statement"]]
    ctx = [f(b["context"][i]) for i in facts["context"]]
    paras = [f(b["leads"][facts["lead"]]), f"{ctx[0]} {ctx[1]}", f(b["quotes"][facts["quote"]])]
    paras.append(f(b["funding"][facts["funding"]]) if kind == "press_release" else ctx[2])
    return paras


def title_for(
    kind: str, facts: dict[str, Any], lang: str, profile: SiteProfile, day: date
) -> str | None:
    if kind == "story":
        return None
    text = fill(bank(lang)["titles"][kind][facts["title"]], facts, lang, profile, day)
    return capitalize(text)


def assemble(
    profile: SiteProfile,
    node_id: int,
    lang: str,
    kind: str,
    day: date,
    facts: dict[str, Any],
    *,
    body: list[str] | None = None,
    title: str | None = None,
) -> Version:
    """One language version: title, dateline + body + contact, teaser, image, attachments."""
    paras = body if body is not None else body_for(kind, facts, lang, profile, day)
    place = profile.places[facts["place"]][lang]
    forms = profile.dateline_forms[lang]
    form = forms[node_id % len(forms)]
    dateline = None if kind == "story" else dateline_for(profile, lang, place, day, form)
    teaser_src = paras[0] if paras else ""
    if dateline and paras:
        sep = DATELINE_SEP.get(form, " – ")
        lead = paras[0] if form == "weekday_ref" else capitalize(paras[0])
        paras = [f"{dateline}{sep}{lead}", *paras[1:]]
    version = Version(
        node_id=node_id, lang=lang, type=kind,
        title=title if title is not None or kind == "story" else title_for(kind, facts, lang, profile, day),
        path="", published=day, time=f"{9 + node_id % 8:02d}:{(node_id * 7) % 60:02d}",
        dateline=dateline, dateline_place=place if dateline else None,
        paragraphs=[*paras, profile.contact[lang]], teaser=teaser(capitalize(teaser_src)),
        date_mode="full", scope=facts["scope"] if profile.theme == "www" else "Local",
    )  # fmt: skip
    version.dateline_sep = DATELINE_SEP.get(form, " – ")
    add_media(version, profile, facts)
    return version


def countries_for(profile: SiteProfile, version: Version) -> tuple[str, ...]:
    """The truth of a version's country tags, from what the generator put where: the site's
    country, the dateline place's, and each area's that the title or the lead paragraph names.
    A donor named in a title is who pays, not what the release is about: never a tag."""
    found = {profile.country}
    lang = version.lang
    for place, country in zip(profile.places, profile.place_countries, strict=False):
        if version.dateline_place is not None and version.dateline_place == place[lang]:
            found.add(country)
    head = " ".join([version.title or "", *version.paragraphs[:1]])
    for area, country in zip(profile.areas, profile.area_countries, strict=False):
        if area[lang] in head:
            found.add(country)
    return tuple(sorted(c for c in found if c))


def add_media(version: Version, profile: SiteProfile, facts: dict[str, Any]) -> None:
    """Lead image with caption and credit, and PDF attachments, under Drupal's files path."""
    b, day, lang, node_id = bank(version.lang), version.published, version.lang, version.node_id
    month_dir = f"{day.year}-{day.month:02d}"
    files = f"/sites/g/files/{profile.files_dir}/files"
    if facts["image"]:
        version.image_path = f"{files}/styles/large/public/{month_dir}/photo-{node_id}.jpg"
        caption = fill(b["captions"][facts["caption"]], facts, lang, profile, day)
        version.caption = f"{caption} {fill(b['photo'], facts, lang, profile, day)}"
    if facts["attach"]:
        name = b["attachment"][node_id % len(b["attachment"])]
        version.attachments = [f"{files}/documents/{month_dir}/{name}-{node_id}.pdf"]


def teaser(text: str, limit: int = 180) -> str:
    """The listing teaser: the lead cut at a word boundary."""
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + " …"


def spread_dates(rng: random.Random, profile: SiteProfile, count: int) -> list[date]:
    """`count` distinct publication dates within the site's years, oldest first."""
    start, end = date(profile.years[0], 1, 10), date(profile.years[1], 12, 15)
    span = (end - start).days
    days = sorted(rng.sample(range(span), count))
    return [start + timedelta(days=d) for d in days]
