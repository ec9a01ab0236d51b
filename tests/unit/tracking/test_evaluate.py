"""The YTF evaluation on a tiny fake data folder with scripted detectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from watchkeeper.core import Faces, Image
from watchkeeper.core.errors import InvalidInputError, NotFoundError
from watchkeeper.tracking.byte_tracker import BoxTrackerSettings
from watchkeeper.tracking.evaluate import (
    IDENTITY_TRANSFORM,
    BoxTransform,
    load_ytf_sequences,
    parse_label_line,
    run_tracking_bench,
)

SETTINGS = BoxTrackerSettings(min_hits=1)


def make_ytf(root: Path, frames: int = 6, labelled_missing: int = 2) -> Path:
    """data/tracking/ytf/Ann_Example/3/3.<n>.jpg: a face box moving right by 2 px a frame."""
    from PIL import Image as PilImage

    folder = root / "tracking" / "ytf" / "Ann_Example" / "3"
    folder.mkdir(parents=True)
    lines = []
    for i in range(frames + labelled_missing):
        name = f"3.{98 + i}.jpg"
        if i < frames:
            # The detector below reads the frame number from the red channel (30 per step).
            PilImage.new("RGB", (64, 48), (30 * i, 0, 0)).save(folder / name)
        lines.append(f"Ann_Example\\3\\{name},0,{20 + 2 * i},24,16,16,0.0,1")
    (folder.parent / "Ann_Example3.labeled_faces.txt").write_text("\n".join(lines) + "\n")
    return root


class LabelDetector:
    """Finds the labelled box; ``jump_at`` moves it far away from that frame on."""

    def __init__(self, jump_at: int | None = None, scale: float = 1.0) -> None:
        self.jump_at = jump_at
        self.scale = scale

    def detect(self, image: Image) -> Faces:
        i = round(float(image[:, :, 0].mean()) / 30)
        cx = 20 + 2 * i + (30 if self.jump_at is not None and i >= self.jump_at else 0)
        half = 8 * self.scale
        return Faces(xyxy=[[cx - half, 24 - half, cx + half, 24 + half]], detector_score=[0.9])


def test_parse_label_line() -> None:
    label = parse_label_line("A\\0\\0.5.jpg,0,30,40,10,20,0.0,1")
    assert label.file_name == "0.5.jpg"
    assert label.xyxy == (25, 30, 35, 50)
    with pytest.raises(InvalidInputError):
        parse_label_line("A\\0\\0.5.jpg,0,30,forty,10,20")
    with pytest.raises(InvalidInputError):
        parse_label_line("A\\0\\0.5.jpg,0,30,40,0,20")


def test_load_counts_labels_without_frames(tmp_path: Path) -> None:
    (sequence,) = load_ytf_sequences(make_ytf(tmp_path))
    assert sequence.name == "Ann_Example3"
    assert len(sequence.frame_paths) == 6
    assert len(sequence.labels) == 6
    assert sequence.missing_labels == 2
    with pytest.raises(NotFoundError):
        load_ytf_sequences(tmp_path, ["Nobody0"])


def test_perfect_detector_covers_everything(tmp_path: Path) -> None:
    result = run_tracking_bench(
        make_ytf(tmp_path),
        detector=LabelDetector(),
        tracker_settings=SETTINGS,
        box_transform=IDENTITY_TRANSFORM,
    )
    (seq,) = result.sequences
    assert seq.coverage_raw == seq.coverage_calibrated == 1.0
    assert seq.id_switches == 0
    assert seq.mean_iou_calibrated == pytest.approx(1.0)


def test_interval_uses_predictions_between_detections(tmp_path: Path) -> None:
    result = run_tracking_bench(
        make_ytf(tmp_path, frames=9),
        detector=LabelDetector(),
        detection_interval=3,
        tracker_settings=SETTINGS,
        box_transform=IDENTITY_TRANSFORM,
    )
    assert result.coverage_raw == 1.0


def test_a_jump_counts_as_an_id_switch(tmp_path: Path) -> None:
    # From frame 3 the detector reports the face 30 px away: a new track, but one that never
    # overlaps the label, so it costs coverage and is not an id switch of the labelled face.
    result = run_tracking_bench(
        make_ytf(tmp_path),
        detector=LabelDetector(jump_at=3),
        tracker_settings=SETTINGS,
        box_transform=IDENTITY_TRANSFORM,
    )
    (seq,) = result.sequences
    assert seq.covered_raw == 3
    assert seq.id_switches == 0  # the jumped boxes never matched the label
    assert seq.track_ids_matched == 1


def test_switch_between_matched_tracks_is_counted(tmp_path: Path) -> None:
    # A tracker with a tiny max_age drops the track during a one-frame gap, so the face comes
    # back with a new id while still overlapping the label.
    class GapDetector(LabelDetector):
        def detect(self, image: Image) -> Faces:
            if round(float(image[:, :, 0].mean()) / 30) == 2:
                return Faces.empty()
            return super().detect(image)

    result = run_tracking_bench(
        make_ytf(tmp_path),
        detector=GapDetector(),
        tracker_settings=BoxTrackerSettings(min_hits=1, max_age=0),
        box_transform=IDENTITY_TRANSFORM,
    )
    (seq,) = result.sequences
    assert seq.id_switches == 1
    assert seq.track_ids_matched == 2
    assert seq.covered_raw == 5


def test_box_transform_rescales_about_the_centre() -> None:
    out = BoxTransform(dx=0.1, dy=-0.1, scale_w=2, scale_h=1).apply([[0, 0, 10, 10]])
    np.testing.assert_allclose(out, [[-4, -1, 16, 9]])
    # A detector with boxes half the label size gets IoU 0.25 raw; the transform fixes it.
    assert BoxTransform(scale_w=2, scale_h=2).apply([[4, 4, 6, 6]]).tolist() == [[3, 3, 7, 7]]


def test_appearance_model_runs_on_detection_frames_only(tmp_path: Path) -> None:
    calls: list[int] = []

    class CountingAppearance:
        def describe(self, image: Image, faces: Faces) -> Faces:
            calls.append(len(faces))
            return faces.with_columns(embedding=np.ones((len(faces), 4), np.float32))

    result = run_tracking_bench(
        make_ytf(tmp_path),
        detector=LabelDetector(),
        detection_interval=2,
        tracker_settings=BoxTrackerSettings(min_hits=1, reid_similarity=0.9),
        box_transform=IDENTITY_TRANSFORM,
        appearance=CountingAppearance(),
    )
    assert calls == [1, 1, 1]
    assert result.sequences[0].coverage_raw == 1.0
