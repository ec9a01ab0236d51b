"""The analyzer pool: one thread per analyzer at a time, at most ``size`` built, waiters counted."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from tests.builders import mock_settings

from watchkeeper.core.errors import InvalidInputError
from watchkeeper.pipeline.analyzer import FaceAnalyzer
from watchkeeper.pipeline.factory import build_analyzer
from watchkeeper.pipeline.pool import AnalyzerPool

# Guards against a hang if the pool were broken; no assertion depends on how long anything takes.
DEADLOCK_GUARD_S = 30.0


def _pool(tmp_path: Path, size: int, built: list[FaceAnalyzer] | None = None) -> AnalyzerPool:
    settings = mock_settings(tmp_path)

    def build() -> FaceAnalyzer:
        analyzer = build_analyzer(settings)
        if built is not None:
            built.append(analyzer)
        return analyzer

    return AnalyzerPool(build, size)


def test_two_threads_hold_two_different_analyzers_at_the_same_time(tmp_path: Path) -> None:
    pool = _pool(tmp_path, 2)
    both_inside = threading.Barrier(2, timeout=DEADLOCK_GUARD_S)
    held: list[FaceAnalyzer] = []

    def work() -> None:
        with pool.lease() as analyzer:
            held.append(analyzer)
            both_inside.wait()  # breaks (and fails the test) if the pool lent only one at once

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLOCK_GUARD_S)
    assert len(held) == 2 and held[0] is not held[1]
    assert pool.made == 2 and pool.busy == 0


def test_a_caller_beyond_the_size_waits_and_gets_a_returned_analyzer(tmp_path: Path) -> None:
    built: list[FaceAnalyzer] = []
    pool = _pool(tmp_path, 1, built)
    got: list[FaceAnalyzer] = []
    with pool.lease() as first:
        waiter = threading.Thread(target=lambda: got.append(pool.lease().__enter__()))
        waiter.start()
        while pool.waiting == 0 and waiter.is_alive():
            threading.Event().wait(0.01)
        assert pool.waiting == 1 and not got
    waiter.join(DEADLOCK_GUARD_S)
    assert got == [first]
    assert len(built) == 1


def test_sequential_callers_reuse_one_analyzer(tmp_path: Path) -> None:
    built: list[FaceAnalyzer] = []
    pool = _pool(tmp_path, 4, built)
    for _ in range(5):
        with pool.lease():
            pass
    assert len(built) == 1 and pool.made == 1


def test_an_analyzer_comes_back_even_when_the_caller_fails(tmp_path: Path) -> None:
    pool = _pool(tmp_path, 1)
    with pytest.raises(RuntimeError), pool.lease():
        raise RuntimeError("analysis failed")
    assert pool.busy == 0
    with pool.lease() as again:
        assert isinstance(again, FaceAnalyzer)


def test_a_failed_build_frees_its_slot(tmp_path: Path) -> None:
    calls = [0]
    settings = mock_settings(tmp_path)

    def flaky() -> FaceAnalyzer:
        calls[0] += 1
        if calls[0] == 1:
            raise OSError("model file unreadable")
        return build_analyzer(settings)

    pool = AnalyzerPool(flaky, 1)
    with pytest.raises(OSError), pool.lease():
        pass
    assert pool.made == 0
    with pool.lease() as analyzer:
        assert isinstance(analyzer, FaceAnalyzer)


def test_fill_builds_every_analyzer_once(tmp_path: Path) -> None:
    built: list[FaceAnalyzer] = []
    pool = _pool(tmp_path, 3, built)
    assert pool.fill() == 3
    assert pool.fill() == 3
    assert len(built) == 3 and pool.busy == 0


def test_a_closed_pool_refuses_and_sizes_are_checked(tmp_path: Path) -> None:
    pool = _pool(tmp_path, 1)
    pool.close()
    with pytest.raises(InvalidInputError, match="closed"), pool.lease():
        pass
    with pytest.raises(InvalidInputError, match="between 1 and"):
        _pool(tmp_path, 0)
