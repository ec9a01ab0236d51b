"""Hostile input, protected attributes on every path, encryption at rest, and tampering done
directly in the database file."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from tests.builders import Staff, make_staff, mock_settings, pattern_image

from watchkeeper.config.governance import GovernanceSettings
from watchkeeper.config.settings import Settings
from watchkeeper.core.errors import (
    ConfigError,
    InvalidInputError,
    PolicyViolationError,
)
from watchkeeper.gallery.watchlist import WatchlistTerms
from watchkeeper.governance.audit import BreakKind
from watchkeeper.governance.policy import find_in_field_name
from watchkeeper.service.engine import Engine
from watchkeeper.store.cipher import KEY_ENV, new_key_text


@pytest.fixture
def staff(tmp_path: Path) -> Iterator[Staff]:
    site = make_staff(tmp_path / "home")
    yield site
    site.engine.close()


def snapshot(s: Staff) -> dict[str, int]:
    conn = s.engine.store.conn
    tables = ("galleries", "identities", "templates", "gov_users", "review_candidates")
    return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}


def terms(
    s: Staff, purpose: str = "Find a missing person", basis: str = "Order 7"
) -> WatchlistTerms:
    return WatchlistTerms(purpose, basis, s.clock.now + timedelta(days=10))


# --- hostile input: a clear error, nothing changed ---------------------------------------------

INJECTION = "x'; DROP TABLE galleries; --"


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("name", INJECTION, InvalidInputError),
        ("name", "a" * 65, InvalidInputError),
        ("name", "bad\nname", InvalidInputError),
        ("name", "ethnicity-list", PolicyViolationError),
        ("purpose", "p" * 5000, InvalidInputError),
        ("purpose", "search\x00hidden", InvalidInputError),
        ("purpose", "spot people by skin colour", PolicyViolationError),
        ("purpose", "", InvalidInputError),
        ("basis", "\u202egnissim", InvalidInputError),
    ],
)
def test_hostile_watchlist_input_is_refused_and_changes_nothing(
    staff: Staff, field: str, value: str, error: type[Exception]
) -> None:
    before = snapshot(staff)
    name = value if field == "name" else "fine"
    t = terms(staff, **({"purpose": value} if field == "purpose" else {}))
    if field == "basis":
        t = terms(staff, basis=value)
    with pytest.raises(error) as caught:
        staff.engine.watchlists.create(staff.operator, name, t)
    assert "\n" not in str(caught.value).strip()
    assert snapshot(staff) == before
    assert staff.engine.oversight.verify(staff.auditor).ok


def test_injection_in_a_person_name_is_stored_verbatim_and_harmless(staff: Staff) -> None:
    result = staff.engine.enrol(
        staff.operator, INJECTION, pattern_image(1), "staff", "consent", INJECTION
    )
    person = staff.engine.person(staff.operator, result.identity_id or "", "staff")
    assert person.display_name == INJECTION and person.source == INJECTION
    assert staff.engine.store.conn.execute("SELECT COUNT(*) FROM galleries").fetchone()[0] == 1


@pytest.mark.parametrize("role", ["superuser", "ADMIN; DROP", "", "root"])
def test_unknown_roles_are_refused_and_no_user_is_made(staff: Staff, role: str) -> None:
    before = snapshot(staff)
    with pytest.raises(InvalidInputError, match="role"):
        staff.engine.accounts.add_user(staff.admin, "newbie", [role])
    assert snapshot(staff) == before


@pytest.mark.parametrize(
    ("basis", "source"),
    [("because I can", "HR"), ("consent", ""), ("consent", "s" * 301), ("consent", "a\x1bb")],
)
def test_enrolment_needs_a_known_basis_and_a_clean_source(
    staff: Staff, basis: str, source: str
) -> None:
    before = snapshot(staff)
    with pytest.raises(InvalidInputError):
        staff.engine.enrol(staff.operator, "Ada", pattern_image(1), "staff", basis, source)
    assert snapshot(staff) == before


def test_oversized_and_hostile_search_purposes(staff: Staff) -> None:
    for purpose in ["x" * 501, "", "line\x07bell"]:
        with pytest.raises(InvalidInputError, match="purpose"):
            staff.engine.identify(staff.investigator, pattern_image(1), "staff", purpose)
    assert snapshot(staff)["review_candidates"] == 0


# --- protected attributes, on every path ---------------------------------------------------------

PROTECTED_KEYS = [
    "ethnicity",
    "Ethnie",
    "etnia",
    "nationalité",
    "Nationalität",
    "race",
    "r4ce",
    "skinColour",
    "skin_color",
    "national_origin",
    "estimated_age",
    "gender",
    "emotion",
]


@pytest.mark.parametrize("key", PROTECTED_KEYS)
def test_metadata_keys_naming_protected_attributes_are_refused(staff: Staff, key: str) -> None:
    before = snapshot(staff)
    with pytest.raises(PolicyViolationError, match="never infers, stores, filters"):
        staff.engine.enrol(
            staff.operator, "Ada", pattern_image(1), "staff", "consent", "HR", metadata={key: "x"}
        )
    assert snapshot(staff) == before
    row = staff.engine.store.conn.execute(
        "SELECT action, outcome FROM audit_log ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    assert tuple(row) == ("gallery.enrol", "refused")


@pytest.mark.parametrize("value", ["ethnic group A", "nacionalidad: X", "Hautfarbe hell"])
def test_metadata_values_naming_protected_attributes_are_refused(staff: Staff, value: str) -> None:
    with pytest.raises(PolicyViolationError):
        staff.engine.enrol(
            staff.operator,
            "Ada",
            pattern_image(1),
            "staff",
            "consent",
            "HR",
            metadata={"note": value},
        )


def test_filtering_people_by_a_protected_attribute_is_refused(staff: Staff) -> None:
    staff.engine.enrol(
        staff.operator,
        "Ada",
        pattern_image(1),
        "staff",
        "consent",
        "HR",
        metadata={"case_ref": "2026/3"},
    )
    [ada] = staff.engine.people(staff.operator, "staff", where={"case_ref": "2026/3"})
    assert ada.metadata["case_ref"] == "2026/3"
    for key in ("ethnicity", "nationality", "race_group"):
        with pytest.raises(PolicyViolationError):
            staff.engine.people(staff.operator, "staff", where={key: "anything"})


def test_no_column_or_setting_names_a_protected_attribute(staff: Staff) -> None:
    conn = staff.engine.store.conn
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    columns = [
        (table, col[1]) for table in tables for col in conn.execute(f"PRAGMA table_info({table})")
    ]
    assert len(columns) > 50
    assert [c for c in columns if find_in_field_name(c[1]) or find_in_field_name(c[0])] == []

    def fields(schema: dict[str, object]) -> list[str]:
        found: list[str] = []
        found += list(schema.get("properties", {}))  # type: ignore[call-overload]
        for sub in schema.get("$defs", {}).values():  # type: ignore[union-attr]
            found += fields(sub)
        return found

    names = fields(Settings.model_json_schema())
    assert "template_key_file" in names
    assert [n for n in names if find_in_field_name(n)] == []


# --- encryption at rest --------------------------------------------------------------------------


def _db_bytes(home: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(home.glob("watchkeeper.db*")))


def _vectors(engine: Engine, principal: object) -> list[np.ndarray]:
    conn = engine.store.conn
    ids = [r[0] for r in conn.execute("SELECT identity_id FROM identities")]
    return [t.embedding for i in ids for t in engine.templates_of(principal, i)]  # type: ignore[arg-type]


def test_templates_are_encrypted_at_rest_with_the_site_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, new_key_text())
    home = tmp_path / "home"
    staff = make_staff(home)
    staff.engine.enrol(staff.operator, "Ada", pattern_image(1), "staff", "consent", "HR")
    [vector] = _vectors(staff.engine, staff.operator)
    [(match)] = staff.engine.identify(staff.investigator, pattern_image(1), "staff", "d").matches
    assert match.decision.value == "match"
    staff.engine.close()
    raw = _db_bytes(home)
    assert vector.tobytes() not in raw
    assert vector.astype(np.float32).tobytes()[:16] not in raw
    # Without the key nothing biometric can be read; with a wrong one neither.
    monkeypatch.delenv(KEY_ENV)
    keyless = Engine(mock_settings(home), threshold=0.9, clock=staff.clock)
    with keyless, pytest.raises(ConfigError, match="encrypted with key"):
        keyless.identify(staff.investigator, pattern_image(1), "staff", "door")
    monkeypatch.setenv(KEY_ENV, new_key_text())
    with pytest.raises(ConfigError, match="does not match the key"):
        Engine(mock_settings(home), threshold=0.9).store  # noqa: B018


def test_plain_storage_does_hold_the_vector_bytes(tmp_path: Path) -> None:
    """The control for the test above: without a key the raw vector is in the file."""
    home = tmp_path / "home"
    staff = make_staff(home)
    staff.engine.enrol(staff.operator, "Ada", pattern_image(1), "staff", "consent", "HR")
    [vector] = _vectors(staff.engine, staff.operator)
    staff.engine.close()
    assert vector.tobytes() in _db_bytes(home)


def test_setting_a_key_later_seals_existing_templates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    staff = make_staff(home)
    staff.engine.enrol(staff.operator, "Ada", pattern_image(1), "staff", "consent", "HR")
    [vector] = _vectors(staff.engine, staff.operator)
    staff.engine.close()
    key_file = tmp_path / "template.key"
    key_file.write_text(new_key_text())
    key_file.chmod(0o600)
    settings = mock_settings(home).model_copy(
        update={"governance": GovernanceSettings(template_key_file=key_file)}
    )
    with Engine(settings, threshold=0.9, clock=staff.clock) as sealed:
        [again] = _vectors(sealed, staff.operator)
        np.testing.assert_array_equal(again, vector)
        sealed.store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        sealed.store.conn.execute("VACUUM")
    assert vector.tobytes() not in _db_bytes(home)


def test_a_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    key_file = tmp_path / "template.key"
    key_file.write_text(new_key_text())
    key_file.chmod(0o644)
    settings = mock_settings(tmp_path / "home").model_copy(
        update={"governance": GovernanceSettings(template_key_file=key_file)}
    )
    with pytest.raises(ConfigError, match="readable by others"):
        Engine(settings).store  # noqa: B018


# --- tampering directly in the database file ---------------------------------------------------


def _forge(conn: sqlite3.Connection, seq: int) -> None:
    """Insert a well-formed entry at ``seq``, correctly hashed and linked to its predecessor."""
    from watchkeeper.governance.audit import _entry_hash

    (prev,) = conn.execute("SELECT hash FROM audit_log WHERE seq = ?", (seq - 1,)).fetchone()
    fields = {
        "seq": seq,
        "at": "2026-03-01T09:00:00.000000+00:00",
        "actor": "forger",
        "role": "admin",
        "action": "settings.change",
        "target": "setting:four_eyes",
        "watchlist": None,
        "purpose": "looks legitimate",
        "outcome": "success",
        "details": {},
        "prev_hash": prev,
    }
    digest = _entry_hash(**fields)  # type: ignore[arg-type]
    conn.execute(
        "INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, '{}', ?, ?)",
        (*[v for k, v in fields.items() if k != "details"], digest),
    )


def _tamper(home: Path, *statements: str) -> None:
    conn = sqlite3.connect(home / "watchkeeper.db")
    for trigger in ("audit_log_no_update", "audit_log_no_delete", "audit_log_append_only"):
        conn.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    for statement in statements:
        if statement.startswith("FORGE "):
            _forge(conn, int(statement.split()[1]))
        else:
            conn.execute(statement)
    conn.commit()
    conn.close()


@pytest.fixture
def busy_site(tmp_path: Path) -> Iterator[tuple[Staff, Path]]:
    home = tmp_path / "home"
    staff = make_staff(home)
    staff.engine.enrol(staff.operator, "Ada", pattern_image(1), "staff", "consent", "HR")
    for _ in range(3):
        staff.engine.identify(staff.investigator, pattern_image(1), "staff", "door")
    staff.engine.close()
    yield staff, home


def _verify(staff: Staff, home: Path) -> object:
    with Engine(mock_settings(home), threshold=0.9, clock=staff.clock) as engine:
        return engine.oversight.verify(staff.auditor)


@pytest.mark.parametrize(
    ("statements", "kind", "at"),
    [
        (["UPDATE audit_log SET purpose = 'nothing to see' WHERE seq = 15"], BreakKind.EDITED, 15),
        (["UPDATE audit_log SET actor = 'someone' WHERE seq = 3"], BreakKind.EDITED, 3),
        (["DELETE FROM audit_log WHERE seq = 10"], BreakKind.DELETED, 10),
        (
            [
                "UPDATE audit_log SET seq = seq + 1000 WHERE seq IN (8, 9)",
                "UPDATE audit_log SET seq = 9 WHERE seq = 1008",
                "UPDATE audit_log SET seq = 8 WHERE seq = 1009",
            ],
            BreakKind.REORDERED,
            8,
        ),
        (
            [
                "UPDATE audit_log SET seq = seq + 1000 WHERE seq >= 12",
                "UPDATE audit_log SET seq = seq - 999 WHERE seq >= 1012",
                "FORGE 12",
            ],
            BreakKind.INSERTED,
            12,
        ),
    ],
    ids=["edit-purpose", "edit-actor", "delete", "reorder", "insert"],
)
def test_audit_verify_names_where_a_tampered_chain_breaks(
    busy_site: tuple[Staff, Path], statements: list[str], kind: BreakKind, at: int
) -> None:
    staff, home = busy_site
    assert _verify(staff, home).ok  # type: ignore[attr-defined]
    _tamper(home, *statements)
    report = _verify(staff, home)
    assert not report.ok  # type: ignore[attr-defined]
    assert report.kind is kind, report.summary()  # type: ignore[attr-defined]
    assert report.broken_at == at, report.summary()  # type: ignore[attr-defined]
    assert f"seq {at}" in report.summary()  # type: ignore[attr-defined]


def test_a_full_rewrite_is_caught_by_an_earlier_checkpoint(
    busy_site: tuple[Staff, Path], tmp_path: Path
) -> None:
    import json as _json

    from watchkeeper.governance.audit import _entry_hash

    staff, home = busy_site
    key = tmp_path / "keys" / "audit.key"
    key.parent.mkdir()
    with Engine(mock_settings(home), threshold=0.9, clock=staff.clock) as engine:
        public = engine.oversight.keygen(staff.auditor, key)
        checkpoint = engine.oversight.export_checkpoint(staff.auditor, key).to_json()
        with pytest.raises(ConfigError, match="outside the data directory"):
            engine.oversight.keygen(staff.auditor, home / "inside.key")
    # Rewrite every entry's purpose and recompute the whole chain, as a capable forger would.
    conn = sqlite3.connect(home / "watchkeeper.db")
    conn.execute("DROP TRIGGER audit_log_no_update")
    prev = "0" * 64
    rows = conn.execute(
        "SELECT seq, at, actor, role, action, target, watchlist, purpose, outcome, details"
        " FROM audit_log ORDER BY seq"
    ).fetchall()
    for seq, at, actor, role, action, target, watchlist, purpose, outcome, details in rows:
        purpose = "routine" if action == "search.identify" else purpose
        digest = _entry_hash(
            seq=seq,
            at=at,
            actor=actor,
            role=role,
            action=action,
            target=target,
            watchlist=watchlist,
            purpose=purpose,
            outcome=outcome,
            details=_json.loads(details),
            prev_hash=prev,
        )
        conn.execute(
            "UPDATE audit_log SET purpose = ?, prev_hash = ?, hash = ? WHERE seq = ?",
            (purpose, prev, digest, seq),
        )
        prev = digest
    conn.commit()
    conn.close()
    with Engine(mock_settings(home), threshold=0.9, clock=staff.clock) as engine:
        assert engine.oversight.verify(staff.auditor).ok  # the chain alone cannot tell
        report = engine.oversight.verify_checkpoint(staff.auditor, checkpoint, public)
        assert not report.ok and "rewritten" in report.detail
