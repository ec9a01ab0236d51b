"""The package-top verbs: a governed session in a few lines, and no way around it."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.builders import mock_settings, pattern_image

import watchkeeper
from watchkeeper.core import Decision
from watchkeeper.core.errors import PermissionDeniedError


def test_home_use_in_a_few_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WATCHKEEPER_TOKEN", raising=False)
    settings = mock_settings(tmp_path / "wk")
    token = watchkeeper.init_home_use(settings=settings)
    with watchkeeper.open(token=token, settings=settings) as wk:
        change = wk.create_watchlist(
            "family", purpose="Greet family at the door", legal_basis="consent", days=365
        )
        assert change.applied  # home use: four-eyes is off, and the log says so
        wk.enrol("Ada", pattern_image(1), watchlist="family", basis="consent", source="own")
        wk.engine._threshold_override = 0.9  # the mock model has no calibration
        result = wk.identify(pattern_image(1), watchlist="family", purpose="front door")
        [match] = result.matches
        assert match.decision is Decision.MATCH
        [candidate] = wk.review_queue()
        assert wk.confirm(candidate.candidate_id).status.value == "confirmed"
        receipt = wk.erase("Ada", "moved out")
        assert receipt.templates == 1
    with pytest.raises(PermissionDeniedError, match="API token is needed"):
        watchkeeper.open(settings=settings)
    with pytest.raises(PermissionDeniedError):
        watchkeeper.open(token="wk_wrong", settings=settings)


@pytest.mark.parametrize("verb", ["enrol", "identify", "verify", "enrol_folder"])
def test_ungoverned_verbs_point_to_a_session(verb: str) -> None:
    with pytest.raises(AttributeError, match="needs a person and a purpose"):
        getattr(watchkeeper, verb)
