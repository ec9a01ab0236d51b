"""Health, metrics, request ids, unknown routes, JSON logs."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.api.conftest import Service
from watchkeeper.api.logs import JsonFormatter
from watchkeeper.service.cameras import CameraState, CameraStatus, NoCameraHost


def test_healthz_needs_no_credentials(service: Service) -> None:
    response = service.client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["ready"] is True


def test_metrics_count_requests_by_route_template_and_time_the_pipeline(
    service: Service, face_jpeg: bytes, upload: Callable[..., object]
) -> None:
    service.client.post("/api/detect", files=upload(face_jpeg), headers=service.headers("olive"))
    response = service.client.get("/metrics", headers=service.headers("adam"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert (
        'watchkeeper_http_requests_total{method="POST",route="/api/detect",status="200"} 1.0'
        in (text)
    )
    assert 'watchkeeper_pipeline_duration_seconds_count{operation="detect"} 1.0' in text
    assert "watchkeeper_engine_queue_depth 0.0" in text


@pytest.mark.parametrize(("user", "status"), [(None, 401), ("olive", 403)])
def test_metrics_need_settings_read(service: Service, user: str | None, status: int) -> None:
    headers = service.headers(user) if user else {}
    assert service.client.get("/metrics", headers=headers).status_code == status


def test_each_response_carries_a_request_id(service: Service) -> None:
    assert len(service.client.get("/healthz").headers["x-request-id"]) == 32
    echoed = service.client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"


def test_unknown_routes_answer_problem_json(service: Service) -> None:
    response = service.client.get("/api/nothing-here", headers=service.headers("olive"))
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert "/api/nothing-here" in response.json()["detail"]


def test_access_records_are_structured(service: Service, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="watchkeeper.api.access"):
        service.client.get("/api/auth/me", headers=service.headers("ivan"))
    (record,) = [r for r in caplog.records if r.name == "watchkeeper.api.access"]
    line = json.loads(JsonFormatter().format(record))
    assert line["route"] == "/api/auth/me"
    assert line["status"] == 200
    assert line["principal"] == "ivan"
    assert line["duration_ms"] >= 0


class _CamerasHost(NoCameraHost):
    """A camera host whose cameras report fixed statuses."""

    def __init__(self, statuses: list[CameraStatus]) -> None:
        self.known = statuses

    def statuses(self) -> list[CameraStatus]:
        return list(self.known)


def _scrape(service: Service) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = service.client.get("/metrics", headers=service.headers("adam"))
    assert response.status_code == 200, response.text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_metrics_show_each_cameras_frames_rate_state_reconnects_and_failures(
    service: Service,
) -> None:
    door = CameraStatus(
        "door", CameraState.RUNNING, frames=1200, fps=9.5, faces_in_view=2, reconnects=3
    )
    gate = CameraStatus("gate", CameraState.FAILED, last_error="no stream", failures=2)
    host = _CamerasHost([door, gate])
    service.app.state.services.cameras = host
    found = _scrape(service)

    def value(name: str, **labels: str) -> float:
        return found[(name, tuple(sorted(labels.items())))]

    assert value("watchkeeper_camera_frames_total", camera="door") == 1200
    assert value("watchkeeper_camera_fps", camera="door") == 9.5
    assert value("watchkeeper_camera_faces_in_view", camera="door") == 2
    assert value("watchkeeper_camera_reconnects_total", camera="door") == 3
    assert value("watchkeeper_camera_failures_total", camera="gate") == 2
    assert value("watchkeeper_camera_failures_total", camera="door") == 0
    for camera, current in (("door", "running"), ("gate", "failed")):
        states = {
            s.value: value("watchkeeper_camera_state", camera=camera, state=s.value)
            for s in CameraState
        }
        assert states == {s.value: float(s.value == current) for s in CameraState}
    assert value("watchkeeper_camera_status_age_seconds", camera="door") >= 0

    # A camera the host no longer knows (removed) is no longer shown.
    host.known = [door]
    again = _scrape(service)
    assert not any(labels and ("camera", "gate") in labels for _, labels in again)
    assert ("watchkeeper_camera_fps", (("camera", "door"),)) in again


def test_metrics_without_cameras_show_no_camera_series(service: Service) -> None:
    found = _scrape(service)
    assert not any(name.startswith("watchkeeper_camera_") for name, _ in found)


def test_the_service_loads_only_its_pool_of_analyzers(
    service: Service, face_jpeg: bytes, upload: Callable[..., object]
) -> None:
    # Each analyzer is a full copy of the models; the service works only through the pool, so
    # reading the embedding contract must not load one more copy beside it.
    response = service.client.post(
        "/api/detect", files=upload(face_jpeg), headers=service.headers("olive")
    )
    assert response.status_code == 200
    pool = service.engine.analyzers
    assert pool.made == pool.size
    assert service.engine.contract.contract_id
    assert service.engine._analyzer is None
