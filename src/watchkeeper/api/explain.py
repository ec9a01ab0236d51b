"""Plain-language explanations of recognition decisions, shared by the JSON API and the console.

A match is never presented as an identification: it is a candidate that a person must confirm.
"""

from __future__ import annotations

from watchkeeper.core import Decision, Match, Verification


def fmr_text(target_fmr: float) -> str:
    """``0.001`` -> ``'1 in 1,000'``."""
    if target_fmr <= 0:
        return "0"
    return f"1 in {round(1 / target_fmr):,}"


def explain_match(match: Match, target_fmr: float) -> str:
    """Why one face got its decision, and what happens next."""
    fmr = fmr_text(target_fmr)
    if match.decision is Decision.REJECTED:
        reasons = ", ".join(r.replace("_", " ") for r in match.reasons) or "quality"
        return f"Not searched: the face is not good enough for recognition ({reasons})."
    if match.decision is Decision.MATCH and match.candidates:
        best = match.candidates[0]
        return (
            f"Similarity {best.similarity:.3f} is at or above the threshold {match.threshold:.3f}, "
            f"which is set so that about {fmr} comparisons of different people pass. "
            f"{best.display_name} is a candidate, not an identification: a person must "
            "confirm or reject it in the review queue."
        )
    if match.candidates:
        best = match.candidates[0]
        return (
            f"Closest was {best.display_name} at similarity {best.similarity:.3f}, below the "
            f"threshold {match.threshold:.3f} (false-match rate {fmr}): nobody in "
            f"{match.gallery} is reported."
        )
    return f"The watchlist {match.gallery} holds nobody to compare with."


def explain_verification(result: Verification) -> str:
    fmr = fmr_text(result.target_fmr)
    if result.decision is Decision.MATCH:
        return (
            f"Similarity {result.similarity:.3f} is at or above the threshold "
            f"{result.threshold:.3f} (false-match rate {fmr}): the two faces are probably the "
            "same person. This is a statistical judgement; a person must confirm it before "
            "anyone acts on it."
        )
    return (
        f"Similarity {result.similarity:.3f} is below the threshold {result.threshold:.3f} "
        f"(false-match rate {fmr}): the faces are not reported as the same person."
    )
