"""Fixtures of the feeds tests: a registry, a store seeded with releases in five languages
(one hostile, one Arabic, one story without a title), the app, and a real uvicorn server."""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette

from crawler.items import Release
from crawler.sites import Site
from crawler.store import Store
from feeds.app import FeedService, create_app

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

BASE_URL = "http://feeds.test"
HUB = "https://hub.example.org/"

SITES = (
    Site(
        "mali",
        "https://mali.iom.int",
        ("fr", "en"),
        "Mali",
        "West and Central Africa",
        (),
        "OIM Mali",
    ),
    Site("egypt", "https://egypt.iom.int", ("ar", "en"), "Egypt", "Middle East and North Africa"),
    Site("mexico", "https://mexico.iom.int", ("es", "en"), "Mexico", "Central and North America"),
    Site("brazil", "https://brazil.iom.int", ("pt", "en"), "Brazil", "South America"),
    Site("global", "https://www.iom.int", ("en", "fr", "es", "ar")),
)

HOSTILE_TITLE = '<script>alert("t")</script>Evil <img src=x onerror="alert(1)"> title'
HOSTILE_BODY = (
    '<p onclick="alert(2)">Body <script>alert(3)</script>'
    '<a href="javascript:alert(4)">click</a> <img src="x" onerror="alert(5)">'
    '<iframe src="https://evil.example"></iframe><a href="JaVaScRiPt:alert(6)">again</a></p>'
)


def when(day: int, hour: int = 9) -> datetime:
    return datetime(2024, 5, day, hour, tzinfo=UTC)


def sample_releases() -> list[Release]:
    """Releases covering every language, type and the awkward cases, with distinct dates."""
    return [
        Release(
            url="https://mali.iom.int/fr/news/reintegration-retour",
            site="mali",
            lang="fr",
            title="Réintégration durable des migrants de retour à Bamako",
            published=when(10),
            type="press_release",
            country="Mali",
            region="West and Central Africa",
            node_id="101",
            dateline="Bamako",
            body_html="<p>L'OIM soutient la <strong>réintégration</strong> de 500 migrants.</p>",
            body_text="L'OIM soutient la réintégration de 500 migrants.",
            summary="L'OIM soutient la réintégration de 500 migrants.",
            image_url="https://mali.iom.int/sites/default/files/lead.jpg",
            attachments=["https://mali.iom.int/sites/default/files/rapport.pdf"],
            translations={
                "fr": "https://mali.iom.int/fr/news/reintegration-retour",
                "en": "https://mali.iom.int/news/sustainable-reintegration",
            },
        ),
        Release(
            url="https://egypt.iom.int/ar/news/migration-day",
            site="egypt",
            lang="ar",
            title="المنظمة الدولية للهجرة تحتفل باليوم الدولي للمهاجرين",
            published=when(9),
            type="news",
            country="Egypt",
            region="Middle East and North Africa",
            node_id="202",
            body_html="<p>القاهرة – أطلقت المنظمة الدولية للهجرة برنامجاً جديداً.</p>",
            body_text="القاهرة – أطلقت المنظمة الدولية للهجرة برنامجاً جديداً.",
            summary="أطلقت المنظمة الدولية للهجرة برنامجاً جديداً.",
        ),
        Release(
            url="https://mexico.iom.int/es/news/migracion-segura",
            site="mexico",
            lang="es",
            title="La OIM impulsa la migración segura en la frontera",
            published=when(8),
            type="news",
            country="Mexico",
            region="Central and North America",
            body_html="<p>Programa de migración segura y ordenada.</p>",
            body_text="Programa de migración segura y ordenada.",
        ),
        Release(
            url="https://brazil.iom.int/pt-br/news/protecao",
            site="brazil",
            lang="pt",
            title="OIM reforça a proteção de migrantes venezuelanos",
            published=when(7),
            type="press_release",
            country="Brazil",
            region="South America",
            body_html="<p>Ações de proteção em Roraima.</p>",
            body_text="Ações de proteção em Roraima.",
        ),
        Release(
            url="https://www.iom.int/stories/journey-home",
            site="global",
            lang="en",
            title=None,
            published=when(6),
            type="story",
            body_html="<p>After three years away, Amina finally walked back into her village.</p>",
            body_text="After three years away, Amina finally walked back into her village. "
            "Resettlement was only the beginning.",
        ),
        Release(
            url="https://www.iom.int/news/hostile",
            site="global",
            lang="en",
            title=HOSTILE_TITLE,
            published=when(5),
            type="statement",
            body_html=HOSTILE_BODY,
            body_text="Body click again",
            summary='<b onmouseover="alert(7)">Summary</b><script>alert(8)</script>',
            image_url="javascript:alert(9)",
            attachments=["javascript:alert(10)", "https://www.iom.int/files/ok.pdf"],
            translations={"fr": "javascript:alert(11)"},
        ),
        Release(
            url="https://www.iom.int/news/undated",
            site="global",
            lang="en",
            title="Statement without a date",
            published=None,
            type="statement",
            body_text="No date was found on this page.",
        ),
    ]


def seed(store: Store, releases: list[Release] | None = None) -> Store:
    for release in releases if releases is not None else sample_releases():
        store.save_release(release)
    return store


@pytest.fixture
def seeded(store: Store) -> Store:
    """The sample releases in the parametrized store (SQLite and PostgreSQL)."""
    return seed(store)


@pytest.fixture
def seeded_sqlite(sqlite_store: Store) -> Store:
    return seed(sqlite_store)


def make_app(store: Store, **kwargs: Any) -> Starlette:
    """The app over the test registry and BASE_URL; `kwargs` are FeedService's options."""
    return create_app(FeedService(store, SITES, base_url=BASE_URL, **kwargs))


def make_client(store: Store, **kwargs: object) -> TestClient:
    return TestClient(make_app(store, **kwargs))


@pytest.fixture
def client(seeded: Store) -> TestClient:
    return make_client(seeded, websub_hub=HUB)


@pytest.fixture
def sqlite_client(seeded_sqlite: Store) -> TestClient:
    return make_client(seeded_sqlite, websub_hub=HUB)


@contextmanager
def serve(app: Starlette) -> Iterator[str]:
    """Run the app under uvicorn on 127.0.0.1, port 0, in a thread; yields its base URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
