"""The event log (the database sink) and the outbox that feeds the external sinks.

Every event is written to ``events`` in the caller's transaction; an event meant for outside
receivers also gets one ``event_outbox`` row per sink in that same transaction, so an event is
never stored without its delivery being owed, nor owed without being stored. The
:class:`Dispatcher` then delivers each sink's rows strictly in order: a failed row is retried
with exponential backoff and nothing behind it goes first, so a receiver that is down for a
while gets everything, in order, once it is back. A delivery is marked done only after the
receiver acknowledged it (HTTP 2xx, MQTT PUBACK); the event id travels with it so a receiver
can drop the rare duplicate of a delivery whose acknowledgement was lost.

The tables come from the store's migrations; this module only speaks SQL on a connection.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from watchkeeper.core.errors import DeliveryError, InvalidInputError
from watchkeeper.events.model import Event, event_id_of, parse_event

log = logging.getLogger(__name__)

__all__ = [
    "Dispatcher",
    "EventLog",
    "EventSink",
    "OutboxItem",
    "StoredEvent",
]


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


class EventSink(Protocol):
    """An external receiver. ``deliver`` returns once the receiver acknowledged the event."""

    @property
    def name(self) -> str: ...

    def deliver(self, event: Event, payload_json: str) -> None:
        """Hand over one event; raise :class:`DeliveryError` when it was not acknowledged."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class StoredEvent:
    seq: int
    event: Event


@dataclass(frozen=True, slots=True)
class OutboxItem:
    item_id: int
    sink: str
    attempts: int
    event: Event
    payload_json: str


class EventLog:
    """The ``events`` table on one connection (no commit: the caller's transaction)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def append(
        self, event: Event, deliver_to: Sequence[str] = (), identity_id: str | None = None
    ) -> int:
        """Store ``event`` and owe it to each sink named in ``deliver_to``; returns its seq.

        An event already stored (same id) is not stored or owed twice.
        """
        payload = event.model_dump_json()
        camera = getattr(event, "camera_id", None)
        ident = identity_id or getattr(event, "identity_id", None)
        cur = self._conn.execute(
            "INSERT OR IGNORE INTO events (event_id, kind, camera_id, identity_id, at, payload)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (event_id_of(event), event.kind, camera, ident, _iso(event.at), payload),
        )
        if cur.rowcount != 1:
            row = self._conn.execute(
                "SELECT seq FROM events WHERE event_id = ?", (event_id_of(event),)
            ).fetchone()
            return int(row[0])
        seq = int(cur.lastrowid or 0)
        for sink in deliver_to:
            self._conn.execute(
                "INSERT INTO event_outbox (event_seq, sink) VALUES (?, ?)", (seq, sink)
            )
        return seq

    def recent(
        self, limit: int = 100, kind: str | None = None, after_seq: int = 0
    ) -> list[StoredEvent]:
        """Events after ``after_seq``, oldest first (at most ``limit``)."""
        if not 1 <= limit <= 100_000:
            raise InvalidInputError("limit must be between 1 and 100000")
        sql = "SELECT seq, payload FROM events WHERE seq > ?"
        args: list[object] = [after_seq]
        if kind is not None:
            sql += " AND kind = ?"
            args.append(kind)
        rows = self._conn.execute(sql + " ORDER BY seq LIMIT ?", (*args, limit)).fetchall()
        return [StoredEvent(int(seq), parse_event(str(payload))) for seq, payload in rows]

    def delete_for_identities(self, identity_ids: Sequence[str]) -> int:
        """Remove events that name these identities (erasure); their owed deliveries go too."""
        removed = 0
        for identity_id in identity_ids:
            # Owed deliveries go with their event (ON DELETE CASCADE).
            removed += self._conn.execute(
                "DELETE FROM events WHERE identity_id = ?", (identity_id,)
            ).rowcount
        return removed

    def purge_before(self, cutoff: datetime) -> int:
        """Delete events older than ``cutoff`` whose deliveries are all done."""
        self._conn.execute(
            "DELETE FROM event_outbox WHERE delivered_at IS NOT NULL AND event_seq IN"
            " (SELECT seq FROM events WHERE at < ?)",
            (_iso(cutoff),),
        )
        return int(
            self._conn.execute(
                "DELETE FROM events WHERE at < ? AND seq NOT IN"
                " (SELECT event_seq FROM event_outbox)",
                (_iso(cutoff),),
            ).rowcount
        )

    # -- the outbox --------------------------------------------------------------------------
    def next_owed(self, sink: str) -> OutboxItem | None:
        """The oldest undelivered item of ``sink`` (delivery is strictly in this order)."""
        row = self._conn.execute(
            "SELECT o.item_id, o.sink, o.attempts, e.payload, o.next_attempt_at"
            " FROM event_outbox o JOIN events e ON e.seq = o.event_seq"
            " WHERE o.sink = ? AND o.delivered_at IS NULL ORDER BY o.item_id LIMIT 1",
            (sink,),
        ).fetchone()
        if row is None:
            return None
        payload = str(row[3])
        return OutboxItem(int(row[0]), str(row[1]), int(row[2]), parse_event(payload), payload)

    def due_at(self, item_id: int) -> datetime | None:
        row = self._conn.execute(
            "SELECT next_attempt_at FROM event_outbox WHERE item_id = ?", (item_id,)
        ).fetchone()
        return None if row is None or row[0] is None else datetime.fromisoformat(str(row[0]))

    def mark_delivered(self, item_id: int, at: datetime) -> None:
        self._conn.execute(
            "UPDATE event_outbox SET delivered_at = ?, attempts = attempts + 1, last_error = NULL"
            " WHERE item_id = ?",
            (_iso(at), item_id),
        )

    def mark_failed(self, item_id: int, error: str, retry_at: datetime) -> None:
        self._conn.execute(
            "UPDATE event_outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?"
            " WHERE item_id = ?",
            (error[:500], _iso(retry_at), item_id),
        )

    def owed(self, sink: str | None = None) -> int:
        """How many deliveries are still owed (to one sink or to all)."""
        sql = "SELECT COUNT(*) FROM event_outbox WHERE delivered_at IS NULL"
        args: tuple[object, ...] = ()
        if sink is not None:
            sql += " AND sink = ?"
            args = (sink,)
        return int(self._conn.execute(sql, args).fetchone()[0])


Transaction = Callable[[], AbstractContextManager[sqlite3.Connection]]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delay before retrying a failed delivery: ``initial_s * multiplier**(n-1)``, capped."""

    initial_s: float = 1.0
    multiplier: float = 2.0
    max_s: float = 60.0

    def delay_s(self, attempts: int) -> float:
        return float(min(self.max_s, self.initial_s * self.multiplier ** max(attempts - 1, 0)))


