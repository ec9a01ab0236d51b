"""Video commands: ``watch`` a camera, ``index`` recordings, ``search-footage`` by photo,
``redact`` a clip or image. Thin: each parses its input and calls the service as a person."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from watchkeeper.cli.main import (
    PurposeOpt,
    app,
    done,
    engine,
    principal,
    run,
    state,
)
from watchkeeper.cli.output import emit_json, err_console, fail, out_console, progress
from watchkeeper.core.errors import WatchkeeperError

if TYPE_CHECKING:
    from watchkeeper.events.model import Event
    from watchkeeper.runtime.local import RunnerStats
    from watchkeeper.service.video_tracks import StepResult


def _event_line(event: Event) -> str:
    at = event.at.astimezone().strftime("%H:%M:%S")
    text = f"{at}  {event.kind:20}"
    camera = getattr(event, "camera_id", "")
    track = getattr(event, "track_id", None)
    if camera:
        text += f" camera {camera}"
    if track is not None:
        text += f" track {track}"
    for name in ("identity_id", "candidate_id", "sighting_id"):
        value = getattr(event, name, None)
        if value:
            text += f" {name.removesuffix('_id')} {value}"
    return text


def _with_alert_sinks(webhook: str | None, mqtt: str | None) -> None:
    if not webhook and not mqtt:
        return
    from watchkeeper.config.video import AlertSettings

    host, _, port = (mqtt or "").partition(":")
    current = state.settings.video.alerts
    alerts = AlertSettings.model_validate(
        {
            **current.model_dump(),
            "webhook_url": webhook or current.webhook_url,
            "mqtt_host": host or current.mqtt_host,
            "mqtt_port": int(port) if port else current.mqtt_port,
        }
    )
    video = state.settings.video.model_copy(update={"alerts": alerts})
    state.settings = state.settings.model_copy(update={"video": video})


@app.command()
def watch(
    source: Annotated[
        str, typer.Argument(help="Video file, image folder, rtsp:// or http:// URL, or webcam 0.")
    ],
    camera_id: Annotated[str, typer.Option("--camera", help="Camera name.")] = "cam1",
    watchlist: Annotated[
        str | None, typer.Option("--watchlist", "-w", help="Match faces against this list.")
    ] = None,
    purpose: PurposeOpt = "",
    interval: Annotated[
        int | None, typer.Option(help="Detect on every Nth frame (default: video settings).")
    ] = None,
    fps_cap: Annotated[float | None, typer.Option(help="Analyse at most this many fps.")] = None,
    max_frames: Annotated[int | None, typer.Option(help="Stop after this many frames.")] = None,
    worker: Annotated[
        bool, typer.Option(help="Detect in a worker process (uses a second core).")
    ] = True,
    webhook: Annotated[
        str | None, typer.Option(help="Deliver confirmed alerts to this URL.")
    ] = None,
    mqtt: Annotated[
        str | None, typer.Option(help="Deliver confirmed alerts to this broker (HOST[:PORT]).")
    ] = None,
) -> None:
    """Watch a camera live: prints events as they happen and the frame rate; Ctrl-C stops."""
    from watchkeeper.config.cameras import CameraSettings
    from watchkeeper.runtime.local import CameraRunner

    _with_alert_sinks(webhook, mqtt)
    wk = engine()
    me = principal(wk)
    try:
        camera = CameraSettings(camera_id=camera_id, source=source, fps_cap=fps_cap)
    except ValueError as exc:
        fail(f"camera settings: {exc}", 2)
    session = run(lambda: wk.video.watch(me, camera, watchlist, purpose))
    dispatcher = wk.video.dispatcher()
    dispatcher.start()
    last_status = [time.monotonic()]

    def on_event(event: Event) -> None:
        dispatcher.wake()
        if state.json:
            out_console.file.write(event.model_dump_json() + "\n")
            out_console.file.flush()
        else:
            out_console.print(_event_line(event))

    def on_step(step: StepResult, stats: RunnerStats) -> None:
        now = time.monotonic()
        if now - last_status[0] >= 2.0 and not state.json:
            last_status[0] = now
            err_console.print(
                f"[dim]{stats.frames} frames, {stats.recent_fps:.1f} fps now, "
                f"{stats.mean_fps:.1f} fps mean, {len(step.faces)} face(s) in view[/]"
            )

    runner = CameraRunner(
        wk,
        session,
        on_event=on_event,
        on_step=on_step,
        detection_interval=interval,
        detect_in_worker=worker,
    )
    if not state.json:
        err_console.print(
            f"Watching {camera_id} ({camera.resolved_kind.value}), detection every "
            f"{runner.interval} frame(s); Ctrl-C stops."
        )
    interrupted = False
    try:
        stats = runner.run(max_frames=max_frames)
    except KeyboardInterrupt:
        interrupted = True
        stats = runner.stats
    except WatchkeeperError as exc:
        dispatcher.stop()
        fail(str(exc), exc.exit_code)
    dispatcher.stop()
    summary = {
        "frames": stats.frames,
        "detections": stats.detections,
        "events": stats.events,
        "errors": stats.errors,
        "mean_fps": round(stats.mean_fps, 2),
        "sightings": session.stats.sightings,
        "candidates": session.stats.candidates,
        "interrupted": interrupted,
    }
    if state.json:
        emit_json(summary)
        raise typer.Exit(0)
    done(
        summary,
        f"Stopped after {stats.frames} frames at {stats.mean_fps:.1f} fps: "
        f"{session.stats.sightings} sighting(s), {session.stats.candidates} candidate(s) for "
        f"review, {stats.errors} error(s).",
    )


@app.command()
def index(
    folder: Annotated[Path, typer.Argument(help="A folder of recordings (searched recursively).")],
    interval: Annotated[int | None, typer.Option(help="Detect on every Nth frame.")] = None,
) -> None:
    """Index recordings into sightings, so footage can be searched by photo."""
    from watchkeeper.service.footage import video_files

    wk = engine()
    me = principal(wk)
    files = run(lambda: video_files(folder))
    with progress("Indexing", len(files), enabled=not state.json) as bar:
        results = run(
            lambda: wk.footage.index_folder(
                me, folder, on_file=lambda _r: bar.advance(), detection_interval=interval
            )
        )
    payload = [
        {"recording": r.path, "frames": r.frames, "sightings": r.sightings, "error": r.error}
        for r in results
    ]
    lines = [
        f"{r.path}: {r.frames} frames, {r.sightings} sighting(s)"
        + (f" (error: {r.error})" if r.error else "")
        for r in results
    ]
    failed = sum(1 for r in results if r.error)
    done(payload, "\n".join(lines), 1 if failed == len(results) else 0)


@app.command("search-footage")
def search_footage(
    photo: Annotated[Path, typer.Argument(help="A photo of the person to look for.")],
    purpose: PurposeOpt = "",
    approval: Annotated[
        str | None, typer.Option(help="The approved four-eyes request for this search.")
    ] = None,
    ask: Annotated[
        str | None,
        typer.Option(help="Instead of searching, ask for approval with this summary."),
    ] = None,
    top: Annotated[int, typer.Option(help="At most this many results.")] = 20,
    thumbnails: Annotated[
        Path | None, typer.Option(help="Write each result's face thumbnail into this folder.")
    ] = None,
) -> None:
    """Search indexed footage and camera sightings by photo (audited; four-eyes when on)."""
    wk = engine()
    me = principal(wk)
    if ask is not None:
        request_id = run(lambda: wk.footage.request_search(me, ask))
        done(
            {"approval": request_id},
            f"Asked for approval: request {request_id}. Once another person approves it, "
            f"search with --approval {request_id}.",
        )
    result = run(lambda: wk.footage.search(me, photo, purpose, approval, top))
    rows: list[dict[str, Any]] = []
    for rank, hit in enumerate(result.hits, 1):
        s = hit.sighting
        thumb = None
        if thumbnails is not None and hit.thumbnail_jpeg is not None:
            thumbnails.mkdir(parents=True, exist_ok=True)
            thumb_path = thumbnails / f"{rank:03d}_{s.sighting_id}.jpg"
            thumb_path.write_bytes(hit.thumbnail_jpeg)
            thumb = str(thumb_path)
        rows.append(
            {
                "rank": rank,
                "similarity": round(hit.similarity, 4),
                "recording": hit.recording,
                "from_s": round(s.first_pts_s, 2),
                "to_s": round(s.last_pts_s, 2),
                "first_seen_at": s.first_seen_at.isoformat(),
                "last_seen_at": s.last_seen_at.isoformat(),
                "sighting": s.sighting_id,
                "thumbnail": thumb,
            }
        )
    lines = [
        f"{len(result.hits)} sighting(s) above the threshold {result.threshold:.3f} "
        f"among {result.searched}:"
    ] + [
        f"  {r['rank']:2}. {r['similarity']:.3f}  {r['recording']}  "
        f"{r['from_s']:.1f}-{r['to_s']:.1f} s  ({r['first_seen_at'][:19]})"
        + (f"  {r['thumbnail']}" if r["thumbnail"] else "")
        for r in rows
    ]
    done(
        {"threshold": result.threshold, "searched": result.searched, "hits": rows}, "\n".join(lines)
    )


@app.command()
def redact(
    source: Annotated[Path, typer.Argument(help="The image or clip to redact.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the redacted copy.")],
    purpose: PurposeOpt = "",
    keep: Annotated[
        Path | None, typer.Option(help="Photo of the one person to leave unblurred.")
    ] = None,
) -> None:
    """Export a copy with every face blurred, except the subject's (audited as an export)."""
    wk = engine()
    me = principal(wk)
    report = run(lambda: wk.footage.redact(me, source, out, purpose, keep))
    done(
        {
            "output": report.output,
            "frames": report.frames,
            "faces_blurred": report.faces_blurred,
            "faces_kept": report.faces_kept,
        },
        f"Wrote {report.output}: {report.frames} frame(s), {report.faces_blurred} face(s) "
        f"blurred, {report.faces_kept} kept.",
    )
