"""/healthz: the HTTP loop answers, and (with the service's hook) the scheduler runs and the crawl
worker is alive, so a container health check sees a service whose crawling has died.

The hook is the service's `status` callback (scheduler/service.py `scheduler_status`). It reads
in-process state only, never the store: /healthz must answer at once, even while the database is
busy. Its keys used here, each optional (a hook without them reports what it has):
- `scheduler_running`: bool, the scheduler is started and not shut down;
- `worker_pid`: int | None, the crawl worker's pid, None while no worker runs (none started
  yet, or one retired and the next job starts its successor: both normal);
- `running`: the sites being crawled now; crawls running with no worker means it was lost.
A web replica's hook has none of these but `role` and `cluster` (the engine's queues, or
`{"error": ...}` while the database is unreachable: then it is failing).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from feeds.status import StatusHook

logger = logging.getLogger(__name__)


def health_view(hook: StatusHook | None) -> tuple[int, dict[str, Any]]:
    """The HTTP status and the body of /healthz: 200 "ok", or 503 "failing" with the reasons."""
    if hook is None:
        return 200, {"status": "ok"}
    try:
        state: Mapping[str, Any] = hook()
    except Exception as exc:  # the hook is the service's code: a failing one is a failing service
        logger.exception("status hook failed in /healthz")
        return 503, {"status": "failing", "problems": [f"status hook: {type(exc).__name__}"]}
    if "scheduler_running" not in state and "worker_pid" not in state:
        return _replica_health(state)
    crawls = sorted(state.get("running", ()))
    scheduler = {"running": state.get("scheduler_running"), "jobs": len(state.get("next_run", {}))}
    worker = {"pid": state.get("worker_pid"), "crawls": crawls}
    problems = []
    if scheduler["running"] is False:
        problems.append("the scheduler is not running")
    if "worker_pid" in state and worker["pid"] is None and crawls:
        problems.append("crawls are running but no crawl worker is alive")
    body: dict[str, Any] = {
        "status": "failing" if problems else "ok",
        "scheduler": scheduler,
        "worker": worker,
    }
    if problems:
        body["problems"] = problems
    return (503 if problems else 200), body


def _replica_health(state: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
    """A web replica of a scaled-out deployment: healthy while it reaches the database (its
    background view of the engine's queues says when it does not); the view is its extra."""
    body: dict[str, Any] = {k: v for k, v in state.items() if k in ("role", "cluster")}
    cluster = state.get("cluster")
    away = cluster.get("error") if isinstance(cluster, Mapping) else None
    if away:
        return 503, {"status": "failing", **body, "problems": ["the database is unreachable"]}
    return 200, {"status": "ok", **body}
