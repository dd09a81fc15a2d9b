"""Feed benchmark: render time for 50 and 500 entries (Atom, RSS, JSON Feed), then requests/s
for a cached feed over loopback against a static file of the same bytes from the same server.

    .venv/bin/python bench/feeds.py [--seconds 3] [--clients 4]

The server runs in a child process (uvicorn, one worker) so client and server do not share a GIL.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from crawler.items import Release
from crawler.sites import Site
from crawler.store import ReleaseQuery, Store
from feeds.build import FeedMeta
from feeds.catalog import FORMATS

BASE_URL = "http://localhost:8080"
SITES = (
    Site("mali", "https://mali.iom.int", ("fr", "en"), "Mali", "West and Central Africa"),
    Site("egypt", "https://egypt.iom.int", ("ar", "en"), "Egypt", "Middle East and North Africa"),
    Site("mexico", "https://mexico.iom.int", ("es", "en"), "Mexico", "Central and North America"),
)
LANGS = ("fr", "ar", "es", "en", "pt")
PARAGRAPH = (
    "The International Organization for Migration (IOM) supported {n} returning migrants with "
    "reintegration assistance, psychosocial support and vocational training this month. "
)


def release(i: int) -> Release:
    site = SITES[i % len(SITES)]
    body = "".join(f"<p>{PARAGRAPH.format(n=i + k)}</p>" for k in range(12))  # ~2.5 kB
    return Release(
        url=f"{site.base_url}/news/release-{i}",
        site=site.id,
        lang=LANGS[i % len(LANGS)],
        title=f"Release number {i}: IOM scales up support",
        published=datetime(2024, 1, 1, tzinfo=UTC) + timedelta(hours=i),
        type="press_release" if i % 2 else "news",
        country=site.country,
        region=site.region,
        body_html=body,
        body_text=body.replace("<p>", "").replace("</p>", "\n"),
        summary=PARAGRAPH.format(n=i),
        image_url=f"{site.base_url}/files/{i}.jpg",
        attachments=[f"{site.base_url}/files/{i}.pdf"],
        translations={"en": f"{site.base_url}/en/news/release-{i}"},
    )


def bench_render(store: Store) -> None:
    meta = FeedMeta(
        "bench", f"{BASE_URL}/feed.atom", f"{BASE_URL}/", BASE_URL, sites={s.id: s for s in SITES}
    )
    print("render time (median of 7, ms)")
    print(f"{'entries':>8} {'atom':>8} {'rss':>8} {'json':>8} {'atom kB':>8}")
    for n in (50, 500):
        rows = store.query_releases(ReleaseQuery(), limit=n)
        times = {}
        for name, fmt in FORMATS.items():
            samples = []
            for _ in range(7):
                start = time.perf_counter()
                body = fmt.build(rows, meta)
                samples.append(time.perf_counter() - start)
            times[name] = statistics.median(samples) * 1000
            if name == "atom":
                size = len(body) / 1024
        print(
            f"{n:>8} {times['atom']:>8.1f} {times['rss']:>8.1f} {times['json']:>8.1f} {size:>8.0f}"
        )


def serve(db_url: str, port: int, static_dir: str) -> None:
    """Child process: the real app plus a static mount of the same bytes, under uvicorn."""
    import uvicorn
    from starlette.staticfiles import StaticFiles

    from feeds.app import FeedService, create_app

    app = create_app(FeedService(Store(db_url, migrate=False), SITES, base_url=BASE_URL))
    app.mount("/static", StaticFiles(directory=static_dir))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def hammer(url: str, seconds: float, clients: int, headers: dict[str, str]) -> float:
    """Requests per second from `clients` keep-alive clients in threads."""
    counts = [0] * clients
    deadline = time.perf_counter() + seconds

    def worker(slot: int) -> None:
        with httpx.Client(headers=headers) as http:
            while time.perf_counter() < deadline:
                response = http.get(url)
                assert response.status_code == 200, response.status_code
                counts[slot] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / (time.perf_counter() - start)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_up(url: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise SystemExit("server did not start")


def bench_http(db_url: str, static_dir: Path, seconds: float, clients: int) -> None:
    port = free_port()
    cmd = [sys.executable, __file__, "--serve", db_url, str(port), str(static_dir)]
    child = subprocess.Popen(cmd)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_up(url)
        feed = httpx.get(f"{url}/feed.atom").content
        (static_dir / "feed.atom").write_bytes(feed)
        print(
            f"\nrequests/s over loopback ({clients} clients, {seconds:.0f} s each, feed {len(feed) / 1024:.0f} kB)"
        )
        for label, headers in (
            ("identity", {"Accept-Encoding": "identity"}),
            ("gzip", {"Accept-Encoding": "gzip"}),
        ):
            hammer(f"{url}/feed.atom", 0.5, clients, headers)  # warm the render cache
            dynamic = hammer(f"{url}/feed.atom", seconds, clients, headers)
            static = hammer(f"{url}/static/feed.atom", seconds, clients, headers)
            print(
                f"{label:>9}: cached feed {dynamic:7.0f} req/s · static file {static:7.0f} req/s · ratio {dynamic / static:.2f}"
            )
    finally:
        child.terminate()
        child.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--serve", nargs=3, metavar=("DB_URL", "PORT", "STATIC_DIR"))
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]), args.serve[2])
        return
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        with Store(db_url) as store:
            for i in range(500):
                store.save_release(release(i))
            bench_render(store)
        static_dir = Path(tmp) / "static"
        static_dir.mkdir()
        bench_http(db_url, static_dir, args.seconds, args.clients)


if __name__ == "__main__":
    main()
