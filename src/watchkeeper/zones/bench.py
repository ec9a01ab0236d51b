"""``watchkeeper bench count``: detector latency and counting accuracy on synthetic clips.

Latency is measured on 640x480 synthetic frames (real photo cut-outs over a real texture) for
each input size and thread count. Counting accuracy runs detector -> tracker -> line counter over
clips whose true crossings are known by construction (see ``synthetic``), and the pipeline rate
covers detection, tracking, line counting, a zone monitor and the heat map per frame (rendering
of the synthetic frame itself is not timed).

The detector and tracker are passed in as factories, because ``zones`` sits in the same layer
as ``models`` and ``tracking`` and may not import them; the CLI wires, for example::

    run_counting_bench(
        data_dir,
        detector_factory=lambda r: YoloV4TinyDetector(
            input_size=r.input_size, threads=r.threads, classes=r.classes
        ),
        tracker_factory=ObjectTracker,
    )
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from watchkeeper.core import CLASS_GROUPS, Image, Objects
from watchkeeper.core.errors import InvalidInputError
from watchkeeper.zones.analytics import PresenceHeatmap
from watchkeeper.zones.counting import LineCounter, ZoneMonitor
from watchkeeper.zones.events import LineCrossed
from watchkeeper.zones.geometry import Zone
from watchkeeper.zones.synthetic import (
    CrossingScore,
    load_background,
    load_sprites,
    make_counting_clip,
    score_crossings,
)

logger = logging.getLogger(__name__)

RECALL_TARGET = 0.98


class ObjectTracker(Protocol):
    """What the bench needs from a tracker (``tracking.objects.ObjectTracker`` satisfies it):
    the frame's objects with track ids, negative for rows in no confirmed track yet."""

    def update(self, objects: Objects, frame_index: int) -> Objects: ...


class _WeightsDigest(Protocol):
    @property
    def weights_sha256(self) -> str: ...


class CountingDetector(Protocol):
    """What the bench needs from a detector (``models.base.ObjectDetector`` satisfies it)."""

    @property
    def manifest(self) -> _WeightsDigest: ...

    def detect(self, image: Image) -> Objects: ...


@dataclass(frozen=True, slots=True)
class DetectorRequest:
    """The detector settings the bench asks its factory for."""

    input_size: int
    threads: int
    classes: frozenset[str] | None


@dataclass(frozen=True, slots=True)
class DetectorLatency:
    """Per-frame detector latency at one input size and thread count (640x480 frames)."""

    input_size: int
    threads: int
    frames: int
    mean_ms: float
    p50_ms: float
    p95_ms: float


@dataclass(frozen=True, slots=True)
class CountingBenchResult:
    """Everything ``bench count`` reports."""

    latency: tuple[DetectorLatency, ...]
    score: CrossingScore
    clips: int
    clip_duration_s: float
    clip_fps: float
    frames: int
    counting_input_size: int
    counting_threads: int
    pipeline_fps: float
    weights_sha256: str

    @property
    def meets_target(self) -> bool:
        """>= 98% of crossings right (direction and group) and no extra counts."""
        return self.score.recall >= RECALL_TARGET and self.score.extra == 0


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def _confirmed(objects: Objects) -> Objects:
    if objects.track_id is None:
        raise InvalidInputError("the tracker returned objects without track ids")
    return objects[objects.track_id >= 0]  # negative: in no confirmed track yet


