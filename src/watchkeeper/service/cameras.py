"""Managing the cameras the service runs: add, edit, remove, list, and the live-view record.

Every change is a governed transaction (``cameras.manage``, audited with the change). Looking at
cameras (the list, a camera's state, its live picture and sightings timeline) needs
``gallery.view``, the permission that already guards sightings: the live picture shows faces
with candidate names, so opening it is a biometric view and is audited once per session.

Stream URLs may carry a password. It never leaves this module unmasked except to the camera
worker that opens the stream: lists, audit records and logs carry :func:`masked_source`.

Example::

    cams = Cameras(engine)
    cams.add(olga, CameraDraft(CameraSettings(camera_id="door", source="door.mp4"), "Door"))
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

from pydantic import ValidationError

from watchkeeper.config.cameras import CameraSettings, SourceKind
from watchkeeper.config.counting import CountingSettings
from watchkeeper.core.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from watchkeeper.governance.audit import AuditAction
from watchkeeper.governance.authz import Permission, Principal
from watchkeeper.governance.policy import check_text, validate_free_text
from watchkeeper.service.engine import Engine, validate_purpose
from watchkeeper.service.site import Act
from watchkeeper.sources.stream import redact_url
from watchkeeper.store.cameras import CameraRecord, CameraStore
from watchkeeper.store.sightings import SightingRecord

__all__ = [
    "CAMERA_ADD",
    "CAMERA_CHANGE",
    "CAMERA_LIVE_VIEW",
    "CAMERA_REMOVE",
    "CameraChanges",
    "CameraDraft",
    "CameraHost",
    "CameraPlan",
    "CameraState",
    "CameraStatus",
    "Cameras",
    "LiveFrame",
    "NoCameraHost",
    "masked_source",
]

log = logging.getLogger(__name__)

CAMERA_ADD = "camera.add"
CAMERA_CHANGE = "camera.change"
CAMERA_REMOVE = "camera.remove"
CAMERA_LIVE_VIEW = "camera.live_view"
VIEW_PERMISSION = Permission.GALLERY_VIEW
MAX_NAME = 100


class CameraState(StrEnum):
    """Where a camera's worker is."""

    STARTING = "starting"
    RUNNING = "running"
    RECONNECTING = "reconnecting"
    STOPPED = "stopped"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class CameraStatus:
    """A camera's health as its worker last reported it.

    ``frames`` counts from the worker's latest start; ``reconnects`` (times the stream was
    lost and reopened) and ``failures`` (times the camera failed) count since the service
    started, kept by the host across restarts.
    """

    camera_id: str
    state: CameraState
    frames: int = 0
    fps: float = 0.0
    faces_in_view: int = 0
    last_error: str | None = None
    updated_at: datetime = dataclasses.field(default_factory=lambda: datetime.now(UTC))
    reconnects: int = 0
    failures: int = 0


@dataclass(frozen=True, slots=True)
class LiveFrame:
    """The newest overlaid picture of a camera; ``seq`` grows with every new picture."""

    camera_id: str
    seq: int
    jpeg: bytes
    width_px: int
    height_px: int
    at: datetime


class CameraHost(Protocol):
    """What runs the cameras for the service (``watchkeeper.runtime.cameras.CameraSupervisor``).

    A Protocol here, in the service layer, because the API may not import the runtime layer:
    ``watchkeeper serve`` hands the runtime's supervisor to the app.
    """

    def start(self, camera: CameraRecord, watcher: Principal) -> None: ...

    def mark_failed(self, camera_id: str, reason: str) -> None: ...

    def stop(self, camera_id: str, timeout_s: float = 15.0) -> None: ...

    def forget(self, camera_id: str) -> None: ...

    def stop_all(self, timeout_s: float = 15.0) -> None: ...

    def status(self, camera_id: str) -> CameraStatus: ...

    def snapshot(self, camera_id: str) -> LiveFrame | None: ...

    def wait_frame(self, camera_id: str, after_seq: int, timeout_s: float) -> LiveFrame | None: ...

    def statuses(self) -> list[CameraStatus]:
        """The status of every camera the host knows (started, stopped or failed)."""
        ...


