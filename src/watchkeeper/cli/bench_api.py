"""`watchkeeper bench api`: identify requests per second and latency of the running service."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer

from watchkeeper.cli.main import bench_app, state
from watchkeeper.cli.output import emit_json, err_console, fail, out_console
from watchkeeper.config.paths import evaluation_data_dir
from watchkeeper.core.errors import WatchkeeperError


@bench_app.command("api")
def bench_api(
    data: Annotated[
        Path | None,
        typer.Option("--data", help="Evaluation data folder (default $WATCHKEEPER_DATA)."),
    ] = None,
    identities: Annotated[int, typer.Option(help="People on the watchlist.")] = 5000,
    clients: Annotated[
        list[int] | None, typer.Option("--clients", help="Concurrent clients (repeatable).")
    ] = None,
    duration: Annotated[float, typer.Option(help="Seconds per client count.")] = 20.0,
) -> None:
    """Start the service on 127.0.0.1 and load it with identify requests (real models)."""
    from dataclasses import asdict

    from watchkeeper.bench.api_load import run_load_bench

    root = data or evaluation_data_dir()
    photos = root / "examples" / "examples"
    enrol, probe = photos / "obama.jpg", photos / "obama2.jpg"
    if not enrol.is_file() or not probe.is_file():
        fail(f"example photos not found in {photos} (set WATCHKEEPER_DATA or pass --data)", 2)
    if not state.json:
        err_console.print(
            f"Preparing a watchlist of {identities:,} people and starting the service..."
        )
    try:
        with tempfile.TemporaryDirectory(prefix="wk-bench-api-") as work:
            result = run_load_bench(
                Path(work), enrol, probe, identities, tuple(clients or (1, 4, 16)), duration
            )
    except WatchkeeperError as exc:
        fail(str(exc), exc.exit_code)
    if state.json:
        emit_json(
            {
                **asdict(result),
                "levels": [
                    {**asdict(lv), "requests_per_s": lv.requests_per_s} for lv in result.levels
                ],
            }
        )
        return
    out_console.print(
        f"POST /api/identify with {result.probe} against {result.identities:,} identities "
        f"({result.cpu_cores} CPU cores; load is the 1-minute load average, others included):"
    )
    out_console.print("clients  requests  req/s   p50 ms   p99 ms  errors  matched  load")
    for lv in result.levels:
        out_console.print(
            f"{lv.clients:>7}  {lv.requests:>8}  {lv.requests_per_s:>5.2f}  {lv.p50_ms:>7.0f}"
            f"  {lv.p99_ms:>7.0f}  {lv.errors:>6}  {lv.matched:>7}  {lv.load_avg_1m:>4.1f}"
        )