def run_counting_bench(
    data_dir: Path,
    *,
    latency_sizes: Sequence[int] = (320, 416),
    latency_threads: Sequence[int] = (1, 2),
    latency_frames: int = 20,
    clips: int = 3,
    clip_duration_s: float = 60.0,
    clip_fps: float = 10.0,
    seed: int = 0,
    detector_factory: Callable[[DetectorRequest], CountingDetector],
    counting_input_size: int = 416,
    counting_threads: int = 2,
    tracker_factory: Callable[[], ObjectTracker],
) -> CountingBenchResult:
    """Measure latency, counting accuracy and pipeline rate; see the module docstring.

    ``detector_factory`` builds a detector for each setting measured (the counting run asks
    for the person, vehicle and animal classes only); ``tracker_factory`` builds a fresh
    tracker for each clip.
    """
    if latency_frames < 1 or clips < 1 or clip_duration_s <= 0 or clip_fps <= 0:
        raise InvalidInputError("frame counts, clip count, duration and fps must be positive")
    sprites = load_sprites(data_dir)
    background = load_background(data_dir)
    counted_classes = frozenset(CLASS_GROUPS)

    # Latency on frames with objects in view (a clip's middle stretch).
    probe = make_counting_clip(sprites, background, seed=seed + 1000, duration_s=20.0, fps=clip_fps)
    start = min(probe.n_frames - 1, int(2 * clip_fps))
    probe_frames = [probe.frame((start + i) % probe.n_frames) for i in range(latency_frames)]
    latency = []
    for size in latency_sizes:
        for threads in latency_threads:
            detector = detector_factory(DetectorRequest(size, threads, None))
            for frame in probe_frames[:2]:  # warm-up: first passes allocate buffers
                detector.detect(frame)
            times_ms = []
            for frame in probe_frames:
                t0 = time.perf_counter()
                detector.detect(frame)
                times_ms.append((time.perf_counter() - t0) * 1000.0)
            latency.append(
                DetectorLatency(
                    input_size=size,
                    threads=threads,
                    frames=len(times_ms),
                    mean_ms=statistics.fmean(times_ms),
                    p50_ms=_percentile(times_ms, 0.5),
                    p95_ms=_percentile(times_ms, 0.95),
                )
            )
            logger.info("latency %s", latency[-1])

    detector = detector_factory(
        DetectorRequest(counting_input_size, counting_threads, counted_classes)
    )
    detector.detect(probe_frames[0])  # load and warm up outside the timed loop
    score = CrossingScore(0, 0, 0, 0, 0, 0)
    frames = 0
    busy_s = 0.0
    started_at = datetime(2024, 1, 1, tzinfo=UTC)
    for c in range(clips):
        clip = make_counting_clip(
            sprites, background, seed=seed + c, duration_s=clip_duration_s, fps=clip_fps
        )
        width, height = clip.resolution_wh
        tracker = tracker_factory()
        counter = LineCounter([clip.line], camera_id=f"synthetic-{c}")
        zones = ZoneMonitor(
            [
                Zone(
                    "right-half", ((width / 2, 0), (width, 0), (width, height), (width / 2, height))
                )
            ],
            camera_id=f"synthetic-{c}",
        )
        heatmap = PresenceHeatmap(clip.resolution_wh)
        counted: list[LineCrossed] = []
        for index in range(clip.n_frames):
            image = clip.frame(index)
            at = started_at + timedelta(seconds=clip.time_s(index))
            t0 = time.perf_counter()
            tracked = _confirmed(tracker.update(detector.detect(image), index))
            counted.extend(counter.update(tracked, at))
            zones.update(tracked, at)
            heatmap.add(tracked)
            busy_s += time.perf_counter() - t0
        frames += clip.n_frames
        clip_score = score_crossings(clip, counted, started_at)
        logger.info("clip %d: %s", c, clip_score)
        score = score + clip_score
    return CountingBenchResult(
        latency=tuple(latency),
        score=score,
        clips=clips,
        clip_duration_s=clip_duration_s,
        clip_fps=clip_fps,
        frames=frames,
        counting_input_size=counting_input_size,
        counting_threads=counting_threads,
        pipeline_fps=frames / busy_s if busy_s > 0 else 0.0,
        weights_sha256=detector.manifest.weights_sha256,
    )


@dataclass(frozen=True, slots=True)
class ImageCensus:
    """What the detector found in one photo: class name -> count."""

    path: Path
    found: tuple[tuple[str, int], ...]
    best_confidence: tuple[tuple[str, float], ...]


def detection_census(
    paths: Sequence[Path], detector: CountingDetector, read_image: Callable[[Path], Image]
) -> tuple[ImageCensus, ...]:
    """Objects found per class in each photo: a sanity check of the detector on real pictures.

    ``read_image`` gives an RGB array for a path (the CLI passes the project's image reader).
    """
    from collections import Counter

    out = []
    for path in paths:
        objects = detector.detect(read_image(path))
        counts = Counter(objects.class_name)
        best: dict[str, float] = {}
        for name, confidence in zip(objects.class_name, objects.confidence.tolist(), strict=True):
            best[name] = max(best.get(name, 0.0), float(confidence))
        out.append(
            ImageCensus(
                path=path,
                found=tuple(sorted(counts.items())),
                best_confidence=tuple(sorted(best.items())),
            )
        )
    return tuple(out)
