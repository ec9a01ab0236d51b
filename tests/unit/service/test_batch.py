"""Worker processes: results in order, clean shutdown on Ctrl-C and when a worker dies."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from tests.builders import mock_settings, save_png

from watchkeeper.core.errors import WatchkeeperError
from watchkeeper.service.batch import analyze_paths

ROOT = Path(__file__).resolve().parents[3]


def _tree(folder: Path, people: int, per_person: int, size: int = 64) -> Path:
    rng = np.random.default_rng(0)
    for p in range(people):
        d = folder / f"Person_{p:03d}"
        d.mkdir(parents=True)
        for i in range(per_person):
            save_png(rng.integers(0, 255, (size, size, 3), dtype=np.uint8), d / f"{i}.jpg")
    return folder


def _processes_mentioning(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline:
            found.append(int(entry.name))
    return found


def test_two_workers_return_every_result_in_input_order(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "t", 4, 5)
    paths = sorted(tree.glob("*/*.jpg"))
    paths.insert(3, tmp_path / "missing.png")
    results = list(analyze_paths(paths, mock_settings(tmp_path / "home"), workers=2))
    assert [r.source for r in results] == [str(p) for p in paths]
    assert results[3].faces is None and "no such file" in (results[3].error or "")
    assert all(r.faces is not None and len(r.faces) == 1 for i, r in enumerate(results) if i != 3)


def test_a_worker_killed_midway_is_a_clear_error_not_a_hang(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "t", 10, 6, size=300)
    paths = sorted(tree.glob("*/*.jpg"))
    seen = 0
    with pytest.raises(WatchkeeperError, match="worker process stopped unexpectedly"):
        for _ in analyze_paths(paths, mock_settings(tmp_path / "home"), workers=2):
            seen += 1
            if seen == 5:
                # The pool's workers, not any child: the resource tracker that multiprocessing
                # starts for earlier tests is also a child of this process.
                workers = multiprocessing.active_children()
                assert workers, "the batch should be running on worker processes"
                os.kill(workers[0].pid or 0, signal.SIGKILL)
    assert 5 <= seen < len(paths)


def test_ctrl_c_stops_enrolment_and_leaves_no_worker_behind(tmp_path: Path) -> None:
    import json

    tree = _tree(tmp_path / "ctrlc-tree", 80, 10, size=200)
    home = tmp_path / "home"
    base = [
        sys.executable, "-m", "watchkeeper", "--home", str(home),
        "--detector", "mock", "--embedder", "mock", "--threshold", "0.9",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}

    def run(*args: str, token: str | None = None) -> str:
        auth = ["--token", token] if token else []
        done = subprocess.run([*base, *auth, *args], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout

    token = json.loads(run("--json", "init", "--user", "me", "--home-use"))["token"]
    run(
        "watchlist", "create", "staff", "--purpose", "Door access",
        "--legal-basis", "consent", "--days", "30", token=token,
    )  # fmt: skip
    enrol = [
        *base, "--token", token, "enrol", "--folder", str(tree), "--watchlist", "staff",
        "--basis", "consent", "--source", "test photos",
    ]  # fmt: skip
    proc = subprocess.Popen(enrol, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # Interrupt only once enrolment is really under way: the first template is committed.
    import sqlite3

    deadline = time.monotonic() + 60
    stored = 0
    while stored == 0 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
        with sqlite3.connect(home / "watchkeeper.db", timeout=5) as db:
            stored = db.execute("SELECT COUNT(*) FROM templates").fetchone()[0]
    assert stored > 0 and proc.poll() is None, "enrolment never got going"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()
    assert b"interrupted" in err
    time.sleep(0.5)
    assert _processes_mentioning("ctrlc-tree") == []
