"""Every accountability rule of the engine, and its refusals, on the mock backends."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from tests.builders import Staff, make_staff, mock_settings, pattern_image

from watchkeeper.core import Decision
from watchkeeper.core.errors import (
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    StoreError,
)
from watchkeeper.gallery.watchlist import WatchlistTerms
from watchkeeper.governance.audit import AuditLog
from watchkeeper.governance.authz import Principal
from watchkeeper.governance.review import ReviewStatus
from watchkeeper.service.engine import Engine


@pytest.fixture
def staff(tmp_path: Path) -> Iterator[Staff]:
    site = make_staff(tmp_path / "home")
    yield site
    site.engine.close()


def enrol(s: Staff, person: str, seed: int, watchlist: str = "staff") -> str:
    result = s.engine.enrol(s.operator, person, pattern_image(seed), watchlist, "consent", "HR")
    assert result.identity_id is not None
    return result.identity_id


def search(s: Staff, seed: int, watchlist: str = "staff", who: Principal | None = None) -> tuple:  # type: ignore[type-arg]
    result = s.engine.identify(who or s.investigator, pattern_image(seed), watchlist, "door")
    return tuple(zip(result.matches, result.candidate_ids, strict=True))


def last_record(s: Staff) -> sqlite3.Row:
    conn = s.engine.store.conn
    return conn.execute(
        "SELECT actor, role, action, outcome, watchlist, purpose FROM audit_log "
        "ORDER BY seq DESC LIMIT 1"
    ).fetchone()


def count(s: Staff, table: str) -> int:
    return int(s.engine.store.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def terms(s: Staff, days: float = 30, **kw: object) -> WatchlistTerms:
    return WatchlistTerms(
        "Find a missing person, case 2026/3",
        "Police request 2026/3",
        s.clock.now + timedelta(days=days),
        **kw,  # type: ignore[arg-type]
    )


# --- roles: least privilege, refusals audited ------------------------------------------------


REFUSALS: list[tuple[str, str, Callable[[Staff, Principal], object]]] = [
    (
        "investigator",
        "gallery.enrol",
        lambda s, p: s.engine.enrol(p, "Eve", pattern_image(5), "staff", "consent", "HR"),
    ),
    (
        "auditor",
        "gallery.enrol",
        lambda s, p: s.engine.enrol(p, "Eve", pattern_image(5), "staff", "consent", "HR"),
    ),
    (
        "operator",
        "search.identify",
        lambda s, p: s.engine.identify(p, pattern_image(1), "staff", "door"),
    ),
    (
        "reviewer",
        "search.identify",
        lambda s, p: s.engine.identify(p, pattern_image(1), "staff", "door"),
    ),
    (
        "admin",
        "search.identify",
        lambda s, p: s.engine.identify(p, pattern_image(1), "staff", "door"),
    ),
    (
        "auditor",
        "search.verify",
        lambda s, p: s.engine.verify(p, pattern_image(1), pattern_image(1), "check"),
    ),
    ("auditor", "gallery.view", lambda s, p: s.engine.people(p, "staff")),
    ("investigator", "gallery.delete", lambda s, p: s.engine.delete_person(p, "Ada", "staff")),
    ("operator", "data.erase", lambda s, p: s.engine.erasure.erase_person(p, "Ada", "request")),
    ("investigator", "retention.purge", lambda s, p: s.engine.retention.purge(p)),
    ("operator", "audit.read", lambda s, p: s.engine.oversight.log(p)),
    ("admin", "audit.read", lambda s, p: s.engine.oversight.log(p)),
    (
        "investigator",
        "report.read",
        lambda s, p: s.engine.oversight.report(p, s.clock.now - timedelta(days=1), s.clock.now),
    ),
    ("operator", "user.create", lambda s, p: s.engine.accounts.add_user(p, "mal", ["admin"])),
    (
        "operator",
        "settings.change",
        lambda s, p: s.engine.accounts.set_four_eyes(p, False, "no reason"),
    ),
    (
        "investigator",
        "watchlist.create",
        lambda s, p: s.engine.watchlists.create(p, "mine", terms(s)),
    ),
    (
        "reviewer",
        "watchlist.change",
        lambda s, p: s.engine.watchlists.revoke(p, "staff", "because"),
    ),
    ("operator", "approval.approve", lambda s, p: s.engine.watchlists.approve(p, "x", "ok")),
]


@pytest.mark.parametrize(
    ("role", "action", "call"), REFUSALS, ids=[f"{r}-{a}" for r, a, _ in REFUSALS]
)
def test_actions_outside_the_role_are_refused_logged_and_change_nothing(
    staff: Staff, role: str, action: str, call: Callable[[Staff, Principal], object]
) -> None:
    enrol(staff, "Ada", 1)
    who = {
        "admin": staff.admin,
        "operator": staff.operator,
        "investigator": staff.investigator,
        "reviewer": staff.reviewer,
        "auditor": staff.auditor,
    }[role]
    before = {t: count(staff, t) for t in ("identities", "templates", "galleries", "gov_users")}
    with pytest.raises(PermissionDeniedError, match="may not"):
        call(staff, who)
    actor, logged_role, logged_action, outcome, _, _ = last_record(staff)
    assert (actor, logged_role, logged_action, outcome) == (who.username, role, action, "refused")
    assert {t: count(staff, t) for t in before} == before
    assert staff.engine.oversight.verify(staff.auditor).ok


def test_auditor_reads_the_log_and_the_reading_is_itself_logged(staff: Staff) -> None:
    page = staff.engine.oversight.log(staff.auditor, action="watchlist.create")
    assert [r.actor for r in page.records] == ["olga"]
    assert last_record(staff)[2] == "audit.read"


# --- the audit record shares the change's transaction ------------------------------------------


def test_enrolment_rolls_back_when_its_audit_record_cannot_be_written(
    staff: Staff, monkeypatch: pytest.MonkeyPatch
) -> None:
    enrol(staff, "Grace", 2)
    search(staff, 2)  # build the cached index first: a rollback must not leak into it
    real = AuditLog.append

    def failing(self: AuditLog, **kw: object) -> object:
        if kw.get("action") == "gallery.enrol":
            raise StoreError("disk full")
        return real(self, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(AuditLog, "append", failing)
    with pytest.raises(StoreError, match="disk full"):
        enrol(staff, "Ada", 1)
    monkeypatch.undo()
    assert staff.engine.store.identities_named("Ada") == []
    [(match, _)] = search(staff, 1)
    assert match.decision is Decision.UNKNOWN


def test_a_change_without_an_audit_record_cannot_commit(staff: Staff) -> None:
    site = staff.engine.site
    with (
        pytest.raises(StoreError, match="wrote no audit record"),
        site.act(staff.operator, "gallery.enrol", "x") as act,
    ):
        act.conn.execute("UPDATE galleries SET purpose = 'sneaky'")
    assert staff.engine.store.get_gallery("staff").purpose != "sneaky"


# --- watchlists: purpose-bound, expiring, revocable --------------------------------------------


def test_a_gallery_without_purpose_cannot_be_searched(staff: Staff) -> None:
    staff.engine.store.create_gallery("legacy", "mock")
    with pytest.raises(PermissionDeniedError, match="no purpose"):
        search(staff, 1, "legacy")
    assert last_record(staff)[3] == "refused"


def test_expiry_takes_effect_without_a_restart(staff: Staff) -> None:
    enrol(staff, "Ada", 1)
    [(match, _)] = search(staff, 1)
    assert match.decision is Decision.MATCH
    staff.clock.advance(days=30, seconds=1)
    with pytest.raises(PermissionDeniedError, match="expired"):
        search(staff, 1)
    with pytest.raises(PermissionDeniedError, match="expired"):
        enrol(staff, "Grace", 2)
    assert staff.engine.watchlists.show(staff.operator, "staff").state == "expired"


def test_revocation_is_immediate_for_every_engine(staff: Staff, tmp_path: Path) -> None:
    enrol(staff, "Ada", 1)
    other = Engine(mock_settings(tmp_path / "home"), threshold=0.9, clock=staff.clock)
    try:
        [match] = other.identify(staff.investigator, pattern_image(1), "staff", "door").matches
        assert match.decision is Decision.MATCH
        staff.engine.watchlists.revoke(staff.operator, "staff", "case closed")
        for engine in (staff.engine, other):
            with pytest.raises(PermissionDeniedError, match="revoked"):
                engine.identify(staff.investigator, pattern_image(1), "staff", "door")
    finally:
        other.close()


def test_watchlist_terms_are_stored_and_bounded(staff: Staff) -> None:
    info = staff.engine.watchlists.show(staff.operator, "staff")
    assert info.record.purpose == "Door access for staff members"
    assert info.record.legal_basis == "Employment contracts, clause 7"
    assert info.record.owner == "olga" and info.active
    with pytest.raises(InvalidInputError, match="at most 365 days"):
        staff.engine.watchlists.create(staff.operator, "forever", terms(staff, days=400))
    with pytest.raises(InvalidInputError, match="in the future"):
        staff.engine.watchlists.create(staff.operator, "past", terms(staff, days=-1))
    with pytest.raises(InvalidInputError, match="retention"):
        staff.engine.watchlists.create(
            staff.operator, "keep", terms(staff, match_retention_days=5000)
        )


# --- four-eyes -----------------------------------------------------------------------------------


def test_new_watchlist_waits_for_a_second_person(staff: Staff) -> None:
    change = staff.engine.watchlists.create(staff.operator, "missing", terms(staff))
    assert not change.applied and change.approval_id
    with pytest.raises(PermissionDeniedError, match="waiting for approval"):
        search(staff, 1, "missing")
    staff.engine.watchlists.approve(staff.second_admin, change.approval_id, "checked")
    assert staff.engine.watchlists.show(staff.operator, "missing").active


def test_requester_cannot_approve_their_own_request(staff: Staff) -> None:
    both = staff.engine.accounts.add_user(staff.admin, "boss", ["operator", "admin"]).principal
    change = staff.engine.watchlists.create(both, "own", terms(staff))
    assert change.approval_id is not None
    with pytest.raises(PermissionDeniedError, match="four-eyes"):
        staff.engine.watchlists.approve(both, change.approval_id)
    assert last_record(staff)[2:4] == ("approval.approve", "refused")
    assert not staff.engine.watchlists.show(staff.operator, "own").active


def test_rejected_creation_leaves_no_watchlist(staff: Staff) -> None:
    change = staff.engine.watchlists.create(staff.operator, "dubious", terms(staff))
    assert change.approval_id is not None
    staff.engine.watchlists.reject(staff.admin, change.approval_id, "no legal basis given")
    with pytest.raises(NotFoundError):
        staff.engine.watchlists.show(staff.operator, "dubious")


def test_extending_needs_approval_and_shortening_does_not(staff: Staff) -> None:
    wl = staff.engine.watchlists
    old = staff.engine.store.get_gallery("staff").expires_at
    assert old is not None
    later = wl.extend(staff.operator, "staff", old + timedelta(days=10), "case continues")
    assert not later.applied and later.approval_id
    assert staff.engine.store.get_gallery("staff").expires_at == old
    wl.approve(staff.admin, later.approval_id, "ok")
    assert staff.engine.store.get_gallery("staff").expires_at == old + timedelta(days=10)
    sooner = wl.extend(staff.operator, "staff", staff.clock.now + timedelta(days=1), "done soon")
    assert sooner.applied


def test_widening_needs_approval_and_the_limit_holds(staff: Staff) -> None:
    wl = staff.engine.watchlists
    assert wl.widen(staff.operator, "staff", 1, "only one person").applied  # narrowing
    enrol(staff, "Ada", 1)
    with pytest.raises(PermissionDeniedError, match="approved maximum"):
        enrol(staff, "Grace", 2)
    enrol(staff, "Ada", 3)  # more photos of someone already there are fine
    change = wl.widen(staff.operator, "staff", 5, "two more people")
    assert not change.applied and change.approval_id
    with pytest.raises(PermissionDeniedError, match="approved maximum"):
        enrol(staff, "Grace", 2)
    wl.approve(staff.admin, change.approval_id)
    enrol(staff, "Grace", 2)


def test_switching_four_eyes_off_is_audited_and_reported(staff: Staff) -> None:
    staff.engine.accounts.set_four_eyes(staff.admin, False, "single-operator night shift")
    change = staff.engine.watchlists.create(staff.operator, "night", terms(staff))
    assert change.applied and change.approval_id is None
    report = staff.engine.oversight.report(
        staff.auditor, staff.clock.now - timedelta(hours=1), staff.clock.now + timedelta(hours=1)
    )
    assert not report.four_eyes_now
    [setting] = report.settings_changes
    assert (setting.actor, setting.from_value, setting.to_value) == ("root", "on", "off")
    assert setting.reason == "single-operator night shift"
    assert "Four-eyes approval is OFF" in report.to_text()


# --- human review ----------------------------------------------------------------------------


def test_matches_become_candidates_and_only_a_reviewer_makes_alerts(staff: Staff) -> None:
    enrol(staff, "Ada", 1)
    [(match, cid)] = search(staff, 1)
    [(stranger, none)] = search(staff, 77)
    assert match.decision is Decision.MATCH and cid is not None
    assert stranger.decision is Decision.UNKNOWN and none is None
    view = staff.engine.review.show(staff.reviewer, cid)
    assert view.probe_jpeg and view.probe_jpeg[:3] == b"\xff\xd8\xff"
    assert view.enrolled_jpeg and view.enrolled_jpeg[:3] == b"\xff\xd8\xff"
    assert view.candidate.status is ReviewStatus.PENDING
    with pytest.raises(PermissionDeniedError):
        staff.engine.review.confirm(staff.investigator, cid)
    assert staff.engine.review.confirm(staff.reviewer, cid, "same person").status.value == (
        "confirmed"
    )
    alerts = staff.engine.review.list(staff.reviewer, ReviewStatus.CONFIRMED)
    assert [a.candidate_id for a in alerts] == [cid]
    with pytest.raises(InvalidInputError, match="already confirmed"):
        staff.engine.review.reject(staff.reviewer, cid)


def test_measured_false_match_rate_per_watchlist(staff: Staff) -> None:
    enrol(staff, "Ada", 1)
    ids = [search(staff, 1)[0][1] for _ in range(4)]
    staff.engine.review.confirm(staff.reviewer, ids[0])
    for cid in ids[1:3]:
        staff.engine.review.reject(staff.reviewer, cid, "different person")
    [counts] = staff.engine.review.counts(staff.reviewer)
    assert (counts.pending, counts.confirmed, counts.rejected) == (1, 1, 2)
    assert counts.measured_fmr == pytest.approx(2 / 3)
    report = staff.engine.oversight.report(
        staff.auditor, staff.clock.now - timedelta(days=1), staff.clock.now + timedelta(days=1)
    )
    assert report.watchlists["staff"].measured_fmr == pytest.approx(2 / 3)


def test_whoever_searched_cannot_review_their_own_candidate(staff: Staff) -> None:
    both = staff.engine.accounts.add_user(
        staff.admin, "solo", ["investigator", "reviewer"]
    ).principal
    enrol(staff, "Ada", 1)
    [(_, cid)] = search(staff, 1, who=both)
    with pytest.raises(PermissionDeniedError, match="another reviewer"):
        staff.engine.review.confirm(both, cid)
    staff.engine.review.confirm(staff.reviewer, cid)


# --- erasure ---------------------------------------------------------------------------------


def test_erasure_removes_the_person_everywhere_and_searches_cannot_find_them(
    staff: Staff,
) -> None:
    wl = staff.engine.watchlists
    staff.engine.accounts.set_four_eyes(staff.admin, False, "test: second list without approval")
    wl.create(staff.operator, "second", terms(staff))
    ada = [enrol(staff, "Ada", 1), enrol(staff, "Ada", 1, "second")]
    staff.engine.enrol(staff.operator, "Ada", pattern_image(3), "staff", "consent", "HR")
    enrol(staff, "Grace", 2)
    [(_, cid)] = search(staff, 1)  # builds the cached index and queues a candidate
    search(staff, 1, "second")
    receipt = staff.engine.erasure.erase_person(staff.admin, "Ada", "data subject request 17")
    assert set(receipt.identities) == set(ada)
    assert receipt.watchlists == ("second", "staff")
    assert (receipt.templates, receipt.face_crops, receipt.review_candidates) == (3, 3, 2)
    assert receipt.index_entries == 3
    assert receipt.digest == receipt.compute_digest() and len(receipt.digest) == 64
    for watchlist in ("staff", "second"):
        for seed in (1, 3):
            for match, _ in search(staff, seed, watchlist):
                assert all(c.identity_id not in ada for c in match.candidates)
                assert match.decision is Decision.UNKNOWN
    conn = staff.engine.store.conn
    for table in ("identities", "templates", "review_candidates"):
        n = conn.execute(
            f"SELECT COUNT(*) FROM {table} WHERE identity_id IN (?, ?)", ada
        ).fetchone()[0]
        assert n == 0, table
    with pytest.raises(NotFoundError):
        staff.engine.review.show(staff.reviewer, cid)
    # The audit trail keeps the receipt's digest but not the person's name.
    row = conn.execute(
        "SELECT target, purpose, details FROM audit_log WHERE action = 'data.erase'"
    ).fetchone()
    assert receipt.receipt_id in row[0] and receipt.digest in row[2] and "Ada" not in str(row)


def test_erasing_nobody_is_a_clear_error(staff: Staff) -> None:
    with pytest.raises(NotFoundError, match="enrolled anywhere"):
        staff.engine.erasure.erase_person(staff.admin, "Nobody", "request")


# --- retention -------------------------------------------------------------------------------


def test_purge_removes_old_match_records_per_watchlist_retention(staff: Staff) -> None:
    staff.engine.accounts.set_four_eyes(staff.admin, False, "test")
    staff.engine.watchlists.create(
        staff.operator, "short", terms(staff, days=60, match_retention_days=2)
    )
    enrol(staff, "Ada", 1)
    enrol(staff, "Ada", 1, "short")
    search(staff, 1)
    search(staff, 1, "short")
    staff.clock.advance(days=3)
    report = staff.engine.retention.purge(staff.admin)
    assert last_record(staff)[2:4] == ("retention.purge", "success")
    assert report.removed["match_records"] == 1  # type: ignore[index]
    assert [c.watchlist for c in staff.engine.review.list(staff.reviewer)] == ["staff"]


def test_templates_of_ended_watchlists_go_after_the_grace_period(staff: Staff) -> None:
    enrol(staff, "Ada", 1)
    staff.engine.watchlists.revoke(staff.operator, "staff", "case closed")
    staff.clock.advance(days=6)
    assert staff.engine.retention.purge(staff.admin).identities_removed == 0
    staff.clock.advance(days=2)
    report = staff.engine.retention.purge(staff.admin)
    assert report.identities_removed == 1
    assert count(staff, "templates") == 0


def test_scheduled_purge_runs_on_an_injected_clock(staff: Staff) -> None:
    enrol(staff, "Ada", 1)
    search(staff, 1)
    scheduler = staff.engine.retention.scheduler(clock=staff.clock, interval_s=3600)
    assert scheduler.run_pending() is not None  # first call always purges
    assert scheduler.run_pending() is None  # not due yet
    staff.clock.advance(days=91)
    report = scheduler.run_pending()
    assert report is not None and report.removed["match_records"] == 1  # type: ignore[index]
    assert last_record(staff)[:4] == ("system", "system", "retention.purge", "success")


def test_audit_entries_are_purged_with_a_tombstone_and_the_chain_still_verifies(
    staff: Staff,
) -> None:
    first = count(staff, "audit_log")
    staff.clock.advance(days=800)
    staff.engine.retention.purge(staff.admin)
    assert count(staff, "audit_log") < first
    assert count(staff, "audit_tombstone") == 1
    assert staff.engine.oversight.verify(staff.auditor).ok


# --- transparency report ---------------------------------------------------------------------


def test_report_counts_per_watchlist_in_text_json_and_chart(staff: Staff) -> None:
    start = staff.clock.now
    enrol(staff, "Ada", 1)
    [(_, cid)] = search(staff, 1)
    search(staff, 50)
    staff.engine.review.reject(staff.reviewer, cid, "not her")
    staff.engine.erasure.erase_person(staff.admin, "Ada", "request")
    staff.engine.retention.purge(staff.admin)
    with pytest.raises(PermissionDeniedError):
        search(staff, 1, who=staff.operator)
    report = staff.engine.oversight.report(staff.auditor, start, start + timedelta(days=1))
    data = json.loads(report.to_json())
    [row] = [w for w in data["watchlists"] if w["watchlist"] == "staff"]
    assert (row["searches"], row["candidates"], row["rejected"], row["confirmed"]) == (2, 1, 1, 0)
    assert row["measured_false_match_rate"] == 1.0
    totals = data["totals"]
    assert (totals["erasures"], totals["purges"], totals["refusals"]) == (1, 1, 1)
    assert totals["approvals_requested"] == 1 and totals["approvals_granted"] == 1
    assert data["audit_chain"]["intact"] is True
    assert "staff: 2 searches" in report.to_text()
    assert report.chart_png()[:8] == b"\x89PNG\r\n\x1a\n"
    later = staff.engine.oversight.report(
        staff.auditor, start + timedelta(days=1), start + timedelta(days=2)
    )
    assert later.searches == 0 and later.watchlists == {}


def test_report_period_must_make_sense(staff: Staff) -> None:
    with pytest.raises(InvalidInputError):
        staff.engine.oversight.report(staff.auditor, staff.clock.now, staff.clock.now)


# --- tokens ----------------------------------------------------------------------------------


def test_revoked_expired_and_unknown_tokens_are_refused_and_logged(staff: Staff) -> None:
    accounts = staff.engine.accounts
    token = accounts.issue_token(staff.investigator, token_days=1)
    assert accounts.authenticate(token.plaintext).username == "ines"
    staff.clock.advance(days=2)
    with pytest.raises(PermissionDeniedError, match="unknown, revoked or expired"):
        accounts.authenticate(token.plaintext)
    fresh = accounts.issue_token(staff.investigator)
    accounts.revoke_token(staff.investigator, fresh.token_id)
    with pytest.raises(PermissionDeniedError):
        accounts.authenticate(fresh.plaintext)
    with pytest.raises(PermissionDeniedError):
        accounts.authenticate("wk_guess")
    assert last_record(staff)[:4] == ("anonymous", "none", "auth.login", "refused")
    stored = staff.engine.store.conn.execute("SELECT digest FROM gov_tokens").fetchall()
    assert all(fresh.plaintext not in row[0] for row in stored)


def test_disabled_user_tokens_stop_working_and_the_last_admin_stays(staff: Staff) -> None:
    accounts = staff.engine.accounts
    token = accounts.issue_token(staff.investigator)
    assert accounts.disable_user(staff.admin, "ines", "left the team") >= 1
    with pytest.raises(PermissionDeniedError):
        accounts.authenticate(token.plaintext)
    accounts.disable_user(staff.admin, "ade", "moved on")
    with pytest.raises(InvalidInputError, match="last enabled administrator"):
        accounts.disable_user(staff.admin, "root", "oops")


def test_password_login_issues_a_short_token(staff: Staff) -> None:
    accounts = staff.engine.accounts
    accounts.add_user(staff.admin, "pat", ["auditor"], password="a long passphrase here")
    token = accounts.login("pat", "a long passphrase here")
    assert accounts.authenticate(token.plaintext).username == "pat"
    with pytest.raises(PermissionDeniedError):
        accounts.login("pat", "wrong passphrase, sorry")
    assert last_record(staff)[2:4] == ("auth.login", "refused")


def test_a_site_is_initialised_once(staff: Staff) -> None:
    with pytest.raises(PermissionDeniedError, match="already initialised"):
        staff.engine.accounts.initialise("intruder")


def test_the_service_can_run_the_purge_schedule_in_the_background(staff: Staff) -> None:
    import threading

    done = threading.Event()
    real = staff.engine.retention.purge

    def watched(principal: Principal | None) -> object:
        report = real(principal)
        done.set()
        return report

    staff.engine.retention.purge = watched  # type: ignore[method-assign]
    scheduler = staff.engine.retention.start_schedule(poll_s=0.01)
    assert done.wait(30), "the scheduled purge never ran"
    staff.engine.retention.stop_schedule()
    assert scheduler.last_report is not None and scheduler.next_due is not None
    assert "retention.purge" in staff.audit_actions()
