"""Roles, permissions, principals, users and API tokens.

Deny by default: a role holds only the permissions listed in :data:`ROLE_PERMISSIONS`, and
:func:`require` is the single check every service use-case makes before it acts.

Example:
    >>> alice = Principal(user_id="u1", username="alice", roles=frozenset({Role.INVESTIGATOR}))
    >>> require(alice, Permission.SEARCH_IDENTIFY)
    >>> alice.can(Permission.USERS_MANAGE)
    False
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import re
import secrets
import sqlite3
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from types import MappingProxyType

from watchkeeper.core.errors import (
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    StoreError,
)
from watchkeeper.governance.policy import safe_excerpt

__all__ = [
    "ROLE_PERMISSIONS",
    "IssuedToken",
    "Permission",
    "Principal",
    "Role",
    "ScryptParams",
    "TokenStore",
    "UserInfo",
    "UserStore",
    "parse_role",
    "parse_roles",
    "permissions_of",
    "require",
]

logger = logging.getLogger(__name__)


class Role(StrEnum):
    """What a person is at this site; a user may hold several."""

    ADMIN = "admin"
    OPERATOR = "operator"
    INVESTIGATOR = "investigator"
    REVIEWER = "reviewer"
    AUDITOR = "auditor"


class Permission(StrEnum):
    """One thing a principal may do. Service use-cases each require exactly the ones they need."""

    USERS_MANAGE = "users.manage"
    SETTINGS_READ = "settings.read"
    SETTINGS_CHANGE = "settings.change"
    CAMERAS_MANAGE = "cameras.manage"
    GALLERY_ENROL = "gallery.enrol"
    GALLERY_VIEW = "gallery.view"
    GALLERY_DELETE = "gallery.delete"
    WATCHLIST_VIEW = "watchlist.view"
    WATCHLIST_CREATE = "watchlist.create"
    WATCHLIST_MANAGE = "watchlist.manage"
    SEARCH_IDENTIFY = "search.identify"
    SEARCH_VERIFY = "search.verify"
    SEARCH_FOOTAGE = "search.footage"
    REVIEW_VIEW = "review.view"
    REVIEW_DECIDE = "review.decide"
    APPROVALS_APPROVE = "approvals.approve"
    AUDIT_READ = "audit.read"
    AUDIT_VERIFY = "audit.verify"
    REPORTS_READ = "reports.read"
    RETENTION_PURGE = "retention.purge"
    DATA_ERASE = "data.erase"
    DATA_EXPORT = "data.export"


_P = Permission

# Least privilege. Separation of duties shapes this table:
# - the admin runs the site (users, settings, retention, erasure requests) and approves
#   four-eyes requests, but cannot search, enrol or read the audit trail of what others did;
#   verifying the chain's integrity reveals no content, so the admin may do that;
# - the operator runs cameras and the gallery and proposes watchlists, but cannot search;
# - the investigator searches and exports results, but cannot change the gallery;
# - the reviewer decides on candidate matches and sees only what that needs;
# - the auditor reads the audit log and reports, and nothing else.
ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = MappingProxyType(
    {
        Role.ADMIN: frozenset(
            {
                _P.USERS_MANAGE,
                _P.SETTINGS_READ,
                _P.SETTINGS_CHANGE,
                _P.APPROVALS_APPROVE,
                _P.RETENTION_PURGE,
                _P.DATA_ERASE,
                _P.AUDIT_VERIFY,
            }
        ),
        Role.OPERATOR: frozenset(
            {
                _P.CAMERAS_MANAGE,
                _P.GALLERY_ENROL,
                _P.GALLERY_VIEW,
                _P.GALLERY_DELETE,
                _P.WATCHLIST_VIEW,
                _P.WATCHLIST_CREATE,
                _P.WATCHLIST_MANAGE,
            }
        ),
        Role.INVESTIGATOR: frozenset(
            {
                _P.WATCHLIST_VIEW,
                _P.SEARCH_IDENTIFY,
                _P.SEARCH_VERIFY,
                _P.SEARCH_FOOTAGE,
                _P.GALLERY_VIEW,
                _P.DATA_EXPORT,
            }
        ),
        Role.REVIEWER: frozenset(
            {_P.REVIEW_VIEW, _P.REVIEW_DECIDE, _P.GALLERY_VIEW, _P.WATCHLIST_VIEW}
        ),
        Role.AUDITOR: frozenset({_P.AUDIT_READ, _P.AUDIT_VERIFY, _P.REPORTS_READ}),
    }
)


def parse_role(name: object) -> Role:
    """The :class:`Role` called ``name``; anything else is refused.

    >>> parse_role("Auditor")
    <Role.AUDITOR: 'auditor'>
    """
    if not isinstance(name, str):
        raise InvalidInputError(f"role must be text, got {type(name).__name__}")
    try:
        return Role(name.strip().lower())
    except ValueError:
        known = ", ".join(role.value for role in Role)
        raise InvalidInputError(
            f"unknown role {safe_excerpt(name, 40)!r}; roles are: {known}"
        ) from None


def parse_roles(names: Iterable[object]) -> frozenset[Role]:
    """A non-empty set of roles from their names; one unknown name refuses the lot."""
    if isinstance(names, str | bytes):
        raise InvalidInputError("roles must be a list of role names, not one string")
    roles = frozenset(parse_role(name) for name in names)
    if not roles:
        raise InvalidInputError("at least one role is required")
    return roles


def permissions_of(roles: Iterable[Role]) -> frozenset[Permission]:
    """Union of the permissions the given roles hold."""
    granted: set[Permission] = set()
    for role in roles:
        granted |= ROLE_PERMISSIONS[role]
    return frozenset(granted)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is acting: an authenticated user and the roles they hold."""

    user_id: str
    username: str
    roles: frozenset[Role]
    permissions: frozenset[Permission] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.roles:
            raise InvalidInputError(f"user {self.username!r} has no role")
        roles = frozenset(parse_role(role) for role in self.roles)
        object.__setattr__(self, "roles", roles)
        object.__setattr__(self, "permissions", permissions_of(roles))

    def can(self, permission: Permission) -> bool:
        """Whether any of this principal's roles grants ``permission``."""
        return permission in self.permissions

    @property
    def role_names(self) -> str:
        """Roles as one sorted, comma-separated string, as written to the audit log."""
        return ",".join(sorted(role.value for role in self.roles))


