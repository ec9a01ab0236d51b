"""Real servers for the video tests: a GStreamer RTSP server (Debian's system Python) and a
Mosquitto broker, each on a free loopback port, started and stopped by the tests."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SYSTEM_PYTHON = "/usr/bin/python3"
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


@dataclass
class ServerProcess:
    """A started server; ``stop`` kills it and waits, so its port is free again."""

    process: subprocess.Popen[bytes]
    port: int

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)


def _has_gst_rtsp() -> bool:
    probe = (
        "import gi; gi.require_version('GstRtspServer', '1.0');"
        " from gi.repository import GstRtspServer"
    )
    try:
        done = subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


@pytest.fixture(scope="session")
def rtsp_available() -> None:
    if not _has_gst_rtsp():
        pytest.skip("GStreamer RTSP server not installed (scripts/setup.sh installs it)")


RtspFactory = Callable[..., ServerProcess]


@pytest.fixture
def rtsp_server(rtsp_available: None) -> Iterator[RtspFactory]:
    """Starts RTSP servers: ``rtsp_server(port, mode="test", arg="320x240")``."""
    started: list[ServerProcess] = []

    def start(port: int | None = None, mode: str = "test", arg: str = "320x240") -> ServerProcess:
        chosen = port or free_port()
        process = subprocess.Popen(
            [SYSTEM_PYTHON, str(HERE / "rtsp_server.py"), str(chosen), mode, arg],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        server = ServerProcess(process, chosen)
        started.append(server)
        wait_for_port(chosen)
        return server

    yield start
    for server in started:
        server.stop()


MqttFactory = Callable[..., ServerProcess]


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[MqttFactory]:
    """Starts Mosquitto brokers on 127.0.0.1: ``mosquitto(port)``."""
    if not Path(MOSQUITTO).exists():
        pytest.skip("mosquitto not installed (scripts/setup.sh installs it)")
    started: list[ServerProcess] = []

    def start(port: int | None = None) -> ServerProcess:
        chosen = port or free_port()
        conf = tmp_path / f"mosquitto-{chosen}-{len(started)}.conf"
        conf.write_text(
            f"listener {chosen} 127.0.0.1\nallow_anonymous true\npersistence false\n",
            encoding="utf-8",
        )
        process = subprocess.Popen(
            [MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        server = ServerProcess(process, chosen)
        started.append(server)
        wait_for_port(chosen)
        return server

    yield start
    for server in started:
        server.stop()
