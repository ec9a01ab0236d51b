"""The embedded SQLite store: the source of truth for galleries, identities and templates.

WAL journaling lets readers continue while one writer commits, and every multi-row change runs
in one transaction, so a process killed mid-enrolment leaves either all of an enrolment or none.
Schema changes are numbered migrations applied in order; a database from a newer Watchkeeper is
refused rather than guessed at.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

from watchkeeper.core.errors import InvalidInputError, NotFoundError, StoreError
from watchkeeper.store.records import GalleryRecord, IdentityRecord, TemplateRecord

log = logging.getLogger(__name__)

Migration = Callable[[sqlite3.Connection], None]


def _run_script(conn: sqlite3.Connection, script: str) -> None:
    # executescript() would commit the surrounding transaction; run statements one by one so a
    # migration and its version bump commit together.
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


def _m1_galleries(conn: sqlite3.Connection) -> None:
    _run_script(
        conn,
        """
        CREATE TABLE galleries (
            gallery_id TEXT PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            contract_id TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE TABLE identities (
            identity_id TEXT PRIMARY KEY,
            gallery_id TEXT NOT NULL REFERENCES galleries(gallery_id) ON DELETE CASCADE,
            display_name TEXT NOT NULL,
            created_at TEXT NOT NULL,
            UNIQUE (gallery_id, display_name)
        );
        CREATE TABLE templates (
            template_id TEXT PRIMARY KEY,
            identity_id TEXT NOT NULL REFERENCES identities(identity_id) ON DELETE CASCADE,
            contract_id TEXT NOT NULL,
            dim INTEGER NOT NULL,
            embedding BLOB NOT NULL,
            digest TEXT NOT NULL,
            source TEXT NOT NULL,
            created_at TEXT NOT NULL,
            UNIQUE (identity_id, digest)
        );
        CREATE INDEX templates_by_identity ON templates(identity_id);
        """,
    )


MIGRATIONS: tuple[Migration, ...] = (_m1_galleries,)
"""Index i holds the step from schema version i to i + 1. Append only; never edit a shipped one."""


def now_utc() -> datetime:
    return datetime.now(UTC)


def _ts(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


def _from_ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def embedding_digest(vector: npt.NDArray[np.float32]) -> str:
    """Digest of a template's vector rounded to 1e-5, so re-enrolling the same photo is caught."""
    rounded = np.round(np.asarray(vector, np.float64), 5).astype(np.float32)
    return hashlib.sha256(rounded.tobytes()).hexdigest()


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


class SqliteStore:
    """Galleries, identities and templates in one SQLite file under the data directory."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.RLock()

    # -- life cycle --------------------------------------------------------------------------
    def open(self) -> SqliteStore:
        if self._conn is not None:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30.0
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path} is not a Watchkeeper database ({exc})") from exc
        self._conn = conn
        self._migrate()
        return self

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> SqliteStore:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            self.open()
        if self._conn is None:
            raise StoreError(f"{self.path} could not be opened")
        return self._conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; everything inside commits together or not at all."""
        with self._lock:
            conn = self.conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")

    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        current = self.schema_version()
        if current > len(MIGRATIONS):
            raise StoreError(
                f"{self.path} has schema version {current}, newer than this Watchkeeper "
                f"({len(MIGRATIONS)}); upgrade Watchkeeper to open it"
            )
        for version in range(current, len(MIGRATIONS)):
            log.info("migrating %s to schema version %d", self.path, version + 1)
            with self.transaction() as conn:
                MIGRATIONS[version](conn)
                conn.execute(f"PRAGMA user_version = {version + 1}")

    def integrity_problems(self) -> list[str]:
        """Empty when the file and its references are sound."""
        problems = [row[0] for row in self.conn.execute("PRAGMA integrity_check") if row[0] != "ok"]
        problems += [
            f"dangling reference: {r}" for r in self.conn.execute("PRAGMA foreign_key_check")
        ]
        return problems

    # -- galleries ---------------------------------------------------------------------------
    def create_gallery(self, name: str, contract_id: str) -> GalleryRecord:
        record = GalleryRecord(new_id("gal"), name, contract_id, now_utc())
        try:
            with self.transaction() as conn:
                conn.execute(
                    "INSERT INTO galleries VALUES (?, ?, ?, ?)",
                    (record.gallery_id, name, contract_id, _ts(record.created_at)),
                )
        except sqlite3.IntegrityError as exc:
            raise InvalidInputError(f"a gallery named {name!r} already exists") from exc
        return record

    def _gallery_from_row(self, row: tuple[str, str, str, str]) -> GalleryRecord:
        return GalleryRecord(row[0], row[1], row[2], _from_ts(row[3]))

    def get_gallery(self, name: str) -> GalleryRecord:
        row = self.conn.execute(
            "SELECT gallery_id, name, contract_id, created_at FROM galleries WHERE name = ?",
            (name,),
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no gallery named {name!r}")
        return self._gallery_from_row(row)

    def find_gallery(self, name: str) -> GalleryRecord | None:
        try:
            return self.get_gallery(name)
        except NotFoundError:
            return None

    def list_galleries(self) -> list[GalleryRecord]:
        rows = self.conn.execute(
            "SELECT gallery_id, name, contract_id, created_at FROM galleries ORDER BY name"
        )
        return [self._gallery_from_row(r) for r in rows]

    def delete_gallery(self, gallery_id: str, conn: sqlite3.Connection) -> int:
        """Delete a gallery and everything in it inside the caller's transaction."""
        return conn.execute("DELETE FROM galleries WHERE gallery_id = ?", (gallery_id,)).rowcount

    # -- identities --------------------------------------------------------------------------
    def _identity_from_row(self, row: tuple[str, str, str, str, int]) -> IdentityRecord:
        return IdentityRecord(row[0], row[1], row[2], _from_ts(row[3]), int(row[4]))

    _IDENTITY_SELECT = (
        "SELECT i.identity_id, i.gallery_id, i.display_name, i.created_at, "
        "(SELECT COUNT(*) FROM templates t WHERE t.identity_id = i.identity_id) FROM identities i "
    )

    def find_identity(self, gallery_id: str, display_name: str) -> IdentityRecord | None:
        row = self.conn.execute(
            self._IDENTITY_SELECT + "WHERE i.gallery_id = ? AND i.display_name = ?",
            (gallery_id, display_name),
        ).fetchone()
        return None if row is None else self._identity_from_row(row)

    def get_identity(self, identity_id: str) -> IdentityRecord:
        row = self.conn.execute(
            self._IDENTITY_SELECT + "WHERE i.identity_id = ?", (identity_id,)
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no identity with id {identity_id!r}")
        return self._identity_from_row(row)

    def list_identities(
        self, gallery_id: str, limit: int = 1000, offset: int = 0
    ) -> list[IdentityRecord]:
        rows = self.conn.execute(
            self._IDENTITY_SELECT
            + "WHERE i.gallery_id = ? ORDER BY i.display_name LIMIT ? OFFSET ?",
            (gallery_id, limit, offset),
        )
        return [self._identity_from_row(r) for r in rows]

    def insert_identity(
        self, conn: sqlite3.Connection, gallery_id: str, display_name: str
    ) -> IdentityRecord:
        record = IdentityRecord(new_id("idn"), gallery_id, display_name, now_utc())
        conn.execute(
            "INSERT INTO identities VALUES (?, ?, ?, ?)",
            (record.identity_id, gallery_id, display_name, _ts(record.created_at)),
        )
        return record

    def delete_identity(self, conn: sqlite3.Connection, identity_id: str) -> list[str]:
        """Delete an identity and its templates; returns the removed template ids."""
        removed = [
            r[0]
            for r in conn.execute(
                "SELECT template_id FROM templates WHERE identity_id = ?", (identity_id,)
            )
        ]
        if (
            conn.execute("DELETE FROM identities WHERE identity_id = ?", (identity_id,)).rowcount
            == 0
        ):
            raise NotFoundError(f"no identity with id {identity_id!r}")
        return removed

    # -- templates ---------------------------------------------------------------------------
    def insert_template(
        self,
        conn: sqlite3.Connection,
        identity_id: str,
        contract_id: str,
        embedding: npt.NDArray[np.float32],
        source: str,
    ) -> TemplateRecord | None:
        """Store one template; returns None when the identity already has this exact vector."""
        vec = np.ascontiguousarray(embedding, dtype=np.float32).reshape(-1)
        digest = embedding_digest(vec)
        record = TemplateRecord(new_id("tpl"), identity_id, contract_id, vec, source, now_utc())
        cur = conn.execute(
            "INSERT OR IGNORE INTO templates VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.template_id,
                identity_id,
                contract_id,
                len(vec),
                vec.tobytes(),
                digest,
                source,
                _ts(record.created_at),
            ),
        )
        return record if cur.rowcount == 1 else None

    def delete_template(self, conn: sqlite3.Connection, template_id: str) -> str:
        """Delete one template; returns its identity id."""
        row = conn.execute(
            "SELECT identity_id FROM templates WHERE template_id = ?", (template_id,)
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no template with id {template_id!r}")
        conn.execute("DELETE FROM templates WHERE template_id = ?", (template_id,))
        return str(row[0])

    def templates(
        self, gallery_id: str | None = None, identity_id: str | None = None
    ) -> list[TemplateRecord]:
        sql = (
            "SELECT t.template_id, t.identity_id, t.contract_id, t.dim, t.embedding, t.source, "
            "t.created_at FROM templates t JOIN identities i ON i.identity_id = t.identity_id "
        )
        args: list[str] = []
        clauses = []
        if gallery_id is not None:
            clauses.append("i.gallery_id = ?")
            args.append(gallery_id)
        if identity_id is not None:
            clauses.append("t.identity_id = ?")
            args.append(identity_id)
        if clauses:
            sql += "WHERE " + " AND ".join(clauses)
        out = []
        for tid, iid, cid, dim, blob, source, created in self.conn.execute(
            sql + " ORDER BY t.created_at", args
        ):
            vec = np.frombuffer(blob, dtype=np.float32)
            if vec.shape != (dim,):
                raise StoreError(f"template {tid} is damaged: {vec.size} values, expected {dim}")
            out.append(TemplateRecord(tid, iid, cid, vec.copy(), source, _from_ts(created)))
        return out
