"""The Objects columnar type: validation, indexing, concatenation, class groups."""

from __future__ import annotations

import numpy as np
import pytest

from watchkeeper.core import COCO_CLASS_NAMES, ClassGroup, Objects, class_group
from watchkeeper.core.errors import InvalidInputError
from watchkeeper.core.objects import class_names_in

LABELS = ("person", "car", "dog", "toaster")


def make_objects(n: int = 3, track: bool = False) -> Objects:
    xyxy = np.array([[i * 10, 0, i * 10 + 5, 8] for i in range(n)], np.float32)
    return Objects(
        xyxy=xyxy,
        confidence=np.linspace(0.9, 0.5, n),
        class_id=np.arange(n) % len(LABELS),
        labels=LABELS,
        track_id=np.arange(100, 100 + n) if track else None,
    )


def test_columns_are_normalised_and_named() -> None:
    o = make_objects(3)
    assert o.xyxy.dtype == np.float32 and o.confidence.dtype == np.float32
    assert o.class_id.dtype == np.int64
    assert o.class_name == ("person", "car", "dog")
    assert o.class_group == (ClassGroup.PERSON, ClassGroup.VEHICLE, ClassGroup.ANIMAL)
    assert o.area_px.tolist() == [40.0, 40.0, 40.0]


@pytest.mark.parametrize(
    ("xyxy", "confidence", "class_id", "message"),
    [
        (np.zeros((1, 3)), [0.5], [0], "must be \\(n, 4\\)"),
        ([[0, 0, 1, 1]], [0.5, 0.4], [0], "confidence must have 1"),
        ([[0, 0, 1, 1]], [0.5], [4], "class_id must lie"),
        ([[0, 0, 1, 1]], [0.5], [-1], "class_id must lie"),
        ([[0, 0, 1, 1]], [0.5], [0.5], "integers"),
        ([[5, 0, 1, 1]], [0.5], [0], "x1 <= x2"),
        ([[0, np.nan, 1, 1]], [0.5], [0], "NaN"),
        ([[0, 0, 1, 1]], [np.inf], [0], "NaN or infinite"),
    ],
)
def test_bad_columns_raise(
    xyxy: object, confidence: object, class_id: object, message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        Objects(xyxy=xyxy, confidence=confidence, class_id=class_id, labels=LABELS)  # type: ignore[arg-type]


def test_labels_and_track_ids_are_checked() -> None:
    with pytest.raises(InvalidInputError, match="labels"):
        Objects(np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64), labels=())
    with pytest.raises(InvalidInputError, match="track_id"):
        make_objects(2).with_columns(track_id=np.array([1, 2, 3]))


def test_indexing_returns_new_objects() -> None:
    o = make_objects(4, track=True)
    assert o[1].class_name == ("car",) and o[-1].track_id.tolist() == [103]  # type: ignore[union-attr]
    assert len(o[1:3]) == 2 and o[1:3].labels == LABELS
    picked = o[np.array([True, False, True, False])]
    assert picked.track_id.tolist() == [100, 102]  # type: ignore[union-attr]
    assert o[[3, 0]].class_name == ("toaster", "person")
    with pytest.raises(IndexError):
        o[4]
    with pytest.raises(InvalidInputError):
        o[np.array([True, False])]
    assert len(o) == 4  # the original is untouched


def test_empty_and_concatenate() -> None:
    empty = Objects.empty(LABELS)
    assert len(empty) == 0 and empty.xyxy.shape == (0, 4)
    both = Objects.concatenate([make_objects(2), empty, make_objects(3)])
    assert len(both) == 5 and both.track_id is None
    with pytest.raises(InvalidInputError, match="only some"):
        Objects.concatenate([make_objects(2, track=True), make_objects(1)])
    other = Objects(np.zeros((1, 4)), [0.5], [0], labels=("cat",))
    with pytest.raises(InvalidInputError, match="label sets"):
        Objects.concatenate([make_objects(1), other])
    with pytest.raises(InvalidInputError):
        Objects.concatenate([])


def test_of_classes_rejects_unknown_names() -> None:
    o = make_objects(4)
    assert o.of_classes({"dog", "car"}).tolist() == [False, True, True, False]
    with pytest.raises(InvalidInputError, match="unknown class"):
        o.of_classes({"dgo"})


def test_class_groups_cover_the_brief() -> None:
    assert class_group("person") is ClassGroup.PERSON
    assert {n for n in COCO_CLASS_NAMES if class_group(n) is ClassGroup.VEHICLE} == {
        "car", "truck", "bus", "motorcycle", "bicycle"
    }  # fmt: skip
    assert len(class_names_in([ClassGroup.ANIMAL])) == 10
    assert class_group("teddy bear") is ClassGroup.OTHER
    with pytest.raises(InvalidInputError):
        class_names_in(["other"])
    assert len(COCO_CLASS_NAMES) == 80 and len(set(COCO_CLASS_NAMES)) == 80
