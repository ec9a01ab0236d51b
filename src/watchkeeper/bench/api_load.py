"""Load benchmark of the HTTP service: identify requests against a large watchlist.

The service runs as its own process (``python -m watchkeeper --home H serve``) on 127.0.0.1,
so the load generator's threads do not share its interpreter. The watchlist holds one person
enrolled from a real photo through the real pipeline, plus synthetic people: random unit
vectors written through the catalog in one audited transaction (enrolling thousands of photos
would take hours on a CPU; the search cost depends only on the number of templates). The probe
is another real photo of the enrolled person, through the real pipeline on every request.
"""

from __future__ import annotations

import logging
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np

from watchkeeper.config.settings import Settings
from watchkeeper.core.errors import InvalidInputError, StoreError
from watchkeeper.gallery.catalog import IdentityTerms
from watchkeeper.gallery.watchlist import WatchlistTerms
from watchkeeper.governance.audit import AuditAction
from watchkeeper.governance.authz import Permission
from watchkeeper.service.engine import Engine

log = logging.getLogger(__name__)

WATCHLIST = "load-test"
USER = "bench"


@dataclass(frozen=True, slots=True)
class LoadLevel:
    """Identify requests at one number of concurrent clients."""

    clients: int
    requests: int
    errors: int
    duration_s: float
    p50_ms: float
    p99_ms: float
    matched: int
    load_avg_1m: float = 0.0
    """The machine's 1-minute load average as the level ended (others' work included)."""

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.duration_s if self.duration_s > 0 else 0.0


@dataclass(frozen=True, slots=True)
class LoadResult:
    identities: int
    probe: str
    levels: tuple[LoadLevel, ...]
    cpu_cores: int = 0


def prepare_site(
    home: Path, enrol_photo: Path, identities: int, password: str, seed: int = 0
) -> None:
    """A home-use site with one watchlist: one real person and ``identities - 1`` synthetic."""
    engine = Engine(Settings(home=home))
    try:
        account = engine.accounts.initialise(USER, home_use=True, password=password)
        me = account.principal
        engine.watchlists.create(
            me,
            WATCHLIST,
            WatchlistTerms(
                "Service load benchmark",
                "Synthetic test data, no real people besides the probe",
                engine.site.now() + timedelta(days=2),
            ),
        )
        engine.enrol(me, "Probe Person", enrol_photo, WATCHLIST, "consent", "benchmark photo")
        record = engine.catalog.get(WATCHLIST)
        dim = engine.analyzer.contract.dim
        rng = np.random.default_rng(seed)
        vectors = rng.standard_normal((identities - 1, dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        terms = IdentityTerms("consent", "synthetic benchmark vector", USER, {})
        with engine.site.act(
            me,
            AuditAction.ENROL,
            f"batch:{identities - 1}",
            permission=Permission.GALLERY_ENROL,
            watchlist=WATCHLIST,
            purpose="benchmark fixture: synthetic identities",
        ) as act:
            for i, vector in enumerate(vectors):
                engine.catalog.add_template(
                    act.conn, record, f"Synthetic {i:05d}", vector, "synthetic", terms, None
                )
            act.record(details={"synthetic_identities": identities - 1})
        engine.catalog.forget_index(record.gallery_id)
    finally:
        engine.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(base_url: str, process: subprocess.Popen[bytes], timeout_s: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StoreError(f"the service exited with code {process.returncode} at start")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=2).json().get("ready"):
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.5)
    raise StoreError("the service did not become ready in time")


def _level(base_url: str, token: str, probe: bytes, clients: int, duration_s: float) -> LoadLevel:
    import httpx

    latencies: list[float] = []
    errors = 0
    matched = 0
    lock = threading.Lock()
    stop_at = time.monotonic() + duration_s

    def client() -> None:
        nonlocal errors, matched
        with httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=120
        ) as http:
            while time.monotonic() < stop_at:
                start = time.perf_counter()
                try:
                    response = http.post(
                        "/api/identify",
                        files={"file": ("probe.jpg", probe, "image/jpeg")},
                        data={"watchlist": WATCHLIST, "purpose": "service load benchmark"},
                    )
                    ok = response.status_code == 200
                    hit = ok and response.json()["faces"][0]["decision"] == "match"
                except (httpx.HTTPError, ValueError, KeyError, IndexError):
                    ok, hit = False, False
                elapsed = time.perf_counter() - start
                with lock:
                    latencies.append(elapsed)
                    errors += 0 if ok else 1
                    matched += int(hit)

    began = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - began
    ms = sorted(x * 1000.0 for x in latencies)
    p99 = ms[min(len(ms) - 1, int(np.ceil(0.99 * len(ms))) - 1)] if ms else 0.0
    return LoadLevel(
        clients,
        len(ms),
        errors,
        took,
        statistics.median(ms) if ms else 0.0,
        p99,
        matched,
        os.getloadavg()[0],
    )


def run_load_bench(
    work_dir: Path,
    enrol_photo: Path,
    probe_photo: Path,
    identities: int = 5000,
    clients: tuple[int, ...] = (1, 4, 16),
    duration_s: float = 20.0,
    start_timeout_s: float = 120.0,
) -> LoadResult:
    """Prepare the site, start the service, and measure identify at each client count."""
    import httpx

    if identities < 1:
        raise InvalidInputError("the watchlist needs at least one identity")
    home = work_dir / "home"
    password = "benchmark passphrase " + os.urandom(6).hex()
    prepare_site(home, enrol_photo, identities, password)
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable, "-m", "watchkeeper", "--home", str(home),
        "serve", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
    ]  # fmt: skip
    with (work_dir / "service.log").open("wb") as service_log:
        process = subprocess.Popen(command, stdout=service_log, stderr=subprocess.STDOUT)
        try:
            _wait_ready(base_url, process, start_timeout_s)
            login = httpx.post(
                f"{base_url}/api/auth/login",
                json={"username": USER, "password": password},
                timeout=30,
            )
            login.raise_for_status()
            token = login.json()["access_token"]
            probe = probe_photo.read_bytes()
            _level(base_url, token, probe, 1, 0.1)  # warm-up: index built, caches hot
            levels = tuple(_level(base_url, token, probe, c, duration_s) for c in clients)
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    return LoadResult(identities, probe_photo.name, levels, os.cpu_count() or 0)
