"""The governed JSON API: watchlists, approvals, enrol, identify, verify, review, audit,
retention, erasure, reports, users and tokens; every refusal the issue lists."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from tests.api.conftest import Service
from tests.api.governed import (
    ALICE_SEED,
    STAFF,
    STRANGER_SEED,
    create_staff_watchlist,
    enrol,
    identify,
    photo,
    staffed,
)
from tests.builders import encode

PROBLEM = "application/problem+json"


# -- watchlists and approvals ---------------------------------------------------------------------


def test_a_watchlist_waits_for_a_second_person_then_is_active(service: Service) -> None:
    olive = service.headers("olive")
    asked = service.client.post(
        "/api/watchlists",
        json={"name": "vips", "purpose": "Greet guests", "legal_basis": "Consent", "days": 10},
        headers=olive,
    )
    assert asked.status_code == 202
    assert asked.json()["applied"] is False
    shown = service.client.get("/api/watchlists/vips", headers=olive).json()
    assert shown["state"] == "pending" and shown["pending_approval"] == asked.json()["approval_id"]

    pending = service.client.get("/api/approvals", headers=service.headers("adam")).json()
    assert pending["total"] == 1 and pending["items"][0]["requester"] == "olive"
    rid = pending["items"][0]["request_id"]
    service.client.post(
        f"/api/approvals/{rid}/approve", json={"reason": "ok"}, headers=service.headers("adam")
    )

    listed = service.client.get("/api/watchlists", headers=olive).json()
    assert listed["total"] == 1
    (item,) = listed["items"]
    assert item["state"] == "active" and item["purpose"] == "Greet guests"


def test_a_rejected_creation_removes_the_watchlist(service: Service) -> None:
    asked = service.client.post(
        "/api/watchlists",
        json={"name": "maybe", "purpose": "Trial", "legal_basis": "None yet", "days": 5},
        headers=service.headers("olive"),
    ).json()
    rejected = service.client.post(
        f"/api/approvals/{asked['approval_id']}/reject",
        json={"reason": "no legal basis"},
        headers=service.headers("adam"),
    )
    assert rejected.json()["status"] == "rejected"
    gone = service.client.get("/api/watchlists/maybe", headers=service.headers("olive"))
    assert gone.status_code == 404


def test_extend_widen_and_revoke(service: Service) -> None:
    create_staff_watchlist(service)
    olive = service.headers("olive")
    later = service.client.post(
        f"/api/watchlists/{STAFF}/extend",
        json={"days": 60, "reason": "project runs on"},
        headers=olive,
    )
    assert later.status_code == 202  # a later expiry needs approval
    earlier = service.client.post(
        f"/api/watchlists/{STAFF}/extend", json={"days": 5, "reason": "ends sooner"}, headers=olive
    )
    assert earlier.status_code == 200 and earlier.json()["applied"] is True
    narrower = service.client.post(
        f"/api/watchlists/{STAFF}/widen",
        json={"max_people": 3, "reason": "small team"},
        headers=olive,
    )
    assert narrower.json()["applied"] is True
    assert service.client.get(f"/api/watchlists/{STAFF}", headers=olive).json()["max_people"] == 3
    revoked = service.client.post(
        f"/api/watchlists/{STAFF}/revoke", json={"reason": "door replaced"}, headers=olive
    )
    assert revoked.json()["applied"] is True
    assert (
        service.client.get(f"/api/watchlists/{STAFF}", headers=olive).json()["state"] == "revoked"
    )


def test_watchlist_input_is_checked(service: Service) -> None:
    olive = service.headers("olive")
    both = service.client.post(
        "/api/watchlists",
        json={
            "name": "x",
            "purpose": "p",
            "legal_basis": "b",
            "days": 3,
            "expires_at": "2026-02-01",
        },
        headers=olive,
    )
    assert both.status_code == 400 and "either expires_at or days" in both.json()["detail"]
    unknown_field = service.client.post(
        "/api/watchlists",
        json={"name": "x", "purpose": "p", "legal_basis": "b", "days": 3, "x": 1},
        headers=olive,
    )
    assert unknown_field.status_code == 400 and unknown_field.headers["content-type"] == PROBLEM


# -- enrol, identify, verify ----------------------------------------------------------------------


def test_identify_finds_an_enrolled_person_as_a_candidate(service: Service) -> None:
    create_staff_watchlist(service)
    enrolled = enrol(service, "Alice Example", ALICE_SEED)
    assert enrolled.status_code == 201
    assert enrolled.json()["identity_id"] and enrolled.json()["duplicate"] is False
    assert enrol(service, "Alice Example", ALICE_SEED).json()["duplicate"] is True

    found = identify(service, ALICE_SEED)
    body = found.json()
    (face,) = body["faces"]
    assert face["decision"] == "match"
    assert face["candidates"][0]["display_name"] == "Alice Example"
    assert face["candidates"][0]["similarity"] >= face["threshold"]
    assert face["candidate_id"]
    assert "a person must confirm" in face["explanation"]
    assert "candidates, not identifications" in body["note"]

    stranger = identify(service, STRANGER_SEED).json()["faces"][0]
    assert stranger["decision"] == "unknown" and stranger["candidate_id"] is None
    assert "below the threshold" in stranger["explanation"]


def test_people_are_listed_in_pages_and_can_be_removed(service: Service) -> None:
    create_staff_watchlist(service)
    for i, name in enumerate(["Ann", "Bob", "Cy"]):
        assert enrol(service, name, 100 + i).status_code == 201
    olive = service.headers("olive")
    first = service.client.get(f"/api/watchlists/{STAFF}/people?limit=2", headers=olive).json()
    assert first["total"] == 3 and [p["display_name"] for p in first["items"]] == ["Ann", "Bob"]
    rest = service.client.get(f"/api/watchlists/{STAFF}/people?limit=2&offset=2", headers=olive)
    assert [p["display_name"] for p in rest.json()["items"]] == ["Cy"]
    removed = service.client.delete(f"/api/watchlists/{STAFF}/people/Bob", headers=olive)
    assert removed.json() == {"templates_removed": 1}
    assert service.client.get(f"/api/watchlists/{STAFF}/people", headers=olive).json()["total"] == 2


def test_verify_compares_two_photos(service: Service) -> None:
    def pair(a: int, b: int) -> dict[str, object]:
        files = {"file_a": photo(a)["file"], "file_b": photo(b)["file"]}
        return service.client.post(
            "/api/verify",
            files=files,
            data={"purpose": "badge check"},
            headers=service.headers("ivan"),
        ).json()

    same = pair(ALICE_SEED, ALICE_SEED)
    assert same["decision"] == "match" and same["similarity"] >= same["threshold"]
    assert "a person must confirm" in same["explanation"]
    other = pair(ALICE_SEED, STRANGER_SEED)
    assert other["decision"] == "unknown" and "below the threshold" in other["explanation"]


# -- review ---------------------------------------------------------------------------------------


def test_review_shows_both_faces_and_confirms(service: Service) -> None:
    candidate = staffed(service)
    rita = service.headers("rita")
    listed = service.client.get("/api/review", headers=rita).json()
    assert listed["total"] == 1 and listed["items"][0]["candidate_id"] == candidate
    shown = service.client.get(f"/api/review/{candidate}", headers=rita).json()
    assert shown["display_name"] == "Alice Example" and shown["searched_by"] == "ivan"
    for which in ("probe", "enrolled"):
        image = service.client.get(f"/api/review/{candidate}/faces/{which}", headers=rita)
        assert image.status_code == 200 and image.content[:2] == b"\xff\xd8"
        assert image.headers["cache-control"] == "no-store"
    confirmed = service.client.post(
        f"/api/review/{candidate}/confirm", json={"note": "same badge"}, headers=rita
    )
    assert confirmed.json()["status"] == "confirmed" and confirmed.json()["decided_by"] == "rita"
    assert service.client.get("/api/review", headers=rita).json()["total"] == 0
    alerts = service.client.get("/api/review?status=confirmed", headers=rita).json()
    assert alerts["total"] == 1
    (stats,) = service.client.get("/api/review/stats", headers=rita).json()
    assert (stats["confirmed"], stats["rejected"], stats["measured_fmr"]) == (1, 0, 0.0)


def test_review_reject_counts_a_false_match(service: Service) -> None:
    candidate = staffed(service)
    rita = service.headers("rita")
    service.client.post(f"/api/review/{candidate}/reject", json={"note": "not her"}, headers=rita)
    (stats,) = service.client.get("/api/review/stats", headers=rita).json()
    assert stats["rejected"] == 1 and stats["measured_fmr"] == 1.0
    again = service.client.post(f"/api/review/{candidate}/confirm", json={}, headers=rita)
    assert again.status_code == 400  # already decided


# -- refusals -------------------------------------------------------------------------------------

ROUTES = [
    ("get", "/api/watchlists"),
    ("post", "/api/watchlists"),
    ("get", f"/api/watchlists/{STAFF}"),
    ("post", f"/api/watchlists/{STAFF}/extend"),
    ("post", f"/api/watchlists/{STAFF}/widen"),
    ("post", f"/api/watchlists/{STAFF}/revoke"),
    ("get", f"/api/watchlists/{STAFF}/people"),
    ("delete", f"/api/watchlists/{STAFF}/people/x"),
    ("get", "/api/approvals"),
    ("post", "/api/approvals/x/approve"),
    ("post", "/api/approvals/x/reject"),
    ("post", "/api/enrol"),
    ("post", "/api/identify"),
    ("post", "/api/verify"),
    ("get", "/api/review"),
    ("get", "/api/review/stats"),
    ("get", "/api/review/x"),
    ("get", "/api/review/x/faces/probe"),
    ("post", "/api/review/x/confirm"),
    ("post", "/api/review/x/reject"),
    ("get", "/api/audit"),
    ("post", "/api/audit/verify"),
    ("post", "/api/audit/checkpoint"),
    ("get", "/api/retention"),
    ("post", "/api/retention/purge"),
    ("post", "/api/erasure"),
    ("get", "/api/reports/transparency?from=2026-01-01&to=2026-02-01"),
    ("get", "/api/reports/transparency/chart.png?from=2026-01-01&to=2026-02-01"),
    ("get", "/api/users"),
    ("post", "/api/users"),
    ("post", "/api/users/x/disable"),
    ("post", "/api/tokens"),
    ("delete", "/api/tokens/x"),
    ("put", "/api/settings/four-eyes"),
    ("post", "/api/compreface/keys"),
    ("get", "/api/compreface/keys"),
    ("delete", "/api/compreface/keys/x"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_needs_a_token(service: Service, method: str, path: str) -> None:
    response = service.client.request(method, path)
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    assert "sign in first" in response.json()["detail"]


# (user, method, path): a signed-in user whose roles do not allow the route.
WRONG_ROLE = [
    ("ivan", "post", "/api/watchlists"),
    ("audrey", "get", "/api/watchlists"),
    ("ivan", "post", f"/api/watchlists/{STAFF}/revoke"),
    ("rita", "post", "/api/enrol"),
    ("olive", "post", "/api/identify"),
    ("olive", "post", "/api/verify"),
    ("ivan", "get", "/api/review"),
    ("ivan", "post", "/api/review/x/confirm"),
    ("olive", "post", "/api/approvals/x/approve"),
    ("adam", "get", "/api/audit"),
    ("olive", "post", "/api/audit/verify"),
    ("olive", "post", "/api/retention/purge"),
    ("ivan", "post", "/api/erasure"),
    ("olive", "get", "/api/reports/transparency?from=2026-01-01&to=2026-02-01"),
    ("olive", "get", "/api/users"),
    ("ivan", "put", "/api/settings/four-eyes"),
    ("ivan", "delete", f"/api/watchlists/{STAFF}/people/x"),
]


@pytest.mark.parametrize(("user", "method", "path"), WRONG_ROLE)
def test_roles_are_checked_as_in_the_library(
    service: Service, user: str, method: str, path: str
) -> None:
    response = service.client.request(method, path, headers=service.headers(user))
    assert response.status_code == 403, response.text
    assert response.json()["type"].endswith(":forbidden")
    assert user in response.json()["detail"]


def test_an_expired_watchlist_is_refused(service: Service) -> None:
    create_staff_watchlist(service, days=2)
    assert enrol(service, "Alice Example", ALICE_SEED).status_code == 201
    service.clock.advance(timedelta(days=3).total_seconds())
    refused = identify(service, ALICE_SEED)
    assert refused.status_code == 403
    assert "expired" in refused.json()["detail"]
    assert enrol(service, "Bob", 99).status_code == 403


def test_a_purpose_naming_a_protected_attribute_is_refused(service: Service) -> None:
    create_staff_watchlist(service)
    refused = identify(service, ALICE_SEED, purpose="find people by ethnicity")
    assert refused.status_code == 403
    assert refused.json()["type"].endswith(":policy")
    audit = service.client.get(
        "/api/audit?action=search.identify", headers=service.headers("audrey")
    ).json()
    assert audit["entries"][-1]["outcome"] == "refused"


def test_oversized_and_corrupt_uploads_are_refused(service: Service) -> None:
    create_staff_watchlist(service)
    big = np.random.default_rng(0).integers(0, 255, (800, 800, 3), dtype=np.uint8)
    too_big = service.client.post(
        "/api/identify",
        files={"file": ("big.png", encode(big, "PNG"), "image/png")},
        data={"watchlist": STAFF, "purpose": "door"},
        headers=service.headers("ivan"),
    )
    assert too_big.status_code == 413
    corrupt = service.client.post(
        "/api/identify",
        files={"file": ("broken.jpg", b"\xff\xd8not a jpeg at all", "image/jpeg")},
        data={"watchlist": STAFF, "purpose": "door"},
        headers=service.headers("ivan"),
    )
    assert corrupt.status_code == 400
    assert (
        corrupt.json()["type"].endswith(":bad-image") and "broken.jpg" in corrupt.json()["detail"]
    )


def test_missing_purpose_and_unknown_watchlist(service: Service) -> None:
    no_purpose = identify(service, ALICE_SEED, purpose="")
    assert no_purpose.status_code == 400
    unknown = identify(service, ALICE_SEED, watchlist="nowhere")
    assert unknown.status_code == 404


# -- audit, retention, erasure, reports -----------------------------------------------------------


def test_the_audit_log_records_the_story_and_verifies(service: Service) -> None:
    candidate = staffed(service)
    service.client.post(
        f"/api/review/{candidate}/confirm", json={}, headers=service.headers("rita")
    )
    audrey = service.headers("audrey")
    page = service.client.get("/api/audit?limit=1000", headers=audrey).json()
    actions = [e["action"] for e in page["entries"]]
    for expected in (
        "watchlist.create",
        "approval.approve",
        "gallery.enrol",
        "search.identify",
        "match.candidate",
        "review.decide",
    ):
        assert expected in actions, expected
    by_ivan = service.client.get("/api/audit?actor=ivan&action=search.identify", headers=audrey)
    (entry,) = by_ivan.json()["entries"]
    assert entry["purpose"] == "door camera check" and entry["watchlist"] == STAFF
    paged = service.client.get("/api/audit?limit=2", headers=audrey).json()
    assert len(paged["entries"]) == 2 and paged["next_after"] == paged["entries"][-1]["seq"]
    chain = service.client.post("/api/audit/verify", headers=audrey).json()
    assert chain["ok"] is True and chain["entries_checked"] >= len(actions)


def test_checkpoints_need_a_configured_key(service: Service) -> None:
    refused = service.client.post("/api/audit/checkpoint", headers=service.headers("audrey"))
    assert refused.status_code == 400 and "audit keygen" in refused.json()["detail"]


def test_a_signed_checkpoint_with_a_key(tmp_path: Path) -> None:
    from tests.api.conftest import build_service
    from watchkeeper.governance.audit import generate_signing_key

    key = tmp_path / "keys" / "audit.key"
    key.parent.mkdir()
    home = tmp_path / "home"
    generate_signing_key(key, data_dir=home)
    for service in build_service(home):
        governance = service.settings.governance.model_copy(update={"audit_signing_key": key})
        service.settings.__dict__["governance"] = governance  # frozen model; test-only swap
        signed = service.client.post("/api/audit/checkpoint", headers=service.headers("audrey"))
        assert signed.status_code == 200, signed.text
        body = signed.json()
        assert body["seq"] >= 1 and body["signature"]


def test_retention_settings_and_purge(service: Service) -> None:
    shown = service.client.get("/api/retention", headers=service.headers("adam")).json()
    assert shown["days"]["audit_entries"] == 730 and shown["four_eyes"] is True
    purged = service.client.post("/api/retention/purge", headers=service.headers("adam"))
    assert purged.status_code == 200
    assert purged.json()["total"] == sum(purged.json()["removed"].values())


def test_erasure_removes_a_person_and_gives_a_receipt(service: Service) -> None:
    staffed(service)
    receipt = service.client.post(
        "/api/erasure",
        json={"person": "Alice Example", "reason": "asked to be forgotten"},
        headers=service.headers("adam"),
    )
    assert receipt.status_code == 200, receipt.text
    body = receipt.json()
    assert body["templates"] == 1 and body["review_candidates"] == 1 and len(body["digest"]) == 64
    assert identify(service, ALICE_SEED).json()["faces"][0]["decision"] == "unknown"


def test_transparency_report_and_chart(service: Service) -> None:
    staffed(service)
    audrey = service.headers("audrey")
    period = "from=2026-01-01&to=2026-02-01"
    report = service.client.get(f"/api/reports/transparency?{period}", headers=audrey)
    assert report.status_code == 200
    assert report.json()["totals"]["searches"] >= 1
    chart = service.client.get(f"/api/reports/transparency/chart.png?{period}", headers=audrey)
    assert chart.headers["content-type"] == "image/png" and chart.content[:4] == b"\x89PNG"
    backwards = service.client.get(
        "/api/reports/transparency?from=2026-02-01&to=2026-01-01", headers=audrey
    )
    assert backwards.status_code == 400


# -- users and tokens -----------------------------------------------------------------------------


def test_admins_add_list_and_disable_users(service: Service) -> None:
    adam = service.headers("adam")
    added = service.client.post(
        "/api/users", json={"username": "pat", "roles": ["auditor"]}, headers=adam
    )
    assert added.status_code == 201
    token = added.json()["token"]["token"]
    assert (
        service.client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"}).json()[
            "username"
        ]
        == "pat"
    )
    listed = service.client.get("/api/users?limit=100", headers=adam).json()
    assert "pat" in [u["username"] for u in listed["items"]]
    disabled = service.client.post("/api/users/pat/disable", json={"reason": "left"}, headers=adam)
    assert disabled.json()["tokens_revoked"] >= 1
    assert (
        service.client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code
        == 401
    )
    bad_role = service.client.post(
        "/api/users", json={"username": "q", "roles": ["king"]}, headers=adam
    )
    assert bad_role.status_code == 400


def test_tokens_for_oneself_and_their_revocation(service: Service) -> None:
    ivan = service.headers("ivan")
    issued = service.client.post("/api/tokens", json={"days": 7, "label": "script"}, headers=ivan)
    assert issued.status_code == 201
    token = issued.json()
    bearer = {"Authorization": f"Bearer {token['token']}"}
    assert service.client.get("/api/auth/me", headers=bearer).status_code == 200
    for_other = service.client.post("/api/tokens", json={"username": "rita"}, headers=ivan)
    assert for_other.status_code == 403
    assert (
        service.client.delete(f"/api/tokens/{token['token_id']}", headers=ivan).status_code == 204
    )
    assert service.client.get("/api/auth/me", headers=bearer).status_code == 401


def test_four_eyes_can_be_switched_off_with_a_reason(service: Service) -> None:
    adam = service.headers("adam")
    off = service.client.put(
        "/api/settings/four-eyes", json={"enabled": False, "reason": "home use"}, headers=adam
    )
    assert off.json() == {"four_eyes": False}
    created = service.client.post(
        "/api/watchlists",
        json={"name": "home", "purpose": "Family door", "legal_basis": "Consent", "days": 30},
        headers=service.headers("olive"),
    )
    assert created.status_code == 201 and created.json()["applied"] is True
