"""Prometheus metrics of one app: requests by route template, latencies, queues, engine timings,
and each camera's health as its supervisor reports it.

Each app has its own registry (no global state), so several apps in one process (tests) do not
collide, and ``/metrics`` shows exactly this service.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from watchkeeper.service.cameras import CameraState, CameraStatus

T = TypeVar("T")

# Latency buckets from 5 ms to 30 s: a detect on a large photo takes about a second on a CPU.
_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """The service's counters, gauges and histograms."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "watchkeeper_http_requests",
            "HTTP requests answered, by method, route template and status code.",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "watchkeeper_http_request_duration_seconds",
            "Time from request to response, by method and route template.",
            ("method", "route"),
            buckets=_BUCKETS_S,
            registry=self.registry,
        )
        self.in_progress = Gauge(
            "watchkeeper_http_requests_in_progress",
            "Requests being handled now.",
            registry=self.registry,
        )
        self.engine_queue = Gauge(
            "watchkeeper_engine_queue_depth",
            "Requests waiting for the recognition engine's one-at-a-time (store) section.",
            registry=self.registry,
        )
        self.engine_wait = Histogram(
            "watchkeeper_engine_wait_seconds",
            "Time a request waited for the engine's one-at-a-time section, by operation.",
            ("operation",),
            buckets=_BUCKETS_S,
            registry=self.registry,
        )
        self.analysing = Gauge(
            "watchkeeper_analyses_in_progress",
            "Photos being analysed now, outside the one-at-a-time section (in parallel).",
            registry=self.registry,
        )
        self.analysis_queue = Gauge(
            "watchkeeper_analysis_queue_depth",
            "Photos waiting for a free face analyzer.",
            registry=self.registry,
        )
        self.pipeline = Histogram(
            "watchkeeper_pipeline_duration_seconds",
            "Time the recognition engine spent on one operation (detect, identify...).",
            ("operation",),
            buckets=_BUCKETS_S,
            registry=self.registry,
        )
        self.login_refusals = Counter(
            "watchkeeper_login_refusals",
            "Refused sign-ins, by reason (credentials, rate_limited).",
            ("reason",),
            registry=self.registry,
        )
        self.cameras = CameraCollector()
        self.registry.register(self.cameras)

    def exposition(self) -> bytes:
        """The text exposition format that Prometheus scrapes."""
        return generate_latest(self.registry)

    @contextmanager
    def timed(self, operation: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.pipeline.labels(operation).observe(time.perf_counter() - start)


class CameraCollector(Collector):
    """Per-camera metrics, read from the camera host's statuses at every scrape.

    Nothing is copied between scrapes: the supervisor's status is the one source, so a removed
    camera simply stops appearing. Until :meth:`watch` is called (the service's start-up)
    there are no cameras to show.
    """

    def __init__(self) -> None:
        self._source: Callable[[], Sequence[CameraStatus]] = list

    def watch(self, source: Callable[[], Sequence[CameraStatus]]) -> None:
        """Read camera statuses from ``source`` from now on."""
        self._source = source

    def describe(self) -> Iterable[GaugeMetricFamily | CounterMetricFamily]:
        # Described empty, so registering does not read cameras that are not there yet.
        return self._families()

    def collect(self) -> Iterable[GaugeMetricFamily | CounterMetricFamily]:
        families = self._families()
        now = datetime.now(UTC)
        frames, fps, faces, state, age, reconnects, failures = families
        for status in self._source():
            camera = [status.camera_id]
            frames.add_metric(camera, status.frames)
            fps.add_metric(camera, status.fps)
            faces.add_metric(camera, status.faces_in_view)
            for each in CameraState:
                state.add_metric([status.camera_id, each.value], float(each is status.state))
            age.add_metric(camera, max(0.0, (now - status.updated_at).total_seconds()))
            reconnects.add_metric(camera, status.reconnects)
            failures.add_metric(camera, status.failures)
        return families

    @staticmethod
    def _families() -> list[GaugeMetricFamily | CounterMetricFamily]:
        by_camera = ["camera"]
        return [
            CounterMetricFamily(
                "watchkeeper_camera_frames",
                "Frames the camera's worker processed since it last started.",
                labels=by_camera,
            ),
            GaugeMetricFamily(
                "watchkeeper_camera_fps",
                "Frames per second the camera's worker processes now.",
                labels=by_camera,
            ),
            GaugeMetricFamily(
                "watchkeeper_camera_faces_in_view",
                "Faces in the camera's latest analysed frame.",
                labels=by_camera,
            ),
            GaugeMetricFamily(
                "watchkeeper_camera_state",
                "1 for the camera's current state (starting, running, reconnecting, stopped, "
                "failed), 0 for the others.",
                labels=["camera", "state"],
            ),
            GaugeMetricFamily(
                "watchkeeper_camera_status_age_seconds",
                "Seconds since the camera's worker last reported (a stuck worker grows it).",
                labels=by_camera,
            ),
            CounterMetricFamily(
                "watchkeeper_camera_reconnects",
                "Times the camera's stream was lost and reopened since the service started.",
                labels=by_camera,
            ),
            CounterMetricFamily(
                "watchkeeper_camera_failures",
                "Times the camera failed (could not start, or its worker died) since the "
                "service started.",
                labels=by_camera,
            ),
        ]


class EngineGate:
    """Runs engine operations one at a time, counting the queue and timing each operation.

    The engine shares one SQLite connection between its use-cases, so running them one at a
    time means none reads another's uncommitted rows. Work that touches no store (decoding and
    analysing a photo) runs before, in :meth:`outside`, on as many threads as there are
    requests; the engine lends each its own analyzer, so the models never see two callers.
    """

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self._lock = threading.Lock()

    def run(self, operation: str, fn: Callable[[], T]) -> T:
        """Run ``fn`` alone (timed as ``operation``; its wait counted and timed)."""
        queued = True
        self._metrics.engine_queue.inc()
        waited_from = time.perf_counter()
        try:
            with self._lock:
                self._metrics.engine_queue.dec()
                queued = False
                self._metrics.engine_wait.labels(operation).observe(
                    time.perf_counter() - waited_from
                )
                with self._metrics.timed(operation):
                    return fn()
        finally:
            if queued:
                self._metrics.engine_queue.dec()

    def outside(self, operation: str, fn: Callable[[], T]) -> T:
        """Run ``fn`` beside other requests, not through the gate (timed as ``operation``).

        Only for work that touches no store (analysing a photo): it runs while other requests
        hold the gate.
        """
        self._metrics.analysing.inc()
        try:
            with self._metrics.timed(operation):
                return fn()
        finally:
            self._metrics.analysing.dec()
