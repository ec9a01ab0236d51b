"""Sightings, events and counts over HTTP and the Sightings console page: data, 401, 403."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.api.conftest import Service
from watchkeeper.core import ClassGroup
from watchkeeper.store.counting import CountingRecords
from watchkeeper.store.sightings import SightingDraft, SightingStore
from watchkeeper.zones.events import Direction, LineCrossed

T0 = datetime(2026, 1, 5, 8, 58, 10, tzinfo=UTC)


def sight(service: Service, camera: str, track: int, name: str | None = None) -> str:
    draft = SightingDraft(
        camera_id=camera,
        track_id=track,
        first_seen_at=T0,
        last_seen_at=T0 + timedelta(seconds=4),
        first_pts_s=0.0,
        last_pts_s=4.0,
        frames=40,
        best_box_xyxy=(10.0, 20.0, 60.0, 80.0),
        detector_score=0.91,
        quality=0.7,
        identity_id=None if name is None else f"idn_{name.lower()}",
        display_name=name,
        watchlist=None if name is None else "staff",
        similarity=None if name is None else 0.95,
        embedding=None,
    )
    with service.engine.store.transaction() as conn:
        return SightingStore(service.engine.store).insert(conn, draft).sighting_id


def crossing(at: datetime, direction: Direction, camera: str = "gate") -> LineCrossed:
    return LineCrossed(
        camera_id=camera, line_id="road", track_id=1, class_name="car",
        class_group=ClassGroup.VEHICLE, direction=direction, anchor_xy=(1.0, 2.0), at=at,
    )  # fmt: skip


def count_some(service: Service) -> None:
    # Two minutes of one hour and one minute of the next; stored with their event-log rows.
    events = [
        crossing(T0, Direction.IN),
        crossing(T0 + timedelta(seconds=5), Direction.IN),
        crossing(T0 + timedelta(seconds=65), Direction.IN),
        crossing(T0 + timedelta(seconds=70), Direction.OUT),
        crossing(T0 + timedelta(minutes=3), Direction.IN),
    ]
    CountingRecords(service.engine.store).add(events, deliver_to=("webhook",))


def test_sightings_list_known_and_unknown_and_filter_by_camera(service: Service) -> None:
    known = sight(service, "door", 1, "Alice")
    sight(service, "door", 2)
    sight(service, "yard", 3)
    got = service.client.get("/api/sightings", headers=service.headers("olive"))
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["total"] == 3
    by_id = {s["sighting_id"]: s for s in body["items"]}
    assert by_id[known]["display_name"] == "Alice"
    assert by_id[known]["identity_id"] == "idn_alice"
    assert by_id[known]["similarity"] == pytest.approx(0.95)
    assert all("embedding" not in s and "crop" not in s for s in body["items"])
    unknown = [s for s in body["items"] if s["identity_id"] is None]
    assert len(unknown) == 2 and all(s["display_name"] is None for s in unknown)

    door = service.client.get(
        "/api/sightings", params={"camera": "door", "limit": 1, "offset": 1},
        headers=service.headers("rita"),
    )  # fmt: skip
    assert door.status_code == 200, door.text
    page = door.json()
    assert (page["total"], page["limit"], page["offset"]) == (2, 1, 1)
    assert [s["camera_id"] for s in page["items"]] == ["door"]


def test_reading_sightings_is_audited(service: Service) -> None:
    sight(service, "door", 1, "Alice")
    assert service.client.get("/api/sightings", headers=service.headers("ivan")).status_code == 200
    log = service.client.get(
        "/api/audit", params={"actor": "ivan"}, headers=service.headers("audrey")
    )
    assert log.status_code == 200, log.text
    assert any(e["target"] == "sightings:all" for e in log.json()["entries"])


def test_events_are_read_after_a_seq(service: Service) -> None:
    count_some(service)
    first = service.client.get("/api/events", params={"limit": 2}, headers=service.headers("olive"))
    assert first.status_code == 200, first.text
    events = first.json()
    assert len(events) == 2
    assert all(e["kind"] == "line_crossed" and e["camera_id"] == "gate" for e in events)
    rest = service.client.get(
        "/api/events", params={"after_seq": events[-1]["seq"]}, headers=service.headers("olive")
    )
    assert rest.status_code == 200, rest.text
    seqs = [e["seq"] for e in rest.json()]
    assert len(seqs) == 3 and min(seqs) > events[-1]["seq"]


def test_counts_by_minute_and_by_hour(service: Service) -> None:
    count_some(service)
    minutes = service.client.get("/api/counts", headers=service.headers("olive"))
    assert minutes.status_code == 200, minutes.text
    rows = minutes.json()["rows"]
    assert minutes.json()["bucket"] == "minute"
    assert sum(r["count"] for r in rows) == 5
    first = [r for r in rows if r["bucket_start_at"].startswith("2026-01-05T08:58")]
    assert [(r["direction"], r["count"]) for r in first] == [("in", 2)]

    hours = service.client.get(
        "/api/counts", params={"bucket": "hour", "camera": "gate"},
        headers=service.headers("olive"),
    )  # fmt: skip
    assert hours.status_code == 200, hours.text
    got = {(r["bucket_start_at"][:13], r["direction"]): r["count"] for r in hours.json()["rows"]}
    assert got == {
        ("2026-01-05T08", "in"): 3,
        ("2026-01-05T08", "out"): 1,
        ("2026-01-05T09", "in"): 1,
    }
    assert all(r["class_group"] == "vehicle" for r in hours.json()["rows"])

    window = service.client.get(
        "/api/counts", params={"from": "2026-01-05T09:00:00Z", "to": "2026-01-05T10:00:00Z"},
        headers=service.headers("olive"),
    )  # fmt: skip
    assert window.status_code == 200, window.text
    assert [r["count"] for r in window.json()["rows"]] == [1]
    other = service.client.get(
        "/api/counts", params={"camera": "nowhere"}, headers=service.headers("olive")
    )
    assert other.json()["rows"] == []


def test_a_bad_bucket_is_a_problem(service: Service) -> None:
    got = service.client.get(
        "/api/counts", params={"bucket": "day"}, headers=service.headers("olive")
    )
    assert got.status_code == 400  # the service answers invalid input with 400
    assert got.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("path", ["/api/sightings", "/api/events", "/api/counts"])
def test_no_token_is_401(service: Service, path: str) -> None:
    got = service.client.get(path)
    assert got.status_code == 401
    assert got.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    ("path", "user"),
    [
        ("/api/sightings", "audrey"),  # the auditor reads the log, not the biometric records
        ("/api/sightings", "adam"),
        ("/api/events", "ivan"),
        ("/api/counts", "rita"),
        ("/api/counts", "audrey"),
    ],
)
def test_wrong_role_is_403(service: Service, path: str, user: str) -> None:
    got = service.client.get(path, headers=service.headers(user))
    assert got.status_code == 403
    assert got.headers["content-type"].startswith("application/problem+json")


def test_console_sightings_page_lists_and_shows_empty_state(service: Service) -> None:
    empty = service.client.get("/sightings", headers=service.headers("olive"))
    assert empty.status_code == 200
    assert "No sightings" in empty.text
    assert 'href="/sightings"' in empty.text
    sight(service, "door", 1, "Alice")
    sight(service, "door", 2)
    full = service.client.get("/sightings", headers=service.headers("olive"))
    assert full.status_code == 200
    assert "Alice" in full.text and "unknown" in full.text
    assert "No sightings" not in full.text
    filtered = service.client.get("/sightings?camera=yard", headers=service.headers("olive"))
    assert "No sightings from camera yard" in filtered.text


def test_console_sightings_link_and_page_need_gallery_view(service: Service) -> None:
    home = service.client.get("/", headers=service.headers("audrey"))
    assert home.status_code == 200
    assert 'href="/sightings"' not in home.text
    refused = service.client.get("/sightings", headers=service.headers("audrey"))
    assert refused.status_code == 403
