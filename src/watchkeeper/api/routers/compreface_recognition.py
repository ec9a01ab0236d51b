"""CompreFace-compatible recognition and verification under ``/api/v1`` (``x-api-key``).

Same paths, parameters and bodies as CompreFace, so its clients work unchanged; underneath,
each call is the engine's governed use-case. The key names the user it acts as, the one
watchlist it works on and the purpose every search is recorded under (see
``service/apikeys.py``), so expiry, approval, review and audit apply as everywhere else.

Where Watchkeeper answers differently on purpose:

* ``recognize`` lists, per face, only subjects whose similarity passes the site's calibrated
  threshold, and each of those is a candidate put in the review queue; CompreFace lists the
  nearest subjects whatever their similarity.
* renaming a subject onto a name already in use is refused instead of merging the two.
* the age, gender and calculator (embedding) plugins are refused, as in detection.
* the image of a saved example is the small face crop enrolment keeps (the whole photo is
  never stored), and an unknown id answers 404 instead of an empty body.
* showing an example and verifying against one need the key's watchlist to be active; deleting
  never waits, so examples of an expired watchlist can still be removed.
"""

from __future__ import annotations

import math
import time
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from watchkeeper.api.routers.compreface import (
    _IMAGE_BODY,
    NO_FACE_MESSAGE,
    cf_box,
    cf_landmarks,
    chosen_rows,
    parse_face_plugins,
    plugin_versions,
    read_image_field,
    read_image_fields,
)
from watchkeeper.api.schemas import (
    CfDeletedExample,
    CfExampleMatch,
    CfFace,
    CfFaceMatch,
    CfRecognizedFace,
    CfRecognizeResponse,
    CfSubjectMatch,
    CfVerifyExampleResponse,
    CfVerifyItem,
    CfVerifyResponse,
)
from watchkeeper.api.security import Credential, bound_key, requires
from watchkeeper.api.state import engine_call, engine_call_staged, services_of
from watchkeeper.core import Decision
from watchkeeper.core.errors import InvalidInputError, NoFaceError, NotFoundError
from watchkeeper.governance.authz import Permission, Principal
from watchkeeper.governance.policy import POLICY_STATEMENT, safe_excerpt
from watchkeeper.service.apikeys import RecognitionKey
from watchkeeper.service.engine import Engine, Probe

router = APIRouter(prefix="/api/v1", tags=["compreface-compatible"])

KEY = Credential.API_KEY
Plugins = Annotated[str | None, Query(description=f"Only 'landmarks'. {POLICY_STATEMENT}")]


def _engine(request: Request) -> Engine:
    return services_of(request).engine


def _subject_json(body: object) -> str:
    # The CompreFace SDK sends extra members (api_endpoint); only "subject" matters.
    subject = body.get("subject") if isinstance(body, dict) else None
    if not isinstance(subject, str) or not subject.strip():
        raise InvalidInputError("the JSON body needs a non-empty 'subject'")
    return subject


# -- subjects -------------------------------------------------------------------------------------


@router.get("/recognition/subjects")
@router.get("/recognition/subjects/", include_in_schema=False)
def list_subjects(
    request: Request,
    principal: Annotated[Principal, requires(Permission.GALLERY_VIEW, credential=KEY)],
) -> dict[str, list[str]]:
    """The people of the key's watchlist."""
    key = bound_key(request)
    people = engine_call(
        request, "people", lambda: _engine(request).people(principal, key.watchlist)
    )
    return {"subjects": [p.display_name for p in people]}


@router.post("/recognition/subjects", status_code=201)
def add_subject(
    request: Request,
    principal: Annotated[Principal, requires(Permission.GALLERY_ENROL, credential=KEY)],
    body: Annotated[dict[str, Any], Body()],
) -> dict[str, str]:
    """Add a person with no photo yet (photos follow through /recognition/faces)."""
    key = bound_key(request)
    subject = _subject_json(body)
    ident = engine_call(
        request,
        "add_person",
        lambda: _engine(request).add_person(
            principal, subject, key.watchlist, key.basis, key.source
        ),
    )
    return {"subject": ident.display_name}


@router.put("/recognition/subjects/{subject}")
def rename_subject(
    request: Request,
    subject: str,
    principal: Annotated[Principal, requires(Permission.GALLERY_ENROL, credential=KEY)],
    body: Annotated[dict[str, Any], Body()],
) -> dict[str, bool]:
    """Rename a person (refused, not merged, when the new name is taken)."""
    key = bound_key(request)
    new_name = _subject_json(body)
    engine_call(
        request,
        "rename_person",
        lambda: _engine(request).rename_person(principal, subject, new_name, key.watchlist),
    )
    return {"updated": True}


