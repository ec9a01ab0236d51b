"""`watchkeeper count` with the real YOLOv4-tiny on a synthetic clip written to a video file.

The clip's true crossings are known by construction (``zones.synthetic``); the command's CSV
must hold exactly those, per class group and direction.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from watchkeeper.cli.main import app
from watchkeeper.core.errors import ModelFileError
from watchkeeper.models.yolo_objects import locate_yolov4_tiny_files
from watchkeeper.zones.synthetic import load_background, load_sprites, make_counting_clip


@pytest.mark.models
@pytest.mark.slow
def test_count_on_a_video_file_matches_the_true_crossings(data_dir: Path, tmp_path: Path) -> None:
    try:
        locate_yolov4_tiny_files()
    except ModelFileError as exc:
        pytest.skip(str(exc))
    import av

    import watchkeeper.cli.count  # noqa: F401  (registers the command)

    clip = make_counting_clip(
        load_sprites(data_dir), load_background(data_dir), seed=11, duration_s=8.0, fps=8.0
    )
    assert len(clip.truth) >= 2
    path = tmp_path / "synthetic.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=8)
        stream.width, stream.height = clip.resolution_wh
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "18"}
        for i in range(clip.n_frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(clip.frame(i)), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    (x1, y1), (x2, y2) = clip.line.start, clip.line.end
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["count", str(path), "--line", f"{x1},{y1},{x2},{y2}:centre", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    with (out / "counts_per_minute.csv").open() as handle:
        counted = Counter()
        for row in csv.DictReader(handle):
            if row["event_kind"] == "line_crossed":
                counted[(row["class_group"], row["direction"])] += int(row["count"])
    truth = Counter((t.group.value, t.direction.value) for t in clip.truth)
    assert +counted == truth
    assert (out / "heatmap.png").stat().st_size > 0
