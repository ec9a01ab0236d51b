"""Human review: every 1:N match is a candidate until a reviewer confirms or rejects it.

A confirmed candidate is an alert; a rejected one is a measured false match. The confirmed and
rejected counts per watchlist give the false-match rate the site actually sees, which is what a
transparency report should show rather than the rate the threshold was calibrated for.

Like the other governance stores this works on the caller's connection and never commits; the
decision's audit record goes into the caller's transaction.

Example:
    >>> import sqlite3
    >>> from watchkeeper.governance.audit import AuditLog
    >>> conn = sqlite3.connect(":memory:")
    >>> queue = ReviewQueue(conn, AuditLog(conn))
    >>> cid = queue.add(watchlist="staff", gallery_id="g1", identity_id="i1", display_name="Ada",
    ...                 template_id="t1", similarity=0.93, threshold=0.9, probe_source="door.jpg",
    ...                 searched_by="ines", purpose="case 17")
    >>> queue.get(cid).status
    <ReviewStatus.PENDING: 'pending'>
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from watchkeeper.core.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from watchkeeper.governance.audit import AuditAction, AuditLog
from watchkeeper.governance.authz import Permission, Principal, require
from watchkeeper.governance.policy import check_text, safe_excerpt, validate_free_text

__all__ = [
    "ReviewCandidate",
    "ReviewCounts",
    "ReviewQueue",
    "ReviewStatus",
    "ensure_schema",
]

_MAX_NOTE = 1000


class ReviewStatus(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class ReviewCandidate:
    """One candidate match waiting for, or carrying, a reviewer's decision."""

    candidate_id: str
    created_at: datetime
    watchlist: str
    gallery_id: str
    identity_id: str
    display_name: str
    template_id: str
    similarity: float
    threshold: float
    probe_source: str
    searched_by: str
    purpose: str
    status: ReviewStatus
    decided_by: str | None = None
    decided_at: datetime | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class ReviewCounts:
    """Decisions on one watchlist's candidates."""

    watchlist: str
    pending: int
    confirmed: int
    rejected: int

    @property
    def measured_fmr(self) -> float | None:
        """Share of decided candidates a reviewer rejected; None before any decision."""
        decided = self.confirmed + self.rejected
        return None if decided == 0 else self.rejected / decided


_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS review_candidates (
        candidate_id TEXT PRIMARY KEY,
        created_at TEXT NOT NULL,
        watchlist TEXT NOT NULL,
        gallery_id TEXT NOT NULL,
        identity_id TEXT NOT NULL,
        display_name TEXT NOT NULL,
        template_id TEXT NOT NULL,
        similarity REAL NOT NULL,
        threshold REAL NOT NULL,
        probe_source TEXT NOT NULL,
        probe_crop BLOB,
        crop_key_id TEXT,
        searched_by TEXT NOT NULL,
        purpose TEXT NOT NULL,
        status TEXT NOT NULL,
        decided_by TEXT,
        decided_at TEXT,
        note TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS review_by_status ON review_candidates(status, created_at)",
    "CREATE INDEX IF NOT EXISTS review_by_identity ON review_candidates(identity_id)",
    "CREATE INDEX IF NOT EXISTS review_by_gallery ON review_candidates(gallery_id, created_at)",
)

_COLUMNS = (
    "candidate_id, created_at, watchlist, gallery_id, identity_id, display_name, template_id,"
    " similarity, threshold, probe_source, searched_by, purpose, status, decided_by, decided_at,"
    " note"
)


def ensure_schema(conn: sqlite3.Connection) -> None:
    """Create the review table if missing (no commit)."""
    for statement in _SCHEMA:
        conn.execute(statement)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise InvalidInputError("now must be a timezone-aware datetime")
    return now.astimezone(UTC)


