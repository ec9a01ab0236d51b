"""Watchlist rules that need no storage: names, terms, bases, and whether one may be used now.

A watchlist is a gallery with a purpose, a legal basis or authorisation reference, an owner, an
expiry and a retention period for its match records. Only an active, unexpired watchlist can be
searched or enrolled into, and that is decided against the clock on every call, so an expiry or
a revocation takes effect at once, without a restart.

Example:
    >>> from datetime import UTC, datetime, timedelta
    >>> now = datetime(2026, 1, 1, tzinfo=UTC)
    >>> terms = WatchlistTerms("Find missing person, case 2026/3", "Police request 2026/3",
    ...                        now + timedelta(days=30))
    >>> validate_terms(terms, now, max_days=365).purpose
    'Find missing person, case 2026/3'
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from watchkeeper.core.errors import ConfigError, InvalidInputError, PermissionDeniedError
from watchkeeper.governance.policy import (
    check_field_name,
    check_text,
    safe_excerpt,
    validate_free_text,
)
from watchkeeper.governance.retention import DataKind, check_duration
from watchkeeper.store.records import GalleryRecord, WatchlistStatus

MAX_PURPOSE = 500
MAX_LEGAL_BASIS = 300
MAX_SOURCE = 300
MAX_IDENTITIES = 1_000_000
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}")


class EnrolmentBasis(StrEnum):
    """Why a person may be on a watchlist (the lawful bases of GDPR Article 6)."""

    CONSENT = "consent"
    CONTRACT = "contract"
    LEGAL_OBLIGATION = "legal_obligation"
    VITAL_INTERESTS = "vital_interests"
    PUBLIC_TASK = "public_task"
    LEGITIMATE_INTERESTS = "legitimate_interests"


def parse_basis(value: object) -> EnrolmentBasis:
    """The :class:`EnrolmentBasis` named by ``value``; anything else is refused."""
    if isinstance(value, str):
        try:
            return EnrolmentBasis(value.strip().lower().replace("-", "_").replace(" ", "_"))
        except ValueError:
            pass
    known = ", ".join(b.value for b in EnrolmentBasis)
    raise InvalidInputError(f"unknown basis {safe_excerpt(value, 40)!r}; bases are: {known}")


def validate_watchlist_name(name: object) -> str:
    """A short name of letters, digits, spaces, '.', '_' or '-' that names no protected trait."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInputError(
            f"invalid watchlist name {safe_excerpt(name, 40)!r}: use 1-64 letters, digits, "
            "spaces, '.', '_' or '-', starting with a letter or digit"
        )
    check_field_name(name)
    return name


def validate_source(source: object) -> str:
    """Where the person's reference photo or identity came from (free text, policy-checked)."""
    text = validate_free_text(source, "source", MAX_SOURCE)
    check_text(text)
    return text


@dataclass(frozen=True, slots=True)
class WatchlistTerms:
    """What a watchlist is for, under which authority, until when, and what it may hold."""

    purpose: str
    legal_basis: str
    expires_at: datetime
    match_retention_days: float | None = None
    max_identities: int | None = None


def validate_terms(terms: WatchlistTerms, now: datetime, max_days: int) -> WatchlistTerms:
    """Check purpose, legal basis, expiry (within ``max_days`` of ``now``) and limits."""
    validate_free_text(terms.purpose, "purpose", MAX_PURPOSE)
    check_text(terms.purpose)
    validate_free_text(terms.legal_basis, "legal basis", MAX_LEGAL_BASIS)
    check_text(terms.legal_basis)
    check_expiry(terms.expires_at, now, max_days)
    if terms.match_retention_days is not None:
        days = terms.match_retention_days
        if isinstance(days, bool) or not isinstance(days, int | float) or not math.isfinite(days):
            raise InvalidInputError("match retention must be a number of days")
        try:
            check_duration(DataKind.MATCH_RECORDS, timedelta(days=days))
        except (OverflowError, ValueError):
            raise InvalidInputError("match retention is out of range") from None
        except ConfigError as exc:  # outside the retention bounds
            raise InvalidInputError(str(exc)) from None
    validate_limit(terms.max_identities)
    return terms


def validate_limit(limit: object) -> int | None:
    """The most people a watchlist may hold: None (no limit) or a whole number."""
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_IDENTITIES:
        raise InvalidInputError(f"max identities must be a whole number 1..{MAX_IDENTITIES}")
    return limit


def check_expiry(expires_at: object, now: datetime, max_days: int) -> datetime:
    if not isinstance(expires_at, datetime) or expires_at.tzinfo is None:
        raise InvalidInputError("expiry must be a timezone-aware date and time")
    if expires_at <= now:
        raise InvalidInputError("expiry must be in the future")
    if expires_at - now > timedelta(days=max_days):
        raise InvalidInputError(
            f"a watchlist may run at most {max_days} days from today (site setting "
            "governance.max_watchlist_days); pick an earlier expiry"
        )
    return expires_at


def apply_terms(record: GalleryRecord, terms: WatchlistTerms) -> GalleryRecord:
    return replace(
        record,
        purpose=terms.purpose,
        legal_basis=terms.legal_basis,
        expires_at=terms.expires_at,
        match_retention_days=terms.match_retention_days,
        max_identities=terms.max_identities,
    )


def inactive_reason(record: GalleryRecord, now: datetime) -> str | None:
    """Why ``record`` may not be searched or enrolled into at ``now``; None when it may."""
    if record.status is WatchlistStatus.UNBOUND or not record.purpose:
        return (
            f"gallery {record.name!r} has no purpose or legal basis, so it cannot be searched; "
            "create a watchlist for it (`watchkeeper watchlist create`)"
        )
    if record.status is WatchlistStatus.PENDING:
        return f"watchlist {record.name!r} is waiting for approval and matches nothing yet"
    if record.status is WatchlistStatus.REVOKED:
        when = f" at {record.revoked_at:%Y-%m-%d %H:%M} UTC" if record.revoked_at else ""
        return f"watchlist {record.name!r} was revoked{when} and matches nothing"
    if record.expires_at is None or record.expires_at <= now:
        when = f" at {record.expires_at:%Y-%m-%d %H:%M} UTC" if record.expires_at else ""
        return f"watchlist {record.name!r} expired{when} and matches nothing"
    return None


def require_active(record: GalleryRecord, now: datetime) -> None:
    """Refuse unless the watchlist is active and unexpired at ``now``."""
    reason = inactive_reason(record, now)
    if reason is not None:
        raise PermissionDeniedError(reason)


def has_ended(record: GalleryRecord, now: datetime) -> datetime | None:
    """When the watchlist ended (revoked or expired), or None if it has not."""
    if record.status is WatchlistStatus.REVOKED:
        return record.revoked_at or record.created_at
    if record.status is WatchlistStatus.ACTIVE and record.expires_at is not None:
        return record.expires_at if record.expires_at <= now else None
    return None
