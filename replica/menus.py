"""Mega-menu variants of the IOM themes (labels after IOM-SITES.md §5, descriptions written here).

An item is `(label, description_key | None, children)`; a description is formatted with the
site's member-state count, country count and "present since" sentence.
"""

from __future__ import annotations

MenuItem = tuple[str, str | None, tuple[str, ...]]

DESCRIPTIONS: dict[str, str] = {
    "who_en": "Founded in 1951, IOM is the United Nations agency that works with governments and civil society for humane and orderly migration, with {member_states} member states and offices in {countries} countries.{presence}",
    "work_en": "As the UN migration agency, IOM works across emergencies, recovery and development to protect migrants, support displaced people and help communities prepare for a changing climate.",
    "who_fr": "Fondée en 1951, l'OIM est l'agence des Nations Unies qui œuvre avec les gouvernements et la société civile pour des migrations humaines et ordonnées ; elle compte {member_states} États membres et des bureaux dans {countries} pays.{presence}",
    "work_fr": "En tant qu'agence des Nations Unies pour les migrations, l'OIM intervient dans les urgences, le relèvement et le développement pour protéger les migrants, soutenir les personnes déplacées et aider les communautés face au changement climatique.",
    "who_es": "Fundada en 1951, la OIM es la agencia de las Naciones Unidas que trabaja con los gobiernos y la sociedad civil por una migración humana y ordenada, con {member_states} Estados Miembros y oficinas en {countries} países.{presence}",
    "work_es": "Como agencia de la ONU para la migración, la OIM trabaja en emergencias, recuperación y desarrollo para proteger a las personas migrantes, apoyar a las desplazadas y preparar a las comunidades ante el cambio climático.",
    "who_pt": "Fundada em 1951, a OIM é a agência das Nações Unidas que trabalha com governos e sociedade civil por uma migração humana e ordenada, com {member_states} Estados-Membros e escritórios em {countries} países.{presence}",
    "work_pt": "Como agência da ONU para as migrações, a OIM atua em emergências, recuperação e desenvolvimento para proteger migrantes, apoiar pessoas deslocadas e preparar comunidades para as mudanças do clima.",
    "who_ar": "تأسست المنظمة الدولية للهجرة عام 1951، وهي وكالة الأمم المتحدة التي تعمل مع الحكومات والمجتمع المدني من أجل هجرة إنسانية ومنظمة، وتضم {member_states} دولة عضوا ولها مكاتب في {countries} بلدا.{presence}",
    "work_ar": "بصفتها وكالة الأمم المتحدة للهجرة، تعمل المنظمة في حالات الطوارئ والتعافي والتنمية لحماية المهاجرين ودعم النازحين ومساعدة المجتمعات على مواجهة تغير المناخ.",
}

MENUS: dict[str, tuple[MenuItem, ...]] = {
    "www_en": (
        ("Who we are", "who_en", ()),
        ("Our Work", "work_en", ("What We Do", "Partnerships", "Highlights")),
        ("Where we work", None, ()),
        ("Take Action", None, ("Work with us", "Get involved")),
        ("Data and Research", None, ()),
        ("2030 Agenda", None, ()),
    ),
    "www_fr": (
        ("Qui sommes nous", "who_fr", ("Structure",)),
        ("Notre travail", "work_fr", ("Ce que nous faisons", "Partenariats")),
        ("Où travaillons-nous", None, ()),
        ("Agir", None, ("Travailler avec nous", "Engagez-vous")),
        ("Données et recherche", None, ()),
        ("2030 AGENDA", None, ()),
    ),
    "www_es": (
        ("Quiénes somos", "who_es", ("Sobre nosotros",)),
        ("Nuestro trabajo", "work_es", ("Qué hacemos", "Partenariados")),
        ("Dónde operamos", None, ()),
        ("Actúa", None, ("Trabaje con nosotros", "Participe")),
        ("Datos e investigación", None, ()),
        ("2030 AGENDA", None, ()),
    ),
    "country_fr": (
        ("Qui sommes nous", "who_fr", ("À propos", "OIM Global")),
        ("Notre travail", "work_fr", ("Ce que nous faisons", "Priorités transversales")),
        ("Données et ressources", None, ()),
        ("Agir", None, ("Travailler avec nous", "Engagez-vous")),
        ("2030 Agenda", None, ()),
    ),
    "country_en": (
        ("Who We Are", "who_en", ("About", "IOM Global")),
        ("Our Work", "work_en", ("Cross-cutting (Global)",)),
        ("Data and Resources", None, ()),
        ("Take Action", None, ()),
        ("2030 Agenda", None, ()),
    ),
    "regional_en": (
        ("Who we are", "who_en", ("About", "IOM Global")),
        ("Our Work", "work_en", ("Cross-cutting (Global)",)),
        ("Where we work", None, ()),
        ("Take Action", None, ()),
        ("Data and Resources", None, ()),
        ("2030 Agenda", None, ()),
    ),
    "regional_ar": (
        ("من نحن", "who_ar", ("معلومات عن", "المنظمة الدولية للهجرة في العالم")),
        ("عملنا", "work_ar", ("ماذا نفعل", "القضايا العالمية الشاملة")),
        ("أين نعمل؟", None, ()),
        ("شارك بعمل شيء", None, ()),
        ("البيانات والمصادر", None, ()),
        ("2030 Agenda", None, ()),
    ),
    "country_pt": (
        ("Quem somos", "who_pt", ("Sobre", "OIM Global")),
        ("Nosso trabalho", "work_pt", ("O que fazemos", "Transversal (global)")),
        ("Dados e Informações", None, ()),
        ("Contribua", None, ()),
        ("2030 Agenda", None, ()),
    ),
}


def menu_for(variant: str, context: dict[str, str]) -> list[dict[str, object]]:
    """The menu items of a variant with their descriptions filled in for one site."""
    items: list[dict[str, object]] = []
    for label, desc_key, children in MENUS[variant]:
        desc = DESCRIPTIONS[desc_key].format(**context) if desc_key else None
        href = "/" + _slug(label)
        kids = [{"label": c, "href": f"{href}/{_slug(c)}"} for c in children]
        items.append({"label": label, "desc": desc, "href": href, "children": kids})
    return items


def _slug(label: str) -> str:
    """A menu path segment; non-Latin labels get a stable numeric one."""
    cleaned = "".join(ch if ch.isascii() and ch.isalnum() else "-" for ch in label.lower())
    cleaned = "-".join(part for part in cleaned.split("-") if part)
    return cleaned or f"section-{sum(map(ord, label)) % 997}"
