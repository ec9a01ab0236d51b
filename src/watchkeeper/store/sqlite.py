"""The embedded SQLite store: the source of truth for galleries, identities and templates.

WAL journaling lets readers continue while one writer commits, and every multi-row change runs
in one transaction, so a process killed mid-enrolment leaves either all of an enrolment or none.
Schema changes are numbered migrations applied in order; a database from a newer Watchkeeper is
refused rather than guessed at.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from watchkeeper.core.errors import ConfigError, InvalidInputError, NotFoundError, StoreError
from watchkeeper.store.cipher import SiteCipher
from watchkeeper.store.records import (
    GalleryRecord,
    IdentityRecord,
    TemplateRecord,
    WatchlistStatus,
)

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


def _m2_watchlists(conn: sqlite3.Connection) -> None:
    # Galleries become watchlists: a purpose, a legal basis, an owner and a life span. Old
    # galleries stay "unbound" (no purpose) and can no longer be searched 1:N until re-created.
    _run_script(
        conn,
        """
        ALTER TABLE galleries ADD COLUMN purpose TEXT;
        ALTER TABLE galleries ADD COLUMN legal_basis TEXT;
        ALTER TABLE galleries ADD COLUMN owner TEXT;
        ALTER TABLE galleries ADD COLUMN expires_at TEXT;
        ALTER TABLE galleries ADD COLUMN revoked_at TEXT;
        ALTER TABLE galleries ADD COLUMN match_retention_days REAL;
        ALTER TABLE galleries ADD COLUMN max_identities INTEGER;
        ALTER TABLE galleries ADD COLUMN status TEXT NOT NULL DEFAULT 'unbound';
        ALTER TABLE identities ADD COLUMN basis TEXT;
        ALTER TABLE identities ADD COLUMN source TEXT;
        ALTER TABLE identities ADD COLUMN enrolled_by TEXT;
        ALTER TABLE identities ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';
        ALTER TABLE templates ADD COLUMN crop BLOB;
        ALTER TABLE templates ADD COLUMN key_id TEXT;
        CREATE INDEX identities_by_name ON identities(display_name);
        CREATE TABLE watchlist_requests (
            request_id TEXT PRIMARY KEY,
            gallery_id TEXT NOT NULL REFERENCES galleries(gallery_id) ON DELETE CASCADE,
            kind TEXT NOT NULL,
            spec TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE TABLE store_meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        """,
    )


def _m3_recognition_keys(conn: sqlite3.Connection) -> None:
    # API keys of the CompreFace-compatible recognition service: each acts as one user (never
    # with more than that user's roles), on one watchlist, for one stated purpose, until it
    # expires. Only the SHA-256 digest of a key is kept.
    _run_script(
        conn,
        """
        CREATE TABLE recognition_keys (
            key_id TEXT PRIMARY KEY,
            digest TEXT NOT NULL UNIQUE,
            user_id TEXT NOT NULL,
            watchlist TEXT NOT NULL,
            purpose TEXT NOT NULL,
            basis TEXT NOT NULL,
            label TEXT NOT NULL DEFAULT '',
            created_by TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            revoked_at TEXT
        );
        CREATE INDEX recognition_keys_by_user ON recognition_keys(user_id);
        """,
    )


def _m4_counting(conn: sqlite3.Connection) -> None:
    # Anonymous object counting: line and zone events, and per-minute counts kept as they come
    # in (so a chart never has to scan the events). Neither table holds a face or an identity.
    _run_script(
        conn,
        """
        CREATE TABLE counting_events (
            event_id TEXT PRIMARY KEY,
            camera_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            place_id TEXT NOT NULL,
            track_id INTEGER NOT NULL,
            class_name TEXT NOT NULL,
            class_group TEXT NOT NULL,
            direction TEXT,
            dwell_s REAL,
            at TEXT NOT NULL,
            body TEXT NOT NULL
        );
        CREATE INDEX counting_events_by_time ON counting_events(at);
        CREATE INDEX counting_events_by_camera ON counting_events(camera_id, at);
        CREATE TABLE count_buckets (
            camera_id TEXT NOT NULL,
            bucket_start_at TEXT NOT NULL,
            place_id TEXT NOT NULL,
            event_kind TEXT NOT NULL,
            class_group TEXT NOT NULL,
            direction TEXT NOT NULL DEFAULT '',
            count INTEGER NOT NULL,
            PRIMARY KEY (camera_id, bucket_start_at, place_id, event_kind, class_group, direction)
        );
        CREATE INDEX count_buckets_by_time ON count_buckets(bucket_start_at)
        """,
    )


def _m5_video(conn: sqlite3.Connection) -> None:
    # Video: every event (the DB sink), an outbox per external sink so a receiver that is down
    # loses nothing, and sightings (one per face track) with a sealed embedding and crop.
    _run_script(
        conn,
        """
        CREATE TABLE events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            event_id TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            camera_id TEXT,
            identity_id TEXT,
            at TEXT NOT NULL,
            payload TEXT NOT NULL
        );
        CREATE INDEX events_by_time ON events(at);
        CREATE INDEX events_by_identity ON events(identity_id);
        CREATE TABLE event_outbox (
            item_id INTEGER PRIMARY KEY AUTOINCREMENT,
            event_seq INTEGER NOT NULL REFERENCES events(seq) ON DELETE CASCADE,
            sink TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT,
            delivered_at TEXT,
            last_error TEXT
        );
        CREATE INDEX outbox_pending ON event_outbox(sink, delivered_at, item_id);
        CREATE TABLE sightings (
            sighting_id TEXT PRIMARY KEY,
            camera_id TEXT NOT NULL,
            track_id INTEGER NOT NULL,
            identity_id TEXT,
            display_name TEXT,
            watchlist TEXT,
            link_id TEXT,
            first_seen_at TEXT NOT NULL,
            last_seen_at TEXT NOT NULL,
            first_pts_s REAL NOT NULL,
            last_pts_s REAL NOT NULL,
            frames INTEGER NOT NULL,
            best_box TEXT NOT NULL,
            detector_score REAL NOT NULL,
            quality REAL,
            similarity REAL,
            vote_share REAL,
            contract_id TEXT,
            embedding BLOB,
            crop BLOB,
            key_id TEXT,
            created_at TEXT NOT NULL
        );
        CREATE INDEX sightings_by_identity ON sightings(identity_id);
        CREATE INDEX sightings_by_time ON sightings(last_seen_at);
        CREATE INDEX sightings_by_link ON sightings(link_id);
        CREATE INDEX sightings_by_camera ON sightings(camera_id, first_seen_at);
        """,
    )


def _m6_cameras(conn: sqlite3.Connection) -> None:
    # Cameras the service runs. The settings (whose source URL may carry a password) are stored
    # as a blob sealed with the site key when there is one, like templates and crops.
    _run_script(
        conn,
        """
        CREATE TABLE cameras (
            camera_id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            settings BLOB NOT NULL,
            key_id TEXT,
            watchlist TEXT,
            purpose TEXT NOT NULL,
            enabled INTEGER NOT NULL,
            loop INTEGER NOT NULL,
            owner TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )
        """,
    )


MIGRATIONS: tuple[Migration, ...] = (
    _m1_galleries,
    _m2_watchlists,
    _m3_recognition_keys,
    _m4_counting,
    _m5_video,
    _m6_cameras,
)
"""Index i holds the step from schema version i to i + 1. Append only; never edit a shipped one."""


def now_utc() -> datetime:
    return datetime.now(UTC)


def _ts(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


def _from_ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _opt_ts(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def embedding_digest(vector: npt.NDArray[np.float32]) -> str:
    """Digest of a template's vector rounded to 1e-5, so re-enrolling the same photo is caught."""
    rounded = np.round(np.asarray(vector, np.float64), 5).astype(np.float32)
    return hashlib.sha256(rounded.tobytes()).hexdigest()


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


