"""VideoFileSource and ImageFolderSource on clips and folders made in tmp_path."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from watchkeeper.core.errors import InvalidInputError, SourceError
from watchkeeper.sources.base import FrameRateCap, VideoSource
from watchkeeper.sources.files import ImageFolderSource, VideoFileSource, natural_key


def test_mjpeg_clip_decodes_every_frame_in_order(mjpeg_clip: Path) -> None:
    with VideoFileSource(mjpeg_clip, source_id="cam1") as source:
        assert isinstance(source, VideoSource)
        assert source.nominal_fps == pytest.approx(10.0)
        frames = list(source)
    assert len(frames) == 20
    assert [f.index for f in frames] == list(range(20))
    assert frames[0].image.shape == (48, 64, 3)
    assert frames[0].image.dtype == np.uint8
    assert {f.source_id for f in frames} == {"cam1"}
    np.testing.assert_allclose([f.pts_s for f in frames], np.arange(20) / 10, atol=1e-6)
    # RGB order: the red channel carries the frame number (JPEG is lossy: allow a few levels).
    assert abs(int(frames[5].image[10, 10, 0]) - 50) <= 4
    assert abs(int(frames[5].image[10, 10, 2]) - 160) <= 4


def test_h264_clip_decodes(h264_clip: Path) -> None:
    with VideoFileSource(h264_clip) as source:
        frames = list(source)
    assert len(frames) == 15
    assert frames[-1].pts_s > frames[0].pts_s


def test_recorded_at_sets_capture_times(mjpeg_clip: Path) -> None:
    start = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    with VideoFileSource(mjpeg_clip, recorded_at=start) as source:
        frames = list(source)
    assert frames[10].captured_at == start + timedelta(seconds=frames[10].pts_s)


def test_fps_cap_skips_frames_and_keeps_source_indices(mjpeg_clip: Path) -> None:
    with VideoFileSource(mjpeg_clip, fps_cap=2.5) as source:
        frames = list(source)
    assert [f.index for f in frames] == [0, 4, 8, 12, 16]


def test_truncated_file_ends_cleanly_with_a_warning(
    tmp_path: Path, mjpeg_clip: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = mjpeg_clip.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) * 6 // 10])
    with caplog.at_level(logging.WARNING), VideoFileSource(cut) as source:
        frames = list(source)
    assert 0 < len(frames) < 20
    assert any("ended early" in r.getMessage() for r in caplog.records)


def test_file_with_nothing_decodable_raises(tmp_path: Path, h264_clip: Path) -> None:
    # An MP4 keeps its index at the end: cut in half, nothing can be decoded.
    cut = tmp_path / "cut.mp4"
    data = h264_clip.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(SourceError), VideoFileSource(cut) as source:
        list(source)
    junk = tmp_path / "junk.avi"
    junk.write_bytes(b"not a video at all" * 10)
    with pytest.raises(SourceError), VideoFileSource(junk) as source:
        list(source)


def test_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not found"):
        list(VideoFileSource(tmp_path / "nope.mp4"))


def test_closed_source_refuses_to_iterate(mjpeg_clip: Path) -> None:
    source = VideoFileSource(mjpeg_clip)
    source.close()
    source.close()  # twice is fine
    with pytest.raises(SourceError, match="closed"):
        list(source)


def test_frame_rate_cap_grid() -> None:
    cap = FrameRateCap(10)
    kept = [i for i in range(30) if cap.keep(i / 30)]
    assert kept == list(range(0, 30, 3))
    with pytest.raises(InvalidInputError):
        FrameRateCap(0)
    uncapped = FrameRateCap(None)
    assert all(uncapped.keep(i / 30) for i in range(5))


def _write_folder(folder: Path, count: int) -> None:
    import cv2

    folder.mkdir()
    for i in range(count):
        image = np.full((30, 40, 3), (0, 0, 20 * i), np.uint8)  # BGR: red = 20 * i
        cv2.imwrite(str(folder / f"0.{i + 98}.png"), image)


def test_image_folder_in_natural_order(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    _write_folder(folder, 5)  # 0.98 .. 0.102: plain sorting would put 0.100 first
    (folder / "notes.txt").write_text("not an image")
    with ImageFolderSource(folder, fps=25) as source:
        frames = list(source)
    assert [int(f.image[0, 0, 0]) for f in frames] == [0, 20, 40, 60, 80]
    assert [f.pts_s for f in frames] == pytest.approx([0, 0.04, 0.08, 0.12, 0.16])
    assert frames[0].source_id == "frames"


def test_image_folder_skips_unreadable_files(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "frames"
    _write_folder(folder, 3)
    (folder / "0.99.png").write_bytes(b"broken")  # replaces the second frame
    with caplog.at_level(logging.WARNING):
        frames = list(ImageFolderSource(folder))
    assert [f.index for f in frames] == [0, 2]
    assert any("not a readable image" in r.getMessage() for r in caplog.records)


def test_image_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not found"):
        list(ImageFolderSource(tmp_path / "absent"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SourceError, match="no image files"):
        list(ImageFolderSource(empty))
    with pytest.raises(InvalidInputError):
        ImageFolderSource(empty, fps_cap=5)


def test_natural_key_orders_numbers_by_value() -> None:
    names = ["4.100.jpg", "4.99.jpg", "4.1000.jpg"]
    assert sorted(names, key=natural_key) == ["4.99.jpg", "4.100.jpg", "4.1000.jpg"]


def test_frames_keep_the_clip_size(tmp_path: Path, make_clip: Callable[..., Path]) -> None:
    clip = make_clip(tmp_path / "big.avi", size_wh=(80, 60), frames=3)
    with VideoFileSource(clip) as source:
        assert [f.resolution_wh for f in source] == [(80, 60)] * 3
