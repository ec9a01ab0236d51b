"""Request and response bodies (DTOs) of the JSON API, and the mapping from core types to them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from watchkeeper.core import Faces


class _Dto(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Health(_Dto):
    status: str = Field(description="'ok' when the service answers requests, else 'starting'.")
    ready: bool
    version: str
    uptime_s: float


class LoginRequest(_Dto):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class Me(_Dto):
    username: str
    roles: list[str]
    permissions: list[str] = Field(description="What this user may do, as permission names.")


class LoginResponse(_Dto):
    access_token: str = Field(description="Send as 'Authorization: Bearer <token>'.")
    token_type: str = "bearer"
    expires_at: datetime
    user: Me


class FaceOut(_Dto):
    index: int = Field(description="Row of the face in this image.")
    box_xyxy: list[float] = Field(description="Left, top, right, bottom in image pixels.")
    detector_score: float = Field(description="The detector's own score; higher is surer.")
    sharpness: float | None = Field(
        description="Variance of the Laplacian of the aligned face chip; low means blurred."
    )
    accepted: bool = Field(description="True when the face passed every quality gate.")
    rejected: list[str] = Field(description="Why the face is not used for recognition.")
    landmarks_xy: list[list[float]] | None = Field(
        None, description="Five landmark points (x, y) in pixels, when asked for."
    )


class DetectResponse(_Dto):
    source: str
    width_px: int
    height_px: int
    faces: list[FaceOut]
    accepted: int = Field(description="How many faces passed the quality gates.")


def faces_out(faces: Faces, with_landmarks: bool = False) -> list[FaceOut]:
    """One :class:`FaceOut` per row of ``faces``."""
    rows = []
    for i in range(len(faces)):
        landmarks = None
        if with_landmarks and faces.landmarks is not None:
            landmarks = [[round(float(x), 1), round(float(y), 1)] for x, y in faces.landmarks[i]]
        rows.append(
            FaceOut(
                index=i,
                box_xyxy=[round(float(v), 1) for v in faces.xyxy[i]],
                detector_score=round(float(faces.detector_score[i]), 4),
                sharpness=None if faces.quality is None else round(float(faces.quality[i]), 1),
                accepted=not faces.rejected[i],
                rejected=[reason.value for reason in faces.rejected[i]],
                landmarks_xy=landmarks,
            )
        )
    return rows


# --- CompreFace-compatible shapes ----------------------------------------------------------------


class CfBox(_Dto):
    probability: float
    x_max: int
    y_max: int
    x_min: int
    y_min: int


class CfFace(_Dto):
    box: CfBox
    landmarks: list[list[int]] | None = None
    execution_time: dict[str, float] | None = None


class CfDetectResponse(_Dto):
    result: list[CfFace]
    plugins_versions: dict[str, str]
