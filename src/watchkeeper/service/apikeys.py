"""API keys of the CompreFace-compatible recognition service, each bound to one watchlist.

CompreFace clients send nothing but an ``x-api-key`` header, so the key carries everything a
governed search needs: the user it acts as (never with more than that user's roles), the one
watchlist it works on, the purpose every search is recorded under, the lawful basis of every
enrolment through it, and an expiry. Keys are shown once and stored as SHA-256 digests.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from watchkeeper.core.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from watchkeeper.gallery.watchlist import parse_basis, validate_watchlist_name
from watchkeeper.governance.authz import Permission, Principal, parse_roles
from watchkeeper.governance.policy import safe_excerpt
from watchkeeper.service.site import Site
from watchkeeper.store.sqlite import new_id

KEY_PREFIX = "wkcf_"
MAX_KEY_DAYS = 365
_COLUMNS = (
    "k.key_id, k.user_id, u.username, k.watchlist, k.purpose, k.basis, k.label, k.created_by,"
    " k.created_at, k.expires_at, k.revoked_at"
)


@dataclass(frozen=True, slots=True)
class RecognitionKey:
    """What a recognition key stands for (never its plaintext)."""

    key_id: str
    user_id: str
    username: str
    watchlist: str
    purpose: str
    basis: str
    label: str
    created_by: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None

    @property
    def source(self) -> str:
        """The enrolment source recorded for photos added through this key."""
        return f"CompreFace API key {self.label or self.key_id}"


@dataclass(frozen=True, slots=True)
class IssuedKey:
    key: RecognitionKey
    plaintext: str = field(repr=False)


def _digest(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def _row(row: tuple[object, ...]) -> RecognitionKey:
    return RecognitionKey(
        key_id=str(row[0]),
        user_id=str(row[1]),
        username=str(row[2]),
        watchlist=str(row[3]),
        purpose=str(row[4]),
        basis=str(row[5]),
        label=str(row[6]),
        created_by=str(row[7]),
        created_at=datetime.fromisoformat(str(row[8])),
        expires_at=datetime.fromisoformat(str(row[9])),
        revoked_at=None if row[10] is None else datetime.fromisoformat(str(row[10])),
    )


def lookup(
    conn: sqlite3.Connection, plaintext: str, now: datetime
) -> tuple[Principal, RecognitionKey]:
    """The principal and binding of a key; one refusal for unknown, expired, revoked keys and
    disabled users. Read-only, so it can run on any connection to the site database."""
    refusal = PermissionDeniedError("invalid, expired or revoked API key")
    if not plaintext.startswith(KEY_PREFIX):
        raise refusal
    digest = _digest(plaintext)
    row = conn.execute(
        f"SELECT {_COLUMNS}, k.digest, u.disabled_at, u.roles FROM recognition_keys k"
        " JOIN gov_users u ON u.user_id = k.user_id WHERE k.digest = ?",
        (digest,),
    ).fetchone()
    if row is None or not hmac.compare_digest(str(row[11]), digest) or row[12] is not None:
        raise refusal
    key = _row(row[:11])
    if key.revoked_at is not None or key.expires_at <= now:
        raise refusal
    roles = parse_roles(str(row[13]).split(","))
    return Principal(user_id=key.user_id, username=key.username, roles=roles), key


class RecognitionKeys:
    def __init__(self, site: Site) -> None:
        self._site = site

    def issue(
        self,
        principal: Principal,
        watchlist: str,
        purpose: str,
        *,
        username: str | None = None,
        basis: str = "consent",
        days: int = 90,
        label: str = "",
    ) -> IssuedKey:
        """A key for oneself or (with ``users.manage``) for another user, on one watchlist."""
        from watchkeeper.service.engine import validate_purpose

        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_KEY_DAYS:
            raise InvalidInputError(f"a key lives 1 to {MAX_KEY_DAYS} days")
        with self._site.act(
            principal,
            "apikey.issue",
            f"watchlist:{safe_excerpt(watchlist, 64)}",
            watchlist=watchlist if isinstance(watchlist, str) else None,
            purpose=purpose if isinstance(purpose, str) else "",
        ) as act:
            purpose = validate_purpose(purpose)
            basis = parse_basis(basis).value
            record = self._site.catalog.get(validate_watchlist_name(watchlist))
            owner = principal
            if username is not None and username.lower() != principal.username.lower():
                if not principal.can(Permission.USERS_MANAGE):
                    raise PermissionDeniedError(
                        f"user {principal.username!r} may issue keys only for themselves"
                    )
                owner = self._site.users().get(username)
            plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
            key = RecognitionKey(
                new_id("key"),
                owner.user_id,
                owner.username,
                record.name,
                purpose,
                basis,
                safe_excerpt(label, 100),
                principal.username,
                act.at,
                act.at + timedelta(days=days),
            )
            act.conn.execute(
                "INSERT INTO recognition_keys (key_id, digest, user_id, watchlist, purpose, basis,"
                " label, created_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key.key_id,
                    _digest(plaintext),
                    key.user_id,
                    key.watchlist,
                    key.purpose,
                    key.basis,
                    key.label,
                    key.created_by,
                    key.created_at.isoformat(),
                    key.expires_at.isoformat(),
                ),
            )
            act.record(
                target=f"apikey:{key.key_id}",
                details={"user": owner.username, "expires_at": key.expires_at.isoformat()},
            )
            return IssuedKey(key, plaintext)

    def list(self, principal: Principal) -> list[RecognitionKey]:
        """One's own keys, or everyone's with ``users.manage``."""
        with self._site.act(principal, "apikey.list", "apikeys") as act:
            sql = f"SELECT {_COLUMNS} FROM recognition_keys k JOIN gov_users u USING (user_id)"
            if principal.can(Permission.USERS_MANAGE):
                rows = act.conn.execute(sql + " ORDER BY k.created_at").fetchall()
            else:
                rows = act.conn.execute(
                    sql + " WHERE k.user_id = ? ORDER BY k.created_at", (principal.user_id,)
                ).fetchall()
            keys = [_row(r) for r in rows]
            act.record(details={"keys": len(keys)})
            return keys

    def revoke(self, principal: Principal, key_id: str) -> None:
        """Revoke one's own key, or (with ``users.manage``) anyone's."""
        with self._site.act(principal, "apikey.revoke", f"apikey:{key_id}") as act:
            row = act.conn.execute(
                "SELECT user_id FROM recognition_keys WHERE key_id = ?", (key_id,)
            ).fetchone()
            if row is None:
                raise NotFoundError(f"no API key {safe_excerpt(key_id, 40)!r}")
            if row[0] != principal.user_id and not principal.can(Permission.USERS_MANAGE):
                raise PermissionDeniedError("you may revoke only your own API keys")
            act.conn.execute(
                "UPDATE recognition_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE key_id = ?",
                (act.at.isoformat(), key_id),
            )
            act.record(details={"user_id": str(row[0])})
