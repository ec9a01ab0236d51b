"""`watchkeeper count SOURCE --line ... --zone ...`: count people, vehicles and animals.

Anonymous: no face is looked at. Prints crossings and zone events as they happen, progress
with the frame rate, and a summary per class group; writes CSV, charts, a heat map and animal
snapshots into ``--out``.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from watchkeeper.cli.main import app, state
from watchkeeper.cli.output import emit_json, err_console, fail, out_console
from watchkeeper.core.errors import WatchkeeperError


def _camera_id(source: str) -> str:
    stem = Path(source).stem if not source.isdigit() and "://" not in source else source
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-.")[:64]
    return cleaned or "camera"


def _event_line(event: Any) -> str:
    at = event.at.strftime("%H:%M:%S.%f")[:-4]
    who = f"{event.class_name} #{event.track_id}"
    if event.kind == "line_crossed":
        return f"{at}  {who} crossed {event.line_id} ({event.direction.value})"
    if event.kind == "zone_entered":
        return f"{at}  {who} entered {event.zone_id}"
    if event.kind == "zone_left":
        how = "lost in" if event.lost else "left"
        return f"{at}  {who} {how} {event.zone_id} after {event.dwell_s:.1f} s"
    return f"{at}  {who} has stayed in {event.zone_id} for {event.dwell_s:.0f} s (loitering)"


@app.command()
def count(
    source: Annotated[str, typer.Argument(help="Video file, image folder, stream URL or webcam.")],
    line: Annotated[
        list[str] | None,
        typer.Option(
            "--line",
            help="Counting line x1,y1,x2,y2[:name[:left|right]] in pixels (repeatable); "
            "'in' is crossing to the right (or the side named), looking from the first point "
            "to the second.",
        ),
    ] = None,
    zone: Annotated[
        list[str] | None,
        typer.Option(
            "--zone",
            help="Zone x,y;x,y;x,y[;...][:name[:loiter seconds]] (repeatable).",
        ),
    ] = None,
    classes: Annotated[
        str, typer.Option(help="Comma-separated groups (person, vehicle, animal) or COCO names.")
    ] = "person,vehicle,animal",
    out: Annotated[
        Path | None, typer.Option(help="Folder for CSV, charts, heat map and snapshots.")
    ] = None,
    every: Annotated[int, typer.Option(help="Run the detector on every Nth frame.")] = 1,
    fps_cap: Annotated[
        float | None, typer.Option(help="Analyse at most this many frames per second.")
    ] = None,
    input_size: Annotated[int, typer.Option(help="Detector input: 320 (fast) or 416.")] = 416,
    threads: Annotated[int, typer.Option(help="Detector threads.")] = 2,
    quiet: Annotated[bool, typer.Option(help="Do not print each event.")] = False,
    record: Annotated[
        bool, typer.Option(help="Store events and per-minute counts in the site database.")
    ] = False,
    webhook: Annotated[
        str | None, typer.Option(help="Also deliver every event to this URL (implies --record).")
    ] = None,
    mqtt: Annotated[
        str | None,
        typer.Option(help="Also publish every event to this MQTT broker HOST[:PORT] (--record)."),
    ] = None,
    deliver_wait_s: Annotated[
        float, typer.Option(help="At the end, wait this long for receivers to take what is owed.")
    ] = 10.0,
) -> None:
    """Count crossings of lines and visits to zones (anonymous object counting)."""
    from pydantic import ValidationError

    from watchkeeper.config.cameras import CameraSettings
    from watchkeeper.config.counting import CountingLine, CountingSettings, CountingZone
    from watchkeeper.service.counting import CountingPipeline, detector_for
    from watchkeeper.service.counting_report import CountingReport
    from watchkeeper.sources.factory import open_source

    try:
        lines = tuple(
            CountingLine.from_spec(spec, f"line{i + 1}") for i, spec in enumerate(line or [])
        )
        zones = tuple(
            CountingZone.from_spec(spec, f"zone{i + 1}") for i, spec in enumerate(zone or [])
        )
        camera = CameraSettings(
            camera_id=_camera_id(source),
            source=source,
            fps_cap=fps_cap,
            detection_interval=every,
            counting=CountingSettings(
                lines=lines,
                zones=zones,
                classes=tuple(c.strip() for c in classes.split(",") if c.strip()),
                input_size=input_size,
                threads=threads,
            ),
        )
    except WatchkeeperError as exc:
        fail(str(exc), exc.exit_code)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        fail(f"malformed counting options: {problems}", 12)

    report = CountingReport()
    started = time.perf_counter()
    frames = 0
    delivery = _Delivery.open(record or bool(webhook or mqtt), webhook, mqtt)
    try:
        pipeline = CountingPipeline(
            camera,
            detector_for(camera.counting or CountingSettings()),
            records=delivery.records if delivery else None,
            deliver_to=delivery.sink_names if delivery else (),
        )
        with open_source(camera) as video:
            for result in pipeline.run(video):
                report.add(result, pipeline)
                if result.frame_index >= 0:
                    frames += 1
                if not state.json and not quiet:
                    for event in result.events:
                        out_console.print(_event_line(event))
                if delivery and result.events:
                    delivery.wake()
                if not state.json and frames and frames % 100 == 0 and result.frame_index >= 0:
                    rate = frames / max(time.perf_counter() - started, 1e-9)
                    err_console.print(f"[dim]{frames} frames, {rate:.1f} frames/s[/]")
        files = report.write(out, pipeline) if out is not None else None
    except WatchkeeperError as exc:
        fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        fail("interrupted", 130)
    finally:
        owed = delivery.close(deliver_wait_s) if delivery else 0
    if owed:
        err_console.print(
            f"[yellow]{owed} event deliveries still owed[/]: they stay in the outbox and go out "
            "on the next run with the same receivers."
        )
    elapsed = time.perf_counter() - started
    summary = report.summary()
    if state.json:
        emit_json(
            {
                "camera_id": camera.camera_id,
                "frames": frames,
                "frames_per_s": round(frames / elapsed, 2) if elapsed > 0 else None,
                "groups": [
                    {
                        "class_group": s.class_group.value,
                        "in": s.crossed_in,
                        "out": s.crossed_out,
                        "zone_entries": s.zone_entries,
                        "dwell_alerts": s.dwell_alerts,
                    }
                    for s in summary
                ],
                "events": [e.model_dump(mode="json") for e in report.events],
                "files": None
                if files is None
                else {
                    "counts_csv": str(files.counts_csv),
                    "charts": [str(p) for p in files.charts],
                    "heatmap": None if files.heatmap is None else str(files.heatmap),
                    "snapshots": [str(p) for p in files.snapshots],
                },
            }
        )
        return
    out_console.print(
        f"{frames} frames in {elapsed:.1f} s ({frames / max(elapsed, 1e-9):.1f} frames/s)."
    )
    if not summary:
        out_console.print("Nothing crossed a line or entered a zone.")
    for s in summary:
        out_console.print(
            f"  {s.class_group.value}: {s.crossed_in} in, {s.crossed_out} out, "
            f"{s.zone_entries} zone entries, {s.dwell_alerts} loitering"
        )
    if files is not None:
        out_console.print(
            f"Wrote {files.counts_csv.name}, {len(files.charts)} chart(s), "
            f"{'a heat map, ' if files.heatmap else ''}{len(files.snapshots)} animal snapshot(s) "
            f"into {out}."
        )


class _Delivery:
    """The site database and, when receivers are named, an outbox dispatcher feeding them."""

    def __init__(self, store: Any, records: Any, dispatcher: Any, sink_names: tuple[str, ...]):
        self.store = store
        self.records = records
        self.dispatcher = dispatcher
        self.sink_names = sink_names

    @classmethod
    def open(cls, wanted: bool, webhook: str | None, mqtt: str | None) -> _Delivery | None:
        if not wanted:
            return None
        from watchkeeper.events.outbox import Backoff, Dispatcher
        from watchkeeper.events.sinks import MqttSink, WebhookSink
        from watchkeeper.service.engine import DB_FILE
        from watchkeeper.store.counting import CountingRecords
        from watchkeeper.store.sqlite import SqliteStore

        store = SqliteStore(state.settings.home / DB_FILE).open()
        sinks: dict[str, Any] = {}
        if webhook:
            sinks["webhook"] = WebhookSink(webhook)
        if mqtt:
            host, _, port = mqtt.partition(":")
            sinks["mqtt"] = MqttSink(host, int(port) if port else 1883)
        dispatcher = None
        if sinks:
            dispatcher = Dispatcher(store.transaction, sinks, Backoff(0.5, 2.0, 30.0))
            dispatcher.start(poll_s=0.5)
        return cls(store, CountingRecords(store), dispatcher, tuple(sinks))

    def wake(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.wake()

    def close(self, wait_s: float) -> int:
        """Give receivers up to ``wait_s`` to take what is owed; returns what is still owed."""
        from watchkeeper.events.outbox import EventLog

        owed = 0
        if self.dispatcher is not None:
            deadline = time.monotonic() + wait_s
            while True:
                with self.store.transaction() as conn:
                    owed = EventLog(conn).owed()
                if owed == 0 or time.monotonic() >= deadline:
                    break
                self.dispatcher.wake()
                time.sleep(0.2)
            self.dispatcher.stop()
        self.store.close()
        return owed
