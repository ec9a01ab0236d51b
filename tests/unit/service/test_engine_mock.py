"""The engine's rules on the deterministic mock backends (no weights needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.builders import mock_settings, pattern_image, save_png

from watchkeeper.core import Decision
from watchkeeper.core.errors import (
    ContractMismatchError,
    InvalidInputError,
    MultipleFacesError,
    NoFaceError,
    NotFoundError,
)
from watchkeeper.service.engine import Engine


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    with Engine(mock_settings(tmp_path / "home"), threshold=0.9) as e:
        yield e


def test_enrol_then_identify_finds_the_person_and_reports_the_threshold(engine: Engine) -> None:
    engine.enrol("Ada", pattern_image(1))
    engine.enrol("Grace", pattern_image(2))
    result = engine.identify(pattern_image(1))
    [match] = result.matches
    assert match.decision is Decision.MATCH
    assert match.candidates[0].display_name == "Ada"
    assert match.threshold == 0.9
    assert match.gallery == "default"


def test_stranger_is_unknown_even_though_there_is_a_best_candidate(engine: Engine) -> None:
    engine.enrol("Ada", pattern_image(1))
    [match] = engine.identify(pattern_image(99)).matches
    assert match.decision is Decision.UNKNOWN
    assert match.identity_id is None
    assert match.candidates and match.candidates[0].similarity < 0.9


def test_gallery_must_exist_for_identify(engine: Engine) -> None:
    with pytest.raises(NotFoundError, match="no gallery"):
        engine.identify(pattern_image(1), gallery="nobody-here")


def test_duplicate_photo_is_not_stored_twice(engine: Engine) -> None:
    first = engine.enrol("Ada", pattern_image(1))
    second = engine.enrol("Ada", pattern_image(1))
    assert not first.duplicate and second.duplicate
    assert engine.person("Ada").template_count == 1


def test_image_without_a_face_is_refused(engine: Engine) -> None:
    blank = np.full((64, 64, 3), 7, np.uint8)
    with pytest.raises(NoFaceError):
        engine.enrol("Ada", blank)


def test_several_faces_need_a_choice(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from watchkeeper.core import Faces

    analyzer = engine.analyzer
    real = analyzer.detector.detect

    def two_faces(image: np.ndarray) -> Faces:
        one = real(image)
        return Faces.concatenate([one, one.with_columns(xyxy=one.xyxy * 0.5)])

    monkeypatch.setattr(analyzer.detector, "detect", two_faces)
    with pytest.raises(MultipleFacesError, match="choose one"):
        engine.enrol("Ada", pattern_image(1))
    result = engine.enrol("Ada", pattern_image(1), face_index=1)
    assert result.ok and result.template_id is not None
    with pytest.raises(InvalidInputError, match="face 5"):
        engine.enrol("Ada", pattern_image(1), face_index=5)


def test_deleting_a_person_makes_them_unfindable(engine: Engine) -> None:
    engine.enrol("Ada", pattern_image(1))
    engine.enrol("Ada", pattern_image(3))
    engine.enrol("Grace", pattern_image(2))
    assert engine.delete_person("Ada") == 2
    [match] = engine.identify(pattern_image(1)).matches
    assert all(c.display_name != "Ada" for c in match.candidates)
    assert match.decision is Decision.UNKNOWN


def test_deleting_one_template_keeps_the_others(engine: Engine) -> None:
    engine.enrol("Ada", pattern_image(1))
    second = engine.enrol("Ada", pattern_image(3))
    assert second.template_id is not None
    engine.delete_template(second.template_id)
    assert engine.person("Ada").template_count == 1
    [match] = engine.identify(pattern_image(3)).matches
    assert match.decision is Decision.UNKNOWN


def test_gallery_survives_a_restart(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with Engine(mock_settings(home), threshold=0.9) as first:
        first.enrol("Ada", pattern_image(1))
    with Engine(mock_settings(home), threshold=0.9) as second:
        [match] = second.identify(pattern_image(1)).matches
        assert match.decision is Decision.MATCH


def test_verify_same_and_different(engine: Engine) -> None:
    assert engine.verify(pattern_image(1), pattern_image(1)).decision is Decision.MATCH
    different = engine.verify(pattern_image(1), pattern_image(2))
    assert different.decision is Decision.UNKNOWN
    assert different.threshold == 0.9


def test_gallery_made_by_another_model_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with Engine(mock_settings(home), threshold=0.9) as e:
        e.enrol("Ada", pattern_image(1))
        e.store.conn.execute("UPDATE galleries SET contract_id = 'other-model@123'")
    with Engine(mock_settings(home), threshold=0.9) as e, pytest.raises(ContractMismatchError):
        e.identify(pattern_image(1))


def test_enrol_folder_tree_uses_folder_names(engine: Engine, tmp_path: Path) -> None:
    tree = tmp_path / "people"
    for i, name in enumerate(["Ada_Lovelace", "Grace_Hopper"]):
        (tree / name).mkdir(parents=True)
        save_png(pattern_image(10 + i), tree / name / "1.png")
    (tree / "Grace_Hopper" / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    results = engine.enrol_many(engine.folder_items(tree))
    assert sorted(r.person for r in results if r.ok) == ["Ada Lovelace", "Grace Hopper"]
    [bad] = [r for r in results if not r.ok]
    assert "broken.jpg" in bad.source and bad.error is not None
    assert {p.display_name for p in engine.people()} == {"Ada Lovelace", "Grace Hopper"}


def test_empty_or_missing_folder_is_a_clear_error(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="not a folder"):
        engine.folder_items(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInputError, match="no images"):
        engine.folder_items(tmp_path / "empty")


@pytest.mark.parametrize("name", ["", "   ", "a" * 201, "bad\x00name"])
def test_bad_names_are_refused(engine: Engine, name: str) -> None:
    with pytest.raises(InvalidInputError):
        engine.enrol(name, pattern_image(1))
