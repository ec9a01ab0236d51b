"""Face detection by upload: boxes, landmarks and quality verdicts; nothing is stored."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Query, Request, UploadFile

from watchkeeper.api.schemas import DetectResponse, faces_out
from watchkeeper.api.security import requires
from watchkeeper.api.state import services_of
from watchkeeper.api.uploads import read_upload
from watchkeeper.core import Faces, Frame
from watchkeeper.governance.authz import Permission, Principal

router = APIRouter(prefix="/api", tags=["recognition"])

# Detection is a step of enrolment and of every search, and reveals no identity, so each role
# that enrols or searches may run it on its own.
DETECT_ACCESS = (Permission.GALLERY_ENROL, Permission.SEARCH_IDENTIFY, Permission.SEARCH_VERIFY)


def run_detect(request: Request, frame: Frame) -> Faces:
    # Detection touches no store, and the engine lends each caller its own analyzer, so it
    # runs beside other requests instead of waiting for the gate.
    services = services_of(request)
    return services.gate.outside("detect", lambda: services.engine.detect(frame))


def detect_response(frame: Frame, faces: Faces, with_landmarks: bool) -> DetectResponse:
    h, w = frame.image.shape[:2]
    rows = faces_out(faces, with_landmarks)
    return DetectResponse(
        source=frame.source_id,
        width_px=w,
        height_px=h,
        faces=rows,
        accepted=sum(1 for row in rows if row.accepted),
    )


@router.post("/detect", response_model=DetectResponse)
def detect(
    request: Request,
    file: Annotated[UploadFile, File(description="The image (JPEG, PNG, WebP, ...).")],
    _: Annotated[Principal, requires(*DETECT_ACCESS)],
    landmarks: Annotated[bool, Query(description="Include five landmark points per face.")] = False,
) -> DetectResponse:
    """Find the faces in an image and say whether each passes the quality gates."""
    frame = read_upload(file, services_of(request).settings)
    return detect_response(frame, run_detect(request, frame), landmarks)
