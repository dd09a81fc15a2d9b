"""Is a site still read well? Operator alerts from its recent crawl runs and its template.

After each crawl of a site, `check_site` judges its newest runs (RunStore.runs, one indexed
query) and its learned boilerplate template, raises an operator alert when a problem starts
and resolves it when it ends; the notices it returns are what changed. Kinds (subject: the
site id):

    failing          N crawls in a row failed (default 3); ends with an ok crawl
    no_entries       a listing answered anew (not 304) and held no entries, where earlier
                     runs' listings had some; ends when a fresh listing has entries again
    empty_bodies     more than half of the newest items had no extractable body
    lost_<field>     a field the site's items had (>= 90 %) is now mostly missing (< 50 %);
                     ends at >= 80 % (body_text is left to empty_bodies)
    template_shift   most of the template's chrome (blocks seen on many pages) was not seen
                     on the newest pages: the layout changed; ends when the newest pages
                     show most of the chrome again (the learner has picked up the new one)

Each judge says "problem", "healthy" or "cannot tell" (no fresh listing, too few items):
only the first two change an alert, so a site whose listings answer 304 for a week keeps
its alert open, and the recovery notice means the problem was seen to end.

A template shift is judged from the learner's own state (crawler/boilerplate/dom.py: per
fingerprint, [pages seen on, last page seen]); a redesign that brings more than
TEMPLATE_RECENT * 2 pages at once in one crawl may already look relearned and go unreported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from crawler.store.health import FAILED, SiteHistory

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from datetime import datetime

    from crawler.store import Store
    from crawler.store.records import CrawlRun

JUDGED = ("ok", FAILED)  # "skipped" and "running" runs say nothing about the site
KINDS = ("failing", "no_entries", "empty_bodies", "template_shift")  # and lost_<field>
LOST = "lost_"
IGNORED_FIELDS = frozenset({"body_text"})  # an empty body is empty_bodies' alert
TEMPLATE_RECENT = 3  # chrome not seen on the newest this many pages is stale
TEMPLATE_WINDOW = 20  # ... and counts only if seen within the newest this many pages
TEMPLATE_CHROME_PAGES = 6  # a fingerprint on at least this many pages is chrome
REASON_CHARS = 200


@dataclass(frozen=True)
class Thresholds:
    """When a site's runs count as a problem; the defaults suit a crawl every 30 minutes."""

    failures: int = 3  # failed crawls in a row
    window: int = 30  # runs read per check
    sample_items: int = 3  # items the newest runs must hold to judge bodies and fields
    baseline_items: int = 10  # items the runs before must hold to say what the site had
    empty_share: float = 0.5  # empty bodies above this share of the sample: a problem
    field_had: float = 0.9  # a field on this share of the baseline's items ...
    field_lost: float = 0.5  # ... and below this share of the sample's: lost
    field_back: float = 0.8  # back at this share: recovered
    template_pages: int = 20  # pages the learner has seen before a shift is judged
    template_stale: float = 0.8  # stale share of the recent chrome: shifted
    template_back: float = 0.6  # at or below: the newest pages show the chrome again


@dataclass(frozen=True)
class Finding:
    """One judge's verdict: `problem` True (raise), False (resolve); None is never stored."""

    kind: str
    problem: bool
    message: str


@dataclass(frozen=True)
class Notice:
    """An alert that `check_site` raised or resolved just now."""

    alert_id: int
    subject: str
    kind: str
    phase: str  # "raised" or "resolved"
    message: str
    at: datetime


def check_site(
    store: Store, site_id: str, *, now: datetime, thresholds: Thresholds | None = None
) -> list[Notice]:
    """Judge the site's newest runs and template; raise or resolve its alerts; what changed.

    Cheap enough for every crawl: two indexed reads (runs, open alerts), one template read,
    and a write only when an alert opens or closes.
    """
    limits = thresholds or Thresholds()
    runs = [r for r in store.runs(site_id, limit=limits.window) if r.status in JUDGED]
    findings = [
        *judge_failures(runs, limits),
        *judge_listings(runs),
        *judge_bodies(runs, limits),
        *judge_fields(runs, limits),
        *judge_template(store.load_template(site_id), limits),
    ]
    opened = {a.kind: a.id for a in store.operator_alerts(open_only=True, subject=site_id)}
    notices = []
    for finding in findings:
        if finding.problem and finding.kind not in opened:
            message = f"{site_id}: {finding.message}"
            alert_id = store.raise_operator_alert(site_id, finding.kind, message, at=now)
            if alert_id is None:  # another process raised it a moment ago
                continue
            opened[finding.kind] = alert_id
            notices.append(Notice(alert_id, site_id, finding.kind, "raised", message, now))
        elif not finding.problem and finding.kind in opened:
            alert_id = opened.pop(finding.kind)
            if store.resolve_operator_alert(site_id, finding.kind, at=now):
                message = f"{site_id}: recovered: {finding.message}"
                notices.append(Notice(alert_id, site_id, finding.kind, "resolved", message, now))
    return notices


