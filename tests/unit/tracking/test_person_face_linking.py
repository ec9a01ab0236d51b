"""Person-face linking: a person track carries its face track id, remembered over time."""

from __future__ import annotations

import numpy as np
import pytest

from watchkeeper.core import Faces, Objects
from watchkeeper.core.errors import InvalidInputError
from watchkeeper.tracking.base import UNTRACKED
from watchkeeper.tracking.linking import LinkSettings, PersonFaceLinker

LABELS = ("person", "car")


def people(*rows: tuple[int, float, float, float, float], cls: str = "person") -> Objects:
    if not rows:
        return Objects.empty(LABELS).with_columns(track_id=np.zeros(0, np.int64))
    return Objects(
        xyxy=np.array([r[1:] for r in rows], np.float32),
        confidence=np.full(len(rows), 0.9),
        class_id=np.full(len(rows), LABELS.index(cls)),
        labels=LABELS,
        track_id=np.array([r[0] for r in rows]),
    )


def faces(*rows: tuple[int, float, float, float, float]) -> Faces:
    return Faces(
        xyxy=np.array([r[1:] for r in rows], np.float32).reshape(-1, 4),
        detector_score=np.ones(len(rows)),
        track_id=np.array([r[0] for r in rows], np.int64),
    )


def test_face_in_the_head_area_links_and_survives_turning_away() -> None:
    linker = PersonFaceLinker()
    first = linker.update(people((1, 100, 100, 200, 400)), faces((7, 130, 110, 170, 160)))
    assert first.tolist() == [7]
    for _ in range(3):  # face no longer detected
        assert linker.update(people((1, 105, 100, 205, 400)), faces()).tolist() == [7]
    assert linker.face_track_of(1) == 7 and linker.person_track_of(7) == 1


def test_a_face_low_on_the_body_is_not_linked() -> None:
    linker = PersonFaceLinker()
    # e.g. a face printed on a bag or a child carried at waist height
    out = linker.update(people((1, 100, 100, 200, 400)), faces((7, 130, 300, 170, 350)))
    assert out.tolist() == [UNTRACKED]
    assert linker.face_track_of(1) is None


def test_two_people_side_by_side_get_their_own_faces() -> None:
    linker = PersonFaceLinker()
    ps = people((1, 100, 100, 220, 400), (2, 200, 100, 320, 400))
    # face 8 straddles the overlap a little but sits mostly in person 2's box
    fs = faces((7, 130, 110, 170, 160), (8, 230, 110, 280, 160))
    assert linker.update(ps, fs).tolist() == [7, 8]


def test_one_face_goes_to_one_person_even_when_boxes_nest() -> None:
    linker = PersonFaceLinker()
    ps = people((1, 100, 100, 300, 500), (2, 150, 100, 250, 400))
    out = linker.update(ps, faces((7, 180, 110, 220, 160)))
    assert sorted(out.tolist()) == [UNTRACKED, 7]


def test_a_face_that_moves_to_another_person_leaves_the_first() -> None:
    linker = PersonFaceLinker()
    linker.update(people((1, 100, 100, 200, 400)), faces((7, 130, 110, 170, 160)))
    out = linker.update(
        people((1, 100, 100, 200, 400), (2, 400, 100, 500, 400)), faces((7, 430, 110, 470, 160))
    )
    assert out.tolist() == [UNTRACKED, 7]
    assert linker.face_track_of(1) is None


def test_a_new_face_track_replaces_an_ended_one() -> None:
    linker = PersonFaceLinker()
    linker.update(people((1, 100, 100, 200, 400)), faces((7, 130, 110, 170, 160)))
    linker.forget_faces([7])
    assert linker.face_track_of(1) == 7  # still known until another face shows up
    out = linker.update(people((1, 100, 100, 200, 400)), faces((9, 130, 110, 170, 160)))
    assert out.tolist() == [9]


def test_ended_persons_are_forgotten_and_other_classes_ignored() -> None:
    linker = PersonFaceLinker()
    linker.update(people((1, 100, 100, 200, 400)), faces((7, 130, 110, 170, 160)))
    linker.forget_persons([1])
    assert linker.face_track_of(1) is None and linker.person_track_of(7) is None
    car = people((5, 100, 100, 200, 400), cls="car")
    assert linker.update(car, faces((7, 130, 110, 170, 160))).tolist() == [UNTRACKED]


def test_untracked_rows_take_no_part_and_untracked_inputs_are_refused() -> None:
    linker = PersonFaceLinker()
    out = linker.update(people((UNTRACKED, 100, 100, 200, 400)), faces((7, 130, 110, 170, 160)))
    assert out.tolist() == [UNTRACKED]
    bare = Faces(xyxy=np.array([[1, 1, 5, 5]], np.float32), detector_score=[1.0])
    with pytest.raises(InvalidInputError):
        linker.update(people((1, 0, 0, 10, 10)), bare)
    with pytest.raises(InvalidInputError):
        LinkSettings(upper_share=0)
