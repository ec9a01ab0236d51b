"""Tracking baseline on one real YouTube Faces clip with dlib's HOG detector.

Measured on Aishwarya_Rai0 (76 frames): coverage 0.987 raw and calibrated at detection
interval 1, 0.961 at interval 3, no id switch. Floors leave a margin for library updates.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from watchkeeper.models.dlib_detectors import DlibHogDetector
from watchkeeper.tracking.evaluate import run_tracking_bench

pytestmark = [pytest.mark.slow, pytest.mark.models, pytest.mark.data]


@pytest.mark.parametrize(("interval", "floor"), [(1, 0.95), (3, 0.92)])
def test_hog_tracker_covers_the_labelled_face(data_dir: Path, interval: int, floor: float) -> None:
    result = run_tracking_bench(
        data_dir,
        detector=DlibHogDetector(upsample=1, min_score=-0.3),
        detection_interval=interval,
        sequences=["Aishwarya_Rai0"],
    )
    (sequence,) = result.sequences
    assert sequence.labelled_frames == 76
    assert sequence.coverage_raw >= floor
    assert sequence.coverage_calibrated >= floor
    assert sequence.id_switches == 0
    assert sequence.track_ids_matched == 1