@router.delete("/recognition/subjects/{subject}")
def delete_subject(
    request: Request,
    subject: str,
    principal: Annotated[Principal, requires(Permission.GALLERY_DELETE, credential=KEY)],
) -> dict[str, str]:
    """Remove a person and every photo of them."""
    key = bound_key(request)
    engine_call(
        request,
        "delete_person",
        lambda: _engine(request).delete_person(principal, subject, key.watchlist),
    )
    return {"subject": subject}


def _delete_everyone(
    request: Request, principal: Principal, key: RecognitionKey
) -> tuple[int, int]:
    engine = _engine(request)

    def run() -> tuple[int, int]:
        people = engine.people(principal, key.watchlist)
        templates = sum(
            engine.delete_person(principal, p.identity_id, key.watchlist) for p in people
        )
        return len(people), templates

    return engine_call(request, "delete_people", run)


@router.delete("/recognition/subjects")
def delete_all_subjects(
    request: Request,
    principal: Annotated[Principal, requires(Permission.GALLERY_DELETE, credential=KEY)],
) -> dict[str, int]:
    """Remove everyone from the key's watchlist (one audit record per person)."""
    people, _ = _delete_everyone(request, principal, bound_key(request))
    return {"deleted": people}


# -- face examples --------------------------------------------------------------------------------


@router.post("/recognition/faces", status_code=201, openapi_extra=_IMAGE_BODY)
async def add_face(
    request: Request,
    principal: Annotated[Principal, requires(Permission.GALLERY_ENROL, credential=KEY)],
    subject: Annotated[str, Query(min_length=1, max_length=200)],
    det_prob_threshold: Annotated[float, Query(ge=0.0, le=1.0)] = 0.0,
) -> dict[str, str]:
    """Enrol a photo of ``subject`` (one face) in the key's watchlist."""
    key = bound_key(request)
    frame = await read_image_field(request, "file")
    engine = _engine(request)

    def analyse() -> Probe:
        probe = engine.analyse_probe(frame)
        if not chosen_rows(probe.faces, 0, det_prob_threshold):
            raise NoFaceError(NO_FACE_MESSAGE)
        return probe

    def enrol(probe: Probe) -> dict[str, str]:
        result = engine.enrol(principal, subject, probe, key.watchlist, key.basis, key.source)
        if result.template_id is None:
            raise InvalidInputError(f"this photo of {result.person!r} is already enrolled")
        return {"image_id": result.template_id, "subject": result.person}

    return await run_in_threadpool(engine_call_staged, request, "enrol", analyse, enrol)


@router.get("/recognition/faces")
def list_faces(
    request: Request,
    principal: Annotated[Principal, requires(Permission.GALLERY_VIEW, credential=KEY)],
    page: Annotated[int, Query(ge=0)] = 0,
    size: Annotated[int, Query(ge=1, le=1000)] = 20,
    subject: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, object]:
    """Saved photos (their ids and subjects), a page at a time."""
    key = bound_key(request)
    engine = _engine(request)

    def run() -> list[dict[str, str]]:
        people = engine.people(principal, key.watchlist)
        if subject is not None:
            people = [p for p in people if p.display_name == subject]
        return [
            {"image_id": t.template_id, "subject": p.display_name}
            for p in people
            for t in engine.templates_of(principal, p.identity_id)
        ]

    faces = engine_call(request, "list_faces", run)
    return {
        "faces": faces[page * size : (page + 1) * size],
        "page_number": page,
        "page_size": size,
        "total_pages": math.ceil(len(faces) / size),
        "total_elements": len(faces),
    }


@router.delete("/recognition/faces")
def delete_faces(
    request: Request,
    principal: Annotated[Principal, requires(Permission.GALLERY_DELETE, credential=KEY)],
    subject: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, int]:
    """Delete every photo of ``subject`` (or of everyone); the subjects themselves stay."""
    key = bound_key(request)
    engine = _engine(request)

    def run() -> int:
        people = engine.people(principal, key.watchlist)
        if subject is not None:
            people = [p for p in people if p.display_name == subject]
        removed = 0
        for person in people:
            for template in engine.templates_of(principal, person.identity_id):
                engine.delete_template(principal, template.template_id, key.watchlist)
                removed += 1
        return removed

    return {"deleted": engine_call(request, "delete_faces", run)}


# Most ids one bulk delete takes; each is its own audited deletion.
MAX_BULK_DELETE = 1000


