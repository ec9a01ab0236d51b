"""Health, metrics, request ids, unknown routes, JSON logs."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import pytest

from tests.api.conftest import Service
from watchkeeper.api.logs import JsonFormatter


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
