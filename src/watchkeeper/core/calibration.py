"""Decision thresholds from score distributions (pure math)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from watchkeeper.core.errors import InvalidInputError


def threshold_at_fmr(impostor_similarity: npt.NDArray[np.floating], fmr: float) -> float:
    """The lowest similarity threshold whose false-match rate on these impostors is <= ``fmr``.

    A pair matches when ``similarity >= threshold``.

    >>> round(threshold_at_fmr(np.array([0.1, 0.2, 0.3, 0.4]), 0.25), 3)
    0.4
    """
    s = np.sort(np.asarray(impostor_similarity, dtype=np.float64))[::-1]
    if len(s) == 0:
        raise InvalidInputError("no impostor scores to calibrate on")
    if fmr * len(s) < 1:
        raise InvalidInputError(
            f"{len(s)} impostor scores cannot resolve a false-match rate of {fmr:g}"
        )
    allowed = int(np.floor(fmr * len(s)))  # how many impostors may pass
    # Threshold just above the (allowed+1)-th highest impostor, so at most `allowed` pass.
    return float(np.nextafter(s[allowed], np.inf))


def rates_at(
    genuine: npt.NDArray[np.floating], impostor: npt.NDArray[np.floating], threshold: float
) -> tuple[float, float]:
    """(true-accept rate, false-match rate) at a threshold."""
    tar = float(np.mean(np.asarray(genuine) >= threshold)) if len(genuine) else 0.0
    fmr = float(np.mean(np.asarray(impostor) >= threshold)) if len(impostor) else 0.0
    return tar, fmr


def best_accuracy_threshold(
    similarity: npt.NDArray[np.floating], same: npt.NDArray[np.bool_]
) -> float:
    """The threshold that maximises accuracy on labelled pairs (midpoint between scores)."""
    s = np.asarray(similarity, dtype=np.float64)
    y = np.asarray(same, dtype=bool)
    order = np.argsort(s)
    s, y = s[order], y[order]
    # Threshold between s[i-1] and s[i]: pairs i.. are called "same".
    n = len(s)
    same_above = np.concatenate([np.cumsum(y[::-1])[::-1], [0]])  # genuine at index >= i
    diff_below = np.concatenate([[0], np.cumsum(~y)])  # impostors at index < i
    correct = same_above + diff_below
    i = int(np.argmax(correct))
    if i == 0:
        return float(s[0] - 1e-6)
    if i == n:
        return float(s[-1] + 1e-6)
    return float((s[i - 1] + s[i]) / 2)


@dataclass(frozen=True, slots=True)
class FmrPoint:
    fmr: float
    threshold: float
