"""The retention purge also removes counting events and minute counts past the sightings period."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from tests.builders import Staff, make_staff

from watchkeeper.core import ClassGroup
from watchkeeper.store.counting import CountingRecords
from watchkeeper.zones.events import Direction, LineCrossed


@pytest.fixture
def staff(tmp_path: Path) -> Iterator[Staff]:
    s = make_staff(tmp_path)
    yield s
    s.engine.close()


def test_counting_rows_follow_the_sightings_period(staff: Staff) -> None:
    records = CountingRecords(staff.engine.store)
    now = staff.clock()

    def crossing(age_days: float) -> LineCrossed:
        return LineCrossed(
            camera_id="gate", line_id="road", track_id=1, class_name="car",
            class_group=ClassGroup.VEHICLE, direction=Direction.IN, anchor_xy=(0.0, 0.0),
            at=now - timedelta(days=age_days),
        )  # fmt: skip

    records.add([crossing(45), crossing(2)])  # sightings are kept 30 days by default
    staff.engine.retention.purge(staff.admin)
    assert [e.at for e in records.events()] == [now - timedelta(days=2)]
    assert len(records.series().rows) == 1
    row = staff.engine.store.conn.execute(
        "SELECT details FROM audit_log WHERE action = 'retention.purge' ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    details = json.loads(row[0])
    assert (details["counting_events"], details["count_buckets"]) == (1, 1)
