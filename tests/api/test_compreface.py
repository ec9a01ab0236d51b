"""CompreFace-compatible detection: shapes, error codes, policy refusals, and the real SDK."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.api.conftest import Service
from tests.builders import encode, pattern_image, save_png
from tests.servers import live_server

URL = "/api/v1/detection/detect"
Upload = Callable[..., dict[str, tuple[str, bytes, str]]]


def key(service: Service, user: str = "olive") -> dict[str, str]:
    return {"x-api-key": service.token(user)}


def test_detect_answers_in_compreface_shape(
    service: Service, face_jpeg: bytes, upload: Upload
) -> None:
    response = service.client.post(URL, files=upload(face_jpeg), headers=key(service))
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"result", "plugins_versions"}
    (face,) = body["result"]
    assert set(face) == {"box"}
    box = face["box"]
    assert set(box) == {"probability", "x_max", "y_max", "x_min", "y_min"}
    assert all(isinstance(box[k], int) for k in ("x_max", "y_max", "x_min", "y_min"))
    assert 0 <= box["x_min"] < box["x_max"] < 120 and 0 <= box["y_min"] < box["y_max"] < 120
    assert 0.0 < box["probability"] <= 1.0
    assert body["plugins_versions"]["detector"] == "watchkeeper.mock"


def test_landmarks_plugin_and_status(service: Service, face_jpeg: bytes, upload: Upload) -> None:
    response = service.client.post(
        f"{URL}?face_plugins=landmarks&status=true", files=upload(face_jpeg), headers=key(service)
    )
    face = response.json()["result"][0]
    assert len(face["landmarks"]) == 5 and all(len(p) == 2 for p in face["landmarks"])
    assert face["execution_time"]["detector"] >= 0.0
    assert response.json()["plugins_versions"]["landmarks"]


def test_base64_json_body_is_accepted(service: Service, face_jpeg: bytes) -> None:
    payload = {"file": base64.b64encode(face_jpeg).decode()}
    response = service.client.post(URL, json=payload, headers=key(service))
    assert response.status_code == 200
    assert len(response.json()["result"]) == 1


def test_no_face_is_400_with_code_28_like_compreface(service: Service, upload: Upload) -> None:
    blank = encode(np.full((64, 64, 3), 90, np.uint8), "PNG")
    response = service.client.post(URL, files=upload(blank, "b.png"), headers=key(service))
    assert response.status_code == 400
    assert response.json()["code"] == 28
    assert response.json()["message"] == "No face is found in the given image"


def test_det_prob_threshold_filters_faces(
    service: Service, face_jpeg: bytes, upload: Upload
) -> None:
    loose = service.client.post(
        f"{URL}?det_prob_threshold=0.5", files=upload(face_jpeg), headers=key(service)
    )
    probability = loose.json()["result"][0]["box"]["probability"]
    strict = service.client.post(
        f"{URL}?det_prob_threshold={min(probability + 0.01, 1.0)}",
        files=upload(face_jpeg),
        headers=key(service),
    )
    assert strict.json()["code"] == 28


@pytest.mark.parametrize("plugin", ["age", "gender", "age,gender", "landmarks,age"])
def test_demographic_plugins_are_refused_by_policy(
    service: Service, plugin: str, face_jpeg: bytes, upload: Upload
) -> None:
    response = service.client.post(
        f"{URL}?face_plugins={plugin}", files=upload(face_jpeg), headers=key(service)
    )
    assert response.status_code == 403
    body = response.json()
    assert body["type"].endswith(":policy")
    assert "demographic" in body["message"] and "never infers" in body["message"]


def test_embeddings_are_not_handed_out(service: Service, face_jpeg: bytes, upload: Upload) -> None:
    response = service.client.post(
        f"{URL}?face_plugins=calculator", files=upload(face_jpeg), headers=key(service)
    )
    assert response.status_code == 403
    assert "biometric templates" in response.json()["message"]


def test_unavailable_plugins_are_named(service: Service, face_jpeg: bytes, upload: Upload) -> None:
    response = service.client.post(
        f"{URL}?face_plugins=mask", files=upload(face_jpeg), headers=key(service)
    )
    assert response.status_code == 400
    assert "'mask' is not available" in response.json()["message"]


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [({}, 401, 20), ({"x-api-key": "wk_not-a-key"}, 401, 20), ("audrey", 403, 7)],
)
def test_keys_are_checked(
    service: Service,
    face_jpeg: bytes,
    upload: Upload,
    headers: dict[str, str] | str,
    status: int,
    code: int,
) -> None:
    sent = key(service, headers) if isinstance(headers, str) else headers
    response = service.client.post(URL, files=upload(face_jpeg), headers=sent)
    assert response.status_code == status
    assert response.json()["code"] == code
    assert response.json()["message"]


def test_the_compreface_sdk_round_trip(service: Service, tmp_path: Path) -> None:
    """The PyPI client, unchanged, against the service on a real socket."""
    from compreface import CompreFace

    photo = save_png(pattern_image(5, size=160), tmp_path / "visitor.png")
    with live_server(service.app) as base_url:
        domain, port = base_url.rsplit(":", 1)
        client = CompreFace(domain, port, {"limit": 0, "det_prob_threshold": 0.5})
        detection = client.init_face_detection(service.token("ivan"))

        found = detection.detect(str(photo))
        assert len(found["result"]) == 1
        box = found["result"][0]["box"]
        assert 0 <= box["x_min"] < box["x_max"] < 160

        with_landmarks = detection.detect(str(photo), {"face_plugins": "landmarks"})
        assert len(with_landmarks["result"][0]["landmarks"]) == 5

        refused = detection.detect(str(photo), {"face_plugins": "age,gender"})
        assert "result" not in refused
        assert "demographic" in refused["message"]

        wrong_key = client.init_face_detection("wk_wrong").detect(str(photo))
        assert wrong_key["code"] == 20