def judge_failures(runs: Sequence[CrawlRun], limits: Thresholds) -> list[Finding]:
    """Failed `failures` times in a row (newest first): a problem; the newest ok: healthy."""
    if not runs:
        return []
    streak = next((i for i, run in enumerate(runs) if run.status != FAILED), len(runs))
    if streak >= limits.failures:
        reason = " ".join((runs[0].reason or "no reason recorded").split())[:REASON_CHARS]
        since = runs[streak - 1].started.isoformat(timespec="minutes")
        text = f"{streak} crawls failed in a row since {since}; last: {reason}"
        return [Finding("failing", True, text)]
    if streak == 0:
        return [Finding("failing", False, "a crawl succeeded")]
    return []


def judge_listings(runs: Sequence[CrawlRun]) -> list[Finding]:
    """The newest ok run that parsed a listing anew: no entries where earlier ones had some."""
    fresh = [r for r in runs if r.status == "ok" and r.listings > 0]
    if not fresh:
        return []  # every listing answered 304 (or the runs predate the counters)
    newest = fresh[0]
    if newest.entries > 0:
        return [Finding("no_entries", False, f"its listings hold {newest.entries} entries")]
    had = next((r for r in fresh[1:] if r.entries > 0), None)
    if had is None:
        return []  # never seen with entries in this window: nothing "stopped"
    return [
        Finding(
            "no_entries",
            True,
            f"{newest.listings} listing page(s) changed but hold no entries "
            f"(a crawl at {had.started.isoformat(timespec='minutes')} found {had.entries}): "
            "the listing layout changed?",
        )
    ]


def _take_items(runs: Iterable[CrawlRun], items: int) -> list[CrawlRun]:
    """The runs (in order) that yielded items, until they hold `items` of them."""
    taken, total = [], 0
    for run in runs:
        if total >= items:
            break
        if run.status == "ok" and run.items > 0:
            taken.append(run)
            total += run.items
    return taken


def judge_bodies(runs: Sequence[CrawlRun], limits: Thresholds) -> list[Finding]:
    """More than `empty_share` of the newest `sample_items` items stored without a body."""
    sample = _take_items(runs, limits.sample_items)
    items = sum(r.items for r in sample)
    if items < limits.sample_items:
        return []
    empty = sum(r.empty for r in sample)
    problem = empty > limits.empty_share * items
    return [Finding("empty_bodies", problem, f"{empty} of the newest {items} items have no body")]


def _coverage(runs: Sequence[CrawlRun]) -> dict[str, float]:
    # the per-field share over runs is HealthStore's (SiteHistory), not a second copy here
    return SiteHistory(runs[0].site, tuple(runs), 0, 0, None).field_coverage() if runs else {}


def judge_fields(runs: Sequence[CrawlRun], limits: Thresholds) -> list[Finding]:
    """Per field: on >= `field_had` of the baseline's items, now on < `field_lost` of the
    sample's (a problem); on >= `field_back` of the sample's (healthy)."""
    sample = _take_items(runs, limits.sample_items)
    if sum(r.items for r in sample) < limits.sample_items:
        return []
    older = [r for r in runs if r.id < sample[-1].id]
    baseline = _take_items(older, limits.baseline_items)
    now, before = _coverage(sample), _coverage(baseline)
    if sum(r.items for r in baseline) < limits.baseline_items:
        before = {}  # too little history to say what the site used to have
    findings = []
    for name in sorted({*now, *before} - IGNORED_FIELDS):
        kind = (LOST + name)[:32]
        share, had = now.get(name, 0.0), before.get(name, 0.0)
        if had >= limits.field_had and share < limits.field_lost:
            text = f"{name} on {share:.0%} of the newest items, {had:.0%} before"
            findings.append(Finding(kind, True, text))
        elif share >= limits.field_back:
            findings.append(Finding(kind, False, f"{name} on {share:.0%} of the newest items"))
    return findings


def template_staleness(state: Mapping[str, Any] | None) -> tuple[int, float] | None:
    """(pages learned, share of the recent chrome not seen on the newest pages), or None.

    Chrome: fingerprints on >= TEMPLATE_CHROME_PAGES pages and last seen within the newest
    TEMPLATE_WINDOW pages (older chrome has gone for good and says nothing now).
    """
    if not state:
        return None
    try:
        pages = int(state.get("pages", 0))
        seen = [(int(v[0]), int(v[1])) for v in dict(state.get("fp", {})).values()]
    except (TypeError, ValueError, IndexError):
        return None  # a state of another shape: the learner changed, this judge abstains
    chrome = [
        last
        for count, last in seen
        if count >= TEMPLATE_CHROME_PAGES and last > pages - TEMPLATE_WINDOW
    ]
    if len(chrome) < TEMPLATE_CHROME_PAGES:
        return None
    stale = sum(1 for last in chrome if last <= pages - TEMPLATE_RECENT)
    return pages, stale / len(chrome)


def judge_template(state: Mapping[str, Any] | None, limits: Thresholds) -> list[Finding]:
    """Most of the recent chrome missing from the newest pages: the layout shifted."""
    measured = template_staleness(state)
    if measured is None or measured[0] < limits.template_pages:
        return []
    pages, stale = measured
    text = f"{stale:.0%} of its template's blocks not seen on the newest {TEMPLATE_RECENT} pages"
    if stale >= limits.template_stale:
        return [Finding("template_shift", True, f"{text}: the page layout changed?")]
    if stale <= limits.template_back:
        return [Finding("template_shift", False, f"{text} (of {pages} learned)")]
    return []
