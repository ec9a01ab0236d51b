"""Enrol, verify (1:1) and identify against a watchlist (1:N), by upload; and a watchlist's
people. Every call is the engine's governed use-case: permission, purpose and audit included."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, UploadFile

from watchkeeper.api.explain import explain_match, explain_verification
from watchkeeper.api.schemas import (
    CandidateMatch,
    EnrolOut,
    IdentifiedFace,
    IdentifyOut,
    Page,
    PersonOut,
    VerifyOut,
    page_of,
)
from watchkeeper.api.security import requires
from watchkeeper.api.state import engine_call, engine_call_staged, services_of
from watchkeeper.api.uploads import read_upload
from watchkeeper.governance.authz import Permission, Principal
from watchkeeper.service.engine import IdentifyResult

router = APIRouter(prefix="/api", tags=["recognition"])

Limit = Annotated[int, Query(ge=1, le=1000, description="Most items to return.")]
Offset = Annotated[int, Query(ge=0, description="Items to skip.")]
IDENTIFY_NOTE = (
    "Matches are candidates, not identifications: each is in the review queue, and a person "
    "must confirm it before anyone acts on it."
)


@router.post("/enrol", response_model=EnrolOut, status_code=201)
def enrol(
    request: Request,
    principal: Annotated[Principal, requires(Permission.GALLERY_ENROL)],
    file: Annotated[UploadFile, File(description="A photo with the person's face.")],
    person: Annotated[str, Form(max_length=200)],
    watchlist: Annotated[str, Form(max_length=64)],
    basis: Annotated[str, Form(description="consent, contract, legal_obligation, ...")],
    source: Annotated[str, Form(max_length=500, description="Where the photo came from.")],
    face_index: Annotated[int | None, Form(ge=0, description="Which face, if several.")] = None,
) -> EnrolOut:
    """Add a face of ``person`` to an active watchlist (why: ``basis``; from where: ``source``)."""
    services = services_of(request)
    engine = services.engine
    frame = read_upload(file, services.settings)
    result = engine_call_staged(
        request,
        "enrol",
        lambda: engine.analyse_probe(frame),
        lambda probe: engine.enrol(principal, person, probe, watchlist, basis, source, face_index),
    )
    return EnrolOut(
        watchlist=watchlist,
        person=result.person,
        identity_id=result.identity_id,
        template_id=result.template_id,
        duplicate=result.duplicate,
    )


def identify_out(result: IdentifyResult, watchlist: str, purpose: str, fmr: float) -> IdentifyOut:
    faces = []
    for i, match in enumerate(result.matches):
        faces.append(
            IdentifiedFace(
                index=i,
                box_xyxy=[round(float(v), 1) for v in result.faces.xyxy[i]],
                decision=match.decision.value,
                threshold=round(match.threshold, 4),
                candidates=[
                    CandidateMatch(
                        identity_id=c.identity_id,
                        display_name=c.display_name,
                        similarity=round(c.similarity, 4),
                    )
                    for c in match.candidates
                ],
                candidate_id=result.candidate_ids[i] if i < len(result.candidate_ids) else None,
                rejected=list(match.reasons),
                explanation=explain_match(match, fmr),
            )
        )
    return IdentifyOut(
        source=result.source,
        watchlist=watchlist,
        purpose=purpose,
        target_fmr=fmr,
        faces=faces,
        note=IDENTIFY_NOTE,
    )


@router.post("/identify", response_model=IdentifyOut)
def identify(
    request: Request,
    principal: Annotated[Principal, requires(Permission.SEARCH_IDENTIFY)],
    file: Annotated[UploadFile, File(description="The probe photo.")],
    watchlist: Annotated[str, Form(max_length=64)],
    purpose: Annotated[str, Form(max_length=500, description="Why you search (audited).")],
    top_k: Annotated[int | None, Form(ge=1, le=100)] = None,
    target_fmr: Annotated[float | None, Form(gt=0, lt=1)] = None,
) -> IdentifyOut:
    """Search every face of the photo in one active watchlist, for a stated purpose."""
    services = services_of(request)
    engine = services.engine
    frame = read_upload(file, services.settings)
    result = engine_call_staged(
        request,
        "identify",
        lambda: engine.analyse_probe(frame),
        lambda probe: engine.identify(principal, probe, watchlist, purpose, top_k, target_fmr),
    )
    fmr = target_fmr or services.settings.recognition.target_fmr
    return identify_out(result, watchlist, purpose, fmr)


@router.post("/verify", response_model=VerifyOut)
def verify(
    request: Request,
    principal: Annotated[Principal, requires(Permission.SEARCH_VERIFY)],
    file_a: Annotated[UploadFile, File(description="First photo (one face).")],
    file_b: Annotated[UploadFile, File(description="Second photo (one face).")],
    purpose: Annotated[str, Form(max_length=500, description="Why you compare (audited).")],
    target_fmr: Annotated[float | None, Form(gt=0, lt=1)] = None,
) -> VerifyOut:
    """Is the one face in A the same person as the one face in B?"""
    services = services_of(request)
    engine = services.engine
    a = read_upload(file_a, services.settings)
    b = read_upload(file_b, services.settings)
    result = engine_call_staged(
        request,
        "verify",
        lambda: (engine.analyse_probe(a, crops=False), engine.analyse_probe(b, crops=False)),
        lambda pair: engine.verify(principal, pair[0], pair[1], purpose, target_fmr),
    )
    return VerifyOut(
        decision=result.decision.value,
        similarity=round(result.similarity, 4),
        threshold=round(result.threshold, 4),
        target_fmr=result.target_fmr,
        explanation=explain_verification(result),
    )


@router.get("/watchlists/{name}/people", response_model=Page[PersonOut])
def people(
    request: Request,
    name: str,
    principal: Annotated[Principal, requires(Permission.GALLERY_VIEW)],
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[PersonOut]:
    """The people of a watchlist (an audited view of biometric records)."""
    engine = services_of(request).engine
    found = engine_call(request, "people", lambda: engine.people(principal, name))
    rows = [
        PersonOut(
            identity_id=p.identity_id,
            display_name=p.display_name,
            templates=p.template_count,
            basis=p.basis,
            source=p.source,
            enrolled_by=p.enrolled_by,
            created_at=p.created_at,
        )
        for p in found
    ]
    return page_of(rows, limit, offset)


@router.delete("/watchlists/{name}/people/{person}")
def delete_person(
    request: Request,
    name: str,
    person: str,
    principal: Annotated[Principal, requires(Permission.GALLERY_DELETE)],
) -> dict[str, int]:
    """Remove a person (by name or identity id) and every template from a watchlist."""
    engine = services_of(request).engine
    removed = engine_call(
        request, "delete_person", lambda: engine.delete_person(principal, person, name)
    )
    return {"templates_removed": removed}
