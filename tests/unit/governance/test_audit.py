"""Audit log: chain integrity, tampering of each kind, checkpoints, purges, queries."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from watchkeeper.core.errors import (
    ConfigError,
    InvalidInputError,
    PolicyViolationError,
    StoreError,
)
from watchkeeper.governance.audit import (
    GENESIS_HASH,
    AuditAction,
    AuditLog,
    BreakKind,
    Checkpoint,
    CheckpointStatus,
    Outcome,
    _entry_hash,
    _Tombstone,
    generate_signing_key,
    load_private_key,
    load_public_key,
)

T0 = datetime(2025, 1, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def conn() -> sqlite3.Connection:
    return sqlite3.connect(":memory:")


@pytest.fixture
def log(conn: sqlite3.Connection) -> AuditLog:
    return AuditLog(conn)


def fill(log: AuditLog, count: int, start: datetime = T0) -> None:
    for i in range(count):
        log.append(
            actor=f"user{i % 3}",
            role="investigator",
            action="search.identify" if i % 2 else "gallery.view",
            target=f"probe:{i}",
            watchlist="wl-a" if i % 2 else "wl-b",
            purpose=f"case {i}",
            details={"candidates": i},
            at=start + timedelta(hours=i),
        )


def drop_triggers(conn: sqlite3.Connection) -> None:
    """What an attacker with the database file does first."""
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        conn.execute(f"DROP TRIGGER {name}")


def rehash(conn: sqlite3.Connection, seq: int, prev_hash: str | None = None) -> str:
    """Recompute one row's hash from its stored content, as a careful forger would."""
    row = conn.execute(
        "SELECT seq, at, actor, role, action, target, watchlist, purpose, outcome, details,"
        " prev_hash FROM audit_log WHERE seq = ?",
        (seq,),
    ).fetchone()
    digest = _entry_hash(
        seq=row[0],
        at=row[1],
        actor=row[2],
        role=row[3],
        action=row[4],
        target=row[5],
        watchlist=row[6],
        purpose=row[7],
        outcome=row[8],
        details=json.loads(row[9]),
        prev_hash=row[10] if prev_hash is None else prev_hash,
    )
    conn.execute(
        "UPDATE audit_log SET hash = ?, prev_hash = ? WHERE seq = ?",
        (digest, row[10] if prev_hash is None else prev_hash, seq),
    )
    return digest


def rewrite_all(conn: sqlite3.Connection) -> None:
    """Recompute every hash in order: a full rewrite that leaves a self-consistent chain."""
    prev = GENESIS_HASH
    for (seq,) in conn.execute("SELECT seq FROM audit_log ORDER BY seq").fetchall():
        prev = rehash(conn, seq, prev)


# --- appending and the happy path ----------------------------------------------------------------


def test_append_links_entries_into_a_chain(log: AuditLog) -> None:
    first = log.append(
        actor="ada", role="investigator", action="search.identify", target="p1", purpose="x"
    )
    second = log.append(
        actor="ada", role="investigator", action="search.identify", target="p2", purpose="x"
    )
    assert (first.seq, second.seq) == (1, 2)
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash
    assert len(first.hash) == 64
    assert log.get(2) == second
    report = log.verify()
    assert report.ok
    assert report.entries_checked == 2
    assert report.head_hash == second.hash


def test_empty_log_verifies(log: AuditLog) -> None:
    report = log.verify()
    assert report.ok
    assert report.entries_checked == 0
    assert report.head_hash == GENESIS_HASH


def test_record_keeps_every_field(log: AuditLog) -> None:
    record = log.append(
        actor="bob",
        role="reviewer",
        action=AuditAction.REVIEW_DECIDE,
        target="match:9",
        watchlist="wl-1",
        purpose="confirm candidate",
        outcome=Outcome.REFUSED,
        details={"candidates": 3, "decision": "reject"},
        at=T0,
    )
    stored = log.get(record.seq)
    assert stored is not None
    assert stored.action == "review.decide"
    assert stored.watchlist == "wl-1"
    assert stored.outcome is Outcome.REFUSED
    assert dict(stored.details) == {"candidates": 3, "decision": "reject"}
    assert stored.at == T0


