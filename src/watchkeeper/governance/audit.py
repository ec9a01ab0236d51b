"""Append-only, hash-chained audit log with signed checkpoints and tombstoned purges.

Each entry's ``hash`` is SHA-256 over the canonical JSON of its fields (``seq`` included, so an
entry cannot move) and the previous entry's hash, so editing, deleting, inserting or reordering
any entry breaks the chain at that point and :meth:`AuditLog.verify` names it. Triggers make the
table append-only for anyone using SQLite normally; someone with the file can drop them, which
is why verification never relies on them.

A chain alone cannot catch a *complete* rewrite (every hash recomputed) or a truncated tail.
For that, :meth:`AuditLog.export_checkpoint` signs (Ed25519) the current head; an auditor keeps
the checkpoint away from the data, and :meth:`AuditLog.verify_against_checkpoint` later checks
that the log still contains exactly that head at that position. The signing key must live
outside the data directory (:func:`generate_signing_key` refuses otherwise).

Purging old entries (a retention decision) removes a prefix of the chain. So that what remains
still verifies, the purge leaves a *tombstone*: through which seq it purged, the hash of that
last purged entry (which the first remaining entry links to), how many entries went, and its own
hash chained to the previous tombstone, optionally signed. The purge is also written to the log
itself (``audit.purge``, naming the tombstone's seq and head hash) *before* the rows go, so a
forged tombstone hiding a deletion is caught: no chained entry attests it.

Example:
    >>> import sqlite3
    >>> log = AuditLog(sqlite3.connect(":memory:"))
    >>> _ = log.append(actor="ada", role="investigator", action="search.identify",
    ...                target="probe:123", purpose="case 2024/117", details={"candidates": 2})
    >>> log.verify().ok
    True
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from watchkeeper.core.errors import (
    ConfigError,
    InvalidInputError,
    StoreError,
)
from watchkeeper.governance.authz import Role
from watchkeeper.governance.policy import check_metadata, safe_excerpt, validate_free_text

__all__ = [
    "GENESIS_HASH",
    "AuditAction",
    "AuditLog",
    "AuditPage",
    "AuditRecord",
    "BreakKind",
    "ChainReport",
    "Checkpoint",
    "CheckpointReport",
    "CheckpointStatus",
    "Outcome",
    "PurgeResult",
    "ensure_schema",
    "generate_signing_key",
    "load_private_key",
    "load_public_key",
]

logger = logging.getLogger(__name__)

# prev_hash of the first entry ever written.
GENESIS_HASH = "0" * 64
_RECORD_VERSION = 1
_CHECKPOINT_FORMAT = "watchkeeper-audit-checkpoint/1"
_TOMBSTONE_FORMAT = "watchkeeper-audit-tombstone/1"
# Roles that are not site roles: the system itself (scheduled purges) and nobody yet
# (a failed login).
SYSTEM_ROLE = "system"
NO_ROLE = "none"

_MAX_ACTOR = 128
_MAX_TARGET = 256
_MAX_WATCHLIST = 128
_MAX_PURPOSE = 1000
_MAX_DETAILS = 32
_MAX_DETAIL_TEXT = 256
_MAX_PAGE = 1000
_ACTION = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){0,3}")
_DETAIL_KEY = re.compile(r"[a-z][a-z0-9_]{0,47}")
_HEX64 = re.compile(r"[0-9a-f]{64}")


class Outcome(StrEnum):
    """How the audited action ended."""

    SUCCESS = "success"
    REFUSED = "refused"
    FAILED = "failed"


class AuditAction(StrEnum):
    """Actions the service layer records; :meth:`AuditLog.append` also takes other dotted names."""

    LOGIN = "auth.login"
    LOGOUT = "auth.logout"
    TOKEN_ISSUE = "token.issue"
    TOKEN_REVOKE = "token.revoke"
    USER_CREATE = "user.create"
    USER_DISABLE = "user.disable"
    SETTINGS_CHANGE = "settings.change"
    SEARCH_IDENTIFY = "search.identify"
    SEARCH_VERIFY = "search.verify"
    SEARCH_FOOTAGE = "search.footage"
    MATCH = "match.candidate"
    REVIEW_DECIDE = "review.decide"
    BIOMETRIC_VIEW = "gallery.view"
    ENROL = "gallery.enrol"
    DELETE = "gallery.delete"
    EXPORT = "data.export"
    ERASE = "data.erase"
    WATCHLIST_CREATE = "watchlist.create"
    WATCHLIST_CHANGE = "watchlist.change"
    APPROVAL_REQUEST = "approval.request"
    APPROVAL_APPROVE = "approval.approve"
    APPROVAL_REJECT = "approval.reject"
    AUDIT_READ = "audit.read"
    AUDIT_VERIFY = "audit.verify"
    AUDIT_CHECKPOINT = "audit.checkpoint"
    AUDIT_PURGE = "audit.purge"
    RETENTION_PURGE = "retention.purge"


DetailValue = int | str


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One entry of the audit log, as stored."""

    seq: int
    at: datetime
    actor: str
    role: str
    action: str
    target: str
    watchlist: str | None
    purpose: str
    outcome: Outcome
    details: Mapping[str, DetailValue] = field(hash=False)
    prev_hash: str
    hash: str


