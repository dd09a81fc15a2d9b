"""Boilerplate benchmark: prints numbers, never fails on a missing corpus.

Part 1 — the labelled real IOM pages (``../shared/iom-dev/pages.jsonl``): pages grouped by
host (one host = one site) go through the text-mode learner; B lines must be dropped, T and
C lines kept (M and E count either way).

Part 2 — the local replica's article pages against trafilatura (favor_precision=True):
content kept, boilerplate leaked and median milliseconds per page, in the same run.

Usage: ``python -m bench.boilerplate [--pages PATH] [--verbose]``
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from crawler.boilerplate import SiteTemplate, clean_text_corpus, extract_html, learn_html
from crawler.boilerplate.text import split_lines

DEFAULT_PAGES = Path(__file__).resolve().parents[2] / "shared" / "iom-dev" / "pages.jsonl"


def _kept_flags(text: str, cleaned: str) -> list[bool]:
    """Which input lines survived: cleaning keeps lines verbatim and in order."""
    out = [line for line, _ in split_lines(cleaned)] if cleaned else []
    flags: list[bool] = []
    j = 0
    for line, _ in split_lines(text):
        hit = j < len(out) and out[j] == line
        flags.append(hit)
        j += hit
    return flags


def score_text(records: list[dict[str, Any]], verbose: bool) -> dict[str, float]:
    by_host: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for rec in records:
        by_host[rec["host"]].append(rec)
    b_total = b_dropped = tc_total = tc_kept = pages_ok = 0
    for recs in by_host.values():
        cleaned = clean_text_corpus([r["text"] for r in recs])
        for rec, out in zip(recs, cleaned, strict=True):
            flags = _kept_flags(rec["text"], out)
            ok = True
            for line, label, kept in zip(
                rec["text"].split("\n"), rec["labels"], flags, strict=True
            ):
                wrong = (label == "B" and kept) or (label in "TC" and not kept)
                b_total += label == "B"
                b_dropped += label == "B" and not kept
                tc_total += label in "TC"
                tc_kept += label in "TC" and kept
                ok = ok and not wrong
                if wrong and verbose:
                    print(
                        f"  {label} {'kept' if kept else 'lost'} {rec['url'][:70]}: {line[:70]!r}"
                    )
            pages_ok += ok
    return {
        "b_dropped": b_dropped / max(b_total, 1),
        "tc_kept": tc_kept / max(tc_total, 1),
        "pages_right": pages_ok / max(len(records), 1),
        "pages": len(records),
        "b_lines": b_total,
        "tc_lines": tc_total,
    }


def part1(path: Path, verbose: bool) -> bool:
    if not path.exists():
        print(f"part 1: {path} is absent (../shared not mounted); skipped")
        return True
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    start = time.perf_counter()
    s = score_text(records, verbose)
    took = time.perf_counter() - start
    print(
        f"part 1 (iom-dev, {s['pages']:.0f} pages, {s['b_lines']:.0f} B / {s['tc_lines']:.0f} T+C lines, "
        f"{took * 1000:.0f} ms)\n"
        f"  B lines dropped     {s['b_dropped']:.4f}  (bar 0.99)\n"
        f"  T+C lines kept      {s['tc_kept']:.4f}  (bar 0.995)\n"
        f"  pages exactly right {s['pages_right']:.4f}  (bar 0.95)"
    )
    return s["b_dropped"] >= 0.99 and s["tc_kept"] >= 0.995 and s["pages_right"] >= 0.95


EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+|\[email\s*protected\]")


def _norm(text: str) -> str:
    return " ".join(EMAIL.sub("@", text).split()).casefold()


def _score_output(output: str, paragraphs: list[str]) -> tuple[float, float]:
    """(share of body paragraphs found in the output, share of output chars that are not body)."""
    got = _norm(output)
    body = [_norm(p) for p in paragraphs if p.strip()]
    kept = sum(p in got for p in body) / max(len(body), 1)
    lines = [_norm(line) for line in output.splitlines() if line.strip()]
    leaked = sum(len(line) for line in lines if not any(line in p for p in body))
    return kept, leaked / max(sum(len(line) for line in lines), 1)


def _fetch_articles(limit: int) -> dict[str, list[tuple[Any, str]]] | None:
    """Article pages of the running replica, grouped by site: (release, html)."""
    try:
        from replica import ReplicaServer  # type: ignore[attr-defined]
    except ImportError:
        return None
    import httpx

    server = ReplicaServer()
    server.start()
    try:
        releases = list(server.releases())
        if limit:
            releases = releases[:limit]
        by_site: dict[str, list[tuple[Any, str]]] = defaultdict(list)
        with httpx.Client(timeout=10.0, follow_redirects=True) as client:
            for rel in releases:
                resp = client.get(rel.url)
                if resp.status_code == 200:
                    by_site[getattr(rel, "site_id", "")].append((rel, resp.text))
        return by_site
    finally:
        server.stop()


def part2(limit: int, verbose: bool) -> bool:
    by_site = _fetch_articles(limit)
    if by_site is None:
        print("part 2: the replica package (ReplicaServer) is not available yet; skipped")
        return True
    import trafilatura

    ours: list[tuple[float, float, float]] = []
    theirs: list[tuple[float, float, float]] = []
    for pages in by_site.values():
        template = SiteTemplate()
        for rel, html in pages:
            start = time.perf_counter()
            learn_html(template, html, url=rel.url)
            page = extract_html(html, template, url=rel.url, title=rel.title)
            ours.append(
                (time.perf_counter() - start, *_score_output(page.text, rel.body_paragraphs))
            )
            start = time.perf_counter()
            text = trafilatura.extract(html, favor_precision=True) or ""
            theirs.append((time.perf_counter() - start, *_score_output(text, rel.body_paragraphs)))
            if verbose and ours[-1][2] > 0.0:
                print(f"  leak {ours[-1][2]:.3f} {rel.url}")
    if not ours:
        print("part 2: the replica served no article page; skipped")
        return True
    rows = {"iomwatch": ours, "trafilatura": theirs}
    med = {k: statistics.median(r[0] for r in v) * 1000 for k, v in rows.items()}
    print(f"part 2 (replica, {len(ours)} article pages, {len(by_site)} sites)")
    for name, r in rows.items():
        kept = statistics.mean(x[1] for x in r)
        leak = statistics.mean(x[2] for x in r)
        print(
            f"  {name:12} content kept {kept:.4f}  boilerplate leaked {leak:.4f}  median {med[name]:.2f} ms/page"
        )
    ratio = med["iomwatch"] / max(med["trafilatura"], 1e-9)
    print(f"  time ratio iomwatch/trafilatura {ratio:.2f} (bar <= 1.00)")
    better = statistics.mean(x[1] for x in ours) >= statistics.mean(x[1] for x in theirs)
    cleaner = statistics.mean(x[2] for x in ours) <= statistics.mean(x[2] for x in theirs)
    return better and cleaner and ratio <= 1.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pages", type=Path, default=DEFAULT_PAGES)
    parser.add_argument("--verbose", "-v", action="store_true")
    parser.add_argument("--replica-pages", type=int, default=0, help="0 = every article page")
    args = parser.parse_args(argv)
    ok = part1(args.pages, args.verbose)
    ok = part2(args.replica_pages, args.verbose) and ok
    print("bars met" if ok else "bars NOT met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
