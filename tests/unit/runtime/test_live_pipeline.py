"""The live pipeline on the mock backends: tracks, votes, candidates, sightings, alerts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from tests.builders import Staff, make_staff, pattern_image, save_png

from watchkeeper.config.cameras import CameraSettings
from watchkeeper.core.errors import PermissionDeniedError
from watchkeeper.events.model import AlertConfirmed, Event
from watchkeeper.events.outbox import EventLog
from watchkeeper.governance.review import ReviewStatus
from watchkeeper.runtime.local import CameraRunner


@pytest.fixture
def staff(tmp_path: Path) -> Iterator[Staff]:
    site = make_staff(tmp_path / "home", four_eyes=False)
    yield site
    site.engine.close()


def _folder(tmp_path: Path, seeds: list[int], name: str = "frames") -> Path:
    """Image-folder 'footage': one PNG per seed (0 is a blank frame, which has no face)."""
    folder = tmp_path / name
    folder.mkdir()
    for i, seed in enumerate(seeds):
        image = np.zeros((96, 96, 3), np.uint8) if seed == 0 else pattern_image(seed)
        save_png(image, folder / f"{i:04d}.png")
    return folder


def _run(
    staff: Staff, folder: Path, camera_id: str = "door", watchlist: str | None = "staff"
) -> list[Event]:
    camera = CameraSettings(camera_id=camera_id, source=str(folder), detection_interval=2)
    session = staff.engine.video.watch(
        staff.operator, camera, watchlist=watchlist, purpose="door watch"
    )
    seen: list[Event] = []
    CameraRunner(staff.engine, session, on_event=seen.append, detect_in_worker=False).run()
    return seen


def test_a_known_face_becomes_one_candidate_and_one_sighting(staff: Staff, tmp_path: Path) -> None:
    staff.engine.enrol(staff.operator, "Ada", pattern_image(1), "staff", "consent", "HR")
    events = _run(staff, _folder(tmp_path, [1] * 12 + [0] * 40))
    kinds = [e.kind for e in events]
    assert kinds.count("track_started") == 1
    assert kinds.count("watchlist_candidate") == 1
    assert kinds.count("track_ended") == 1
    assert kinds.index("track_started") < kinds.index("watchlist_candidate")
    [sighting] = staff.engine.video.sightings.recent()
    assert sighting.display_name == "Ada" and sighting.camera_id == "door"
    # Confirmed on its second detection (frame 2), tracked through frame 11.
    assert sighting.has_crop and sighting.frames == 10
    [pending] = staff.engine.review.list(staff.reviewer)
    assert pending.probe_source == "door#track1"


def test_one_frame_is_not_enough_to_name_a_track(staff: Staff, tmp_path: Path) -> None:
    staff.engine.enrol(staff.operator, "Ada", pattern_image(1), "staff", "consent", "HR")
    # The tracker follows one face; only the first detection shows Ada, the rest a stranger.
    events = _run(staff, _folder(tmp_path, [1, 1] + [7] * 12))
    assert "watchlist_candidate" not in [e.kind for e in events]


def test_confirmed_candidate_is_owed_to_the_sinks_and_rejected_is_not(
    tmp_path: Path,
) -> None:
    from tests.builders import FAST_PASSWORDS, FakeClock, mock_settings

    from watchkeeper.config.video import AlertSettings, VideoSettings
    from watchkeeper.service.engine import Engine

    staff = make_staff(tmp_path / "home", four_eyes=False)
    staff.engine.close()
    settings = mock_settings(tmp_path / "home").model_copy(
        update={"video": VideoSettings(alerts=AlertSettings(webhook_url="http://127.0.0.1:9/x"))}
    )
    staff.engine = Engine(
        settings, threshold=0.9, clock=FakeClock(), password_params=FAST_PASSWORDS
    )
    staff.engine.enrol(staff.operator, "Ada", pattern_image(1), "staff", "consent", "HR")
    _run(staff, _folder(tmp_path, [1] * 12), camera_id="door")
    _run(staff, _folder(tmp_path, [1] * 12, "second"), camera_id="gate")
    first, second = staff.engine.review.list(staff.reviewer)
    staff.engine.review.confirm(staff.reviewer, first.candidate_id, "it is Ada")
    staff.engine.review.reject(staff.reviewer, second.candidate_id, "not her")
    conn = staff.engine.store.conn
    log = EventLog(conn)
    alerts = log.recent(kind="alert_confirmed")
    assert len(alerts) == 1 and isinstance(alerts[0].event, AlertConfirmed)
    assert alerts[0].event.candidate_id == first.candidate_id
    assert log.owed("webhook") == 1
    assert staff.engine.review.list(staff.reviewer, ReviewStatus.CONFIRMED)[0].status
    staff.engine.close()


def test_unknown_people_on_two_cameras_are_linked(staff: Staff, tmp_path: Path) -> None:
    _run(staff, _folder(tmp_path, [5] * 10), camera_id="door", watchlist=None)
    _run(staff, _folder(tmp_path, [5] * 10, "b"), camera_id="gate", watchlist=None)
    _run(staff, _folder(tmp_path, [6] * 10, "c"), camera_id="yard", watchlist=None)
    found = {s.camera_id: s for s in staff.engine.video.sightings.recent()}
    assert found["door"].identity_id is None and found["door"].link_id is not None
    assert found["door"].link_id == found["gate"].link_id
    assert found["yard"].link_id is None


def test_watching_needs_the_camera_permission(staff: Staff) -> None:
    camera = CameraSettings(camera_id="door", source="/nowhere")
    with pytest.raises(PermissionDeniedError):
        staff.engine.video.watch(staff.reviewer, camera)
    assert staff.audit_actions()[-1] == "video.watch"


def test_erasure_and_retention_remove_sightings(staff: Staff, tmp_path: Path) -> None:
    staff.engine.enrol(staff.operator, "Ada", pattern_image(1), "staff", "consent", "HR")
    _run(staff, _folder(tmp_path, [1] * 12))
    _run(staff, _folder(tmp_path, [9] * 12, "stranger"), camera_id="gate")
    receipt = staff.engine.erasure.erase_person(staff.admin, "Ada", "subject asked")
    assert receipt.sightings == 1
    remaining = staff.engine.video.sightings.recent()
    assert [s.camera_id for s in remaining] == ["gate"]
    assert EventLog(staff.engine.store.conn).recent(kind="watchlist_candidate") == []
    # Frames carry wall-clock capture times; move the site clock past them.
    staff.clock.now = datetime.now(UTC) + timedelta(days=2)
    report = staff.engine.retention.purge(staff.admin)
    from watchkeeper.governance.retention import DataKind

    assert report.removed[DataKind.UNMATCHED_FACE_CROPS] == 1
    assert not staff.engine.video.sightings.recent()[0].has_crop
    staff.clock.advance(days=40)
    report = staff.engine.retention.purge(staff.admin)
    assert report.removed[DataKind.SIGHTINGS] == 1
    assert staff.engine.video.sightings.recent() == []