def test_hash_depends_on_every_field(log: AuditLog) -> None:
    base = {
        "seq": 1,
        "at": "t",
        "actor": "a",
        "role": "admin",
        "action": "x.y",
        "target": "t",
        "watchlist": None,
        "purpose": "p",
        "outcome": "success",
        "details": {},
        "prev_hash": GENESIS_HASH,
    }
    reference = _entry_hash(**base)  # type: ignore[arg-type]
    changes = {
        "seq": 2,
        "at": "u",
        "actor": "b",
        "role": "auditor",
        "action": "x.z",
        "target": "u",
        "watchlist": "w",
        "purpose": "q",
        "outcome": "refused",
        "details": {"n": 1},
        "prev_hash": "1" * 64,
    }
    for key, value in changes.items():
        assert _entry_hash(**{**base, key: value}) != reference, key  # type: ignore[arg-type]


def test_hostile_text_is_stored_verbatim_and_harmless(
    conn: sqlite3.Connection, log: AuditLog
) -> None:
    nasty = "Robert'); DROP TABLE audit_log;-- \" OR 1=1 <script>"
    log.append(actor=nasty, role="none", action="auth.login", target=nasty, purpose=nasty)
    stored = log.get(1)
    assert stored is not None
    assert (stored.actor, stored.target, stored.purpose) == (nasty, nasty, nasty)
    assert conn.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0] == 1
    assert log.verify().ok


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("actor", "x" * 129),
        ("actor", "ada\nforged line"),
        ("actor", ""),
        ("target", "t" * 257),
        ("purpose", "p" * 1001),
        ("purpose", "bell\x07"),
        ("role", "superuser"),
        ("role", "admin,wizard"),
        ("action", "DROP TABLE"),
        ("action", "search..identify"),
        ("outcome", "maybe"),
        ("watchlist", "w\x00"),
    ],
)
def test_bad_fields_are_refused_and_change_nothing(
    conn: sqlite3.Connection, log: AuditLog, field: str, value: str
) -> None:
    fields: dict[str, object] = {
        "actor": "ada",
        "role": "investigator",
        "action": "search.identify",
        "target": "t",
        "purpose": "p",
        field: value,
    }
    with pytest.raises(InvalidInputError):
        log.append(**fields)  # type: ignore[arg-type]
    assert conn.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0] == 0


@pytest.mark.parametrize(
    "details",
    [
        {"Bad Key": 1},
        {"flag": True},
        {"ratio": 0.5},
        {"nested": {"a": 1}},
        {"text": "x" * 257},
        {"text": "line\nbreak"},
        {f"k{i}": i for i in range(33)},
        {"big": 2**60},
    ],
)
def test_bad_details_are_refused(log: AuditLog, details: dict[str, object]) -> None:
    with pytest.raises(InvalidInputError):
        log.append(actor="a", role="admin", action="x.y", target="t", purpose="p", details=details)


@pytest.mark.parametrize("details", [{"ethnicity": "x"}, {"note": "sorted by skin colour"}])
def test_details_cross_the_protected_attribute_policy(
    log: AuditLog, details: dict[str, object]
) -> None:
    with pytest.raises(PolicyViolationError):
        log.append(actor="a", role="admin", action="x.y", target="t", purpose="p", details=details)


def test_refusal_of_policy_breaking_purpose_can_still_be_recorded(log: AuditLog) -> None:
    # The audit purpose is recorded, not judged: a refused request's purpose must be loggable.
    record = log.append(
        actor="eve",
        role="investigator",
        action="search.identify",
        target="query",
        purpose="find people by ethnicity",
        outcome=Outcome.REFUSED,
        details={"error": "PolicyViolationError"},
    )
    assert record.outcome is Outcome.REFUSED