@router.post("/recognition/faces/delete", response_model=list[CfDeletedExample])
def delete_faces_by_id(
    request: Request,
    principal: Annotated[Principal, requires(Permission.GALLERY_DELETE, credential=KEY)],
    image_ids: Annotated[list[str], Body(max_length=MAX_BULK_DELETE)],
) -> list[CfDeletedExample]:
    """Delete several saved photos by id; ids not in the key's watchlist are skipped, as
    CompreFace does. Each deletion is audited on its own, like a single delete."""
    key = bound_key(request)
    engine = _engine(request)

    def run() -> list[CfDeletedExample]:
        deleted = []
        for image_id in dict.fromkeys(image_ids):  # each id once, in the order given
            try:
                identity_id = engine.delete_template(principal, image_id, key.watchlist)
            except NotFoundError:
                continue  # the refused attempt is in the audit log all the same
            subject = engine.store.get_identity(identity_id).display_name
            deleted.append(CfDeletedExample(image_id=image_id, subject=subject))
        return deleted

    return engine_call(request, "delete_faces", run)


@router.get(
    "/recognition/faces/{image_id}/img",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
)
def face_image(
    request: Request,
    image_id: str,
    principal: Annotated[Principal, requires(Permission.GALLERY_VIEW, credential=KEY)],
) -> Response:
    """The face picture kept with a saved photo (JPEG); each look is audited."""
    key = bound_key(request)
    jpeg = engine_call(
        request,
        "face_image",
        lambda: _engine(request).template_image(principal, image_id, key.watchlist),
    )
    # A biometric picture: no shared cache may keep a copy.
    return Response(jpeg, media_type="image/jpeg", headers={"cache-control": "no-store"})


@router.delete("/recognition/faces/{image_id}")
def delete_face(
    request: Request,
    image_id: str,
    principal: Annotated[Principal, requires(Permission.GALLERY_DELETE, credential=KEY)],
) -> dict[str, str]:
    """Delete one saved photo by its id."""
    key = bound_key(request)
    engine = _engine(request)

    def run() -> str:
        identity_id = engine.delete_template(principal, image_id, key.watchlist)
        return engine.store.get_identity(identity_id).display_name

    return {"image_id": image_id, "subject": engine_call(request, "delete_face", run)}


# -- recognise and verify -------------------------------------------------------------------------


@router.post(
    "/recognition/recognize",
    response_model=CfRecognizeResponse,
    response_model_exclude_none=True,
    openapi_extra=_IMAGE_BODY,
)
async def recognize(
    request: Request,
    principal: Annotated[Principal, requires(Permission.SEARCH_IDENTIFY, credential=KEY)],
    limit: Annotated[int, Query(ge=0)] = 0,
    prediction_count: Annotated[int, Query(ge=1, le=100)] = 1,
    det_prob_threshold: Annotated[float, Query(ge=0.0, le=1.0)] = 0.0,
    face_plugins: Plugins = None,
    status: bool = False,
    detect_faces: bool = True,
) -> CfRecognizeResponse:
    """Search the faces of a photo in the key's watchlist, for the key's purpose (audited).

    Subjects listed are candidates above the calibrated threshold, each one queued for review.
    """
    plugins = parse_face_plugins(face_plugins)
    if not detect_faces:
        raise InvalidInputError("detect_faces=false is not supported: every search finds faces")
    key = bound_key(request)
    frame = await read_image_field(request, "file")
    engine = _engine(request)
    start = time.perf_counter()
    result = await run_in_threadpool(
        engine_call_staged,
        request,
        "identify",
        lambda: engine.analyse_probe(frame),
        lambda probe: engine.identify(
            principal, probe, key.watchlist, key.purpose, prediction_count
        ),
    )
    elapsed_ms = round((time.perf_counter() - start) * 1000.0, 1)
    faces = []
    for i in chosen_rows(result.faces, limit, det_prob_threshold):
        match = result.matches[i]
        passed = [
            CfSubjectMatch(subject=c.display_name, similarity=round(c.similarity, 5))
            for c in match.candidates
            if match.decision is Decision.MATCH and c.similarity >= match.threshold
        ]
        faces.append(
            CfRecognizedFace(
                box=cf_box(frame, result.faces, i),
                subjects=passed[:prediction_count],
                landmarks=cf_landmarks(frame, result.faces, i, plugins),
                execution_time={"detector_and_search": elapsed_ms} if status else None,
            )
        )
    if not faces:
        raise NoFaceError(NO_FACE_MESSAGE)
    return CfRecognizeResponse(
        result=faces, plugins_versions=plugin_versions(request, plugins, "calculator")
    )