def require(principal: Principal, permission: Permission) -> None:
    """Refuse unless ``principal`` holds ``permission``.

    The caller writes the refusal to the audit log (after rolling back whatever it had begun),
    since a record written inside the failed transaction would be rolled back with it.

    Raises:
        PermissionDeniedError: naming the user, their roles and the missing permission.
    """
    if not principal.can(permission):
        raise PermissionDeniedError(
            f"user {principal.username!r} (roles: {principal.role_names}) may not "
            f"{permission.value}; ask an administrator if your duties need it"
        )


# --- Passwords -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScryptParams:
    """Cost of the password hash.

    scrypt from the standard library rather than argon2: it is memory-hard, needs no extra
    dependency, and these defaults (N=2**17, r=8, p=1, 128 MiB) follow OWASP's recommendation.
    Tests pass a cheaper setting; the parameters are stored with each hash, so raising them later
    does not lock anyone out.
    """

    n: int = 2**17
    r: int = 8
    p: int = 1

    def __post_init__(self) -> None:
        if self.n < 2 or self.n & (self.n - 1) or self.r < 1 or self.p < 1:
            raise InvalidInputError("scrypt needs n a power of two above 1 and r, p >= 1")

    @property
    def maxmem(self) -> int:
        return 128 * self.r * self.n * self.p + 2**20


_SALT_BYTES = 16
_HASH_BYTES = 32


def _scrypt(password: str, salt: bytes, params: ScryptParams) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=params.n,
        r=params.r,
        p=params.p,
        maxmem=params.maxmem,
        dklen=_HASH_BYTES,
    )


def _hash_password(password: str, params: ScryptParams) -> str:
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = _scrypt(password, salt, params)
    return f"scrypt${params.n}${params.r}${params.p}${salt.hex()}${digest.hex()}"


@functools.cache
def _dummy_hash(params: ScryptParams) -> str:
    return _hash_password(secrets.token_hex(16), params)


