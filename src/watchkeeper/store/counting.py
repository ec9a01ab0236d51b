"""Counting events and per-minute counts in the SQLite store (tables from migration 3).

Every event is stored whole (its JSON) next to the columns queries filter on, and the minute
bucket it falls in is incremented in the same transaction, so the stored time series always
agrees with the stored events.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from pydantic import TypeAdapter

from watchkeeper.core import ClassGroup
from watchkeeper.core.errors import InvalidInputError
from watchkeeper.events.outbox import EventLog
from watchkeeper.store.sqlite import SqliteStore
from watchkeeper.zones.analytics import AnyCountingEvent, Bucket, CountRow, CountSeries
from watchkeeper.zones.events import CountingEvent, Direction, LineCrossed

_EVENT = TypeAdapter[AnyCountingEvent](CountingEvent)


def _ts(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise InvalidInputError("times must be timezone-aware (UTC)")
    return at.astimezone(UTC)


class CountingRecords:
    """Reads and writes the counting tables of one store.

    >>> import tempfile, pathlib
    >>> from watchkeeper.store.sqlite import SqliteStore
    >>> with SqliteStore(pathlib.Path(tempfile.mkdtemp()) / "w.db") as store:
    ...     CountingRecords(store).event_count()
    0
    """

    def __init__(self, store: SqliteStore) -> None:
        self.store = store

    def add(
        self,
        events: Sequence[AnyCountingEvent],
        conn: sqlite3.Connection | None = None,
        deliver_to: Sequence[str] = (),
    ) -> int:
        """Store events and bump their minute buckets; one transaction unless ``conn`` is given.

        With ``deliver_to`` each event also enters the event log owed to those sinks, in the same
        transaction, so counts reach webhook and MQTT receivers like every other event: in
        order, retried, and never lost while a receiver is down.
        """
        if not events:
            return 0
        if conn is None:
            with self.store.transaction() as own:
                return self.add(events, own, deliver_to)
        if deliver_to:
            log = EventLog(conn)
            for event in events:
                log.append(event, deliver_to)
        for event in events:
            place = event.line_id if isinstance(event, LineCrossed) else event.zone_id
            direction = event.direction.value if isinstance(event, LineCrossed) else ""
            dwell = getattr(event, "dwell_s", None)
            conn.execute(
                "INSERT INTO counting_events (event_id, camera_id, kind, place_id, track_id, "
                "class_name, class_group, direction, dwell_s, at, body) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    f"cnt_{uuid.uuid4().hex}",
                    event.camera_id,
                    event.kind,
                    place,
                    event.track_id,
                    event.class_name,
                    event.class_group.value,
                    direction or None,
                    dwell,
                    _ts(event.at),
                    event.model_dump_json(),
                ),
            )
            conn.execute(
                "INSERT INTO count_buckets (camera_id, bucket_start_at, place_id, event_kind, "
                "class_group, direction, count) VALUES (?, ?, ?, ?, ?, ?, 1) "
                "ON CONFLICT (camera_id, bucket_start_at, place_id, event_kind, class_group, "
                "direction) DO UPDATE SET count = count + 1",
                (
                    event.camera_id,
                    _ts(Bucket.MINUTE.floor(event.at)),
                    place,
                    event.kind,
                    event.class_group.value,
                    direction,
                ),
            )
        return len(events)

    def events(
        self,
        camera_id: str | None = None,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 10_000,
    ) -> list[AnyCountingEvent]:
        """Stored events in time order, for one camera or all, within [since, until)."""
        sql, args = self._where(camera_id, since, until, "at")
        rows = self.store.conn.execute(
            f"SELECT body FROM counting_events{sql} ORDER BY at, rowid LIMIT ?", (*args, limit)
        ).fetchall()
        return [_EVENT.validate_json(row[0]) for row in rows]

    def event_count(self) -> int:
        """How many events are stored."""
        return int(self.store.conn.execute("SELECT COUNT(*) FROM counting_events").fetchone()[0])

    def series(
        self,
        camera_id: str | None = None,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> CountSeries:
        """The stored per-minute counts (non-zero buckets only, sorted by time)."""
        sql, args = self._where(camera_id, since, until, "bucket_start_at")
        rows = self.store.conn.execute(
            "SELECT bucket_start_at, camera_id, place_id, event_kind, class_group, direction, "
            f"count FROM count_buckets{sql} ORDER BY bucket_start_at, camera_id, place_id, "
            "event_kind, class_group, direction",
            args,
        ).fetchall()
        return CountSeries(
            bucket=Bucket.MINUTE,
            rows=tuple(
                CountRow(
                    bucket_start_at=datetime.fromisoformat(r[0]),
                    camera_id=r[1],
                    place_id=r[2],
                    event_kind=r[3],
                    class_group=ClassGroup(r[4]),
                    direction=Direction(r[5]) if r[5] else None,
                    count=int(r[6]),
                )
                for r in rows
            ),
        )

    def purge_before(self, conn: sqlite3.Connection, cutoff: datetime) -> tuple[int, int]:
        """Delete events and minute buckets older than ``cutoff``; returns (events, buckets)."""
        stamp = _ts(_utc(cutoff))
        events = conn.execute("DELETE FROM counting_events WHERE at < ?", (stamp,)).rowcount
        buckets = conn.execute(
            "DELETE FROM count_buckets WHERE bucket_start_at < ?", (stamp,)
        ).rowcount
        return int(events), int(buckets)

    @staticmethod
    def _where(
        camera_id: str | None, since: datetime | None, until: datetime | None, column: str
    ) -> tuple[str, tuple[str, ...]]:
        clauses: list[str] = []
        args: list[str] = []
        if camera_id is not None:
            clauses.append("camera_id = ?")
            args.append(camera_id)
        if since is not None:
            clauses.append(f"{column} >= ?")
            args.append(_ts(_utc(since)))
        if until is not None:
            clauses.append(f"{column} < ?")
            args.append(_ts(_utc(until)))
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), tuple(args)
