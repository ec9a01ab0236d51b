from __future__ import annotations

import numpy as np
import pytest

from watchkeeper.core.calibration import best_accuracy_threshold, rates_at, threshold_at_fmr
from watchkeeper.core.errors import InvalidInputError


def test_threshold_at_fmr_lets_through_at_most_the_allowed_share() -> None:
    rng = np.random.default_rng(1)
    impostors = rng.normal(0.3, 0.1, 100_000)
    for fmr in (1e-2, 1e-3, 1e-4):
        t = threshold_at_fmr(impostors, fmr)
        observed = np.mean(impostors >= t)
        assert observed <= fmr
        # and not needlessly strict: one step lower lets more through than allowed
        assert np.mean(impostors >= np.nextafter(t, -np.inf) - 1e-9) > observed or observed == fmr


def test_threshold_refuses_rates_the_sample_cannot_resolve() -> None:
    with pytest.raises(InvalidInputError, match="cannot resolve"):
        threshold_at_fmr(np.zeros(100), 1e-3)


def test_best_accuracy_threshold_separates_clean_data() -> None:
    sims = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    same = np.array([False, False, False, True, True, True])
    t = best_accuracy_threshold(sims, same)
    assert 0.3 < t < 0.7
    assert rates_at(sims[same], sims[~same], t) == (1.0, 0.0)
