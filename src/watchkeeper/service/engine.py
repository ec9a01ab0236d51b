"""The use-cases of the recognition engine: detect, enrol, verify, identify, gallery upkeep.

This is the only layer that combines the pipeline, the galleries, the store and governance. The
CLI, the library facade and (later) the API are thin adapters over it. Every use-case that
touches biometric data takes the acting :class:`Principal`, checks its permission, checks the
watchlist is active *now*, and writes its audit record in the same transaction as its change
(see :meth:`Site.act`). Detection alone (boxes and quality, no identity) needs no principal.

Sub-services hang off the engine: ``engine.accounts``, ``engine.watchlists``, ``engine.review``,
``engine.erasure``, ``engine.retention``, ``engine.oversight``, ``engine.video``,
``engine.footage``.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from watchkeeper.config.settings import Settings
from watchkeeper.core import Decision, EmbeddingContract, Faces, Frame, Match, Verification
from watchkeeper.core.errors import (
    ContractMismatchError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    WatchkeeperError,
)
from watchkeeper.gallery.catalog import EnrolOutcome, GalleryCatalog, IdentityTerms
from watchkeeper.gallery.rules import choose_enrolment_face, validate_display_name
from watchkeeper.gallery.watchlist import (
    parse_basis,
    require_active,
    validate_source,
    validate_watchlist_name,
)
from watchkeeper.governance.audit import AuditAction
from watchkeeper.governance.authz import Permission, Principal, ScryptParams
from watchkeeper.governance.policy import (
    check_field_name,
    check_metadata,
    check_text,
    safe_excerpt,
    validate_free_text,
)
from watchkeeper.models.calibration import load_calibration
from watchkeeper.pipeline.analyzer import FaceAnalyzer
from watchkeeper.pipeline.factory import build_analyzer
from watchkeeper.pipeline.pool import AnalyzerPool
from watchkeeper.service.batch import ImageResult, analyze_paths
from watchkeeper.service.crops import face_crop_jpeg
from watchkeeper.service.site import DB_FILE, Act, Clock, Site
from watchkeeper.sources.images import is_image_path, load_image
from watchkeeper.store.records import GalleryRecord, IdentityRecord, TemplateRecord
from watchkeeper.store.sqlite import SqliteStore

log = logging.getLogger(__name__)

__all__ = [
    "DB_FILE",
    "Engine",
    "EnrolResult",
    "IdentifyResult",
    "ImageInput",
    "Probe",
    "TemplateVerification",
]

ImageInput = str | Path | Frame | np.ndarray

MAX_PURPOSE = 500
_MAX_METADATA_BYTES = 4096


@dataclass(frozen=True, slots=True)
class EnrolResult:
    """One image's enrolment: what was stored, or why not."""

    source: str
    person: str
    identity_id: str | None = None
    template_id: str | None = None
    duplicate: bool = False
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True, slots=True)
class IdentifyResult:
    """Every face in a probe image and the answer for each (rejected faces included).

    ``candidate_ids`` is row-aligned with ``matches``: the review-queue entry each match became
    (None for unknown or rejected faces). A match is a candidate until a reviewer confirms it.
    """

    source: str
    faces: Faces
    matches: tuple[Match, ...]
    candidate_ids: tuple[str | None, ...] = ()


@dataclass(frozen=True, slots=True)
class TemplateVerification:
    """Faces of a probe compared one by one with one stored photo (a template).

    ``results`` is row-aligned with ``faces``; faces that failed the quality gates are not
    compared and read ``Decision.REJECTED`` with a similarity of 0.
    """

    template_id: str
    identity_id: str
    faces: Faces
    results: tuple[Verification, ...]


@dataclass(frozen=True, slots=True)
class Probe:
    """A photo analysed ahead of its governed use: faces with templates, and a face crop for
    each accepted face (row-aligned; None for rejected faces, or when no crops were asked for).

    Made by :meth:`Engine.analyse_probe`, which touches no store, so the costly part of an
    identification, verification or enrolment can run on several threads while the governed
    part (permission, audit, store) runs one at a time.
    """

    frame: Frame
    faces: Faces
    crops: tuple[bytes | None, ...]


def validate_purpose(purpose: object) -> str:
    """A search purpose: required, printable, bounded, and naming no protected attribute."""
    text = validate_free_text(purpose, "purpose", MAX_PURPOSE)
    check_text(text)
    return text


