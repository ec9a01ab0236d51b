"""Recorded footage: index a folder of recordings into sightings, search them by photo, and
export redacted copies.

* **Index** (``cameras.manage``): every video file becomes sightings, one per face track, with
  the track's mean embedding, best crop and its time span in the recording. Audited per file.
* **Search** (``search.footage``): one face photo against every stored sighting (indexed
  footage and live cameras alike), ranked by similarity, above the calibrated threshold. A
  retrospective search is a serious intrusion: with four-eyes on it needs an approved request
  of kind ``search.footage``, used once. Audited with its purpose.
* **Redact** (``data.export``): a copy of an image or clip with every face blurred except, if
  a photo of the subject is given, that person's. Audited as an export.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

from watchkeeper.config.cameras import CameraSettings
from watchkeeper.core import Faces, Frame
from watchkeeper.core.errors import InvalidInputError, NoFaceError, PermissionDeniedError
from watchkeeper.gallery.rules import choose_enrolment_face
from watchkeeper.governance.approvals import ApprovalBook, ApprovalKind
from watchkeeper.governance.audit import AuditAction
from watchkeeper.governance.authz import Permission, Principal
from watchkeeper.service.video_tracks import (
    DetectionSchedule,
    FaceTrackLoop,
    TrackSummary,
    video_settings,
)
from watchkeeper.sources.files import VideoFileSource
from watchkeeper.sources.images import is_image_path, load_image
from watchkeeper.store.sightings import SightingRecord

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = frozenset({".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".ts", ".mpg"})
INDEX_ACTION = "footage.index"
FOOTAGE_PREFIX = "footage:"


@dataclass(frozen=True, slots=True)
class IndexedFile:
    path: str
    frames: int
    sightings: int
    error: str | None = None


@dataclass(frozen=True, slots=True)
class FootageHit:
    """One ranked sighting: where and when, how similar, and its thumbnail (JPEG)."""

    sighting: SightingRecord
    similarity: float
    thumbnail_jpeg: bytes | None

    @property
    def recording(self) -> str:
        camera = self.sighting.camera_id
        return camera[len(FOOTAGE_PREFIX) :] if camera.startswith(FOOTAGE_PREFIX) else camera


@dataclass(frozen=True, slots=True)
class FootageSearch:
    threshold: float
    searched: int
    hits: tuple[FootageHit, ...]


@dataclass(frozen=True, slots=True)
class RedactionReport:
    output: str
    frames: int
    faces_blurred: int
    faces_kept: int


def video_files(folder: Path) -> list[Path]:
    """Video files under ``folder`` (recursively), in name order."""
    if not folder.is_dir():
        raise InvalidInputError(f"{folder}: not a folder")
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES
    )


class Footage:
    """Footage use-cases (``engine.footage``)."""

    def __init__(self, engine: object) -> None:
        from watchkeeper.service.engine import Engine

        if not isinstance(engine, Engine):
            raise InvalidInputError("Footage needs an Engine")
        self.engine = engine
        self.site = engine.site

    # -- index -------------------------------------------------------------------------------
    def index_folder(
        self,
        principal: Principal,
        folder: Path,
        on_file: Callable[[IndexedFile], None] | None = None,
        detection_interval: int | None = None,
    ) -> list[IndexedFile]:
        """Every recording under ``folder`` into sightings (one audited transaction per file)."""
        folder = Path(folder)
        self.site.check(principal, Permission.CAMERAS_MANAGE, INDEX_ACTION, f"folder:{folder}")
        files = video_files(folder)
        if not files:
            raise InvalidInputError(f"{folder}: no video files found")
        out = []
        for path in files:
            result = self.index_file(principal, path, folder, detection_interval)
            out.append(result)
            if on_file is not None:
                on_file(result)
        return out

    def index_file(
        self,
        principal: Principal,
        path: Path,
        root: Path | None = None,
        detection_interval: int | None = None,
    ) -> IndexedFile:
        from watchkeeper.core.errors import SourceError

        name = str(path.relative_to(root)) if root is not None else path.name
        camera_id = FOOTAGE_PREFIX + name
        settings = video_settings(self.engine.settings)
        analyzer = self.engine.analyzer
        recorded_at = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        camera = CameraSettings(camera_id="footage", source=str(path))
        interval = detection_interval or settings.video.detection_interval
        loop = FaceTrackLoop(
            analyzer,
            camera_id,
            embed_every=settings.video.embed_every,
            min_track_detections=settings.video.min_track_frames,
        )
        summaries: list[TrackSummary] = []
        frames = 0
        try:
            with VideoFileSource(path, source_id=camera_id, recorded_at=recorded_at) as source:
                schedule = DetectionSchedule(analyzer, camera, interval, settings)
                for item in schedule.run(source):
                    frames += 1
                    summaries.extend(loop.step(item).ended)
        except SourceError as exc:
            log.warning("could not index %s: %s", path, exc)
            return IndexedFile(name, frames, 0, str(exc))
        summaries.extend(loop.finish())
        contract = analyzer.contract.contract_id
        with self.site.act(
            principal,
            INDEX_ACTION,
            f"recording:{name}",
            permission=Permission.CAMERAS_MANAGE,
            purpose="index recorded footage",
        ) as act:
            for summary in summaries:
                self.engine.video.store_sighting(act, summary, None, contract)
            act.record(details={"frames": frames, "sightings": len(summaries)})
        return IndexedFile(name, frames, len(summaries))

    # -- search ------------------------------------------------------------------------------
    def request_search(self, principal: Principal, summary: str) -> str:
        """Ask a second person to approve one footage search (four-eyes); the request id."""
        with self.site.act(
            principal,
            AuditAction.APPROVAL_REQUEST,
            "approval:search.footage",
            permission=Permission.SEARCH_FOOTAGE,
            purpose=summary if isinstance(summary, str) else "",
        ) as act:
            # The book writes the approval.request audit record in this transaction.
            return ApprovalBook(act.conn, act.audit_log).request(
                ApprovalKind.FOOTAGE_SEARCH, summary, principal, now=act.at
            )

    def _probe(self, photo: Path | Frame | npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        frame = (
            photo
            if isinstance(photo, Frame)
            else (Frame(photo) if isinstance(photo, np.ndarray) else load_image(photo))
        )
        faces = self.engine.analyzer.analyze(frame)
        row = choose_enrolment_face(faces, frame.source_id or "photo")
        if faces.embedding is None:
            raise NoFaceError("the photo has no usable face")
        return np.asarray(faces.embedding[row], np.float32)

    def search(
        self,
        principal: Principal,
        photo: Path | Frame | npt.NDArray[np.uint8],
        purpose: str,
        approval_id: str | None = None,
        top_k: int = 20,
    ) -> FootageSearch:
        """Sightings of the person in ``photo``, best first (audited; four-eyes when on)."""
        from watchkeeper.service.engine import validate_purpose

        if not 1 <= top_k <= 1000:
            raise InvalidInputError("top_k must be between 1 and 1000")
        self.site.check(
            principal,
            Permission.SEARCH_FOOTAGE,
            AuditAction.SEARCH_FOOTAGE,
            "photo",
            purpose=purpose if isinstance(purpose, str) else "",
        )
        probe = self._probe(photo)
        threshold = self.engine.threshold()
        contract = self.engine.contract.contract_id
        with self.site.act(
            principal,
            AuditAction.SEARCH_FOOTAGE,
            "photo",
            permission=Permission.SEARCH_FOOTAGE,
            purpose=purpose if isinstance(purpose, str) else "",
        ) as act:
            validate_purpose(purpose)
            if self.site.four_eyes() and not approval_id:
                raise PermissionDeniedError(
                    "a footage search needs an approved request (four-eyes): ask with "
                    "`watchkeeper search-footage PHOTO --ask SUMMARY`, then pass --approval"
                )
            if approval_id:
                ApprovalBook(act.conn, act.audit_log).consume(
                    approval_id, ApprovalKind.FOOTAGE_SEARCH, principal, now=act.at
                )
            store = self.engine.video.sightings
            ids, matrix = store.embeddings(contract, conn=act.conn)
            hits: list[FootageHit] = []
            if ids:
                sims = matrix @ probe
                order = np.argsort(-sims)[:top_k]
                for i in order:
                    if float(sims[i]) < threshold:
                        break
                    sighting = store.get(ids[int(i)], act.conn)
                    hits.append(FootageHit(sighting, float(sims[i]), store.crop(ids[int(i)])))
            act.record(
                details={
                    "searched": len(ids),
                    "hits": len(hits),
                    "approval": approval_id or "-",
                }
            )
        return FootageSearch(threshold, len(ids), tuple(hits))

    # -- redaction ---------------------------------------------------------------------------
    def redact(
        self,
        principal: Principal,
        source: Path,
        out: Path,
        purpose: str,
        keep: Path | None = None,
    ) -> RedactionReport:
        """A copy of ``source`` with every face blurred except the person in ``keep``."""
        from watchkeeper.service.engine import validate_purpose

        source, out = Path(source), Path(out)
        self.site.check(
            principal,
            Permission.DATA_EXPORT,
            AuditAction.EXPORT,
            f"redact:{source.name}",
            purpose=purpose if isinstance(purpose, str) else "",
        )
        validate_purpose(purpose)
        if not source.is_file():
            raise InvalidInputError(f"{source}: no such file")
        if out.resolve() == source.resolve():
            raise InvalidInputError("the redacted copy must not overwrite the original")
        subject = None if keep is None else self._probe(keep)
        threshold = self.engine.threshold()
        redactor = _Redactor(self.engine.analyzer, subject, threshold)
        if is_image_path(source):
            report = redactor.image(source, out)
        elif source.suffix.lower() in VIDEO_SUFFIXES:
            report = redactor.clip(source, out)
        else:
            raise InvalidInputError(f"{source}: not an image or a video file")
        with self.site.act(
            principal,
            AuditAction.EXPORT,
            f"redact:{source.name}",
            permission=Permission.DATA_EXPORT,
            purpose=purpose,
        ) as act:
            act.record(
                details={
                    "output": out.name,
                    "frames": report.frames,
                    "faces_blurred": report.faces_blurred,
                    "faces_kept": report.faces_kept,
                    "subject": int(subject is not None),
                }
            )
        return report


def blur_boxes(
    image: npt.NDArray[np.uint8], boxes: npt.NDArray[np.float32]
) -> npt.NDArray[np.uint8]:
    """A copy with each box (grown by a fifth) pixelated then blurred beyond recognition."""
    import cv2

    out = np.array(image, copy=True)
    h, w = out.shape[:2]
    for x0, y0, x1, y1 in boxes:
        mx, my = (x1 - x0) * 0.2, (y1 - y0) * 0.2
        left, top = max(int(x0 - mx), 0), max(int(y0 - my), 0)
        right, bottom = min(int(x1 + mx) + 1, w), min(int(y1 + my) + 1, h)
        if right <= left or bottom <= top:
            continue
        region = out[top:bottom, left:right]
        # Area averaging: a linear resize would keep single sharp pixels of the face.
        small = cv2.resize(
            region,
            (max(1, (right - left) // 16), max(1, (bottom - top) // 16)),
            interpolation=cv2.INTER_AREA,
        )
        coarse = cv2.resize(small, (right - left, bottom - top), interpolation=cv2.INTER_LINEAR)
        out[top:bottom, left:right] = cv2.GaussianBlur(coarse, (0, 0), 3)
    return out


class _Redactor:
    """Decides, per face (and per track in clips), blur or keep."""

    def __init__(
        self,
        analyzer: object,
        subject: npt.NDArray[np.float32] | None,
        threshold: float,
    ) -> None:
        from watchkeeper.pipeline.analyzer import FaceAnalyzer

        if not isinstance(analyzer, FaceAnalyzer):
            raise InvalidInputError("redaction needs a FaceAnalyzer")
        self.analyzer = analyzer
        self.subject = subject
        self.threshold = threshold
        self.blurred = 0
        self.kept = 0

    def _keep_mask(self, faces: Faces) -> npt.NDArray[np.bool_]:
        if self.subject is None or faces.embedding is None or len(faces) == 0:
            return np.zeros(len(faces), bool)
        return np.asarray(faces.embedding @ self.subject >= self.threshold)

    def image(self, source: Path, out: Path) -> RedactionReport:
        from PIL import Image

        frame = load_image(source)
        faces = self.analyzer.analyze(frame)
        keep = self._keep_mask(faces)
        redacted = blur_boxes(frame.image, faces.xyxy[~keep])
        self.blurred += int((~keep).sum())
        self.kept += int(keep.sum())
        out.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(redacted).save(out)
        return RedactionReport(str(out), 1, self.blurred, self.kept)

    def clip(self, source: Path, out: Path) -> RedactionReport:
        import av

        from watchkeeper.tracking.byte_tracker import BoxTracker
        from watchkeeper.tracking.evaluate import HOG_TRACKER_SETTINGS

        tracker = BoxTracker(HOG_TRACKER_SETTINGS)
        subject_tracks: set[int] = set()
        frames = 0
        out.parent.mkdir(parents=True, exist_ok=True)
        with VideoFileSource(source) as reader, av.open(str(out), "w") as container:
            rate = reader.nominal_fps or 25.0
            stream = container.add_stream("libx264", rate=round(rate))
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": "20", "preset": "veryfast"}
            for frame in reader:
                if frames == 0:
                    stream.width = frame.image.shape[1] // 2 * 2
                    stream.height = frame.image.shape[0] // 2 * 2
                frames += 1
                # Every frame is searched: a face the detector misses now is still blurred
                # where its track is predicted to be.
                faces = self.analyzer.analyze(frame, with_embeddings=self.subject is not None)
                tracked = tracker.update(faces, frame.index)
                keep = self._keep_mask(faces)
                ids = tracked.track_id if tracked.track_id is not None else np.zeros(0, np.int64)
                for row in np.flatnonzero(keep):
                    if ids[row] >= 0:
                        subject_tracks.add(int(ids[row]))
                blur = [faces.xyxy[r] for r in range(len(faces)) if not keep[r]]
                self.kept += int(keep.sum())
                predicted = tracker.predict_boxes(frame.index)
                seen = {int(t) for t in ids if t >= 0}
                for box, tid in zip(predicted.xyxy, predicted.track_id, strict=True):
                    if int(tid) not in seen and int(tid) not in subject_tracks:
                        blur.append(box)
                self.blurred += len(blur)
                boxes = np.asarray(blur, np.float32).reshape(-1, 4)
                image = blur_boxes(frame.image, boxes)[: stream.height, : stream.width]
                for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        return RedactionReport(str(out), frames, self.blurred, self.kept)
