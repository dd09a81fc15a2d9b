"""Alert mails: every header, both parts, links, five languages, RTL, hostile content, digests."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import parseaddr, parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from lxml import html as lxml_html

from crawler.store import ReleaseQuery
from feeds.alerts.email import (
    MailOrigin,
    Recipient,
    build_confirmation,
    build_digest,
    message_id,
)
from feeds.alerts.tokens import CONFIRM, UNSUBSCRIBE, confirm_token, read_token
from feeds.alerts.words import words_for
from feeds.entries import Entry
from tests.feeds.alerts.mails import (
    KEY,
    NOW,
    ORIGIN,
    instant,
    recipient,
    release,
    reparse,
    wire,
)
from tests.feeds.conftest import HOSTILE_BODY, HOSTILE_TITLE
from tests.feeds.test_hostile import assert_inert_html, assert_inert_text

# what each language must say: our own words, not the release's
SAID = {
    "en": ("[IOM alert]", "View online", "Unsubscribe", "Daily digest", "Weekly digest"),
    "fr": ("[Alerte OIM]", "Voir en ligne", "Se désabonner", "Résumé quotidien", "hebdomadaire"),
    "es": ("[Alerta OIM]", "Ver en línea", "Cancelar la suscripción", "Resumen diario", "semanal"),
    "ar": ("[تنبيه", "عرض على الإنترنت", "إلغاء الاشتراك", "الملخص اليومي", "الأسبوعي"),
    "pt": ("[Alerta OIM]", "Ver online", "Cancelar inscrição", "Resumo diário", "semanal"),
}


def parts(message: EmailMessage) -> tuple[str, str]:
    """(text, html) of a mail as received: parsed back from the bytes sent."""
    received = reparse(wire(message))
    text = received.get_body(("plain",))
    page = received.get_body(("html",))
    assert text is not None and page is not None
    # the wire has CRLF line ends; compare lines as a reader sees them
    return text.get_content().replace("\r\n", "\n"), page.get_content().replace("\r\n", "\n")


def digest(
    entries: Sequence[Entry] | None = None, lang: str = "en", mode: str = "daily", **kwargs: Any
) -> EmailMessage:
    return build_digest(
        entries if entries is not None else [release()],
        mode=mode,
        origin=ORIGIN,
        recipient=kwargs.pop("to", recipient(lang)),
        key=kwargs.pop("key", "digest:7:2026-03-03"),
        now=kwargs.pop("now", NOW),
    )


def raw_headers(message: EmailMessage) -> str:
    return wire(message).split(b"\r\n\r\n", 1)[0].decode("ascii")


def unsubscribe_links(message: EmailMessage) -> tuple[str, str]:
    https, mailto = re.findall(r"<([^>]+)>", str(message["List-Unsubscribe"]))
    return https, mailto


@pytest.mark.parametrize("build", [instant, digest], ids=["instant", "digest"])
def test_every_header(build: Callable[..., EmailMessage]) -> None:
    message = build()
    received = reparse(wire(message))
    digest_of_key = hashlib.sha256(
        ("outbox:1" if build is instant else "digest:7:2026-03-03").encode()
    ).hexdigest()[:32]
    assert received["Message-ID"] == f"<{digest_of_key}@example.org>"
    assert parsedate_to_datetime(received["Date"]) == NOW
    assert parseaddr(received["From"])[1] == "alerts@example.org"
    assert received["To"] == "analyst@example.org"
    assert received["Subject"].startswith("[IOM alert] ")
    assert received["List-Id"] == "<iomwatch.alerts.example.org>"
    https, mailto = unsubscribe_links(received)
    assert https.startswith("https://alerts.example.org/unsubscribe?token=")
    token = parse_qs(urlsplit(https).query)["token"][0]
    assert read_token(KEY, UNSUBSCRIBE, token, now=NOW) == "subscriber-7"
    assert mailto == "mailto:alerts@example.org?subject=unsubscribe"
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert received["Auto-Submitted"] == "auto-generated"
    assert received["Precedence"] == "bulk"
    # the list header stays readable on the wire: folded between URLs, never RFC 2047
    raw = raw_headers(message)
    assert "List-Unsubscribe: <https://alerts.example.org/unsubscribe?token=" in raw
    assert not re.search(r"^List-Unsubscribe:.*=\?", raw, re.MULTILINE)
    assert all(len(line) <= 998 for line in raw.split("\r\n"))


@pytest.mark.parametrize("build", [instant, digest], ids=["instant", "digest"])
def test_both_parts_and_never_multipart_digest(build: Callable[..., EmailMessage]) -> None:
    received = reparse(wire(build()))
    assert received.get_content_type() == "multipart/alternative"
    leaves = [p.get_content_type() for p in received.walk() if not p.is_multipart()]
    assert leaves == ["text/plain", "text/html"]  # plain first: clients show the last they can
    assert "multipart/digest" not in wire(build()).decode("ascii").lower()
    for part in received.walk():
        if not part.is_multipart():
            assert part.get_content_charset() == "utf-8"
            assert part["Content-Transfer-Encoding"] in {"7bit", "quoted-printable", "base64"}


def test_message_id_derives_from_the_idempotency_key() -> None:
    assert instant(key="outbox:1")["Message-ID"] == instant(key="outbox:1")["Message-ID"]
    assert instant(key="outbox:1")["Message-ID"] != instant(key="outbox:2")["Message-ID"]
    named = MailOrigin("IOM alerts <news@alerts.example.net>", "https://x.example")
    assert message_id("k", named).endswith("@alerts.example.net>")
    assert named.address == "news@alerts.example.net"


def test_links_in_both_parts() -> None:
    text, page = parts(instant())
    doc: lxml_html.HtmlElement = lxml_html.fromstring(page)
    hrefs = doc.xpath("//a/@href")
    permalink = "https://alerts.example.org/releases/mali-101"
    original = "https://mali.iom.int/fr/news/reintegration-retour"
    https, _ = unsubscribe_links(instant())
    for url in (permalink, original, https, "https://mali.iom.int/news/sustainable-reintegration"):
        assert url in hrefs
        assert url in text
    view = doc.xpath("//a[normalize-space()='View online']/@href")
    assert view == [permalink]
    assert doc.xpath("//a[normalize-space()='Unsubscribe']/@href") == [https]
    assert doc.xpath("//a[normalize-space()='Read on the IOM website']/@href") == [original]
    assert f"View online: {permalink}" in text
    assert f"Unsubscribe: {https}" in text


def test_content_in_both_parts_inline_css() -> None:
    text, page = parts(instant())
    assert "Réintégration durable des migrants de retour à Bamako" in text
    assert "L'OIM soutient la réintégration de 500 migrants." in text
    doc: lxml_html.HtmlElement = lxml_html.fromstring(page)
    assert doc.xpath("//strong/text()") == ["réintégration"]
    assert not doc.xpath("//style|//link[@rel='stylesheet']")  # inline CSS only
    assert doc.xpath("//body/div[@style]")
    # the release keeps its own language inside an English mail
    assert doc.xpath("//div[@lang='fr' and @dir='ltr']//h1")
    assert "Press release · IOM mali · Published March 2, 2026 · Bamako" in text


def test_arabic_mail_is_right_to_left() -> None:
    _, page = parts(instant("ar"))
    root: lxml_html.HtmlElement = lxml_html.fromstring(page)
    assert root.get("dir") == "rtl" and root.get("lang") == "ar"
    assert "text-align:right" in root.xpath("//body/div/@style")[0]
    # an Arabic release in an English mail: the mail ltr, the release rtl
    arabic = release(
        id="egypt-202",
        site="egypt",
        url="https://egypt.iom.int/ar/news/migration-day",
        lang="ar",
        country="Egypt",
        title="المنظمة الدولية للهجرة تحتفل باليوم الدولي للمهاجرين",
        body_html="<p>أطلقت المنظمة الدولية للهجرة برنامجاً جديداً.</p>",
        body_text="أطلقت المنظمة الدولية للهجرة برنامجاً جديداً.",
    )
    for message in (instant("en", arabic), digest([arabic], "en")):
        root = lxml_html.fromstring(parts(message)[1])
        assert root.get("dir") == "ltr"
        assert root.xpath("//*[@lang='ar' and @dir='rtl']")


@pytest.mark.parametrize("lang", sorted(SAID))
def test_our_words_in_the_subscriber_language(lang: str) -> None:
    prefix, view, unsubscribe, daily, weekly = SAID[lang]
    message = instant(lang)
    assert str(message["Subject"]).startswith(prefix)
    text, page = parts(message)
    for said in (view, unsubscribe):
        assert said in text and said in page
    assert lxml_html.fromstring(page).get("lang") == lang
    for mode, heading in (("daily", daily), ("weekly", weekly)):
        text, page = parts(digest(lang=lang, mode=mode))
        assert heading in text and heading in page
        assert heading in str(digest(lang=lang, mode=mode)["Subject"])
        assert unsubscribe in text and unsubscribe in page
    # none of the other languages' words slipped in
    for other, words in SAID.items():
        if other != lang and words[2] not in SAID[lang][2]:
            assert words[2] not in text


def test_words_fall_back_by_prefix_then_to_english() -> None:
    assert words_for("pt-BR").lang == "pt"
    assert words_for("fr_CA").lang == "fr"
    assert words_for("AR").lang == "ar"
    assert words_for("zz").lang == "en"
    assert words_for("").lang == "en"


def test_plurals_and_dates_follow_each_language() -> None:
    ar = words_for("ar")
    assert [ar.releases(n) for n in (1, 2, 3, 11, 100)] == [
        "بيان جديد واحد",
        "بيانان جديدان",
        "3 بيانات جديدة",
        "11 بيانًا جديدًا",
        "100 بيان جديد",
    ]
    assert words_for("fr").releases(1) == "1 nouveau communiqué"
    assert words_for("fr").releases(1200) == "1\u202f200 nouveaux communiqués"
    assert words_for("en").releases(2) == "2 new releases"
    day = datetime(2026, 3, 29).date()
    assert words_for("fr").long_date(day) == "29 mars 2026"
    assert words_for("es").long_date(day) == "29 de marzo de 2026"
    assert words_for("pt").long_date(day) == "29 de março de 2026"


def hostile(**fields: Any) -> Entry:
    values = {
        "id": "global-evil",
        "site": "global",
        "url": "javascript:alert(0)",
        "lang": "en",
        "country": None,
        "title": HOSTILE_TITLE,
        "body_html": HOSTILE_BODY,
        "body_text": "Body click again",
        "summary": '<b onmouseover="alert(7)">Summary</b><script>alert(8)</script>',
        "image_url": "javascript:alert(9)",
        "attachments": ["javascript:alert(10)", "https://www.iom.int/files/ok.pdf"],
        "translations": {"fr": "javascript:alert(11)"},
    }
    return release(**{**values, **fields})


@pytest.mark.parametrize("build", [instant, digest], ids=["instant", "digest"])
def test_hostile_release_is_inert_in_html_and_plain_in_text(
    build: Callable[..., EmailMessage],
) -> None:
    entry = hostile()
    message = build(entries=[entry]) if build is digest else instant(entry=entry)
    text, page = parts(message)
    doc: lxml_html.HtmlElement = lxml_html.fromstring(page)
    body = lxml_html.tostring(doc.body, encoding="unicode")
    assert_inert_html(body)
    assert not doc.xpath("//img[starts-with(@src, 'x')]")
    assert any(t.startswith("Evil") and t.endswith("title") for t in doc.xpath("//a/text()"))
    assert_inert_text(text)
    assert "onerror" not in text and "onmouseover" not in text and "alert(" not in text
    assert "Evil" in text
    if build is instant:
        assert str(message["Subject"]) == "[IOM alert] Evil title"
    # the release's javascript: URL was dropped: the link falls back to our own page
    assert "https://alerts.example.org/releases/global-evil" in text


def test_a_header_cannot_be_injected() -> None:
    with pytest.raises(ValueError):
        build_digest(
            [release()],
            mode="daily",
            origin=ORIGIN,
            recipient=Recipient("a@example.org\r\nBcc: victim@example.org", "en", "UTC", "t"),
            key="k",
            now=NOW,
        )


def countries() -> list[Entry]:
    """Five releases: two from Mali, one from Egypt, two with no country (site names)."""
    day = datetime(2026, 3, 2, tzinfo=UTC)
    return [
        release(id="m1", country="Mali", title="Mali older", published=day),
        release(id="e1", country="Egypt", title="Egypt one", published=day),
        release(id="g1", site="global", country=None, title="Global one", published=day),
        release(id="m2", country="Mali", title="Mali newer", published=day + timedelta(hours=5)),
        release(id="g2", site="global", country=None, title="Global two", published=day),
    ]


def test_digest_groups_by_country_one_section_each() -> None:
    message = digest(countries())
    text, page = parts(message)
    doc: lxml_html.HtmlElement = lxml_html.fromstring(page)
    sections = doc.xpath("//div[@class='section']")
    headings = [s.xpath("string(h2)") for s in sections]
    assert headings == ["Egypt", "IOM global", "Mali"]
    titles = [s.xpath(".//h3/a/text()") for s in sections]
    assert titles == [["Egypt one"], ["Global one", "Global two"], ["Mali newer", "Mali older"]]
    assert len(doc.xpath("//body")) == 1 and len(doc.xpath("//html")) == 1
    assert re.findall(r"^== (.+) ==$", text, re.MULTILINE) == headings
    assert text.index("Mali newer") < text.index("Mali older")
    assert "5 new releases" in text and "5 new releases" in str(message["Subject"])
    for entry_id in ("m1", "e1", "g1", "m2", "g2"):
        assert f"https://alerts.example.org/releases/{entry_id}" in text


def test_digest_date_is_the_subscriber_local_date() -> None:
    late = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)
    tokyo = Recipient("a@example.org", "en", "Asia/Tokyo", "token")
    assert "March 3, 2026" in str(digest(to=tokyo, now=late)["Subject"])
    bamako = Recipient("a@example.org", "en", "Africa/Bamako", "token")
    assert "March 2, 2026" in str(digest(to=bamako, now=late)["Subject"])


def test_empty_digest_is_not_built() -> None:
    with pytest.raises(ValueError, match="empty digest"):
        digest([])
    with pytest.raises(ValueError, match="digest mode 'instant'"):
        digest(mode="instant")


def test_alert_without_unsubscribe_token_is_refused() -> None:
    with pytest.raises(ValueError, match="unsubscribe token"):
        build_digest(
            [release()],
            mode="daily",
            origin=ORIGIN,
            recipient=Recipient("a@example.org"),
            key="k",
            now=NOW,
        )


@pytest.mark.parametrize(
    ("lang", "filter_line", "action"),
    [
        ("en", "Country: Mali, Niger", "Confirm my subscription"),
        ("fr", "Pays: Mali, Niger", "Confirmer mon abonnement"),
        ("ar", "البلد: Mali, Niger", "تأكيد اشتراكي"),
    ],
)
def test_confirmation_mail(lang: str, filter_line: str, action: str) -> None:
    token = confirm_token(KEY, "analyst@example.org:nonce-1", now=NOW)
    query = ReleaseQuery(country=("Mali", "Niger"), type=("press_release",))
    message = build_confirmation(
        query, origin=ORIGIN, recipient=recipient(lang), token=token, key="confirm:1", now=NOW
    )
    received = reparse(wire(message))
    assert received["Message-ID"] == message_id("confirm:1", ORIGIN)
    assert received["Auto-Submitted"] == "auto-generated"
    assert received["List-Unsubscribe"] is None  # nobody is subscribed yet
    text, page = parts(message)
    url = f"https://alerts.example.org/subscribe/confirm?token={token}"
    assert url in text
    assert lxml_html.fromstring(page).xpath(f"//a[normalize-space()='{action}']/@href") == [url]
    assert read_token(KEY, CONFIRM, token, now=NOW) == "analyst@example.org:nonce-1"
    assert filter_line in text
    assert words_for(lang).type_label("press_release") in text


def test_confirmation_of_everything() -> None:
    message = build_confirmation(
        ReleaseQuery(), origin=ORIGIN, recipient=recipient("es"), token="t", key="c", now=NOW
    )
    text, _ = parts(message)
    assert "- Todos los comunicados" in text
    assert str(message["Subject"]) == "Confirme sus alertas de la OIM"


def test_origin_is_checked() -> None:
    with pytest.raises(ValueError):
        MailOrigin("not-an-address", "https://alerts.example.org")
    with pytest.raises(ValueError):
        MailOrigin("alerts@example.org", "javascript:alert(1)")


def test_every_language_says_everything() -> None:
    from feeds.alerts.words import LANGUAGES

    assert sorted(LANGUAGES) == ["ar", "en", "es", "fr", "pt"]
    for lang in LANGUAGES:
        words = words_for(lang)
        assert set(words.filter_labels) == {"site", "country", "region", "lang", "type", "q"}
        assert set(words.type_labels) == {"press_release", "news", "story", "statement"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[xx]\nview_online = "x"', "missing"),
        ("[xx]\n" + "\n".join(f'{k} = "x"' for k in ("nonsense",)), "missing"),
        ("", None),
    ],
)
def test_words_file_is_checked(text: str, message: str | None) -> None:
    from feeds.alerts.words import load_words

    if message is None:
        assert load_words(text) == {}
        return
    with pytest.raises(ValueError, match=message):
        load_words(text)


def test_words_file_names_unknown_keys_and_bad_texts() -> None:
    from importlib.resources import files

    from feeds.alerts.words import load_words

    english = files("feeds.alerts").joinpath("words.toml").read_text("utf-8").split("[fr]")[0]
    assert load_words(english)["en"].view_online == "View online"
    with pytest.raises(ValueError, match=r"\[en\]: unknown colour"):
        load_words(english.replace("[en]\n", '[en]\ncolour = "x"\n'))
    with pytest.raises(ValueError, match="view_online: expected non-empty text"):
        load_words(english.replace('view_online = "View online"', 'view_online = ""'))
    with pytest.raises(ValueError, match="needs 'other'"):
        load_words(english.replace('other = "{n} new releases"', ""))
