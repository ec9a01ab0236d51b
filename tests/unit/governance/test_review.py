"""The review queue on a bare connection: decisions, counts, erasure and retention helpers."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from watchkeeper.core.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from watchkeeper.governance.audit import AuditLog
from watchkeeper.governance.authz import Principal, Role
from watchkeeper.governance.review import ReviewQueue, ReviewStatus

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
REVIEWER = Principal("u1", "rui", frozenset({Role.REVIEWER}))
SEARCHER = Principal("u2", "ines", frozenset({Role.INVESTIGATOR, Role.REVIEWER}))


@pytest.fixture
def queue() -> ReviewQueue:
    conn = sqlite3.connect(":memory:")
    return ReviewQueue(conn, AuditLog(conn))


def add(queue: ReviewQueue, identity: str = "i1", watchlist: str = "w", **kw: object) -> str:
    fields: dict[str, object] = {
        "watchlist": watchlist,
        "gallery_id": f"g-{watchlist}",
        "identity_id": identity,
        "display_name": "Ada",
        "template_id": "t1",
        "similarity": 0.95,
        "threshold": 0.9,
        "probe_source": "door.jpg",
        "searched_by": "ines",
        "purpose": "case 7",
        "now": NOW,
    }
    fields.update(kw)
    return queue.add(**fields)  # type: ignore[arg-type]


def test_decisions_are_audited_and_final(queue: ReviewQueue) -> None:
    cid = add(queue, probe_crop=b"jpeg")
    decided = queue.decide(cid, True, REVIEWER, "same person", now=NOW)
    assert decided.status is ReviewStatus.CONFIRMED and decided.decided_by == "rui"
    assert queue.probe_crop(cid) == (b"jpeg", None)
    with pytest.raises(InvalidInputError, match="already confirmed"):
        queue.decide(cid, False, REVIEWER, now=NOW)
    record = queue._audit.get(1)
    assert record is not None and record.action == "review.decide"
    assert record.details["decision"] == "confirmed" and record.watchlist == "w"


def test_searchers_cannot_review_their_own_search_under_four_eyes(queue: ReviewQueue) -> None:
    cid = add(queue)
    with pytest.raises(PermissionDeniedError, match="another reviewer"):
        queue.decide(cid, True, SEARCHER, now=NOW)
    assert queue.decide(cid, True, SEARCHER, forbid_own_search=False, now=NOW).status.value == (
        "confirmed"
    )


def test_only_reviewers_decide(queue: ReviewQueue) -> None:
    cid = add(queue)
    auditor = Principal("u3", "aud", frozenset({Role.AUDITOR}))
    with pytest.raises(PermissionDeniedError):
        queue.decide(cid, True, auditor, now=NOW)
    with pytest.raises(NotFoundError):
        queue.decide("cand_nope", True, REVIEWER, now=NOW)


def test_counts_give_the_measured_false_match_rate(queue: ReviewQueue) -> None:
    ids = [add(queue) for _ in range(4)] + [add(queue, watchlist="v")]
    queue.decide(ids[0], True, REVIEWER, now=NOW)
    queue.decide(ids[1], False, REVIEWER, now=NOW)
    queue.decide(ids[2], False, REVIEWER, now=NOW)
    v, w = queue.counts()
    assert (w.watchlist, w.pending, w.confirmed, w.rejected) == ("w", 1, 1, 2)
    assert w.measured_fmr == pytest.approx(2 / 3) and v.measured_fmr is None


def test_erasure_and_retention_helpers(queue: ReviewQueue) -> None:
    add(queue, identity="ada")
    add(queue, identity="ada", watchlist="v")
    add(queue, identity="bob", now=NOW - timedelta(days=10))
    assert queue.delete_for_identities(["ada"]) == 2
    assert queue.purge_before("g-w", NOW - timedelta(days=5)) == 1
    assert queue.list(status=None) == ()
