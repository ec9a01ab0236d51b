"""The plumbing every governed use-case shares: one store, its governance tables, a clock, and
:meth:`Site.act`, the one way a use-case changes anything.

``act`` opens a write transaction, hands the use-case the connection and an audit writer, and
commits only if the use-case wrote its audit record: if the record cannot be written, the change
rolls back with it, and a use-case that forgets to audit cannot commit at all. A refusal (missing
permission, inactive watchlist, protected attribute) rolls the change back and is then recorded
in a transaction of its own, so refusals are on the record too.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from watchkeeper.config.settings import Settings
from watchkeeper.core.errors import (
    InvalidInputError,
    PermissionDeniedError,
    PolicyViolationError,
    StoreError,
    WatchkeeperError,
)
from watchkeeper.gallery.catalog import GalleryCatalog
from watchkeeper.gallery.watchlist import require_active
from watchkeeper.governance import approvals as approvals_schema
from watchkeeper.governance import audit as audit_schema
from watchkeeper.governance import authz as authz_schema
from watchkeeper.governance import review as review_schema
from watchkeeper.governance.approvals import ApprovalBook, FourEyesSetting
from watchkeeper.governance.audit import NO_ROLE, SYSTEM_ROLE, AuditLog, AuditRecord, Outcome
from watchkeeper.governance.authz import (
    Permission,
    Principal,
    ScryptParams,
    TokenStore,
    UserStore,
    require,
)
from watchkeeper.governance.policy import safe_excerpt
from watchkeeper.governance.review import ReviewQueue
from watchkeeper.store.cipher import load_site_cipher
from watchkeeper.store.records import GalleryRecord
from watchkeeper.store.sqlite import SqliteStore

log = logging.getLogger(__name__)

DB_FILE = "watchkeeper.db"
Clock = Callable[[], datetime]

# The actor recorded for work nobody asked for in person (scheduled purges).
SYSTEM_ACTOR = "system"
ANONYMOUS_ACTOR = "anonymous"


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Act:
    """One governed change in progress: its connection, its clock reading, its audit writer."""

    conn: sqlite3.Connection
    at: datetime
    principal: Principal | None
    action: str
    target: str
    watchlist: str | None
    purpose: str
    audit_log: AuditLog
    records: list[AuditRecord] = field(default_factory=list)
    after_commit: list[Callable[[], object]] = field(default_factory=list)

    def record(
        self,
        *,
        details: Mapping[str, object] | None = None,
        action: str | None = None,
        target: str | None = None,
        watchlist: str | None = None,
        purpose: str | None = None,
        outcome: Outcome = Outcome.SUCCESS,
    ) -> AuditRecord:
        """Write an audit record in this change's transaction (defaults from :meth:`Site.act`)."""
        actor, role = _who(self.principal)
        written = self.audit_log.append(
            actor=actor,
            role=role,
            action=action or self.action,
            target=target or self.target,
            watchlist=watchlist if watchlist is not None else self.watchlist,
            purpose=purpose if purpose is not None else (self.purpose or "-"),
            outcome=outcome,
            details=details,
            at=self.at,
        )
        self.records.append(written)
        return written


def _who(principal: Principal | None) -> tuple[str, str]:
    if principal is None:
        return SYSTEM_ACTOR, SYSTEM_ROLE
    return principal.username, principal.role_names


