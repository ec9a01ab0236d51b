"""Camera management: governed, audited, permission-checked, and never showing a password."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.builders import Staff, make_staff

from watchkeeper.config.cameras import CameraSettings
from watchkeeper.config.counting import CountingLine, CountingSettings
from watchkeeper.core.errors import (
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    PolicyViolationError,
)
from watchkeeper.service.cameras import (
    CameraChanges,
    CameraDraft,
    Cameras,
    CameraState,
    NoCameraHost,
    masked_source,
)

SECRET_URL = "rtsp://admin:hunter2secret@10.0.0.5:554/live"


@pytest.fixture
def staff(tmp_path: Path) -> Iterator[Staff]:
    site = make_staff(tmp_path / "home", four_eyes=False)
    yield site
    site.engine.close()


def _draft(camera_id: str = "door", source: str = "door.mp4", **kw: object) -> CameraDraft:
    return CameraDraft(CameraSettings(camera_id=camera_id, source=source), "Front door", **kw)  # type: ignore[arg-type]


def _audit(staff: Staff) -> list[tuple[str, str, str, str]]:
    rows = staff.engine.store.conn.execute(
        "SELECT action, target, outcome, details FROM audit_log ORDER BY seq"
    )
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def test_add_edit_remove_are_each_audited(staff: Staff) -> None:
    cams = Cameras(staff.engine)
    added = cams.add(staff.operator, _draft())
    assert added.owner == "olga" and added.enabled and added.watchlist is None
    changed = cams.update(staff.operator, "door", CameraChanges(name="Main door", fps_cap=5))
    assert changed.name == "Main door" and changed.settings.fps_cap == 5
    assert [c.camera_id for c in cams.list_cameras(staff.reviewer)] == ["door"]
    cams.remove(staff.operator, "door")
    assert cams.list_cameras(staff.reviewer) == []
    trail = [(a, t, o) for a, t, o, _ in _audit(staff) if a.startswith("camera.")]
    assert trail == [
        ("camera.add", "camera:door", "success"),
        ("camera.change", "camera:door", "success"),
        ("camera.remove", "camera:door", "success"),
    ]
    change_details = json.loads(next(d for a, _, _, d in _audit(staff) if a == "camera.change"))
    assert set(change_details["changed"].split(",")) == {"name", "fps_cap"}


def test_people_without_cameras_manage_are_refused_and_the_refusal_is_audited(
    staff: Staff,
) -> None:
    cams = Cameras(staff.engine)
    for who in (staff.investigator, staff.reviewer, staff.auditor, staff.admin):
        with pytest.raises(PermissionDeniedError):
            cams.add(who, _draft())
    assert cams.enabled() == []
    refused = [r for r in _audit(staff) if r[0] == "camera.add"]
    assert len(refused) == 4 and {r[2] for r in refused} == {"refused"}
    cams.add(staff.operator, _draft())
    with pytest.raises(PermissionDeniedError):
        cams.update(staff.reviewer, "door", CameraChanges(enabled=False))
    with pytest.raises(PermissionDeniedError):
        cams.remove(staff.investigator, "door")
    # Viewing needs gallery.view: the auditor and admin hold none.
    with pytest.raises(PermissionDeniedError):
        cams.list_cameras(staff.auditor)
    with pytest.raises(PermissionDeniedError):
        cams.open_live_view(staff.admin, "door")


def test_passwords_never_reach_the_audit_log_or_lists(staff: Staff) -> None:
    cams = Cameras(staff.engine)
    record = cams.add(staff.operator, _draft(source=SECRET_URL))
    # The runner needs the real URL; everything shown gets the masked one.
    assert record.settings.source == SECRET_URL
    assert masked_source(SECRET_URL) == "rtsp://***@10.0.0.5:554/live"
    cams.update(staff.operator, "door", CameraChanges(source=SECRET_URL.replace("live", "sub")))
    cams.remove(staff.operator, "door")
    dumped = json.dumps(_audit(staff))
    assert "hunter2secret" not in dumped and "admin:" not in dumped
    assert "rtsp://***@10.0.0.5:554/live" in dumped


def test_stream_settings_are_sealed_at_rest_when_the_site_has_a_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from watchkeeper.store.cipher import KEY_ENV, new_key_text

    monkeypatch.setenv(KEY_ENV, new_key_text())
    site = make_staff(tmp_path / "sealed", four_eyes=False)
    try:
        Cameras(site.engine).add(site.operator, _draft(source=SECRET_URL))
        raw = site.engine.store.conn.execute("SELECT settings, key_id FROM cameras").fetchone()
        assert raw[1] is not None and b"hunter2secret" not in bytes(raw[0])
        assert Cameras(site.engine).get(site.operator, "door").settings.source == SECRET_URL
    finally:
        site.engine.close()


def test_a_watchlist_needs_a_purpose_and_must_exist(staff: Staff) -> None:
    cams = Cameras(staff.engine)
    with pytest.raises(InvalidInputError):
        cams.add(staff.operator, _draft(watchlist="staff", purpose=""))
    with pytest.raises(NotFoundError):
        cams.add(staff.operator, _draft(watchlist="nobody", purpose="door access"))
    record = cams.add(staff.operator, _draft(watchlist="staff", purpose="staff door access"))
    assert record.watchlist == "staff"
    off = cams.update(staff.operator, "door", CameraChanges(clear_watchlist=True))
    assert off.watchlist is None


def test_protected_attributes_are_refused_in_name_and_purpose(staff: Staff) -> None:
    cams = Cameras(staff.engine)
    with pytest.raises(PolicyViolationError):
        cams.add(
            staff.operator,
            CameraDraft(CameraSettings(camera_id="a", source="a.mp4"), "Ethnicity cam"),
        )
    with pytest.raises(PolicyViolationError):
        cams.add(
            staff.operator,
            _draft(watchlist="staff", purpose="estimate the age and gender of visitors"),
        )
    assert cams.enabled() == []
    assert any(r[0] == "camera.add" and r[2] == "refused" for r in _audit(staff))


def test_a_duplicate_id_is_refused(staff: Staff) -> None:
    cams = Cameras(staff.engine)
    cams.add(staff.operator, _draft())
    with pytest.raises(InvalidInputError, match="already"):
        cams.add(staff.operator, _draft())


def test_the_camera_runs_for_its_owner_only_while_they_may(staff: Staff) -> None:
    cams = Cameras(staff.engine)
    cams.add(staff.operator, _draft())
    plan = cams.plan("door")
    assert plan.watcher is not None and plan.watcher.username == "olga"
    staff.engine.accounts.disable_user(staff.admin, "olga", "left the company")
    refused = cams.plan("door")
    assert refused.watcher is None and refused.refusal and "olga" in refused.refusal
    # Enabling again, by another operator, makes them the one it runs for.
    other = staff.engine.accounts.add_user(staff.admin, "otto", ["operator"]).principal
    cams.update(other, "door", CameraChanges(enabled=False))
    cams.update(other, "door", CameraChanges(enabled=True))
    assert cams.plan("door").watcher == other
    host = NoCameraHost()
    cams.plan("door").apply(host)
    assert host.status("door").state is CameraState.STOPPED


def test_live_view_is_audited_as_a_view(staff: Staff) -> None:
    cams = Cameras(staff.engine)
    cams.add(staff.operator, _draft())
    cams.open_live_view(staff.reviewer, "door")
    last = _audit(staff)[-1]
    assert last[0] == "gallery.view" and last[1] == "camera:door"
    assert json.loads(last[3])["view"] == "live"
    with pytest.raises(NotFoundError):
        cams.open_live_view(staff.reviewer, "nowhere")


def test_counting_settings_can_be_changed_and_turned_off_with_the_change_audited(
    staff: Staff,
) -> None:
    cams = Cameras(staff.engine)
    cams.add(staff.operator, _draft())
    road = CountingLine(line_id="road", start=(0, 240), end=(640, 240))
    counting = CountingSettings(lines=(road,), classes=("vehicle",))
    changed = cams.update(staff.operator, "door", CameraChanges(counting=counting))
    assert changed.settings.counting == counting
    assert cams.get(staff.reviewer, "door").settings.counting == counting  # stored
    untouched = cams.update(staff.operator, "door", CameraChanges(name="Door"))
    assert untouched.settings.counting == counting
    off = cams.update(staff.operator, "door", CameraChanges(clear_counting=True))
    assert off.settings.counting is None
    details = [json.loads(d) for a, _, _, d in _audit(staff) if a == "camera.change"]
    assert [d["changed"] for d in details] == ["counting", "name", "counting"]
    assert [d["counting"] for d in details] == ["1 line(s), 0 zone(s): vehicle"] * 2 + ["off"]
    with pytest.raises(PermissionDeniedError):
        cams.update(staff.reviewer, "door", CameraChanges(counting=counting))
    assert cams.get(staff.reviewer, "door").settings.counting is None