NOT_RUNNING = "cameras do not run in this process (start the service with `watchkeeper serve`)"


class NoCameraHost:
    """The host of an app built without a camera runner: every camera shows as not running."""

    def start(self, camera: CameraRecord, watcher: Principal) -> None:
        self.mark_failed(camera.camera_id, NOT_RUNNING)

    def mark_failed(self, camera_id: str, reason: str) -> None:
        log.info("camera %s not started: %s", camera_id, reason)

    def stop(self, camera_id: str, timeout_s: float = 15.0) -> None:
        return None

    def forget(self, camera_id: str) -> None:
        return None

    def stop_all(self, timeout_s: float = 15.0) -> None:
        return None

    def status(self, camera_id: str) -> CameraStatus:
        return CameraStatus(camera_id, CameraState.STOPPED, last_error=NOT_RUNNING)

    def snapshot(self, camera_id: str) -> LiveFrame | None:
        return None

    def wait_frame(self, camera_id: str, after_seq: int, timeout_s: float) -> LiveFrame | None:
        return None

    def statuses(self) -> list[CameraStatus]:
        return []


@dataclass(frozen=True, slots=True)
class CameraPlan:
    """What should run for one camera now: read under the engine's gate, applied outside it."""

    camera_id: str
    record: CameraRecord | None
    watcher: Principal | None = None
    refusal: str | None = None

    def apply(self, host: CameraHost) -> None:
        """Start, restart, stop or forget the camera's worker to match the store."""
        if self.record is None:
            host.forget(self.camera_id)
        elif not self.record.enabled:
            host.stop(self.camera_id)
        elif self.watcher is None:
            host.stop(self.camera_id)
            host.mark_failed(self.camera_id, self.refusal or "no one may run this camera")
        else:
            host.start(self.record, self.watcher)


def masked_source(source: str) -> str:
    """The source as it may be shown: any ``user:password@`` of a URL replaced by ``***@``.

    >>> masked_source("rtsp://admin:secret@10.0.0.5/live")
    'rtsp://***@10.0.0.5/live'
    """
    return redact_url(source)


@dataclass(frozen=True, slots=True)
class CameraDraft:
    """A camera to add: its validated settings and what it is watched for."""

    settings: CameraSettings
    name: str
    watchlist: str | None = None
    purpose: str = ""
    enabled: bool = True
    loop: bool = False


@dataclass(frozen=True, slots=True)
class CameraChanges:
    """An edit: ``None`` leaves a field as it is; ``clear_watchlist`` turns recognition off and
    ``clear_counting`` turns counting off."""

    name: str | None = None
    source: str | None = None
    fps_cap: float | None = None
    detection_interval: int | None = None
    watchlist: str | None = None
    clear_watchlist: bool = False
    purpose: str | None = None
    enabled: bool | None = None
    loop: bool | None = None
    counting: CountingSettings | None = None
    clear_counting: bool = False


def _target(camera_id: str) -> str:
    return f"camera:{camera_id}"