def test_append_never_commits(tmp_path: Path) -> None:
    path = tmp_path / "audit.sqlite"
    writer = sqlite3.connect(path)
    AuditLog(writer).append(actor="a", role="admin", action="x.y", target="t", purpose="p")
    writer.rollback()
    reader = sqlite3.connect(path)
    assert reader.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0] == 0


# --- append-only at the database level -----------------------------------------------------------


def test_triggers_refuse_update_delete_and_out_of_order_insert(
    conn: sqlite3.Connection, log: AuditLog
) -> None:
    fill(log, 3)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("UPDATE audit_log SET purpose = 'x' WHERE seq = 2")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM audit_log WHERE seq = 2")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute(
            "INSERT INTO audit_log VALUES (10, 't', 'a', 'admin', 'x.y', 't', NULL, 'p',"
            " 'success', '{}', ?, ?)",
            (GENESIS_HASH, GENESIS_HASH),
        )
    assert log.verify().ok


def test_concurrent_writer_collision_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "audit.sqlite"
    first = sqlite3.connect(path, isolation_level=None)
    second = sqlite3.connect(path, isolation_level=None)
    log_a, log_b = AuditLog(first), AuditLog(second)
    log_a.append(actor="a", role="admin", action="x.y", target="t", purpose="p")
    # Simulate B having read the head before A's append landed.
    stale_head = (0, GENESIS_HASH)
    log_b.head = lambda: stale_head  # type: ignore[method-assign]
    with pytest.raises(StoreError):
        log_b.append(actor="b", role="admin", action="x.y", target="t", purpose="p")
    assert log_a.verify().ok


# --- tampering: each kind is found and located ---------------------------------------------------


def test_edited_entry(conn: sqlite3.Connection, log: AuditLog) -> None:
    fill(log, 6)
    drop_triggers(conn)
    conn.execute("UPDATE audit_log SET purpose = 'nothing to see' WHERE seq = 4")
    report = log.verify()
    assert not report.ok
    assert (report.broken_at, report.kind) == (4, BreakKind.EDITED)
    assert report.entries_checked == 3


def test_edited_details(conn: sqlite3.Connection, log: AuditLog) -> None:
    fill(log, 6)
    drop_triggers(conn)
    conn.execute("UPDATE audit_log SET details = '{\"candidates\":0}' WHERE seq = 5")
    report = log.verify()
    assert (report.broken_at, report.kind) == (5, BreakKind.EDITED)


def test_edited_and_rehashed_entry(conn: sqlite3.Connection, log: AuditLog) -> None:
    fill(log, 6)
    drop_triggers(conn)
    conn.execute("UPDATE audit_log SET actor = 'someone else' WHERE seq = 3")
    rehash(conn, 3)
    report = log.verify()
    assert (report.broken_at, report.kind) == (3, BreakKind.EDITED)
    assert "recomputed" in report.detail


def test_deleted_entry_leaves_a_gap(conn: sqlite3.Connection, log: AuditLog) -> None:
    fill(log, 6)
    drop_triggers(conn)
    conn.execute("DELETE FROM audit_log WHERE seq IN (3, 4)")
    report = log.verify()
    assert (report.broken_at, report.kind) == (3, BreakKind.DELETED)
    assert "3 to 4" in report.detail


def test_deleted_entry_with_renumbering(conn: sqlite3.Connection, log: AuditLog) -> None:
    fill(log, 6)
    drop_triggers(conn)
    conn.execute("DELETE FROM audit_log WHERE seq = 3")
    for seq in range(4, 7):
        conn.execute("UPDATE audit_log SET seq = ? WHERE seq = ?", (seq - 1, seq))
    report = log.verify()
    assert (report.broken_at, report.kind) == (3, BreakKind.DELETED)


def test_deleted_first_entry(conn: sqlite3.Connection, log: AuditLog) -> None:
    fill(log, 4)
    drop_triggers(conn)
    conn.execute("DELETE FROM audit_log WHERE seq = 1")
    report = log.verify()
    assert (report.broken_at, report.kind) == (1, BreakKind.DELETED)


