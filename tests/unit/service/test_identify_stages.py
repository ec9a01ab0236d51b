"""Identify in two stages (probe analysed first, governed search later) against the cached
watchlist index: the cache follows every enrolment, deletion, erasure and expiry, so a probe
analysed before a change is searched against the watchlist as it is after the change."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from tests.builders import Staff, make_staff, pattern_image

from watchkeeper.core import Decision
from watchkeeper.core.errors import ContractMismatchError, PermissionDeniedError
from watchkeeper.service.engine import Probe

ADA, GRACE, STRANGER = 1, 2, 99


@pytest.fixture
def staff(tmp_path: Path) -> Iterator[Staff]:
    site = make_staff(tmp_path / "home")
    yield site
    site.engine.close()


def _enrol(s: Staff, person: str, seed: int) -> None:
    result = s.engine.enrol(s.operator, person, pattern_image(seed), "staff", "consent", "HR")
    assert result.ok


def _search(s: Staff, probe: Probe) -> list[str]:
    """Names of the matched people (empty: nobody passed the threshold)."""
    result = s.engine.identify(s.investigator, probe, "staff", "door check")
    return [m.candidates[0].display_name for m in result.matches if m.decision is Decision.MATCH]


def test_a_probe_analysed_apart_is_found_like_a_photo(staff: Staff) -> None:
    _enrol(staff, "Ada", ADA)
    probe = staff.engine.analyse_probe(pattern_image(ADA))
    assert len(probe.crops) == len(probe.faces) == 1 and probe.crops[0]
    assert _search(staff, probe) == ["Ada"]
    direct = staff.engine.identify(staff.investigator, pattern_image(ADA), "staff", "door check")
    assert direct.matches[0].candidates[0].display_name == "Ada"


def test_someone_enrolled_after_the_index_was_built_is_found(staff: Staff) -> None:
    _enrol(staff, "Ada", ADA)
    assert _search(staff, staff.engine.analyse_probe(pattern_image(GRACE))) == []  # index built
    _enrol(staff, "Grace", GRACE)
    assert _search(staff, staff.engine.analyse_probe(pattern_image(GRACE))) == ["Grace"]


def test_a_deleted_person_is_not_found_by_a_probe_analysed_before_the_deletion(
    staff: Staff,
) -> None:
    _enrol(staff, "Ada", ADA)
    _enrol(staff, "Grace", GRACE)
    probe = staff.engine.analyse_probe(pattern_image(ADA))
    assert _search(staff, probe) == ["Ada"]  # the cached index now holds Ada
    staff.engine.delete_person(staff.operator, "Ada", "staff")
    assert _search(staff, probe) == []
    result = staff.engine.identify(staff.investigator, probe, "staff", "door check")
    assert all(c.display_name != "Ada" for c in result.matches[0].candidates)


def test_an_erased_person_is_not_found_by_a_probe_analysed_before_the_erasure(
    staff: Staff,
) -> None:
    _enrol(staff, "Ada", ADA)
    probe = staff.engine.analyse_probe(pattern_image(ADA))
    assert _search(staff, probe) == ["Ada"]
    staff.engine.erasure.erase_person(staff.admin, "Ada", "subject asked for erasure")
    assert _search(staff, probe) == []
    record = staff.engine.catalog.get("staff")
    assert staff.engine.catalog.indexed_template_ids(record.gallery_id) == frozenset()


def test_a_deleted_photo_is_not_matched_any_more(staff: Staff) -> None:
    _enrol(staff, "Ada", ADA)
    probe = staff.engine.analyse_probe(pattern_image(ADA))
    assert _search(staff, probe) == ["Ada"]
    [template] = staff.engine.templates_of(
        staff.operator, staff.engine.person(staff.operator, "Ada", "staff").identity_id
    )
    staff.engine.delete_template(staff.operator, template.template_id, "staff")
    assert _search(staff, probe) == []


def test_a_probe_analysed_while_the_watchlist_was_active_is_refused_after_expiry(
    staff: Staff,
) -> None:
    _enrol(staff, "Ada", ADA)
    probe = staff.engine.analyse_probe(pattern_image(ADA))
    assert _search(staff, probe) == ["Ada"]
    staff.clock.advance(days=31)
    with pytest.raises(PermissionDeniedError, match="expired"):
        _search(staff, probe)


def test_a_probe_from_another_embedding_contract_is_refused(staff: Staff) -> None:
    _enrol(staff, "Ada", ADA)
    probe = staff.engine.analyse_probe(pattern_image(ADA))
    forged = replace(
        probe,
        faces=probe.faces.with_columns(meta=replace(probe.faces.meta, contract_id="other@1")),
    )
    with pytest.raises(ContractMismatchError, match="another model"):
        _search(staff, forged)


def test_identify_leaves_one_search_record_per_call_and_a_candidate_per_match(
    staff: Staff,
) -> None:
    _enrol(staff, "Ada", ADA)
    before = staff.audit_actions()
    probe = staff.engine.analyse_probe(pattern_image(ADA))
    assert staff.audit_actions() == before  # analysing a probe is not a search
    _search(staff, probe)
    _search(staff, staff.engine.analyse_probe(pattern_image(STRANGER)))
    added = staff.audit_actions()[len(before) :]
    assert added.count("search.identify") == 2
    assert added.count("match.candidate") == 1
