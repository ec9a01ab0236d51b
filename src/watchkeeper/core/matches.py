"""Recognition answers, row-aligned with the probe ``Faces``."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Decision(StrEnum):
    """A match is a candidate for a person to confirm, never a verdict."""

    MATCH = "match"
    UNKNOWN = "unknown"
    REJECTED = "rejected_by_quality"


@dataclass(frozen=True, slots=True)
class Candidate:
    """One ranked gallery identity for a probe face."""

    identity_id: str
    display_name: str
    similarity: float
    template_id: str


@dataclass(frozen=True, slots=True)
class Match:
    """The answer for one probe face: the best candidate if it passes, else unknown."""

    decision: Decision
    gallery: str
    threshold: float
    candidates: tuple[Candidate, ...] = ()
    reasons: tuple[str, ...] = ()

    @property
    def identity_id(self) -> str | None:
        """The matched identity, or None when unknown or rejected."""
        if self.decision is Decision.MATCH and self.candidates:
            return self.candidates[0].identity_id
        return None

    @property
    def best_similarity(self) -> float | None:
        """Similarity of the top candidate (higher is closer), if any."""
        return self.candidates[0].similarity if self.candidates else None


@dataclass(frozen=True, slots=True)
class Verification:
    """The 1:1 answer: is the face in A the same person as the face in B?"""

    decision: Decision
    similarity: float
    threshold: float
    target_fmr: float
