"""The counting pipeline for one camera, with a scripted detector (no weights needed)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from watchkeeper.config.cameras import CameraSettings
from watchkeeper.config.counting import CountingLine, CountingSettings, CountingZone
from watchkeeper.core import COCO_CLASS_NAMES, ClassGroup, Faces, Frame, Image, Objects
from watchkeeper.core.errors import ConfigError, PolicyViolationError
from watchkeeper.models.base import ModelManifest
from watchkeeper.service.counting import CountingPipeline, FaceHook
from watchkeeper.store.counting import CountingRecords
from watchkeeper.store.sqlite import SqliteStore
from watchkeeper.zones.events import Direction, DwellExceeded, LineCrossed, ZoneEntered, ZoneLeft

T0 = datetime(2024, 6, 1, 8, 0, tzinfo=UTC)
W, H = 320, 240


class ScriptedDetector:
    """Returns boxes from a script of the call number; records what it was shown."""

    def __init__(self, script: Callable[[int], list[tuple[str, float, float, float, float]]]):
        self.script = script
        self.calls = 0
        self.shapes: list[tuple[int, ...]] = []

    @property
    def manifest(self) -> ModelManifest:
        return ModelManifest(kind="scripted", input_size=(W, H), colour_order="RGB")

    @property
    def labels(self) -> tuple[str, ...]:
        return COCO_CLASS_NAMES

    def detect(self, image: Image) -> Objects:
        self.shapes.append(image.shape)
        rows = self.script(self.calls)
        self.calls += 1
        if not rows:
            return Objects.empty(COCO_CLASS_NAMES)
        return Objects(
            xyxy=np.array([r[1:] for r in rows], np.float32),
            confidence=np.full(len(rows), 0.8, np.float32),
            class_id=np.array([COCO_CLASS_NAMES.index(r[0]) for r in rows]),
            labels=COCO_CLASS_NAMES,
        )


def walker(
    name: str, start_x: float, step: float
) -> Callable[[int], list[tuple[str, float, float, float, float]]]:
    def script(i: int) -> list[tuple[str, float, float, float, float]]:
        x = start_x + step * i
        if x + 20 <= 1 or x - 20 >= W - 1:
            return []  # out of the frame (boxes at the edge are clipped, as a detector does)
        return [(name, max(0.0, x - 20), 100.0, min(float(W), x + 20), 200.0)]

    return script


def frames(n: int, fps: float = 10.0) -> list[Frame]:
    image = np.full((H, W, 3), 90, np.uint8)
    return [
        Frame(image, source_id="gate", index=i, pts_s=i / fps,
              captured_at=T0 + timedelta(seconds=i / fps))
        for i in range(n)
    ]  # fmt: skip


def camera(**counting: object) -> CameraSettings:
    defaults: dict[str, object] = {
        "lines": (CountingLine(line_id="mid", start=(160, 240), end=(160, 0)),),
        "zones": (
            CountingZone(
                zone_id="right",
                polygon=((200, 0), (320, 0), (320, 240), (200, 240)),
                loiter_after_s=3.0,
            ),
        ),
    }
    defaults.update(counting)
    return CameraSettings(camera_id="gate", source="x.mp4", counting=CountingSettings(**defaults))  # type: ignore[arg-type]


def run_all(pipeline: CountingPipeline, n: int) -> list[object]:
    return [e for result in pipeline.run(frames(n)) for e in result.events]


def test_a_person_walking_right_is_counted_once_in_and_visits_the_zone() -> None:
    pipeline = CountingPipeline(camera(), ScriptedDetector(walker("person", 20, 8)))
    events = run_all(pipeline, 60)
    crossings = [e for e in events if isinstance(e, LineCrossed)]
    assert [(c.direction, c.class_group) for c in crossings] == [(Direction.IN, ClassGroup.PERSON)]
    kinds = [type(e) for e in events if not isinstance(e, LineCrossed)]
    assert kinds == [ZoneEntered, ZoneLeft]  # walks through in ~1.5 s, loiters not
    assert pipeline.totals.crossings == {("mid", ClassGroup.PERSON, "in"): 1}


def test_a_car_that_stops_on_the_line_is_counted_once() -> None:
    def script(i: int) -> list[tuple[str, float, float, float, float]]:
        x = min(40 + 10 * i, 160) if i < 40 else 160 + 10 * (i - 40)
        return [("car", x - 30, 120, x + 30, 200)] if x < W + 30 else []

    events = run_all(CountingPipeline(camera(), ScriptedDetector(script)), 80)
    assert [e.direction for e in events if isinstance(e, LineCrossed)] == [Direction.IN]


def test_loitering_raises_one_dwell_alert_and_close_ends_the_visit() -> None:
    def script(i: int) -> list[tuple[str, float, float, float, float]]:
        return [("dog", 230, 150, 290, 200)]

    pipeline = CountingPipeline(camera(), ScriptedDetector(script))
    events = run_all(pipeline, 50)
    dwell = [e for e in events if isinstance(e, DwellExceeded)]
    assert len(dwell) == 1 and dwell[0].class_name == "dog"
    left = [e for e in events if isinstance(e, ZoneLeft)]
    assert len(left) == 1 and left[0].lost and left[0].dwell_s >= 4.0


def test_detection_every_nth_frame_still_counts() -> None:
    # the script steps once per detection: 15 px per detection, 5 px per frame
    detector = ScriptedDetector(walker("bicycle", 20, 15))
    cam = camera().model_copy(update={"detection_interval": 3})
    events = run_all(CountingPipeline(cam, detector), 90)
    assert detector.calls == 30
    assert [e.direction for e in events if isinstance(e, LineCrossed)] == [Direction.IN]


def test_roi_crops_what_the_detector_sees_and_boxes_come_back_in_frame_pixels() -> None:
    cam = camera().model_copy(update={"roi_xyxy": (100.0, 50.0, 300.0, 230.0)})
    detector = ScriptedDetector(lambda i: [("person", 10, 10, 50, 100)])
    pipeline = CountingPipeline(cam, detector)
    results = list(pipeline.run(frames(3)))
    assert detector.shapes[0] == (180, 200, 3)
    assert results[2].objects.xyxy[0].tolist() == [110.0, 60.0, 150.0, 150.0]


def test_unwanted_classes_are_not_counted() -> None:
    detector = ScriptedDetector(walker("person", 20, 8))
    events = run_all(CountingPipeline(camera(classes=("vehicle",)), detector), 60)
    assert events == []


def test_a_long_empty_stretch_produces_nothing_and_keeps_memory_small() -> None:
    pipeline = CountingPipeline(camera(), ScriptedDetector(lambda i: []))
    assert run_all(pipeline, 3000) == []
    assert pipeline.heatmap is not None and pipeline.heatmap.hits.sum() == 0
    assert pipeline.occupancy()[0].total == 0


def test_events_and_minute_counts_are_stored(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "w.db") as store:
        records = CountingRecords(store)
        pipeline = CountingPipeline(
            camera(), ScriptedDetector(walker("person", 20, 8)), records=records
        )
        events = run_all(pipeline, 60)
        assert records.events("gate") == events
        assert records.series("gate").total(event_kind="line_crossed") == 1


def test_animals_leave_one_snapshot_each() -> None:
    pipeline = CountingPipeline(camera(), ScriptedDetector(walker("cat", 20, 8)))
    snaps = [s for r in pipeline.run(frames(60)) for s in r.snapshots]
    assert len(snaps) == 1 and snaps[0].class_name == "cat"
    assert snaps[0].crop.ndim == 3 and snaps[0].crop.shape[0] > 0


def test_a_self_crossing_zone_is_a_clear_config_error() -> None:
    bow_tie = CountingZone(zone_id="bow", polygon=((0, 0), (100, 100), (100, 0), (0, 100)))
    with pytest.raises(ConfigError, match=r"camera .gate., zone .bow.*self-intersecting"):
        CountingPipeline(camera(zones=(bow_tie,)), ScriptedDetector(lambda i: []))


class FaceOnHead:
    def track_faces(self, frame: Frame) -> Faces:
        return Faces(
            xyxy=np.zeros((0, 4), np.float32), detector_score=[], track_id=np.zeros(0, np.int64)
        )


def test_faces_need_an_attached_watchlist() -> None:
    with pytest.raises(PolicyViolationError, match="watchlist"):
        FaceHook(FaceOnHead(), watchlist=" ")
    pipeline = CountingPipeline(
        camera(),
        ScriptedDetector(walker("person", 20, 8)),
        face_hook=FaceHook(FaceOnHead(), "staff"),
    )
    results = list(pipeline.run(frames(5)))
    assert all(r.face_track_of_person == () for r in results)
    anonymous = CountingPipeline(camera(), ScriptedDetector(lambda i: []))
    assert anonymous.linker is None