def _make_room(conn: sqlite3.Connection, at_seq: int, last: int) -> None:
    for seq in range(last, at_seq - 1, -1):
        conn.execute("UPDATE audit_log SET seq = ? WHERE seq = ?", (seq + 1, seq))


def test_inserted_forged_entry_with_valid_hash(conn: sqlite3.Connection, log: AuditLog) -> None:
    fill(log, 6)
    drop_triggers(conn)
    _make_room(conn, 3, 6)
    prev = conn.execute("SELECT hash FROM audit_log WHERE seq = 2").fetchone()[0]
    forged = _entry_hash(
        seq=3,
        at="2025-01-01T11:30:00.000000+00:00",
        actor="ghost",
        role="admin",
        action="settings.change",
        target="four_eyes",
        watchlist=None,
        purpose="routine",
        outcome="success",
        details={},
        prev_hash=prev,
    )
    conn.execute(
        "INSERT INTO audit_log VALUES (3, '2025-01-01T11:30:00.000000+00:00', 'ghost', 'admin',"
        " 'settings.change', 'four_eyes', NULL, 'routine', 'success', '{}', ?, ?)",
        (prev, forged),
    )
    report = log.verify()
    assert (report.broken_at, report.kind) == (3, BreakKind.INSERTED)


def test_inserted_garbage_entry(conn: sqlite3.Connection, log: AuditLog) -> None:
    fill(log, 6)
    drop_triggers(conn)
    _make_room(conn, 4, 6)
    conn.execute(
        "INSERT INTO audit_log VALUES (4, 't', 'ghost', 'admin', 'x.y', 't', NULL, 'p',"
        " 'success', '{}', ?, ?)",
        ("f" * 64, "e" * 64),
    )
    report = log.verify()
    assert (report.broken_at, report.kind) == (4, BreakKind.INSERTED)


def test_inserted_below_tombstone(conn: sqlite3.Connection, log: AuditLog) -> None:
    fill(log, 6)
    log.purge_before(T0 + timedelta(hours=3), actor="sys", role="system", purpose="retention")
    drop_triggers(conn)
    conn.execute(
        "INSERT INTO audit_log VALUES (2, 't', 'ghost', 'admin', 'x.y', 't', NULL, 'p',"
        " 'success', '{}', ?, ?)",
        ("f" * 64, "e" * 64),
    )
    report = log.verify()
    assert (report.broken_at, report.kind) == (2, BreakKind.INSERTED)


def test_reordered_entries(conn: sqlite3.Connection, log: AuditLog) -> None:
    fill(log, 6)
    drop_triggers(conn)
    conn.execute("UPDATE audit_log SET seq = -1 WHERE seq = 3")
    conn.execute("UPDATE audit_log SET seq = 3 WHERE seq = 4")
    conn.execute("UPDATE audit_log SET seq = 4 WHERE seq = -1")
    report = log.verify()
    assert (report.broken_at, report.kind) == (3, BreakKind.REORDERED)


def test_reordered_by_swapping_timestamps_is_an_edit(
    conn: sqlite3.Connection, log: AuditLog
) -> None:
    fill(log, 4)
    drop_triggers(conn)
    conn.execute("UPDATE audit_log SET at = (SELECT at FROM audit_log WHERE seq = 1) WHERE seq = 2")
    report = log.verify()
    assert (report.broken_at, report.kind) == (2, BreakKind.EDITED)


def test_unreadable_details_are_an_edit(conn: sqlite3.Connection, log: AuditLog) -> None:
    fill(log, 3)
    drop_triggers(conn)
    conn.execute("UPDATE audit_log SET details = 'not json' WHERE seq = 2")
    report = log.verify()
    assert (report.broken_at, report.kind) == (2, BreakKind.EDITED)


