"""Counting config: lines, zones and classes, with clear errors for malformed input."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from watchkeeper.config.cameras import CameraSettings
from watchkeeper.config.counting import CountingLine, CountingSettings, CountingZone, InSide
from watchkeeper.core.errors import ConfigError


def test_line_and_zone_specs_parse() -> None:
    line = CountingLine.from_spec(" 320,0,320,480:door ")
    assert (line.line_id, line.start, line.end, line.in_side) == (
        "door", (320.0, 0.0), (320.0, 480.0), InSide.RIGHT,
    )  # fmt: skip
    assert CountingLine.from_spec("0,1,2,3").line_id == "line"
    zone = CountingZone.from_spec("0,0;100,0;100,80;0,80:till:30")
    assert zone.zone_id == "till" and len(zone.polygon) == 4 and zone.loiter_after_s == 30.0
    assert CountingZone.from_spec("0,0;10,0;10,10").loiter_after_s is None


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("1,2,3", "4 numbers"),
        ("a,b,c,d", "numbers"),
        ("5,5,5,5:still", "zero length"),
        ("0,0,10,10:bad name!", "line_id"),
        ("0,0,nan,10", "finite"),
    ],
)
def test_malformed_lines_name_the_problem(spec: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        CountingLine.from_spec(spec)


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("0,0;10,0", "at least 3"),
        ("0,0;10;10,10", "each point is x,y"),
        ("0,0;10,0;10,10:z:soon", "loiter seconds"),
        ("0,0;10,0;10,10:z:-5", "greater than 0"),
    ],
)
def test_malformed_zones_name_the_problem(spec: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        CountingZone.from_spec(spec)


def test_classes_are_groups_or_coco_names() -> None:
    settings = CountingSettings(classes=("vehicle", "suitcase"))
    names = settings.class_names()
    assert {"car", "bus", "bicycle", "suitcase"} <= names and "person" not in names
    with pytest.raises(ValidationError, match="unknown classes"):
        CountingSettings(classes=("unicorn",))
    with pytest.raises(ValidationError):
        CountingSettings(classes=())


def test_repeated_names_and_unknown_keys_are_refused() -> None:
    door = CountingLine(line_id="door", start=(0, 0), end=(10, 0))
    with pytest.raises(ValidationError, match="unique"):
        CountingSettings(lines=(door, door))
    with pytest.raises(ValidationError, match="extra"):
        CountingSettings.model_validate({"lines": [], "colour": "red"})
    with pytest.raises(ValidationError):
        CountingSettings.model_validate({"lines": [{"line_id": "a", "start": [0, 0]}]})


def test_a_camera_carries_counting_settings_from_plain_data() -> None:
    camera = CameraSettings.model_validate(
        {
            "camera_id": "gate",
            "source": "rtsp://10.0.0.2/live",
            "counting": {
                "lines": [{"line_id": "road", "start": [0, 240], "end": [640, 240]}],
                "zones": [{"zone_id": "yard", "polygon": [[0, 0], [100, 0], [100, 100]]}],
                "classes": ["vehicle"],
            },
        }
    )
    assert camera.counting is not None and camera.counting.lines[0].line_id == "road"
    schema = CameraSettings.model_json_schema()
    assert "counting" in schema["properties"]
    assert CameraSettings(camera_id="x", source="a.mp4").counting is None


@pytest.mark.parametrize(
    "spec",
    ["320,0,320,480:door:right", "0,12.5,640.25,12.5:road:left", "-5,0,5,0.1:edge:right"],
)
def test_a_line_written_as_a_spec_reads_back_the_same(spec: str) -> None:
    line = CountingLine.from_spec(spec)
    assert line.to_spec() == spec
    assert CountingLine.from_spec(line.to_spec()) == line


def test_a_line_spec_may_name_its_in_side_and_refuses_others() -> None:
    assert CountingLine.from_spec("0,0,10,0:door").in_side is InSide.RIGHT
    assert CountingLine.from_spec("0,0,10,0:door:LEFT").in_side is InSide.LEFT
    with pytest.raises(ConfigError, match="in_side"):
        CountingLine.from_spec("0,0,10,0:door:up")


@pytest.mark.parametrize("spec", ["0,0;100,0;100,80:till:30", "0,0;1.5,0;1.5,2.25;0,2:z"])
def test_a_zone_written_as_a_spec_reads_back_the_same(spec: str) -> None:
    zone = CountingZone.from_spec(spec)
    assert zone.to_spec() == spec
    assert CountingZone.from_spec(zone.to_spec()) == zone
