"""The service load benchmark, small: a real service process, real models, a few requests."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from watchkeeper.bench.api_load import run_load_bench
from watchkeeper.governance.audit import AuditAction, AuditLog

pytestmark = [pytest.mark.slow, pytest.mark.models, pytest.mark.data]


def test_identify_load_is_measured_without_errors(data_dir: Path, tmp_path: Path) -> None:
    photos = data_dir / "examples" / "examples"
    result = run_load_bench(
        tmp_path, photos / "obama.jpg", photos / "obama2.jpg", identities=300,
        clients=(1, 3), duration_s=1.5,
    )  # fmt: skip
    assert [lv.clients for lv in result.levels] == [1, 3]
    for level in result.levels:
        assert level.requests >= 1 and level.errors == 0
        assert level.matched == level.requests  # the real probe finds the enrolled person
        assert 0 < level.p50_ms <= level.p99_ms
    with sqlite3.connect(tmp_path / "home" / "watchkeeper.db") as db:
        people = db.execute("SELECT COUNT(*) FROM identities").fetchone()[0]
        fixture = db.execute(
            "SELECT COUNT(*) FROM audit_log WHERE purpose = ?",
            ("benchmark fixture: synthetic identities",),
        ).fetchone()[0]
        searches = db.execute(
            "SELECT COUNT(*) FROM audit_log WHERE action = ?", (AuditAction.SEARCH_IDENTIFY,)
        ).fetchone()[0]
        chain = AuditLog(db).verify()
    assert people == 300 and fixture == 1
    # Concurrent searches on real models: one audit entry each (plus the warm-up's), chain intact.
    assert searches > sum(lv.requests for lv in result.levels)
    assert chain.ok, chain.summary()