class BreakKind(StrEnum):
    """How the chain was found broken."""

    EDITED = "edited"
    DELETED = "deleted"
    INSERTED = "inserted"
    REORDERED = "reordered"
    TOMBSTONE = "tombstone"


@dataclass(frozen=True, slots=True)
class ChainReport:
    """Result of :meth:`AuditLog.verify`: intact, or where and how the chain first breaks."""

    ok: bool
    entries_checked: int
    first_seq: int | None
    head_seq: int
    head_hash: str
    broken_at: int | None = None
    kind: BreakKind | None = None
    detail: str = ""

    def summary(self) -> str:
        """One line for the CLI."""
        if self.ok:
            return (
                f"audit chain intact: {self.entries_checked} entries, head seq {self.head_seq} "
                f"hash {self.head_hash[:16]}"
            )
        kind = self.kind.value if self.kind else "broken"
        return f"audit chain BROKEN at seq {self.broken_at} ({kind}): {self.detail}"


@dataclass(frozen=True, slots=True)
class AuditPage:
    """One page of query results; pass ``next_after_seq`` back to get the next page."""

    records: tuple[AuditRecord, ...]
    next_after_seq: int | None


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed statement "entry ``seq`` of this log had hash ``head_hash`` at ``at``"."""

    seq: int
    head_hash: str
    at: datetime
    key_id: str
    signature: bytes = field(repr=False)

    def message(self) -> bytes:
        """The exact bytes that are signed."""
        return _canonical(
            {
                "format": _CHECKPOINT_FORMAT,
                "seq": self.seq,
                "head_hash": self.head_hash,
                "at": _iso(self.at),
            }
        )

    def to_json(self) -> str:
        """Portable text form, for storing the checkpoint away from the data."""
        return json.dumps(
            {
                "format": _CHECKPOINT_FORMAT,
                "seq": self.seq,
                "head_hash": self.head_hash,
                "at": _iso(self.at),
                "key_id": self.key_id,
                "signature": base64.b64encode(self.signature).decode("ascii"),
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> Checkpoint:
        """Read :meth:`to_json` output back; anything malformed is refused."""
        try:
            data = json.loads(text)
            if data.get("format") != _CHECKPOINT_FORMAT:
                raise ValueError("not a Watchkeeper audit checkpoint")
            seq, head_hash, key_id = data["seq"], data["head_hash"], data["key_id"]
            if not isinstance(seq, int) or seq < 0 or not _HEX64.fullmatch(head_hash):
                raise ValueError("bad seq or head hash")
            if not isinstance(key_id, str) or len(key_id) > 64:
                raise ValueError("bad key id")
            return cls(
                seq=seq,
                head_hash=head_hash,
                at=_parse_at(data["at"]),
                key_id=key_id,
                signature=base64.b64decode(data["signature"], validate=True),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise InvalidInputError(f"unreadable audit checkpoint: {error}") from None


class CheckpointStatus(StrEnum):
    VERIFIED = "verified"
    MISMATCH = "mismatch"
    UNVERIFIABLE = "unverifiable"


@dataclass(frozen=True, slots=True)
class CheckpointReport:
    """Result of :meth:`AuditLog.verify_against_checkpoint`."""

    status: CheckpointStatus
    detail: str
    chain: ChainReport | None = None

    @property
    def ok(self) -> bool:
        return self.status is CheckpointStatus.VERIFIED


@dataclass(frozen=True, slots=True)
class PurgeResult:
    """What :meth:`AuditLog.purge_before` removed and the tombstone it left."""

    through_seq: int
    purged_count: int
    tombstone_hash: str


@dataclass(frozen=True, slots=True)
class _Tombstone:
    through_seq: int
    head_hash: str
    purged_count: int
    purged_before: str
    created_at: str
    prev_tombstone_hash: str
    hash: str
    signature: bytes | None

    def message(self) -> bytes:
        return _canonical(
            {
                "format": _TOMBSTONE_FORMAT,
                "through_seq": self.through_seq,
                "head_hash": self.head_hash,
                "purged_count": self.purged_count,
                "purged_before": self.purged_before,
                "created_at": self.created_at,
                "prev_tombstone_hash": self.prev_tombstone_hash,
            }
        )


# --- schema --------------------------------------------------------------------------------------

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS audit_log (
        seq INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        role TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        watchlist TEXT,
        purpose TEXT NOT NULL,
        outcome TEXT NOT NULL,
        details TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS audit_tombstone (
        through_seq INTEGER PRIMARY KEY,
        head_hash TEXT NOT NULL,
        purged_count INTEGER NOT NULL,
        purged_before TEXT NOT NULL,
        created_at TEXT NOT NULL,
        prev_tombstone_hash TEXT NOT NULL,
        hash TEXT NOT NULL,
        signature BLOB
    )""",
    "CREATE INDEX IF NOT EXISTS audit_log_actor ON audit_log(actor, seq)",
    "CREATE INDEX IF NOT EXISTS audit_log_action ON audit_log(action, seq)",
    "CREATE INDEX IF NOT EXISTS audit_log_watchlist ON audit_log(watchlist, seq)",
    "CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log(at)",
    "CREATE INDEX IF NOT EXISTS audit_log_hash ON audit_log(hash)",
    # Append-only for everyone who goes through SQLite: no edits, and deletes only of entries a
    # tombstone already covers (that is, inside purge_before).
    """CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit log is append-only: entries cannot be changed'); END""",
    """CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
    WHEN OLD.seq > COALESCE((SELECT MAX(through_seq) FROM audit_tombstone), 0)
    BEGIN SELECT RAISE(ABORT, 'audit log is append-only: entries cannot be deleted'); END""",
    """CREATE TRIGGER IF NOT EXISTS audit_log_append_only BEFORE INSERT ON audit_log
    WHEN NEW.seq IS NOT COALESCE((SELECT MAX(seq) FROM audit_log),
                                 (SELECT MAX(through_seq) FROM audit_tombstone), 0) + 1
    BEGIN SELECT RAISE(ABORT, 'audit log is append-only: entries go at the end'); END""",
    """CREATE TRIGGER IF NOT EXISTS audit_tombstone_no_update BEFORE UPDATE ON audit_tombstone
    BEGIN SELECT RAISE(ABORT, 'audit tombstones cannot be changed'); END""",
    """CREATE TRIGGER IF NOT EXISTS audit_tombstone_no_delete BEFORE DELETE ON audit_tombstone
    BEGIN SELECT RAISE(ABORT, 'audit tombstones cannot be deleted'); END""",
)


