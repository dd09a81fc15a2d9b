"""Save replica pages for offline parser tests: `python -m replica.save_fixtures [DIR]`.

Per site: the first listing page of each language (and the second when there is one), a press
release, a story without title, a translation, plus a `manifest.json` with the ground truth of
every saved article and the URL each file was fetched from. The replica runs on fixed ports
(`PORT_BASE`) so the URLs inside saved pages stay the same from one regeneration to the next.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx

from replica.model import ReplicaRelease
from replica.server import ReplicaServer

DEFAULT_DIR = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "replica"
PORT_BASE = 18301


def pick_articles(releases: list[ReplicaRelease]) -> dict[str, ReplicaRelease]:
    """Named examples of a site: press release, story without title, translation, other types."""
    picks: dict[str, ReplicaRelease] = {}
    default_lang = releases[0].lang if releases else ""
    for release in releases:
        if release.type == "press_release" and "press_release" not in picks:
            picks["press_release"] = release
        if release.type == "story" and release.title is None and "story" not in picks:
            picks["story"] = release
        if release.type in {"news", "statement"} and release.type not in picks:
            picks[release.type] = release
    translated = [r for r in releases if r.translations and r.lang != default_lang]
    if translated:
        picks["translation"] = translated[0]
        picks["translation_original"] = next(
            r for r in releases if r.url == translated[0].translations.get(r.lang)
        )
    return picks


def _truth(release: ReplicaRelease) -> dict[str, Any]:
    data = asdict(release)
    data["published"] = release.published.isoformat()
    return data


def save_site(
    server: ReplicaServer, site_id: str, out: Path, client: httpx.Client
) -> dict[str, Any]:
    """Fetch and write one site's pages; returns its manifest entry."""
    site_dir = out / site_id
    site_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, Any] = {}
    base = server.base_url(site_id)
    for path in server.listing_paths(site_id):
        for page in (0, 1):
            url = base + path + (f"?page={page}" if page else "")
            response = client.get(url)
            if response.status_code != 200:
                continue
            name = "listing" + path.replace("/news", "").replace("/", "-") + f"-p{page}.html"
            (site_dir / name).write_bytes(response.content)
            files[name] = {"url": url, "kind": "listing"}
    releases = server.releases(site_id)
    for role, release in pick_articles(_default_first(server, site_id, releases)).items():
        name = f"{role}.html"
        (site_dir / name).write_bytes(client.get(release.url).content)
        files[name] = {"url": release.url, "kind": "article", "release": _truth(release)}
    return {"base_url": base, "files": files}


def _default_first(
    server: ReplicaServer, site_id: str, releases: list[ReplicaRelease]
) -> list[ReplicaRelease]:
    default = server.languages(site_id)[0]
    return [r for r in releases if r.lang == default] + [r for r in releases if r.lang != default]


def save_fixtures(out: Path = DEFAULT_DIR, port_base: int = PORT_BASE) -> Path:
    """Start a replica, save every site's example pages under `out`, write the manifest."""
    out.mkdir(parents=True, exist_ok=True)
    server = ReplicaServer(port_base=port_base).start()
    try:
        with httpx.Client(headers={"Accept-Encoding": "identity"}) as client:
            manifest = {
                site_id: save_site(server, site_id, out, client) for site_id in server.site_ids
            }
        (out / "sites.toml").write_text(server.sites_toml(), encoding="utf-8")
    finally:
        server.stop()
    text = json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True)
    (out / "manifest.json").write_text(text + "\n", encoding="utf-8")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m replica.save_fixtures", description=__doc__)
    parser.add_argument("out", nargs="?", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--port-base", type=int, default=PORT_BASE)
    args = parser.parse_args(argv)
    print(save_fixtures(args.out, args.port_base))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
