"""Country-tag benchmark: precision and recall of `release_countries` over every replica
release (its truth: `ReplicaRelease.countries`), and the tags it gives the article titles of
`../shared/iom-dev` (no truth there: printed for inspection, with their site's country).

    .venv/bin/python bench/countries.py [--iom-dev PATH] [--show-errors]

Replica: each release's title, its first body paragraph (dateline and lead) and its site
from the replica's sites file, as the crawl's CountryPipeline sees them (body from the truth,
so a boilerplate error cannot count against the tagger). Micro-averaged over (release, tag)
pairs; exact = releases whose tag set is right. Time per release, names loaded first.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from crawler.parsing.countries import mentioned, names, release_countries, tag
from crawler.parsing.dateline import parse_dateline
from crawler.sites import load_sites
from replica import ReplicaServer

IOM_DEV = Path(__file__).resolve().parents[2] / "shared" / "iom-dev" / "pages.jsonl"


def replica_scores(show_errors: bool) -> None:
    tp = fp = fn = exact = total = 0
    spent = 0.0
    with ReplicaServer() as server, tempfile.TemporaryDirectory() as tmp:
        sites = {s.id: s for s in load_sites(server.write_sites_file(Path(tmp) / "s.toml"))}
        for release in server.releases():
            body = "\n".join(release.body_paragraphs)
            lead = release.body_paragraphs[0] if release.body_paragraphs else ""
            start = time.perf_counter()
            got = set(
                release_countries(release.title, lead, parse_dateline(body), sites[release.site_id])
            )
            spent += time.perf_counter() - start
            want = set(release.countries)
            tp, fp, fn = tp + len(got & want), fp + len(got - want), fn + len(want - got)
            total += 1
            exact += got == want
            if show_errors and got != want:
                print(f"  {release.url}: got {sorted(got)} want {sorted(want)}")
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    print(
        f"replica: {total} releases, {tp + fn} true tags: precision {precision:.4f} "
        f"recall {recall:.4f} exact {exact / total:.4f} "
        f"({spent / total * 1000:.2f} ms per release, gazetteer look-ups included)"
    )


def iom_dev_titles(path: Path) -> None:
    if not path.exists():
        print(f"iom-dev: {path} not found, skipped")
        return
    hosts = {}
    tsv = path.with_name("sites.tsv")
    for line in tsv.read_text(encoding="utf-8").splitlines()[1:]:
        cells = line.split("\t")
        hosts[cells[0]] = cells[1]
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    articles = [r for r in rows if r["kind"] == "article" and r.get("title")]
    tagged = 0
    for row in articles:
        found = [tag(c) for c in mentioned(row["title"])]
        tagged += bool(found)
        print(
            f"  {row['host']:<24} [{hosts.get(row['host'], '?')[:28]}] {found}  {row['title'][:70]}"
        )
    print(f"iom-dev: {tagged} of {len(articles)} article titles name a country")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iom-dev", type=Path, default=IOM_DEV)
    parser.add_argument("--show-errors", action="store_true")
    args = parser.parse_args()
    start = time.perf_counter()
    names()
    print(f"name tables built in {time.perf_counter() - start:.2f} s")
    replica_scores(args.show_errors)
    iom_dev_titles(args.iom_dev)


if __name__ == "__main__":
    main()
