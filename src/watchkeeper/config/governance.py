"""Governance settings: key files, watchlist limits, retention periods, purge schedule.

Four-eyes approval is deliberately not here: switching it off is a decision someone makes and
answers for, so it lives in the database and every change goes to the audit log.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class RetentionDays(BaseModel):
    """How many days each kind of data is kept (site defaults; a watchlist may keep matches
    shorter). Bounds are enforced by ``governance.retention``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    unmatched_face_crops: float = Field(
        1, gt=0, title="Unmatched face crops", description="Faces that matched nobody."
    )
    sightings: float = Field(30, gt=0, title="Sightings", description="Where a face was seen.")
    match_records: float = Field(
        90,
        gt=0,
        title="Match records",
        description="Review candidates and their decisions, unless the watchlist says less.",
    )
    expired_watchlist_templates: float = Field(
        7,
        gt=0,
        title="Templates of ended watchlists",
        description="Days after a watchlist expires or is revoked before its people are deleted.",
    )
    audit_entries: float = Field(
        730,
        ge=180,
        title="Audit entries",
        description="Days the audit trail is kept (at least 180, so oversight has time to look).",
    )


class GovernanceSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    template_key_file: Path | None = Field(
        None,
        title="Template key file",
        description="File holding the site's 32-byte key (base64) that encrypts templates and "
        "face crops at rest. $WATCHKEEPER_TEMPLATE_KEY takes precedence. Keep it outside the "
        "data directory.",
    )
    audit_signing_key: Path | None = Field(
        None,
        title="Audit signing key",
        description="Ed25519 private key (outside the data directory) that signs the tombstones "
        "left by audit purges.",
    )
    max_watchlist_days: int = Field(
        365,
        ge=1,
        le=3650,
        title="Longest watchlist life",
        description="No watchlist may be created or extended to expire later than this many "
        "days from the day of the change.",
    )
    retention: RetentionDays = Field(default_factory=RetentionDays, title="Retention")
    purge_interval_s: float = Field(
        3600.0,
        ge=1.0,
        title="Purge interval",
        description="Seconds between scheduled retention purges while the service runs.",
    )
    password_hash_n: int = Field(
        2**17,
        ge=2**10,
        le=2**20,
        title="Password hash cost",
        description="scrypt N for passwords (power of two); 2**17 follows OWASP guidance.",
    )
