"""Camera routes: every route and refusal, masked passwords, the live picture, console pages."""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.api.conftest import PASSWORD, Service
from tests.unit.runtime.test_camera_supervisor import write_clip
from watchkeeper.governance.authz import Principal
from watchkeeper.runtime.cameras import CameraSupervisor
from watchkeeper.service.cameras import NoCameraHost
from watchkeeper.store.cameras import CameraRecord

PROBLEM = "application/problem+json"
HTML = {"accept": "text/html"}
SECRET_URL = "rtsp://admin:hunter2secret@10.0.0.5:554/live"
WAIT_S = 60.0


@pytest.fixture
def cams(service: Service) -> Iterator[Service]:
    """The service with a real camera supervisor (what ``watchkeeper serve`` gives it)."""
    supervisor = CameraSupervisor(service.settings, threshold=0.9)
    service.app.state.services.cameras = supervisor
    try:
        yield service
    finally:
        supervisor.stop_all()


def _add(service: Service, body: dict[str, object], user: str = "olive") -> object:
    return service.client.post("/api/cameras", json=body, headers=service.headers(user))


def _audit(service: Service) -> list[tuple[str, str, str, str]]:
    rows = service.engine.store.conn.execute(
        "SELECT action, target, outcome, details FROM audit_log ORDER BY seq"
    )
    return [tuple(r) for r in rows]  # type: ignore[misc]


def _wait_picture(service: Service, camera_id: str) -> dict[str, object]:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        status = service.client.get(
            f"/api/cameras/{camera_id}/status", headers=service.headers("olive")
        ).json()
        if status["has_picture"]:
            return dict(status)
        time.sleep(0.2)
    pytest.fail(f"no picture from {camera_id}")


def test_add_list_get_edit_remove_with_the_password_masked(cams: Service) -> None:
    added = _add(
        cams, {"camera_id": "gate", "name": "Gate", "source": SECRET_URL, "enabled": False}
    )
    assert added.status_code == 201, added.text  # type: ignore[attr-defined]
    body = added.json()  # type: ignore[attr-defined]
    assert body["source"] == "rtsp://***@10.0.0.5:554/live" and body["kind"] == "stream"
    assert body["owner"] == "olive" and body["status"]["state"] == "stopped"
    listed = cams.client.get("/api/cameras", headers=cams.headers("rita"))
    assert [c["camera_id"] for c in listed.json()] == ["gate"]
    assert "hunter2secret" not in listed.text
    one = cams.client.get("/api/cameras/gate", headers=cams.headers("ivan"))
    assert one.status_code == 200 and one.json()["name"] == "Gate"
    patched = cams.client.patch(
        "/api/cameras/gate", json={"name": "North gate"}, headers=cams.headers("olive")
    )
    assert patched.status_code == 200 and patched.json()["name"] == "North gate"
    gone = cams.client.delete("/api/cameras/gate", headers=cams.headers("olive"))
    assert gone.status_code == 204
    assert cams.client.get("/api/cameras", headers=cams.headers("olive")).json() == []
    actions = [a for a, *_ in _audit(cams) if a.startswith("camera.")]
    assert actions == ["camera.add", "camera.change", "camera.remove"]
    assert "hunter2secret" not in json.dumps(_audit(cams))