def validate_metadata(metadata: Mapping[str, object] | None) -> dict[str, object]:
    """Free-form metadata: policy-checked keys and values, JSON-safe, at most 4 KiB."""
    if metadata is None:
        return {}
    check_metadata(metadata)
    clean = dict(metadata)
    try:
        encoded = json.dumps(clean, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"metadata must be plain text, numbers and lists: {exc}") from None
    if len(encoded.encode("utf-8")) > _MAX_METADATA_BYTES:
        raise InvalidInputError(f"metadata is limited to {_MAX_METADATA_BYTES} bytes")
    return clean


class Engine:
    """One site's recognition engine over one data directory.

    >>> engine = Engine(Settings(home=Path("/tmp/wk-doc")))  # doctest: +SKIP
    >>> me = engine.accounts.authenticate(token)  # doctest: +SKIP
    >>> engine.identify(me, "door.jpg", watchlist="staff", purpose="door access")  # doctest: +SKIP
    """

    def __init__(
        self,
        settings: Settings | None = None,
        threshold: float | None = None,
        *,
        clock: Clock | None = None,
        password_params: ScryptParams | None = None,
    ) -> None:
        from watchkeeper.service.accounts import Accounts
        from watchkeeper.service.apikeys import RecognitionKeys
        from watchkeeper.service.erasure import Erasure
        from watchkeeper.service.footage import Footage
        from watchkeeper.service.oversight import Oversight
        from watchkeeper.service.retention import Retention
        from watchkeeper.service.review import Review
        from watchkeeper.service.video import Video
        from watchkeeper.service.watchlists import Watchlists

        self.settings = settings or Settings()
        self._threshold_override = threshold
        self._analyzer: FaceAnalyzer | None = None
        self._pool: AnalyzerPool | None = None
        self._contract: EmbeddingContract | None = None
        self._pool_lock = threading.Lock()
        self.site = Site(self.settings, clock=clock, password_params=password_params)
        self.accounts = Accounts(self.site)
        self.watchlists = Watchlists(self.site, lambda: self.contract)
        self.review = Review(self.site)
        self.erasure = Erasure(self.site)
        self.retention = Retention(self.site)
        self.oversight = Oversight(self.site)
        self.recognition_keys = RecognitionKeys(self.site)
        self.video = Video(self)
        self.footage = Footage(self)

    # -- life cycle --------------------------------------------------------------------------
    @property
    def analyzer(self) -> FaceAnalyzer:
        if self._analyzer is None:
            self._analyzer = build_analyzer(self.settings)
        return self._analyzer

    @property
    def contract(self) -> EmbeddingContract:
        """The embedding contract of this engine's analyzers (read once: every search checks
        it, and the models loaded at start do not change while the engine runs)."""
        if self._contract is None:
            if self._analyzer is not None:
                self._contract = self._analyzer.contract
            else:
                # A service works only through the pool: reading the contract from a pooled
                # analyzer spares it loading one more copy of the models (~170 MB) for it.
                with self.analyzers.lease() as analyzer:
                    self._contract = analyzer.contract
        return self._contract

    @property
    def analyzers(self) -> AnalyzerPool:
        """The analyzers the engine's own use-cases borrow, so photos from several threads are
        analysed in parallel (``recognition.parallel_analyses`` at once, 0: one per core).

        Separate from :attr:`analyzer`, which callers may use directly on their own thread.
        """
        with self._pool_lock:
            if self._pool is None:
                size = self.settings.recognition.parallel_analyses or os.cpu_count() or 1
                self._pool = AnalyzerPool(lambda: build_analyzer(self.settings), size)
            return self._pool

    def _analyze(self, frame: Frame, with_embeddings: bool = True) -> Faces:
        with self.analyzers.lease() as analyzer:
            return analyzer.analyze(frame, with_embeddings=with_embeddings)

    @property
    def store(self) -> SqliteStore:
        return self.site.store

    @property
    def catalog(self) -> GalleryCatalog:
        return self.site.catalog

    def close(self) -> None:
        self.retention.stop_schedule()
        with self._pool_lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None
        self.site.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- thresholds --------------------------------------------------------------------------
    def threshold(self, target_fmr: float | None = None) -> float:
        """Similarity threshold at the target false-match rate (calibrated on LFW View 1)."""
        if self._threshold_override is not None:
            return self._threshold_override
        fmr = target_fmr if target_fmr is not None else self.settings.recognition.target_fmr
        calibration = load_calibration(
            self.contract.contract_id, self.settings.home / "calibrations"
        )
        return calibration.threshold(fmr)

    # -- detection ---------------------------------------------------------------------------
    def _frame(self, image: ImageInput) -> Frame:
        if isinstance(image, Frame):
            return image
        if isinstance(image, np.ndarray):
            return Frame(image)
        return load_image(image)

    def detect(self, image: ImageInput, with_embeddings: bool = False) -> Faces:
        """Faces in an image with boxes, landmarks and quality verdicts (no identities)."""
        return self._analyze(self._frame(image), with_embeddings=with_embeddings)

    # -- enrolment ---------------------------------------------------------------------------
    def _enrol_terms(
        self,
        principal: Principal,
        basis: object,
        source: object,
        metadata: Mapping[str, object] | None,
    ) -> IdentityTerms:
        return IdentityTerms(
            basis=parse_basis(basis).value,
            source=validate_source(source),
            enrolled_by=principal.username,
            metadata=validate_metadata(metadata),
        )

    def _enrol_row(
        self,
        act: Act,
        record: GalleryRecord,
        person: str,
        faces: Faces,
        image: np.ndarray | None,
        source: str,
        face_index: int | None,
        terms: IdentityTerms,
        crops: Sequence[bytes | None] = (),
    ) -> EnrolResult:
        row = choose_enrolment_face(faces, source, face_index)
        if faces.embedding is None:
            raise InvalidInputError(f"{source}: faces carry no embeddings")
        if record.max_identities is not None:
            known = self.site.store.find_identity(record.gallery_id, person)
            count = self.site.store.count_identities(record.gallery_id)
            if known is None and count >= record.max_identities:
                raise PermissionDeniedError(
                    f"watchlist {record.name!r} already holds its approved maximum of "
                    f"{record.max_identities} people; widening it needs approval"
                )
        crop = crops[row] if row < len(crops) else None
        if crop is None and image is not None:
            crop = face_crop_jpeg(image, faces.xyxy[row])
        outcome: EnrolOutcome = self.site.catalog.add_template(
            act.conn, record, person, faces.embedding[row], source, terms, crop
        )
        act.after_commit.append(lambda: self.site.catalog.index_added(record, outcome))
        act.record(
            target=f"identity:{outcome.identity.identity_id}",
            details={
                "template": outcome.template.template_id if outcome.template else "duplicate",
                "basis": outcome.identity.basis or terms.basis,
                "new_identity": int(outcome.created_identity),
            },
        )
        return EnrolResult(
            source,
            person,
            outcome.identity.identity_id,
            outcome.template.template_id if outcome.template else None,
            outcome.duplicate,
        )

    def _check_enrol(self, record: GalleryRecord) -> None:
        require_active(record, self.site.now())
        self.contract.require_same(record.contract_id)

    def enrol(
        self,
        principal: Principal,
        person: str,
        image: ImageInput | Probe,
        watchlist: str,
        basis: str,
        source: str,
        face_index: int | None = None,
        metadata: Mapping[str, object] | None = None,
    ) -> EnrolResult:
        """Add a face of ``person`` to an active watchlist, recording why (basis) and from where.

        ``image`` may be a :class:`Probe` analysed earlier (see :meth:`identify`). Refuses
        images with several faces unless ``face_index`` picks one.
        """
        person = validate_display_name(person)
        target = f"person:{person}"
        (probe,) = self._probes_for(
            principal,
            Permission.GALLERY_ENROL,
            AuditAction.ENROL,
            target,
            [image],
            watchlist=watchlist,
        )
        frame = probe.frame
        with self.site.act(
            principal,
            AuditAction.ENROL,
            target,
            permission=Permission.GALLERY_ENROL,
            watchlist=watchlist,
            purpose=f"enrolment from {frame.source_id or 'image'}",
        ) as act:
            terms = self._enrol_terms(principal, basis, source, metadata)
            record = self.site.catalog.get(validate_watchlist_name(watchlist))
            self._check_enrol(record)
            self._require_probe_contract(probe, record.contract_id, f"watchlist {record.name!r}")
            return self._enrol_row(
                act,
                record,
                person,
                probe.faces,
                frame.image,
                frame.source_id or "image",
                face_index,
                terms,
                probe.crops,
            )

    def enrol_many(
        self,
        principal: Principal,
        items: Iterable[tuple[str, Path]],
        watchlist: str,
        basis: str,
        source: str,
        on_result: Callable[[EnrolResult], None] | None = None,
        workers: int | None = None,
        metadata: Mapping[str, object] | None = None,
    ) -> list[EnrolResult]:
        """Enrol (person, image path) pairs, analysing images on every core; one audit record
        (and one transaction) per stored photo."""
        pairs = [(validate_display_name(p), Path(f)) for p, f in items]
        self.site.check(
            principal,
            Permission.GALLERY_ENROL,
            AuditAction.ENROL,
            f"batch:{len(pairs)}",
            watchlist=watchlist,
        )
        with self.site.act(
            principal,
            AuditAction.ENROL,
            f"batch:{len(pairs)}",
            permission=Permission.GALLERY_ENROL,
            watchlist=watchlist,
            purpose="batch enrolment",
        ) as act:
            # Everything that can refuse the whole batch is checked (and audited) up front.
            terms = self._enrol_terms(principal, basis, source, metadata)
            record = self.site.catalog.get(validate_watchlist_name(watchlist))
            self._check_enrol(record)
            act.record(details={"photos": len(pairs), "stage": "accepted"})
        results: list[EnrolResult] = []
        analysed = analyze_paths([f for _, f in pairs], self.settings, workers=workers)
        for (person, _path), found in zip(pairs, analysed, strict=True):
            result = self._enrol_result(principal, record, person, found, terms)
            results.append(result)
            if on_result:
                on_result(result)
        return results

    def _enrol_result(
        self,
        principal: Principal,
        record: GalleryRecord,
        person: str,
        found: ImageResult,
        terms: IdentityTerms,
    ) -> EnrolResult:
        if found.faces is None:
            return EnrolResult(found.source, person, error=found.error)
        try:
            image = load_image(found.source).image
            with self.site.act(
                principal,
                AuditAction.ENROL,
                f"person:{person}",
                permission=Permission.GALLERY_ENROL,
                watchlist=record.name,
                purpose=f"enrolment from {found.source}",
            ) as act:
                # Checked again per photo: the watchlist may expire or be revoked mid-batch.
                current = self.site.catalog.get(record.name)
                self._check_enrol(current)
                return self._enrol_row(
                    act, current, person, found.faces, image, found.source, None, terms
                )
        except WatchkeeperError as exc:
            return EnrolResult(found.source, person, error=str(exc))

    @staticmethod
    def folder_items(folder: Path) -> list[tuple[str, Path]]:
        """(person, image) pairs from a tree with one sub-folder per person."""
        folder = Path(folder)
        if not folder.is_dir():
            raise InvalidInputError(f"{folder}: not a folder")
        items = [
            (person_dir.name.replace("_", " "), image)
            for person_dir in sorted(p for p in folder.iterdir() if p.is_dir())
            for image in sorted(person_dir.iterdir())
            if image.is_file() and is_image_path(image)
        ]
        if not items:
            raise InvalidInputError(
                f"{folder}: no images found; expected one sub-folder of photos per person"
            )
        return items

    # -- 1:1 ---------------------------------------------------------------------------------
    @staticmethod
    def _single_embedding(probe: Probe, label: str) -> np.ndarray:
        faces = probe.faces
        row = choose_enrolment_face(faces, probe.frame.source_id or label)
        if faces.embedding is None:
            raise InvalidInputError(f"{label}: no embedding")
        return np.asarray(faces.embedding[row], dtype=np.float32)

    def verify(
        self,
        principal: Principal,
        image_a: ImageInput | Probe,
        image_b: ImageInput | Probe,
        purpose: str,
        target_fmr: float | None = None,
    ) -> Verification:
        """Is the one face in A the same person as the one face in B? (1:1, audited)

        Either photo may be a :class:`Probe` analysed earlier (see :meth:`identify`).
        """
        probe_a, probe_b = self._probes_for(
            principal,
            Permission.SEARCH_VERIFY,
            AuditAction.SEARCH_VERIFY,
            "pair",
            [image_a, image_b],
            purpose=purpose,
            crops=False,
        )
        fmr = target_fmr if target_fmr is not None else self.settings.recognition.target_fmr
        threshold = self.threshold(fmr)
        for probe in (probe_a, probe_b):
            self._require_probe_contract(probe, self.contract.contract_id, "this engine")
        a = self._single_embedding(probe_a, "first image")
        b = self._single_embedding(probe_b, "second image")
        with self.site.act(
            principal,
            AuditAction.SEARCH_VERIFY,
            "pair",
            permission=Permission.SEARCH_VERIFY,
            purpose=purpose if isinstance(purpose, str) else "",
        ) as act:
            validate_purpose(purpose)
            sim = float(np.dot(a, b))
            decision = Decision.MATCH if sim >= threshold else Decision.UNKNOWN
            act.record(details={"decision": decision.value, "similarity": f"{sim:.4f}"})
            return Verification(decision, sim, threshold, fmr)

    def _template_in(self, template_id: object, record: GalleryRecord) -> TemplateRecord:
        if not isinstance(template_id, str) or not template_id.strip():
            raise InvalidInputError("a photo id is needed")
        found = self.site.store.templates(gallery_id=record.gallery_id, template_id=template_id)
        if not found:
            raise NotFoundError(
                f"no photo {safe_excerpt(template_id, 40)!r} in watchlist {record.name!r}"
            )
        return found[0]

    def verify_template(
        self,
        principal: Principal,
        image: ImageInput | Probe,
        template_id: str,
        watchlist: str,
        purpose: str,
        target_fmr: float | None = None,
    ) -> TemplateVerification:
        """Is each face in ``image`` the person of one stored photo? (1:1 per face, audited)

        The photo must be in ``watchlist``, and the watchlist active now: comparing against a
        stored face is a use of the gallery like any search. ``image`` may be a :class:`Probe`
        analysed earlier (see :meth:`identify`).
        """
        target = f"template:{safe_excerpt(template_id, 40)}"
        (probe,) = self._probes_for(
            principal,
            Permission.SEARCH_VERIFY,
            AuditAction.SEARCH_VERIFY,
            target,
            [image],
            watchlist=watchlist,
            purpose=purpose,
            crops=False,
        )
        faces = probe.faces
        fmr = target_fmr if target_fmr is not None else self.settings.recognition.target_fmr
        threshold = self.threshold(fmr)
        with self.site.act(
            principal,
            AuditAction.SEARCH_VERIFY,
            target,
            permission=Permission.SEARCH_VERIFY,
            watchlist=watchlist,
            purpose=purpose if isinstance(purpose, str) else "",
        ) as act:
            validate_purpose(purpose)
            record = self.site.active_watchlist(validate_watchlist_name(watchlist), act.at)
            self.contract.require_same(record.contract_id)
            self._require_probe_contract(probe, record.contract_id, f"watchlist {record.name!r}")
            template = self._template_in(template_id, record)
            if len(faces) and faces.embedding is None:
                raise InvalidInputError("faces carry no embeddings")
            results = []
            for row in range(len(faces)):
                if faces.rejected[row] or faces.embedding is None:
                    results.append(Verification(Decision.REJECTED, 0.0, threshold, fmr))
                    continue
                sim = float(np.dot(faces.embedding[row], template.embedding))
                decision = Decision.MATCH if sim >= threshold else Decision.UNKNOWN
                results.append(Verification(decision, sim, threshold, fmr))
            compared = [r for r in results if r.decision is not Decision.REJECTED]
            best = max((r.similarity for r in compared), default=None)
            act.record(
                details={
                    "identity": template.identity_id,
                    "faces": len(faces),
                    "matches": sum(1 for r in compared if r.decision is Decision.MATCH),
                    "similarity": "none" if best is None else f"{best:.4f}",
                }
            )
            return TemplateVerification(
                template.template_id, template.identity_id, faces, tuple(results)
            )

    # -- photos analysed ahead (probes), and 1:N ---------------------------------------------
    def analyse_probe(self, image: ImageInput | Probe, *, crops: bool = True) -> Probe:
        """Analyse a photo for :meth:`identify`, :meth:`enrol`, :meth:`verify` or
        :meth:`verify_template`: faces, templates and (``crops``) face crops.

        Touches no store and needs no principal (it learns nothing about anyone enrolled), so
        callers may run it on several threads at once, outside the one-at-a-time section where
        the governed use-case runs (the API does). Nothing is kept: a probe that is never
        used leaves no trace. Verification keeps no picture, so it asks for no crops.
        """
        if isinstance(image, Probe):
            return image
        frame = self._frame(image)
        faces = self._analyze(frame)
        made = tuple(
            face_crop_jpeg(frame.image, faces.xyxy[row]) if crops and faces.accepted[row] else None
            for row in range(len(faces))
        )
        return Probe(frame, faces, made)

    def _probes_for(
        self,
        principal: Principal,
        permission: Permission,
        action: str,
        target: str,
        images: Sequence[ImageInput | Probe],
        *,
        watchlist: str | None = None,
        purpose: object = "",
        crops: bool = True,
    ) -> tuple[Probe, ...]:
        """The photos of a use-case as probes, analysed only once ``permission`` is checked.

        The one way every use-case that takes photos accepts them: an image is analysed here
        (on a pooled analyzer), a :class:`Probe` was analysed earlier on another thread (the
        API's first stage). The permission comes first either way, so a refused caller spends
        no analysis and leaves the refusal in the audit log.
        """
        self.site.check(
            principal,
            permission,
            action,
            target,
            watchlist=watchlist,
            purpose=purpose if isinstance(purpose, str) else "",
        )
        return tuple(self.analyse_probe(image, crops=crops) for image in images)

    @staticmethod
    def _require_probe_contract(probe: Probe, contract_id: str, against: str) -> None:
        """Refuse a probe whose templates were made under another embedding contract than
        ``contract_id`` (the watchlist's, or this engine's where there is no watchlist)."""
        made_by = probe.faces.meta.contract_id
        if len(probe.faces) and made_by != contract_id:
            raise ContractMismatchError(
                f"the photo was analysed by another model ({made_by!r}) than {against} uses "
                f"({contract_id!r}); analyse it again with this engine"
            )

    def identify(
        self,
        principal: Principal,
        image: ImageInput | Probe,
        watchlist: str,
        purpose: str,
        top_k: int | None = None,
        target_fmr: float | None = None,
    ) -> IdentifyResult:
        """Search every face of ``image`` in one active watchlist, for a stated purpose.

        ``image`` may be a :class:`Probe` from :meth:`analyse_probe` (analysed earlier, on
        another thread). Every match becomes a review candidate; "unknown" when nobody passes
        the threshold.
        """
        (probe,) = self._probes_for(
            principal,
            Permission.SEARCH_IDENTIFY,
            AuditAction.SEARCH_IDENTIFY,
            "probe",
            [image],
            watchlist=watchlist,
            purpose=purpose,
        )
        frame, faces = probe.frame, probe.faces
        with self.site.act(
            principal,
            AuditAction.SEARCH_IDENTIFY,
            f"probe:{frame.source_id or 'image'}",
            permission=Permission.SEARCH_IDENTIFY,
            watchlist=watchlist,
            purpose=purpose if isinstance(purpose, str) else "",
        ) as act:
            validate_purpose(purpose)
            record = self.site.active_watchlist(validate_watchlist_name(watchlist), act.at)
            self._require_probe_contract(probe, record.contract_id, f"watchlist {record.name!r}")
            matches = self._match(record, faces, top_k, target_fmr)
            ids = self._queue_candidates(act, record, probe, matches, purpose)
            act.record(
                details={
                    "faces": len(faces),
                    "candidates": sum(1 for m in matches if m.decision is Decision.MATCH),
                    "unknown": sum(1 for m in matches if m.decision is Decision.UNKNOWN),
                    "not_searched": sum(1 for m in matches if m.decision is Decision.REJECTED),
                }
            )
            return IdentifyResult(frame.source_id, faces, matches, ids)

    def _queue_candidates(
        self,
        act: Act,
        record: GalleryRecord,
        probe: Probe,
        matches: tuple[Match, ...],
        purpose: str,
    ) -> tuple[str | None, ...]:
        from watchkeeper.governance.review import ReviewQueue, new_candidate_id

        queue = ReviewQueue(act.conn, act.audit_log)
        ids: list[str | None] = []
        for row, match in enumerate(matches):
            if match.decision is not Decision.MATCH:
                ids.append(None)
                continue
            best = match.candidates[0]
            cid = new_candidate_id()
            made = probe.crops[row] if row < len(probe.crops) else None
            if made is None:
                made = face_crop_jpeg(probe.frame.image, probe.faces.xyxy[row])
            crop, key_id = self.site.store.seal_blob(made, cid + "/probe")
            queue.add(
                watchlist=record.name,
                gallery_id=record.gallery_id,
                identity_id=best.identity_id,
                display_name=best.display_name,
                template_id=best.template_id,
                similarity=best.similarity,
                threshold=match.threshold,
                probe_source=probe.frame.source_id or "image",
                searched_by=act.principal.username if act.principal else "system",
                purpose=purpose,
                probe_crop=crop,
                crop_key_id=key_id,
                candidate_id=cid,
                now=act.at,
            )
            act.record(
                action=AuditAction.MATCH,
                target=f"candidate:{cid}",
                details={"identity": best.identity_id, "similarity": f"{best.similarity:.4f}"},
            )
            ids.append(cid)
        return tuple(ids)

    def _match(
        self,
        record: GalleryRecord,
        faces: Faces,
        top_k: int | None,
        target_fmr: float | None,
    ) -> tuple[Match, ...]:
        """Decisions for faces that already carry embeddings, in an already checked watchlist."""
        k = top_k or self.settings.recognition.top_k
        if not 1 <= k <= 100:
            raise InvalidInputError("top_k must be between 1 and 100")
        threshold = self.threshold(target_fmr)
        if len(faces) == 0:
            return ()
        if faces.embedding is None:
            raise InvalidInputError("faces carry no embeddings")
        self.contract.require_same(record.contract_id)
        candidates = self.site.catalog.search(record, faces.embedding, k)
        matches = []
        for row, cands in enumerate(candidates):
            reasons = faces.rejected[row]
            if reasons:
                matches.append(
                    Match(
                        Decision.REJECTED,
                        record.name,
                        threshold,
                        (),
                        tuple(r.value for r in reasons),
                    )
                )
                continue
            passed = bool(cands) and cands[0].similarity >= threshold
            matches.append(
                Match(
                    Decision.MATCH if passed else Decision.UNKNOWN,
                    record.name,
                    threshold,
                    tuple(cands),
                )
            )
        return tuple(matches)

    # -- gallery upkeep ----------------------------------------------------------------------
    def people(
        self,
        principal: Principal,
        watchlist: str,
        where: Mapping[str, str] | None = None,
    ) -> list[IdentityRecord]:
        """The people of a watchlist (a view of biometric records, audited).

        ``where`` filters on metadata keys; keys and values cross the protected-attribute policy,
        which refuses any filter on ethnicity, nationality or the like.
        """
        with self.site.act(
            principal,
            AuditAction.BIOMETRIC_VIEW,
            f"watchlist:{watchlist}",
            permission=Permission.GALLERY_VIEW,
            watchlist=watchlist,
            purpose="list people",
        ) as act:
            filters = dict(where or {})
            for key, value in filters.items():
                check_field_name(key)
                if not isinstance(value, str):
                    raise InvalidInputError("metadata filter values must be text")
                check_text(value)
            record = self.site.catalog.get(watchlist)
            people = self.site.store.list_identities(record.gallery_id, limit=10**9)
            if filters:
                people = [
                    p
                    for p in people
                    if all(str(p.metadata.get(k)) == v for k, v in filters.items())
                ]
            act.record(details={"people": len(people), "filters": len(filters)})
            return people

    def person(self, principal: Principal, name_or_id: str, watchlist: str) -> IdentityRecord:
        """One person of a watchlist, by name or identity id (audited view)."""
        with self.site.act(
            principal,
            AuditAction.BIOMETRIC_VIEW,
            f"person:{name_or_id}",
            permission=Permission.GALLERY_VIEW,
            watchlist=watchlist,
            purpose="show person",
        ) as act:
            ident = self._find_person(name_or_id, watchlist)
            act.record(target=f"identity:{ident.identity_id}", details={"templates": 0})
            return ident

    def _find_person(self, name_or_id: str, watchlist: str) -> IdentityRecord:
        record = self.site.catalog.get(watchlist)
        found = self.site.store.find_identity(record.gallery_id, name_or_id)
        if found is not None:
            return found
        try:
            ident = self.site.store.get_identity(name_or_id)
        except NotFoundError:
            raise NotFoundError(
                f"nobody called {name_or_id!r} in watchlist {watchlist!r}"
            ) from None
        if ident.gallery_id != record.gallery_id:
            raise NotFoundError(f"{name_or_id!r} is not in watchlist {watchlist!r}")
        return ident

    def add_person(
        self,
        principal: Principal,
        person: str,
        watchlist: str,
        basis: str,
        source: str,
        metadata: Mapping[str, object] | None = None,
    ) -> IdentityRecord:
        """Add a person with no face yet to an active watchlist (photos follow with ``enrol``)."""
        person = validate_display_name(person)
        with self.site.act(
            principal,
            AuditAction.ENROL,
            f"person:{person}",
            permission=Permission.GALLERY_ENROL,
            watchlist=watchlist,
            purpose="add a person without a photo",
        ) as act:
            terms = self._enrol_terms(principal, basis, source, metadata)
            record = self.site.catalog.get(validate_watchlist_name(watchlist))
            self._check_enrol(record)
            if self.site.store.find_identity(record.gallery_id, person) is not None:
                raise InvalidInputError(f"{person!r} is already in watchlist {watchlist!r}")
            if (
                record.max_identities is not None
                and self.site.store.count_identities(record.gallery_id) >= record.max_identities
            ):
                raise PermissionDeniedError(
                    f"watchlist {record.name!r} already holds its approved maximum of "
                    f"{record.max_identities} people; widening it needs approval"
                )
            ident = self.site.store.insert_identity(
                act.conn,
                record.gallery_id,
                person,
                basis=terms.basis,
                source=terms.source,
                enrolled_by=terms.enrolled_by,
                metadata=dict(terms.metadata),
            )
            act.record(
                target=f"identity:{ident.identity_id}",
                details={"template": "none", "basis": terms.basis, "new_identity": 1},
            )
            return ident

    def rename_person(
        self, principal: Principal, name_or_id: str, new_name: str, watchlist: str
    ) -> IdentityRecord:
        """Give a person of a watchlist another display name (refused if the name is taken)."""
        new_name = validate_display_name(new_name)
        with self.site.act(
            principal,
            AuditAction.ENROL,
            f"person:{name_or_id}",
            permission=Permission.GALLERY_ENROL,
            watchlist=watchlist,
            purpose="rename a person",
        ) as act:
            ident = self._find_person(name_or_id, watchlist)
            self.site.store.rename_identity(act.conn, ident.identity_id, new_name)
            # Indexes carry display names; the next search rebuilds this watchlist's.
            act.after_commit.append(lambda: self.site.catalog.forget_index(ident.gallery_id))
            act.record(target=f"identity:{ident.identity_id}", details={"renamed": 1})
            return self.site.store.get_identity(ident.identity_id)

    def templates_of(self, principal: Principal, identity_id: str) -> list[TemplateRecord]:
        """A person's templates (vectors included): a view of biometric data, audited."""
        with self.site.act(
            principal,
            AuditAction.BIOMETRIC_VIEW,
            f"identity:{identity_id}",
            permission=Permission.GALLERY_VIEW,
            purpose="show templates",
        ) as act:
            ident = self.site.store.get_identity(identity_id)
            templates = self.site.store.templates(identity_id=ident.identity_id)
            act.record(details={"templates": len(templates)})
            return templates

    def delete_person(self, principal: Principal, name_or_id: str, watchlist: str) -> int:
        """Remove a person and every template; returns how many templates went."""
        with self.site.act(
            principal,
            AuditAction.DELETE,
            f"person:{name_or_id}",
            permission=Permission.GALLERY_DELETE,
            watchlist=watchlist,
            purpose="gallery upkeep",
        ) as act:
            ident = self._find_person(name_or_id, watchlist)
            removed = self.site.catalog.remove_identity(act.conn, ident.identity_id)
            act.after_commit.append(
                lambda: self.site.catalog.index_removed(ident.gallery_id, removed)
            )
            act.record(target=f"identity:{ident.identity_id}", details={"templates": len(removed)})
            return len(removed)

    def template_image(self, principal: Principal, template_id: str, watchlist: str) -> bytes:
        """The face picture kept with one stored photo, as JPEG: a view of biometric data,
        audited, and only while the watchlist is active.

        Enrolment keeps a small face crop, never the whole photo, so the crop is what there is.
        """
        with self.site.act(
            principal,
            AuditAction.BIOMETRIC_VIEW,
            f"template:{safe_excerpt(template_id, 40)}",
            permission=Permission.GALLERY_VIEW,
            watchlist=watchlist,
            purpose="show an enrolled face",
        ) as act:
            record = self.site.active_watchlist(validate_watchlist_name(watchlist), act.at)
            template = self._template_in(template_id, record)
            crop = self.site.store.template_crop(template.template_id)
            if crop is None:
                raise NotFoundError(f"photo {template.template_id!r} has no stored face picture")
            act.record(details={"identity": template.identity_id, "faces_shown": 1})
            return crop

    def delete_template(self, principal: Principal, template_id: str, watchlist: str) -> str:
        """Remove one template of a person in ``watchlist``; returns the person's identity id."""
        with self.site.act(
            principal,
            AuditAction.DELETE,
            f"template:{template_id}",
            permission=Permission.GALLERY_DELETE,
            watchlist=watchlist,
            purpose="gallery upkeep",
        ) as act:
            record = self.site.catalog.get(watchlist)
            identity_id = self.site.catalog.remove_template(act.conn, template_id)
            if self.site.store.get_identity(identity_id).gallery_id != record.gallery_id:
                raise NotFoundError(f"template {template_id!r} is not in watchlist {watchlist!r}")
            act.after_commit.append(
                lambda: self.site.catalog.index_removed(record.gallery_id, [template_id])
            )
            act.record(details={"identity": identity_id})
            return identity_id