def _check_password(password: str, encoded: str) -> bool:
    try:
        scheme, n, r, p, salt_hex, digest_hex = encoded.split("$")
        if scheme != "scrypt":
            return False
        params = ScryptParams(int(n), int(r), int(p))
        expected = bytes.fromhex(digest_hex)
        actual = _scrypt(password, bytes.fromhex(salt_hex), params)
    except (ValueError, InvalidInputError):
        logger.error("a stored password hash is malformed; refusing the login")
        return False
    return hmac.compare_digest(actual, expected)


# --- Stores --------------------------------------------------------------------------------------

# Stored instead of a hash for token-only accounts; no scrypt output can equal it.
TOKEN_ONLY = "!token-only"


@dataclass(frozen=True, slots=True)
class UserInfo:
    """A user as listed for administrators (never with a hash)."""

    user_id: str
    username: str
    roles: tuple[str, ...]
    created_at: datetime
    disabled_at: datetime | None
    has_password: bool


_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
_MIN_PASSWORD = 12
_MAX_PASSWORD = 1024

_SCHEMA = """
CREATE TABLE IF NOT EXISTS gov_users (
    user_id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    roles TEXT NOT NULL,
    created_at TEXT NOT NULL,
    disabled_at TEXT
);
CREATE TABLE IF NOT EXISTS gov_tokens (
    token_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES gov_users(user_id),
    digest TEXT NOT NULL UNIQUE,
    label TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX IF NOT EXISTS gov_tokens_user ON gov_tokens(user_id);
"""


def ensure_schema(conn: sqlite3.Connection) -> None:
    """Create the user and token tables if they are missing (no commit)."""
    for statement in _SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)