class Site:
    """One site's store, governance tables and clock. Engines and sub-services share one."""

    def __init__(
        self,
        settings: Settings,
        clock: Clock | None = None,
        password_params: ScryptParams | None = None,
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or utc_now
        self.password_params = password_params or ScryptParams(
            n=settings.governance.password_hash_n
        )
        self._store: SqliteStore | None = None
        self._catalog: GalleryCatalog | None = None

    # -- life cycle --------------------------------------------------------------------------
    @property
    def store(self) -> SqliteStore:
        if self._store is None:
            cipher = load_site_cipher(self.settings.governance.template_key_file)
            store = SqliteStore(self.settings.home / DB_FILE, cipher=cipher).open()
            with store.transaction() as conn:
                for module in (authz_schema, audit_schema, approvals_schema, review_schema):
                    module.ensure_schema(conn)
            self._store = store
        return self._store

    @property
    def catalog(self) -> GalleryCatalog:
        if self._catalog is None:
            self._catalog = GalleryCatalog(self.store)
        return self._catalog

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
            self._catalog = None

    def now(self) -> datetime:
        moment = self.clock()
        if moment.tzinfo is None:
            raise InvalidInputError("the clock must give timezone-aware times")
        return moment.astimezone(UTC)

    @property
    def db_path(self) -> Path:
        return self.settings.home / DB_FILE

    # -- governance stores on the one connection ---------------------------------------------
    @property
    def conn(self) -> sqlite3.Connection:
        return self.store.conn

    def audit_log(self) -> AuditLog:
        return AuditLog(self.conn)

    def users(self) -> UserStore:
        return UserStore(self.conn, params=self.password_params)

    def tokens(self) -> TokenStore:
        return TokenStore(self.conn)

    def approvals(self) -> ApprovalBook:
        return ApprovalBook(self.conn, self.audit_log())

    def four_eyes(self) -> bool:
        return FourEyesSetting(self.conn).enabled()

    def reviews(self) -> ReviewQueue:
        return ReviewQueue(self.conn, self.audit_log())

    # -- the governed change -----------------------------------------------------------------
    @contextmanager
    def act(
        self,
        principal: Principal | None,
        action: str,
        target: str,
        *,
        permission: Permission | None = None,
        watchlist: str | None = None,
        purpose: str = "",
    ) -> Iterator[Act]:
        """Run a change in one transaction with its audit record; refusals are audited apart.

        ``permission`` is required of ``principal`` first (``principal=None`` is the system).
        """
        try:
            with self.store.transaction() as conn:
                if permission is not None and principal is not None:
                    require(principal, permission)
                audit = AuditLog(conn)
                start_seq = audit.head()[0]
                act = Act(
                    conn,
                    self.now(),
                    principal,
                    action,
                    target,
                    watchlist,
                    purpose,
                    audit,
                )
                yield act
                # Governance stores (approvals, settings, review) append on their own; any
                # record in this transaction counts.
                if audit.head()[0] == start_seq:
                    raise StoreError(f"{action} wrote no audit record; refusing to commit it")
        except (PermissionDeniedError, PolicyViolationError) as exc:
            self.record_refusal(principal, action, target, exc, watchlist, purpose)
            raise
        for callback in act.after_commit:
            callback()

    def check(
        self,
        principal: Principal,
        permission: Permission,
        action: str,
        target: str,
        *,
        watchlist: str | None = None,
        purpose: str = "",
    ) -> None:
        """Refuse (and audit the refusal) before any costly work if ``permission`` is missing."""
        try:
            require(principal, permission)
        except PermissionDeniedError as exc:
            self.record_refusal(principal, action, target, exc, watchlist, purpose)
            raise

    def record_refusal(
        self,
        principal: Principal | None,
        action: str,
        target: str,
        error: WatchkeeperError,
        watchlist: str | None = None,
        purpose: str = "",
        actor: str | None = None,
    ) -> None:
        """Write a refused attempt to the audit log in its own transaction.

        Everything the caller sent is cut to a safe excerpt: a refused request may carry
        hostile or policy-breaking text, which the record must hold without being harmed by it.
        """
        who, role = _who(principal)
        if principal is None and actor is not None:
            who, role = actor, NO_ROLE
        reason = f"refused: {safe_excerpt(str(error), 400)}"
        said = safe_excerpt(purpose, 400) if purpose else "-"
        try:
            with self.store.transaction() as conn:
                AuditLog(conn).append(
                    actor=safe_excerpt(who, 100),
                    role=role,
                    action=action,
                    target=safe_excerpt(target, 200) or "-",
                    watchlist=None if watchlist is None else safe_excerpt(watchlist, 100),
                    purpose=f"{said} | {reason}",
                    outcome=Outcome.REFUSED,
                    details={"error": type(error).__name__},
                    at=self.now(),
                )
        except WatchkeeperError:
            # The refusal itself still reaches the caller; losing its record is logged loudly.
            log.exception("could not write the audit record of a refused %s", action)

    # -- watchlists --------------------------------------------------------------------------
    def active_watchlist(self, name: str, at: datetime | None = None) -> GalleryRecord:
        """The named watchlist if it may be used now; checked against the clock on every call."""
        record = self.catalog.get(name)
        require_active(record, at or self.now())
        return record
