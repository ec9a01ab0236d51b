"""Counting events and their per-minute counts in SQLite, with purge by time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from watchkeeper.core import ClassGroup
from watchkeeper.store.counting import CountingRecords
from watchkeeper.store.sqlite import SqliteStore
from watchkeeper.zones.events import Direction, LineCrossed, ZoneLeft

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)


def crossing(at: datetime, direction: Direction = Direction.IN, name: str = "car") -> LineCrossed:
    group = ClassGroup.PERSON if name == "person" else ClassGroup.VEHICLE
    return LineCrossed(
        camera_id="gate", line_id="road", track_id=1, class_name=name, class_group=group,
        direction=direction, anchor_xy=(1.0, 2.0), at=at,
    )  # fmt: skip


def test_events_round_trip_and_minutes_are_counted(tmp_path: Path) -> None:
    left = ZoneLeft(
        camera_id="gate", zone_id="yard", track_id=4, class_name="dog",
        class_group=ClassGroup.ANIMAL, dwell_s=12.5, lost=True, at=T0 + timedelta(seconds=70),
    )  # fmt: skip
    events = [
        crossing(T0 + timedelta(seconds=5)),
        crossing(T0 + timedelta(seconds=50)),
        crossing(T0 + timedelta(seconds=55), Direction.OUT),
        left,
    ]
    with SqliteStore(tmp_path / "w.db") as store:
        records = CountingRecords(store)
        assert records.add(events) == 4
        back = records.events("gate")
        assert back == events
        assert records.events("other") == []
        assert records.events(since=T0 + timedelta(seconds=60)) == [left]
        series = records.series("gate")
        assert series.total(event_kind="line_crossed", direction=Direction.IN) == 2
        assert series.total(direction=Direction.OUT) == 1
        assert series.total(event_kind="zone_left", class_group=ClassGroup.ANIMAL) == 1
        first_minute = [r for r in series.rows if r.bucket_start_at == T0]
        assert sorted(r.count for r in first_minute) == [1, 2]


def test_purge_removes_old_events_and_buckets_only(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "w.db") as store:
        records = CountingRecords(store)
        records.add([crossing(T0), crossing(T0 + timedelta(days=2))])
        with store.transaction() as conn:
            removed = records.purge_before(conn, T0 + timedelta(days=1))
        assert removed == (1, 1)
        assert [e.at for e in records.events()] == [T0 + timedelta(days=2)]
        assert len(records.series().rows) == 1