class Cameras:
    """Camera use-cases over one engine's site."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.site = engine.site

    @property
    def _store(self) -> CameraStore:
        return CameraStore(self.site.store)

    # -- reads -------------------------------------------------------------------------------
    def list_cameras(self, principal: Principal) -> list[CameraRecord]:
        """Every camera (no faces in it, so not audited; refusals are)."""
        self.site.check(principal, VIEW_PERMISSION, "camera.list", "cameras")
        return self._store.all()

    def get(self, principal: Principal, camera_id: str) -> CameraRecord:
        self.site.check(principal, VIEW_PERMISSION, "camera.get", _target(camera_id))
        return self._store.get(camera_id)

    def enabled(self) -> list[CameraRecord]:
        """Cameras to run (for the service's supervisor; no principal: nothing is shown)."""
        return [c for c in self._store.all() if c.enabled]

    def find(self, camera_id: str) -> CameraRecord | None:
        """The camera or None (for the supervisor)."""
        return self._store.find(camera_id)

    def plan(self, camera_id: str) -> CameraPlan:
        """What should run for ``camera_id`` (the system's view: no principal, nothing shown)."""
        record = self._store.find(camera_id)
        if record is None or not record.enabled:
            return CameraPlan(camera_id, record)
        try:
            return CameraPlan(camera_id, record, self.watcher(record))
        except PermissionDeniedError as exc:
            return CameraPlan(camera_id, record, None, str(exc))

    def plans(self) -> list[CameraPlan]:
        """Plans for every enabled camera (at service start)."""
        return [self.plan(c.camera_id) for c in self.enabled()]

    def open_live_view(self, principal: Principal, camera_id: str) -> CameraRecord:
        """Record the start of a live-view session (a view of faces; frames are not audited)."""
        with self.site.act(
            principal,
            CAMERA_LIVE_VIEW,
            _target(camera_id),
            permission=VIEW_PERMISSION,
            purpose="live view",
        ) as act:
            camera = self._store.get(camera_id, act.conn)
            act.record(
                action=AuditAction.BIOMETRIC_VIEW.value,
                details={"view": "live", "watchlist": camera.watchlist or "-"},
            )
            return camera

    def timeline(
        self, principal: Principal, camera_id: str, limit: int = 500
    ) -> list[SightingRecord]:
        """The camera's sightings, oldest first (the sightings read is audited as usual)."""
        self.get(principal, camera_id)
        found = self.engine.video.list_sightings(principal, camera_id=camera_id, limit=limit)
        return sorted(found, key=lambda s: (s.first_seen_at, s.track_id))

    def watcher(self, camera: CameraRecord) -> Principal:
        """The person on whose behalf the camera runs: its owner, still enabled and allowed."""
        users = self.site.users()
        try:
            owner = users.get(camera.owner)
        except NotFoundError:
            raise PermissionDeniedError(
                f"camera {camera.camera_id!r}: its owner {camera.owner!r} no longer exists; "
                "someone with cameras.manage must enable it again"
            ) from None
        if not users.is_enabled(owner.user_id) or not owner.can(Permission.CAMERAS_MANAGE):
            raise PermissionDeniedError(
                f"camera {camera.camera_id!r}: its owner {camera.owner!r} may no longer run "
                "cameras; someone with cameras.manage must enable it again"
            )
        return owner

    # -- changes -----------------------------------------------------------------------------
    def add(self, principal: Principal, draft: CameraDraft) -> CameraRecord:
        """Add a camera (audited); with a watchlist it must be active and have a purpose."""
        camera_id = draft.settings.camera_id
        with self.site.act(
            principal,
            CAMERA_ADD,
            _target(camera_id),
            permission=Permission.CAMERAS_MANAGE,
            watchlist=draft.watchlist,
            purpose=draft.purpose,
        ) as act:
            if self._store.find(camera_id, act.conn) is not None:
                raise InvalidInputError(f"there is already a camera {camera_id!r}")
            record = CameraRecord(
                settings=draft.settings,
                name=_name(draft.name),
                watchlist=draft.watchlist,
                purpose=draft.purpose,
                enabled=draft.enabled,
                loop=draft.loop,
                owner=principal.username,
                created_at=act.at,
                updated_at=act.at,
            )
            record = self._checked(act, record)
            self._store.put(act.conn, record)
            act.record(details=_details(record))
        log.info("camera %s added (%s)", camera_id, masked_source(record.settings.source))
        return record

    def update(self, principal: Principal, camera_id: str, changes: CameraChanges) -> CameraRecord:
        """Edit a camera (audited); whoever enables it becomes the person it runs for."""
        with self.site.act(
            principal,
            CAMERA_CHANGE,
            _target(camera_id),
            permission=Permission.CAMERAS_MANAGE,
            watchlist=changes.watchlist,
            purpose=changes.purpose or "",
        ) as act:
            old = self._store.get(camera_id, act.conn)
            record = self._changed(old, changes, principal, act)
            record = self._checked(act, record)
            self._store.put(act.conn, record)
            details = _details(record)
            details["changed"] = ",".join(_changed_fields(old, record)) or "-"
            act.record(details=details, watchlist=record.watchlist)
        log.info("camera %s changed", camera_id)
        return record

    def remove(self, principal: Principal, camera_id: str) -> CameraRecord:
        """Remove a camera (audited); its sightings stay until their retention ends."""
        with self.site.act(
            principal,
            CAMERA_REMOVE,
            _target(camera_id),
            permission=Permission.CAMERAS_MANAGE,
        ) as act:
            old = self._store.get(camera_id, act.conn)
            self._store.delete(act.conn, camera_id)
            act.record(details=_details(old), watchlist=old.watchlist)
        log.info("camera %s removed", camera_id)
        return old

    # -- helpers -----------------------------------------------------------------------------
    def _changed(
        self, old: CameraRecord, changes: CameraChanges, principal: Principal, act: Act
    ) -> CameraRecord:
        settings = old.settings
        update: dict[str, object] = {}
        if changes.source is not None:
            update["source"] = changes.source
            # A new source may be another kind of thing: guess again unless it was said.
            update["kind"] = None
        if changes.fps_cap is not None:
            update["fps_cap"] = changes.fps_cap
        if changes.detection_interval is not None:
            update["detection_interval"] = changes.detection_interval
        if changes.clear_counting:
            update["counting"] = None
        elif changes.counting is not None:
            update["counting"] = changes.counting
        if update:
            try:
                settings = CameraSettings.model_validate({**settings.model_dump(), **update})
            except ValidationError as exc:
                raise InvalidInputError(f"camera settings: {_first_error(exc)}") from None
        watchlist = old.watchlist
        if changes.clear_watchlist:
            watchlist = None
        elif changes.watchlist is not None:
            watchlist = changes.watchlist
        enabled = old.enabled if changes.enabled is None else changes.enabled
        owner = principal.username if (enabled and not old.enabled) else old.owner
        return CameraRecord(
            settings=settings,
            name=old.name if changes.name is None else _name(changes.name),
            watchlist=watchlist,
            purpose=old.purpose if changes.purpose is None else changes.purpose,
            enabled=enabled,
            loop=old.loop if changes.loop is None else changes.loop,
            owner=owner,
            created_at=old.created_at,
            updated_at=act.at,
        )

    def _checked(self, act: Act, record: CameraRecord) -> CameraRecord:
        """Purpose and watchlist rules: a watchlist needs a stated purpose and must be active."""
        purpose = record.purpose.strip()
        if record.watchlist is not None:
            purpose = validate_purpose(purpose)
            found = self.site.active_watchlist(record.watchlist, act.at)
            self.engine.contract.require_same(found.contract_id)
        elif purpose:
            purpose = validate_free_text(purpose, "purpose", 500)
            check_text(purpose)
        if record.settings.resolved_kind is SourceKind.WEBCAM and record.loop:
            raise InvalidInputError("a webcam cannot loop; loop is for video files")
        if purpose == record.purpose:
            return record
        return CameraRecord(
            settings=record.settings,
            name=record.name,
            watchlist=record.watchlist,
            purpose=purpose,
            enabled=record.enabled,
            loop=record.loop,
            owner=record.owner,
            created_at=record.created_at,
            updated_at=record.updated_at,
        )


def _name(value: str) -> str:
    text = validate_free_text(value, "camera name", MAX_NAME)
    check_text(text)
    return text


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ())) or "settings"
    return f"{where}: {err.get('msg', 'invalid')}"


def _details(record: CameraRecord) -> dict[str, object]:
    return {
        "name": record.name,
        "source": masked_source(record.settings.source),
        "kind": record.settings.resolved_kind.value,
        "enabled": int(record.enabled),
        "recognition": int(record.watchlist is not None),
        "counting": counting_summary(record.settings.counting),
    }


def counting_summary(counting: CountingSettings | None) -> str:
    """A camera's counting in a few words, for audit records and lists.

    >>> counting_summary(None)
    'off'
    """
    if counting is None:
        return "off"
    return f"{len(counting.lines)} line(s), {len(counting.zones)} zone(s): " + ", ".join(
        counting.classes
    )


def _changed_fields(old: CameraRecord, new: CameraRecord) -> list[str]:
    out = []
    for name in ("name", "watchlist", "purpose", "enabled", "loop"):
        if getattr(old, name) != getattr(new, name):
            out.append(name)
    for name in ("source", "fps_cap", "detection_interval", "counting"):
        if getattr(old.settings, name) != getattr(new.settings, name):
            out.append(name)
    return out
