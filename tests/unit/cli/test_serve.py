"""`watchkeeper serve` as a real process: first-start credential, health, graceful SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[3]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(home: Path, port: int) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    # The console script's entry point (main() registers the serve and bench commands).
    entry = "import sys; from watchkeeper.cli.main import main; sys.argv[0] = 'watchkeeper'; main()"
    command = [sys.executable, "-c", entry, "--home", str(home)]
    command += ["--detector", "mock", "--embedder", "mock", "serve", "--port", str(port)]
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _wait_healthy(base: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited early: {process.communicate()}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("serve did not become healthy")


def _stop(process: subprocess.Popen[str]) -> tuple[str, str]:
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    # uvicorn shuts down gracefully, then re-raises the signal so the exit status says why.
    assert process.returncode in (0, -signal.SIGTERM), err[-2000:]
    assert "Application shutdown complete" in err
    return out, err


def test_serve_prints_the_first_admin_password_once_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    process = _start(tmp_path, port)
    try:
        _wait_healthy(base, process)
        # The first admin must be able to sign in with the printed password.
        out, err = _stop(process)
    finally:
        if process.poll() is None:
            process.kill()
    lines = {k.strip(): v.strip() for k, _, v in (ln.partition(":") for ln in out.splitlines())}
    assert lines["username"] == "admin"
    password = lines["password"]
    assert len(password) >= 20
    assert password not in err  # the logs never carry it
    records = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    messages = [record["message"] for record in records]
    assert "service ready" in messages and "service stopped" in messages
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)

    process = _start(tmp_path, port)
    try:
        _wait_healthy(base, process)
        login = httpx.post(
            f"{base}/api/auth/login", json={"username": "admin", "password": password}
        )
        assert login.status_code == 200
        out, _ = _stop(process)
    finally:
        if process.poll() is None:
            process.kill()
    assert "password:" not in out
