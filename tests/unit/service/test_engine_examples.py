"""Verifying against one stored photo and showing its face picture (mock backends)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from tests.builders import Staff, make_staff, pattern_image

from watchkeeper.core import Decision
from watchkeeper.core.errors import NotFoundError, PermissionDeniedError, PolicyViolationError


@pytest.fixture
def staff(tmp_path: Path) -> Iterator[Staff]:
    site = make_staff(tmp_path / "home")
    yield site
    site.engine.close()


def _template(s: Staff, person: str, seed: int) -> str:
    result = s.engine.enrol(s.operator, person, pattern_image(seed), "staff", "consent", "HR")
    assert result.template_id is not None
    return result.template_id


def test_verify_template_decides_by_the_threshold_per_face(staff: Staff) -> None:
    ada = _template(staff, "Ada", 1)
    same = staff.engine.verify_template(staff.investigator, pattern_image(1), ada, "staff", "door")
    other = staff.engine.verify_template(staff.investigator, pattern_image(2), ada, "staff", "door")
    (hit,) = same.results
    (miss,) = other.results
    assert hit.decision is Decision.MATCH and hit.similarity >= hit.threshold
    assert miss.decision is Decision.UNKNOWN and miss.similarity < miss.threshold
    assert hit.threshold == staff.engine.threshold()
    assert same.template_id == ada and len(same.faces) == 1
    # The similarity is the dot product with the stored template, as in 1:1 verify.
    pair = staff.engine.verify(staff.investigator, pattern_image(1), pattern_image(1), "door")
    assert hit.similarity == pytest.approx(pair.similarity, abs=1e-5)
    assert staff.audit_actions().count("search.verify") == 3


def test_verify_template_refusals(staff: Staff) -> None:
    ada = _template(staff, "Ada", 1)
    with pytest.raises(PermissionDeniedError):
        staff.engine.verify_template(staff.operator, pattern_image(1), ada, "staff", "door")
    with pytest.raises(NotFoundError, match="no photo"):
        staff.engine.verify_template(staff.investigator, pattern_image(1), "tpl_x", "staff", "d")
    with pytest.raises(PolicyViolationError):
        staff.engine.verify_template(
            staff.investigator, pattern_image(1), ada, "staff", "check their ethnicity"
        )


def test_template_image_is_the_small_crop_and_needs_gallery_view(staff: Staff) -> None:
    from io import BytesIO

    from PIL import Image

    ada = _template(staff, "Ada", 1)
    jpeg = staff.engine.template_image(staff.operator, ada, "staff")
    picture = np.asarray(Image.open(BytesIO(jpeg)))
    assert picture.ndim == 3 and max(picture.shape[:2]) <= 112
    assert staff.audit_actions()[-1] == "gallery.view"
    with pytest.raises(PermissionDeniedError):
        staff.engine.template_image(staff.auditor, ada, "staff")
    with pytest.raises(NotFoundError):
        staff.engine.template_image(staff.operator, "tpl_x", "staff")
