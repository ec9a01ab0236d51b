"""Counting with the real detector on a short synthetic clip (ground truth by construction)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from watchkeeper.core import CLASS_GROUPS
from watchkeeper.core.errors import ModelFileError
from watchkeeper.models.yolo_objects import YoloV4TinyDetector, locate_yolov4_tiny_files
from watchkeeper.tracking.objects import ObjectTracker, tracked_only
from watchkeeper.zones.counting import LineCounter
from watchkeeper.zones.events import LineCrossed
from watchkeeper.zones.synthetic import (
    load_background,
    load_sprites,
    make_counting_clip,
    score_crossings,
)


@pytest.mark.models
@pytest.mark.slow
def test_a_short_clip_is_counted_exactly(data_dir: Path) -> None:
    try:
        locate_yolov4_tiny_files()
    except ModelFileError as exc:
        pytest.skip(str(exc))
    clip = make_counting_clip(
        load_sprites(data_dir), load_background(data_dir), seed=11, duration_s=10.0, fps=8.0
    )
    assert len(clip.truth) >= 3
    detector = YoloV4TinyDetector(input_size=416, threads=2, classes=CLASS_GROUPS.keys())
    tracker, counter = ObjectTracker(), LineCounter([clip.line], camera_id="synthetic")
    start = datetime(2024, 1, 1, tzinfo=UTC)
    counted: list[LineCrossed] = []
    for index in range(clip.n_frames):
        tracked = tracked_only(tracker.update(detector.detect(clip.frame(index)), index))
        counted += counter.update(tracked, start + timedelta(seconds=clip.time_s(index)))
    score = score_crossings(clip, counted, start)
    assert score.correct == score.true_crossings
    assert score.extra == 0
