"""Webcams (absent here) and building sources from camera settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from watchkeeper.config.cameras import CameraSettings
from watchkeeper.core.errors import InvalidInputError, SourceError
from watchkeeper.sources.factory import open_source
from watchkeeper.sources.files import ImageFolderSource, VideoFileSource
from watchkeeper.sources.stream import StreamSource
from watchkeeper.sources.webcam import WebcamSource

ABSENT_CAMERA = 63  # no test machine has 64 cameras


def test_absent_webcam_gives_a_clear_error() -> None:
    source = WebcamSource(ABSENT_CAMERA)
    with pytest.raises(SourceError, match=f"webcam {ABSENT_CAMERA} could not be opened"):
        source.open()
    with pytest.raises(SourceError), WebcamSource(ABSENT_CAMERA) as cam:
        list(cam)


def test_webcam_arguments_are_checked() -> None:
    with pytest.raises(InvalidInputError):
        WebcamSource(-1)
    with pytest.raises(InvalidInputError):
        WebcamSource(0, max_failed_reads=0)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("rtsp://10.0.0.5/live", StreamSource),
        ("rtsps://cam.example/live", StreamSource),
        ("http://10.0.0.5/video.mjpg", StreamSource),
        ("2", WebcamSource),
        ("footage/door.mp4", VideoFileSource),
    ],
)
def test_open_source_picks_the_kind(source: str, expected: type) -> None:
    built = open_source(CameraSettings(camera_id="cam", source=source))
    assert isinstance(built, expected)
    assert built.source_id == "cam"


def test_open_source_for_a_folder(tmp_path: Path) -> None:
    settings = CameraSettings(camera_id="stills", source=str(tmp_path), folder_fps=5, fps_cap=1)
    built = open_source(settings)
    assert isinstance(built, ImageFolderSource)
    assert built.nominal_fps == 5
