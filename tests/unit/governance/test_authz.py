"""Roles, permissions, users and API tokens."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from watchkeeper.core.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from watchkeeper.governance.authz import (
    ROLE_PERMISSIONS,
    Permission,
    Principal,
    Role,
    ScryptParams,
    TokenStore,
    UserStore,
    parse_role,
    parse_roles,
    require,
)

FAST = ScryptParams(n=2**8, r=8, p=1)
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
PASSWORD = "correct horse battery staple"


@pytest.fixture
def conn() -> sqlite3.Connection:
    return sqlite3.connect(":memory:")


@pytest.fixture
def users(conn: sqlite3.Connection) -> UserStore:
    return UserStore(conn, params=FAST)


@pytest.fixture
def tokens(conn: sqlite3.Connection, users: UserStore) -> TokenStore:
    return TokenStore(conn)


def principal(*roles: Role) -> Principal:
    return Principal(user_id="u1", username="someone", roles=frozenset(roles))


# --- roles and permissions -----------------------------------------------------------------------


def test_every_role_has_permissions_and_every_permission_has_a_role() -> None:
    assert set(ROLE_PERMISSIONS) == set(Role)
    granted = set().union(*ROLE_PERMISSIONS.values())
    assert granted == set(Permission)


def test_auditor_reads_audit_and_reports_and_nothing_else() -> None:
    assert ROLE_PERMISSIONS[Role.AUDITOR] == {
        Permission.AUDIT_READ,
        Permission.AUDIT_VERIFY,
        Permission.REPORTS_READ,
    }


@pytest.mark.parametrize(
    ("role", "allowed", "refused"),
    [
        (Role.ADMIN, Permission.USERS_MANAGE, Permission.SEARCH_IDENTIFY),
        (Role.ADMIN, Permission.SETTINGS_CHANGE, Permission.AUDIT_READ),
        (Role.ADMIN, Permission.APPROVALS_APPROVE, Permission.GALLERY_ENROL),
        (Role.OPERATOR, Permission.CAMERAS_MANAGE, Permission.SEARCH_FOOTAGE),
        (Role.OPERATOR, Permission.GALLERY_ENROL, Permission.USERS_MANAGE),
        (Role.OPERATOR, Permission.WATCHLIST_CREATE, Permission.APPROVALS_APPROVE),
        (Role.INVESTIGATOR, Permission.SEARCH_IDENTIFY, Permission.GALLERY_ENROL),
        (Role.INVESTIGATOR, Permission.SEARCH_FOOTAGE, Permission.REVIEW_DECIDE),
        (Role.INVESTIGATOR, Permission.DATA_EXPORT, Permission.APPROVALS_APPROVE),
        (Role.REVIEWER, Permission.REVIEW_DECIDE, Permission.SEARCH_IDENTIFY),
        (Role.REVIEWER, Permission.GALLERY_VIEW, Permission.GALLERY_DELETE),
        (Role.AUDITOR, Permission.AUDIT_READ, Permission.GALLERY_VIEW),
        (Role.AUDITOR, Permission.REPORTS_READ, Permission.SETTINGS_CHANGE),
    ],
)
def test_require_allows_own_permissions_and_refuses_others(
    role: Role, allowed: Permission, refused: Permission
) -> None:
    someone = principal(role)
    require(someone, allowed)
    with pytest.raises(PermissionDeniedError) as caught:
        require(someone, refused)
    assert refused.value in str(caught.value)
    assert role.value in str(caught.value)


def test_several_roles_add_up() -> None:
    both = principal(Role.OPERATOR, Role.REVIEWER)
    require(both, Permission.GALLERY_ENROL)
    require(both, Permission.REVIEW_DECIDE)
    assert both.role_names == "operator,reviewer"


@pytest.mark.parametrize("name", ["admin", "Admin", " AUDITOR "])
def test_parse_role_accepts_known_names(name: str) -> None:
    assert parse_role(name) in set(Role)


@pytest.mark.parametrize("name", ["root", "superuser", "admin'; DROP TABLE gov_users;--", "", 3])
def test_unknown_roles_are_refused(name: object) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_role(name)
    if isinstance(name, str):
        assert "admin, operator" in str(caught.value)


def test_parse_roles_refuses_empty_single_string_and_any_unknown() -> None:
    with pytest.raises(InvalidInputError):
        parse_roles([])
    with pytest.raises(InvalidInputError):
        parse_roles("admin")
    with pytest.raises(InvalidInputError):
        parse_roles(["operator", "god"])


def test_principal_refuses_no_roles_and_unknown_roles() -> None:
    with pytest.raises(InvalidInputError):
        Principal(user_id="u", username="x", roles=frozenset())
    with pytest.raises(InvalidInputError):
        Principal(user_id="u", username="x", roles=frozenset({"wizard"}))  # type: ignore[arg-type]


# --- users ---------------------------------------------------------------------------------------


def test_create_and_authenticate(users: UserStore) -> None:
    created = users.create_user("ada", PASSWORD, ["investigator", "reviewer"])
    assert created.roles == {Role.INVESTIGATOR, Role.REVIEWER}
    logged_in = users.authenticate("ada", PASSWORD)
    assert logged_in == created
    assert users.get("ADA") == created


def test_password_is_stored_only_as_salted_scrypt_hash(
    conn: sqlite3.Connection, users: UserStore
) -> None:
    users.create_user("ada", PASSWORD, ["operator"])
    users.create_user("bob", PASSWORD, ["operator"])
    hashes = [row[0] for row in conn.execute("SELECT password_hash FROM gov_users")]
    assert all(h.startswith("scrypt$") for h in hashes)
    assert all(PASSWORD not in h for h in hashes)
    # Same password, different salts: different hashes.
    assert hashes[0] != hashes[1]


@pytest.mark.parametrize(
    ("username", "password"),
    [("ada", "wrong password entirely"), ("nobody", PASSWORD), ("ada", ""), ("", PASSWORD)],
)
def test_authentication_failures_share_one_message(
    users: UserStore, username: str, password: str
) -> None:
    users.create_user("ada", PASSWORD, ["operator"])
    with pytest.raises(PermissionDeniedError) as caught:
        users.authenticate(username, password)
    assert str(caught.value) == "unknown username or wrong password, or account disabled"


def test_disabled_user_cannot_log_in(users: UserStore) -> None:
    users.create_user("ada", PASSWORD, ["operator"])
    users.disable("ada")
    with pytest.raises(PermissionDeniedError):
        users.authenticate("ada", PASSWORD)


def test_disable_unknown_user_is_not_found(users: UserStore) -> None:
    with pytest.raises(NotFoundError):
        users.disable("ghost")


def test_usernames_are_unique_ignoring_case(users: UserStore) -> None:
    users.create_user("ada", PASSWORD, ["operator"])
    with pytest.raises(InvalidInputError):
        users.create_user("ADA", PASSWORD, ["auditor"])


@pytest.mark.parametrize(
    "username",
    [
        "admin'; DROP TABLE gov_users;--",
        "' OR '1'='1",
        "a b",
        "x" * 65,
        "",
        "name\n",
        "-leading",
        None,
    ],
)
def test_hostile_usernames_are_refused_and_change_nothing(
    conn: sqlite3.Connection, users: UserStore, username: object
) -> None:
    with pytest.raises(InvalidInputError):
        users.create_user(username, PASSWORD, ["operator"])  # type: ignore[arg-type]
    assert conn.execute("SELECT COUNT(*) FROM gov_users").fetchone()[0] == 0


def test_sql_injection_at_login_is_harmless(conn: sqlite3.Connection, users: UserStore) -> None:
    users.create_user("ada", PASSWORD, ["operator"])
    with pytest.raises(PermissionDeniedError):
        users.authenticate("' OR '1'='1", "' OR '1'='1")
    assert conn.execute("SELECT COUNT(*) FROM gov_users").fetchone()[0] == 1


@pytest.mark.parametrize("password", ["short", "x" * 1025, 12345678901234])
def test_weak_or_oversized_passwords_are_refused(users: UserStore, password: object) -> None:
    with pytest.raises(InvalidInputError):
        users.create_user("ada", password, ["operator"])  # type: ignore[arg-type]


def test_token_only_account_cannot_log_in_with_any_password(
    conn: sqlite3.Connection, users: UserStore
) -> None:
    users.create_user("ada", None, ["operator"])
    for guess in ["", "!token-only", PASSWORD]:
        with pytest.raises(PermissionDeniedError):
            users.authenticate("ada", guess)
    [info] = users.list_users()
    assert info.username == "ada" and not info.has_password and info.roles == ("operator",)
    stored = conn.execute("SELECT password_hash FROM gov_users").fetchone()[0]
    assert not stored.startswith("scrypt$")


def test_unknown_role_at_creation_changes_nothing(
    conn: sqlite3.Connection, users: UserStore
) -> None:
    with pytest.raises(InvalidInputError):
        users.create_user("ada", PASSWORD, ["operator", "superuser"])
    assert conn.execute("SELECT COUNT(*) FROM gov_users").fetchone()[0] == 0


def test_stored_hash_parameters_are_honoured(conn: sqlite3.Connection) -> None:
    UserStore(conn, params=ScryptParams(n=2**9)).create_user("ada", PASSWORD, ["operator"])
    # A store configured with different costs still verifies the older hash.
    assert UserStore(conn, params=FAST).authenticate("ada", PASSWORD).username == "ada"


def test_scrypt_params_are_validated() -> None:
    with pytest.raises(InvalidInputError):
        ScryptParams(n=1000)


# --- tokens --------------------------------------------------------------------------------------


def test_token_is_shown_once_and_stored_only_as_digest(
    conn: sqlite3.Connection, users: UserStore, tokens: TokenStore
) -> None:
    ada = users.create_user("ada", PASSWORD, ["investigator"])
    issued = tokens.issue(ada.user_id, NOW + timedelta(days=30), label="ci", now=NOW)
    assert issued.plaintext.startswith("wk_")
    assert len(issued.plaintext) > 40
    assert issued.plaintext not in repr(issued)
    stored = conn.execute("SELECT * FROM gov_tokens").fetchall()
    assert all(issued.plaintext not in str(value) for row in stored for value in row)
    assert tokens.resolve(issued.plaintext, now=NOW) == ada


def test_two_tokens_differ(users: UserStore, tokens: TokenStore) -> None:
    ada = users.create_user("ada", PASSWORD, ["investigator"])
    one = tokens.issue(ada.user_id, NOW + timedelta(days=1), now=NOW)
    two = tokens.issue(ada.user_id, NOW + timedelta(days=1), now=NOW)
    assert one.plaintext != two.plaintext


def test_expired_token_is_refused(users: UserStore, tokens: TokenStore) -> None:
    ada = users.create_user("ada", PASSWORD, ["investigator"])
    issued = tokens.issue(ada.user_id, NOW + timedelta(hours=1), now=NOW)
    tokens.resolve(issued.plaintext, now=NOW + timedelta(minutes=59))
    with pytest.raises(PermissionDeniedError):
        tokens.resolve(issued.plaintext, now=NOW + timedelta(hours=1))


def test_revoked_token_is_refused(users: UserStore, tokens: TokenStore) -> None:
    ada = users.create_user("ada", PASSWORD, ["investigator"])
    issued = tokens.issue(ada.user_id, NOW + timedelta(days=1), now=NOW)
    tokens.revoke(issued.token_id, now=NOW)
    tokens.revoke(issued.token_id, now=NOW)
    with pytest.raises(PermissionDeniedError):
        tokens.resolve(issued.plaintext, now=NOW)


def test_revoke_all_and_unknown_revoke(users: UserStore, tokens: TokenStore) -> None:
    ada = users.create_user("ada", PASSWORD, ["investigator"])
    issued = [tokens.issue(ada.user_id, NOW + timedelta(days=1), now=NOW) for _ in range(3)]
    assert tokens.revoke_all(ada.user_id, now=NOW) == 3
    for token in issued:
        with pytest.raises(PermissionDeniedError):
            tokens.resolve(token.plaintext, now=NOW)
    with pytest.raises(NotFoundError):
        tokens.revoke("no-such-token")


def test_disabling_user_stops_their_tokens(users: UserStore, tokens: TokenStore) -> None:
    ada = users.create_user("ada", PASSWORD, ["investigator"])
    issued = tokens.issue(ada.user_id, NOW + timedelta(days=1), now=NOW)
    users.disable("ada")
    with pytest.raises(PermissionDeniedError):
        tokens.resolve(issued.plaintext, now=NOW)


@pytest.mark.parametrize(
    "token",
    ["", "wk_", "wk_" + "A" * 43, "not-a-token", "wk_' OR '1'='1", "wk_" + "x" * 500, None],
)
def test_unknown_or_malformed_tokens_are_refused(
    users: UserStore, tokens: TokenStore, token: object
) -> None:
    ada = users.create_user("ada", PASSWORD, ["investigator"])
    tokens.issue(ada.user_id, NOW + timedelta(days=1), now=NOW)
    with pytest.raises(PermissionDeniedError) as caught:
        tokens.resolve(token, now=NOW)  # type: ignore[arg-type]
    assert str(caught.value) == "API token is unknown, revoked or expired"


def test_issue_validates_expiry_user_and_label(users: UserStore, tokens: TokenStore) -> None:
    ada = users.create_user("ada", PASSWORD, ["investigator"])
    with pytest.raises(InvalidInputError):
        tokens.issue(ada.user_id, NOW - timedelta(seconds=1), now=NOW)
    with pytest.raises(InvalidInputError):
        tokens.issue(ada.user_id, NOW + timedelta(days=366), now=NOW)
    with pytest.raises(InvalidInputError):
        tokens.issue(ada.user_id, datetime(2026, 1, 1), now=NOW)  # naive
    with pytest.raises(InvalidInputError):
        tokens.issue(ada.user_id, NOW + timedelta(days=1), label="a\nb", now=NOW)
    with pytest.raises(NotFoundError):
        tokens.issue("ghost", NOW + timedelta(days=1), now=NOW)


def test_token_lifetime_cap_is_configurable(conn: sqlite3.Connection, users: UserStore) -> None:
    ada = users.create_user("ada", PASSWORD, ["investigator"])
    short = TokenStore(conn, max_lifetime=timedelta(days=7))
    with pytest.raises(InvalidInputError):
        short.issue(ada.user_id, NOW + timedelta(days=8), now=NOW)
    short.issue(ada.user_id, NOW + timedelta(days=7), now=NOW)


def test_stores_never_commit(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    writer = sqlite3.connect(path)
    users = UserStore(writer, params=FAST)
    ada = users.create_user("ada", PASSWORD, ["operator"])
    TokenStore(writer).issue(ada.user_id, NOW + timedelta(days=1), now=NOW)
    assert writer.in_transaction
    writer.rollback()
    reader = sqlite3.connect(path)
    assert reader.execute("SELECT COUNT(*) FROM gov_users").fetchone()[0] == 0
    assert reader.execute("SELECT COUNT(*) FROM gov_tokens").fetchone()[0] == 0
