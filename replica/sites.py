"""The replica sites as data: who they are, what they publish and how their theme prints it."""

from __future__ import annotations

from dataclasses import dataclass, field

L = dict[str, str]


@dataclass(frozen=True)
class SiteProfile:
    """One replica site; every difference between sites lives here, not in code."""

    id: str
    name: L
    languages: tuple[str, ...]
    theme: str
    node_base: int
    years: tuple[int, int]
    primary: str
    nodes: int
    types: tuple[str, ...]
    translations: dict[str, int]
    places: tuple[L, ...]
    areas: tuple[L, ...]
    in_country: L
    contact: L
    menus: dict[str, str | None]
    dateline_forms: dict[str, tuple[str, ...]]
    listing_date: str
    article_date: str | None
    date_sources: frozenset[str]
    country: str | None = None
    region: str | None = None
    only: dict[str, int] = field(default_factory=dict)
    listing_only_every: int = 0
    tz: str = "+00:00"
    email_style: str = "anchor"
    menu_container: str | None = "nav"
    view_counter: bool = False
    show_type: bool = True
    keep_apostrophe: bool = False
    duplicate_titles: tuple[tuple[int, int], ...] = ()
    member_states: int = 175
    countries: int = 171
    presence: L = field(default_factory=dict)
    files_dir: str = "tmzbdl486"
    address: tuple[str, ...] = ()
    people: tuple[str, ...] = ("Amina Okafor", "Jean-Baptiste Koné")
    robots_extra: tuple[str, ...] = ()
    # How a page names its other-language versions. `head_alternates`: `<link rel=alternate
    # hreflang>` in the head (Drupal 8+ content translation; they list the page itself too).
    # Without them only the language switcher does, and for a language the release lacks it
    # points to that language's "home" or "listing" (Drupal 8+ themes), or to nothing
    # ("none": Drupal 7 prints an untranslated span). The current language is a link to the
    # page marked active ("active"), an unmarked link to the page ("self") or an active span
    # ("span"). IOM-SITES.md holds page text only, so which real site does what is not known;
    # the replica covers every combination.
    head_alternates: bool = True
    switcher_fallback: str = "home"
    switcher_current: str = "active"
    # Every n-th node (0: none) lives under a bare slug, `/es/<slug>` with no `news/` section:
    # its URL has no article shape, only the listing row around its link says it is a release.
    bare_slug_every: int = 0
    # `views`: Drupal views rows; `plain`: rows of unclassed-for-views divs beside a block of
    # repeated highlight links with descriptions (no date): only the rows' structure tells them.
    listing_markup: str = "views"
    # The ground truth of country tags: the country (registry spelling) each place and area
    # is in, aligned with `places` and `areas`; None for a region of no single country.
    place_countries: tuple[str | None, ...] = ()
    area_countries: tuple[str | None, ...] = ()


ALL_TYPES = ("press_release", "news", "press_release", "story", "news", "press_release")

