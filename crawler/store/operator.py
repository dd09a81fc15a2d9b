"""The operator channel's store: alerts about the service itself, never mixed into content.

An alert names a subject (a site id, or "webhook:<id>") and a kind ("webhook_disabled"). At
most one is open per (subject, kind): raising it again while it is open is a no-op (None), so
a webhook that keeps failing after each `enable` does not pile up alerts. A partial unique
index (migration 0005) makes that hold across processes raising at the same moment.

    raise_operator_alert(subject, kind, message, *, at) -> int | None   (None: already open)
    resolve_operator_alert(subject, kind, *, at) -> bool                 (False: none open)
    operator_alerts(*, open_only=False, subject=None, limit=100) -> list[OperatorAlert]
                                                                         (newest first)

Each alert is told to the operator ([operator] email and webhook) once when raised and once
when resolved: `operator_notices` keeps, per (alert, phase, channel), whether that notice went
out. A sender claims a notice under a lease (`claim_operator_notice`), sends, then marks it
(`finish_operator_notice`); a sender killed in between leaves the lease to expire, and the
notice goes once more with the same Message-ID / webhook-id for the receiver to drop.

    due_operator_notices(channels, *, now, since) -> list[DueNotice]   (oldest first)
    claim_operator_notice(alert_id, phase, channel, *, now, lease) -> int | None (attempt)
    finish_operator_notice(alert_id, phase, channel, *, state, at, error=None, retry_at=None)
    operator_notices(alert_id=None) -> list[OperatorNotice]
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from crawler.store.base import StoreBase, writes
from crawler.store.records import OperatorAlert
from crawler.store.schema import operator_alerts, operator_notices

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from sqlalchemy import ColumnElement

MAX_SUBJECT_CHARS = 64  # the column's width
MAX_KIND_CHARS = 32
PHASES = ("raised", "resolved")
NOTICE_CHANNELS = ("email", "webhook")
NOTICE_STATES = ("sending", "sent", "failed", "dead")  # dead: refused for good, not retried
MAX_DUE_ALERTS = 500  # per pass: an old backlog is told over several passes, newest last


@dataclass(frozen=True)
class OperatorNotice:
    """The delivery state of one notice: an alert's phase on one channel."""

    alert_id: int
    phase: str
    channel: str
    state: str
    attempts: int
    next_attempt_at: datetime | None
    sent_at: datetime | None
    error: str | None


@dataclass(frozen=True)
class DueNotice:
    """A notice to send now: never tried, its retry time come, or its lease run out."""

    alert: OperatorAlert
    phase: str
    channel: str

    @property
    def key(self) -> str:
        """Stable per notice and channel: Message-ID and webhook-id derive from it."""
        return f"operator:{self.alert.id}:{self.phase}:{self.channel}"


def _open(subject: str, kind: str) -> ColumnElement[bool]:
    return (
        (operator_alerts.c.site == subject)
        & (operator_alerts.c.kind == kind)
        & operator_alerts.c.resolved.is_(False)
    )


