"""Sign-in sessions of the HTTP service, over the engine's governed accounts.

One source of truth: users, tokens, sign-ins and sign-outs all go through
``engine.accounts`` (``service/accounts.py``), so every one is audited like in the CLI. What
this adapter adds is what only a server needs: the first administrator's one-time password at
first start, sessions counted in hours, and a read-only connection of its own for the token
look-up every request makes. That connection (SQLite WAL) sees only committed rows, so a
request never authenticates against another thread's half-done transaction, and it never
waits for a recognition running on the engine's connection.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import sqlite3
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from watchkeeper.core.errors import PermissionDeniedError, StoreError
from watchkeeper.governance.audit import AuditAction
from watchkeeper.governance.authz import IssuedToken, Principal, TokenStore
from watchkeeper.service.apikeys import RecognitionKey, lookup
from watchkeeper.service.engine import Engine
from watchkeeper.service.site import ANONYMOUS_ACTOR

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
    """Sessions of one site's service.

    >>> accounts = Accounts(Engine(settings)).open()  # doctest: +SKIP
    >>> accounts.bootstrap_admin()  # doctest: +SKIP
    InitialCredential(username='admin')
    """

    def __init__(self, engine: Engine, home_use: bool = False) -> None:
        self.engine = engine
        # A site run by one person: the first account gets every role and four-eyes approval
        # is switched off through the audited setting (see service.accounts.initialise).
        self.home_use = home_use
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._tokens: TokenStore | None = None

    def open(self) -> Accounts:
        """Open the site store (creating its tables) and the read connection for tokens."""
        if self._conn is not None:
            return self
        _ = self.engine.store
        try:
            conn = sqlite3.connect(
                self.engine.site.db_path, isolation_level=None, check_same_thread=False, timeout=30
            )
            tokens = TokenStore(conn)
            # Only ever reads: a bug here cannot write around the audited path.
            conn.execute("PRAGMA query_only=ON")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open the user store ({exc})") from exc
        self._conn, self._tokens = conn, tokens
        return self

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
            self._conn = self._tokens = None

    def now(self) -> datetime:
        return self.engine.site.now()

    def _read(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError("the user store is not open (the service is starting or stopping)")
        return self._conn

    # -- users --------------------------------------------------------------------------------
    def user_count(self) -> int:
        with self._lock:
            return int(self._read().execute("SELECT COUNT(*) FROM gov_users").fetchone()[0])

    def bootstrap_admin(self) -> InitialCredential | None:
        """On a site with no users, create ``admin`` with a random password and return it.

        Goes through the audited site initialisation; the initial API token it also makes is
        revoked at once, since nobody is shown it (the administrator signs in instead).
        """
        accounts = self.engine.accounts
        if accounts.is_initialised():
            return None
        password = secrets.token_urlsafe(18)
        account = accounts.initialise(FIRST_ADMIN, password=password, home_use=self.home_use)
        accounts.revoke_token(account.principal, account.token.token_id)
        log.warning("first start: created the administrator account %r", FIRST_ADMIN)
        return InitialCredential(FIRST_ADMIN, password)

    # -- sessions and tokens ------------------------------------------------------------------
    def sign_in(self, username: str, password: str, lifetime: timedelta, label: str) -> Session:
        """Check a password and issue a token valid for ``lifetime`` (audited either way).

        Raises:
            PermissionDeniedError: one message for unknown user, wrong password and disabled
                account.
        """
        token = self.engine.accounts.login(username, password, lifetime=lifetime, label=label)
        return Session(self.resolve(token.plaintext), token)

    def resolve(self, token: str) -> Principal:
        """The principal behind a token; refuses (and audits) unknown, expired, revoked ones."""
        try:
            with self._lock:
                self._read()
                if self._tokens is None:
                    raise StoreError("the user store is not open")
                return self._tokens.resolve(token, now=self.now())
        except PermissionDeniedError as exc:
            self.engine.site.record_refusal(
                None, AuditAction.LOGIN, "token", exc, actor=ANONYMOUS_ACTOR
            )
            raise

    def resolve_key(self, plaintext: str) -> tuple[Principal, RecognitionKey]:
        """The user and watchlist binding of a recognition API key (refusals audited)."""
        try:
            with self._lock:
                return lookup(self._read(), plaintext, self.now())
        except PermissionDeniedError as exc:
            self.engine.site.record_refusal(
                None, AuditAction.LOGIN, "apikey", exc, actor=ANONYMOUS_ACTOR
            )
            raise

    def token_id(self, token: str) -> str | None:
        """The id of a token given its plaintext (the store keeps its SHA-256 digest)."""
        digest = hashlib.sha256(token.encode("utf-8")).hexdigest()
        with self._lock:
            row = (
                self._read()
                .execute("SELECT token_id FROM gov_tokens WHERE digest = ?", (digest,))
                .fetchone()
            )
        return None if row is None else str(row[0])

    def sign_out(self, principal: Principal, token: str) -> None:
        """Revoke the token a session runs on (audited); unknown tokens are ignored."""
        token_id = self.token_id(token)
        if token_id is not None:
            self.engine.accounts.revoke_token(principal, token_id)
