"""Cameras: manage them, see their state, and watch their live picture with overlays.

Changes need ``cameras.manage``; looking (list, state, picture) needs ``gallery.view``, as
sightings do. Each change is applied to the running cameras once it is committed. The live
picture shows faces, so the start of each viewing session is audited (not every frame): a
session is one user's viewing of one camera, ended by :data:`VIEW_SESSION_GAP_S` without a look.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import ValidationError

from watchkeeper.api.camera_schemas import (
    CameraIn,
    CameraOut,
    CameraPatch,
    CameraStatusOut,
    validation_text,
)
from watchkeeper.api.security import requires
from watchkeeper.api.state import engine_call, services_of
from watchkeeper.config.cameras import CameraSettings
from watchkeeper.core.errors import InvalidInputError, NotFoundError
from watchkeeper.governance.authz import Permission, Principal
from watchkeeper.service.cameras import (
    CameraChanges,
    CameraDraft,
    CameraHost,
    Cameras,
    CameraStatus,
    masked_source,
)
from watchkeeper.store.cameras import CameraRecord

router = APIRouter(prefix="/api", tags=["cameras"])

VIEW = Permission.GALLERY_VIEW
MANAGE = Permission.CAMERAS_MANAGE
VIEW_SESSION_GAP_S = 300.0
LIVE_MAX_FPS = 5.0
BOUNDARY = "watchkeeper-frame"


def cameras_of(request: Request) -> Cameras:
    return Cameras(services_of(request).engine)


def host_of(request: Request) -> CameraHost:
    return services_of(request).cameras


def status_out(status: CameraStatus, has_picture: bool) -> CameraStatusOut:
    return CameraStatusOut(
        camera_id=status.camera_id,
        state=status.state.value,
        frames=status.frames,
        fps=status.fps,
        faces_in_view=status.faces_in_view,
        last_error=status.last_error,
        updated_at=status.updated_at,
        has_picture=has_picture,
    )


def camera_out(record: CameraRecord, host: CameraHost) -> CameraOut:
    s = record.settings
    status = host.status(record.camera_id)
    return CameraOut(
        camera_id=record.camera_id,
        name=record.name,
        source=masked_source(s.source),
        kind=s.resolved_kind.value,
        fps_cap=s.fps_cap,
        detection_interval=s.detection_interval,
        watchlist=record.watchlist,
        purpose=record.purpose,
        enabled=record.enabled,
        loop=record.loop,
        owner=record.owner,
        counting=s.counting,
        created_at=record.created_at,
        updated_at=record.updated_at,
        status=status_out(status, host.snapshot(record.camera_id) is not None),
    )


def settings_from(body: CameraIn) -> CameraSettings:
    fields: dict[str, object] = {"camera_id": body.camera_id, "source": body.source}
    if body.kind is not None:
        fields["kind"] = body.kind
    if body.fps_cap is not None:
        fields["fps_cap"] = body.fps_cap
    if body.detection_interval is not None:
        fields["detection_interval"] = body.detection_interval
    if body.counting is not None:
        fields["counting"] = body.counting
    try:
        return CameraSettings.model_validate(fields)
    except ValidationError as exc:
        raise InvalidInputError(f"camera settings: {validation_text(exc)}") from None


def apply_running(request: Request, camera_id: str) -> None:
    """Make the running cameras match the store for ``camera_id`` (after a committed change)."""
    plan = engine_call(request, "camera_plan", lambda: cameras_of(request).plan(camera_id))
    plan.apply(host_of(request))


def add_camera(request: Request, principal: Principal, body: CameraIn) -> CameraRecord:
    draft = CameraDraft(
        settings=settings_from(body),
        name=body.name,
        watchlist=body.watchlist or None,
        purpose=body.purpose,
        enabled=body.enabled,
        loop=body.loop,
    )
    record = engine_call(request, "camera_add", lambda: cameras_of(request).add(principal, draft))
    apply_running(request, record.camera_id)
    return record


def change_camera(
    request: Request,
    principal: Principal,
    camera_id: str,
    changes: CameraChanges | Callable[[CameraRecord], CameraChanges],
) -> CameraRecord:
    """Edit a camera, then make the running cameras match.

    ``changes`` may be made from the camera as it is (a form that edits part of a setting),
    read in the same turn of the engine's gate as the edit, so no other edit comes between.
    """
    cams = cameras_of(request)

    def edit() -> CameraRecord:
        wanted = (
            changes
            if isinstance(changes, CameraChanges)
            else changes(cams.get(principal, camera_id))
        )
        return cams.update(principal, camera_id, wanted)

    record = engine_call(request, "camera_change", edit)
    apply_running(request, camera_id)
    return record


def remove_camera(request: Request, principal: Principal, camera_id: str) -> None:
    engine_call(request, "camera_remove", lambda: cameras_of(request).remove(principal, camera_id))
    apply_running(request, camera_id)


class ViewSessions:
    """Which (user, camera) live views were audited lately, so a session is audited once."""

    def __init__(self, gap_s: float = VIEW_SESSION_GAP_S) -> None:
        self.gap_s = gap_s
        self._last: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def needs_audit(self, username: str, camera_id: str) -> bool:
        now = time.monotonic()
        key = (username, camera_id)
        with self._lock:
            last = self._last.get(key)
            self._last[key] = now
            # Forget long-idle sessions so the table stays small.
            if len(self._last) > 1000:
                cutoff = now - self.gap_s
                self._last = {k: t for k, t in self._last.items() if t >= cutoff}
        return last is None or now - last > self.gap_s

    def forget(self, username: str, camera_id: str) -> None:
        with self._lock:
            self._last.pop((username, camera_id), None)


def view_sessions(request: Request) -> ViewSessions:
    sessions = getattr(request.app.state, "camera_view_sessions", None)
    if not isinstance(sessions, ViewSessions):
        sessions = ViewSessions()
        request.app.state.camera_view_sessions = sessions
    return sessions


def begin_view(request: Request, principal: Principal, camera_id: str) -> None:
    """Check the camera exists and the viewer may look; audit the start of a viewing session."""
    cams = cameras_of(request)
    if view_sessions(request).needs_audit(principal.username, camera_id):
        try:
            engine_call(
                request, "camera_live_view", lambda: cams.open_live_view(principal, camera_id)
            )
        except Exception:
            # Not audited means not a session: the next look tries again.
            view_sessions(request).forget(principal.username, camera_id)
            raise
    else:
        engine_call(request, "camera_get", lambda: cams.get(principal, camera_id))


@router.get("/cameras", response_model=list[CameraOut])
def list_cameras(
    request: Request, principal: Annotated[Principal, requires(VIEW)]
) -> list[CameraOut]:
    """Every camera with its state; stream passwords are masked."""
    found = engine_call(
        request, "cameras_list", lambda: cameras_of(request).list_cameras(principal)
    )
    host = host_of(request)
    return [camera_out(c, host) for c in found]


@router.post("/cameras", response_model=CameraOut, status_code=201)
def create_camera(
    request: Request, principal: Annotated[Principal, requires(MANAGE)], body: CameraIn
) -> CameraOut:
    """Add a camera (audited); enabled, it starts at once. A watchlist needs a purpose."""
    return camera_out(add_camera(request, principal, body), host_of(request))


@router.get("/cameras/{camera_id}", response_model=CameraOut)
def get_camera(
    request: Request, camera_id: str, principal: Annotated[Principal, requires(VIEW)]
) -> CameraOut:
    record = engine_call(
        request, "camera_get", lambda: cameras_of(request).get(principal, camera_id)
    )
    return camera_out(record, host_of(request))


@router.patch("/cameras/{camera_id}", response_model=CameraOut)
def patch_camera(
    request: Request,
    camera_id: str,
    principal: Annotated[Principal, requires(MANAGE)],
    body: CameraPatch,
) -> CameraOut:
    """Edit a camera (audited); a running camera restarts with the new settings.

    ``counting`` replaces the camera's counting settings whole; ``"counting": null`` turns
    counting off."""
    changes = CameraChanges(
        name=body.name,
        source=body.source,
        fps_cap=body.fps_cap,
        detection_interval=body.detection_interval,
        watchlist=body.watchlist or None,
        clear_watchlist=body.watchlist == "",
        purpose=body.purpose,
        enabled=body.enabled,
        loop=body.loop,
        counting=body.counting,
        clear_counting=body.counting_off,
    )
    return camera_out(change_camera(request, principal, camera_id, changes), host_of(request))


@router.delete("/cameras/{camera_id}", status_code=204)
def delete_camera(
    request: Request, camera_id: str, principal: Annotated[Principal, requires(MANAGE)]
) -> Response:
    """Remove a camera (audited) and stop it; its sightings stay until their retention ends."""
    remove_camera(request, principal, camera_id)
    return Response(status_code=204)


@router.get("/cameras/{camera_id}/status", response_model=CameraStatusOut)
def camera_status(
    request: Request, camera_id: str, principal: Annotated[Principal, requires(VIEW)]
) -> CameraStatusOut:
    engine_call(request, "camera_get", lambda: cameras_of(request).get(principal, camera_id))
    host = host_of(request)
    return status_out(host.status(camera_id), host.snapshot(camera_id) is not None)


@router.get(
    "/cameras/{camera_id}/snapshot.jpg",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
)
def camera_snapshot(
    request: Request, camera_id: str, principal: Annotated[Principal, requires(VIEW)]
) -> Response:
    """The newest overlaid picture (JPEG); the first look of a viewing session is audited."""
    begin_view(request, principal, camera_id)
    frame = host_of(request).snapshot(camera_id)
    if frame is None:
        state = host_of(request).status(camera_id).state.value
        raise NotFoundError(f"camera {camera_id!r} has no picture yet (it is {state})")
    return Response(frame.jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@router.get(
    "/cameras/{camera_id}/live",
    response_class=StreamingResponse,
    responses={200: {"content": {f"multipart/x-mixed-replace; boundary={BOUNDARY}": {}}}},
)
def camera_live(
    request: Request,
    camera_id: str,
    principal: Annotated[Principal, requires(VIEW)],
    fps: Annotated[float, Query(gt=0, le=LIVE_MAX_FPS)] = LIVE_MAX_FPS,
    frames: Annotated[int | None, Query(ge=1, le=100_000, description="Stop after N.")] = None,
) -> StreamingResponse:
    """The live picture as MJPEG (``multipart/x-mixed-replace``), at most 5 pictures a second.

    Opening the stream starts a viewing session (audited)."""
    begin_view(request, principal, camera_id)
    host = host_of(request)
    return StreamingResponse(
        mjpeg(host, camera_id, fps, frames),
        media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
        headers={"Cache-Control": "no-store"},
    )


def mjpeg(host: CameraHost, camera_id: str, fps: float, frames: int | None) -> Iterator[bytes]:
    """Parts of the MJPEG stream: each new picture once, no faster than ``fps``."""
    seq, sent = 0, 0
    interval_s = 1.0 / fps
    while frames is None or sent < frames:
        started = time.monotonic()
        frame = host.wait_frame(camera_id, seq, timeout_s=2.0)
        if frame is None:
            # Nothing new: an empty preamble-free chunk keeps the connection checked for life.
            yield b""
            continue
        seq = frame.seq
        sent += 1
        head = (
            f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(frame.jpeg)}\r\n\r\n"
        ).encode("ascii")
        yield head + frame.jpeg + b"\r\n"
        rest_s = interval_s - (time.monotonic() - started)
        if rest_s > 0:
            time.sleep(rest_s)
