"""Request and response bodies (DTOs) of the JSON API, and the mapping from core types to them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Generic, TypeVar

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
    five = faces.five_landmarks if with_landmarks else None  # the API promises five points
    for i in range(len(faces)):
        landmarks = None
        if five is not None:
            landmarks = [[round(float(x), 1), round(float(y), 1)] for x, y in five[i]]
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


# --- lists ---------------------------------------------------------------------------------------

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list: ``items`` from ``offset``, at most ``limit``, of ``total``."""

    model_config = ConfigDict(frozen=True)

    items: list[T]
    total: int = Field(description="How many items the whole list holds.")
    limit: int
    offset: int


def page_of(items: Sequence[T], limit: int, offset: int) -> Page[T]:
    return Page[T](
        items=list(items[offset : offset + limit]), total=len(items), limit=limit, offset=offset
    )


# --- recognition ---------------------------------------------------------------------------------


class EnrolOut(_Dto):
    watchlist: str
    person: str
    identity_id: str | None
    template_id: str | None = Field(description="None when the photo was already enrolled.")
    duplicate: bool


class CandidateMatch(_Dto):
    identity_id: str
    display_name: str
    similarity: float = Field(
        description="Cosine similarity of the face embeddings; higher is closer."
    )


class IdentifiedFace(_Dto):
    index: int
    box_xyxy: list[float]
    decision: str = Field(description="match (a candidate for review), unknown, or rejected.")
    threshold: float
    candidates: list[CandidateMatch]
    candidate_id: str | None = Field(description="The review-queue entry a match became.")
    rejected: list[str]
    explanation: str


class IdentifyOut(_Dto):
    source: str
    watchlist: str
    purpose: str
    target_fmr: float
    faces: list[IdentifiedFace]
    note: str = Field(description="What the answer means and what happens next.")


class VerifyOut(_Dto):
    decision: str = Field(description="match or unknown.")
    similarity: float
    threshold: float
    target_fmr: float
    explanation: str


class PersonOut(_Dto):
    identity_id: str
    display_name: str
    templates: int
    basis: str | None
    source: str | None
    enrolled_by: str | None
    created_at: datetime


# --- watchlists and approvals --------------------------------------------------------------------


class WatchlistIn(_Dto):
    name: str = Field(min_length=1, max_length=64)
    purpose: str = Field(min_length=1, max_length=500, description="What the watchlist is for.")
    legal_basis: str = Field(
        min_length=1, max_length=500, description="Law, authorisation or reference that allows it."
    )
    expires_at: datetime | None = Field(None, description="When it ends (UTC); or give days.")
    days: int | None = Field(None, ge=1, le=3650, description="Ends this many days from now.")
    match_retention_days: float | None = Field(None, gt=0)
    max_people: int | None = Field(None, ge=1, description="Most people it may hold.")


class ExtendIn(_Dto):
    expires_at: datetime | None = None
    days: int | None = Field(None, ge=1, le=3650)
    reason: str = Field(max_length=500)


class WidenIn(_Dto):
    max_people: int | None = Field(None, ge=1, description="None removes the limit.")
    reason: str = Field(max_length=500)


class ReasonIn(_Dto):
    reason: str = Field("", max_length=500)


class WatchlistOut(_Dto):
    name: str
    state: str = Field(description="active, pending, expired or revoked.")
    active: bool
    people: int
    purpose: str | None
    legal_basis: str | None
    owner: str | None
    created_at: datetime
    expires_at: datetime | None
    match_retention_days: float | None
    max_people: int | None
    pending_approval: str | None


class ChangeOut(_Dto):
    watchlist: str
    applied: bool = Field(description="False when the change waits for a second person.")
    approval_id: str | None


class ApprovalOut(_Dto):
    request_id: str
    kind: str
    summary: str
    requester: str
    status: str
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None


# --- review --------------------------------------------------------------------------------------


class CandidateOut(_Dto):
    candidate_id: str
    created_at: datetime
    watchlist: str
    identity_id: str
    display_name: str
    similarity: float
    threshold: float
    probe_source: str
    searched_by: str
    purpose: str
    status: str
    decided_by: str | None
    decided_at: datetime | None
    note: str | None


class NoteIn(_Dto):
    note: str = Field("", max_length=500)


class ReviewStatsOut(_Dto):
    watchlist: str
    pending: int
    confirmed: int
    rejected: int
    measured_fmr: float | None = Field(description="Rejected / decided; None before any decision.")


# --- audit, retention, erasure, reports ----------------------------------------------------------


class AuditEntryOut(_Dto):
    seq: int
    at: datetime
    actor: str
    role: str
    action: str
    target: str
    watchlist: str | None
    purpose: str
    outcome: str
    details: dict[str, object]
    hash: str