class Dispatcher:
    """Delivers owed events to each sink, in order, retrying with backoff.

    :meth:`run_once` is the whole logic (tests drive it with their own clock); :meth:`start`
    runs it in a background thread until :meth:`stop`.
    """

    def __init__(
        self,
        transaction: Transaction,
        sinks: Mapping[str, EventSink],
        backoff: Backoff | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._transaction = transaction
        self._sinks = dict(sinks)
        self.backoff = backoff or Backoff()
        self._clock = clock
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.delivered = 0

    def run_once(self, max_items: int = 100) -> int:
        """Deliver what is due now; returns how many deliveries succeeded."""
        done = 0
        for name, sink in self._sinks.items():
            for _ in range(max_items):
                with self._transaction() as conn:
                    item = EventLog(conn).next_owed(name)
                    due = None if item is None else EventLog(conn).due_at(item.item_id)
                if item is None or (due is not None and due > self._clock()):
                    break
                try:
                    sink.deliver(item.event, item.payload_json)
                except DeliveryError as exc:
                    retry = self._clock() + timedelta(
                        seconds=self.backoff.delay_s(item.attempts + 1)
                    )
                    log.warning(
                        "delivery to %s failed (attempt %d), retrying at %s: %s",
                        name,
                        item.attempts + 1,
                        retry.isoformat(timespec="seconds"),
                        exc,
                    )
                    with self._transaction() as conn:
                        EventLog(conn).mark_failed(item.item_id, str(exc), retry)
                    break
                with self._transaction() as conn:
                    EventLog(conn).mark_delivered(item.item_id, self._clock())
                done += 1
        self.delivered += done
        return done

    def wake(self) -> None:
        """Ask the background thread to look now (a new event was queued)."""
        self._wake.set()

    def start(self, poll_s: float = 0.5) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._loop, args=(poll_s,), name="watchkeeper-outbox", daemon=True
        )
        self._thread.start()

    def _loop(self, poll_s: float) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # a broken sink must not kill delivery to the others for good
                log.exception("event delivery round failed; will retry")
            self._wake.wait(poll_s)
            self._wake.clear()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        for sink in self._sinks.values():
            sink.close()

    def __enter__(self) -> Dispatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def iter_owed(conn: sqlite3.Connection, sink: str) -> Iterator[int]:
    """Item ids still owed to ``sink``, in delivery order (for reports and tests)."""
    for (item_id,) in conn.execute(
        "SELECT item_id FROM event_outbox WHERE sink = ? AND delivered_at IS NULL ORDER BY item_id",
        (sink,),
    ):
        yield int(item_id)