def _utc(moment: datetime, name: str) -> datetime:
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        raise InvalidInputError(f"{name} must be a timezone-aware datetime")
    return moment.astimezone(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _now(now: datetime | None) -> datetime:
    return datetime.now(UTC) if now is None else _utc(now, "now")


def _validate_username(username: object) -> str:
    if not isinstance(username, str) or not _USERNAME.fullmatch(username):
        raise InvalidInputError(
            f"invalid username {safe_excerpt(username, 40)!r}: use 1-64 letters, digits, "
            "'.', '_', '@' or '-', starting with a letter or digit"
        )
    return username


def _validate_password(password: object) -> str:
    if not isinstance(password, str):
        raise InvalidInputError("password must be text")
    if not _MIN_PASSWORD <= len(password) <= _MAX_PASSWORD:
        raise InvalidInputError(
            f"password must be {_MIN_PASSWORD} to {_MAX_PASSWORD} characters long"
        )
    return password


class UserStore:
    """Users with scrypt-hashed passwords and roles, on the caller's connection.

    >>> import sqlite3
    >>> users = UserStore(sqlite3.connect(":memory:"), params=ScryptParams(n=2**10))
    >>> ada = users.create_user("ada", "correct horse battery", ["operator"])
    >>> users.authenticate("ada", "correct horse battery").roles
    frozenset({<Role.OPERATOR: 'operator'>})
    """

    def __init__(self, conn: sqlite3.Connection, params: ScryptParams | None = None) -> None:
        self._conn = conn
        self._params = params or ScryptParams()
        ensure_schema(conn)

    def create_user(
        self,
        username: str,
        password: str | None,
        roles: Iterable[object],
        now: datetime | None = None,
    ) -> Principal:
        """Add a user; the username is unique regardless of case.

        ``password=None`` makes a token-only account: it signs in only with API tokens, and no
        password hash (nothing to crack) is stored for it.
        """
        name = _validate_username(username)
        granted = parse_roles(roles)
        encoded = (
            TOKEN_ONLY
            if password is None
            else _hash_password(_validate_password(password), self._params)
        )
        user_id = uuid.uuid4().hex
        try:
            self._conn.execute(
                "INSERT INTO gov_users (user_id, username, password_hash, roles, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (
                    user_id,
                    name,
                    encoded,
                    ",".join(sorted(role.value for role in granted)),
                    _iso(_now(now)),
                ),
            )
        except sqlite3.IntegrityError:
            raise InvalidInputError(f"username {name!r} is already taken") from None
        return Principal(user_id=user_id, username=name, roles=granted)

    def authenticate(self, username: str, password: str) -> Principal:
        """The principal for a correct username and password of an enabled user.

        Raises:
            PermissionDeniedError: one message for unknown user, wrong password or disabled
                account, so the answer does not reveal which usernames exist.
        """
        row = None
        if isinstance(username, str) and _USERNAME.fullmatch(username):
            row = self._conn.execute(
                "SELECT user_id, username, password_hash, roles, disabled_at FROM gov_users"
                " WHERE username = ?",
                (username,),
            ).fetchone()
        candidate = password if isinstance(password, str) else ""
        if len(candidate) > _MAX_PASSWORD:
            candidate = ""
        # An unknown username still costs one scrypt, so timing does not reveal which exist.
        usable = row is not None and row[2] != TOKEN_ONLY
        encoded = row[2] if usable and row is not None else _dummy_hash(self._params)
        password_ok = _check_password(candidate, encoded) and usable
        if row is None or not password_ok or row[4] is not None:
            raise PermissionDeniedError("unknown username or wrong password, or account disabled")
        return _principal(row[0], row[1], row[3])

    def get(self, username: str) -> Principal:
        """The principal for a username (case-insensitive)."""
        row = self._conn.execute(
            "SELECT user_id, username, roles FROM gov_users WHERE username = ?", (username,)
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no user {safe_excerpt(username, 40)!r}")
        return _principal(row[0], row[1], row[2])

    def principal(self, user_id: str) -> Principal:
        """The principal of an enabled user, by id."""
        row = self._conn.execute(
            "SELECT user_id, username, roles, disabled_at FROM gov_users WHERE user_id = ?",
            (user_id,),
        ).fetchone()
        if row is None or row[3] is not None:
            raise NotFoundError(f"no enabled user with id {safe_excerpt(user_id, 40)!r}")
        return _principal(row[0], row[1], row[2])

    def list_users(self) -> tuple[UserInfo, ...]:
        """Every user, enabled or not, by name."""
        rows = self._conn.execute(
            "SELECT user_id, username, roles, created_at, disabled_at, password_hash"
            " FROM gov_users ORDER BY username"
        ).fetchall()
        return tuple(
            UserInfo(
                user_id=str(r[0]),
                username=str(r[1]),
                roles=tuple(sorted(str(r[2]).split(","))),
                created_at=datetime.fromisoformat(str(r[3])),
                disabled_at=None if r[4] is None else datetime.fromisoformat(str(r[4])),
                has_password=r[5] != TOKEN_ONLY,
            )
            for r in rows
        )

    def count_enabled_with(self, role: Role) -> int:
        """How many enabled users hold ``role``."""
        rows = self._conn.execute(
            "SELECT roles FROM gov_users WHERE disabled_at IS NULL"
        ).fetchall()
        return sum(1 for (roles,) in rows if role.value in str(roles).split(","))

    def is_enabled(self, user_id: str) -> bool:
        """Whether ``user_id`` names an existing, enabled user."""
        return _user_enabled(self._conn, user_id)

    def disable(self, username: str, now: datetime | None = None) -> None:
        """Disable a user: no more logins, and their API tokens stop resolving."""
        cursor = self._conn.execute(
            "UPDATE gov_users SET disabled_at = COALESCE(disabled_at, ?) WHERE username = ?",
            (_iso(_now(now)), username),
        )
        if cursor.rowcount != 1:
            raise NotFoundError(f"no user {safe_excerpt(username, 40)!r}")


def _user_enabled(conn: sqlite3.Connection, user_id: str) -> bool:
    row = conn.execute("SELECT disabled_at FROM gov_users WHERE user_id = ?", (user_id,)).fetchone()
    return row is not None and row[0] is None


def _principal(user_id: str, username: str, roles: str) -> Principal:
    try:
        return Principal(user_id=user_id, username=username, roles=parse_roles(roles.split(",")))
    except InvalidInputError as error:
        raise StoreError(f"user {username!r} has unreadable roles in the store: {error}") from None


# --- API tokens ----------------------------------------------------------------------------------

TOKEN_PREFIX = "wk_"
DEFAULT_MAX_TOKEN_LIFETIME = timedelta(days=365)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A freshly issued API token. ``plaintext`` exists only here: show it once, then drop it."""

    token_id: str
    plaintext: str = field(repr=False)
    user_id: str
    expires_at: datetime


def _digest(token: str) -> str:
    # A plain SHA-256 is the right hash here, unlike for passwords: the token carries 256 bits
    # from secrets.token_urlsafe(32), so there is nothing to brute-force or look up, and a fast
    # hash keeps every API request cheap.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenStore:
    """Expiring, revocable API tokens stored only as SHA-256 digests."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        max_lifetime: timedelta = DEFAULT_MAX_TOKEN_LIFETIME,
    ) -> None:
        if max_lifetime <= timedelta(0):
            raise InvalidInputError("max token lifetime must be positive")
        self._conn = conn
        self._max_lifetime = max_lifetime
        ensure_schema(conn)

    def issue(
        self,
        user_id: str,
        expires_at: datetime,
        label: str = "",
        now: datetime | None = None,
    ) -> IssuedToken:
        """Issue a token for an enabled user, expiring at ``expires_at``."""
        moment = _now(now)
        expiry = _utc(expires_at, "expires_at")
        if expiry <= moment:
            raise InvalidInputError("expires_at must be in the future")
        if expiry - moment > self._max_lifetime:
            raise InvalidInputError(
                f"a token may live at most {self._max_lifetime.days} days; pick an earlier expiry"
            )
        if not isinstance(label, str) or len(label) > 100 or not label.isprintable():
            raise InvalidInputError("token label must be printable text of at most 100 characters")
        if not _user_enabled(self._conn, user_id):
            raise NotFoundError(f"no enabled user with id {safe_excerpt(user_id, 40)!r}")
        plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token_id = uuid.uuid4().hex
        self._conn.execute(
            "INSERT INTO gov_tokens (token_id, user_id, digest, label, created_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (token_id, user_id, _digest(plaintext), label, _iso(moment), _iso(expiry)),
        )
        return IssuedToken(token_id, plaintext, user_id, expiry)

    def resolve(self, token: str, now: datetime | None = None) -> Principal:
        """The principal a token stands for.

        Raises:
            PermissionDeniedError: one message for unknown, malformed, revoked or expired tokens
                and disabled users.
        """
        refusal = PermissionDeniedError("API token is unknown, revoked or expired")
        if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            raise refusal
        digest = _digest(token)
        # Looking the digest up by index leaks nothing useful through timing: an attacker cannot
        # steer the digest of their guess. The row's digest is still compared in constant time.
        row = self._conn.execute(
            "SELECT t.digest, t.expires_at, t.revoked_at, u.user_id, u.username, u.roles,"
            " u.disabled_at FROM gov_tokens t JOIN gov_users u ON u.user_id = t.user_id"
            " WHERE t.digest = ?",
            (digest,),
        ).fetchone()
        if row is None or not hmac.compare_digest(row[0], digest):
            raise refusal
        expired = datetime.fromisoformat(row[1]) <= _now(now)
        if expired or row[2] is not None or row[6] is not None:
            raise refusal
        return _principal(row[3], row[4], row[5])

    def revoke(self, token_id: str, now: datetime | None = None) -> None:
        """Revoke one token by id; revoking twice is harmless."""
        cursor = self._conn.execute(
            "UPDATE gov_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE token_id = ?",
            (_iso(_now(now)), token_id),
        )
        if cursor.rowcount != 1:
            raise NotFoundError(f"no token with id {safe_excerpt(token_id, 40)!r}")

    def owner_of(self, token_id: str) -> str:
        """The user id a token belongs to."""
        row = self._conn.execute(
            "SELECT user_id FROM gov_tokens WHERE token_id = ?", (token_id,)
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no token with id {safe_excerpt(token_id, 40)!r}")
        return str(row[0])

    def token_id_of(self, token: str) -> str | None:
        """The id of a presented token (for "revoke the token I am using"), or None."""
        if not isinstance(token, str) or len(token) > 200:
            return None
        row = self._conn.execute(
            "SELECT token_id FROM gov_tokens WHERE digest = ?", (_digest(token),)
        ).fetchone()
        return None if row is None else str(row[0])

    def revoke_all(self, user_id: str, now: datetime | None = None) -> int:
        """Revoke every live token of a user; returns how many were revoked."""
        cursor = self._conn.execute(
            "UPDATE gov_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
            (_iso(_now(now)), user_id),
        )
        return cursor.rowcount
