"""Multi-object tracking over boxes, and per-track identity votes.

:class:`BoxTracker` (ByteTrack-style) gives detections stable track ids across frames and
predicts boxes on frames where detection is skipped; :class:`IdentityVote` names a track only
when enough of its frames agree.
"""

from watchkeeper.tracking.base import UNTRACKED, Tracker
from watchkeeper.tracking.byte_tracker import BoxTracker, BoxTrackerSettings, TrackState
from watchkeeper.tracking.identity import (
    IdentitySupport,
    IdentityVote,
    IdentityVoteSettings,
    TrackIdentity,
)

__all__ = [
    "UNTRACKED",
    "BoxTracker",
    "BoxTrackerSettings",
    "IdentitySupport",
    "IdentityVote",
    "IdentityVoteSettings",
    "TrackIdentity",
    "TrackState",
    "Tracker",
]
