"""Sign-in, API tokens and the first administrator, over governance's user and token stores.

An adapter for the HTTP service: it owns one SQLite connection to the site database (the
``gov_users`` and ``gov_tokens`` tables), serialises its use with a lock, and turns a
username and password into an expiring API token. When the service layer takes over users and
tokens (with audit records for each sign-in), routes keep calling the same methods.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from watchkeeper.core.errors import StoreError
from watchkeeper.governance.authz import (
    IssuedToken,
    Principal,
    Role,
    ScryptParams,
    TokenStore,
    UserStore,
)

log = logging.getLogger(__name__)

FIRST_ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class InitialCredential:
    """The first administrator's password: shown once at first start, never stored in clear."""

    username: str
    password: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Session:
    """A successful sign-in: who, and the token that stands for them until it expires."""

    principal: Principal
    token: IssuedToken


class Accounts:
    """Users and tokens of one site.

    >>> accounts = Accounts(Path("/tmp/wk-doc.db"), ScryptParams(n=2**10)).open()  # doctest: +SKIP
    >>> accounts.bootstrap_admin()  # doctest: +SKIP
    InitialCredential(username='admin')
    """

    def __init__(
        self,
        db_path: Path,
        params: ScryptParams | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.db_path = Path(db_path)
        self._params = params
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._users: UserStore | None = None
        self._tokens: TokenStore | None = None
        # Password checks (scrypt, ~0.3 s each) run on their own connection and lock, so they
        # never hold up the token look-ups every other request makes.
        self._login_lock = threading.Lock()
        self._login_conn: sqlite3.Connection | None = None
        self._login_users: UserStore | None = None

    def open(self) -> Accounts:
        if self._conn is not None:
            return self
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = self._connect()
            users = UserStore(conn, self._params)
            tokens = TokenStore(conn)
            login_conn = self._connect()
            login_users = UserStore(login_conn, self._params)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.db_path}: cannot open the user store ({exc})") from exc
        self._conn, self._users, self._tokens = conn, users, tokens
        self._login_conn, self._login_users = login_conn, login_users
        return self

    def _connect(self) -> sqlite3.Connection:
        # Autocommit: each statement of the stores is its own transaction.
        conn = sqlite3.connect(
            self.db_path, isolation_level=None, check_same_thread=False, timeout=30.0
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    def close(self) -> None:
        with self._login_lock:
            if self._login_conn is not None:
                self._login_conn.close()
            self._login_conn = self._login_users = None
        with self._lock:
            if self._conn is not None:
                self._conn.close()
            self._conn = self._users = self._tokens = None

    def _stores(self) -> tuple[sqlite3.Connection, UserStore, TokenStore]:
        if self._conn is None or self._users is None or self._tokens is None:
            raise StoreError("the user store is not open (the service is starting or stopping)")
        return self._conn, self._users, self._tokens

    def now(self) -> datetime:
        return self._clock()

    # -- users --------------------------------------------------------------------------------
    def user_count(self) -> int:
        with self._lock:
            conn, _, _ = self._stores()
            return int(conn.execute("SELECT COUNT(*) FROM gov_users").fetchone()[0])

    def create_user(self, username: str, password: str, roles: list[Role]) -> Principal:
        with self._lock:
            _, users, _ = self._stores()
            return users.create_user(username, password, roles, now=self.now())

    def bootstrap_admin(self) -> InitialCredential | None:
        """On a site with no users, create ``admin`` with a random password and return it."""
        if self.user_count() > 0:
            return None
        password = secrets.token_urlsafe(18)
        self.create_user(FIRST_ADMIN, password, [Role.ADMIN])
        log.warning("first start: created the administrator account %r", FIRST_ADMIN)
        return InitialCredential(FIRST_ADMIN, password)

    # -- sessions and tokens ------------------------------------------------------------------
    def sign_in(self, username: str, password: str, lifetime: timedelta, label: str) -> Session:
        """Check a password and issue a token valid for ``lifetime``.

        Raises:
            PermissionDeniedError: one message for unknown user, wrong password and disabled
                account.
        """
        with self._login_lock:
            if self._login_users is None:
                raise StoreError("the user store is not open (the service is starting or stopping)")
            principal = self._login_users.authenticate(username, password)
        with self._lock:
            _, _, tokens = self._stores()
            moment = self.now()
            token = tokens.issue(principal.user_id, moment + lifetime, label=label, now=moment)
        return Session(principal, token)

    def resolve(self, token: str) -> Principal:
        """The principal behind a token; refuses unknown, expired and revoked ones."""
        with self._lock:
            _, _, tokens = self._stores()
            return tokens.resolve(token, now=self.now())

    def sign_out(self, token: str) -> None:
        """Revoke the token a session runs on; unknown tokens are ignored."""
        # TokenStore revokes by id; the id is found by the token's digest, which is how the
        # store keeps it (SHA-256 of the plaintext).
        digest = hashlib.sha256(token.encode("utf-8")).hexdigest()
        with self._lock:
            conn, _, tokens = self._stores()
            row = conn.execute(
                "SELECT token_id FROM gov_tokens WHERE digest = ?", (digest,)
            ).fetchone()
            if row is not None:
                tokens.revoke(row[0], now=self.now())