ROUTES = [
    ("GET", "/api/cameras"),
    ("POST", "/api/cameras"),
    ("GET", "/api/cameras/door"),
    ("PATCH", "/api/cameras/door"),
    ("DELETE", "/api/cameras/door"),
    ("GET", "/api/cameras/door/status"),
    ("GET", "/api/cameras/door/snapshot.jpg"),
    ("GET", "/api/cameras/door/live"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_needs_a_token(cams: Service, method: str, path: str) -> None:
    response = cams.client.request(method, path, json={} if method in {"POST", "PATCH"} else None)
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_wrong_roles_are_refused(cams: Service, method: str, path: str) -> None:
    _add(cams, {"camera_id": "door", "name": "Door", "source": "door.mp4", "enabled": False})
    # The auditor holds neither right; the reviewer may look but not change.
    who = "audrey" if method == "GET" else "rita"
    body = {"camera_id": "x", "name": "X", "source": "x.mp4"} if method == "POST" else {}
    response = cams.client.request(
        method, path, json=body if method in {"POST", "PATCH"} else None, headers=cams.headers(who)
    )
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == PROBLEM


@pytest.mark.parametrize(("method", "path"), [r for r in ROUTES if "/door" in r[1]])
def test_unknown_cameras_are_404(cams: Service, method: str, path: str) -> None:
    response = cams.client.request(
        method,
        path,
        json={"name": "x"} if method == "PATCH" else None,
        headers=cams.headers("olive"),
    )
    assert response.status_code == 404, response.text
    assert response.headers["content-type"] == PROBLEM


def test_bad_input_and_protected_attributes_are_refused(cams: Service) -> None:
    bad_id = _add(cams, {"camera_id": "a b", "name": "A", "source": "a.mp4"})
    assert bad_id.status_code == 400 and bad_id.headers["content-type"] == PROBLEM  # type: ignore[attr-defined]
    policy = _add(cams, {"camera_id": "a", "name": "Race detector", "source": "a.mp4"})
    assert policy.status_code == 403 and "policy" in policy.json()["type"]  # type: ignore[attr-defined]
    no_purpose = _add(cams, {"camera_id": "a", "name": "A", "source": "a.mp4", "watchlist": "x"})
    assert no_purpose.status_code == 400  # type: ignore[attr-defined]
    assert cams.client.get("/api/cameras", headers=cams.headers("olive")).json() == []


def test_a_running_camera_serves_snapshots_and_mjpeg_and_audits_the_view_once(
    cams: Service, tmp_path: Path
) -> None:
    from PIL import Image

    clip = write_clip(tmp_path / "door.avi")
    added = _add(cams, {"camera_id": "door", "name": "Door", "source": str(clip), "loop": True})
    assert added.status_code == 201  # type: ignore[attr-defined]
    status = _wait_picture(cams, "door")
    assert status["state"] == "running"
    # The supervisor's report is on /metrics too.
    scraped = cams.client.get("/metrics", headers=cams.headers("adam")).text
    assert 'watchkeeper_camera_state{camera="door",state="running"} 1.0' in scraped
    frames = re.search(r'watchkeeper_camera_frames_total\{camera="door"\} (\S+)', scraped)
    assert frames is not None and float(frames.group(1)) >= 1
    snap = cams.client.get("/api/cameras/door/snapshot.jpg", headers=cams.headers("rita"))
    assert snap.status_code == 200 and snap.headers["content-type"] == "image/jpeg"
    picture = np.asarray(Image.open(io.BytesIO(snap.content)).convert("RGB"))
    assert picture.shape == (96, 96, 3) and picture.std() > 10
    live = cams.client.get("/api/cameras/door/live?frames=2", headers=cams.headers("rita"))
    assert live.status_code == 200
    assert live.headers["content-type"].startswith("multipart/x-mixed-replace; boundary=")
    parts = [p for p in live.content.split(b"--watchkeeper-frame\r\n") if p]
    assert len(parts) == 2
    for part in parts:
        head, _, jpeg = part.partition(b"\r\n\r\n")
        assert b"Content-Type: image/jpeg" in head
        assert Image.open(io.BytesIO(jpeg.removesuffix(b"\r\n"))).size == (96, 96)
    views = [r for r in _audit(cams) if r[0] == "gallery.view" and r[1] == "camera:door"]
    assert len(views) == 1  # one viewing session: the snapshot and the stream
    assert json.loads(views[0][3])["view"] == "live"
    # Disabling stops the worker; the state says so.
    off = cams.client.patch(
        "/api/cameras/door", json={"enabled": False}, headers=cams.headers("olive")
    )
    assert off.status_code == 200 and off.json()["status"]["state"] == "stopped"


def test_console_cameras_pages(cams: Service, tmp_path: Path) -> None:
    olive = {**HTML, **cams.headers("olive")}
    empty = cams.client.get("/cameras", headers=olive)
    assert empty.status_code == 200 and "No cameras yet" in empty.text
    assert 'id="new-camera"' in empty.text and 'href="/cameras"' in empty.text
    added = cams.client.post(
        "/cameras",
        data={"camera_id": "gate", "name": "Gate", "source": SECRET_URL},
        headers=olive,
        follow_redirects=False,
    )
    assert added.status_code == 303 and added.headers["location"].startswith("/cameras/gate")
    listing = cams.client.get("/cameras", headers=olive)
    assert "rtsp://***@10.0.0.5:554/live" in listing.text and "hunter2secret" not in listing.text
    page = cams.client.get("/cameras/gate", headers=olive)
    assert page.status_code == 200
    assert (
        'src="/api/cameras/gate/live"' in page.text and "No sightings from this camera" in page.text
    )
    off = cams.client.post("/cameras/gate/disable", headers=olive, follow_redirects=False)
    assert off.status_code == 303
    assert "disabled" in cams.client.get("/cameras", headers=olive).text
    bad = cams.client.post(
        "/cameras", data={"camera_id": "gate", "name": "Again", "source": "x.mp4"}, headers=olive
    )
    assert bad.status_code == 400 and "already" in bad.text
    removed = cams.client.post("/cameras/gate/remove", headers=olive, follow_redirects=False)
    assert removed.status_code == 303
    # The reviewer may look but gets no add form; the auditor may not open the page at all.
    rita = cams.client.get("/cameras", headers={**HTML, **cams.headers("rita")})
    assert rita.status_code == 200 and 'id="new-camera"' not in rita.text
    assert (
        cams.client.get("/cameras", headers={**HTML, **cams.headers("audrey")}).status_code == 403
    )


def test_the_timeline_groups_a_cameras_sightings(cams: Service, tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "door.avi", frames=20)
    _add(cams, {"camera_id": "door", "name": "Door", "source": str(clip)})
    deadline = time.monotonic() + WAIT_S
    # Played once: the worker stops at the end of the clip and closes the track.
    while time.monotonic() < deadline:
        state = cams.client.get("/api/cameras/door/status", headers=cams.headers("olive")).json()
        if state["state"] == "stopped":
            break
        time.sleep(0.2)
    page = cams.client.get("/cameras/door", headers={**HTML, **cams.headers("olive")})
    assert page.status_code == 200
    assert "track 1" in page.text and "unknown" in page.text and "UTC" in page.text
    assert 'href="/sightings?camera=door#s-sgt_' in page.text


class RecordingHost(NoCameraHost):
    """A camera host that only notes what it was asked to run."""

    def __init__(self) -> None:
        self.started: list[tuple[str, str]] = []
        self.failed: dict[str, str] = {}

    def start(self, camera: CameraRecord, watcher: Principal) -> None:
        self.started.append((camera.camera_id, watcher.username))

    def mark_failed(self, camera_id: str, reason: str) -> None:
        self.failed[camera_id] = reason


def test_service_start_runs_each_enabled_camera_for_its_owner(service: Service) -> None:
    admin = service.engine.site.users().get("admin")
    service.engine.accounts.add_user(admin, "otto", ["operator"], password=PASSWORD)
    for camera_id, user, enabled in [
        ("door", "olive", True),
        ("gate", "olive", False),
        ("yard", "otto", True),
    ]:
        response = _add(
            service,
            {
                "camera_id": camera_id,
                "name": camera_id,
                "source": f"{camera_id}.mp4",
                "enabled": enabled,
            },
            user,
        )
        assert response.status_code == 201  # type: ignore[attr-defined]
    service.engine.accounts.disable_user(admin, "otto", "left")
    host = RecordingHost()
    services = service.app.state.services
    services.cameras = host
    services.start_cameras()
    # The disabled camera stays off; the one whose owner left shows why instead of running.
    assert host.started == [("door", "olive")]
    assert set(host.failed) == {"yard"} and "otto" in host.failed["yard"]


class SettingsHost(NoCameraHost):
    """A camera host that keeps the settings of every camera it was asked to (re)start."""

    def __init__(self) -> None:
        self.started: list[CameraRecord] = []

    def start(self, camera: CameraRecord, watcher: Principal) -> None:
        self.started.append(camera)


ROAD = {"line_id": "road", "start": [0, 240], "end": [640, 240], "in_side": "left"}
YARD = {"zone_id": "yard", "polygon": [[0, 0], [100, 0], [100, 100]], "loiter_after_s": 30}


def _changes(service: Service) -> list[dict[str, object]]:
    return [json.loads(d) for a, _, _, d in _audit(service) if a == "camera.change"]


def test_counting_settings_are_edited_audited_and_the_camera_restarts_with_them(
    service: Service,
) -> None:
    host = SettingsHost()
    service.app.state.services.cameras = host
    olive = service.headers("olive")
    added = _add(service, {"camera_id": "gate", "name": "Gate", "source": "gate.mp4"})
    assert added.status_code == 201  # type: ignore[attr-defined]
    assert [c.settings.counting for c in host.started] == [None]

    counting = {"lines": [ROAD], "zones": [YARD], "classes": ["vehicle", "person"]}
    patched = service.client.patch("/api/cameras/gate", json={"counting": counting}, headers=olive)
    assert patched.status_code == 200, patched.text
    body = patched.json()["counting"]
    assert [line["line_id"] for line in body["lines"]] == ["road"]
    assert body["lines"][0]["in_side"] == "left" and body["zones"][0]["loiter_after_s"] == 30
    assert body["classes"] == ["vehicle", "person"]
    # The running camera was started again with the new counting settings.
    restarted = host.started[-1].settings.counting
    assert restarted is not None and restarted.lines[0].line_id == "road"
    assert restarted.zones[0].zone_id == "yard"
    change = _changes(service)[-1]
    assert change["changed"] == "counting"
    assert change["counting"] == "1 line(s), 1 zone(s): vehicle, person"

    # A patch that leaves counting out keeps it; null turns it off.
    renamed = service.client.patch("/api/cameras/gate", json={"name": "North"}, headers=olive)
    assert renamed.json()["counting"]["lines"][0]["line_id"] == "road"
    off = service.client.patch("/api/cameras/gate", json={"counting": None}, headers=olive)
    assert off.status_code == 200 and off.json()["counting"] is None
    assert host.started[-1].settings.counting is None
    assert _changes(service)[-1]["changed"] == "counting"
    assert _changes(service)[-1]["counting"] == "off"


def test_bad_counting_settings_are_refused_and_change_nothing(service: Service) -> None:
    service.app.state.services.cameras = SettingsHost()
    olive = service.headers("olive")
    _add(service, {"camera_id": "gate", "name": "Gate", "source": "gate.mp4"})
    for counting in (
        {"lines": [ROAD, ROAD]},  # repeated names
        {"lines": [ROAD], "classes": ["unicorn"]},
        {"lines": [{"line_id": "dot", "start": [5, 5], "end": [5, 5]}]},  # no length
    ):
        refused = service.client.patch(
            "/api/cameras/gate", json={"counting": counting}, headers=olive
        )
        assert refused.status_code in (400, 422), refused.text
        assert refused.headers["content-type"] == PROBLEM
    assert service.client.get("/api/cameras/gate", headers=olive).json()["counting"] is None
    assert _changes(service) == []
    reviewer = service.client.patch(
        "/api/cameras/gate", json={"counting": {"lines": [ROAD]}}, headers=service.headers("rita")
    )
    assert reviewer.status_code == 403


def test_the_console_edit_form_shows_and_changes_counting(service: Service) -> None:
    host = SettingsHost()
    service.app.state.services.cameras = host
    olive = {**HTML, **service.headers("olive")}
    added = service.client.post(
        "/cameras",
        data={
            "camera_id": "gate",
            "name": "Gate",
            "source": "gate.mp4",
            "counting_lines": "0,240,640,240:road:left",
        },
        headers=olive,
        follow_redirects=False,
    )
    assert added.status_code == 303, added.text
    first = host.started[-1].settings.counting
    assert first is not None and first.lines[0].in_side.value == "left"
    listing = service.client.get("/cameras", headers=olive)
    assert "0,240,640,240:road:left" in listing.text  # the edit form shows the line as typed

    def edit(**fields: str) -> Any:
        data = {"name": "Gate", "watchlist": "", "purpose": "", **fields}
        return service.client.post(
            "/cameras/gate/edit", data=data, headers=olive, follow_redirects=False
        )

    saved = edit(
        counting_form="1",
        counting_lines="0,240,640,240:road:left\n10,0,10,480.5:side",
        counting_zones="0,0;100,0;100,100:yard:30",
        counting_classes="vehicle",
    )
    assert saved.status_code == 303, saved.text
    counting = host.started[-1].settings.counting
    assert counting is not None
    assert [line.to_spec() for line in counting.lines] == [
        "0,240,640,240:road:left",
        "10,0,10,480.5:side:right",
    ]
    assert [zone.to_spec() for zone in counting.zones] == ["0,0;100,0;100,100:yard:30"]
    assert counting.classes == ("vehicle",)
    assert _changes(service)[-1]["changed"] == "counting"

    # A form without the counting fields leaves counting alone.
    assert edit(name="Gate two").status_code == 303
    kept = service.client.get("/api/cameras/gate", headers=olive).json()["counting"]
    assert [z["zone_id"] for z in kept["zones"]] == ["yard"]

    bad = edit(counting_form="1", counting_lines="1,2,3:road")
    assert bad.status_code == 400 and "x1,y1,x2,y2" in bad.text
    assert service.client.get("/api/cameras/gate", headers=olive).json()["counting"] == kept

    off = edit(counting_form="1", counting_lines="", counting_zones="")
    assert off.status_code == 303
    assert service.client.get("/api/cameras/gate", headers=olive).json()["counting"] is None
    assert host.started[-1].settings.counting is None
