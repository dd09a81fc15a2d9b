"""Single-page extraction on pages of many unrelated sites, against trafilatura, same run.

Corpus: ``../shared/generic-dev`` (102 article pages from 102 sites, Scrapinghub's
article-extraction-benchmark); absent -> a note and exit 0. The metric is the benchmark's own
(see its README): ``\\w+`` tokens, multisets of 4-token shingles, precision and recall means
over pages, F1 of the two means.

Extractors, every page timed in the same loop:

* ``iomwatch``   -- `crawler.boilerplate.single.extract_article` (defaults), one page alone;
* ``template1``  -- the template learner on a fresh template that has seen only this page
  (`learn_html` + `extract_html`), the path before `single.py`;
* ``traf-prec``  -- ``trafilatura.extract(favor_precision=True)``;
* ``traf-def``   -- ``trafilatura.extract()`` defaults, for reference.

Honest generalisation: the pages are split into K folds by key (fixed seed). For each fold the
`Params` grid is searched on the other K-1 folds and the winner is scored on the held-out fold;
the held-out predictions of all folds make the cross-validated figure printed beside the
whole-set one. The trafilatura candidate is computed once per page for the search.

Usage: ``python -m bench.generic [--corpus DIR] [--folds 5] [--no-cv] [--verbose]``
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import random
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from crawler.boilerplate import SiteTemplate, extract_html, learn_html
from crawler.boilerplate.single import (
    DEFAULT_PARAMS,
    Params,
    candidate_text,
    extract_article,
    extract_with_candidate,
    parse_page,
)

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "generic-dev"
TOKEN = re.compile(r"\w+")
SEED = 20240601
GRID: dict[str, tuple[Any, ...]] = {
    "region_share": (0.7, 0.85),
    "sibling_levels": (0, 3),
    "short_chars": (300, 600),
    "add_in_region": (False, True),
    "add_min_tokens": (10, 25),
    "drop_link_share": (0.5, 0.8),
    "outside_share": (0.85, 1.0),
}

Counts = tuple[int, int, int]  # TP, FP, FN in shingles


@dataclass(frozen=True)
class Page:
    key: str
    url: str
    html: str
    truth: str


def shingles(text: str) -> Counter[tuple[str, ...]]:
    tokens = TOKEN.findall(text or "")
    if not tokens:
        return Counter()
    if len(tokens) < 4:
        return Counter([tuple(tokens)])
    return Counter(tuple(tokens[i : i + 4]) for i in range(len(tokens) - 3))


def counts(pred: str, truth: str) -> Counts:
    p, t = shingles(pred), shingles(truth)
    tp = sum((p & t).values())
    return tp, sum(p.values()) - tp, sum(t.values()) - tp


def prf(rows: list[Counts]) -> tuple[float, float, float]:
    """Mean precision over pages that predicted something, mean recall, F1 of the means."""
    ps = [tp / (tp + fp) for tp, fp, _ in rows if tp + fp]
    rs = [tp / (tp + fn) for tp, _, fn in rows if tp + fn]
    p = statistics.mean(ps) if ps else 0.0
    r = statistics.mean(rs) if rs else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def load(corpus: Path) -> list[Page]:
    truth = json.loads((corpus / "ground-truth.json").read_text(encoding="utf-8"))
    return [
        Page(
            key,
            rec.get("url", ""),
            gzip.decompress((corpus / "html" / f"{key}.html.gz").read_bytes()).decode("utf-8"),
            rec.get("articleBody", ""),
        )
        for key, rec in sorted(truth.items())
    ]


def _template1(html: str, url: str) -> str:
    template = SiteTemplate()
    learn_html(template, html, url=url)
    return extract_html(html, template, url=url).text


def extractors() -> dict[str, Callable[[str, str], str]]:
    import trafilatura

    return {
        "iomwatch": lambda h, u: extract_article(h, u).text,
        "template1": _template1,
        "traf-prec": lambda h, u: trafilatura.extract(h, url=u, favor_precision=True) or "",
        "traf-def": lambda h, u: trafilatura.extract(h, url=u) or "",
    }


def run_all(pages: list[Page]) -> dict[str, tuple[list[Counts], list[float]]]:
    """Every extractor on every page, interleaved so machine load hits all of them alike."""
    funcs = extractors()
    out: dict[str, tuple[list[Counts], list[float]]] = {n: ([], []) for n in funcs}
    for page in pages:
        for name, func in funcs.items():
            start = time.perf_counter()
            text = func(page.html, page.url)
            out[name][1].append((time.perf_counter() - start) * 1000)
            out[name][0].append(counts(text, page.truth))
    return out


def _grid() -> list[Params]:
    names = list(GRID)
    return [
        Params(**dict(zip(names, vals, strict=True))) for vals in itertools.product(*GRID.values())
    ]


def cross_validate(pages: list[Page], k: int) -> tuple[list[Counts], list[Params]]:
    """Held-out counts of every page (tuned on the other folds) and each fold's winner."""
    cands = [
        candidate_text(root, p.url) if (root := parse_page(p.html)) is not None else ""
        for p in pages
    ]
    grid = _grid()
    # every (params, page) once: parsing again is cheap next to the candidate
    table = [
        [counts(_with(p, c, params), p.truth) for p, c in zip(pages, cands, strict=True)]
        for params in grid
    ]
    order = list(range(len(pages)))
    random.Random(SEED).shuffle(order)
    folds = [sorted(order[i::k]) for i in range(k)]
    held: dict[int, Counts] = {}
    winners: list[Params] = []
    for fold in folds:
        train = [i for i in range(len(pages)) if i not in set(fold)]
        best = max(range(len(grid)), key=lambda g: prf([table[g][i] for i in train])[2])
        winners.append(grid[best])
        held.update({i: table[best][i] for i in fold})
    return [held[i] for i in range(len(pages))], winners


