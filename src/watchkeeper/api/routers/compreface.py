"""CompreFace-compatible routes under ``/api/v1`` (``x-api-key`` header), so existing CompreFace
clients and integrations work unchanged: same paths, parameters, bodies and error codes.

Detection lives here; recognition and verification in ``compreface_recognition``.
What Watchkeeper refuses on purpose: the ``age`` and ``gender``
plugins (and any other demographic or emotion inference) by the responsible-use policy, and the
``calculator`` plugin, because face embeddings are biometric templates and never leave the site.
"""

from __future__ import annotations

import math
import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from watchkeeper.api.routers.detect import DETECT_ACCESS, run_detect
from watchkeeper.api.schemas import CfBox, CfDetectResponse, CfFace
from watchkeeper.api.security import Credential, requires
from watchkeeper.api.state import services_of
from watchkeeper.api.uploads import decode_base64_image, decode_upload
from watchkeeper.core import Faces, Frame
from watchkeeper.core.errors import InvalidInputError, NoFaceError, PolicyViolationError
from watchkeeper.governance.authz import Principal
from watchkeeper.governance.policy import POLICY_STATEMENT, check_field_name, safe_excerpt

router = APIRouter(prefix="/api/v1", tags=["compreface-compatible"])

NO_FACE_MESSAGE = "No face is found in the given image"
SUPPORTED_PLUGINS = frozenset({"landmarks"})

_IMAGE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "description": "base64 image"}},
                    "required": ["file"],
                }
            },
        },
    }
}


def parse_face_plugins(value: str | None) -> frozenset[str]:
    """The requested plugins, refusing what Watchkeeper will not or cannot compute.

    Raises:
        PolicyViolationError: demographic or emotion plugins (age, gender...) and embeddings.
        InvalidInputError: plugins Watchkeeper does not have (mask, pose...).
    """
    requested = {p.strip().lower() for p in (value or "").split(",") if p.strip()}
    for plugin in sorted(requested):
        check_field_name(plugin)
        if plugin == "calculator":
            raise PolicyViolationError(
                "the calculator plugin is refused: face embeddings are biometric templates "
                "and never leave Watchkeeper"
            )
        if plugin not in SUPPORTED_PLUGINS:
            raise InvalidInputError(
                f"face plugin {safe_excerpt(plugin, 30)!r} is not available; available: "
                + ", ".join(sorted(SUPPORTED_PLUGINS))
            )
    return frozenset(requested)


def detector_probability(score: float) -> float:
    """Map the detector's score to (0, 1) for CompreFace's ``probability`` field.

    A monotone logistic squashing of the detector's margin, not a calibrated probability: a
    margin of 0 (the detector's default cut) reads 0.5 and a margin of 1 reads 0.95, so the
    CompreFace clients' usual ``det_prob_threshold=0.8`` keeps clear detections.
    """
    return round(1.0 / (1.0 + math.exp(-3.0 * score)), 5)


def _clip(value: float, high: int) -> int:
    return int(min(max(round(value), 0), high))


def chosen_rows(faces: Faces, limit: int, det_prob_threshold: float) -> list[int]:
    """Rows CompreFace would report: largest first, above the threshold, at most ``limit``."""
    order = sorted(range(len(faces)), key=lambda i: -float(faces.area_px[i]))
    rows = [
        i
        for i in order
        if detector_probability(float(faces.detector_score[i])) >= det_prob_threshold
    ]
    return rows[:limit] if limit else rows


def cf_box(frame: Frame, faces: Faces, i: int) -> CfBox:
    h, w = frame.image.shape[:2]
    x0, y0, x1, y1 = (float(v) for v in faces.xyxy[i])
    return CfBox(
        probability=detector_probability(float(faces.detector_score[i])),
        x_max=_clip(x1, w - 1),
        y_max=_clip(y1, h - 1),
        x_min=_clip(x0, w - 1),
        y_min=_clip(y0, h - 1),
    )