_KEY_META = "template_key_id"


class SqliteStore:
    """Galleries, identities and templates in one SQLite file under the data directory.

    With a :class:`SiteCipher`, template vectors and face crops are sealed at rest; opening a
    store with a key seals any rows written before the key was set.
    """

    def __init__(self, path: Path, cipher: SiteCipher | None = None) -> None:
        self.path = Path(path)
        self.cipher = cipher
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.RLock()
        self._site_key_id: str | None = None

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
        self._check_key()
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

    # -- encryption at rest ------------------------------------------------------------------
    def _check_key(self) -> None:
        row = self.conn.execute(
            "SELECT value FROM store_meta WHERE key = ?", (_KEY_META,)
        ).fetchone()
        self._site_key_id = None if row is None else str(row[0])
        if self.cipher is None:
            return
        if self._site_key_id is not None and self._site_key_id != self.cipher.key_id:
            raise ConfigError(
                f"the template key given does not match the key of {self.path} "
                f"(key id {self._site_key_id}); supply the site's own key"
            )
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO store_meta (key, value) VALUES (?, ?)",
                (_KEY_META, self.cipher.key_id),
            )
            self._seal_plaintext(conn, self.cipher)
        self._site_key_id = self.cipher.key_id

    def _seal_plaintext(self, conn: sqlite3.Connection, cipher: SiteCipher) -> None:
        rows = conn.execute(
            "SELECT template_id, embedding, crop FROM templates WHERE key_id IS NULL"
        ).fetchall()
        for template_id, blob, crop in rows:
            conn.execute(
                "UPDATE templates SET embedding = ?, crop = ?, key_id = ? WHERE template_id = ?",
                (
                    cipher.seal(bytes(blob), template_id),
                    None if crop is None else cipher.seal(bytes(crop), template_id + "/crop"),
                    cipher.key_id,
                    template_id,
                ),
            )
        if rows:
            log.info("sealed %d template(s) with the site key", len(rows))

    def _require_cipher_if_sealed(self) -> SiteCipher | None:
        if self.cipher is None and self._site_key_id is not None:
            raise ConfigError(
                "templates at this site are encrypted at rest; set WATCHKEEPER_TEMPLATE_KEY "
                "or governance.template_key_file to the site's key"
            )
        return self.cipher

    def seal_blob(self, data: bytes, row_id: str) -> tuple[bytes, str | None]:
        """``data`` sealed for ``row_id`` when the site has a key, else as is; and the key id."""
        cipher = self._require_cipher_if_sealed()
        if cipher is None:
            return data, None
        return cipher.seal(data, row_id), cipher.key_id

    def open_blob(self, data: bytes, row_id: str, key_id: str | None) -> bytes:
        """The plaintext of a blob written by :meth:`seal_blob`."""
        if key_id is None:
            return bytes(data)
        if self.cipher is None or self.cipher.key_id != key_id:
            raise ConfigError(
                f"{row_id} is encrypted with key {key_id}; set WATCHKEEPER_TEMPLATE_KEY or "
                "governance.template_key_file to that key"
            )
        return self.cipher.open(bytes(data), row_id)

    def integrity_problems(self) -> list[str]:
        """Empty when the file and its references are sound."""
        problems = [row[0] for row in self.conn.execute("PRAGMA integrity_check") if row[0] != "ok"]
        problems += [
            f"dangling reference: {r}" for r in self.conn.execute("PRAGMA foreign_key_check")
        ]
        return problems

    # -- galleries ---------------------------------------------------------------------------
    _GALLERY_COLUMNS = (
        "gallery_id, name, contract_id, created_at, purpose, legal_basis, owner, expires_at, "
        "revoked_at, match_retention_days, max_identities, status"
    )

    def create_gallery(self, name: str, contract_id: str) -> GalleryRecord:
        """A bare gallery (no watchlist terms) in its own transaction; used by tests and tools."""
        record = GalleryRecord(new_id("gal"), name, contract_id, now_utc())
        with self.transaction() as conn:
            self.insert_gallery(conn, record)
        return record

    def insert_gallery(self, conn: sqlite3.Connection, record: GalleryRecord) -> None:
        """Insert a gallery with all its watchlist terms inside the caller's transaction."""
        try:
            conn.execute(
                f"INSERT INTO galleries ({self._GALLERY_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.gallery_id,
                    record.name,
                    record.contract_id,
                    _ts(record.created_at),
                    record.purpose,
                    record.legal_basis,
                    record.owner,
                    None if record.expires_at is None else _ts(record.expires_at),
                    None if record.revoked_at is None else _ts(record.revoked_at),
                    record.match_retention_days,
                    record.max_identities,
                    record.status.value,
                ),
            )
        except sqlite3.IntegrityError as exc:
            raise InvalidInputError(f"a gallery named {record.name!r} already exists") from exc

    def update_gallery(self, conn: sqlite3.Connection, record: GalleryRecord) -> None:
        """Write back a gallery's watchlist terms (the id and name stay)."""
        conn.execute(
            "UPDATE galleries SET purpose = ?, legal_basis = ?, owner = ?, expires_at = ?, "
            "revoked_at = ?, match_retention_days = ?, max_identities = ?, status = ? "
            "WHERE gallery_id = ?",
            (
                record.purpose,
                record.legal_basis,
                record.owner,
                None if record.expires_at is None else _ts(record.expires_at),
                None if record.revoked_at is None else _ts(record.revoked_at),
                record.match_retention_days,
                record.max_identities,
                record.status.value,
                record.gallery_id,
            ),
        )

    def _gallery_from_row(self, row: tuple[object, ...]) -> GalleryRecord:
        try:
            status = WatchlistStatus(str(row[11]))
        except ValueError:
            raise StoreError(f"gallery {row[1]!r} has an unknown status {row[11]!r}") from None
        return GalleryRecord(
            gallery_id=str(row[0]),
            name=str(row[1]),
            contract_id=str(row[2]),
            created_at=_from_ts(str(row[3])),
            purpose=None if row[4] is None else str(row[4]),
            legal_basis=None if row[5] is None else str(row[5]),
            owner=None if row[6] is None else str(row[6]),
            expires_at=_opt_ts(None if row[7] is None else str(row[7])),
            revoked_at=_opt_ts(None if row[8] is None else str(row[8])),
            match_retention_days=None if row[9] is None else float(str(row[9])),
            max_identities=None if row[10] is None else int(str(row[10])),
            status=status,
        )

    def get_gallery(self, name: str) -> GalleryRecord:
        row = self.conn.execute(
            f"SELECT {self._GALLERY_COLUMNS} FROM galleries WHERE name = ?", (name,)
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no gallery named {name!r}")
        return self._gallery_from_row(row)

    def get_gallery_by_id(self, gallery_id: str) -> GalleryRecord:
        row = self.conn.execute(
            f"SELECT {self._GALLERY_COLUMNS} FROM galleries WHERE gallery_id = ?", (gallery_id,)
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no gallery with id {gallery_id!r}")
        return self._gallery_from_row(row)

    def find_gallery(self, name: str) -> GalleryRecord | None:
        try:
            return self.get_gallery(name)
        except NotFoundError:
            return None

    def list_galleries(self) -> list[GalleryRecord]:
        rows = self.conn.execute(
            f"SELECT {self._GALLERY_COLUMNS} FROM galleries ORDER BY name"
        ).fetchall()
        return [self._gallery_from_row(r) for r in rows]

    def delete_gallery(self, gallery_id: str, conn: sqlite3.Connection) -> int:
        """Delete a gallery and everything in it inside the caller's transaction."""
        return conn.execute("DELETE FROM galleries WHERE gallery_id = ?", (gallery_id,)).rowcount

    def count_identities(self, gallery_id: str) -> int:
        row = self.conn.execute(
            "SELECT COUNT(*) FROM identities WHERE gallery_id = ?", (gallery_id,)
        ).fetchone()
        return int(row[0])

    # -- watchlist change requests -------------------------------------------------------------
    def insert_request(
        self,
        conn: sqlite3.Connection,
        request_id: str,
        gallery_id: str,
        kind: str,
        spec: dict[str, object],
    ) -> None:
        """Remember the exact change an approval request is for."""
        conn.execute(
            "INSERT INTO watchlist_requests VALUES (?, ?, ?, ?, ?)",
            (request_id, gallery_id, kind, json.dumps(spec, sort_keys=True), _ts(now_utc())),
        )

    def get_request(self, request_id: str) -> tuple[str, str, dict[str, object]] | None:
        """(gallery id, kind, spec) of a watchlist change request, or None."""
        row = self.conn.execute(
            "SELECT gallery_id, kind, spec FROM watchlist_requests WHERE request_id = ?",
            (request_id,),
        ).fetchone()
        if row is None:
            return None
        spec = json.loads(row[2])
        if not isinstance(spec, dict):
            raise StoreError(f"watchlist request {request_id} is damaged")
        return str(row[0]), str(row[1]), spec

    # -- identities --------------------------------------------------------------------------
    def _identity_from_row(self, row: tuple[object, ...]) -> IdentityRecord:
        try:
            metadata = json.loads(str(row[8]))
        except ValueError:
            metadata = None
        if not isinstance(metadata, dict):
            raise StoreError(f"identity {row[0]} has damaged metadata")
        return IdentityRecord(
            identity_id=str(row[0]),
            gallery_id=str(row[1]),
            display_name=str(row[2]),
            created_at=_from_ts(str(row[3])),
            template_count=int(str(row[4])),
            basis=None if row[5] is None else str(row[5]),
            source=None if row[6] is None else str(row[6]),
            enrolled_by=None if row[7] is None else str(row[7]),
            metadata=MappingProxyType(metadata),
        )

    _IDENTITY_SELECT = (
        "SELECT i.identity_id, i.gallery_id, i.display_name, i.created_at, "
        "(SELECT COUNT(*) FROM templates t WHERE t.identity_id = i.identity_id), "
        "i.basis, i.source, i.enrolled_by, i.metadata FROM identities i "
    )

    def find_identity(self, gallery_id: str, display_name: str) -> IdentityRecord | None:
        row = self.conn.execute(
            self._IDENTITY_SELECT + "WHERE i.gallery_id = ? AND i.display_name = ?",
            (gallery_id, display_name),
        ).fetchone()
        return None if row is None else self._identity_from_row(row)

    def identities_named(self, display_name: str) -> list[IdentityRecord]:
        """Every identity with this exact name, in every gallery."""
        rows = self.conn.execute(
            self._IDENTITY_SELECT + "WHERE i.display_name = ? ORDER BY i.created_at",
            (display_name,),
        ).fetchall()
        return [self._identity_from_row(r) for r in rows]

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
        ).fetchall()
        return [self._identity_from_row(r) for r in rows]

    def insert_identity(
        self,
        conn: sqlite3.Connection,
        gallery_id: str,
        display_name: str,
        *,
        basis: str | None = None,
        source: str | None = None,
        enrolled_by: str | None = None,
        metadata: dict[str, object] | None = None,
    ) -> IdentityRecord:
        record = IdentityRecord(
            new_id("idn"),
            gallery_id,
            display_name,
            now_utc(),
            basis=basis,
            source=source,
            enrolled_by=enrolled_by,
            metadata=MappingProxyType(dict(metadata or {})),
        )
        conn.execute(
            "INSERT INTO identities (identity_id, gallery_id, display_name, created_at, basis, "
            "source, enrolled_by, metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.identity_id,
                gallery_id,
                display_name,
                _ts(record.created_at),
                basis,
                source,
                enrolled_by,
                json.dumps(dict(record.metadata), sort_keys=True),
            ),
        )
        return record

    def rename_identity(
        self, conn: sqlite3.Connection, identity_id: str, display_name: str
    ) -> None:
        try:
            changed = conn.execute(
                "UPDATE identities SET display_name = ? WHERE identity_id = ?",
                (display_name, identity_id),
            ).rowcount
        except sqlite3.IntegrityError:
            raise InvalidInputError(
                f"somebody called {display_name!r} is already in this watchlist"
            ) from None
        if changed == 0:
            raise NotFoundError(f"no identity with id {identity_id!r}")

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
        crop: bytes | None = None,
    ) -> TemplateRecord | None:
        """Store one template (and its face crop); None when the identity already has it."""
        vec = np.ascontiguousarray(embedding, dtype=np.float32).reshape(-1)
        cipher = self._require_cipher_if_sealed()
        digest = embedding_digest(vec)
        if cipher is not None:
            digest = cipher.digest(bytes.fromhex(digest))
        record = TemplateRecord(
            new_id("tpl"),
            identity_id,
            contract_id,
            vec,
            source,
            now_utc(),
            encrypted=cipher is not None,
        )
        blob, key_id = self.seal_blob(vec.tobytes(), record.template_id)
        sealed_crop = None
        if crop is not None:
            sealed_crop = self.seal_blob(crop, record.template_id + "/crop")[0]
        cur = conn.execute(
            "INSERT OR IGNORE INTO templates (template_id, identity_id, contract_id, dim, "
            "embedding, digest, source, created_at, crop, key_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.template_id,
                identity_id,
                contract_id,
                len(vec),
                blob,
                digest,
                source,
                _ts(record.created_at),
                sealed_crop,
                key_id,
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

    def template_crop(self, template_id: str) -> bytes | None:
        """The small face crop stored with a template (JPEG bytes), or None."""
        row = self.conn.execute(
            "SELECT crop, key_id FROM templates WHERE template_id = ?", (template_id,)
        ).fetchone()
        if row is None or row[0] is None:
            return None
        return self.open_blob(row[0], template_id + "/crop", row[1])

    def count_crops(self, identity_id: str) -> int:
        row = self.conn.execute(
            "SELECT COUNT(*) FROM templates WHERE identity_id = ? AND crop IS NOT NULL",
            (identity_id,),
        ).fetchone()
        return int(row[0])

    def templates(
        self,
        gallery_id: str | None = None,
        identity_id: str | None = None,
        template_id: str | None = None,
    ) -> list[TemplateRecord]:
        sql = (
            "SELECT t.template_id, t.identity_id, t.contract_id, t.dim, t.embedding, t.source, "
            "t.created_at, t.key_id FROM templates t "
            "JOIN identities i ON i.identity_id = t.identity_id "
        )
        args: list[str] = []
        clauses = []
        if gallery_id is not None:
            clauses.append("i.gallery_id = ?")
            args.append(gallery_id)
        if identity_id is not None:
            clauses.append("t.identity_id = ?")
            args.append(identity_id)
        if template_id is not None:
            clauses.append("t.template_id = ?")
            args.append(template_id)
        if clauses:
            sql += "WHERE " + " AND ".join(clauses)
        out = []
        for tid, iid, cid, dim, blob, source, created, key_id in self.conn.execute(
            sql + " ORDER BY t.created_at", args
        ).fetchall():
            raw = self.open_blob(blob, tid, key_id)
            vec = np.frombuffer(raw, dtype=np.float32)
            if vec.shape != (dim,):
                raise StoreError(f"template {tid} is damaged: {vec.size} values, expected {dim}")
            out.append(
                TemplateRecord(
                    tid, iid, cid, vec.copy(), source, _from_ts(created), key_id is not None
                )
            )
        return out