class AuditPageOut(_Dto):
    entries: list[AuditEntryOut]
    next_after: int | None = Field(
        description="Pass as ?after= for the next page; None at the end."
    )


class ChainOut(_Dto):
    ok: bool
    entries_checked: int
    head_seq: int
    broken_at: int | None
    kind: str | None
    summary: str


class RetentionOut(_Dto):
    days: dict[str, float] = Field(description="How long each kind of data is kept, in days.")
    purge_interval_s: float
    four_eyes: bool


class PurgeOut(_Dto):
    at: datetime
    removed: dict[str, int]
    total: int


class EraseIn(_Dto):
    person: str = Field(min_length=1, max_length=200, description="Name or identity id.")
    reason: str = Field(max_length=500)


# --- users and tokens ----------------------------------------------------------------------------


class UserIn(_Dto):
    username: str = Field(min_length=1, max_length=64)
    roles: list[str] = Field(min_length=1)
    password: str | None = Field(None, min_length=12, max_length=1024)
    token_days: int = Field(90, ge=1, le=365)


class UserOut(_Dto):
    username: str
    roles: list[str]
    created_at: datetime
    disabled: bool
    has_password: bool


class TokenIn(_Dto):
    username: str | None = Field(None, description="For another user (needs users.manage).")
    days: int = Field(90, ge=1, le=365)
    label: str = Field("", max_length=100)


class TokenOut(_Dto):
    token: str = Field(description="Shown once: store it safely.")
    token_id: str
    username: str
    expires_at: datetime


class NewUserOut(_Dto):
    user: UserOut
    token: TokenOut


class FourEyesIn(_Dto):
    enabled: bool
    reason: str = Field(max_length=500)


# --- CompreFace recognition keys and shapes ------------------------------------------------------


class KeyIn(_Dto):
    watchlist: str = Field(min_length=1, max_length=64, description="The one watchlist it uses.")
    purpose: str = Field(
        min_length=1, max_length=500, description="Recorded with every search made with it."
    )
    username: str | None = Field(None, description="Acts as this user (default: you).")
    basis: str = Field("consent", description="Lawful basis of enrolments through the key.")
    days: int = Field(90, ge=1, le=365)
    label: str = Field("", max_length=100)


class KeyOut(_Dto):
    key_id: str
    username: str
    watchlist: str
    purpose: str
    basis: str
    label: str
    created_by: str
    created_at: datetime
    expires_at: datetime
    revoked: bool


class NewKeyOut(_Dto):
    key: str = Field(description="Send as the x-api-key header; shown once.")
    details: KeyOut


class CfSubjectMatch(_Dto):
    subject: str
    similarity: float


class CfRecognizedFace(_Dto):
    box: CfBox
    subjects: list[CfSubjectMatch]
    landmarks: list[list[int]] | None = None
    execution_time: dict[str, float] | None = None


class CfRecognizeResponse(_Dto):
    result: list[CfRecognizedFace]
    plugins_versions: dict[str, str]


class CfFaceMatch(_Dto):
    box: CfBox
    similarity: float


class CfVerifyItem(_Dto):
    source_image_face: CfFace
    face_matches: list[CfFaceMatch]
    plugins_versions: dict[str, str]


class CfVerifyResponse(_Dto):
    result: list[CfVerifyItem]


class CfExampleMatch(_Dto):
    """One face of an uploaded image compared with one saved example."""

    box: CfBox
    similarity: float
    landmarks: list[list[int]] | None = None
    execution_time: dict[str, float] | None = None


class CfVerifyExampleResponse(_Dto):
    result: list[CfExampleMatch]
    plugins_versions: dict[str, str]


class CfDeletedExample(_Dto):
    image_id: str
    subject: str


# --- video: sightings, events, counts ----------------------------------------------------------


class SightingOut(_Dto):
    """One stored sighting; its embedding and face crop never leave the site through here."""

    sighting_id: str
    camera_id: str
    track_id: int
    identity_id: str | None = Field(description="None when the face matched nobody (unknown).")
    display_name: str | None
    watchlist: str | None
    link_id: str | None = Field(description="Groups sightings linked as the same unknown person.")
    first_seen_at: datetime
    last_seen_at: datetime
    frames: int
    detector_score: float
    quality: float | None
    similarity: float | None
    vote_share: float | None


class EventOut(_Dto):
    seq: int = Field(description="Position in the event log; pass as after_seq to read on.")
    kind: str
    at: datetime
    camera_id: str | None
    payload: dict[str, object]


class CountOut(_Dto):
    bucket_start_at: datetime
    camera_id: str
    place_id: str = Field(description="The line or zone counted at.")
    event_kind: str
    class_group: str
    direction: str | None
    count: int


class CountsOut(_Dto):
    bucket: str = Field(description="minute or hour.")
    rows: list[CountOut] = Field(description="Non-zero buckets only, sorted by time then key.")
