"""Sightings: one row per face track, with its time span, best crop and mean embedding.

The embedding and the crop are sealed with the site key like templates are (row ids
``<sighting>/emb`` and ``<sighting>/crop``). Writes go through the caller's connection, inside
the governed transaction that also writes the audit record.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from watchkeeper.core.errors import NotFoundError, StoreError
from watchkeeper.store.sqlite import SqliteStore, new_id

__all__ = ["SightingDraft", "SightingRecord", "SightingStore"]

_COLUMNS = (
    "sighting_id, camera_id, track_id, identity_id, display_name, watchlist, link_id,"
    " first_seen_at, last_seen_at, first_pts_s, last_pts_s, frames, best_box, detector_score,"
    " quality, similarity, vote_share, contract_id, crop IS NOT NULL"
)


def _ts(at: datetime) -> str:
    if at.tzinfo is None:
        raise StoreError("sighting times must be timezone-aware")
    return at.astimezone(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True, slots=True)
class SightingDraft:
    """What the video pipeline knows about a finished track, before it is stored."""

    camera_id: str
    track_id: int
    first_seen_at: datetime
    last_seen_at: datetime
    first_pts_s: float
    last_pts_s: float
    frames: int
    best_box_xyxy: tuple[float, float, float, float]
    detector_score: float
    quality: float | None = None
    identity_id: str | None = None
    display_name: str | None = None
    watchlist: str | None = None
    similarity: float | None = None
    vote_share: float | None = None
    contract_id: str | None = None
    embedding: npt.NDArray[np.float32] | None = None
    crop_jpeg: bytes | None = None


@dataclass(frozen=True, slots=True)
class SightingRecord:
    """A stored sighting (without its embedding and crop, which are read on demand)."""

    sighting_id: str
    camera_id: str
    track_id: int
    identity_id: str | None
    display_name: str | None
    watchlist: str | None
    link_id: str | None
    first_seen_at: datetime
    last_seen_at: datetime
    first_pts_s: float
    last_pts_s: float
    frames: int
    best_box_xyxy: tuple[float, float, float, float]
    detector_score: float
    quality: float | None
    similarity: float | None
    vote_share: float | None
    contract_id: str | None
    has_crop: bool


def _record(row: tuple[object, ...]) -> SightingRecord:
    def opt_float(value: object) -> float | None:
        return None if value is None else float(value)  # type: ignore[arg-type]

    def opt_str(value: object) -> str | None:
        return None if value is None else str(value)

    box = json.loads(str(row[12]))
    return SightingRecord(
        sighting_id=str(row[0]),
        camera_id=str(row[1]),
        track_id=int(row[2]),  # type: ignore[call-overload]
        identity_id=opt_str(row[3]),
        display_name=opt_str(row[4]),
        watchlist=opt_str(row[5]),
        link_id=opt_str(row[6]),
        first_seen_at=datetime.fromisoformat(str(row[7])),
        last_seen_at=datetime.fromisoformat(str(row[8])),
        first_pts_s=float(row[9]),  # type: ignore[arg-type]
        last_pts_s=float(row[10]),  # type: ignore[arg-type]
        frames=int(row[11]),  # type: ignore[call-overload]
        best_box_xyxy=(float(box[0]), float(box[1]), float(box[2]), float(box[3])),
        detector_score=float(row[13]),  # type: ignore[arg-type]
        quality=opt_float(row[14]),
        similarity=opt_float(row[15]),
        vote_share=opt_float(row[16]),
        contract_id=opt_str(row[17]),
        has_crop=bool(row[18]),
    )


class SightingStore:
    """Sightings in the site's SQLite store."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store

    def insert(
        self, conn: sqlite3.Connection, draft: SightingDraft, link_id: str | None = None
    ) -> SightingRecord:
        """Store one sighting; its embedding and crop are sealed when the site has a key."""
        sighting_id = new_id("sgt")
        key_id: str | None = None
        emb_blob = crop_blob = None
        if draft.embedding is not None:
            vec = np.ascontiguousarray(draft.embedding, dtype=np.float32).reshape(-1)
            emb_blob, key_id = self._store.seal_blob(vec.tobytes(), sighting_id + "/emb")
        if draft.crop_jpeg is not None:
            crop_blob, key_id = self._store.seal_blob(draft.crop_jpeg, sighting_id + "/crop")
        conn.execute(
            "INSERT INTO sightings (sighting_id, camera_id, track_id, identity_id, display_name,"
            " watchlist, link_id, first_seen_at, last_seen_at, first_pts_s, last_pts_s, frames,"
            " best_box, detector_score, quality, similarity, vote_share, contract_id, embedding,"
            " crop, key_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
            " ?, ?, ?, ?, ?, ?)",
            (
                sighting_id,
                draft.camera_id,
                int(draft.track_id),
                draft.identity_id,
                draft.display_name,
                draft.watchlist,
                link_id,
                _ts(draft.first_seen_at),
                _ts(draft.last_seen_at),
                float(draft.first_pts_s),
                float(draft.last_pts_s),
                int(draft.frames),
                json.dumps([round(float(v), 1) for v in draft.best_box_xyxy]),
                float(draft.detector_score),
                draft.quality,
                draft.similarity,
                draft.vote_share,
                draft.contract_id,
                emb_blob,
                crop_blob,
                key_id,
                _ts(datetime.now(UTC)),
            ),
        )
        return self.get(sighting_id, conn)

    def get(self, sighting_id: str, conn: sqlite3.Connection | None = None) -> SightingRecord:
        row = (
            (conn or self._store.conn)
            .execute(f"SELECT {_COLUMNS} FROM sightings WHERE sighting_id = ?", (sighting_id,))
            .fetchone()
        )
        if row is None:
            raise NotFoundError(f"no sighting {sighting_id!r}")
        return _record(row)

    def recent(
        self,
        camera_id: str | None = None,
        identity_id: str | None = None,
        since: datetime | None = None,
        limit: int = 1000,
    ) -> list[SightingRecord]:
        """Sightings, newest first."""
        clauses, args = [], []
        if camera_id is not None:
            clauses.append("camera_id = ?")
            args.append(camera_id)
        if identity_id is not None:
            clauses.append("identity_id = ?")
            args.append(identity_id)
        if since is not None:
            clauses.append("last_seen_at >= ?")
            args.append(_ts(since))
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        rows = self._store.conn.execute(
            f"SELECT {_COLUMNS} FROM sightings {where} ORDER BY first_seen_at DESC LIMIT ?",
            (*args, int(limit)),
        ).fetchall()
        return [_record(r) for r in rows]

    def embeddings(
        self,
        contract_id: str,
        since: datetime | None = None,
        camera_prefix: str | None = None,
        unknown_only: bool = False,
        exclude_camera: str | None = None,
        conn: sqlite3.Connection | None = None,
    ) -> tuple[list[str], npt.NDArray[np.float32]]:
        """Ids and embeddings (rows) of sightings made under ``contract_id``."""
        sql = (
            "SELECT sighting_id, embedding, key_id FROM sightings"
            " WHERE embedding IS NOT NULL AND contract_id = ?"
        )
        args: list[object] = [contract_id]
        if since is not None:
            sql += " AND last_seen_at >= ?"
            args.append(_ts(since))
        if camera_prefix is not None:
            sql += " AND substr(camera_id, 1, ?) = ?"
            args += [len(camera_prefix), camera_prefix]
        if unknown_only:
            sql += " AND identity_id IS NULL"
        if exclude_camera is not None:
            sql += " AND camera_id != ?"
            args.append(exclude_camera)
        ids: list[str] = []
        rows: list[npt.NDArray[np.float32]] = []
        for sid, blob, key_id in (conn or self._store.conn).execute(sql, args).fetchall():
            raw = self._store.open_blob(blob, str(sid) + "/emb", key_id)
            ids.append(str(sid))
            rows.append(np.frombuffer(raw, dtype=np.float32).copy())
        if not rows:
            return [], np.zeros((0, 0), np.float32)
        return ids, np.stack(rows)

    def crop(self, sighting_id: str) -> bytes | None:
        """The sighting's best face crop (JPEG), or None once retention removed it."""
        row = self._store.conn.execute(
            "SELECT crop, key_id FROM sightings WHERE sighting_id = ?", (sighting_id,)
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no sighting {sighting_id!r}")
        if row[0] is None:
            return None
        return self._store.open_blob(row[0], sighting_id + "/crop", row[1])

    def link_of(self, conn: sqlite3.Connection, sighting_id: str) -> str | None:
        row = conn.execute(
            "SELECT link_id FROM sightings WHERE sighting_id = ?", (sighting_id,)
        ).fetchone()
        return None if row is None or row[0] is None else str(row[0])

    def set_link(self, conn: sqlite3.Connection, sighting_ids: Iterable[str], link_id: str) -> None:
        for sid in sighting_ids:
            conn.execute("UPDATE sightings SET link_id = ? WHERE sighting_id = ?", (link_id, sid))

    def delete_for_identities(self, conn: sqlite3.Connection, identity_ids: Iterable[str]) -> int:
        """Remove every sighting named for these identities (erasure)."""
        removed = 0
        for identity_id in identity_ids:
            removed += conn.execute(
                "DELETE FROM sightings WHERE identity_id = ?", (identity_id,)
            ).rowcount
        return removed

    def delete_ids(self, conn: sqlite3.Connection, sighting_ids: Iterable[str]) -> int:
        removed = 0
        for sid in sighting_ids:
            removed += conn.execute("DELETE FROM sightings WHERE sighting_id = ?", (sid,)).rowcount
        return removed

    def purge_before(self, conn: sqlite3.Connection, cutoff: datetime) -> int:
        """Delete sightings last seen before ``cutoff`` (retention)."""
        return int(
            conn.execute("DELETE FROM sightings WHERE last_seen_at < ?", (_ts(cutoff),)).rowcount
        )

    def drop_unmatched_crops_before(self, conn: sqlite3.Connection, cutoff: datetime) -> int:
        """Remove the face crops of sightings that matched nobody, once past ``cutoff``."""
        return int(
            conn.execute(
                "UPDATE sightings SET crop = NULL WHERE crop IS NOT NULL AND identity_id IS NULL"
                " AND last_seen_at < ?",
                (_ts(cutoff),),
            ).rowcount
        )

    @staticmethod
    def new_link_id() -> str:
        return new_id("lnk")
