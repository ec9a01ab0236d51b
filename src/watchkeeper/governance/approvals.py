"""Four-eyes approval of watchlist changes and retrospective footage searches.

One person asks, another with :attr:`Permission.APPROVALS_APPROVE` decides, and the requester can
never approve their own request. An approval is used once (:meth:`ApprovalBook.consume`), for
the kind it was granted for, by the person who asked. A site may switch four-eyes off, but only
through :class:`FourEyesSetting`, which writes the change to the audit log.

Every step that succeeds writes its audit record in the caller's transaction. Refusals raise;
the service layer records them after rolling back, since a record written inside the failed
transaction would be rolled back with it.

Example:
    >>> import sqlite3
    >>> from watchkeeper.governance.authz import Principal, Role
    >>> conn = sqlite3.connect(":memory:")
    >>> book = ApprovalBook(conn, AuditLog(conn))
    >>> ops = Principal("u1", "olga", frozenset({Role.OPERATOR}))
    >>> boss = Principal("u2", "ade", frozenset({Role.ADMIN}))
    >>> rid = book.request(ApprovalKind.WATCHLIST_CREATE, "Shoplifting, store 12, 30 days", ops)
    >>> book.approve(rid, boss).status
    <ApprovalStatus.APPROVED: 'approved'>
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType

from watchkeeper.core.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from watchkeeper.governance.audit import AuditAction, AuditLog, Outcome
from watchkeeper.governance.authz import Permission, Principal, require
from watchkeeper.governance.policy import check_text, safe_excerpt, validate_free_text

__all__ = [
    "ApprovalBook",
    "ApprovalKind",
    "ApprovalRequest",
    "ApprovalStatus",
    "FourEyesSetting",
    "ensure_schema",
]

_MAX_SUMMARY = 1000
_MAX_REASON = 1000


class ApprovalKind(StrEnum):
    """What needs a second person's approval."""

    WATCHLIST_CREATE = "watchlist.create"
    WATCHLIST_WIDEN = "watchlist.widen"
    WATCHLIST_EXTEND = "watchlist.extend"
    FOOTAGE_SEARCH = "search.footage"


# Only someone who could do the thing may ask for it.
REQUEST_PERMISSION: Mapping[ApprovalKind, Permission] = MappingProxyType(
    {
        ApprovalKind.WATCHLIST_CREATE: Permission.WATCHLIST_CREATE,
        ApprovalKind.WATCHLIST_WIDEN: Permission.WATCHLIST_MANAGE,
        ApprovalKind.WATCHLIST_EXTEND: Permission.WATCHLIST_MANAGE,
        ApprovalKind.FOOTAGE_SEARCH: Permission.SEARCH_FOOTAGE,
    }
)


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    USED = "used"


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    """One request and, once decided, its decision."""

    request_id: str
    kind: ApprovalKind
    summary: str
    requester_id: str
    requester_name: str
    status: ApprovalStatus
    created_at: datetime
    decided_by_id: str | None = None
    decided_by_name: str | None = None
    decided_at: datetime | None = None
    reason: str | None = None


_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS gov_approvals (
        request_id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        summary TEXT NOT NULL,
        requester_id TEXT NOT NULL,
        requester_name TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at TEXT NOT NULL,
        decided_by_id TEXT,
        decided_by_name TEXT,
        decided_at TEXT,
        reason TEXT,
        used_at TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS gov_approvals_status ON gov_approvals(status, created_at)",
    """CREATE TABLE IF NOT EXISTS gov_settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        changed_at TEXT NOT NULL,
        changed_by TEXT NOT NULL
    )""",
)

_COLUMNS = (
    "request_id, kind, summary, requester_id, requester_name, status, created_at,"
    " decided_by_id, decided_by_name, decided_at, reason"
)


def ensure_schema(conn: sqlite3.Connection) -> None:
    """Create the approval and settings tables if missing (no commit)."""
    for statement in _SCHEMA:
        conn.execute(statement)


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if not isinstance(now, datetime) or now.tzinfo is None:
        raise InvalidInputError("now must be a timezone-aware datetime")
    return now.astimezone(UTC)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


