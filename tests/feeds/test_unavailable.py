"""The database-away handler on its own: formats, the once-a-minute log line with its count,
and a bug (not an outage) left a 500."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy.exc import OperationalError, ProgrammingError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from feeds.unavailable import DATABASE_AWAY, LOG_EVERY_SECONDS, DatabaseAwayHandler


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def away(request: Request) -> Response:
    raise OperationalError("SELECT 1", {}, Exception("connection refused"))


def bug(request: Request) -> Response:
    raise ProgrammingError("SELECT nope", {}, Exception("no such column"))


def html_page(status: int, message: str) -> Response:
    return HTMLResponse(f"<html><body>{message}</body></html>", status_code=status)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(clock: Clock) -> TestClient:
    handler = DatabaseAwayHandler(html_page, clock=clock)
    routes = [Route(path, away) for path in ("/feed.atom", "/api/releases", "/", "/opml.xml")]
    app = Starlette(
        routes=[*routes, Route("/bug", bug)],
        exception_handlers=dict.fromkeys(DATABASE_AWAY, handler),
    )
    return TestClient(app, raise_server_exceptions=False)


def test_each_path_gets_503_in_its_own_format(client: TestClient) -> None:
    feed, api, page, opml = (
        client.get(p) for p in ("/feed.atom", "/api/releases", "/", "/opml.xml")
    )
    for response in (feed, api, page, opml):
        assert response.status_code == 503
        assert response.headers["retry-after"] == "30"
        assert response.headers["cache-control"] == "no-store"
    assert api.json() == {"error": "The database is unavailable for the moment; try again shortly."}
    assert feed.text.startswith("503 Service Unavailable") and opml.text.startswith("503 ")
    assert page.headers["content-type"].startswith("text/html") and "<html>" in page.text


def test_one_line_a_minute_with_the_count_answered_meanwhile(
    client: TestClient, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="feeds.unavailable")
    for _ in range(3):
        client.get("/feed.atom")
    clock.now += LOG_EVERY_SECONDS - 1
    client.get("/api/releases")
    assert len(caplog.records) == 1
    assert caplog.messages[0] == (
        "database unavailable (OperationalError) on GET /feed.atom: answered 503"
    )
    clock.now += 1
    client.get("/")
    assert len(caplog.records) == 2
    assert caplog.messages[1].endswith(
        "on GET /: answered 503; 3 more request(s) answered 503 since"
    )
    assert "connection refused" not in caplog.text  # the type only, never the driver's text


def test_a_bug_in_a_query_stays_a_500(client: TestClient) -> None:
    assert client.get("/bug").status_code == 500
