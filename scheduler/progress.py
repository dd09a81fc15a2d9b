"""What `iomwatch crawl` shows while it crawls: a live display on a terminal, lines elsewhere.

Both are `crawler.run.CrawlObserver`s. On a terminal, `LiveProgress` keeps one rich line
(sites done of total, pages, new releases, errors, the site being crawled) under the log,
and prints a line above it for each site that failed. Anywhere else (a pipe, a file, cron's
mail), `LineProgress` prints one `key=value` line per finished site, flushed at once, so a
backfill's output grows while it runs and each line can be grepped.
"""

from __future__ import annotations

import sys
import threading
from typing import IO, TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

if TYPE_CHECKING:
    from types import TracebackType

    from crawler.run import SiteResult
    from crawler.store import RunStats

REASON_CHARS = 200  # of a failed site's reason, on its one line


def result_line(result: SiteResult) -> str:
    """One finished site, for a log or a pipe: site, status, pages, new, errors, seconds."""
    stats = result.stats
    line = (
        f"site={result.site} status={result.status} pages={stats.pages} new={stats.new} "
        f"errors={stats.errors} seconds={result.seconds:.1f}"
    )
    if result.reason and result.status != "ok":
        line += f" reason={_one_line(result.reason)!r}"
    return line


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= REASON_CHARS else flat[: REASON_CHARS - 1] + "…"


class LineProgress:
    """One line per finished site, for output that is not a terminal."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.out.flush()

    def site_opened(self, site_id: str) -> None:
        pass  # a line per site is enough: its end says all its start would

    def site_progress(self, site_id: str, stats: RunStats) -> None:
        pass

    def site_closed(self, result: SiteResult) -> None:
        print(result_line(result), file=self.out, flush=True)


class LiveProgress:
    """A rich live line for a terminal: sites done of total, pages, new, errors, the site now.

    The observer's calls come from the reactor's thread while rich refreshes from its own;
    the counters are plain values behind a lock, and Progress.update is thread-safe.
    """

    def __init__(self, console: Console, total: int) -> None:
        self.console = console
        self.lock = threading.Lock()
        self.counters: dict[str, RunStats] = {}  # every site heard of, open or closed
        self.open: list[str] = []  # open sites, the most recently busy last
        self.done = 0
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("sites {task.completed}/{task.total}"),
            BarColumn(bar_width=24),
            TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[now]}"),
            console=console,
            # Scrapy's log handler is made during the crawl and writes to sys.stderr: rich's
            # proxy then prints each line above the display. Only when stderr is this very
            # terminal: a redirected stderr keeps its log to itself.
            redirect_stderr=_same_terminal(console),
            redirect_stdout=False,
        )
        self.task = self.progress.add_task(
            "crawl", total=total, counts=self._counts(), now="starting"
        )

    def __enter__(self) -> LiveProgress:
        self.progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._refresh(now="done" if exc is None else "stopped")
        self.progress.stop()

    def site_opened(self, site_id: str) -> None:
        with self.lock:
            self.open.append(site_id)
        self._refresh()

    def site_progress(self, site_id: str, stats: RunStats) -> None:
        with self.lock:
            before = self.counters.get(site_id)
            self.counters[site_id] = stats
            fetched = before is None or before.pages != stats.pages
            if fetched and site_id in self.open:  # it is "the site being crawled" now
                self.open.remove(site_id)
                self.open.append(site_id)
        self._refresh()

    def site_closed(self, result: SiteResult) -> None:
        with self.lock:
            self.counters[result.site] = result.stats
            if result.site in self.open:
                self.open.remove(result.site)
            self.done += 1
        if result.status == "failed":
            self.progress.console.print(f"[red]✗[/red] {escape(result_line(result))}")
        self._refresh()

    def _counts(self) -> str:
        stats = list(self.counters.values())
        pages = sum(s.pages for s in stats)
        new = sum(s.new for s in stats)
        errors = sum(s.errors for s in stats)
        return f"pages {pages} · new {new} · errors {errors}"

    def _now(self) -> str:
        if not self.open:
            return ""
        current = escape(self.open[-1])
        more = len(self.open) - 1
        return f"crawling {current}" + (f" (+{more} more)" if more else "")

    def _refresh(self, now: str | None = None) -> None:
        with self.lock:
            counts, current, done = self._counts(), now or self._now(), self.done
        self.progress.update(self.task, completed=done, counts=counts, now=current)


def _same_terminal(console: Console) -> bool:
    """Whether stderr is a terminal too (then it is, in practice, the same one)."""
    return console.is_terminal and sys.stderr.isatty()


def crawl_display(
    out: IO[str], total: int, *, console: Console | None = None
) -> LiveProgress | LineProgress:
    """The live display when `out` is a terminal (or `console` says it is), else lines."""
    console = console or Console(file=out)
    if console.is_terminal:
        return LiveProgress(console, total)
    return LineProgress(out)
