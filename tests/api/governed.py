"""Shared steps for the governed API tests: a watchlist through four-eyes, enrolment, search."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Service
from tests.builders import encode, pattern_image

STAFF = "staff"
ALICE_SEED = 21
STRANGER_SEED = 57


def photo(seed: int) -> dict[str, tuple[str, bytes, str]]:
    return {"file": (f"photo-{seed}.jpg", encode(pattern_image(seed, size=120)), "image/jpeg")}


def create_staff_watchlist(service: Service, name: str = STAFF, days: int = 30) -> None:
    """olive (operator) asks, adam (admin) approves: the four-eyes path."""
    asked = service.client.post(
        "/api/watchlists",
        json={
            "name": name,
            "purpose": "Door access for staff members",
            "legal_basis": "Employment contracts, clause 7",
            "days": days,
        },
        headers=service.headers("olive"),
    )
    assert asked.status_code == 202, asked.text
    approval = asked.json()["approval_id"]
    approved = service.client.post(
        f"/api/approvals/{approval}/approve",
        json={"reason": "matches the staff door policy"},
        headers=service.headers("adam"),
    )
    assert approved.status_code == 200, approved.text


def enrol(service: Service, person: str, seed: int, watchlist: str = STAFF) -> Any:
    return service.client.post(
        "/api/enrol",
        files=photo(seed),
        data={
            "person": person,
            "watchlist": watchlist,
            "basis": "contract",
            "source": "HR badge photo",
        },
        headers=service.headers("olive"),
    )


def identify(
    service: Service, seed: int, purpose: str = "door camera check", watchlist: str = STAFF
) -> Any:
    return service.client.post(
        "/api/identify",
        files=photo(seed),
        data={"watchlist": watchlist, "purpose": purpose},
        headers=service.headers("ivan"),
    )


def staffed(service: Service) -> str:
    """A watchlist holding Alice, and a candidate from one search of her photo; its id."""
    create_staff_watchlist(service)
    assert enrol(service, "Alice Example", ALICE_SEED).status_code == 201
    found = identify(service, ALICE_SEED)
    assert found.status_code == 200, found.text
    candidate_id: str = found.json()["faces"][0]["candidate_id"]
    return candidate_id
