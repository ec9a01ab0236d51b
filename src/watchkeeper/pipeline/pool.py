"""A small pool of face analyzers, so several threads can analyse photos at the same time.

dlib's detectors and ONNX Runtime release the GIL while they compute, so threads analysing
different photos run in parallel on separate cores. The models are not documented as safe to
share between threads, so each analyzer is lent to one thread at a time: a thread *leases* one,
uses it, and hands it back. A pool of ``size`` analyzers runs at most ``size`` analyses at once;
further callers wait for one to come back (``waiting`` counts them). A thread holds at most one
lease at a time (a second lease inside the first could wait forever on a pool of one).

>>> pool = AnalyzerPool(lambda: build_analyzer(settings), size=2)  # doctest: +SKIP
>>> with pool.lease() as analyzer:  # doctest: +SKIP
...     faces = analyzer.analyze(frame)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from watchkeeper.core.errors import InvalidInputError
from watchkeeper.pipeline.analyzer import FaceAnalyzer

log = logging.getLogger(__name__)

MAX_POOL_SIZE = 64


class AnalyzerPool:
    """Up to ``size`` analyzers made by ``build`` on demand, each used by one thread at a time."""

    def __init__(self, build: Callable[[], FaceAnalyzer], size: int) -> None:
        if not 1 <= size <= MAX_POOL_SIZE:
            raise InvalidInputError(f"the analyzer pool size must be between 1 and {MAX_POOL_SIZE}")
        self._build = build
        self.size = size
        self._free: list[FaceAnalyzer] = []
        self._made = 0
        self._waiting = 0
        self._closed = False
        self._cond = threading.Condition()

    @property
    def waiting(self) -> int:
        """Callers waiting for an analyzer to come back."""
        with self._cond:
            return self._waiting

    @property
    def busy(self) -> int:
        """Analyzers lent out now."""
        with self._cond:
            return self._made - len(self._free)

    @property
    def made(self) -> int:
        """Analyzers built so far (at most ``size``)."""
        with self._cond:
            return self._made

    def _take(self) -> FaceAnalyzer | None:
        """A free analyzer, or None when the caller should build one (a slot is reserved)."""
        with self._cond:
            self._waiting += 1
            try:
                while True:
                    if self._closed:
                        raise InvalidInputError("the analyzer pool is closed")
                    if self._free:
                        return self._free.pop()
                    if self._made < self.size:
                        self._made += 1
                        return None
                    self._cond.wait()
            finally:
                self._waiting -= 1

    def _give_back(self, analyzer: FaceAnalyzer) -> None:
        with self._cond:
            if not self._closed:
                self._free.append(analyzer)
            self._cond.notify()

    def _new(self) -> FaceAnalyzer:
        # Built outside the pool's lock: loading models takes a while, and other threads may
        # return or take analyzers meanwhile.
        try:
            analyzer = self._build()
            analyzer.startup()
        except BaseException:
            with self._cond:
                self._made -= 1
                self._cond.notify()
            raise
        log.debug("analyzer %d of %d ready", self.made, self.size)
        return analyzer

    @contextmanager
    def lease(self) -> Iterator[FaceAnalyzer]:
        """Borrow an analyzer for the ``with`` block (waiting for one if all are lent out)."""
        analyzer = self._take() or self._new()
        try:
            yield analyzer
        finally:
            self._give_back(analyzer)

    def fill(self) -> int:
        """Build and start every analyzer now (at service start); returns how many exist."""
        built: list[FaceAnalyzer] = []
        try:
            while True:
                with self._cond:
                    if self._closed or self._made >= self.size:
                        break
                    self._made += 1
                built.append(self._new())
        finally:
            for analyzer in built:
                self._give_back(analyzer)
        return self.made

    def close(self) -> None:
        """Refuse new leases and drop the idle analyzers (their models are freed with them)."""
        with self._cond:
            self._closed = True
            self._free.clear()
            self._cond.notify_all()