def cf_landmarks(
    frame: Frame, faces: Faces, i: int, plugins: frozenset[str]
) -> list[list[int]] | None:
    five = faces.five_landmarks  # CompreFace's API promises five points
    if "landmarks" not in plugins or five is None:
        return None
    h, w = frame.image.shape[:2]
    return [[_clip(x, w - 1), _clip(y, h - 1)] for x, y in five[i]]


def plugin_versions(request: Request, plugins: frozenset[str], *extra: str) -> dict[str, str]:
    kind = services_of(request).settings.detection.kind.value
    versions = {"detector": f"watchkeeper.{kind}"}
    if "landmarks" in plugins:
        versions["landmarks"] = "watchkeeper.five_point"
    for name in extra:
        versions[name] = f"watchkeeper.{services_of(request).settings.recognition.embedder.value}"
    return versions


def compreface_faces(
    frame: Frame,
    faces: Faces,
    limit: int,
    det_prob_threshold: float,
    plugins: frozenset[str],
    detector_ms: float | None,
) -> list[CfFace]:
    """Faces in CompreFace's shape: largest first, thresholded and limited like CompreFace."""
    return [
        CfFace(
            box=cf_box(frame, faces, i),
            landmarks=cf_landmarks(frame, faces, i, plugins),
            execution_time=None if detector_ms is None else {"detector": detector_ms},
        )
        for i in chosen_rows(faces, limit, det_prob_threshold)
    ]


async def read_image_field(request: Request, field: str) -> Frame:
    """One image from a multipart upload or, as CompreFace also accepts, base64 in JSON."""
    (frame,) = await read_image_fields(request, field)
    return frame


async def read_image_fields(request: Request, *fields: str) -> list[Frame]:
    """Images from a multipart upload or, as CompreFace also accepts, base64 in JSON."""
    settings = services_of(request).settings
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        try:
            body = await request.json()
        except ValueError as exc:
            raise InvalidInputError(f"the JSON body is malformed ({exc})") from exc
        if not isinstance(body, dict):
            raise InvalidInputError("the JSON body must be an object")
        return [
            await run_in_threadpool(decode_base64_image, body.get(field), field, settings)
            for field in fields
        ]
    if not content_type.startswith("multipart/form-data"):
        raise InvalidInputError(
            f"send the image as multipart/form-data field {fields[0]!r} or as base64 in JSON"
        )
    frames = []
    async with request.form(max_files=len(fields) + 1, max_fields=len(fields) + 3) as form:
        for field in fields:
            upload = form.get(field)
            if not isinstance(upload, UploadFile):
                raise InvalidInputError(f"the multipart body has no file field {field!r}")
            data = await upload.read()
            frames.append(await run_in_threadpool(decode_upload, data, upload.filename, settings))
    return frames


@router.post(
    "/detection/detect",
    response_model=CfDetectResponse,
    response_model_exclude_none=True,
    openapi_extra=_IMAGE_BODY,
    summary="Detect faces (CompreFace detection service)",
)
async def compreface_detect(
    request: Request,
    _: Annotated[Principal, requires(*DETECT_ACCESS, credential=Credential.API_KEY)],
    limit: Annotated[int, Query(ge=0, description="Most faces to return, largest first.")] = 0,
    det_prob_threshold: Annotated[float, Query(ge=0.0, le=1.0)] = 0.0,
    face_plugins: Annotated[
        str | None, Query(description=f"Only 'landmarks'. {POLICY_STATEMENT}")
    ] = None,
    status: Annotated[bool, Query(description="Include execution times.")] = False,
) -> CfDetectResponse:
    """Find faces; answers 400 with code 28 when there are none, as CompreFace does."""
    plugins = parse_face_plugins(face_plugins)
    frame = await read_image_field(request, "file")
    start = time.perf_counter()
    faces = await run_in_threadpool(run_detect, request, frame)
    elapsed_ms = round((time.perf_counter() - start) * 1000.0, 1)
    result = compreface_faces(
        frame, faces, limit, det_prob_threshold, plugins, elapsed_ms if status else None
    )
    if not result:
        raise NoFaceError(NO_FACE_MESSAGE)
    return CfDetectResponse(result=result, plugins_versions=plugin_versions(request, plugins))
