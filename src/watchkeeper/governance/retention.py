"""How long each kind of data is kept, and the cut-off times that follow from it.

Pure values and arithmetic: the purge over the store applies :func:`cutoffs` later.

Example:
    >>> from datetime import UTC, datetime
    >>> policy = RetentionPolicy()
    >>> cutoffs(policy, datetime(2025, 3, 2, tzinfo=UTC))[DataKind.UNMATCHED_FACE_CROPS]
    datetime.datetime(2025, 3, 1, 0, 0, tzinfo=datetime.timezone.utc)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from types import MappingProxyType

from watchkeeper.core.errors import ConfigError, InvalidInputError

__all__ = [
    "MAXIMUMS",
    "MINIMUMS",
    "DataKind",
    "RetentionPolicy",
    "check_duration",
    "cutoffs",
]


class DataKind(StrEnum):
    """Kinds of data with their own retention period."""

    UNMATCHED_FACE_CROPS = "unmatched_face_crops"
    SIGHTINGS = "sightings"
    MATCH_RECORDS = "match_records"
    EXPIRED_WATCHLIST_TEMPLATES = "expired_watchlist_templates"
    AUDIT_ENTRIES = "audit_entries"


_DAY = timedelta(days=1)

# Upper bounds no site setting may exceed: biometric data of people who matched nothing should
# vanish fast, and even the audit trail is not kept forever.
MAXIMUMS: Mapping[DataKind, timedelta] = MappingProxyType(
    {
        DataKind.UNMATCHED_FACE_CROPS: 30 * _DAY,
        DataKind.SIGHTINGS: 365 * _DAY,
        DataKind.MATCH_RECORDS: 3 * 365 * _DAY,
        DataKind.EXPIRED_WATCHLIST_TEMPLATES: 90 * _DAY,
        DataKind.AUDIT_ENTRIES: 10 * 365 * _DAY,
    }
)

# Lower bounds: purging the audit trail quickly would defeat its purpose (oversight bodies need
# time to look), so it has a real floor; the others only need to be positive.
MINIMUMS: Mapping[DataKind, timedelta] = MappingProxyType(
    {
        DataKind.UNMATCHED_FACE_CROPS: timedelta(minutes=1),
        DataKind.SIGHTINGS: timedelta(minutes=1),
        DataKind.MATCH_RECORDS: timedelta(minutes=1),
        DataKind.EXPIRED_WATCHLIST_TEMPLATES: timedelta(minutes=1),
        DataKind.AUDIT_ENTRIES: 180 * _DAY,
    }
)


def check_duration(kind: DataKind, duration: object) -> timedelta:
    """Return ``duration`` if it is a valid retention period for ``kind``.

    Watchlists use this for their own match-record retention, which may be shorter than the
    site default but never longer than :data:`MAXIMUMS`.

    Raises:
        ConfigError: not a timedelta, or outside ``MINIMUMS[kind]``..``MAXIMUMS[kind]``.
    """
    if not isinstance(duration, timedelta):
        raise ConfigError(f"retention for {kind.value} must be a duration (timedelta)")
    low, high = MINIMUMS[kind], MAXIMUMS[kind]
    if not low <= duration <= high:
        raise ConfigError(
            f"retention for {kind.value} must be between {_words(low)} and {_words(high)}, "
            f"got {_words(duration)}"
        )
    return duration


def _words(duration: timedelta) -> str:
    if duration >= _DAY and duration % _DAY == timedelta(0):
        return f"{duration.days} days"
    return f"{duration.total_seconds():g} seconds"


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """Retention period per kind of data; the defaults are deliberately short."""

    unmatched_face_crops: timedelta = 1 * _DAY
    sightings: timedelta = 30 * _DAY
    match_records: timedelta = 90 * _DAY
    expired_watchlist_templates: timedelta = 7 * _DAY
    audit_entries: timedelta = 2 * 365 * _DAY

    def __post_init__(self) -> None:
        for spec in fields(self):
            check_duration(DataKind(spec.name), getattr(self, spec.name))

    def duration(self, kind: DataKind) -> timedelta:
        """The retention period of ``kind``."""
        value: timedelta = getattr(self, DataKind(kind).value)
        return value

    @classmethod
    def from_days(cls, **days: float) -> RetentionPolicy:
        """Build a policy from whole or fractional days, e.g. ``from_days(sightings=14)``."""
        known = {kind.value for kind in DataKind}
        unknown = sorted(set(days) - known)
        if unknown:
            raise ConfigError(
                f"unknown retention kind {unknown[0]!r}; kinds are {', '.join(sorted(known))}"
            )
        converted: dict[str, timedelta] = {}
        for name, value in days.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"retention for {name} must be a number of days")
            if value != value or value in (float("inf"), float("-inf")):
                raise ConfigError(f"retention for {name} must be a finite number of days")
            if abs(value) > 100 * 365:
                raise ConfigError(f"retention for {name} is out of range")
            converted[name] = timedelta(days=value)
        return cls(**converted)


def cutoffs(policy: RetentionPolicy, now: datetime) -> Mapping[DataKind, datetime]:
    """For each kind, the time before which its data is due for deletion.

    Raises:
        InvalidInputError: ``now`` is not timezone-aware.
    """
    if not isinstance(now, datetime) or now.tzinfo is None:
        raise InvalidInputError("now must be a timezone-aware datetime")
    moment = now.astimezone(UTC)
    return MappingProxyType({kind: moment - policy.duration(kind) for kind in DataKind})
