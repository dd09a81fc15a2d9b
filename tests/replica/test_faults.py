"""Each fault does what it says, only on its path prefix, and clear_faults() undoes it."""

from __future__ import annotations

import time

import httpx
import pytest

from replica import ReplicaServer


@pytest.fixture
def site(fresh: ReplicaServer) -> tuple[ReplicaServer, str]:
    return fresh, fresh.base_url("mali")


@pytest.mark.parametrize("fault", ["500", "404", "503"])
def test_status_faults(site: tuple[ReplicaServer, str], fault: str) -> None:
    server, base = site
    server.set_fault("mali", "/news", fault)
    assert httpx.get(base + "/news").status_code == int(fault)
    assert httpx.get(base + "/en/news").status_code == 200  # other prefix untouched
    server.clear_faults()
    assert httpx.get(base + "/news").status_code == 200


def test_timeout_outlasts_the_client_and_stop_interrupts_it(
    site: tuple[ReplicaServer, str],
) -> None:
    server, base = site
    server.set_fault("mali", "", "timeout")
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(base + "/news", timeout=0.5)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 5


def test_redirect_loop(site: tuple[ReplicaServer, str]) -> None:
    server, base = site
    server.set_fault("mali", "/news", "redirect_loop")
    first = httpx.get(base + "/news")
    assert first.status_code == 302 and first.headers["Location"].endswith("/news?loop=1")
    with pytest.raises(httpx.TooManyRedirects):
        httpx.get(base + "/news", follow_redirects=True)


def test_truncated_html_is_cut_mid_tag(site: tuple[ReplicaServer, str]) -> None:
    server, base = site
    whole = httpx.get(base + "/news").content
    server.set_fault("mali", "/news", "truncated")
    cut = httpx.get(base + "/news").content
    assert 0 < len(cut) < len(whole) and whole.startswith(cut)
    assert cut.rstrip().endswith(cut[cut.rfind(b"<") :]) and b">" not in cut[cut.rfind(b"<") :]


def test_wrong_charset_sends_cp1252_under_a_utf8_label(site: tuple[ReplicaServer, str]) -> None:
    server, base = site
    server.set_fault("mali", "/news", "wrong_charset")
    response = httpx.get(base + "/news")
    assert "charset=utf-8" in response.headers["Content-Type"]
    with pytest.raises(UnicodeDecodeError):
        response.content.decode("utf-8")
    assert "Actualités" in response.content.decode("cp1252")


def test_wrong_charset_header_labels_utf8_as_latin1(site: tuple[ReplicaServer, str]) -> None:
    server, base = site
    server.set_fault("mali", "/news", "wrong_charset_header")
    response = httpx.get(base + "/news")
    assert "iso-8859-1" in response.headers["Content-Type"]
    assert "Actualités" in response.content.decode("utf-8")


def test_huge_page_is_fifty_megabytes(site: tuple[ReplicaServer, str]) -> None:
    server, _base = site
    server.set_fault("mali", "/news/", "huge")
    url = server.releases("mali")[0].url
    total = 0
    with httpx.stream("GET", url) as response:
        assert int(response.headers["Content-Length"]) == 50 * 1024 * 1024
        for chunk in response.iter_raw():
            total += len(chunk)
    assert total == 50 * 1024 * 1024


def test_huge_page_stops_when_the_client_gives_up(site: tuple[ReplicaServer, str]) -> None:
    server, base = site
    server.set_fault("mali", "", "huge")
    with httpx.stream("GET", base + "/news") as response:
        next(response.iter_raw())
    server.stop()  # must not hang on the half-sent page


def test_reset_closes_without_a_response(site: tuple[ReplicaServer, str]) -> None:
    server, base = site
    server.set_fault("mali", "", "reset")
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError, httpx.ConnectError)):
        httpx.get(base + "/news")
    assert server.requests[-1].fault == "reset"


def test_site_down_and_back(site: tuple[ReplicaServer, str]) -> None:
    server, base = site
    server.set_down("mali")
    assert httpx.get(base + "/robots.txt").status_code == 503
    assert httpx.get(server.base_url("mena") + "/news").status_code == 200
    server.set_down("mali", down=False)
    assert httpx.get(base + "/news").status_code == 200


def test_unknown_fault_is_refused(site: tuple[ReplicaServer, str]) -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        site[0].set_fault("mali", "", "explode")