def ensure_schema(conn: sqlite3.Connection) -> None:
    """Create the audit tables, indexes and append-only triggers if missing (no commit)."""
    for statement in _SCHEMA:
        conn.execute(statement)


# --- helpers -------------------------------------------------------------------------------------


def _canonical(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _utc(moment: object, name: str) -> datetime:
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        raise InvalidInputError(f"{name} must be a timezone-aware datetime")
    return moment.astimezone(UTC)


def _parse_at(text: object) -> datetime:
    if not isinstance(text, str):
        raise ValueError("time must be ISO 8601 text")
    return _utc(datetime.fromisoformat(text), "time")


def _entry_hash(
    *,
    seq: int,
    at: str,
    actor: str,
    role: str,
    action: str,
    target: str,
    watchlist: str | None,
    purpose: str,
    outcome: str,
    details: Mapping[str, DetailValue],
    prev_hash: str,
) -> str:
    return _sha256(
        _canonical(
            {
                "v": _RECORD_VERSION,
                "seq": seq,
                "at": at,
                "actor": actor,
                "role": role,
                "action": action,
                "target": target,
                "watchlist": watchlist,
                "purpose": purpose,
                "outcome": outcome,
                "details": dict(details),
                "prev_hash": prev_hash,
            }
        )
    )


def _key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return _sha256(raw)[:16]


def _validate_role(role: object) -> str:
    allowed = {r.value for r in Role} | {SYSTEM_ROLE, NO_ROLE}
    if not isinstance(role, str) or not role or len(role) > 100:
        raise InvalidInputError("audit role must be a role name or comma-separated role names")
    unknown = [part for part in role.split(",") if part not in allowed]
    if unknown:
        raise InvalidInputError(
            f"unknown role {safe_excerpt(unknown[0], 40)!r} in audit record; "
            f"use {', '.join(sorted(allowed))}"
        )
    return role


def _validate_details(details: Mapping[str, object] | None) -> dict[str, DetailValue]:
    if details is None:
        return {}
    if not isinstance(details, Mapping):
        raise InvalidInputError("audit details must be a mapping of names to counts or text")
    if len(details) > _MAX_DETAILS:
        raise InvalidInputError(f"audit details hold at most {_MAX_DETAILS} entries")
    clean: dict[str, DetailValue] = {}
    for key, value in details.items():
        if not isinstance(key, str) or not _DETAIL_KEY.fullmatch(key):
            raise InvalidInputError(
                f"audit detail name {safe_excerpt(key, 40)!r} must be lower_snake_case, "
                "at most 48 characters"
            )
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise InvalidInputError(
                f"audit detail {key!r} must be a whole number or text, got {type(value).__name__}"
            )
        if isinstance(value, str):
            validate_free_text(value, f"audit detail {key!r}", _MAX_DETAIL_TEXT, allow_empty=True)
        elif not -(2**53) < value < 2**53:
            # Keep counts exactly representable for any JSON reader of exported logs.
            raise InvalidInputError(f"audit detail {key!r} is out of range")
        clean[key] = value
    check_metadata(clean)
    return clean


_COLUMNS = (
    "seq, at, actor, role, action, target, watchlist, purpose, outcome, details, prev_hash, hash"
)


@dataclass(frozen=True, slots=True)
class _Row:
    """A stored row exactly as found, before any trust is placed in it."""

    seq: int
    at: str
    actor: str
    role: str
    action: str
    target: str
    watchlist: str | None
    purpose: str
    outcome: str
    details: str
    prev_hash: str
    hash: str

    def recompute(self, seq: int | None = None) -> str | None:
        """The hash this row's content should have (None if the content is unreadable)."""
        try:
            details = json.loads(self.details)
            if not isinstance(details, dict):
                return None
            return _entry_hash(
                seq=self.seq if seq is None else seq,
                at=self.at,
                actor=self.actor,
                role=self.role,
                action=self.action,
                target=self.target,
                watchlist=self.watchlist,
                purpose=self.purpose,
                outcome=self.outcome,
                details=details,
                prev_hash=self.prev_hash,
            )
        except (ValueError, TypeError):
            return None

    def to_record(self) -> AuditRecord:
        try:
            return AuditRecord(
                seq=self.seq,
                at=_parse_at(self.at),
                actor=self.actor,
                role=self.role,
                action=self.action,
                target=self.target,
                watchlist=self.watchlist,
                purpose=self.purpose,
                outcome=Outcome(self.outcome),
                details=MappingProxyType(json.loads(self.details)),
                prev_hash=self.prev_hash,
                hash=self.hash,
            )
        except (ValueError, TypeError, InvalidInputError) as error:
            raise StoreError(
                f"audit entry {self.seq} is unreadable ({error}); run `audit verify`"
            ) from None


# --- the log -------------------------------------------------------------------------------------


class AuditLog:
    """The audit log on the caller's connection; never commits, so records share the caller's
    transaction with the change they describe."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        ensure_schema(conn)

    # -- writing --

    def head(self) -> tuple[int, str]:
        """(seq, hash) of the newest entry, or of the latest tombstone / genesis when empty."""
        row = self._conn.execute(
            "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        if row is not None:
            return int(row[0]), str(row[1])
        tombstone = self._latest_tombstone()
        if tombstone is not None:
            return tombstone.through_seq, tombstone.head_hash
        return 0, GENESIS_HASH

    def append(
        self,
        *,
        actor: str,
        role: str,
        action: str,
        target: str,
        purpose: str,
        outcome: Outcome = Outcome.SUCCESS,
        watchlist: str | None = None,
        details: Mapping[str, object] | None = None,
        at: datetime | None = None,
    ) -> AuditRecord:
        """Add an entry at the end of the chain and return it.

        Text fields are stored verbatim (quotes and SQL are harmless as parameters) but must be
        printable and bounded. For a refused request that carried hostile text, pass
        :func:`~watchkeeper.governance.policy.safe_excerpt` of it. The purpose is not
        policy-checked here: refusals of policy-breaking purposes must still be recordable.
        Details are names -> counts or short text, and are policy-checked.

        Raises:
            InvalidInputError: a field is malformed, too long or holds control characters.
            PolicyViolationError: a detail names a protected attribute.
            StoreError: another writer appended at the same moment; retry the transaction.
        """
        moment = datetime.now(UTC) if at is None else _utc(at, "at")
        validate_free_text(actor, "audit actor", _MAX_ACTOR)
        role = _validate_role(role)
        if not isinstance(action, str) or not _ACTION.fullmatch(action) or len(action) > 64:
            raise InvalidInputError(
                f"audit action {safe_excerpt(action, 40)!r} must be a dotted lower-case name "
                "such as 'search.identify'"
            )
        action = str(action)
        validate_free_text(target, "audit target", _MAX_TARGET)
        if watchlist is not None:
            validate_free_text(watchlist, "audit watchlist", _MAX_WATCHLIST)
        validate_free_text(purpose, "audit purpose", _MAX_PURPOSE, allow_newlines=True)
        try:
            outcome = Outcome(outcome)
        except ValueError:
            raise InvalidInputError(
                f"audit outcome must be one of {', '.join(o.value for o in Outcome)}"
            ) from None
        clean = _validate_details(details)

        last_seq, prev_hash = self.head()
        seq = last_seq + 1
        at_text = _iso(moment)
        digest = _entry_hash(
            seq=seq,
            at=at_text,
            actor=actor,
            role=role,
            action=action,
            target=target,
            watchlist=watchlist,
            purpose=purpose,
            outcome=outcome.value,
            details=clean,
            prev_hash=prev_hash,
        )
        try:
            self._conn.execute(
                f"INSERT INTO audit_log ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    seq,
                    at_text,
                    actor,
                    role,
                    action,
                    target,
                    watchlist,
                    purpose,
                    outcome.value,
                    _canonical(clean).decode("utf-8"),
                    prev_hash,
                    digest,
                ),
            )
        except sqlite3.IntegrityError as error:
            # Two writers read the same head: the primary key or the append trigger stops the
            # second, and its whole transaction must be retried, so nothing forks the chain.
            raise StoreError(f"audit append collided with another writer: {error}") from None
        return AuditRecord(
            seq=seq,
            at=_parse_at(at_text),
            actor=actor,
            role=role,
            action=action,
            target=target,
            watchlist=watchlist,
            purpose=purpose,
            outcome=outcome,
            details=MappingProxyType(clean),
            prev_hash=prev_hash,
            hash=digest,
        )

    # -- reading --

    def query(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        watchlist: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        after_seq: int = 0,
        limit: int = 100,
    ) -> AuditPage:
        """Entries matching every given filter, oldest first; ``until`` is exclusive."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= _MAX_PAGE:
            raise InvalidInputError(f"limit must be between 1 and {_MAX_PAGE}")
        if isinstance(after_seq, bool) or not isinstance(after_seq, int) or after_seq < 0:
            raise InvalidInputError("after_seq must be a non-negative whole number")
        clauses = ["seq > ?"]
        params: list[object] = [after_seq]
        for column, value in (("actor", actor), ("action", action), ("watchlist", watchlist)):
            if value is not None:
                if not isinstance(value, str) or len(value) > 256:
                    raise InvalidInputError(f"{column} filter must be text of at most 256 chars")
                clauses.append(f"{column} = ?")
                params.append(value)
        if since is not None:
            clauses.append("at >= ?")
            params.append(_iso(_utc(since, "since")))
        if until is not None:
            clauses.append("at < ?")
            params.append(_iso(_utc(until, "until")))
        rows = self._conn.execute(
            f"SELECT {_COLUMNS} FROM audit_log WHERE {' AND '.join(clauses)} ORDER BY seq LIMIT ?",
            (*params, limit + 1),
        ).fetchall()
        records = tuple(_Row(*row).to_record() for row in rows[:limit])
        more = len(rows) > limit
        return AuditPage(records, records[-1].seq if more and records else None)

    def get(self, seq: int) -> AuditRecord | None:
        """The entry with this seq, or None."""
        row = self._conn.execute(
            f"SELECT {_COLUMNS} FROM audit_log WHERE seq = ?", (seq,)
        ).fetchone()
        return None if row is None else _Row(*row).to_record()

    # -- verification --

    def verify(self) -> ChainReport:
        """Walk the whole chain and report the first break, naming its seq and kind.

        Checks every entry's own hash, its link to the previous entry, that seqs run without
        gaps from genesis (or from the latest tombstone), the tombstones' own chain, and that
        the latest tombstone is attested by a chained ``audit.purge`` entry. Memory stays
        constant however long the log is.
        """
        tombstone_problem, anchor = self._verify_tombstones()
        anchor_seq, anchor_hash = (0, GENESIS_HASH) if anchor is None else anchor
        expected_seq, expected_prev = anchor_seq + 1, anchor_hash
        checked = 0
        first_seq: int | None = None

        def broken(at_seq: int, kind: BreakKind, detail: str) -> ChainReport:
            return ChainReport(
                ok=False,
                entries_checked=checked,
                first_seq=first_seq,
                head_seq=expected_seq - 1,
                head_hash=expected_prev,
                broken_at=at_seq,
                kind=kind,
                detail=detail,
            )

        if tombstone_problem is not None:
            return broken(*tombstone_problem)

        previous: _Row | None = None
        for row, following in self._rows_with_next():
            if first_seq is None:
                first_seq = row.seq
            if row.seq < expected_seq:
                return broken(
                    row.seq,
                    BreakKind.INSERTED,
                    f"entry {row.seq} sits inside the range purged through {anchor_seq}",
                )
            if row.seq > expected_seq:
                missing = (
                    f"entry {expected_seq} is"
                    if row.seq == expected_seq + 1
                    else f"entries {expected_seq} to {row.seq - 1} are"
                )
                return broken(expected_seq, BreakKind.DELETED, f"{missing} missing")
            content_ok = row.recompute() == row.hash
            link_ok = row.prev_hash == expected_prev
            if not (content_ok and link_ok):
                return broken(
                    *self._classify(row, previous, following, content_ok, link_ok, expected_prev)
                )
            checked += 1
            previous = row
            expected_seq, expected_prev = row.seq + 1, row.hash

        if anchor is not None and not self._attested(anchor):
            return broken(
                anchor_seq,
                BreakKind.TOMBSTONE,
                f"the purge through entry {anchor_seq} is not attested by any remaining "
                "audit.purge entry: the tombstone may be forged to hide deleted entries",
            )
        return ChainReport(
            ok=True,
            entries_checked=checked,
            first_seq=first_seq,
            head_seq=expected_seq - 1,
            head_hash=expected_prev,
        )

    def _rows_with_next(self) -> Iterator[tuple[_Row, _Row | None]]:
        cursor = self._conn.execute(f"SELECT {_COLUMNS} FROM audit_log ORDER BY seq")
        previous: _Row | None = None
        for raw in cursor:
            row = _Row(*raw)
            if previous is not None:
                yield previous, row
            previous = row
        if previous is not None:
            yield previous, None

    def _seq_of_hash(self, digest: str) -> int | None:
        row = self._conn.execute(
            "SELECT seq FROM audit_log WHERE hash = ? ORDER BY seq LIMIT 1", (digest,)
        ).fetchone()
        return None if row is None else int(row[0])

    def _classify(
        self,
        row: _Row,
        previous: _Row | None,
        following: _Row | None,
        content_ok: bool,
        link_ok: bool,
        expected_prev: str,
    ) -> tuple[int, BreakKind, str]:
        """Tell apart the ways a chain breaks, from the evidence around the first bad entry."""
        if not link_ok:
            if previous is not None and row.prev_hash == previous.prev_hash:
                return (
                    previous.seq,
                    BreakKind.INSERTED,
                    f"entries {previous.seq} and {row.seq} both link to the same predecessor: "
                    f"entry {previous.seq} was inserted",
                )
            target = self._seq_of_hash(row.prev_hash)
            if target is not None and target > row.seq:
                return (
                    row.seq,
                    BreakKind.REORDERED,
                    f"entry {row.seq} links to entry {target}, which now comes after it",
                )
            if following is not None and following.prev_hash == expected_prev:
                return (
                    row.seq,
                    BreakKind.INSERTED,
                    f"entry {following.seq} links past entry {row.seq}, which was inserted",
                )
        if not content_ok:
            for shift in (*range(1, 17), *range(-1, -17, -1)):
                if row.recompute(row.seq + shift) == row.hash:
                    if shift > 0:
                        return (
                            row.seq,
                            BreakKind.DELETED,
                            f"entry {row.seq} was written as {row.seq + shift}: {shift} "
                            "entries before it were deleted and the rest renumbered",
                        )
                    return (
                        row.seq,
                        BreakKind.INSERTED,
                        f"entry {row.seq} was written as {row.seq + shift}: entries were "
                        "inserted before it and the rest renumbered",
                    )
            return (
                row.seq,
                BreakKind.EDITED,
                f"entry {row.seq} does not match its hash: its content was changed",
            )
        if previous is not None:
            return (
                previous.seq,
                BreakKind.EDITED,
                f"entry {row.seq} no longer links to entry {previous.seq}: entry "
                f"{previous.seq} was rewritten and its hash recomputed",
            )
        return (
            row.seq,
            BreakKind.DELETED,
            f"the first entry ({row.seq}) does not link to the start of the log: earlier "
            "entries were removed or rewritten",
        )

    # -- tombstones and purging --

    def _tombstones(self) -> list[_Tombstone]:
        rows = self._conn.execute(
            "SELECT through_seq, head_hash, purged_count, purged_before, created_at,"
            " prev_tombstone_hash, hash, signature FROM audit_tombstone ORDER BY through_seq"
        ).fetchall()
        return [_Tombstone(*row) for row in rows]

    def _latest_tombstone(self) -> _Tombstone | None:
        tombstones = self._tombstones()
        return tombstones[-1] if tombstones else None

    def _verify_tombstones(
        self,
    ) -> tuple[tuple[int, BreakKind, str] | None, tuple[int, str] | None]:
        prev = GENESIS_HASH
        latest: _Tombstone | None = None
        for tombstone in self._tombstones():
            if tombstone.prev_tombstone_hash != prev or (
                _sha256(tombstone.message()) != tombstone.hash
            ):
                problem = (
                    tombstone.through_seq,
                    BreakKind.TOMBSTONE,
                    f"the tombstone for the purge through entry {tombstone.through_seq} "
                    "was altered",
                )
                return problem, None
            prev = tombstone.hash
            latest = tombstone
        return None, None if latest is None else (latest.through_seq, latest.head_hash)

    def _attested(self, anchor: tuple[int, str]) -> bool:
        through_seq, head_hash = anchor
        rows = self._conn.execute(
            f"SELECT {_COLUMNS} FROM audit_log WHERE action = ? AND seq > ?",
            (AuditAction.AUDIT_PURGE.value, through_seq),
        ).fetchall()
        for raw in rows:
            details = json.loads(_Row(*raw).details)
            if details.get("through_seq") == through_seq and details.get("head_hash") == head_hash:
                return True
        return False

    def purge_before(
        self,
        cutoff: datetime,
        *,
        actor: str,
        role: str,
        purpose: str,
        signing_key: Ed25519PrivateKey | None = None,
        now: datetime | None = None,
    ) -> PurgeResult | None:
        """Remove the oldest entries written before ``cutoff``, leaving a tombstone.

        Only a prefix of the chain can go: the run of oldest entries all older than the cutoff.
        The purge is recorded as an ``audit.purge`` entry first (so the record of it survives),
        then the tombstone is written, then the rows are deleted, all in the caller's
        transaction. Returns None when nothing is old enough.
        """
        moment = datetime.now(UTC) if now is None else _utc(now, "now")
        cutoff = _utc(cutoff, "cutoff")
        if cutoff > moment:
            raise InvalidInputError("cannot purge audit entries newer than now")
        anchor = self._latest_tombstone()
        floor = 0 if anchor is None else anchor.through_seq
        row = self._conn.execute(
            "SELECT MIN(seq) FROM audit_log WHERE at >= ?", (_iso(cutoff),)
        ).fetchone()
        # The first entry at or after the cutoff ends the purgeable prefix.
        through_seq = int(row[0]) - 1 if row[0] is not None else self.head()[0]
        if through_seq <= floor:
            return None
        head_row = self._conn.execute(
            "SELECT hash FROM audit_log WHERE seq = ?", (through_seq,)
        ).fetchone()
        count_row = self._conn.execute(
            "SELECT COUNT(*) FROM audit_log WHERE seq <= ?", (through_seq,)
        ).fetchone()
        if head_row is None:
            raise StoreError(f"audit entry {through_seq} is missing; run `audit verify`")
        head_hash, purged_count = str(head_row[0]), int(count_row[0])

        self.append(
            actor=actor,
            role=role,
            action=AuditAction.AUDIT_PURGE,
            target="audit_log",
            purpose=purpose,
            details={
                "through_seq": through_seq,
                "head_hash": head_hash,
                "purged_count": purged_count,
            },
            at=moment,
        )
        draft = _Tombstone(
            through_seq=through_seq,
            head_hash=head_hash,
            purged_count=purged_count,
            purged_before=_iso(cutoff),
            created_at=_iso(moment),
            prev_tombstone_hash=GENESIS_HASH if anchor is None else anchor.hash,
            hash="",
            signature=None,
        )
        message = draft.message()
        signature = None if signing_key is None else signing_key.sign(message)
        tombstone_hash = _sha256(message)
        self._conn.execute(
            "INSERT INTO audit_tombstone (through_seq, head_hash, purged_count, purged_before,"
            " created_at, prev_tombstone_hash, hash, signature) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                draft.through_seq,
                draft.head_hash,
                draft.purged_count,
                draft.purged_before,
                draft.created_at,
                draft.prev_tombstone_hash,
                tombstone_hash,
                signature,
            ),
        )
        self._conn.execute("DELETE FROM audit_log WHERE seq <= ?", (through_seq,))
        logger.info("purged %d audit entries through seq %d", purged_count, through_seq)
        return PurgeResult(through_seq, purged_count, tombstone_hash)

    # -- checkpoints --

    def export_checkpoint(
        self, private_key: Ed25519PrivateKey, now: datetime | None = None
    ) -> Checkpoint:
        """Sign the current head. Keep the result (``to_json``) away from the data."""
        if not isinstance(private_key, Ed25519PrivateKey):
            raise InvalidInputError("checkpoints are signed with an Ed25519 private key")
        seq, head_hash = self.head()
        moment = datetime.now(UTC) if now is None else _utc(now, "now")
        unsigned = Checkpoint(
            seq=seq,
            head_hash=head_hash,
            at=moment,
            key_id=_key_id(private_key.public_key()),
            signature=b"",
        )
        return Checkpoint(
            seq=seq,
            head_hash=head_hash,
            at=moment,
            key_id=unsigned.key_id,
            signature=private_key.sign(unsigned.message()),
        )

    def verify_against_checkpoint(
        self, checkpoint: Checkpoint, public_key: Ed25519PublicKey
    ) -> CheckpointReport:
        """Check the signature, the chain, and that the checkpointed head is still in place.

        A rewrite that recomputed every hash passes :meth:`verify` but changes (or removes) the
        entry at ``checkpoint.seq``, which this catches. Changes made only *after* the
        checkpoint need a newer checkpoint to be caught. If a purge has since removed the
        checkpointed entry, only a tombstone signed by the same key can stand in for it.
        """
        try:
            public_key.verify(checkpoint.signature, checkpoint.message())
        except InvalidSignature:
            return CheckpointReport(
                CheckpointStatus.MISMATCH,
                "the checkpoint's signature does not match this key: it was altered or "
                "signed by another key",
            )
        chain = self.verify()
        if not chain.ok:
            return CheckpointReport(CheckpointStatus.MISMATCH, chain.summary(), chain)
        if checkpoint.seq == 0:
            if checkpoint.head_hash != GENESIS_HASH:
                return CheckpointReport(
                    CheckpointStatus.MISMATCH, "checkpoint of an empty log has a bad hash", chain
                )
            return CheckpointReport(CheckpointStatus.VERIFIED, "checkpoint of an empty log", chain)
        row = self._conn.execute(
            "SELECT hash FROM audit_log WHERE seq = ?", (checkpoint.seq,)
        ).fetchone()
        if row is not None:
            if row[0] == checkpoint.head_hash:
                return CheckpointReport(
                    CheckpointStatus.VERIFIED,
                    f"entry {checkpoint.seq} still has the checkpointed hash, and the chain "
                    f"from it to the head (seq {chain.head_seq}) is intact",
                    chain,
                )
            return CheckpointReport(
                CheckpointStatus.MISMATCH,
                f"entry {checkpoint.seq} has a different hash than at the checkpoint: the log "
                "was rewritten",
                chain,
            )
        if checkpoint.seq > chain.head_seq:
            return CheckpointReport(
                CheckpointStatus.MISMATCH,
                f"the log ends at seq {chain.head_seq} but the checkpoint saw seq "
                f"{checkpoint.seq}: entries were removed from the end",
                chain,
            )
        return self._check_purged_checkpoint(checkpoint, public_key, chain)

    def _check_purged_checkpoint(
        self, checkpoint: Checkpoint, public_key: Ed25519PublicKey, chain: ChainReport
    ) -> CheckpointReport:
        for tombstone in self._tombstones():
            if tombstone.through_seq < checkpoint.seq:
                continue
            if tombstone.through_seq == checkpoint.seq:
                if tombstone.head_hash == checkpoint.head_hash:
                    return CheckpointReport(
                        CheckpointStatus.VERIFIED,
                        "the checkpointed entry was purged; its hash matches the tombstone",
                        chain,
                    )
                return CheckpointReport(
                    CheckpointStatus.MISMATCH,
                    "the tombstone at the checkpointed entry has a different hash",
                    chain,
                )
            if tombstone.signature is not None:
                try:
                    public_key.verify(tombstone.signature, tombstone.message())
                except InvalidSignature:
                    break
                return CheckpointReport(
                    CheckpointStatus.VERIFIED,
                    f"the checkpointed entry was purged; the purge through entry "
                    f"{tombstone.through_seq} is signed by the checkpoint key",
                    chain,
                )
            break
        return CheckpointReport(
            CheckpointStatus.UNVERIFIABLE,
            f"entry {checkpoint.seq} was purged and no tombstone signed by this key covers it; "
            "verify against a checkpoint taken after the purge",
            chain,
        )