def test_full_rewrite_passes_chain_check_but_not_checkpoint(
    conn: sqlite3.Connection, log: AuditLog
) -> None:
    key = Ed25519PrivateKey.generate()
    fill(log, 5)
    checkpoint = log.export_checkpoint(key, now=T0 + timedelta(days=1))
    fill(log, 2, start=T0 + timedelta(days=2))
    assert log.verify_against_checkpoint(checkpoint, key.public_key()).ok

    drop_triggers(conn)
    conn.execute("UPDATE audit_log SET purpose = 'laundered' WHERE seq = 2")
    rewrite_all(conn)
    assert log.verify().ok  # the chain alone cannot see a full rewrite...
    report = log.verify_against_checkpoint(checkpoint, key.public_key())
    assert report.status is CheckpointStatus.MISMATCH  # ...the checkpoint does
    assert "rewritten" in report.detail


def test_truncated_tail_is_caught_by_checkpoint(conn: sqlite3.Connection, log: AuditLog) -> None:
    key = Ed25519PrivateKey.generate()
    fill(log, 5)
    checkpoint = log.export_checkpoint(key)
    drop_triggers(conn)
    conn.execute("DELETE FROM audit_log WHERE seq >= 4")
    assert log.verify().ok
    report = log.verify_against_checkpoint(checkpoint, key.public_key())
    assert report.status is CheckpointStatus.MISMATCH
    assert "removed from the end" in report.detail


def test_checkpoint_signature_must_match(log: AuditLog) -> None:
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    fill(log, 3)
    checkpoint = log.export_checkpoint(key)
    assert not log.verify_against_checkpoint(checkpoint, other.public_key()).ok
    forged = Checkpoint(
        seq=checkpoint.seq,
        head_hash="a" * 64,
        at=checkpoint.at,
        key_id=checkpoint.key_id,
        signature=checkpoint.signature,
    )
    report = log.verify_against_checkpoint(forged, key.public_key())
    assert report.status is CheckpointStatus.MISMATCH
    assert "signature" in report.detail


def test_checkpoint_round_trips_through_json(log: AuditLog) -> None:
    key = Ed25519PrivateKey.generate()
    fill(log, 2)
    checkpoint = log.export_checkpoint(key)
    again = Checkpoint.from_json(checkpoint.to_json())
    assert again == checkpoint
    assert log.verify_against_checkpoint(again, key.public_key()).ok


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "{}",
        '{"format": "watchkeeper-audit-checkpoint/1", "seq": -1}',
        '{"format": "watchkeeper-audit-checkpoint/1", "seq": 1, "head_hash": "zz",'
        ' "at": "2025-01-01T00:00:00+00:00", "key_id": "k", "signature": "AA=="}',
    ],
)
def test_malformed_checkpoints_are_refused(text: str) -> None:
    with pytest.raises(InvalidInputError):
        Checkpoint.from_json(text)


def test_checkpoint_of_empty_log(log: AuditLog) -> None:
    key = Ed25519PrivateKey.generate()
    checkpoint = log.export_checkpoint(key)
    assert checkpoint.seq == 0
    assert log.verify_against_checkpoint(checkpoint, key.public_key()).ok


def test_checkpoint_fails_when_chain_is_broken(conn: sqlite3.Connection, log: AuditLog) -> None:
    key = Ed25519PrivateKey.generate()
    fill(log, 4)
    checkpoint = log.export_checkpoint(key)
    drop_triggers(conn)
    conn.execute("UPDATE audit_log SET target = 'x' WHERE seq = 4")
    report = log.verify_against_checkpoint(checkpoint, key.public_key())
    assert report.status is CheckpointStatus.MISMATCH
    assert report.chain is not None and report.chain.broken_at == 4


# --- purging with tombstones ---------------------------------------------------------------------


def test_purge_removes_old_prefix_and_chain_still_verifies(
    conn: sqlite3.Connection, log: AuditLog
) -> None:
    fill(log, 8)
    result = log.purge_before(
        T0 + timedelta(hours=5),
        actor="retention",
        role="system",
        purpose="audit retention: 2 years",
        now=T0 + timedelta(days=1),
    )
    assert result is not None
    assert (result.through_seq, result.purged_count) == (5, 5)
    seqs = [row[0] for row in conn.execute("SELECT seq FROM audit_log ORDER BY seq")]
    assert seqs == [6, 7, 8, 9]
    purge_record = log.get(9)
    assert purge_record is not None
    assert purge_record.action == AuditAction.AUDIT_PURGE
    assert purge_record.details["through_seq"] == 5
    report = log.verify()
    assert report.ok, report.summary()
    assert report.first_seq == 6
    # And the log keeps growing normally afterwards.
    fill(log, 2, start=T0 + timedelta(days=2))
    assert log.verify().ok


