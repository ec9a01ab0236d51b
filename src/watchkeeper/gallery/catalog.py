"""Galleries: identities with several templates each, backed by the store, searched in memory.

The store is the source of truth; each gallery's ``ExactIndex`` is a cache built from it on first
use. Writes go into the caller's transaction (so the audit record commits with them), and the
caller applies them to the cache only once that transaction has committed
(:meth:`GalleryCatalog.index_added`, :meth:`GalleryCatalog.index_removed`), so a rolled-back
change never becomes searchable and an erased one never stays searchable.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from watchkeeper.core import Candidate
from watchkeeper.index.exact import ExactIndex
from watchkeeper.store.records import GalleryRecord, IdentityRecord, TemplateRecord
from watchkeeper.store.sqlite import SqliteStore


@dataclass(frozen=True, slots=True)
class EnrolOutcome:
    identity: IdentityRecord
    template: TemplateRecord | None
    duplicate: bool
    created_identity: bool


@dataclass(frozen=True, slots=True)
class IdentityTerms:
    """What is recorded about why and from where a person is on a watchlist."""

    basis: str
    source: str
    enrolled_by: str
    metadata: dict[str, object]


class GalleryCatalog:
    """All galleries of one store, with a lazily built search index per gallery."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self._indexes: dict[str, ExactIndex] = {}
        self._owner: dict[str, dict[str, str]] = {}  # gallery -> template -> identity
        self._names: dict[str, str] = {}  # identity -> display name
        self._lock = threading.RLock()

    def get(self, name: str) -> GalleryRecord:
        return self.store.get_gallery(name)

    def index(self, gallery: GalleryRecord, dim: int) -> ExactIndex:
        with self._lock:
            idx = self._indexes.get(gallery.gallery_id)
            if idx is not None:
                return idx
            idx = ExactIndex(gallery.contract_id, dim)
            owner: dict[str, str] = {}
            records = self.store.templates(gallery_id=gallery.gallery_id)
            if records:
                idx.add([t.template_id for t in records], np.stack([t.embedding for t in records]))
                owner = {t.template_id: t.identity_id for t in records}
            for ident in self.store.list_identities(gallery.gallery_id, limit=10**9):
                self._names[ident.identity_id] = ident.display_name
            self._indexes[gallery.gallery_id] = idx
            self._owner[gallery.gallery_id] = owner
            return idx

    def indexed_template_ids(self, gallery_id: str) -> frozenset[str]:
        """Template ids in the cached index of a gallery (empty when not built)."""
        with self._lock:
            return frozenset(self._owner.get(gallery_id, {}))

    def forget_index(self, gallery_id: str) -> None:
        """Drop the cached index; the next search rebuilds it from the store."""
        with self._lock:
            self._indexes.pop(gallery_id, None)
            self._owner.pop(gallery_id, None)

    def forget_all(self) -> None:
        with self._lock:
            self._indexes.clear()
            self._owner.clear()
            self._names.clear()

    # -- writes (caller's transaction) ---------------------------------------------------------
    def add_template(
        self,
        conn: sqlite3.Connection,
        gallery: GalleryRecord,
        display_name: str,
        embedding: npt.NDArray[np.float32],
        source: str,
        terms: IdentityTerms,
        crop: bytes | None = None,
    ) -> EnrolOutcome:
        """Add one template to the named person, creating the person with ``terms`` if needed."""
        ident = self.store.find_identity(gallery.gallery_id, display_name)
        created = ident is None
        if ident is None:
            ident = self.store.insert_identity(
                conn,
                gallery.gallery_id,
                display_name,
                basis=terms.basis,
                source=terms.source,
                enrolled_by=terms.enrolled_by,
                metadata=terms.metadata,
            )
        template = self.store.insert_template(
            conn, ident.identity_id, gallery.contract_id, embedding, source, crop
        )
        return EnrolOutcome(
            self.store.get_identity(ident.identity_id), template, template is None, created
        )

    def remove_identity(self, conn: sqlite3.Connection, identity_id: str) -> list[str]:
        """Delete a person and their templates; returns the template ids for the cache."""
        return self.store.delete_identity(conn, identity_id)

    def remove_template(self, conn: sqlite3.Connection, template_id: str) -> str:
        """Delete one template; returns its identity id."""
        return self.store.delete_template(conn, template_id)

    # -- cache upkeep (after commit) -------------------------------------------------------------
    def index_added(self, gallery: GalleryRecord, outcome: EnrolOutcome) -> None:
        with self._lock:
            self._names[outcome.identity.identity_id] = outcome.identity.display_name
            idx = self._indexes.get(gallery.gallery_id)
            if idx is None or outcome.template is None:
                return  # built from the store on first search
            template = outcome.template
            idx.add([template.template_id], template.embedding[None, :])
            self._owner[gallery.gallery_id][template.template_id] = outcome.identity.identity_id

    def index_removed(self, gallery_id: str, template_ids: Iterable[str]) -> int:
        """Drop templates from the cached index; returns how many index entries went."""
        with self._lock:
            idx = self._indexes.get(gallery_id)
            if idx is None:
                return 0
            owner = self._owner[gallery_id]
            present = [t for t in template_ids if t in owner]
            if present:
                idx.remove(present)
            for t in present:
                owner.pop(t, None)
            return len(present)

    # -- search ------------------------------------------------------------------------------
    def search(
        self, gallery: GalleryRecord, probes: npt.NDArray[np.float32], k: int
    ) -> list[list[Candidate]]:
        """Top-``k`` distinct identities per probe, by their best template's similarity."""
        with self._lock:
            idx = self.index(gallery, int(probes.shape[1]))
            owner = self._owner[gallery.gallery_id]
            # Several templates per person: over-fetch, then keep each person's best template.
            hits = idx.search(probes, k=k * 4 + 8)
            out: list[list[Candidate]] = []
            for keys, sims in zip(hits.keys, hits.similarity, strict=True):
                seen: set[str] = set()
                row: list[Candidate] = []
                for key, sim in zip(keys, sims, strict=True):
                    ident = owner[key]
                    if ident in seen:
                        continue
                    seen.add(ident)
                    row.append(Candidate(ident, self._names.get(ident, ident), float(sim), key))
                    if len(row) == k:
                        break
                out.append(row)
            return out