def _from_row(row: tuple[object, ...]) -> ReviewCandidate:
    return ReviewCandidate(
        candidate_id=str(row[0]),
        created_at=datetime.fromisoformat(str(row[1])),
        watchlist=str(row[2]),
        gallery_id=str(row[3]),
        identity_id=str(row[4]),
        display_name=str(row[5]),
        template_id=str(row[6]),
        similarity=float(str(row[7])),
        threshold=float(str(row[8])),
        probe_source=str(row[9]),
        searched_by=str(row[10]),
        purpose=str(row[11]),
        status=ReviewStatus(str(row[12])),
        decided_by=None if row[13] is None else str(row[13]),
        decided_at=None if row[14] is None else datetime.fromisoformat(str(row[14])),
        note=None if row[15] is None else str(row[15]),
    )


def new_candidate_id() -> str:
    return f"cand_{uuid.uuid4().hex[:20]}"


class ReviewQueue:
    """Candidates on the caller's connection; decisions audited in the caller's transaction."""

    def __init__(self, conn: sqlite3.Connection, audit: AuditLog) -> None:
        self._conn = conn
        self._audit = audit
        ensure_schema(conn)

    def add(
        self,
        *,
        watchlist: str,
        gallery_id: str,
        identity_id: str,
        display_name: str,
        template_id: str,
        similarity: float,
        threshold: float,
        probe_source: str,
        searched_by: str,
        purpose: str,
        probe_crop: bytes | None = None,
        crop_key_id: str | None = None,
        candidate_id: str | None = None,
        now: datetime | None = None,
    ) -> str:
        """Queue one candidate; ``probe_crop`` is stored as given (seal it first if needed)."""
        cid = candidate_id or new_candidate_id()
        self._conn.execute(
            "INSERT INTO review_candidates (candidate_id, created_at, watchlist, gallery_id,"
            " identity_id, display_name, template_id, similarity, threshold, probe_source,"
            " probe_crop, crop_key_id, searched_by, purpose, status)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                cid,
                _iso(_now(now)),
                watchlist,
                gallery_id,
                identity_id,
                display_name,
                template_id,
                float(similarity),
                float(threshold),
                probe_source,
                probe_crop,
                crop_key_id,
                searched_by,
                purpose,
                ReviewStatus.PENDING.value,
            ),
        )
        return cid

    def get(self, candidate_id: str) -> ReviewCandidate:
        row = self._conn.execute(
            f"SELECT {_COLUMNS} FROM review_candidates WHERE candidate_id = ?", (candidate_id,)
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no review candidate {safe_excerpt(candidate_id, 40)!r}")
        return _from_row(row)

    def probe_crop(self, candidate_id: str) -> tuple[bytes | None, str | None]:
        """The stored probe crop (possibly sealed) and the key id it was sealed with."""
        row = self._conn.execute(
            "SELECT probe_crop, crop_key_id FROM review_candidates WHERE candidate_id = ?",
            (candidate_id,),
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no review candidate {safe_excerpt(candidate_id, 40)!r}")
        return (None if row[0] is None else bytes(row[0])), row[1]

    def list(
        self,
        status: ReviewStatus | None = None,
        watchlist: str | None = None,
        limit: int = 100,
    ) -> tuple[ReviewCandidate, ...]:
        """Candidates, oldest first, optionally of one status and watchlist."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise InvalidInputError("limit must be between 1 and 1000")
        clauses, params = ["1 = 1"], []
        if status is not None:
            clauses.append("status = ?")
            params.append(ReviewStatus(status).value)
        if watchlist is not None:
            clauses.append("watchlist = ?")
            params.append(watchlist)
        rows = self._conn.execute(
            f"SELECT {_COLUMNS} FROM review_candidates WHERE {' AND '.join(clauses)}"
            " ORDER BY created_at LIMIT ?",
            (*params, limit),
        ).fetchall()
        return tuple(_from_row(row) for row in rows)

    def decide(
        self,
        candidate_id: str,
        confirm: bool,
        reviewer: Principal,
        note: str = "",
        *,
        forbid_own_search: bool = True,
        now: datetime | None = None,
    ) -> ReviewCandidate:
        """Confirm (an alert) or reject (a false match) a pending candidate.

        With four-eyes on, whoever ran the search cannot review its candidates.

        Raises:
            PermissionDeniedError: no ``review.decide``, or reviewing one's own search.
            InvalidInputError: already decided, or a bad note.
        """
        require(reviewer, Permission.REVIEW_DECIDE)
        validate_free_text(note, "review note", _MAX_NOTE, allow_newlines=True, allow_empty=True)
        check_text(note)
        current = self.get(candidate_id)
        if forbid_own_search and current.searched_by == reviewer.username:
            raise PermissionDeniedError(
                "four-eyes rule: you ran this search, so another reviewer must decide on it"
            )
        if current.status is not ReviewStatus.PENDING:
            raise InvalidInputError(f"candidate {candidate_id} is already {current.status.value}")
        decision = ReviewStatus.CONFIRMED if confirm else ReviewStatus.REJECTED
        moment = _now(now)
        cursor = self._conn.execute(
            "UPDATE review_candidates SET status = ?, decided_by = ?, decided_at = ?, note = ?"
            " WHERE candidate_id = ? AND status = ?",
            (
                decision.value,
                reviewer.username,
                _iso(moment),
                note or None,
                candidate_id,
                ReviewStatus.PENDING.value,
            ),
        )
        if cursor.rowcount != 1:
            raise InvalidInputError(f"candidate {candidate_id} was decided meanwhile")
        self._audit.append(
            actor=reviewer.username,
            role=reviewer.role_names,
            action=AuditAction.REVIEW_DECIDE,
            target=f"candidate:{candidate_id}",
            watchlist=current.watchlist,
            purpose=note or current.purpose,
            details={
                "decision": decision.value,
                "identity": current.identity_id,
                "searched_by": current.searched_by,
            },
            at=moment,
        )
        return self.get(candidate_id)

    def counts(self) -> tuple[ReviewCounts, ...]:
        """Pending, confirmed and rejected candidates per watchlist, by watchlist name."""
        rows = self._conn.execute(
            "SELECT watchlist, status, COUNT(*) FROM review_candidates GROUP BY watchlist, status"
        ).fetchall()
        table: dict[str, dict[str, int]] = {}
        for watchlist, status, n in rows:
            table.setdefault(str(watchlist), {})[str(status)] = int(n)
        return tuple(
            ReviewCounts(
                name,
                by.get(ReviewStatus.PENDING.value, 0),
                by.get(ReviewStatus.CONFIRMED.value, 0),
                by.get(ReviewStatus.REJECTED.value, 0),
            )
            for name, by in sorted(table.items())
        )

    def delete_for_identities(self, identity_ids: Iterable[str]) -> int:
        """Remove every candidate naming one of these identities (erasure)."""
        removed = 0
        for identity_id in identity_ids:
            removed += self._conn.execute(
                "DELETE FROM review_candidates WHERE identity_id = ?", (identity_id,)
            ).rowcount
        return removed

    def purge_before(self, gallery_id: str, cutoff: datetime) -> int:
        """Remove one watchlist's candidates created before ``cutoff`` (retention)."""
        return self._conn.execute(
            "DELETE FROM review_candidates WHERE gallery_id = ? AND created_at < ?",
            (gallery_id, _iso(cutoff)),
        ).rowcount

    def purge_orphans_before(self, known_gallery_ids: Iterable[str], cutoff: datetime) -> int:
        """Remove candidates of galleries that no longer exist, created before ``cutoff``."""
        known = set(known_gallery_ids)
        rows = self._conn.execute(
            "SELECT DISTINCT gallery_id FROM review_candidates WHERE created_at < ?",
            (_iso(cutoff),),
        ).fetchall()
        removed = 0
        for (gallery_id,) in rows:
            if gallery_id not in known:
                removed += self.purge_before(str(gallery_id), cutoff)
        return removed
