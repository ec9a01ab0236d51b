"""The engine's recognition rules on the deterministic mock backends (no weights needed)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from tests.builders import Staff, make_staff, mock_settings, pattern_image, save_png

from watchkeeper.core import Decision, Match
from watchkeeper.core.errors import (
    ContractMismatchError,
    InvalidInputError,
    MultipleFacesError,
    NoFaceError,
    NotFoundError,
)
from watchkeeper.service.engine import Engine, EnrolResult


@pytest.fixture
def staff(tmp_path: Path) -> Iterator[Staff]:
    site = make_staff(tmp_path / "home")
    yield site
    site.engine.close()


def _enrol(s: Staff, person: str, seed: int, face_index: int | None = None) -> EnrolResult:
    image = pattern_image(seed)
    return s.engine.enrol(s.operator, person, image, "staff", "consent", "HR", face_index)


def _identify(s: Staff, seed: int, watchlist: str = "staff") -> tuple[Match, ...]:
    return s.engine.identify(s.investigator, pattern_image(seed), watchlist, "door check").matches


def test_enrol_then_identify_finds_the_person_and_reports_the_threshold(staff: Staff) -> None:
    _enrol(staff, "Ada", 1)
    _enrol(staff, "Grace", 2)
    [match] = _identify(staff, 1)
    assert match.decision is Decision.MATCH
    assert match.candidates[0].display_name == "Ada"
    assert match.threshold == 0.9
    assert match.gallery == "staff"


def test_stranger_is_unknown_even_though_there_is_a_best_candidate(staff: Staff) -> None:
    _enrol(staff, "Ada", 1)
    [match] = _identify(staff, 99)
    assert match.decision is Decision.UNKNOWN
    assert match.identity_id is None
    assert match.candidates and match.candidates[0].similarity < 0.9


def test_watchlist_must_exist_for_identify(staff: Staff) -> None:
    with pytest.raises(NotFoundError, match="no gallery"):
        _identify(staff, 1, watchlist="nobody-here")


def test_duplicate_photo_is_not_stored_twice(staff: Staff) -> None:
    first = _enrol(staff, "Ada", 1)
    second = _enrol(staff, "Ada", 1)
    assert not first.duplicate and second.duplicate
    assert staff.engine.person(staff.operator, "Ada", "staff").template_count == 1


def test_image_without_a_face_is_refused(staff: Staff) -> None:
    blank = np.full((64, 64, 3), 7, np.uint8)
    with pytest.raises(NoFaceError):
        staff.engine.enrol(staff.operator, "Ada", blank, "staff", "consent", "HR")


def test_several_faces_need_a_choice(staff: Staff, monkeypatch: pytest.MonkeyPatch) -> None:
    from watchkeeper.core import Faces

    # Patched on the class: the engine's use-cases borrow analyzers from its pool, each with
    # its own detector instance.
    detector_type = type(staff.engine.analyzer.detector)
    real = detector_type.detect

    def two_faces(self: object, image: np.ndarray) -> Faces:
        one = real(self, image)
        return Faces.concatenate([one, one.with_columns(xyxy=one.xyxy * 0.5)])

    monkeypatch.setattr(detector_type, "detect", two_faces)
    with pytest.raises(MultipleFacesError, match="choose one"):
        _enrol(staff, "Ada", 1)
    result = _enrol(staff, "Ada", 1, face_index=1)
    assert result.ok and result.template_id is not None
    with pytest.raises(InvalidInputError, match="face 5"):
        _enrol(staff, "Ada", 1, face_index=5)


def test_deleting_a_person_makes_them_unfindable(staff: Staff) -> None:
    _enrol(staff, "Ada", 1)
    _enrol(staff, "Ada", 3)
    _enrol(staff, "Grace", 2)
    _identify(staff, 2)  # the index is built and cached before the deletion
    assert staff.engine.delete_person(staff.operator, "Ada", "staff") == 2
    [match] = _identify(staff, 1)
    assert all(c.display_name != "Ada" for c in match.candidates)
    assert match.decision is Decision.UNKNOWN


def test_deleting_one_template_keeps_the_others(staff: Staff) -> None:
    _enrol(staff, "Ada", 1)
    second = _enrol(staff, "Ada", 3)
    assert second.template_id is not None
    staff.engine.delete_template(staff.operator, second.template_id, "staff")
    assert staff.engine.person(staff.operator, "Ada", "staff").template_count == 1
    [match] = _identify(staff, 3)
    assert match.decision is Decision.UNKNOWN


def test_watchlist_survives_a_restart(tmp_path: Path) -> None:
    home = tmp_path / "home"
    staff = make_staff(home)
    _enrol(staff, "Ada", 1)
    staff.engine.close()
    with Engine(mock_settings(home), threshold=0.9, clock=staff.clock) as again:
        [match] = again.identify(staff.investigator, pattern_image(1), "staff", "door").matches
        assert match.decision is Decision.MATCH


def test_verify_same_and_different(staff: Staff) -> None:
    engine, me = staff.engine, staff.investigator
    assert engine.verify(me, pattern_image(1), pattern_image(1), "check").decision is Decision.MATCH
    different = engine.verify(me, pattern_image(1), pattern_image(2), "check")
    assert different.decision is Decision.UNKNOWN
    assert different.threshold == 0.9


def test_watchlist_made_by_another_model_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    staff = make_staff(home)
    _enrol(staff, "Ada", 1)
    staff.engine.store.conn.execute("UPDATE galleries SET contract_id = 'other-model@123'")
    staff.engine.close()
    again = Engine(mock_settings(home), threshold=0.9, clock=staff.clock)
    with again as e, pytest.raises(ContractMismatchError):
        e.identify(staff.investigator, pattern_image(1), "staff", "door check")


def test_enrol_folder_tree_uses_folder_names(staff: Staff, tmp_path: Path) -> None:
    tree = tmp_path / "people"
    for i, name in enumerate(["Ada_Lovelace", "Grace_Hopper"]):
        (tree / name).mkdir(parents=True)
        save_png(pattern_image(10 + i), tree / name / "1.png")
    (tree / "Grace_Hopper" / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    engine = staff.engine
    results = engine.enrol_many(
        staff.operator, engine.folder_items(tree), "staff", "consent", "HR photos"
    )
    assert sorted(r.person for r in results if r.ok) == ["Ada Lovelace", "Grace Hopper"]
    [bad] = [r for r in results if not r.ok]
    assert "broken.jpg" in bad.source and bad.error is not None
    people = engine.people(staff.operator, "staff")
    assert {p.display_name for p in people} == {"Ada Lovelace", "Grace Hopper"}
    assert {p.basis for p in people} == {"consent"} and {p.source for p in people} == {"HR photos"}
    assert {p.enrolled_by for p in people} == {"olga"}


def test_empty_or_missing_folder_is_a_clear_error(staff: Staff, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="not a folder"):
        staff.engine.folder_items(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInputError, match="no images"):
        staff.engine.folder_items(tmp_path / "empty")


@pytest.mark.parametrize("name", ["", "   ", "a" * 201, "bad\x00name"])
def test_bad_names_are_refused(staff: Staff, name: str) -> None:
    with pytest.raises(InvalidInputError):
        _enrol(staff, name, 1)