# --- signing keys --------------------------------------------------------------------------------


def generate_signing_key(private_path: Path, *, data_dir: Path | None = None) -> Ed25519PublicKey:
    """Create an Ed25519 key pair for checkpoints; returns the public key.

    The private key goes to ``private_path`` (mode 0600, never overwritten) and the public key
    next to it with a ``.pub`` suffix. A key kept inside the data directory would let whoever
    can rewrite the log also re-sign it, so such a path is refused.
    """
    private_path = Path(private_path)
    if data_dir is not None:
        resolved = private_path.expanduser().resolve()
        if resolved.is_relative_to(Path(data_dir).expanduser().resolve()):
            raise ConfigError(
                f"the audit signing key must live outside the data directory {data_dir}; "
                "anyone who can rewrite the log must not be able to re-sign it"
            )
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(f"{private_path} already exists; refusing to overwrite a key") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    os.chmod(private_path, 0o600)  # umask cannot widen it, but be explicit
    public = key.public_key()
    public_path = private_path.with_name(private_path.name + ".pub")
    public_path.write_bytes(
        public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return public


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """Read a private key written by :func:`generate_signing_key`; refuses loose permissions."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
        if mode & 0o077:
            raise ConfigError(
                f"{path} is readable by others (mode {mode & 0o777:o}); run chmod 600 on it"
            )
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as error:
        raise ConfigError(f"cannot read the audit signing key {path}: {error}") from None
    except ValueError as error:
        raise ConfigError(f"{path} is not a PEM private key: {error}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{path} is not an Ed25519 key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """Read a public key (PEM) for verifying checkpoints."""
    path = Path(path)
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except OSError as error:
        raise ConfigError(f"cannot read the audit public key {path}: {error}") from None
    except ValueError as error:
        raise ConfigError(f"{path} is not a PEM public key: {error}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"{path} is not an Ed25519 key")
    return key
