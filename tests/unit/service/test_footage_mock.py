"""Footage index, search and redaction rules on the mock backends (no weights)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from tests.builders import Staff, make_staff, pattern_image, save_png

from watchkeeper.core.errors import InvalidInputError, PermissionDeniedError


@pytest.fixture
def staff(tmp_path: Path) -> Iterator[Staff]:
    site = make_staff(tmp_path / "home")
    yield site
    site.engine.close()


def _clip(path: Path, seed: int, frames: int = 30) -> Path:
    """An MJPEG clip showing one pattern picture (the mock detector's 'face') throughout."""
    import av

    image = pattern_image(seed, size=96)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mjpeg", rate=10)
        stream.width, stream.height, stream.pix_fmt = 96, 96, "yuvj420p"
        for _ in range(frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture
def recordings(tmp_path: Path) -> Path:
    folder = tmp_path / "recordings"
    (folder / "day2").mkdir(parents=True)
    _clip(folder / "a.avi", 3)
    _clip(folder / "day2" / "b.avi", 4)
    whole = _clip(tmp_path / "whole.avi", 3, frames=60).read_bytes()
    (folder / "cut.avi").write_bytes(whole[: len(whole) // 2])  # a recording cut mid-write
    (folder / "notes.txt").write_text("not a video", encoding="utf-8")
    return folder


def test_index_makes_sightings_and_survives_a_truncated_recording(
    staff: Staff, recordings: Path
) -> None:
    results = {r.path: r for r in staff.engine.footage.index_folder(staff.operator, recordings)}
    assert set(results) == {"a.avi", "cut.avi", "day2/b.avi"}
    assert results["a.avi"].frames == 30 and results["a.avi"].sightings == 1
    assert 0 < results["cut.avi"].frames < 60 and results["cut.avi"].error is None
    cameras = {s.camera_id for s in staff.engine.video.sightings.recent()}
    assert cameras == {"footage:a.avi", "footage:cut.avi", "footage:day2/b.avi"}


def test_index_needs_the_camera_permission(staff: Staff, recordings: Path) -> None:
    with pytest.raises(PermissionDeniedError):
        staff.engine.footage.index_folder(staff.investigator, recordings)


def test_search_needs_an_approved_request_used_once(staff: Staff, recordings: Path) -> None:
    from watchkeeper.sources.files import VideoFileSource

    staff.engine.footage.index_folder(staff.operator, recordings)
    with VideoFileSource(recordings / "a.avi") as source:
        probe = next(iter(source)).image  # the face as the recording shows it
    footage = staff.engine.footage
    with pytest.raises(PermissionDeniedError, match="approved request"):
        footage.search(staff.investigator, probe, "case 12 theft")
    request_id = footage.request_search(staff.investigator, "case 12 theft, recordings of May 3")
    with pytest.raises(PermissionDeniedError):  # asked, not yet approved
        footage.search(staff.investigator, probe, "case 12 theft", request_id)
    staff.engine.watchlists.approve(staff.admin, request_id, "proportionate")
    found = footage.search(staff.investigator, probe, "case 12 theft", request_id)
    assert {h.recording for h in found.hits} == {"a.avi", "cut.avi"}
    assert found.hits[0].thumbnail_jpeg is not None
    with pytest.raises(PermissionDeniedError, match="used"):
        footage.search(staff.investigator, probe, "case 12 theft", request_id)
    assert staff.audit_actions().count("search.footage") >= 2  # refusals are recorded too


def test_operator_may_not_search_footage(staff: Staff) -> None:
    with pytest.raises(PermissionDeniedError):
        staff.engine.footage.search(staff.operator, pattern_image(3), "curious")


def test_redacted_clip_blurs_the_face_and_keeps_the_frame_count(
    staff: Staff, tmp_path: Path
) -> None:
    from watchkeeper.sources.files import VideoFileSource

    clip = _clip(tmp_path / "in.avi", 5, frames=12)
    out = tmp_path / "out.mp4"
    report = staff.engine.footage.redact(staff.investigator, clip, out, "court exhibit 4")
    assert report.frames == 12 and report.faces_kept == 0 and report.faces_blurred >= 12
    with VideoFileSource(out) as source:
        frames = [f.image for f in source]
    assert len(frames) == 12
    original = pattern_image(5, size=96).astype(np.float32)
    face = (slice(30, 66), slice(30, 66))  # inside the mock detector's box
    assert frames[6][face].astype(np.float32).std() < 0.5 * original[face].std()


def test_redaction_refuses_to_overwrite_and_needs_export(staff: Staff, tmp_path: Path) -> None:
    photo = save_png(pattern_image(1), tmp_path / "p.png")
    with pytest.raises(InvalidInputError, match="overwrite"):
        staff.engine.footage.redact(staff.investigator, photo, photo, "press copy")
    with pytest.raises(PermissionDeniedError):
        staff.engine.footage.redact(staff.operator, photo, tmp_path / "o.png", "press copy")
