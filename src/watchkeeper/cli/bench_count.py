"""`watchkeeper bench count`: object detector latency and counting accuracy (issue 6)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from watchkeeper.cli.main import bench_app, state
from watchkeeper.cli.output import emit_json, err_console, fail, out_console
from watchkeeper.config.paths import evaluation_data_dir
from watchkeeper.core.errors import WatchkeeperError


@bench_app.command("count")
def bench_count(
    data: Annotated[
        Path | None,
        typer.Option("--data", help="Evaluation data folder (default $WATCHKEEPER_DATA)."),
    ] = None,
    clips: Annotated[int, typer.Option(help="Synthetic clips with known crossings.")] = 3,
    clip_seconds: Annotated[float, typer.Option(help="Length of each clip.")] = 60.0,
) -> None:
    """YOLOv4-tiny latency (320/416 input, 1/2 threads) and line-crossing accuracy."""
    from dataclasses import asdict

    from watchkeeper.models.yolo_objects import YoloV4TinyDetector
    from watchkeeper.tracking.objects import ObjectTracker
    from watchkeeper.zones.bench import DetectorRequest, run_counting_bench

    def detector(request: DetectorRequest) -> YoloV4TinyDetector:
        return YoloV4TinyDetector(
            input_size=request.input_size, threads=request.threads, classes=request.classes
        )

    root = data or evaluation_data_dir()
    if not root.is_dir():
        fail(f"evaluation data not found in {root} (set WATCHKEEPER_DATA or pass --data)", 2)
    if not state.json:
        err_console.print("Rendering synthetic clips and running the detector; this takes minutes.")
    try:
        result = run_counting_bench(
            root,
            detector_factory=detector,
            tracker_factory=ObjectTracker,
            clips=clips,
            clip_duration_s=clip_seconds,
        )
    except WatchkeeperError as exc:
        fail(str(exc), exc.exit_code)
    if state.json:
        emit_json(asdict(result))
        return
    out_console.print("Detector latency per 640x480 frame (YOLOv4-tiny on OpenCV DNN):")
    for lat in result.latency:
        out_console.print(
            f"  input {lat.input_size}, {lat.threads} thread(s): "
            f"mean {lat.mean_ms:.0f} ms, p95 {lat.p95_ms:.0f} ms"
        )
    s = result.score
    out_console.print(
        f"Counting on {result.clips} synthetic clips ({result.frames} frames): "
        f"{s.correct} of {s.true_crossings} crossings right ({s.recall * 100:.1f}%), "
        f"{s.missed} missed, {s.wrong_direction} wrong direction, {s.wrong_group} wrong group, "
        f"{s.extra} extra. Target >= 98% and no extra: "
        + ("met." if result.meets_target else "NOT met.")
    )
    out_console.print(
        f"Counting pipeline at input {result.counting_input_size}, "
        f"{result.counting_threads} thread(s): {result.pipeline_fps:.1f} frames/s on 640x480."
    )


@bench_app.command("objects")
def bench_objects(
    data: Annotated[
        Path | None,
        typer.Option("--data", help="Evaluation data folder (default $WATCHKEEPER_DATA)."),
    ] = None,
    input_size: Annotated[int, typer.Option(help="Detector input size (320 or 416).")] = 416,
) -> None:
    """YOLOv4-tiny on real photos: objects found per class (people, vehicles, animals)."""
    from collections import Counter

    from watchkeeper.models.yolo_objects import YoloV4TinyDetector
    from watchkeeper.sources.files import read_image_rgb
    from watchkeeper.zones.bench import detection_census

    root = data or evaluation_data_dir()
    if not root.is_dir():
        fail(f"evaluation data not found in {root} (set WATCHKEEPER_DATA or pass --data)", 2)
    paths = sorted((root / "detection" / "dlib_voc").glob("*.jpg")) + sorted(
        p for p in (root / "nonface" / "no_face").iterdir() if p.suffix in (".png", ".jpg")
    )
    try:
        detector = YoloV4TinyDetector(input_size=input_size, threads=2)
        census = detection_census(paths, detector, read_image_rgb)
    except WatchkeeperError as exc:
        fail(str(exc), exc.exit_code)
    if state.json:
        emit_json(
            [
                {
                    "image": str(c.path.relative_to(root)),
                    "found": dict(c.found),
                    "best_confidence": {k: round(v, 3) for k, v in c.best_confidence},
                }
                for c in census
            ]
        )
        return
    totals: Counter[str] = Counter()
    for c in census:
        totals.update(dict(c.found))
        found = ", ".join(
            f"{n} {name} (best {dict(c.best_confidence)[name]:.2f})" for name, n in c.found
        )
        out_console.print(f"{c.path.relative_to(root)}: {found or 'nothing'}")
    out_console.print(
        f"Total over {len(census)} photos at input {input_size}: "
        + ", ".join(f"{n} {name}" for name, n in totals.most_common())
    )
