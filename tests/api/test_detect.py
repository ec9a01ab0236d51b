"""POST /api/detect: answers, and every refusal (role, size, corrupt image, pixel bomb)."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

from tests.api.conftest import Service
from tests.builders import encode

Upload = Callable[..., dict[str, tuple[str, bytes, str]]]


@pytest.mark.parametrize("user", ["olive", "ivan"])
def test_roles_that_enrol_or_search_can_detect(
    service: Service, user: str, face_jpeg: bytes, upload: Upload
) -> None:
    response = service.client.post(
        "/api/detect", files=upload(face_jpeg), headers=service.headers(user)
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["width_px"], body["height_px"]) == (120, 120)
    assert body["accepted"] == 1
    (face,) = body["faces"]
    x0, y0, x1, y1 = face["box_xyxy"]
    assert 0 <= x0 < x1 <= 120 and 0 <= y0 < y1 <= 120
    assert face["accepted"] is True and face["rejected"] == []
    assert face["landmarks_xy"] is None


def test_landmarks_on_request(service: Service, face_jpeg: bytes, upload: Upload) -> None:
    response = service.client.post(
        "/api/detect?landmarks=true", files=upload(face_jpeg), headers=service.headers("olive")
    )
    assert len(response.json()["faces"][0]["landmarks_xy"]) == 5


def test_an_image_without_faces_answers_an_empty_list(service: Service, upload: Upload) -> None:
    blank = encode(np.full((64, 64, 3), 128, np.uint8), "PNG")
    response = service.client.post(
        "/api/detect", files=upload(blank, "blank.png"), headers=service.headers("olive")
    )
    assert response.status_code == 200
    assert response.json()["faces"] == []


@pytest.mark.parametrize("user", ["audrey", "adam", "rita"])
def test_roles_without_enrol_or_search_are_refused(
    service: Service, user: str, face_jpeg: bytes, upload: Upload
) -> None:
    response = service.client.post(
        "/api/detect", files=upload(face_jpeg), headers=service.headers(user)
    )
    assert response.status_code == 403
    problem = response.json()
    assert problem["type"].endswith(":forbidden")
    assert user in problem["detail"] and "gallery.enrol" in problem["detail"]


def test_no_token_is_refused_before_the_upload_is_used(
    service: Service, face_jpeg: bytes, upload: Upload
) -> None:
    response = service.client.post("/api/detect", files=upload(face_jpeg))
    assert response.status_code == 401


def test_an_oversized_upload_is_refused_with_413(service: Service, upload: Upload) -> None:
    limit = service.settings.api.max_body_bytes
    response = service.client.post(
        "/api/detect", files=upload(b"\xff" * (limit + 1)), headers=service.headers("olive")
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert f"{limit:,}-byte limit" in response.json()["detail"]


def test_a_corrupt_image_is_refused_with_400(
    service: Service, face_jpeg: bytes, upload: Upload
) -> None:
    headers = service.headers("olive")
    for data in (b"this is not an image", face_jpeg[: len(face_jpeg) // 3]):
        response = service.client.post("/api/detect", files=upload(data), headers=headers)
        assert response.status_code == 400
        problem = response.json()
        assert problem["type"].endswith(":bad-image")
        assert "photo.jpg" in problem["detail"]


def test_a_decompression_bomb_is_refused_from_its_header(service: Service, upload: Upload) -> None:
    # 2,000 x 2,000 grey pixels compress to a few kilobytes but exceed the 1-megapixel limit.
    buffer = io.BytesIO()
    Image.new("L", (2000, 2000)).save(buffer, format="PNG")
    assert len(buffer.getvalue()) < service.settings.api.max_body_bytes
    response = service.client.post(
        "/api/detect", files=upload(buffer.getvalue(), "bomb.png"), headers=service.headers("olive")
    )
    assert response.status_code == 400
    assert "pixel limit" in response.json()["detail"]


def test_a_missing_file_field_is_a_clear_400(service: Service) -> None:
    response = service.client.post(
        "/api/detect", data={"other": "x"}, headers=service.headers("olive")
    )
    assert response.status_code == 400
    problem = response.json()
    assert problem["type"].endswith("invalid-request")
    assert "file" in problem["detail"]


def test_an_oversized_body_without_a_declared_length_is_stopped(service: Service) -> None:
    limit = service.settings.api.max_body_bytes
    chunk = b"x" * 65536

    def body() -> object:
        for _ in range(limit // len(chunk) + 2):
            yield chunk

    headers = {**service.headers("olive"), "content-type": "multipart/form-data; boundary=b0"}
    response = service.client.post("/api/detect", content=body(), headers=headers)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
