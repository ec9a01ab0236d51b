"""Many images through the face pipeline on every core.

Each worker process builds its own analyzer (dlib and ONNX sessions cannot be shared across
processes) with one ONNX thread, so two workers keep both cores of a small machine busy: while
one detects, the other embeds. Results come back in input order.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from watchkeeper.config.settings import Settings
from watchkeeper.core import Faces
from watchkeeper.core.errors import WatchkeeperError
from watchkeeper.pipeline.analyzer import FaceAnalyzer
from watchkeeper.pipeline.factory import build_analyzer

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ImageResult:
    """What the pipeline found in one image, or why it could not read it."""

    source: str
    faces: Faces | None
    error: str | None = None
    decode_ms: float = 0.0
    analyze_ms: float = 0.0


_worker_analyzer: FaceAnalyzer | None = None


def _init_worker(settings: Settings, embed_rejected: bool) -> None:
    global _worker_analyzer
    # Ctrl-C is handled once, in the parent, which then shuts the pool down.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker_analyzer = build_analyzer(settings, embed_rejected)


def analyze_path(analyzer: FaceAnalyzer, path: str, max_pixels: int | None = None) -> ImageResult:
    """Decode and analyse one file, turning expected failures into an ``ImageResult.error``."""
    import time

    from watchkeeper.sources.images import DEFAULT_MAX_PIXELS, load_image

    t0 = time.perf_counter()
    try:
        frame = load_image(path, max_pixels=max_pixels or DEFAULT_MAX_PIXELS)
        t1 = time.perf_counter()
        faces = analyzer.analyze(frame)
    except WatchkeeperError as exc:
        return ImageResult(path, None, str(exc))
    t2 = time.perf_counter()
    return ImageResult(path, faces, None, (t1 - t0) * 1e3, (t2 - t1) * 1e3)


def _work(path: str) -> ImageResult:
    if _worker_analyzer is None:
        raise RuntimeError("worker not initialised")
    return analyze_path(_worker_analyzer, path)


def default_workers(settings: Settings) -> int:
    return settings.workers or (os.cpu_count() or 1)


def analyze_paths(
    paths: Iterable[Path | str],
    settings: Settings,
    workers: int | None = None,
    on_result: Callable[[ImageResult], None] | None = None,
    embed_rejected: bool = False,
) -> Iterator[ImageResult]:
    """Yield one ``ImageResult`` per path, in order, using ``workers`` processes (1 = inline)."""
    items = [str(p) for p in paths]
    n = workers if workers is not None else default_workers(settings)
    if n <= 1 or len(items) <= 1:
        analyzer = build_analyzer(settings, embed_rejected)
        for item in items:
            result = analyze_path(analyzer, item)
            if on_result:
                on_result(result)
            yield result
        return
    # One ONNX thread per worker: the workers themselves fill the cores.
    worker_settings = settings.model_copy(
        update={"recognition": settings.recognition.model_copy(update={"threads": 1})}
    )
    with ProcessPoolExecutor(
        max_workers=n, initializer=_init_worker, initargs=(worker_settings, embed_rejected)
    ) as pool:
        try:
            for result in pool.map(_work, items, chunksize=4):
                if on_result:
                    on_result(result)
                yield result
        except BrokenProcessPool as exc:
            pool.shutdown(wait=False, cancel_futures=True)
            raise WatchkeeperError(
                "a worker process stopped unexpectedly (killed, or out of memory); the results "
                "already returned are kept, the rest were not processed"
            ) from exc
        except BaseException:
            # Ctrl-C or an error in the caller: stop handing out work and let workers exit.
            pool.shutdown(wait=False, cancel_futures=True)
            raise