def test_purge_twice_chains_tombstones(log: AuditLog) -> None:
    fill(log, 8)
    log.purge_before(T0 + timedelta(hours=3), actor="r", role="system", purpose="retention")
    log.purge_before(T0 + timedelta(hours=6), actor="r", role="system", purpose="retention")
    assert log.verify().ok
    assert log.get(6) is None
    assert log.get(7) is not None


def test_purge_of_everything_keeps_the_purge_record(log: AuditLog) -> None:
    fill(log, 3)
    result = log.purge_before(
        T0 + timedelta(days=30),
        actor="r",
        role="system",
        purpose="retention",
        now=T0 + timedelta(days=30),
    )
    assert result is not None and result.through_seq == 3
    report = log.verify()
    assert report.ok
    assert report.entries_checked == 1


def test_purge_with_nothing_old_enough_does_nothing(log: AuditLog) -> None:
    fill(log, 3)
    assert log.purge_before(T0, actor="r", role="system", purpose="retention") is None
    assert log.verify().entries_checked == 3


def test_purge_refuses_future_cutoff(log: AuditLog) -> None:
    with pytest.raises(InvalidInputError):
        log.purge_before(T0 + timedelta(days=1), actor="r", role="system", purpose="p", now=T0)


def test_forged_tombstone_hiding_deletions_is_caught(
    conn: sqlite3.Connection, log: AuditLog
) -> None:
    fill(log, 6)
    drop_triggers(conn)
    head = conn.execute("SELECT hash FROM audit_log WHERE seq = 3").fetchone()[0]
    # The attacker deletes entries 1-3 and writes a tombstone for them (self-consistent hash).
    draft = _Tombstone(3, head, 3, "2030-01-01", "2030-01-01", GENESIS_HASH, "", None)
    conn.execute(
        "INSERT INTO audit_tombstone VALUES (3, ?, 3, '2030-01-01', '2030-01-01', ?, ?, NULL)",
        (head, GENESIS_HASH, hashlib.sha256(draft.message()).hexdigest()),
    )
    conn.execute("DELETE FROM audit_log WHERE seq <= 3")
    report = log.verify()
    assert not report.ok
    assert report.kind is BreakKind.TOMBSTONE


def test_altered_tombstone_is_caught(conn: sqlite3.Connection, log: AuditLog) -> None:
    fill(log, 6)
    log.purge_before(T0 + timedelta(hours=3), actor="r", role="system", purpose="retention")
    drop_triggers(conn)
    conn.execute("UPDATE audit_tombstone SET purged_count = 1")
    report = log.verify()
    assert (report.broken_at, report.kind) == (3, BreakKind.TOMBSTONE)


def test_triggers_protect_tombstones_and_still_block_live_deletes(
    conn: sqlite3.Connection, log: AuditLog
) -> None:
    fill(log, 6)
    log.purge_before(T0 + timedelta(hours=3), actor="r", role="system", purpose="retention")
    with pytest.raises(sqlite3.DatabaseError):
        conn.execute("DELETE FROM audit_tombstone")
    with pytest.raises(sqlite3.DatabaseError):
        conn.execute("UPDATE audit_tombstone SET head_hash = 'x'")
    with pytest.raises(sqlite3.DatabaseError):
        conn.execute("DELETE FROM audit_log WHERE seq = 4")


def test_checkpoint_across_purge(log: AuditLog) -> None:
    key = Ed25519PrivateKey.generate()
    fill(log, 6)
    old = log.export_checkpoint(key)  # at seq 6
    log.purge_before(T0 + timedelta(days=1), actor="r", role="system", purpose="retention")
    # Purged through 6 exactly: the tombstone carries the checkpointed hash.
    assert log.verify_against_checkpoint(old, key.public_key()).ok


