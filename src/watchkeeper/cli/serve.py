"""`watchkeeper serve`: the HTTP service (registered on import by main())."""

from __future__ import annotations

import ipaddress
import logging
from typing import Annotated

import typer

from watchkeeper.cli.main import app, state
from watchkeeper.cli.output import out_console

log = logging.getLogger(__name__)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command()
def serve(
    host: Annotated[
        str | None,
        typer.Option(help="Address to listen on (default 127.0.0.1: this machine only)."),
    ] = None,
    port: Annotated[int | None, typer.Option(help="TCP port (default 8000).")] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    home_use: Annotated[
        bool,
        typer.Option(
            help="On first start, one person runs this site: the first account gets every role "
            "and four-eyes approval is switched off (an audited setting, shown in reports)."
        ),
    ] = False,
) -> None:
    """Run the API, the CompreFace-compatible API and the web console until Ctrl-C or SIGTERM.

    On first start it creates the administrator account and prints its one-time password.
    """
    import uvicorn

    from watchkeeper.api import create_app
    from watchkeeper.api.accounts import InitialCredential
    from watchkeeper.api.logs import configure_json_logging
    from watchkeeper.runtime.cameras import CameraSupervisor
    from watchkeeper.service.engine import Engine

    api = state.settings.api.model_copy(
        update={k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    )
    settings = state.settings.model_copy(update={"api": api})
    level = getattr(logging, log_level.upper(), None)
    if not isinstance(level, int):
        raise typer.BadParameter(f"unknown log level {log_level!r}", param_hint="--log-level")
    configure_json_logging(level)

    def announce(credential: InitialCredential) -> None:
        out_console.print(
            "\nFirst start: created the administrator account.\n"
            f"  username: {credential.username}\n"
            f"  password: {credential.password}\n"
            "This password is shown only now. Sign in and keep it somewhere safe.\n"
        )

    if not _is_loopback(api.host):
        log.warning(
            "listening on %s, reachable from the network; put a TLS proxy in front", api.host
        )
    service = create_app(
        settings,
        engine=Engine(settings, threshold=state.threshold),
        announce=announce,
        home_use=home_use,
        camera_host=CameraSupervisor(settings, threshold=state.threshold),
    )
    out_console.print(f"Watchkeeper console: http://{api.host}:{api.port}/  (Ctrl-C stops it)")
    server = uvicorn.Server(
        uvicorn.Config(
            service,
            host=api.host,
            port=api.port,
            log_config=None,
            access_log=False,
            server_header=False,
            lifespan="on",
            timeout_graceful_shutdown=int(api.graceful_shutdown_s),
        )
    )
    # uvicorn turns SIGINT and SIGTERM into a graceful shutdown: it stops accepting, lets
    # in-flight requests finish, then runs the app's lifespan shutdown (engine, stores).
    server.run()
    if not server.started:
        raise SystemExit(3)
