"""Recognition API keys for CompreFace clients: issue (shown once), list, revoke."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response

from watchkeeper.api.schemas import KeyIn, KeyOut, NewKeyOut
from watchkeeper.api.security import signed_in
from watchkeeper.api.state import engine_call, services_of
from watchkeeper.governance.authz import Principal
from watchkeeper.service.apikeys import RecognitionKey

router = APIRouter(prefix="/api/compreface/keys", tags=["compreface-compatible"])


def key_out(k: RecognitionKey) -> KeyOut:
    return KeyOut(
        key_id=k.key_id,
        username=k.username,
        watchlist=k.watchlist,
        purpose=k.purpose,
        basis=k.basis,
        label=k.label,
        created_by=k.created_by,
        created_at=k.created_at,
        expires_at=k.expires_at,
        revoked=k.revoked_at is not None,
    )


@router.post("", response_model=NewKeyOut, status_code=201)
def issue_key(
    request: Request, body: KeyIn, principal: Annotated[Principal, signed_in()]
) -> NewKeyOut:
    """A key for yourself, or (with users.manage) for another user, bound to one watchlist and
    purpose. It never does more than its user's roles allow."""
    keys = services_of(request).engine.recognition_keys
    issued = engine_call(
        request,
        "key_issue",
        lambda: keys.issue(
            principal,
            body.watchlist,
            body.purpose,
            username=body.username,
            basis=body.basis,
            days=body.days,
            label=body.label,
        ),
    )
    return NewKeyOut(key=issued.plaintext, details=key_out(issued.key))


@router.get("", response_model=list[KeyOut])
def list_keys(request: Request, principal: Annotated[Principal, signed_in()]) -> list[KeyOut]:
    """Your keys (administrators: everyone's)."""
    keys = services_of(request).engine.recognition_keys
    return [key_out(k) for k in engine_call(request, "keys", lambda: keys.list(principal))]


@router.delete("/{key_id}", status_code=204, response_class=Response)
def revoke_key(
    request: Request, key_id: str, principal: Annotated[Principal, signed_in()]
) -> Response:
    keys = services_of(request).engine.recognition_keys
    engine_call(request, "key_revoke", lambda: keys.revoke(principal, key_id))
    return Response(status_code=204)
