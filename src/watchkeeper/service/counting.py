"""Counting people, vehicles and animals on one camera: the orchestration of issue 6.

For each frame: privacy masks and region of interest (``sources.regions``) -> the object
detector on every Nth frame (the tracker predicts in between) -> object tracking -> lines and
zones -> events, a presence heat map, zone occupancy, and a snapshot of each animal seen.

Anonymous by construction: no face is detected or recognised here. A face stage can be attached
only together with a named watchlist (:class:`FaceHook`), the one explicit step that turns
recognition on for a camera; it then links face tracks to person tracks so a person who turns
away keeps their face track.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import numpy as np

from watchkeeper.config.cameras import CameraSettings
from watchkeeper.config.counting import CountingSettings
from watchkeeper.core import ClassGroup, Faces, Frame, Image, Objects, ObjectsMeta, class_group
from watchkeeper.core.errors import ConfigError, InvalidInputError, PolicyViolationError
from watchkeeper.models.base import ObjectDetector
from watchkeeper.sources.regions import camera_view
from watchkeeper.store.counting import CountingRecords
from watchkeeper.tracking.linking import PersonFaceLinker
from watchkeeper.tracking.objects import ObjectTracker, tracked_only
from watchkeeper.zones.analytics import AnyCountingEvent, PresenceHeatmap
from watchkeeper.zones.counting import LineCounter, ZoneMonitor, ZoneOccupancy
from watchkeeper.zones.events import DwellExceeded, LineCrossed, ZoneEntered
from watchkeeper.zones.geometry import Anchor, Line, LineSide, Zone

logger = logging.getLogger(__name__)


def build_lines(camera_id: str, settings: CountingSettings) -> tuple[Line, ...]:
    """The configured lines as geometry; a bad one is a ``ConfigError`` naming camera and line."""
    out = []
    for line in settings.lines:
        try:
            out.append(Line(line.line_id, line.start, line.end, LineSide(line.in_side.value)))
        except InvalidInputError as exc:
            raise ConfigError(f"camera {camera_id!r}, line {line.line_id!r}: {exc}") from exc
    return tuple(out)


def build_zones(camera_id: str, settings: CountingSettings) -> tuple[Zone, ...]:
    """The configured zones as geometry (self-crossing polygons are refused here)."""
    out = []
    for zone in settings.zones:
        try:
            out.append(Zone(zone.zone_id, zone.polygon, zone.loiter_after_s))
        except InvalidInputError as exc:
            raise ConfigError(f"camera {camera_id!r}, zone {zone.zone_id!r}: {exc}") from exc
    return tuple(out)


def detector_for(settings: CountingSettings) -> ObjectDetector:
    """The configured object detector (weights load on first use)."""
    from watchkeeper.models.yolo_objects import YoloV4TinyDetector

    return YoloV4TinyDetector(
        input_size=settings.input_size,
        threads=settings.threads,
        confidence_threshold=settings.confidence_threshold,
        classes=settings.class_names(),
    )


class TrackedFaceStage(Protocol):
    """Faces of a frame with face-track ids (the video pipeline's detect -> track stage)."""

    def track_faces(self, frame: Frame) -> Faces: ...


@dataclass(frozen=True, slots=True)
class FaceHook:
    """Face work on a counting camera: allowed only for a named watchlist."""

    stage: TrackedFaceStage
    watchlist: str

    def __post_init__(self) -> None:
        if not self.watchlist.strip():
            raise PolicyViolationError(
                "counting is anonymous: faces may be linked only when a watchlist is attached"
            )


@dataclass(frozen=True, slots=True)
class AnimalSnapshot:
    """The most confident picture of one animal track."""

    camera_id: str
    track_id: int
    class_name: str
    confidence: float
    at: datetime
    xyxy: tuple[float, float, float, float]
    crop: Image


@dataclass(frozen=True, slots=True)
class FrameCounts:
    """What one frame produced."""

    frame_index: int
    at: datetime
    detected: bool
    objects: Objects
    events: tuple[AnyCountingEvent, ...]
    snapshots: tuple[AnimalSnapshot, ...] = ()
    face_track_of_person: tuple[tuple[int, int], ...] = ()
    """(person track, face track) pairs, only with a :class:`FaceHook`."""


@dataclass(slots=True)
class _BestCrop:
    snapshot: AnimalSnapshot
    last_seen_index: int


@dataclass(slots=True)
class CountingTotals:
    """Running totals for summaries: crossings per line, class group and direction."""

    crossings: dict[tuple[str, ClassGroup, str], int] = field(default_factory=dict)
    zone_entries: dict[tuple[str, ClassGroup], int] = field(default_factory=dict)
    dwell_alerts: int = 0


class CountingPipeline:
    """Counting for one camera; feed it frames in order with :meth:`process`.

    ``records`` stores every event and its per-minute count as it happens; without it the
    caller keeps what it needs from the returned :class:`FrameCounts`.
    """

    def __init__(
        self,
        camera: CameraSettings,
        detector: ObjectDetector,
        *,
        tracker: ObjectTracker | None = None,
        records: CountingRecords | None = None,
        face_hook: FaceHook | None = None,
        snapshot_gap_frames: int = 50,
        deliver_to: tuple[str, ...] = (),
    ) -> None:
        settings = camera.counting or CountingSettings()
        self.camera = camera
        self.settings = settings
        self.camera_id = camera.camera_id
        self.detector = detector
        self.tracker = tracker or ObjectTracker()
        self.records = records
        self.deliver_to = deliver_to  # external sinks owed each stored event (needs records)
        self.face_hook = face_hook
        self.linker = PersonFaceLinker() if face_hook else None
        self.classes = settings.class_names()
        anchor = Anchor(settings.anchor.value)
        lines = build_lines(self.camera_id, settings)
        zones = build_zones(self.camera_id, settings)
        self.lines = (
            LineCounter(
                lines,
                camera_id=self.camera_id,
                anchor=anchor,
                dead_band_px=settings.dead_band_px,
                classes=self.classes,
            )
            if lines
            else None
        )
        self.zones = (
            ZoneMonitor(
                zones,
                camera_id=self.camera_id,
                anchor=anchor,
                dead_band_px=settings.dead_band_px,
                classes=self.classes,
            )
            if zones
            else None
        )
        self.heatmap: PresenceHeatmap | None = None
        self.anchor = anchor
        self.totals = CountingTotals()
        self.frames = 0
        self.snapshot_gap_frames = snapshot_gap_frames
        self._best: dict[int, _BestCrop] = {}
        self._last_at: datetime | None = None
        self.last_image: Image | None = None

    # ------------------------------------------------------------------ per frame

    def process(self, frame: Frame) -> FrameCounts:
        """Detect (every Nth frame), track, count; store events if a store was given."""
        if frame.source_id and frame.source_id != self.camera_id:
            logger.debug("frame from %s counted as camera %s", frame.source_id, self.camera_id)
        index = self.frames
        self.frames += 1
        at = frame.captured_at
        if self._last_at is not None and at < self._last_at:
            raise InvalidInputError("frames must come in time order")
        self._last_at = at
        if self.heatmap is None:
            self.heatmap = PresenceHeatmap(frame.resolution_wh, anchor=self.anchor)
        detected = index % self.camera.detection_interval == 0
        if detected:
            objects = self._detect(frame)
            tracked = tracked_only(self.tracker.update(objects, index))
        else:
            tracked = self.tracker.predict(index, self.detector.labels)
        events: list[AnyCountingEvent] = []
        if self.lines is not None:
            events.extend(self.lines.update(tracked, at))
        if self.zones is not None:
            events.extend(self.zones.update(tracked, at))
        self.heatmap.add(tracked)
        self.last_image = frame.image
        snapshots = self._snapshots(frame, tracked, index, detected)
        links = self._link_faces(frame, tracked) if self.face_hook else ()
        self._record(events)
        return FrameCounts(
            frame_index=frame.index,
            at=at,
            detected=detected,
            objects=tracked,
            events=tuple(events),
            snapshots=snapshots,
            face_track_of_person=links,
        )

    def run(self, frames: Iterable[Frame]) -> Iterator[FrameCounts]:
        """Process every frame, then :meth:`close` (its events come in a last ``FrameCounts``)."""
        for frame in frames:
            yield self.process(frame)
        if self._last_at is not None:
            yield self.close()

    def close(self) -> FrameCounts:
        """End of stream: open zone visits end as lost; snapshots of live animals are given."""
        at = self._last_at
        if at is None:
            raise InvalidInputError("close() before any frame")
        events: list[AnyCountingEvent] = []
        if self.zones is not None:
            events.extend(self.zones.close(at))
        self._record(events)
        snapshots = tuple(b.snapshot for b in self._best.values())
        self._best = {}
        labels = self.detector.labels
        return FrameCounts(
            frame_index=-1,
            at=at,
            detected=False,
            objects=Objects.empty(labels).with_columns(track_id=np.zeros(0, np.int64)),
            events=tuple(events),
            snapshots=snapshots,
        )

    def occupancy(self) -> tuple[ZoneOccupancy, ...]:
        """Tracks inside each zone now."""
        if self.zones is None:
            return ()
        return tuple(self.zones.occupancy(z.zone_id) for z in self.zones.zones)

    # ------------------------------------------------------------------ steps

    def _detect(self, frame: Frame) -> Objects:
        view = camera_view(frame, self.camera)
        found = self.detector.detect(view.image)
        if len(found):
            keep = np.array([name in self.classes for name in found.class_name], dtype=bool)
            found = found[keep]
        dx, dy = view.offset_xy
        meta = ObjectsMeta(self.camera_id, frame.index, frame.resolution_wh)
        shift = np.array([dx, dy, dx, dy], np.float32)
        return found.with_columns(xyxy=found.xyxy + shift, meta=meta)

    def _record(self, events: list[AnyCountingEvent]) -> None:
        for event in events:
            if isinstance(event, LineCrossed):
                key = (event.line_id, event.class_group, event.direction.value)
                self.totals.crossings[key] = self.totals.crossings.get(key, 0) + 1
            elif isinstance(event, ZoneEntered):
                zkey = (event.zone_id, event.class_group)
                self.totals.zone_entries[zkey] = self.totals.zone_entries.get(zkey, 0) + 1
            elif isinstance(event, DwellExceeded):
                self.totals.dwell_alerts += 1
        if self.records is not None and events:
            self.records.add(events, deliver_to=self.deliver_to)

    def _snapshots(
        self, frame: Frame, tracked: Objects, index: int, detected: bool
    ) -> tuple[AnimalSnapshot, ...]:
        """Keep the most confident crop per animal track; hand it out once the track is gone."""
        if not self.settings.animal_snapshots:
            return ()
        if detected and tracked.track_id is not None:
            for row in range(len(tracked)):
                name = tracked.class_name[row]
                if class_group(name) is not ClassGroup.ANIMAL:
                    continue
                track_id = int(tracked.track_id[row])
                confidence = float(tracked.confidence[row])
                best = self._best.get(track_id)
                if best is not None:
                    best.last_seen_index = index
                    if confidence <= best.snapshot.confidence:
                        continue
                box = tracked.xyxy[row]
                x1, y1, x2, y2 = (round(float(v)) for v in box)
                crop = np.ascontiguousarray(frame.image[max(y1, 0) : y2, max(x1, 0) : x2])
                if crop.size == 0:
                    continue
                self._best[track_id] = _BestCrop(
                    AnimalSnapshot(
                        self.camera_id,
                        track_id,
                        name,
                        confidence,
                        frame.captured_at,
                        (float(box[0]), float(box[1]), float(box[2]), float(box[3])),
                        crop,
                    ),
                    index,
                )
        gone = [
            t for t, b in self._best.items() if index - b.last_seen_index > self.snapshot_gap_frames
        ]
        return tuple(self._best.pop(t).snapshot for t in gone)

    def _link_faces(self, frame: Frame, tracked: Objects) -> tuple[tuple[int, int], ...]:
        if self.face_hook is None or self.linker is None or tracked.track_id is None:
            return ()
        faces = self.face_hook.stage.track_faces(frame)
        persons = tracked[np.array([n == "person" for n in tracked.class_name], dtype=bool)]
        linked = self.linker.update(persons, faces)
        self.linker.forget_persons(list(self.tracker.ended_track_ids))
        if persons.track_id is None:
            return ()
        return tuple(
            (int(p), int(f))
            for p, f in zip(persons.track_id.tolist(), linked.tolist(), strict=True)
            if f >= 0
        )
