"""Console pages for cameras: the list with add/edit/enable/disable/remove, and a camera's page
with its live picture and sightings timeline. Thin adapters over the same use-cases as the JSON
routes in :mod:`watchkeeper.api.routers.cameras`."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Annotated, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from watchkeeper.api.camera_schemas import CameraIn, validation_text
from watchkeeper.api.routers.cameras import (
    MANAGE,
    VIEW,
    add_camera,
    camera_out,
    cameras_of,
    change_camera,
    host_of,
    remove_camera,
)
from watchkeeper.api.routers.console import page
from watchkeeper.api.routers.console_governed import redirect_back, refusal_of
from watchkeeper.api.security import requires
from watchkeeper.api.state import engine_call
from watchkeeper.config.counting import CountingLine, CountingSettings, CountingZone
from watchkeeper.core.errors import ConfigError, InvalidInputError
from watchkeeper.governance.authz import Principal
from watchkeeper.service.cameras import CameraChanges
from watchkeeper.store.cameras import CameraRecord
from watchkeeper.store.sightings import SightingRecord

router = APIRouter(include_in_schema=False)
T = TypeVar("T")

# Counting places are typed as short specs, one a row (the command line's --line / --zone).
MAX_COUNTING_TEXT = 5000
CountingText = Annotated[str, Form(max_length=MAX_COUNTING_TEXT)]


def counting_from_form(
    lines_text: str, zones_text: str, classes_text: str, current: CountingSettings | None
) -> CountingSettings | None:
    """Counting settings from the console's form; None (counting off) with no line or zone.

    Lines read ``x1,y1,x2,y2:name[:left|right]`` and zones ``x,y;x,y;x,y:name[:loiter s]``,
    one a row. What the form does not show (detector size, confidence...) is kept from
    ``current``; empty classes keep the current ones (or the default).
    """
    line_specs = [row for row in lines_text.splitlines() if row.strip()]
    zone_specs = [row for row in zones_text.splitlines() if row.strip()]
    if not line_specs and not zone_specs:
        return None
    try:
        lines = tuple(
            CountingLine.from_spec(spec, f"line{i + 1}") for i, spec in enumerate(line_specs)
        )
        zones = tuple(
            CountingZone.from_spec(spec, f"zone{i + 1}") for i, spec in enumerate(zone_specs)
        )
    except ConfigError as exc:
        raise InvalidInputError(f"counting: {exc}") from None
    fields: dict[str, object] = {
        **(current or CountingSettings()).model_dump(),
        "lines": lines,
        "zones": zones,
    }
    classes = tuple(c.strip() for c in classes_text.split(",") if c.strip())
    if classes:
        fields["classes"] = classes
    try:
        return CountingSettings.model_validate(fields)
    except ValidationError as exc:
        raise InvalidInputError(f"counting: {validation_text(exc)}") from None


@dataclass(frozen=True, slots=True)
class HourGroup:
    label: str
    sightings: tuple[SightingRecord, ...]


@dataclass(frozen=True, slots=True)
class DayGroup:
    label: str
    hours: tuple[HourGroup, ...]
    count: int


def timeline_groups(sightings: list[SightingRecord]) -> list[DayGroup]:
    """Sightings (oldest first) grouped by UTC day, then hour, keeping their order."""
    days: dict[str, dict[str, list[SightingRecord]]] = {}
    for s in sightings:
        day = s.first_seen_at.strftime("%A %d %B %Y")
        hour = s.first_seen_at.strftime("%H:00–%H:59 UTC")
        days.setdefault(day, {}).setdefault(hour, []).append(s)
    return [
        DayGroup(
            day,
            tuple(HourGroup(h, tuple(rows)) for h, rows in hours.items()),
            sum(len(rows) for rows in hours.values()),
        )
        for day, hours in days.items()
    ]


def _list_page(
    request: Request, principal: Principal, status: int = 200, **context: object
) -> HTMLResponse:
    found = engine_call(
        request, "cameras_list", lambda: cameras_of(request).list_cameras(principal)
    )
    host = host_of(request)
    return page(
        "cameras.html",
        "Cameras",
        principal,
        status_code=status,
        active="cameras",
        cameras=[camera_out(c, host) for c in found],
        notice=request.query_params.get("notice", ""),
        **{"error": "", "form": {}, **context},
    )


@router.get("/cameras")
def cameras_page(request: Request, principal: Annotated[Principal, requires(VIEW)]) -> HTMLResponse:
    return _list_page(request, principal)


@router.post("/cameras")
def cameras_add(
    request: Request,
    principal: Annotated[Principal, requires(MANAGE)],
    camera_id: Annotated[str, Form(max_length=64)],
    name: Annotated[str, Form(max_length=100)],
    source: Annotated[str, Form(max_length=2000)],
    watchlist: Annotated[str, Form(max_length=64)] = "",
    purpose: Annotated[str, Form(max_length=500)] = "",
    fps_cap: Annotated[str, Form(max_length=10)] = "",
    loop: Annotated[str, Form(max_length=5)] = "",
    counting_lines: CountingText = "",
    counting_zones: CountingText = "",
    counting_classes: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    form = {
        "camera_id": camera_id,
        "name": name,
        "watchlist": watchlist,
        "purpose": purpose,
        "counting_lines": counting_lines,
        "counting_zones": counting_zones,
        "counting_classes": counting_classes,
    }

    def add() -> object:
        counting = counting_from_form(counting_lines, counting_zones, counting_classes, None)
        try:
            body = CameraIn(
                camera_id=camera_id.strip(),
                name=name.strip(),
                source=source.strip(),
                watchlist=watchlist.strip() or None,
                purpose=purpose.strip(),
                fps_cap=float(fps_cap) if fps_cap.strip() else None,
                loop=bool(loop),
                counting=counting,
            )
        except ValidationError as exc:
            raise InvalidInputError(f"camera: {validation_text(exc)}") from None
        except ValueError:
            raise InvalidInputError("the frame-rate cap must be a number") from None
        return add_camera(request, principal, body)

    added, error, status = refusal_of(add)
    if added is None:
        # The source is not echoed back: it may hold a password.
        return _list_page(request, principal, status, error=error, form=form)
    return redirect_back(f"/cameras/{quote(camera_id.strip())}", f"Camera {camera_id} added.")


@router.post("/cameras/{camera_id}/edit")
def cameras_edit(
    request: Request,
    camera_id: str,
    principal: Annotated[Principal, requires(MANAGE)],
    name: Annotated[str, Form(max_length=100)] = "",
    source: Annotated[str, Form(max_length=2000)] = "",
    watchlist: Annotated[str, Form(max_length=64)] = "",
    purpose: Annotated[str, Form(max_length=500)] = "",
    counting_form: Annotated[str, Form(max_length=5)] = "",
    counting_lines: CountingText = "",
    counting_zones: CountingText = "",
    counting_classes: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    changes = CameraChanges(
        name=name.strip() or None,
        # An empty source field keeps the stored one (which the page never shows in full).
        source=source.strip() or None,
        watchlist=watchlist.strip() or None,
        clear_watchlist=not watchlist.strip(),
        purpose=purpose.strip(),
    )

    def with_counting(camera: CameraRecord) -> CameraChanges:
        # Only a form that showed the counting fields changes counting (empty rows: off).
        if not counting_form:
            return changes
        counting = counting_from_form(
            counting_lines, counting_zones, counting_classes, camera.settings.counting
        )
        return replace(changes, counting=counting, clear_counting=counting is None)

    done, error, status = refusal_of(
        lambda: change_camera(request, principal, camera_id, with_counting)
    )
    if done is None:
        return _list_page(request, principal, status, error=error)
    return redirect_back(f"/cameras/{quote(camera_id)}", f"Camera {camera_id} saved.")


@router.post("/cameras/{camera_id}/enable")
def cameras_enable(
    request: Request, camera_id: str, principal: Annotated[Principal, requires(MANAGE)]
) -> Response:
    return _switch(request, principal, camera_id, True)


@router.post("/cameras/{camera_id}/disable")
def cameras_disable(
    request: Request, camera_id: str, principal: Annotated[Principal, requires(MANAGE)]
) -> Response:
    return _switch(request, principal, camera_id, False)


def _switch(request: Request, principal: Principal, camera_id: str, on: bool) -> Response:
    done, error, status = refusal_of(
        lambda: change_camera(request, principal, camera_id, CameraChanges(enabled=on)),
    )
    if done is None:
        return _list_page(request, principal, status, error=error)
    return redirect_back("/cameras", f"Camera {camera_id} {'enabled' if on else 'disabled'}.")


@router.post("/cameras/{camera_id}/remove")
def cameras_remove(
    request: Request, camera_id: str, principal: Annotated[Principal, requires(MANAGE)]
) -> Response:
    def remove() -> bool:
        remove_camera(request, principal, camera_id)
        return True

    done, error, status = refusal_of(remove)
    if done is None:
        return _list_page(request, principal, status, error=error)
    return redirect_back("/cameras", f"Camera {camera_id} removed; its sightings stay.")


@router.get("/cameras/{camera_id}")
def camera_page(
    request: Request, camera_id: str, principal: Annotated[Principal, requires(VIEW)]
) -> HTMLResponse:
    cams = cameras_of(request)
    record = engine_call(request, "camera_get", lambda: cams.get(principal, camera_id))
    sightings = engine_call(request, "camera_timeline", lambda: cams.timeline(principal, camera_id))
    return page(
        "camera.html",
        f"Camera {record.name}",
        principal,
        active="cameras",
        camera=camera_out(record, host_of(request)),
        timeline=timeline_groups(sightings),
        sightings=len(sightings),
        notice=request.query_params.get("notice", ""),
    )
