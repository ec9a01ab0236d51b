"""Count time series, CSV export and the presence heat map."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from watchkeeper.core import ClassGroup, Objects
from watchkeeper.core.errors import InvalidInputError
from watchkeeper.zones.analytics import (
    Bucket,
    PresenceHeatmap,
    count_series,
    counts_csv_text,
    write_counts_csv,
)
from watchkeeper.zones.events import Direction, LineCrossed, ZoneEntered

T0 = datetime(2024, 6, 1, 8, 0, tzinfo=UTC)


def crossed(
    at: datetime, direction: Direction, cls: str = "person", group: ClassGroup = ClassGroup.PERSON
) -> LineCrossed:
    return LineCrossed(
        camera_id="cam", line_id="door", track_id=1, class_name=cls, class_group=group,
        direction=direction, anchor_xy=(0.0, 0.0), at=at,
    )  # fmt: skip


def test_minute_series_is_zero_filled_and_keyed() -> None:
    events = [
        crossed(T0 + timedelta(seconds=5), Direction.IN),
        crossed(T0 + timedelta(seconds=50), Direction.IN),
        crossed(T0 + timedelta(minutes=3, seconds=1), Direction.OUT),
        crossed(T0 + timedelta(minutes=3, seconds=2), Direction.IN, "dog", ClassGroup.ANIMAL),
        ZoneEntered(
            camera_id="cam",
            zone_id="lobby",
            track_id=2,
            class_name="car",
            class_group=ClassGroup.VEHICLE,
            at=T0 + timedelta(minutes=1),
        ),
    ]
    series = count_series(events, Bucket.MINUTE)
    starts = sorted({r.bucket_start_at for r in series.rows})
    assert starts == [T0 + timedelta(minutes=m) for m in range(4)]
    assert len(series.rows) == 4 * 4  # four keys, each in every bucket
    assert series.total(direction=Direction.IN, class_group=ClassGroup.PERSON) == 2
    assert series.total(event_kind="zone_entered") == 1
    assert series.total(place_id="door") == 4
    first_minute = [r for r in series.rows if r.bucket_start_at == T0 and r.place_id == "door"]
    assert {(r.class_group, r.direction, r.count) for r in first_minute} == {
        (ClassGroup.PERSON, Direction.IN, 2),
        (ClassGroup.PERSON, Direction.OUT, 0),
        (ClassGroup.ANIMAL, Direction.IN, 0),
    }


def test_hour_series_and_bounds() -> None:
    events = [crossed(T0 + timedelta(minutes=59), Direction.IN)]
    series = count_series(
        events, Bucket.HOUR, start_at=T0 - timedelta(hours=1), end_at=T0 + timedelta(hours=2)
    )
    assert [r.count for r in series.rows] == [0, 1, 0, 0]
    assert count_series([], Bucket.HOUR).rows == ()
    with pytest.raises(InvalidInputError):
        count_series(events, Bucket.HOUR, end_at=T0 - timedelta(hours=3))
    with pytest.raises(InvalidInputError):
        count_series(events, start_at=datetime(2024, 1, 1))


def test_csv_export(tmp_path: Path) -> None:
    series = count_series([crossed(T0, Direction.OUT)], Bucket.MINUTE)
    rows = list(csv.DictReader(io.StringIO(counts_csv_text(series))))
    assert rows == [
        {
            "bucket_start_at": "2024-06-01T08:00:00+00:00", "bucket": "minute",
            "camera_id": "cam", "place_id": "door", "event_kind": "line_crossed",
            "class_group": "person", "direction": "out", "count": "1",
        }
    ]  # fmt: skip
    path = tmp_path / "counts.csv"
    write_counts_csv(series, path)
    assert path.read_bytes().decode("utf-8") == counts_csv_text(series)


def test_heatmap_accumulates_at_anchor_points(tmp_path: Path) -> None:
    heat = PresenceHeatmap((64, 48), cell_px=4)
    box = Objects(
        np.array([[10, 10, 30, 40]], np.float32), np.array([0.9]), np.array([0]), ("person",)
    )
    for _ in range(3):
        heat.add(box)
    heat.add(Objects.empty(("person",)))
    hits = heat.hits
    assert heat.frames == 4 and hits.sum() == 3.0 and hits[40 // 4, 20 // 4] == 3.0
    image = heat.render()
    assert image.shape == (48, 64, 3) and image.dtype == np.uint8
    # Where the anchor was is brighter than anywhere far from it.
    assert int(image[40, 20].sum()) > int(image[5, 60].sum())
    path = tmp_path / "heat.png"
    background = np.full((48, 64, 3), 40, np.uint8)
    heat.save_png(path, background)
    decoded = cv2.imread(str(path))
    assert decoded is not None and decoded.shape == (48, 64, 3)
    assert int(decoded[0, 0].sum()) == 120  # far from any presence the background shows through
    with pytest.raises(InvalidInputError):
        heat.render(np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(InvalidInputError):
        PresenceHeatmap((0, 10))