def _one_face(probe: Probe, what: str, det_prob_threshold: float) -> CfFace:
    rows = chosen_rows(probe.faces, 0, det_prob_threshold)
    if not rows:
        raise NoFaceError(f"No face is found in the given image ({safe_excerpt(what, 20)})")
    return CfFace(box=cf_box(probe.frame, probe.faces, rows[0]))


@router.post(
    "/verification/verify", response_model=CfVerifyResponse, response_model_exclude_none=True
)
async def verify(
    request: Request,
    principal: Annotated[Principal, requires(Permission.SEARCH_VERIFY, credential=KEY)],
    limit: Annotated[int, Query(ge=0)] = 0,
    det_prob_threshold: Annotated[float, Query(ge=0.0, le=1.0)] = 0.0,
    face_plugins: Plugins = None,
    status: bool = False,
) -> CfVerifyResponse:
    """Compare the face in ``source_image`` with the face in ``target_image`` (one each)."""
    plugins = parse_face_plugins(face_plugins)
    key = bound_key(request)
    source, target = await read_image_fields(request, "source_image", "target_image")
    engine = _engine(request)

    def analyse() -> tuple[Probe, Probe]:
        # Faces are found in both photos before anything is compared (or audited), as the
        # boxes CompreFace reports come from the same analysis.
        pair = engine.analyse_probe(source, crops=False), engine.analyse_probe(target, crops=False)
        _one_face(pair[0], "source_image", det_prob_threshold)
        _one_face(pair[1], "target_image", det_prob_threshold)
        return pair

    def compare(pair: tuple[Probe, Probe]) -> CfVerifyItem:
        result = engine.verify(principal, pair[0], pair[1], key.purpose)
        target_face = _one_face(pair[1], "target_image", det_prob_threshold)
        return CfVerifyItem(
            source_image_face=_one_face(pair[0], "source_image", det_prob_threshold),
            face_matches=[CfFaceMatch(box=target_face.box, similarity=round(result.similarity, 5))],
            plugins_versions=plugin_versions(request, plugins, "calculator"),
        )

    item = await run_in_threadpool(engine_call_staged, request, "verify", analyse, compare)
    return CfVerifyResponse(result=[item])


@router.post(
    "/recognition/faces/{image_id}/verify",
    response_model=CfVerifyExampleResponse,
    response_model_exclude_none=True,
    openapi_extra=_IMAGE_BODY,
)
async def verify_with_example(
    request: Request,
    image_id: str,
    principal: Annotated[Principal, requires(Permission.SEARCH_VERIFY, credential=KEY)],
    limit: Annotated[int, Query(ge=0)] = 0,
    det_prob_threshold: Annotated[float, Query(ge=0.0, le=1.0)] = 0.0,
    face_plugins: Plugins = None,
    status: bool = False,
) -> CfVerifyExampleResponse:
    """Compare each face of the uploaded image with one saved photo, for the key's purpose.

    The 1:1 verification use-case underneath: audited, thresholded by the calibration of the
    embedding contract; faces that fail the quality gates are not compared or listed.
    """
    plugins = parse_face_plugins(face_plugins)
    key = bound_key(request)
    frame = await read_image_field(request, "file")
    engine = _engine(request)
    start = time.perf_counter()
    checked = await run_in_threadpool(
        engine_call_staged,
        request,
        "verify",
        lambda: engine.analyse_probe(frame, crops=False),
        lambda probe: engine.verify_template(
            principal, probe, image_id, key.watchlist, key.purpose
        ),
    )
    elapsed_ms = round((time.perf_counter() - start) * 1000.0, 1)
    rows = [i for i, r in enumerate(checked.results) if r.decision is not Decision.REJECTED]
    if not rows:
        raise NoFaceError(NO_FACE_MESSAGE)
    compared = checked.faces[rows]
    result = [
        CfExampleMatch(
            box=cf_box(frame, compared, j),
            similarity=round(checked.results[rows[j]].similarity, 5),
            landmarks=cf_landmarks(frame, compared, j, plugins),
            execution_time={"detector_and_calculator": elapsed_ms} if status else None,
        )
        for j in chosen_rows(compared, limit, det_prob_threshold)
    ]
    if not result:
        raise NoFaceError(NO_FACE_MESSAGE)
    return CfVerifyExampleResponse(
        result=result, plugins_versions=plugin_versions(request, plugins, "calculator")
    )