def _with(page: Page, candidate: str, params: Params) -> str:
    root = parse_page(page.html)
    return "" if root is None else extract_with_candidate(root, candidate, page.url, params).text


def report(pages: list[Page], folds: int, verbose: bool) -> None:
    rows = run_all(pages)
    print(f"generic-dev: {len(pages)} pages, one page each, no site history")
    print(f"  {'extractor':10} {'P':>7} {'R':>7} {'F1':>7}  median ms/page")
    med = {n: statistics.median(ms) for n, (_, ms) in rows.items()}
    for name, (cnt, _) in rows.items():
        p, r, f = prf(cnt)
        print(f"  {name:10} {p:7.4f} {r:7.4f} {f:7.4f}  {med[name]:6.1f}")
    ours, theirs = prf(rows["iomwatch"][0])[2], prf(rows["traf-prec"][0])[2]
    print(
        f"  F1 iomwatch - traf-prec: {ours - theirs:+.4f}   "
        f"time ratio iomwatch/traf-prec: {med['iomwatch'] / max(med['traf-prec'], 1e-9):.2f}"
    )
    if verbose:
        _worst(pages, rows["iomwatch"][0])
    if folds > 1:
        held, winners = cross_validate(pages, folds)
        p, r, f = prf(held)
        print(
            f"  iomwatch held-out ({folds}-fold CV, grid of {len(_grid())}): "
            f"P {p:.4f} R {r:.4f} F1 {f:.4f}   (whole set, defaults: F1 {ours:.4f})"
        )
        chosen = Counter(json.dumps(asdict(w), sort_keys=True) for w in winners)
        print(
            f"  defaults {'are' if asdict(DEFAULT_PARAMS) in map(asdict, winners) else 'are not'} "
            f"among the folds' winners; {len(chosen)} distinct winner(s)"
        )
        if verbose:
            for w, n in chosen.items():
                print(f"    {n}x {w}")


def _worst(pages: list[Page], rows: list[Counts]) -> None:
    scored = sorted(zip(pages, rows, strict=True), key=lambda pr: prf([pr[1]])[2])
    for page, (tp, fp, fn) in scored[:12]:
        p, r = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
        print(f"    P {p:.2f} R {r:.2f}  {page.key[:8]} {page.url[:70]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--no-cv", action="store_true")
    parser.add_argument("--verbose", "-v", action="store_true")
    args = parser.parse_args(argv)
    if not (args.corpus / "ground-truth.json").exists():
        print(f"{args.corpus} is absent (../shared not mounted); skipped")
        return 0
    report(load(args.corpus), 0 if args.no_cv else args.folds, args.verbose)
    return 0


if __name__ == "__main__":
    sys.exit(main())