def test_checkpoint_older_than_purge_needs_signed_tombstone(log: AuditLog) -> None:
    key = Ed25519PrivateKey.generate()
    fill(log, 3)
    old = log.export_checkpoint(key)  # at seq 3
    fill(log, 3, start=T0 + timedelta(hours=3))
    log.purge_before(T0 + timedelta(days=1), actor="r", role="system", purpose="retention")
    report = log.verify_against_checkpoint(old, key.public_key())
    assert report.status is CheckpointStatus.UNVERIFIABLE


def test_signed_tombstone_stands_in_for_purged_checkpoint(log: AuditLog) -> None:
    key = Ed25519PrivateKey.generate()
    fill(log, 3)
    old = log.export_checkpoint(key)
    fill(log, 3, start=T0 + timedelta(hours=3))
    log.purge_before(
        T0 + timedelta(days=1), actor="r", role="system", purpose="retention", signing_key=key
    )
    assert log.verify_against_checkpoint(old, key.public_key()).ok
    other = Ed25519PrivateKey.generate()
    assert not log.verify_against_checkpoint(old, other.public_key()).ok


# --- queries -------------------------------------------------------------------------------------


def test_query_filters_and_paginates(log: AuditLog) -> None:
    fill(log, 12)
    page = log.query(action="search.identify", limit=4)
    assert [r.seq for r in page.records] == [2, 4, 6, 8]
    assert page.next_after_seq == 8
    rest = log.query(action="search.identify", limit=4, after_seq=page.next_after_seq)
    assert [r.seq for r in rest.records] == [10, 12]
    assert rest.next_after_seq is None

    assert {r.actor for r in log.query(actor="user1").records} == {"user1"}
    assert {r.watchlist for r in log.query(watchlist="wl-b").records} == {"wl-b"}
    window = log.query(since=T0 + timedelta(hours=2), until=T0 + timedelta(hours=5))
    assert [r.seq for r in window.records] == [3, 4, 5]


def test_query_with_injection_strings_matches_nothing(log: AuditLog) -> None:
    fill(log, 3)
    assert log.query(actor="' OR '1'='1").records == ()
    assert log.query(action="x'; DROP TABLE audit_log;--").records == ()
    assert log.verify().entries_checked == 3


@pytest.mark.parametrize(
    "kwargs",
    [{"limit": 0}, {"limit": 1001}, {"after_seq": -1}, {"since": datetime(2025, 1, 1)}],
)
def test_query_refuses_bad_parameters(log: AuditLog, kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidInputError):
        log.query(**kwargs)  # type: ignore[arg-type]


# --- keys ----------------------------------------------------------------------------------------


def test_generate_key_writes_private_key_0600_outside_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    keys = tmp_path / "keys"
    keys.mkdir()
    public = generate_signing_key(keys / "audit.key", data_dir=data_dir)
    mode = stat.S_IMODE((keys / "audit.key").stat().st_mode)
    assert mode == 0o600
    private = load_private_key(keys / "audit.key")
    assert load_public_key(keys / "audit.key.pub") == public
    assert private.public_key() == public
    with pytest.raises(ConfigError):
        generate_signing_key(keys / "audit.key")  # never overwrites


def test_generate_key_refuses_data_dir(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        generate_signing_key(tmp_path / "data" / "audit.key", data_dir=tmp_path)


def test_load_private_key_refuses_loose_permissions(tmp_path: Path) -> None:
    generate_signing_key(tmp_path / "audit.key")
    (tmp_path / "audit.key").chmod(0o644)
    with pytest.raises(ConfigError):
        load_private_key(tmp_path / "audit.key")


def test_load_keys_refuse_garbage(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage"
    garbage.write_text("nope")
    garbage.chmod(0o600)
    with pytest.raises(ConfigError):
        load_private_key(garbage)
    with pytest.raises(ConfigError):
        load_public_key(garbage)
    with pytest.raises(ConfigError):
        load_public_key(tmp_path / "missing")
