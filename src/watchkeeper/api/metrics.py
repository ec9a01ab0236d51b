"""Prometheus metrics of one app: requests by route template, latencies, queues, engine timings.

Each app has its own registry (no global state), so several apps in one process (tests) do not
collide, and ``/metrics`` shows exactly this service.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

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
            "Requests waiting for the recognition engine.",
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


class EngineGate:
    """Runs engine operations one at a time, counting the queue and timing each operation.

    The engine's detectors are not documented as thread-safe, and with a CPU-bound pipeline
    on a few cores one operation at a time loses little throughput.
    """

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self._lock = threading.Lock()

    def run(self, operation: str, fn: Callable[[], T]) -> T:
        queued = True
        self._metrics.engine_queue.inc()
        try:
            with self._lock:
                self._metrics.engine_queue.dec()
                queued = False
                with self._metrics.timed(operation):
                    return fn()
        finally:
            if queued:
                self._metrics.engine_queue.dec()
