"""CameraSettings: strict, documented, and checks its regions."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from watchkeeper.config.cameras import CameraSettings, ReconnectSettings, SourceKind


def test_every_field_has_a_title_and_description() -> None:
    for model in (CameraSettings, ReconnectSettings):
        for name, info in model.model_fields.items():
            assert info.title, f"{model.__name__}.{name} has no title"
            assert info.description, f"{model.__name__}.{name} has no description"


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError):
        CameraSettings(camera_id="a", source="x.mp4", fps=5)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "bad",
    [
        {"roi_xyxy": (10, 10, 5, 20)},
        {"roi_polygon": ((0, 0), (1, 1))},
        {"roi_xyxy": (0, 0, 5, 5), "roi_polygon": ((0, 0), (5, 0), (5, 5))},
        {"privacy_masks": (((0, 0), (1, 1)),)},
        {"detection_interval": 0},
        {"fps_cap": 0},
        {"camera_id": "has space"},
    ],
)
def test_bad_values_are_refused(bad: dict[str, object]) -> None:
    fields: dict[str, object] = {"camera_id": "a", "source": "x.mp4", **bad}
    with pytest.raises(ValidationError):
        CameraSettings.model_validate(fields)


def test_kind_is_guessed_from_the_source() -> None:
    def kind(source: str) -> SourceKind:
        return CameraSettings(camera_id="a", source=source).resolved_kind

    assert kind("rtsp://x/y") is SourceKind.STREAM
    assert kind("0") is SourceKind.WEBCAM
    assert kind("clip.mp4") is SourceKind.FILE
    assert kind("frames/") is SourceKind.FOLDER
    explicit = CameraSettings(camera_id="a", source="0", kind=SourceKind.FILE)
    assert explicit.resolved_kind is SourceKind.FILE