class OperatorStore(StoreBase):
    """Operator alerts: raised once while open, resolved, listed."""

    @writes("operator_alerts")
    def raise_operator_alert(
        self, subject: str, kind: str, message: str, *, at: datetime
    ) -> int | None:
        """Open an alert; its id, or None when one of this subject and kind is open already."""
        if not subject or len(subject) > MAX_SUBJECT_CHARS or not 0 < len(kind) <= MAX_KIND_CHARS:
            raise ValueError(f"operator alert {subject!r}/{kind!r}: subject or kind empty or long")
        # a crawl's reason may quote a server's bytes; PostgreSQL text refuses NUL
        message = message.replace("\x00", "\ufffd")
        row = {"site": subject, "kind": kind, "message": message, "created_at": at}
        with self.engine.begin() as conn:
            if conn.execute(select(operator_alerts.c.id).where(_open(subject, kind))).first():
                return None
            try:
                with conn.begin_nested():
                    stmt = insert(operator_alerts).values({**row, "resolved": False})
                    return int(conn.execute(stmt.returning(operator_alerts.c.id)).scalar_one())
            except IntegrityError:  # another process raised it between our read and insert
                return None

    @writes("operator_alerts")
    def resolve_operator_alert(self, subject: str, kind: str, *, at: datetime) -> bool:
        """Close the open alert of this subject and kind; False when none was open."""
        stmt = update(operator_alerts).where(_open(subject, kind))
        with self.engine.begin() as conn:
            done = conn.execute(stmt.values(resolved=True, resolved_at=at)).rowcount
        return bool(done)

    def operator_alerts(
        self, *, open_only: bool = False, subject: str | None = None, limit: int = 100
    ) -> list[OperatorAlert]:
        """Alerts newest first; `open_only`: those not resolved; `subject`: of that one only."""
        stmt = select(operator_alerts).order_by(operator_alerts.c.id.desc()).limit(limit)
        if open_only:
            stmt = stmt.where(operator_alerts.c.resolved.is_(False))
        if subject is not None:
            stmt = stmt.where(operator_alerts.c.site == subject)
        with self.engine.connect() as conn:
            return [_row_alert(r) for r in conn.execute(stmt)]

    def due_operator_notices(
        self, channels: Sequence[str], *, now: datetime, since: datetime
    ) -> list[DueNotice]:
        """Notices of alerts raised (or resolved) since `since` still to send on `channels`,
        in the order things happened: an alert's raise before its recovery."""
        raised = operator_alerts.c.created_at >= since
        resolved = operator_alerts.c.resolved_at >= since
        stmt = (
            select(operator_alerts)
            .where(or_(raised, resolved))
            .order_by(operator_alerts.c.id)
            .limit(MAX_DUE_ALERTS)
        )
        with self.engine.connect() as conn:
            alerts = [_row_alert(r) for r in conn.execute(stmt)]
            ids = [a.id for a in alerts]
            notices = conn.execute(
                select(operator_notices).where(operator_notices.c.alert_id.in_(ids))
            ).all()
        known = {(n.alert_id, n.phase, n.channel): n for n in notices}

        def due(alert: OperatorAlert, phase: str, channel: str) -> bool:
            row = known.get((alert.id, phase, channel))
            return row is None or _due(row.state, row.next_attempt_at, now)

        def waiting(alert: OperatorAlert, channel: str) -> bool:
            """Its raise still to tell on this channel, but not now: the recovery waits too."""
            row = known.get((alert.id, "raised", channel))
            told = row is not None and row.state in ("sent", "dead")
            return alert.created_at >= since and not told and not due(alert, "raised", channel)

        return [
            DueNotice(alert, phase, channel)
            for alert, phase, channel in _notices_of(alerts, channels, since)
            if due(alert, phase, channel) and not (phase == "resolved" and waiting(alert, channel))
        ]

    @writes("operator_notices")
    def claim_operator_notice(
        self, alert_id: int, phase: str, channel: str, *, now: datetime, lease: timedelta
    ) -> int | None:
        """Take a due notice for `lease`: its attempt number, or None when another sender
        holds it or it was sent meanwhile."""
        if phase not in PHASES or channel not in NOTICE_CHANNELS:
            raise ValueError(f"operator notice {phase!r}/{channel!r}: unknown phase or channel")
        key = _notice(alert_id, phase, channel)
        until = now + lease
        with self.engine.begin() as conn:
            row = conn.execute(select(operator_notices).where(key)).first()
            if row is None:
                values = {"alert_id": alert_id, "phase": phase, "channel": channel}
                try:
                    with conn.begin_nested():
                        conn.execute(
                            insert(operator_notices).values(
                                **values, state="sending", attempts=1, next_attempt_at=until
                            )
                        )
                except IntegrityError:  # another sender claimed it first
                    return None
                return 1
            if not _due(row.state, row.next_attempt_at, now):
                return None
            # the attempts seen stay the condition: of two racing senders one updates
            stmt = update(operator_notices).where(key, operator_notices.c.attempts == row.attempts)
            attempt = int(row.attempts) + 1
            done = conn.execute(
                stmt.values(state="sending", attempts=attempt, next_attempt_at=until)
            ).rowcount
        return attempt if done else None

    @writes("operator_notices")
    def finish_operator_notice(
        self,
        alert_id: int,
        phase: str,
        channel: str,
        *,
        state: str,
        at: datetime,
        error: str | None = None,
        retry_at: datetime | None = None,
    ) -> None:
        """Mark a claimed notice sent, failed (due again at `retry_at`) or dead (given up)."""
        if state not in NOTICE_STATES[1:]:
            raise ValueError(f"operator notice state {state!r}: expected sent, failed or dead")
        values: dict[str, Any] = {"state": state, "error": error, "next_attempt_at": retry_at}
        if state == "sent":
            values["sent_at"] = at
        with self.engine.begin() as conn:
            conn.execute(
                update(operator_notices).where(_notice(alert_id, phase, channel)).values(values)
            )

    def operator_notices(self, alert_id: int | None = None) -> list[OperatorNotice]:
        """Every notice's state (of one alert), in the order they were first claimed."""
        stmt = select(operator_notices).order_by(operator_notices.c.id)
        if alert_id is not None:
            stmt = stmt.where(operator_notices.c.alert_id == alert_id)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return [OperatorNotice(**{k: v for k, v in r._asdict().items() if k != "id"}) for r in rows]


def _notice(alert_id: int, phase: str, channel: str) -> ColumnElement[bool]:
    return (
        (operator_notices.c.alert_id == alert_id)
        & (operator_notices.c.phase == phase)
        & (operator_notices.c.channel == channel)
    )


def _notices_of(
    alerts: Sequence[OperatorAlert], channels: Sequence[str], since: datetime
) -> list[tuple[OperatorAlert, str, str]]:
    """Each alert's raise (when raised since `since`) and recovery (when resolved since)."""
    found: list[tuple[OperatorAlert, str, str]] = []
    for alert in alerts:
        phases = []
        if alert.created_at >= since:
            phases.append("raised")
        if alert.resolved and alert.resolved_at is not None and alert.resolved_at >= since:
            phases.append("resolved")
        found.extend((alert, phase, channel) for phase in phases for channel in channels)
    return found


def _due(state: str, next_attempt_at: datetime | None, now: datetime) -> bool:
    """Failed and its retry time come, or claimed and its lease run out."""
    if state not in ("failed", "sending"):
        return False
    return next_attempt_at is None or next_attempt_at <= now


def _row_alert(row: Any) -> OperatorAlert:
    values = row._asdict()
    return OperatorAlert(subject=values.pop("site"), **values)
