"""Enrol, verify and verify-against-a-photo in two stages, like identify: a photo analysed apart
(a Probe) gives the same answer as the photo itself, a probe from another embedding contract is
refused, and a caller without the right is refused before any photo is analysed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from tests.builders import Staff, make_staff, pattern_image

from watchkeeper.core import Decision, Faces, Frame
from watchkeeper.core.errors import ContractMismatchError, PermissionDeniedError
from watchkeeper.service.engine import Probe

ADA, GRACE = 1, 2


@pytest.fixture
def staff(tmp_path: Path) -> Iterator[Staff]:
    site = make_staff(tmp_path / "home")
    yield site
    site.engine.close()


@pytest.fixture
def analyses(staff: Staff, monkeypatch: pytest.MonkeyPatch) -> list[Frame]:
    """Every photo the engine analyses from now on (the frames, in order)."""
    seen: list[Frame] = []
    analyse = staff.engine._analyze

    def counted(frame: Frame, with_embeddings: bool = True) -> Faces:
        seen.append(frame)
        return analyse(frame, with_embeddings)

    monkeypatch.setattr(staff.engine, "_analyze", counted)
    return seen


def _forged(probe: Probe) -> Probe:
    """The same probe, claiming its templates came from another model."""
    meta = replace(probe.faces.meta, contract_id="other-model@1")
    return replace(probe, faces=probe.faces.with_columns(meta=meta))


def test_enrolling_a_probe_stores_what_enrolling_the_photo_stores(staff: Staff) -> None:
    e = staff.engine
    probe = e.analyse_probe(pattern_image(ADA))
    first = e.enrol(staff.operator, "Ada", probe, "staff", "consent", "HR")
    assert first.ok and first.template_id is not None and not first.duplicate
    # The same photo given as an image is the same template: a duplicate of the probe's.
    again = e.enrol(staff.operator, "Ada", pattern_image(ADA), "staff", "consent", "HR")
    assert again.duplicate and again.identity_id == first.identity_id
    crop = e.template_image(staff.operator, first.template_id, "staff")
    assert crop[:2] == b"\xff\xd8"  # the probe's face crop was kept with the template


def test_a_probe_made_without_crops_still_enrols_with_a_face_picture(staff: Staff) -> None:
    probe = staff.engine.analyse_probe(pattern_image(GRACE), crops=False)
    assert probe.crops == (None,) * len(probe.faces)
    result = staff.engine.enrol(staff.operator, "Grace", probe, "staff", "consent", "HR")
    assert result.template_id is not None
    crop = staff.engine.template_image(staff.operator, result.template_id, "staff")
    assert crop[:2] == b"\xff\xd8"


@pytest.mark.parametrize(
    ("seed_a", "seed_b", "decision"), [(ADA, ADA, Decision.MATCH), (ADA, GRACE, Decision.UNKNOWN)]
)
def test_verifying_probes_answers_as_verifying_the_photos(
    staff: Staff, seed_a: int, seed_b: int, decision: Decision
) -> None:
    e = staff.engine
    direct = e.verify(staff.investigator, pattern_image(seed_a), pattern_image(seed_b), "badge")
    a = e.analyse_probe(pattern_image(seed_a), crops=False)
    b = e.analyse_probe(pattern_image(seed_b), crops=False)
    staged = e.verify(staff.investigator, a, b, "badge")
    assert staged.decision is direct.decision is decision
    assert staged.similarity == pytest.approx(direct.similarity, abs=1e-6)
    assert staged.threshold == direct.threshold


def test_verifying_a_probe_against_a_stored_photo_answers_as_the_photo(staff: Staff) -> None:
    e = staff.engine
    enrolled = e.enrol(staff.operator, "Ada", pattern_image(ADA), "staff", "consent", "HR")
    assert enrolled.template_id is not None
    for seed, decision in ((ADA, Decision.MATCH), (GRACE, Decision.UNKNOWN)):
        direct = e.verify_template(
            staff.investigator, pattern_image(seed), enrolled.template_id, "staff", "badge"
        )
        probe = e.analyse_probe(pattern_image(seed), crops=False)
        staged = e.verify_template(
            staff.investigator, probe, enrolled.template_id, "staff", "badge"
        )
        assert [r.decision for r in staged.results] == [decision]
        assert [r.decision for r in direct.results] == [decision]
        np.testing.assert_allclose(
            [r.similarity for r in staged.results], [r.similarity for r in direct.results]
        )
        assert staged.identity_id == direct.identity_id == enrolled.identity_id


def test_a_probe_from_another_contract_is_refused_everywhere_and_changes_nothing(
    staff: Staff,
) -> None:
    e = staff.engine
    enrolled = e.enrol(staff.operator, "Ada", pattern_image(ADA), "staff", "consent", "HR")
    assert enrolled.template_id is not None
    forged = _forged(e.analyse_probe(pattern_image(GRACE)))
    honest = e.analyse_probe(pattern_image(GRACE))
    before = staff.audit_actions()
    calls: list[Callable[[], object]] = [
        lambda: e.enrol(staff.operator, "Grace", forged, "staff", "consent", "HR"),
        lambda: e.verify(staff.investigator, forged, honest, "badge"),
        lambda: e.verify(staff.investigator, honest, forged, "badge"),
        lambda: e.verify_template(
            staff.investigator, forged, enrolled.template_id or "", "staff", "badge"
        ),
        lambda: e.identify(staff.investigator, forged, "staff", "door check"),
    ]
    for call in calls:
        with pytest.raises(ContractMismatchError, match="another model"):
            call()
    assert staff.audit_actions() == before  # nothing done, so nothing recorded
    record = e.catalog.get("staff")
    assert e.store.find_identity(record.gallery_id, "Grace") is None


def test_a_refused_caller_costs_no_analysis_and_the_refusal_is_audited(
    staff: Staff, analyses: list[Frame]
) -> None:
    e = staff.engine
    auditor = staff.auditor  # may read the audit log, may not enrol, verify or search
    photo = pattern_image(ADA)
    calls: list[Callable[[], object]] = [
        lambda: e.enrol(auditor, "Ada", photo, "staff", "consent", "HR"),
        lambda: e.verify(auditor, photo, photo, "badge"),
        lambda: e.verify_template(auditor, photo, "t-1", "staff", "badge"),
        lambda: e.identify(auditor, photo, "staff", "door check"),
    ]
    for call in calls:
        with pytest.raises(PermissionDeniedError):
            call()
    assert analyses == []
    refused = e.store.conn.execute(
        "SELECT COUNT(*) FROM audit_log WHERE actor = ? AND outcome != 'success'",
        (auditor.username,),
    ).fetchone()[0]
    assert refused == len(calls)


def test_each_use_case_analyses_each_photo_once(staff: Staff, analyses: list[Frame]) -> None:
    e = staff.engine
    result = e.enrol(staff.operator, "Ada", pattern_image(ADA), "staff", "consent", "HR")
    assert len(analyses) == 1 and result.template_id is not None
    e.verify(staff.investigator, pattern_image(ADA), pattern_image(GRACE), "badge")
    assert len(analyses) == 3
    e.verify_template(staff.investigator, pattern_image(ADA), result.template_id, "staff", "b")
    assert len(analyses) == 4
    probe = e.analyse_probe(pattern_image(ADA))
    assert len(analyses) == 5
    e.enrol(staff.operator, "Ada", probe, "staff", "consent", "HR")
    e.verify(staff.investigator, probe, probe, "badge")
    e.verify_template(staff.investigator, probe, result.template_id, "staff", "badge")
    assert len(analyses) == 5  # a probe is never analysed again


def test_enrolling_a_probe_leaves_one_enrol_record(staff: Staff) -> None:
    before = staff.audit_actions()
    probe = staff.engine.analyse_probe(pattern_image(ADA))
    assert staff.audit_actions() == before  # analysing a photo is not an enrolment
    staff.engine.enrol(staff.operator, "Ada", probe, "staff", "consent", "HR")
    assert staff.audit_actions()[len(before) :] == ["gallery.enrol"]
