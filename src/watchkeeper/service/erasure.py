"""Erasure of a person everywhere, with a receipt.

Erasing removes, in one audited transaction, every identity of that name (or the one identity
id given) in every watchlist: their templates, the face crops stored with them, the review
candidates that name them (with their probe crops), their sightings and the events naming
them (with any alert still owed to a receiver), and, once the cache is told after commit,
their entries in every search index. The receipt says what went and carries a digest, so the
person (or an authority) can later check the receipt was not altered; the audit record holds
the receipt's id and digest but not the person's name.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime

from watchkeeper.core.errors import NotFoundError
from watchkeeper.events.outbox import EventLog
from watchkeeper.governance.audit import AuditAction
from watchkeeper.governance.authz import Permission, Principal
from watchkeeper.governance.policy import check_text, validate_free_text
from watchkeeper.governance.review import ReviewQueue
from watchkeeper.service.site import Site
from watchkeeper.store.records import IdentityRecord
from watchkeeper.store.sightings import SightingStore


@dataclass(frozen=True, slots=True)
class ErasureReceipt:
    """What an erasure removed. ``digest`` is SHA-256 over every other field."""

    receipt_id: str
    erased_at: datetime
    erased_by: str
    subject: str
    identities: tuple[str, ...]
    watchlists: tuple[str, ...]
    templates: int
    face_crops: int
    index_entries: int
    review_candidates: int
    sightings: int
    digest: str = ""

    def body(self) -> dict[str, object]:
        data = asdict(self)
        data.pop("digest")
        data["erased_at"] = self.erased_at.isoformat()
        data["identities"] = list(self.identities)
        data["watchlists"] = list(self.watchlists)
        return data

    def compute_digest(self) -> str:
        canonical = json.dumps(self.body(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def to_json(self) -> str:
        return json.dumps({**self.body(), "digest": self.digest}, indent=2, sort_keys=True)


class Erasure:
    def __init__(self, site: Site) -> None:
        self._site = site

    def _subjects(self, person: str) -> list[IdentityRecord]:
        named = self._site.store.identities_named(person)
        if named:
            return named
        try:
            return [self._site.store.get_identity(person)]
        except NotFoundError:
            raise NotFoundError(
                f"nobody called or with id {person!r} is enrolled anywhere"
            ) from None

    def erase_person(self, principal: Principal, person: str, reason: str) -> ErasureReceipt:
        """Remove a person (every identity of that name, or one identity id) everywhere."""
        with self._site.act(
            principal,
            AuditAction.ERASE,
            "person",
            permission=Permission.DATA_ERASE,
            purpose=reason if isinstance(reason, str) else "",
        ) as act:
            validate_free_text(reason, "reason", 500)
            check_text(reason)
            validate_free_text(person, "person", 200)
            subjects = self._subjects(person.strip())
            catalog = self._site.catalog
            templates = crops = index_entries = 0
            removed_by_gallery: dict[str, list[str]] = {}
            watchlists: set[str] = set()
            for ident in subjects:
                crops += self._site.store.count_crops(ident.identity_id)
                removed = catalog.remove_identity(act.conn, ident.identity_id)
                templates += len(removed)
                indexed = catalog.indexed_template_ids(ident.gallery_id)
                index_entries += sum(1 for t in removed if t in indexed)
                removed_by_gallery.setdefault(ident.gallery_id, []).extend(removed)
                watchlists.add(self._site.store.get_gallery_by_id(ident.gallery_id).name)
            candidates = ReviewQueue(act.conn, act.audit_log).delete_for_identities(
                i.identity_id for i in subjects
            )
            subject_ids = [i.identity_id for i in subjects]
            sightings = SightingStore(self._site.store).delete_for_identities(act.conn, subject_ids)
            # Events naming the person go too, with any alert still owed to a receiver.
            EventLog(act.conn).delete_for_identities(subject_ids)
            draft = ErasureReceipt(
                receipt_id=f"erasure_{uuid.uuid4().hex[:20]}",
                erased_at=act.at,
                erased_by=principal.username,
                subject=person.strip(),
                identities=tuple(i.identity_id for i in subjects),
                watchlists=tuple(sorted(watchlists)),
                templates=templates,
                face_crops=crops,
                index_entries=index_entries,
                review_candidates=candidates,
                sightings=sightings,
            )
            receipt = ErasureReceipt(**{**asdict(draft), "digest": draft.compute_digest()})

            def drop_from_indexes() -> None:
                for gallery_id, template_ids in removed_by_gallery.items():
                    catalog.index_removed(gallery_id, template_ids)

            act.after_commit.append(drop_from_indexes)
            act.record(
                target=f"receipt:{receipt.receipt_id}",
                details={
                    "receipt_digest": receipt.digest,
                    "identities": len(subjects),
                    "templates": templates,
                    "face_crops": crops,
                    "index_entries": index_entries,
                    "review_candidates": candidates,
                    "sightings": sightings,
                },
            )
            return receipt
