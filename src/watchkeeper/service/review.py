"""The review queue as governed use-cases: list, look (audited), confirm, reject, measure."""

from __future__ import annotations

from dataclasses import dataclass

from watchkeeper.events.outbox import EventLog
from watchkeeper.governance.audit import AuditAction
from watchkeeper.governance.authz import Permission, Principal
from watchkeeper.governance.review import (
    ReviewCandidate,
    ReviewCounts,
    ReviewQueue,
    ReviewStatus,
)
from watchkeeper.service.site import Site
from watchkeeper.service.video import external_sinks, record_alert


@dataclass(frozen=True, slots=True)
class CandidateView:
    """A candidate with the probe face and the enrolled face that matched it (JPEG bytes)."""

    candidate: ReviewCandidate
    probe_jpeg: bytes | None
    enrolled_jpeg: bytes | None


class Review:
    def __init__(self, site: Site) -> None:
        self._site = site

    def list(
        self,
        principal: Principal,
        status: ReviewStatus | None = ReviewStatus.PENDING,
        watchlist: str | None = None,
        limit: int = 100,
    ) -> tuple[ReviewCandidate, ...]:
        """Candidates of one status (pending by default; confirmed ones are the alerts)."""
        with self._site.act(
            principal,
            "review.list",
            "review_queue",
            permission=Permission.REVIEW_VIEW,
            watchlist=watchlist,
        ) as act:
            found = ReviewQueue(act.conn, act.audit_log).list(status, watchlist, limit)
            act.record(
                details={"candidates": len(found), "status": status.value if status else "all"}
            )
            return found

    def show(self, principal: Principal, candidate_id: str) -> CandidateView:
        """One candidate with both faces: a view of biometric data, audited."""
        with self._site.act(
            principal,
            AuditAction.BIOMETRIC_VIEW,
            f"candidate:{candidate_id}",
            permission=Permission.REVIEW_VIEW,
            purpose="review a candidate match",
        ) as act:
            queue = ReviewQueue(act.conn, act.audit_log)
            candidate = queue.get(candidate_id)
            blob, key_id = queue.probe_crop(candidate_id)
            probe = (
                None
                if blob is None
                else self._site.store.open_blob(blob, candidate_id + "/probe", key_id)
            )
            enrolled = self._site.store.template_crop(candidate.template_id)
            act.record(
                watchlist=candidate.watchlist,
                details={"identity": candidate.identity_id, "faces_shown": 2},
            )
            return CandidateView(candidate, probe, enrolled)

    def decide(
        self, principal: Principal, candidate_id: str, confirm: bool, note: str = ""
    ) -> ReviewCandidate:
        """Confirm (it becomes an alert) or reject (a measured false match)."""
        with self._site.act(
            principal,
            AuditAction.REVIEW_DECIDE,
            f"candidate:{candidate_id}",
            permission=Permission.REVIEW_DECIDE,
            purpose=note if isinstance(note, str) else "",
        ) as act:
            # The queue writes the review.decide record in this transaction.
            decided = ReviewQueue(act.conn, act.audit_log).decide(
                candidate_id,
                confirm,
                principal,
                note,
                forbid_own_search=self._site.four_eyes(),
                now=act.at,
            )
            if decided.status is ReviewStatus.CONFIRMED:
                # The alert is stored, and owed to every external sink, in the same
                # transaction as the confirmation: it cannot be confirmed and then lost.
                record_alert(EventLog(act.conn), decided, external_sinks(self._site))
            return decided

    def confirm(self, principal: Principal, candidate_id: str, note: str = "") -> ReviewCandidate:
        return self.decide(principal, candidate_id, True, note)

    def reject(self, principal: Principal, candidate_id: str, note: str = "") -> ReviewCandidate:
        return self.decide(principal, candidate_id, False, note)

    def counts(self, principal: Principal) -> tuple[ReviewCounts, ...]:
        """Per watchlist: pending, confirmed, rejected, and the measured false-match rate."""
        with self._site.act(
            principal, "review.counts", "review_queue", permission=Permission.REVIEW_VIEW
        ) as act:
            counts = ReviewQueue(act.conn, act.audit_log).counts()
            act.record(details={"watchlists": len(counts)})
            return counts
