"""Who is this track? A weighted vote over the track's frames, or "unknown".

Every frame where a tracked face was compared with a gallery adds one observation: the top
candidate's identity (or nobody, when no candidate passed the threshold) and its similarity,
weighted by how much that frame can be trusted: faces near ``full_weight_size_px`` count fully,
smaller faces less, and a quality score in [0, 1] scales the weight further. A track gets an
identity only when that identity has at least ``min_frames`` supporting frames and at least
``min_share`` of the track's total weight, so one lucky frame never names a person.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from watchkeeper.core import Decision, Faces, Match
from watchkeeper.core.errors import InvalidInputError
from watchkeeper.tracking.base import UNTRACKED


@dataclass(frozen=True, slots=True)
class IdentityVoteSettings:
    """When a track's votes are enough to name it."""

    min_frames: int = 3
    """Frames that must support the winning identity."""
    min_share: float = 0.6
    """Share of the track's total weight (frames with no match included) the winner needs."""
    min_weight: float = 1.0
    """Total weight the winner needs: several small or poor faces add up slowly."""
    full_weight_size_px: float = 80.0
    """Faces with a shorter side of at least this many pixels get full weight."""
    min_size_px: float = 20.0
    """Faces smaller than this add no weight at all."""

    def __post_init__(self) -> None:
        if self.min_frames < 1:
            raise InvalidInputError("min_frames must be at least 1")
        if not 0.0 < self.min_share <= 1.0:
            raise InvalidInputError("min_share must be in (0, 1]")
        if self.min_weight < 0:
            raise InvalidInputError("min_weight must be 0 or more")
        if not 0 <= self.min_size_px < self.full_weight_size_px:
            raise InvalidInputError("need 0 <= min_size_px < full_weight_size_px")


@dataclass(frozen=True, slots=True)
class IdentitySupport:
    """How much one candidate identity (or ``None``: no match) is backed within a track."""

    identity_id: str | None
    frames: int
    weight: float
    share: float
    mean_similarity: float | None


@dataclass(frozen=True, slots=True)
class TrackIdentity:
    """The vote's answer for one track; ``support`` is sorted by weight, strongest first."""

    track_id: int
    decision: Decision
    identity_id: str | None
    frames: int
    total_weight: float
    support: tuple[IdentitySupport, ...]


@dataclass(slots=True)
class _Tally:
    frames: int = 0
    weight: float = 0.0
    similarity_sum: float = 0.0
    similarity_frames: int = 0


@dataclass(slots=True)
class _TrackVotes:
    frames: int = 0
    total_weight: float = 0.0
    tallies: dict[str | None, _Tally] = field(default_factory=dict)


class IdentityVote:
    """Accumulates per-frame recognition answers per track and decides per track.

    >>> vote = IdentityVote(IdentityVoteSettings(min_frames=2))
    >>> vote.observe(7, "ada", 0.8, box_size_px=100)
    >>> vote.decide(7).identity_id is None
    True
    >>> vote.observe(7, "ada", 0.7, box_size_px=100)
    >>> vote.decide(7).identity_id
    'ada'
    """

    def __init__(self, settings: IdentityVoteSettings | None = None) -> None:
        self.settings = settings or IdentityVoteSettings()
        self._tracks: dict[int, _TrackVotes] = {}

    def frame_weight(self, box_size_px: float, quality: float | None = None) -> float:
        """Trust in one observation: a ramp on face size times quality (clipped to [0, 1])."""
        s = self.settings
        size = (box_size_px - s.min_size_px) / (s.full_weight_size_px - s.min_size_px)
        weight = float(np.clip(size, 0.0, 1.0))
        if quality is not None:
            weight *= float(np.clip(quality, 0.0, 1.0))
        return weight

    def observe(
        self,
        track_id: int,
        identity_id: str | None,
        similarity: float | None,
        *,
        box_size_px: float,
        quality: float | None = None,
    ) -> None:
        """Add one frame's answer for a track (``identity_id`` None: nobody matched)."""
        if track_id == UNTRACKED:
            return
        if similarity is not None and not np.isfinite(similarity):
            raise InvalidInputError("similarity must be finite")
        votes = self._tracks.setdefault(int(track_id), _TrackVotes())
        weight = self.frame_weight(box_size_px, quality)
        votes.frames += 1
        votes.total_weight += weight
        tally = votes.tallies.setdefault(identity_id, _Tally())
        tally.frames += 1
        tally.weight += weight
        if similarity is not None:
            tally.similarity_sum += float(similarity)
            tally.similarity_frames += 1

    def observe_faces(self, faces: Faces, matches: Sequence[Match]) -> None:
        """Add a frame's tracked faces and their recognition answers (row-aligned).

        Rows without a track, rejected by quality gates, or answered ``REJECTED`` add nothing.
        An ``UNKNOWN`` answer votes for nobody, which dilutes the share of every identity.
        """
        if len(matches) != len(faces):
            raise InvalidInputError("need one match per face")
        if faces.track_id is None:
            raise InvalidInputError("faces need track ids before an identity vote")
        accepted = faces.accepted
        sizes = faces.box_size_px
        for row, match in enumerate(matches):
            if not accepted[row] or match.decision is Decision.REJECTED:
                continue
            self.observe(
                int(faces.track_id[row]),
                match.identity_id,
                match.best_similarity if match.identity_id is not None else None,
                box_size_px=float(sizes[row]),
                quality=None if faces.quality is None else float(faces.quality[row]),
            )

    def decide(self, track_id: int) -> TrackIdentity:
        """The identity the track's frames agree on, or ``UNKNOWN`` with the support seen."""
        votes = self._tracks.get(int(track_id), _TrackVotes())
        total = votes.total_weight
        support = tuple(
            sorted(
                (
                    IdentitySupport(
                        identity_id=identity,
                        frames=t.frames,
                        weight=t.weight,
                        share=t.weight / total if total > 0 else 0.0,
                        mean_similarity=(
                            t.similarity_sum / t.similarity_frames if t.similarity_frames else None
                        ),
                    )
                    for identity, t in votes.tallies.items()
                ),
                key=lambda s: (-s.weight, -s.frames, s.identity_id or ""),
            )
        )
        s = self.settings
        winner = next((x for x in support if x.identity_id is not None), None)
        decided = (
            winner is not None
            and winner.frames >= s.min_frames
            and winner.weight >= s.min_weight
            and winner.share >= s.min_share
        )
        return TrackIdentity(
            track_id=int(track_id),
            decision=Decision.MATCH if decided else Decision.UNKNOWN,
            identity_id=winner.identity_id if decided and winner is not None else None,
            frames=votes.frames,
            total_weight=total,
            support=support,
        )

    def forget(self, track_id: int) -> None:
        """Drop a finished track's votes."""
        self._tracks.pop(int(track_id), None)

    @property
    def track_ids(self) -> tuple[int, ...]:
        """Tracks with at least one observation."""
        return tuple(self._tracks)
