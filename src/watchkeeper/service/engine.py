"""The use-cases of the recognition engine: detect, enrol, verify, identify, gallery upkeep.

This is the only layer that combines the pipeline, the galleries and the store. The CLI, the
library facade and (later) the API are thin adapters over it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from watchkeeper.config.settings import Settings
from watchkeeper.core import Decision, Faces, Frame, Match, Verification
from watchkeeper.core.errors import InvalidInputError, NotFoundError, WatchkeeperError
from watchkeeper.gallery.catalog import EnrolOutcome, GalleryCatalog
from watchkeeper.gallery.rules import choose_enrolment_face, validate_display_name
from watchkeeper.models.calibration import load_calibration
from watchkeeper.pipeline.analyzer import FaceAnalyzer
from watchkeeper.pipeline.factory import build_analyzer
from watchkeeper.service.batch import ImageResult, analyze_paths
from watchkeeper.sources.images import is_image_path, load_image
from watchkeeper.store.records import GalleryRecord, IdentityRecord, TemplateRecord
from watchkeeper.store.sqlite import SqliteStore

log = logging.getLogger(__name__)

DEFAULT_GALLERY = "default"
DB_FILE = "watchkeeper.db"

ImageInput = str | Path | Frame | np.ndarray


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
    """Every face in a probe image and the answer for each (rejected faces included)."""

    source: str
    faces: Faces
    matches: tuple[Match, ...]


class Engine:
    """One site's recognition engine over one data directory.

    >>> engine = Engine(Settings(home=Path("/tmp/wk-doc")))  # doctest: +SKIP
    >>> engine.enrol("alice", "alice.jpg")  # doctest: +SKIP
    """

    def __init__(self, settings: Settings | None = None, threshold: float | None = None) -> None:
        self.settings = settings or Settings()
        self._threshold_override = threshold
        self._analyzer: FaceAnalyzer | None = None
        self._store: SqliteStore | None = None
        self._catalog: GalleryCatalog | None = None

    # -- life cycle --------------------------------------------------------------------------
    @property
    def analyzer(self) -> FaceAnalyzer:
        if self._analyzer is None:
            self._analyzer = build_analyzer(self.settings)
        return self._analyzer

    @property
    def store(self) -> SqliteStore:
        if self._store is None:
            self._store = SqliteStore(self.settings.home / DB_FILE).open()
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
            self.analyzer.contract.contract_id, self.settings.home / "calibrations"
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
        """Faces in an image with boxes, landmarks and quality verdicts."""
        return self.analyzer.analyze(self._frame(image), with_embeddings=with_embeddings)

    # -- enrolment ---------------------------------------------------------------------------
    def _gallery(self, name: str, create: bool) -> GalleryRecord:
        if create:
            return self.catalog.ensure_gallery(name, self.analyzer.contract)
        record = self.catalog.get(name)
        self.analyzer.contract.require_same(record.contract_id)
        return record

    def _enrol_faces(
        self, gallery: GalleryRecord, person: str, faces: Faces, source: str, face_index: int | None
    ) -> EnrolResult:
        row = choose_enrolment_face(faces, source, face_index)
        if faces.embedding is None:
            raise InvalidInputError(f"{source}: faces carry no embeddings")
        outcome: EnrolOutcome = self.catalog.enrol(gallery, person, faces.embedding[row], source)
        return EnrolResult(
            source,
            person,
            outcome.identity.identity_id,
            outcome.template.template_id if outcome.template else None,
            outcome.duplicate,
        )

    def enrol(
        self,
        person: str,
        image: ImageInput,
        gallery: str = DEFAULT_GALLERY,
        face_index: int | None = None,
    ) -> EnrolResult:
        """Add a face of ``person`` from one image; refuses images with several faces."""
        person = validate_display_name(person)
        frame = self._frame(image)
        record = self._gallery(gallery, create=True)
        faces = self.analyzer.analyze(frame)
        return self._enrol_faces(record, person, faces, frame.source_id or "image", face_index)

    def enrol_many(
        self,
        items: Iterable[tuple[str, Path]],
        gallery: str = DEFAULT_GALLERY,
        on_result: Callable[[EnrolResult], None] | None = None,
        workers: int | None = None,
    ) -> list[EnrolResult]:
        """Enrol (person, image path) pairs, analysing images on every core."""
        pairs = [(validate_display_name(p), Path(f)) for p, f in items]
        record = self._gallery(gallery, create=True)
        results: list[EnrolResult] = []
        analysed = analyze_paths([f for _, f in pairs], self.settings, workers=workers)
        for (person, _path), found in zip(pairs, analysed, strict=True):
            result = self._enrol_result(record, person, found)
            results.append(result)
            if on_result:
                on_result(result)
        return results

    def _enrol_result(self, record: GalleryRecord, person: str, found: ImageResult) -> EnrolResult:
        if found.faces is None:
            return EnrolResult(found.source, person, error=found.error)
        try:
            return self._enrol_faces(record, person, found.faces, found.source, None)
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
    def _single_embedding(self, image: ImageInput, label: str) -> np.ndarray:
        frame = self._frame(image)
        faces = self.analyzer.analyze(frame)
        row = choose_enrolment_face(faces, frame.source_id or label)
        if faces.embedding is None:
            raise InvalidInputError(f"{label}: no embedding")
        return np.asarray(faces.embedding[row], dtype=np.float32)

    def verify(
        self, image_a: ImageInput, image_b: ImageInput, target_fmr: float | None = None
    ) -> Verification:
        """Is the one face in A the same person as the one face in B?"""
        fmr = target_fmr if target_fmr is not None else self.settings.recognition.target_fmr
        threshold = self.threshold(fmr)
        a = self._single_embedding(image_a, "first image")
        b = self._single_embedding(image_b, "second image")
        sim = float(np.dot(a, b))
        decision = Decision.MATCH if sim >= threshold else Decision.UNKNOWN
        return Verification(decision, sim, threshold, fmr)

    # -- 1:N ---------------------------------------------------------------------------------
    def identify(
        self,
        image: ImageInput,
        gallery: str = DEFAULT_GALLERY,
        top_k: int | None = None,
        target_fmr: float | None = None,
    ) -> IdentifyResult:
        """Search every face of ``image`` in the named gallery; unknown when nobody passes."""
        record = self._gallery(gallery, create=False)
        frame = self._frame(image)
        faces = self.analyzer.analyze(frame)
        return IdentifyResult(
            frame.source_id, faces, self.match_faces(record, faces, top_k, target_fmr)
        )

    def match_faces(
        self,
        record: GalleryRecord,
        faces: Faces,
        top_k: int | None = None,
        target_fmr: float | None = None,
    ) -> tuple[Match, ...]:
        """Decisions for faces that already carry embeddings (used by video too)."""
        k = top_k or self.settings.recognition.top_k
        threshold = self.threshold(target_fmr)
        if len(faces) == 0:
            return ()
        if faces.embedding is None:
            raise InvalidInputError("faces carry no embeddings")
        self.analyzer.contract.require_same(record.contract_id)
        candidates = self.catalog.search(record, faces.embedding, k)
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
    def galleries(self) -> list[GalleryRecord]:
        return self.store.list_galleries()

    def people(self, gallery: str = DEFAULT_GALLERY) -> list[IdentityRecord]:
        return self.store.list_identities(self.catalog.get(gallery).gallery_id, limit=10**9)

    def person(self, name_or_id: str, gallery: str = DEFAULT_GALLERY) -> IdentityRecord:
        record = self.catalog.get(gallery)
        found = self.store.find_identity(record.gallery_id, name_or_id)
        if found is not None:
            return found
        ident = self.store.get_identity(name_or_id)
        if ident.gallery_id != record.gallery_id:
            raise NotFoundError(f"{name_or_id!r} is not in gallery {gallery!r}")
        return ident

    def templates_of(self, identity_id: str) -> list[TemplateRecord]:
        return self.store.templates(identity_id=identity_id)

    def delete_person(self, name_or_id: str, gallery: str = DEFAULT_GALLERY) -> int:
        """Remove a person and every template; returns how many templates went."""
        ident = self.person(name_or_id, gallery)
        return len(self.catalog.delete_identity(self.catalog.get(gallery), ident.identity_id))

    def delete_template(self, template_id: str, gallery: str = DEFAULT_GALLERY) -> None:
        self.catalog.delete_template(self.catalog.get(gallery), template_id)
