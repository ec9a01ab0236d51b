"""Four-eyes approvals and the audited four-eyes setting."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest

from watchkeeper.core.errors import (
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    PolicyViolationError,
)
from watchkeeper.governance.approvals import (
    ApprovalBook,
    ApprovalKind,
    ApprovalStatus,
    FourEyesSetting,
)
from watchkeeper.governance.audit import AuditLog
from watchkeeper.governance.authz import Principal, Role

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
OPERATOR = Principal("u-op", "olga", frozenset({Role.OPERATOR}))
INVESTIGATOR = Principal("u-inv", "ivan", frozenset({Role.INVESTIGATOR}))
ADMIN = Principal("u-adm", "ade", frozenset({Role.ADMIN}))
ADMIN_2 = Principal("u-adm2", "bea", frozenset({Role.ADMIN}))
# An admin who is also an operator may ask for a watchlist, but not approve it.
ADMIN_OPERATOR = Principal("u-both", "cy", frozenset({Role.ADMIN, Role.OPERATOR}))
REVIEWER = Principal("u-rev", "rui", frozenset({Role.REVIEWER}))
AUDITOR = Principal("u-aud", "aud", frozenset({Role.AUDITOR}))


@pytest.fixture
def conn() -> sqlite3.Connection:
    return sqlite3.connect(":memory:")


@pytest.fixture
def audit(conn: sqlite3.Connection) -> AuditLog:
    return AuditLog(conn)


@pytest.fixture
def book(conn: sqlite3.Connection, audit: AuditLog) -> ApprovalBook:
    return ApprovalBook(conn, audit)


def test_request_approve_consume(book: ApprovalBook, audit: AuditLog) -> None:
    rid = book.request(ApprovalKind.WATCHLIST_CREATE, "Shoplifting, store 12, 30 days", OPERATOR)
    assert book.status(rid).status is ApprovalStatus.PENDING
    assert [r.request_id for r in book.pending()] == [rid]
    decided = book.approve(rid, ADMIN, now=NOW)
    assert decided.status is ApprovalStatus.APPROVED
    assert decided.decided_by_name == "ade"
    assert decided.decided_at == NOW
    used = book.consume(rid, ApprovalKind.WATCHLIST_CREATE, OPERATOR)
    assert used.status is ApprovalStatus.USED
    with pytest.raises(PermissionDeniedError):
        book.consume(rid, ApprovalKind.WATCHLIST_CREATE, OPERATOR)
    actions = [r.action for r in audit.query().records]
    assert actions == ["approval.request", "approval.approve"]
    assert audit.verify().ok


def test_requester_cannot_approve_own_request(book: ApprovalBook) -> None:
    rid = book.request(ApprovalKind.WATCHLIST_CREATE, "Watchlist for case 7", ADMIN_OPERATOR)
    with pytest.raises(PermissionDeniedError, match="four-eyes"):
        book.approve(rid, ADMIN_OPERATOR)
    with pytest.raises(PermissionDeniedError, match="four-eyes"):
        book.reject(rid, ADMIN_OPERATOR, "changed my mind")
    assert book.status(rid).status is ApprovalStatus.PENDING
    assert book.approve(rid, ADMIN_2).status is ApprovalStatus.APPROVED


@pytest.mark.parametrize("approver", [OPERATOR, INVESTIGATOR, REVIEWER, AUDITOR])
def test_approver_needs_the_approve_permission(book: ApprovalBook, approver: Principal) -> None:
    rid = book.request(ApprovalKind.FOOTAGE_SEARCH, "Case 9: camera 3, 1-2 March", INVESTIGATOR)
    with pytest.raises(PermissionDeniedError, match=r"approvals\.approve"):
        book.approve(rid, approver)
    assert book.status(rid).status is ApprovalStatus.PENDING


@pytest.mark.parametrize(
    ("kind", "requester"),
    [
        (ApprovalKind.WATCHLIST_CREATE, INVESTIGATOR),
        (ApprovalKind.WATCHLIST_WIDEN, REVIEWER),
        (ApprovalKind.FOOTAGE_SEARCH, OPERATOR),
        (ApprovalKind.WATCHLIST_EXTEND, AUDITOR),
    ],
)
def test_only_those_who_could_act_may_ask(
    conn: sqlite3.Connection, book: ApprovalBook, kind: ApprovalKind, requester: Principal
) -> None:
    with pytest.raises(PermissionDeniedError):
        book.request(kind, "please", requester)
    assert conn.execute("SELECT COUNT(*) FROM gov_approvals").fetchone()[0] == 0


def test_reject_needs_reason_and_ends_the_request(book: ApprovalBook, audit: AuditLog) -> None:
    rid = book.request(ApprovalKind.WATCHLIST_EXTEND, "Extend wl-3 by 30 days", OPERATOR)
    with pytest.raises(InvalidInputError):
        book.reject(rid, ADMIN, "")
    rejected = book.reject(rid, ADMIN, "No new evidence since last extension")
    assert rejected.status is ApprovalStatus.REJECTED
    assert rejected.reason == "No new evidence since last extension"
    with pytest.raises(InvalidInputError, match="already rejected"):
        book.approve(rid, ADMIN_2)
    with pytest.raises(PermissionDeniedError):
        book.consume(rid, ApprovalKind.WATCHLIST_EXTEND, OPERATOR)
    assert audit.query(action="approval.reject").records[0].actor == "ade"


def test_approval_is_bound_to_kind_and_requester(book: ApprovalBook) -> None:
    rid = book.request(ApprovalKind.WATCHLIST_WIDEN, "Add camera 4 to wl-1", OPERATOR)
    with pytest.raises(PermissionDeniedError):
        book.consume(rid, ApprovalKind.WATCHLIST_WIDEN, OPERATOR)  # still pending
    book.approve(rid, ADMIN)
    with pytest.raises(PermissionDeniedError):
        book.consume(rid, ApprovalKind.FOOTAGE_SEARCH, OPERATOR)
    other_operator = Principal("u-op2", "otto", frozenset({Role.OPERATOR}))
    with pytest.raises(PermissionDeniedError):
        book.consume(rid, ApprovalKind.WATCHLIST_WIDEN, other_operator)
    book.consume(rid, ApprovalKind.WATCHLIST_WIDEN, OPERATOR)


def test_double_decision_is_refused(book: ApprovalBook) -> None:
    rid = book.request(ApprovalKind.WATCHLIST_CREATE, "wl for case 1", OPERATOR)
    book.approve(rid, ADMIN)
    with pytest.raises(InvalidInputError, match="already approved"):
        book.approve(rid, ADMIN_2)


def test_hostile_summary_is_stored_verbatim(book: ApprovalBook) -> None:
    nasty = "case 5'); DROP TABLE gov_approvals;-- \" OR 1=1"
    rid = book.request(ApprovalKind.WATCHLIST_CREATE, nasty, OPERATOR)
    assert book.status(rid).summary == nasty


@pytest.mark.parametrize(
    ("summary", "error"),
    [
        ("x" * 1001, InvalidInputError),
        ("", InvalidInputError),
        ("bell\x07", InvalidInputError),
        ("watchlist of people by ethnicity", PolicyViolationError),
        ("search footage and estimate age of everyone", PolicyViolationError),
    ],
)
def test_bad_summaries_are_refused_and_change_nothing(
    conn: sqlite3.Connection, book: ApprovalBook, summary: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        book.request(ApprovalKind.WATCHLIST_CREATE, summary, OPERATOR)
    assert conn.execute("SELECT COUNT(*) FROM gov_approvals").fetchone()[0] == 0
    assert conn.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0] == 0


def test_unknown_kind_and_request_are_refused(book: ApprovalBook) -> None:
    with pytest.raises(InvalidInputError):
        book.request("nuke.everything", "x", OPERATOR)  # type: ignore[arg-type]
    with pytest.raises(NotFoundError):
        book.status("no-such-id")
    with pytest.raises(NotFoundError):
        book.approve("' OR '1'='1", ADMIN)


# --- four-eyes setting ---------------------------------------------------------------------------


def test_four_eyes_is_on_by_default(conn: sqlite3.Connection) -> None:
    assert FourEyesSetting(conn).enabled()


def test_switching_four_eyes_off_is_audited(conn: sqlite3.Connection, audit: AuditLog) -> None:
    setting = FourEyesSetting(conn)
    setting.set(False, ADMIN, audit, "single-operator pilot site, approved by DPO", now=NOW)
    assert not setting.enabled()
    record = audit.query(action="settings.change").records[0]
    assert record.actor == "ade"
    assert record.role == "admin"
    assert record.target == "setting:four_eyes"
    assert record.purpose == "single-operator pilot site, approved by DPO"
    assert dict(record.details) == {
        "setting": "four_eyes",
        "from_value": "on",
        "to_value": "off",
    }
    setting.set(True, ADMIN_2, audit, "pilot over")
    assert setting.enabled()
    assert len(audit.query(action="settings.change").records) == 2
    assert audit.verify().ok


@pytest.mark.parametrize("who", [OPERATOR, INVESTIGATOR, REVIEWER, AUDITOR])
def test_only_settings_change_may_switch_four_eyes(
    conn: sqlite3.Connection, audit: AuditLog, who: Principal
) -> None:
    setting = FourEyesSetting(conn)
    with pytest.raises(PermissionDeniedError):
        setting.set(False, who, audit, "because")
    assert setting.enabled()
    assert audit.query().records == ()


def test_four_eyes_change_needs_a_reason_and_a_bool(
    conn: sqlite3.Connection, audit: AuditLog
) -> None:
    setting = FourEyesSetting(conn)
    with pytest.raises(InvalidInputError):
        setting.set(False, ADMIN, audit, "")
    with pytest.raises(InvalidInputError):
        setting.set("off", ADMIN, audit, "x")  # type: ignore[arg-type]
    assert setting.enabled()


def test_damaged_setting_fails_safe(conn: sqlite3.Connection) -> None:
    setting = FourEyesSetting(conn)
    conn.execute("INSERT INTO gov_settings VALUES ('four_eyes', 'OFF please', '2025-01-01', 'x')")
    assert setting.enabled()


def test_setting_change_rolls_back_with_its_audit_record() -> None:
    conn = sqlite3.connect(":memory:")
    audit = AuditLog(conn)
    setting = FourEyesSetting(conn)
    conn.commit()
    setting.set(False, ADMIN, audit, "trial")
    conn.rollback()
    assert setting.enabled()
    assert audit.query().records == ()
