"""IdentityVote: a track is named only when enough weighted frames agree."""

from __future__ import annotations

import numpy as np
import pytest

from watchkeeper.core import Candidate, Decision, Faces, Match
from watchkeeper.core.errors import InvalidInputError
from watchkeeper.core.faces import QualityIssue
from watchkeeper.tracking.identity import IdentityVote, IdentityVoteSettings


def match(identity: str | None, similarity: float) -> Match:
    if identity is None:
        return Match(Decision.UNKNOWN, "staff", 0.5, (Candidate("x", "X", similarity, "t"),))
    return Match(Decision.MATCH, "staff", 0.5, (Candidate(identity, identity, similarity, "t"),))


def test_a_single_high_similarity_frame_is_not_enough() -> None:
    vote = IdentityVote(IdentityVoteSettings(min_frames=3))
    vote.observe(1, "ada", 0.99, box_size_px=120)
    result = vote.decide(1)
    assert result.decision is Decision.UNKNOWN
    assert result.identity_id is None
    assert result.support[0].identity_id == "ada"
    assert result.support[0].frames == 1


def test_agreeing_frames_name_the_track_with_support() -> None:
    vote = IdentityVote(IdentityVoteSettings(min_frames=3, min_share=0.6))
    for sim in (0.7, 0.8, 0.75, 0.72):
        vote.observe(4, "ada", sim, box_size_px=100)
    vote.observe(4, "bob", 0.9, box_size_px=100)
    result = vote.decide(4)
    assert result.decision is Decision.MATCH
    assert result.identity_id == "ada"
    assert result.frames == 5
    by_id = {s.identity_id: s for s in result.support}
    assert by_id["ada"].frames == 4
    assert by_id["ada"].share == pytest.approx(0.8)
    assert by_id["ada"].mean_similarity == pytest.approx(np.mean([0.7, 0.8, 0.75, 0.72]))
    assert by_id["bob"].share == pytest.approx(0.2)


def test_frames_without_a_match_dilute_the_share() -> None:
    vote = IdentityVote(IdentityVoteSettings(min_frames=3, min_share=0.6))
    for _ in range(3):
        vote.observe(2, "ada", 0.8, box_size_px=100)
    for _ in range(3):
        vote.observe(2, None, None, box_size_px=100)
    result = vote.decide(2)
    assert result.decision is Decision.UNKNOWN
    assert {s.identity_id for s in result.support} == {"ada", None}


def test_small_faces_weigh_less_than_large_ones() -> None:
    settings = IdentityVoteSettings(min_frames=2, min_share=0.6, min_weight=0.5)
    vote = IdentityVote(settings)
    for _ in range(3):
        vote.observe(3, "bob", 0.8, box_size_px=25)  # tiny: little weight each
    for _ in range(2):
        vote.observe(3, "ada", 0.8, box_size_px=100)
    result = vote.decide(3)
    assert result.identity_id == "ada"
    assert vote.frame_weight(25) < vote.frame_weight(100) == 1.0
    assert vote.frame_weight(100, quality=0.5) == pytest.approx(0.5)


def test_observe_faces_uses_track_ids_and_skips_rejected_rows() -> None:
    faces = Faces(
        xyxy=np.array([[0, 0, 100, 100], [200, 0, 300, 100], [0, 200, 100, 300]], np.float32),
        detector_score=np.ones(3, np.float32),
        track_id=np.array([1, 2, -1]),
        rejected=((), (QualityIssue.TOO_BLURRED,), ()),
    )
    vote = IdentityVote(IdentityVoteSettings(min_frames=2))
    for _ in range(2):
        vote.observe_faces(faces, [match("ada", 0.8), match("bob", 0.9), match("cy", 0.9)])
    assert vote.decide(1).identity_id == "ada"
    assert vote.track_ids == (1,)
    vote.forget(1)
    assert vote.decide(1).frames == 0


def test_observe_faces_needs_track_ids_and_aligned_matches() -> None:
    faces = Faces(xyxy=np.array([[0, 0, 10, 10]], np.float32), detector_score=[0.9])
    vote = IdentityVote()
    with pytest.raises(InvalidInputError):
        vote.observe_faces(faces, [match("ada", 0.8)])
    with pytest.raises(InvalidInputError):
        vote.observe_faces(faces.with_columns(track_id=np.array([1])), [])


def test_bad_settings_are_refused() -> None:
    with pytest.raises(InvalidInputError):
        IdentityVoteSettings(min_share=0)
    with pytest.raises(InvalidInputError):
        IdentityVoteSettings(min_size_px=90, full_weight_size_px=80)
