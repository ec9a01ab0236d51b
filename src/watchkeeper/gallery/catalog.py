"""Galleries: identities with several templates each, backed by the store, searched in memory.

The store is the source of truth; each gallery's ``ExactIndex`` is built from it on first use and
kept in step with every change made through this class.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from watchkeeper.core import Candidate, EmbeddingContract
from watchkeeper.index.exact import ExactIndex
from watchkeeper.store.records import GalleryRecord, IdentityRecord, TemplateRecord
from watchkeeper.store.sqlite import SqliteStore


@dataclass(frozen=True, slots=True)
class EnrolOutcome:
    identity: IdentityRecord
    template: TemplateRecord | None
    duplicate: bool
    created_identity: bool


class GalleryCatalog:
    """All galleries of one store, with a lazily built search index per gallery."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self._indexes: dict[str, ExactIndex] = {}
        self._owner: dict[str, dict[str, str]] = {}  # gallery -> template -> identity
        self._names: dict[str, str] = {}  # identity -> display name
        self._lock = threading.RLock()

    def ensure_gallery(self, name: str, contract: EmbeddingContract) -> GalleryRecord:
        """The named gallery, created for ``contract`` if it does not exist yet."""
        with self._lock:
            existing = self.store.find_gallery(name)
            if existing is not None:
                contract.require_same(existing.contract_id)
                return existing
            return self.store.create_gallery(name, contract.contract_id)

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

    def forget_index(self, gallery_id: str) -> None:
        """Drop the cached index; the next search rebuilds it from the store."""
        with self._lock:
            self._indexes.pop(gallery_id, None)
            self._owner.pop(gallery_id, None)

    def enrol(
        self,
        gallery: GalleryRecord,
        display_name: str,
        embedding: npt.NDArray[np.float32],
        source: str,
    ) -> EnrolOutcome:
        """Add one template to the named person, creating the person if needed (one transaction)."""
        with self._lock:
            idx = self.index(gallery, int(embedding.shape[-1]))
            with self.store.transaction() as conn:
                ident = self.store.find_identity(gallery.gallery_id, display_name)
                created = ident is None
                if ident is None:
                    ident = self.store.insert_identity(conn, gallery.gallery_id, display_name)
                template = self.store.insert_template(
                    conn, ident.identity_id, gallery.contract_id, embedding, source
                )
            if template is not None:
                idx.add([template.template_id], template.embedding[None, :])
                self._owner[gallery.gallery_id][template.template_id] = ident.identity_id
            self._names[ident.identity_id] = display_name
            return EnrolOutcome(
                self.store.get_identity(ident.identity_id), template, template is None, created
            )

    def delete_identity(self, gallery: GalleryRecord, identity_id: str) -> list[str]:
        with self._lock:
            with self.store.transaction() as conn:
                removed = self.store.delete_identity(conn, identity_id)
            self._drop(gallery.gallery_id, removed)
            return removed

    def delete_template(self, gallery: GalleryRecord, template_id: str) -> None:
        with self._lock:
            with self.store.transaction() as conn:
                self.store.delete_template(conn, template_id)
            self._drop(gallery.gallery_id, [template_id])

    def _drop(self, gallery_id: str, template_ids: list[str]) -> None:
        idx = self._indexes.get(gallery_id)
        if idx is not None:
            idx.remove(template_ids)
            owner = self._owner[gallery_id]
            for t in template_ids:
                owner.pop(t, None)

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
