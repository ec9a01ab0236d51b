"""Cameras the service runs: their validated settings and what they are watched for.

The settings are stored as JSON sealed with the site key when the site has one (row id
``camera:<id>``), because a stream URL may carry a password. Writes go through the caller's
connection, inside the governed transaction that also writes the audit record.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import ValidationError

from watchkeeper.config.cameras import CameraSettings
from watchkeeper.core.errors import NotFoundError, StoreError
from watchkeeper.store.sqlite import SqliteStore

__all__ = ["CameraRecord", "CameraStore"]

_COLUMNS = (
    "camera_id, name, settings, key_id, watchlist, purpose, enabled, loop, owner,"
    " created_at, updated_at"
)


@dataclass(frozen=True, slots=True)
class CameraRecord:
    """One managed camera.

    ``owner`` is the person who last added or enabled it: the service watches the camera on
    their behalf, with their permissions checked again at every start.
    """

    settings: CameraSettings
    name: str
    watchlist: str | None
    purpose: str
    enabled: bool
    loop: bool
    owner: str
    created_at: datetime
    updated_at: datetime

    @property
    def camera_id(self) -> str:
        return self.settings.camera_id


def _ts(at: datetime) -> str:
    if at.tzinfo is None:
        raise StoreError("camera times must be timezone-aware")
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def _row_id(camera_id: str) -> str:
    return f"camera:{camera_id}"


class CameraStore:
    """Reads and writes the ``cameras`` table."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store

    def _record(self, row: tuple[object, ...]) -> CameraRecord:
        camera_id, name, blob, key_id = str(row[0]), str(row[1]), row[2], row[3]
        if not isinstance(blob, bytes):
            raise StoreError(f"camera {camera_id!r} has no stored settings")
        plain = self._store.open_blob(
            blob, _row_id(camera_id), None if key_id is None else str(key_id)
        )
        try:
            settings = CameraSettings.model_validate_json(plain)
        except ValidationError as exc:
            raise StoreError(f"camera {camera_id!r} has invalid stored settings: {exc}") from exc
        return CameraRecord(
            settings=settings,
            name=name,
            watchlist=None if row[4] is None else str(row[4]),
            purpose=str(row[5]),
            enabled=bool(row[6]),
            loop=bool(row[7]),
            owner=str(row[8]),
            created_at=datetime.fromisoformat(str(row[9])),
            updated_at=datetime.fromisoformat(str(row[10])),
        )

    def all(self, conn: sqlite3.Connection | None = None) -> list[CameraRecord]:
        """Every camera, by id."""
        rows = (conn or self._store.conn).execute(
            f"SELECT {_COLUMNS} FROM cameras ORDER BY camera_id"
        )
        return [self._record(tuple(r)) for r in rows.fetchall()]

    def find(self, camera_id: str, conn: sqlite3.Connection | None = None) -> CameraRecord | None:
        row = (
            (conn or self._store.conn)
            .execute(f"SELECT {_COLUMNS} FROM cameras WHERE camera_id = ?", (camera_id,))
            .fetchone()
        )
        return None if row is None else self._record(tuple(row))

    def get(self, camera_id: str, conn: sqlite3.Connection | None = None) -> CameraRecord:
        found = self.find(camera_id, conn)
        if found is None:
            raise NotFoundError(f"no camera {camera_id!r}")
        return found

    def put(self, conn: sqlite3.Connection, record: CameraRecord) -> None:
        """Insert or replace ``record`` (in the caller's transaction)."""
        data = record.settings.model_dump_json().encode("utf-8")
        blob, key_id = self._store.seal_blob(data, _row_id(record.camera_id))
        conn.execute(
            f"INSERT OR REPLACE INTO cameras ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.camera_id,
                record.name,
                blob,
                key_id,
                record.watchlist,
                record.purpose,
                int(record.enabled),
                int(record.loop),
                record.owner,
                _ts(record.created_at),
                _ts(record.updated_at),
            ),
        )

    def delete(self, conn: sqlite3.Connection, camera_id: str) -> bool:
        cursor = conn.execute("DELETE FROM cameras WHERE camera_id = ?", (camera_id,))
        return cursor.rowcount > 0
