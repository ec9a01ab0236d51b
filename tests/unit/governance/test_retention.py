"""Retention periods and cut-offs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from watchkeeper.core.errors import ConfigError, InvalidInputError
from watchkeeper.governance.retention import (
    MAXIMUMS,
    MINIMUMS,
    DataKind,
    RetentionPolicy,
    check_duration,
    cutoffs,
)

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def test_defaults_are_valid_and_within_bounds() -> None:
    policy = RetentionPolicy()
    for kind in DataKind:
        assert MINIMUMS[kind] <= policy.duration(kind) <= MAXIMUMS[kind]
    # Unmatched biometric crops go first; the audit trail stays longest.
    assert policy.unmatched_face_crops < policy.sightings < policy.audit_entries


def test_cutoffs_subtract_each_duration_from_now() -> None:
    policy = RetentionPolicy.from_days(unmatched_face_crops=2, sightings=10)
    result = cutoffs(policy, NOW)
    assert set(result) == set(DataKind)
    assert result[DataKind.UNMATCHED_FACE_CROPS] == NOW - timedelta(days=2)
    assert result[DataKind.SIGHTINGS] == NOW - timedelta(days=10)
    assert result[DataKind.AUDIT_ENTRIES] == NOW - policy.audit_entries


def test_cutoffs_are_in_utc_whatever_zone_now_is_in() -> None:
    local = NOW.astimezone(timezone(timedelta(hours=5)))
    result = cutoffs(RetentionPolicy(), local)
    assert result[DataKind.SIGHTINGS].utcoffset() == timedelta(0)
    assert result == cutoffs(RetentionPolicy(), NOW)


def test_cutoffs_refuse_naive_now() -> None:
    with pytest.raises(InvalidInputError):
        cutoffs(RetentionPolicy(), datetime(2025, 1, 1))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"unmatched_face_crops": timedelta(0)},
        {"sightings": timedelta(days=-1)},
        {"unmatched_face_crops": timedelta(days=31)},
        {"match_records": timedelta(days=3 * 365 + 1)},
        {"audit_entries": timedelta(days=30)},
        {"audit_entries": timedelta(days=11 * 365)},
        {"sightings": 30},
    ],
)
def test_invalid_durations_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        RetentionPolicy(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sightngs": 3},
        {"sightings": "3"},
        {"sightings": float("nan")},
        {"sightings": True},
        {"sightings": 10**9},
    ],
)
def test_from_days_refuses_bad_input(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        RetentionPolicy.from_days(**kwargs)  # type: ignore[arg-type]


def test_check_duration_for_watchlist_retention() -> None:
    assert check_duration(DataKind.MATCH_RECORDS, timedelta(days=14)) == timedelta(days=14)
    with pytest.raises(ConfigError, match="between"):
        check_duration(DataKind.MATCH_RECORDS, timedelta(days=5000))


def test_policy_is_frozen() -> None:
    policy = RetentionPolicy()
    with pytest.raises(AttributeError):
        policy.sightings = timedelta(days=1)  # type: ignore[misc]