def _from_row(row: tuple[object, ...]) -> ApprovalRequest:
    def when(value: object) -> datetime | None:
        return None if value is None else datetime.fromisoformat(str(value))

    created = when(row[6])
    if created is None:
        raise NotFoundError("approval request has no creation time")
    return ApprovalRequest(
        request_id=str(row[0]),
        kind=ApprovalKind(str(row[1])),
        summary=str(row[2]),
        requester_id=str(row[3]),
        requester_name=str(row[4]),
        status=ApprovalStatus(str(row[5])),
        created_at=created,
        decided_by_id=None if row[7] is None else str(row[7]),
        decided_by_name=None if row[8] is None else str(row[8]),
        decided_at=when(row[9]),
        reason=None if row[10] is None else str(row[10]),
    )


class ApprovalBook:
    """Four-eyes requests on the caller's connection, audited in the caller's transaction."""

    def __init__(self, conn: sqlite3.Connection, audit: AuditLog) -> None:
        self._conn = conn
        self._audit = audit
        ensure_schema(conn)

    def request(
        self,
        kind: ApprovalKind,
        summary: str,
        requester: Principal,
        now: datetime | None = None,
    ) -> str:
        """Open a request and return its id.

        ``summary`` says what is asked and why (watchlist, scope, period, legal basis); it is
        shown to the approver and written to the audit log, so it must not name protected
        attributes.
        """
        try:
            kind = ApprovalKind(kind)
        except ValueError:
            raise InvalidInputError(
                f"unknown approval kind {safe_excerpt(kind, 40)!r}; kinds are "
                f"{', '.join(k.value for k in ApprovalKind)}"
            ) from None
        require(requester, REQUEST_PERMISSION[kind])
        validate_free_text(summary, "approval summary", _MAX_SUMMARY, allow_newlines=True)
        check_text(summary)
        moment = _now(now)
        request_id = uuid.uuid4().hex
        self._conn.execute(
            "INSERT INTO gov_approvals (request_id, kind, summary, requester_id, requester_name,"
            " status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                request_id,
                kind.value,
                summary,
                requester.user_id,
                requester.username,
                ApprovalStatus.PENDING.value,
                _iso(moment),
            ),
        )
        self._audit.append(
            actor=requester.username,
            role=requester.role_names,
            action=AuditAction.APPROVAL_REQUEST,
            target=f"approval:{request_id}",
            purpose=summary,
            details={"kind": kind.value},
            at=moment,
        )
        return request_id

    def status(self, request_id: str) -> ApprovalRequest:
        """The request as it stands now."""
        row = self._conn.execute(
            f"SELECT {_COLUMNS} FROM gov_approvals WHERE request_id = ?", (request_id,)
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no approval request {safe_excerpt(request_id, 40)!r}")
        return _from_row(row)

    def pending(self, limit: int = 100) -> tuple[ApprovalRequest, ...]:
        """Open requests, oldest first."""
        if not 1 <= limit <= 1000:
            raise InvalidInputError("limit must be between 1 and 1000")
        rows = self._conn.execute(
            f"SELECT {_COLUMNS} FROM gov_approvals WHERE status = ? ORDER BY created_at LIMIT ?",
            (ApprovalStatus.PENDING.value, limit),
        ).fetchall()
        return tuple(_from_row(row) for row in rows)

    def approve(
        self,
        request_id: str,
        approver: Principal,
        reason: str = "",
        now: datetime | None = None,
    ) -> ApprovalRequest:
        """Approve a pending request.

        Raises:
            PermissionDeniedError: the approver lacks ``approvals.approve`` or asked for it.
            InvalidInputError: the request was already decided.
        """
        return self._decide(request_id, approver, ApprovalStatus.APPROVED, reason, now)

    def reject(
        self,
        request_id: str,
        approver: Principal,
        reason: str,
        now: datetime | None = None,
    ) -> ApprovalRequest:
        """Reject a pending request; a reason is required so the requester learns why."""
        validate_free_text(reason, "rejection reason", _MAX_REASON, allow_newlines=True)
        return self._decide(request_id, approver, ApprovalStatus.REJECTED, reason, now)

    def _decide(
        self,
        request_id: str,
        approver: Principal,
        decision: ApprovalStatus,
        reason: str,
        now: datetime | None,
    ) -> ApprovalRequest:
        require(approver, Permission.APPROVALS_APPROVE)
        validate_free_text(reason, "reason", _MAX_REASON, allow_newlines=True, allow_empty=True)
        check_text(reason)
        current = self.status(request_id)
        if current.requester_id == approver.user_id:
            raise PermissionDeniedError(
                "four-eyes rule: you cannot decide your own request; another approver must"
            )
        if current.status is not ApprovalStatus.PENDING:
            raise InvalidInputError(
                f"approval request {request_id} is already {current.status.value}"
            )
        moment = _now(now)
        cursor = self._conn.execute(
            "UPDATE gov_approvals SET status = ?, decided_by_id = ?, decided_by_name = ?,"
            " decided_at = ?, reason = ? WHERE request_id = ? AND status = ?",
            (
                decision.value,
                approver.user_id,
                approver.username,
                _iso(moment),
                reason or None,
                request_id,
                ApprovalStatus.PENDING.value,
            ),
        )
        if cursor.rowcount != 1:
            raise InvalidInputError(f"approval request {request_id} was decided meanwhile")
        self._audit.append(
            actor=approver.username,
            role=approver.role_names,
            action=(
                AuditAction.APPROVAL_APPROVE
                if decision is ApprovalStatus.APPROVED
                else AuditAction.APPROVAL_REJECT
            ),
            target=f"approval:{request_id}",
            purpose=reason or current.summary,
            details={"kind": current.kind.value, "requester": current.requester_name},
            at=moment,
        )
        return self.status(request_id)

    def consume(
        self,
        request_id: str,
        kind: ApprovalKind,
        principal: Principal,
        now: datetime | None = None,
    ) -> ApprovalRequest:
        """Mark an approved request as used, once, by its requester, for its kind.

        The service calls this in the same transaction as the approved change.

        Raises:
            PermissionDeniedError: not approved, already used, another kind, or another person.
        """
        current = self.status(request_id)
        if current.kind is not ApprovalKind(kind):
            raise PermissionDeniedError(
                f"approval {request_id} was granted for {current.kind.value}, not {kind}"
            )
        if current.requester_id != principal.user_id:
            raise PermissionDeniedError(
                f"approval {request_id} was granted to {current.requester_name}, not to you"
            )
        if current.status is not ApprovalStatus.APPROVED:
            raise PermissionDeniedError(
                f"approval {request_id} is {current.status.value}, not approved"
            )
        cursor = self._conn.execute(
            "UPDATE gov_approvals SET status = ?, used_at = ? WHERE request_id = ? AND status = ?",
            (
                ApprovalStatus.USED.value,
                _iso(_now(now)),
                request_id,
                ApprovalStatus.APPROVED.value,
            ),
        )
        if cursor.rowcount != 1:
            raise PermissionDeniedError(f"approval {request_id} was used meanwhile")
        return self.status(request_id)


class FourEyesSetting:
    """Whether four-eyes approval is required at this site (on unless switched off).

    Reading is free; changing it needs ``settings.change``, a reason, and writes a
    ``settings.change`` audit record in the caller's transaction.
    """

    KEY = "four_eyes"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        ensure_schema(conn)

    def enabled(self) -> bool:
        row = self._conn.execute(
            "SELECT value FROM gov_settings WHERE key = ?", (self.KEY,)
        ).fetchone()
        # Anything but an explicit "off" means on: a damaged value fails safe.
        return row is None or row[0] != "off"

    def set(
        self,
        enabled: bool,
        principal: Principal,
        audit: AuditLog,
        reason: str,
        now: datetime | None = None,
    ) -> None:
        """Switch four-eyes on or off, recording who, when, why and from what to what."""
        if not isinstance(enabled, bool):
            raise InvalidInputError("four-eyes setting must be true or false")
        require(principal, Permission.SETTINGS_CHANGE)
        validate_free_text(reason, "reason", _MAX_REASON, allow_newlines=True)
        check_text(reason)
        moment = _now(now)
        before = "on" if self.enabled() else "off"
        after = "on" if enabled else "off"
        self._conn.execute(
            "INSERT INTO gov_settings (key, value, changed_at, changed_by) VALUES (?, ?, ?, ?)"
            " ON CONFLICT(key) DO UPDATE SET value = excluded.value,"
            " changed_at = excluded.changed_at, changed_by = excluded.changed_by",
            (self.KEY, after, _iso(moment), principal.username),
        )
        audit.append(
            actor=principal.username,
            role=principal.role_names,
            action=AuditAction.SETTINGS_CHANGE,
            target=f"setting:{self.KEY}",
            purpose=reason,
            outcome=Outcome.SUCCESS,
            details={"setting": self.KEY, "from_value": before, "to_value": after},
            at=moment,
        )