SITES: tuple[SiteProfile, ...] = (
    SiteProfile(
        id="global",
        name={"en": "International Organization for Migration", "fr": "Organisation internationale pour les migrations", "es": "Organización Internacional para las Migraciones"},
        languages=("en", "fr", "es"),
        theme="www",
        node_base=80210,
        years=(2019, 2024),
        primary="en",
        nodes=14,
        types=("news", "press_release", "statement", "news", "story", "press_release", "news"),
        translations={"fr": 6, "es": 5},
        places=({"en": "Geneva", "fr": "Genève", "es": "Ginebra"}, {"en": "New York", "fr": "New York", "es": "Nueva York"}, {"en": "Nairobi", "fr": "Nairobi", "es": "Nairobi"}, {"en": "Dakar", "fr": "Dakar", "es": "Dakar"}, {"en": "Panama City", "fr": "Panama", "es": "Ciudad de Panamá"}),
        areas=({"en": "in Sudan", "fr": "au Soudan", "es": "en Sudán"}, {"en": "across the Sahel", "fr": "dans le Sahel", "es": "en el Sahel"}, {"en": "in the Americas", "fr": "dans les Amériques", "es": "en las Américas"}, {"en": "in Bangladesh", "fr": "au Bangladesh", "es": "en Bangladesh"}, {"en": "in Yemen", "fr": "au Yémen", "es": "en Yemen"}, {"en": "in the Horn of Africa", "fr": "dans la Corne de l'Afrique", "es": "en el Cuerno de África"}),
        in_country={"en": "worldwide", "fr": "dans le monde", "es": "en el mundo"},
        contact={"en": "For more information, please contact the IOM Media Team in Geneva, Email: newsdesk-replica@iom.int", "fr": "Pour plus d'informations, veuillez contacter l'équipe médias de l'OIM à Genève, Email : newsdesk-replica@iom.int", "es": "Para más información, contacte al equipo de prensa de la OIM en Ginebra, correo: newsdesk-replica@iom.int"},
        menus={"en": "www_en", "fr": "www_fr", "es": "www_es"},
        dateline_forms={"en": ("long",), "fr": ("long",), "es": ("long",)},
        listing_date="long",
        article_date="long",
        date_sources=frozenset({"time", "jsonld"}),
        tz="+02:00",
        email_style="mailto",
        menu_container="nav",
        duplicate_titles=((3, 10),),
        member_states=175,
        countries=171,
        files_dir="tmzbdl486",
        address=("17 route des Morillons", "1211 Geneva 19", "Switzerland"),
        people=("Laura Brenner", "Mohamed Abdi", "Carla Mendes"),
        robots_extra=("Disallow: /admin/",),
        switcher_fallback="listing",
        bare_slug_every=3,
        place_countries=("Switzerland", "United States of America", "Kenya", "Senegal", "Panama"),
        area_countries=("Sudan", None, None, "Bangladesh", "Yemen", None),
    ),
    SiteProfile(
        id="mali",
        name={"fr": "OIM Mali", "en": "IOM Mali"},
        country="Mali",
        region="West and Central Africa",
        languages=("fr", "en"),
        theme="country",
        node_base=1204,
        years=(2015, 2023),
        primary="fr",
        nodes=14,
        types=ALL_TYPES,
        translations={"en": 5},
        only={"en": 1},
        places=({"fr": "Bamako", "en": "Bamako"}, {"fr": "Gao", "en": "Gao"}, {"fr": "Mopti", "en": "Mopti"}, {"fr": "Kayes", "en": "Kayes"}, {"fr": "Tombouctou", "en": "Timbuktu"}),
        areas=({"fr": "dans la région de Gao", "en": "in the Gao region"}, {"fr": "dans la région de Mopti", "en": "in the Mopti region"}, {"fr": "à Kayes", "en": "in Kayes"}, {"fr": "dans le district de Bamako", "en": "in the Bamako district"}, {"fr": "à Tombouctou", "en": "in Timbuktu"}, {"fr": "dans la région de Sikasso", "en": "in the Sikasso region"}),
        in_country={"fr": "au Mali", "en": "in Mali"},
        contact={"fr": "Pour plus d'informations, veuillez contacter l'Unité de communication de l'OIM Mali, Tél : +223 20 00 00 00, Email : oimmali-comm@iom.int", "en": "For more information, please contact the IOM Mali Communication Unit, Tel: +223 20 00 00 00, Email: oimmali-comm@iom.int"},
        menus={"fr": "country_fr", "en": "country_en"},
        dateline_forms={"fr": ("day_month", "weekday_ref"), "en": ("day_month",)},
        listing_date="month_first",
        article_date="month_first",
        date_sources=frozenset(),
        listing_only_every=3,
        menu_container="header",
        view_counter=True,
        keep_apostrophe=True,
        member_states=174,
        countries=171,
        presence={"fr": " L'OIM est présente au Mali depuis 1998.", "en": " IOM has been present in Mali since 1998."},
        files_dir="tmzbdl1241",
        address=("Badalabougou Est, Rue 25", "Bamako", "Mali"),
        people=("Awa Traoré", "Pierre Lemaire"),
    ),
    SiteProfile(
        id="mena",
        name={"en": "IOM Middle East and North Africa", "ar": "المنظمة الدولية للهجرة - الشرق الأوسط وشمال أفريقيا"},
        region="Middle East and North Africa",
        languages=("en", "ar"),
        theme="regional",
        node_base=112950,
        years=(2020, 2024),
        primary="en",
        nodes=11,
        types=("news", "press_release", "story", "press_release", "news"),
        translations={"ar": 6},
        only={"ar": 2},
        places=({"en": "Tripoli", "ar": "طرابلس"}, {"en": "Cairo", "ar": "القاهرة"}, {"en": "Amman", "ar": "عمّان"}, {"en": "Beirut", "ar": "بيروت"}, {"en": "Sana'a", "ar": "صنعاء"}),
        areas=({"en": "in Libya", "ar": "في ليبيا"}, {"en": "in Yemen", "ar": "في اليمن"}, {"en": "in Iraq", "ar": "في العراق"}, {"en": "in Lebanon", "ar": "في لبنان"}, {"en": "along the Central Mediterranean route", "ar": "على طريق وسط البحر المتوسط"}, {"en": "in Sudan", "ar": "في السودان"}),
        in_country={"en": "for the Middle East and North Africa", "ar": "لمنطقة الشرق الأوسط وشمال أفريقيا"},
        contact={"en": "For more information, please contact the IOM Regional Office in Cairo, Email: romena-media@iom.int", "ar": "لمزيد من المعلومات يرجى التواصل مع المكتب الإقليمي للمنظمة في القاهرة، البريد الإلكتروني: romena-media@iom.int"},
        menus={"en": "regional_en", "ar": "regional_ar"},
        dateline_forms={"en": ("long",), "ar": ("ar",)},
        listing_date="long",
        article_date="long",
        date_sources=frozenset({"article_meta"}),
        tz="+03:00",
        menu_container="nav",
        member_states=175,
        countries=171,
        presence={"en": " IOM works in 18 countries of the region.", "ar": " تعمل المنظمة في 18 بلدا في المنطقة."},
        files_dir="tmzbdl666",
        address=("47C Abu El Feda Street", "Zamalek, Cairo", "Egypt"),
        people=("Rania Haddad", "Omar Khalil"),
        head_alternates=False,
        switcher_current="span",
        bare_slug_every=4,
        listing_markup="plain",
        place_countries=("Libya", "Egypt", "Jordan", "Lebanon", "Yemen"),
        area_countries=("Libya", "Yemen", "Iraq", "Lebanon", None, "Sudan"),
    ),
    SiteProfile(
        id="brazil",
        name={"en": "IOM Brazil", "pt-br": "OIM Brasil"},
        country="Brazil",
        region="South America",
        languages=("en", "pt-br"),
        theme="country",
        node_base=2101,
        years=(2018, 2024),
        primary="pt-br",
        nodes=12,
        types=ALL_TYPES,
        translations={"en": 3},
        places=({"pt-br": "Boa Vista", "en": "Boa Vista"}, {"pt-br": "Manaus", "en": "Manaus"}, {"pt-br": "Brasília", "en": "Brasília"}, {"pt-br": "Pacaraima", "en": "Pacaraima"}, {"pt-br": "São Paulo", "en": "São Paulo"}),
        areas=({"pt-br": "em Roraima", "en": "in Roraima"}, {"pt-br": "no Amazonas", "en": "in Amazonas"}, {"pt-br": "em São Paulo", "en": "in São Paulo"}, {"pt-br": "no Rio Grande do Sul", "en": "in Rio Grande do Sul"}, {"pt-br": "na fronteira norte", "en": "on the northern border"}),
        in_country={"pt-br": "no Brasil", "en": "in Brazil"},
        contact={"pt-br": "Para mais informações, entre em contato com a equipe de comunicação da OIM Brasil, e-mail: oimbrasil-imprensa@iom.int", "en": "For more information, please contact the IOM Brazil communication team, Email: oimbrasil-imprensa@iom.int"},
        menus={"pt-br": "country_pt", "en": "country_en"},
        dateline_forms={"pt-br": ("day_month",), "en": ("day_month",)},
        listing_date="long",
        article_date=None,
        date_sources=frozenset({"jsonld"}),
        tz="-03:00",
        menu_container="div",
        show_type=False,
        member_states=175,
        countries=171,
        presence={"pt-br": " A OIM está presente no Brasil desde 2016.", "en": " IOM has had an office in Brazil since 2016."},
        files_dir="tmzbdl1006",
        address=("SAUS Quadra 5", "Brasília - DF", "Brasil"),
        people=("Mariana Souza", "Thiago Ribeiro"),
        head_alternates=False,
        switcher_fallback="listing",
        switcher_current="self",
    ),
    SiteProfile(
        id="colombia",
        name={"es": "OIM Colombia", "en": "IOM Colombia"},
        country="Colombia",
        region="South America",
        languages=("es", "en"),
        theme="legacy",
        node_base=4310,
        years=(2013, 2019),
        primary="es",
        nodes=14,
        types=("press_release", "news", "press_release", "news", "story"),
        translations={"en": 3},
        places=({"es": "Bogotá", "en": "Bogotá"}, {"es": "Cúcuta", "en": "Cúcuta"}, {"es": "Riohacha", "en": "Riohacha"}, {"es": "Pasto", "en": "Pasto"}, {"es": "Arauca", "en": "Arauca"}),
        areas=({"es": "en Norte de Santander", "en": "in Norte de Santander"}, {"es": "en La Guajira", "en": "in La Guajira"}, {"es": "en Nariño", "en": "in Nariño"}, {"es": "en Arauca", "en": "in Arauca"}, {"es": "en el Chocó", "en": "in Chocó"}, {"es": "en Bogotá", "en": "in Bogotá"}),
        in_country={"es": "en Colombia", "en": "in Colombia"},
        contact={"es": "Para mayor información, contactar a la Oficina de Prensa de la OIM Colombia, tel. +57 1 000 0000, correo: prensa-colombia@iom.int", "en": "For more information, please contact the IOM Colombia Press Office, Tel: +57 1 000 0000, Email: prensa-colombia@iom.int"},
        menus={"es": None, "en": None},
        dateline_forms={"es": ("es_dot",), "en": ("long",)},
        listing_date="us",
        article_date="drupal",
        date_sources=frozenset(),
        tz="-05:00",
        menu_container=None,
        duplicate_titles=((1, 8),),
        files_dir="tmzbdl1631",
        address=("Carrera 14 No. 93B-46", "Bogotá", "Colombia"),
        people=("Lucía Ramírez", "Andrés Castillo"),
        head_alternates=False,
        switcher_fallback="none",
        bare_slug_every=5,
    ),
    SiteProfile(
        id="southsudan",
        name={"en": "IOM South Sudan"},
        country="South Sudan",
        region="East and Horn of Africa",
        languages=("en",),
        theme="country",
        node_base=5520,
        years=(2016, 2022),
        primary="en",
        nodes=11,
        types=("press_release", "news", "press_release", "story"),
        translations={},
        places=({"en": "Juba"}, {"en": "Malakal"}, {"en": "Bentiu"}, {"en": "Wau"}, {"en": "Renk"}),
        areas=({"en": "in Unity State"}, {"en": "in Upper Nile"}, {"en": "in Jonglei"}, {"en": "in Western Bahr el Ghazal"}, {"en": "in Central Equatoria"}),
        in_country={"en": "in South Sudan"},
        contact={"en": "For more information, please contact IOM South Sudan Public Information, Email: iomssd-pi@iom.int or iomssd-media@iom.int"},
        menus={"en": "country_en"},
        dateline_forms={"en": ("ordinal",)},
        listing_date="long",
        article_date="long",
        date_sources=frozenset(),
        tz="+02:00",
        menu_container="div",
        view_counter=True,
        member_states=173,
        countries=100,
        presence={"en": " IOM has had a presence in South Sudan since 2011."},
        files_dir="tmzbdl1121",
        address=("Tomping Area", "Juba", "South Sudan"),
        people=("Grace Akol", "Daniel Lual"),
        head_alternates=False,
    ),
)  # fmt: skip

SITES_BY_ID: dict[str, SiteProfile] = {site.id: site for site in SITES}
