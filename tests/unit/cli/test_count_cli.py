"""`watchkeeper count` end to end on a clip written with PyAV (scripted detector, no weights)."""

from __future__ import annotations

import csv
import http.server
import json
import threading
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from tests.unit.service.test_counting_pipeline import ScriptedDetector
from typer.testing import CliRunner

from watchkeeper.cli.main import app, main  # noqa: F401  (main registers the commands)

runner = CliRunner()


def write_clip(path: Path, frames: int = 40, size_wh: tuple[int, int] = (320, 240)) -> Path:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("mjpeg", rate=10)
        stream.width, stream.height = size_wh
        stream.pix_fmt = "yuvj420p"
        for i in range(frames):
            image = np.full((size_wh[1], size_wh[0], 3), 60 + i, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def script(i: int) -> list[tuple[str, float, float, float, float]]:
    """A person walking right through the middle; a cat walking left lower down."""
    rows = []
    x = 20 + 8 * i
    if x + 20 < 319:
        rows.append(("person", float(x - 20 if x >= 20 else 0), 40.0, float(x + 20), 140.0))
    c = 300 - 8 * i
    if c - 20 > 1:
        rows.append(("cat", float(c - 20), 170.0, float(min(c + 20, 320)), 220.0))
    return rows


@pytest.fixture(autouse=True)
def scripted(monkeypatch: pytest.MonkeyPatch) -> None:
    import watchkeeper.service.counting as counting

    monkeypatch.setattr(counting, "detector_for", lambda settings: ScriptedDetector(script))
    import watchkeeper.cli.count  # noqa: F401  (registers `count` on the app)


def test_count_prints_events_and_writes_every_output(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "street.avi")
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        ["count", str(clip), "--line", "160,240,160,0:mid", "--zone",
         "200,0;320,0;320,240;200,240:right:60", "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "person #" in result.output and "crossed mid (in)" in result.output
    assert "cat #" in result.output and "crossed mid (out)" in result.output
    assert "person: 1 in, 0 out, 1 zone entries" in result.output
    assert "animal: 0 in, 1 out, 1 zone entries" in result.output
    with (out / "counts_per_minute.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    crossed = {(r["class_group"], r["direction"]): int(r["count"]) for r in rows
               if r["event_kind"] == "line_crossed"}  # fmt: skip
    assert crossed == {("person", "in"): 1, ("animal", "out"): 1}
    for name in ("traffic_per_hour.png", "footfall.png", "occupancy.png", "heatmap.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG", name
    snaps = list((out / "wildlife").glob("cat_*.jpg"))
    assert len(snaps) == 1 and snaps[0].read_bytes()[:2] == b"\xff\xd8"


def test_count_json_summary(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "street.avi")
    result = runner.invoke(
        app, ["--json", "count", str(clip), "--line", "160,240,160,0", "--classes", "person"]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["frames"] == 40 and payload["files"] is None
    assert payload["groups"] == [
        {"class_group": "person", "in": 1, "out": 0, "zone_entries": 0, "dwell_alerts": 0}
    ]
    assert [e["kind"] for e in payload["events"]] == ["line_crossed"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--line", "1,2,3"], "4 numbers"),
        (["--zone", "0,0;10,0;10,10;0,10;5,-5:z"], "self-intersecting"),
        (["--line", "0,0,1,1:a", "--line", "5,5,9,9:a"], "unique"),
        (["--classes", "unicorn"], "unknown classes"),
        (["--input-size", "100"], "input_size"),
    ],
)
def test_malformed_options_get_one_clear_line(tmp_path: Path, args: list[str], needle: str) -> None:
    clip = write_clip(tmp_path / "c.avi", frames=2)
    result = runner.invoke(app, ["count", str(clip), *args])
    assert result.exit_code == 12, result.output
    assert needle in result.output
    assert "Traceback" not in result.output


def test_a_missing_source_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["count", str(tmp_path / "nope.mp4"), "--line", "0,0,1,1"])
    assert result.exit_code != 0 and "nope.mp4" in result.output


class _Receiver(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


def test_counting_events_reach_a_webhook_that_was_down_without_loss(tmp_path: Path) -> None:
    """Events are stored and owed in one transaction; a receiver that is down gets them later."""
    import socket

    from watchkeeper.events.outbox import EventLog
    from watchkeeper.store.sqlite import SqliteStore

    clip = write_clip(tmp_path / "street.avi")
    home = tmp_path / "home"
    with socket.socket() as probe:  # a free loopback port, nobody listening yet
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    args = [
        "--home", str(home), "count", str(clip), "--line", "160,240,160,0:mid",
        "--webhook", f"http://127.0.0.1:{port}/counts", "--quiet",
    ]  # fmt: skip
    first = runner.invoke(app, [*args, "--deliver-wait-s", "0.5"])
    assert first.exit_code == 0, first.output
    assert "event deliveries still owed" in first.stderr
    with SqliteStore(home / "watchkeeper.db") as store:
        stored = [e.event for e in EventLog(store.conn).recent()]
        assert [e.kind for e in stored] == ["line_crossed", "line_crossed"]
        assert EventLog(store.conn).owed("webhook") == 2
    _Receiver.received = []
    server = http.server.HTTPServer(("127.0.0.1", port), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        second = runner.invoke(app, args)
    finally:
        server.shutdown()
        server.server_close()
    assert second.exit_code == 0, second.output
    assert "still owed" not in second.stderr
    # The first run's events arrive first, in order, then this run's (identical content is
    # stored once: the event id is derived from it).
    got = [(r["kind"], r["class_group"], r["direction"]) for r in _Receiver.received]
    assert got[:2] == [
        (e.kind, e.class_group.value, e.direction.value)
        for e in stored  # type: ignore[union-attr]
    ]
    assert {("line_crossed", "person", "in"), ("line_crossed", "animal", "out")} <= set(got)
    with SqliteStore(home / "watchkeeper.db") as store:
        assert EventLog(store.conn).owed() == 0
