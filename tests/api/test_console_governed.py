"""Console pages of the governed work over HTTP: the whole story from watchlist to audit log,
empty states, and readable refusals."""

from __future__ import annotations

import re

import pytest

from tests.api.conftest import Service
from tests.api.governed import ALICE_SEED, STRANGER_SEED, create_staff_watchlist, photo

HTML = {"accept": "text/html"}


def as_user(service: Service, username: str) -> None:
    """The console's session cookie for ``username`` (signed in directly: the form's sign-in
    and its rate limit are tested in test_console)."""
    service.client.cookies.clear()
    service.client.cookies.set("wk_session", service.token(username))


@pytest.mark.parametrize(
    ("user", "path", "empty"),
    [
        ("olive", "/watchlists", "No watchlists yet"),
        ("olive", "/enrol", "no active watchlist to enrol into"),
        ("ivan", "/identify", "No active watchlist to search"),
        ("rita", "/review", "candidates. Matches from searches appear here"),
        ("adam", "/approvals", "No requests are waiting"),
        ("audrey", "/audit", "Verify the chain"),
        ("audrey", "/report", "No watchlist activity in this period"),
        ("adam", "/retention", "Purge now"),
        ("adam", "/users", "Add a user"),
        ("ivan", "/verify", "Compare"),
    ],
)
def test_pages_open_with_clear_empty_states(
    service: Service, user: str, path: str, empty: str
) -> None:
    as_user(service, user)
    response = service.client.get(path, headers=HTML)
    assert response.status_code == 200, response.text
    assert empty in response.text
    assert f'href="{path}" aria-current="page"' in response.text


@pytest.mark.parametrize(
    ("user", "path"),
    [
        ("audrey", "/watchlists"),
        ("olive", "/identify"),
        ("ivan", "/review"),
        ("rita", "/audit"),
        ("ivan", "/users"),
    ],
)
def test_pages_refuse_roles_that_may_not_open_them(service: Service, user: str, path: str) -> None:
    as_user(service, user)
    response = service.client.get(path, headers=HTML)
    assert response.status_code == 403
    assert "Not allowed" in response.text and user in response.text


def test_the_whole_story_through_the_console(service: Service) -> None:
    as_user(service, "olive")
    created = service.client.post(
        "/watchlists",
        data={
            "name": "staff",
            "purpose": "Door access",
            "legal_basis": "Contract clause 7",
            "days": "30",
        },
        headers=HTML,
    )
    assert "waits for a second person" in created.text
    assert "pending" in created.text

    as_user(service, "adam")
    approvals = service.client.get("/approvals", headers=HTML)
    (request_id,) = re.findall(r'action="/approvals/([^/]+)/decide"', approvals.text)
    approved = service.client.post(
        f"/approvals/{request_id}/decide",
        data={"decision": "approve", "reason": "ok"},
        headers=HTML,
    )
    assert "approved" in approved.text

    as_user(service, "olive")
    bad = service.client.post(
        "/enrol",
        files={"file": ("x.jpg", b"junk", "image/jpeg")},
        data={"person": "Alice", "watchlist": "staff", "basis": "contract", "source": "badge"},
        headers=HTML,
    )
    assert bad.status_code == 400 and 'role="alert"' in bad.text
    enrolled = service.client.post(
        "/enrol",
        files=photo(ALICE_SEED),
        data={"person": "Alice", "watchlist": "staff", "basis": "contract", "source": "badge"},
        headers=HTML,
    )
    assert "Alice is enrolled in staff." in enrolled.text

    as_user(service, "ivan")
    found = service.client.post(
        "/identify",
        files=photo(ALICE_SEED),
        data={"watchlist": "staff", "purpose": "front door"},
        headers=HTML,
    )
    assert "candidate: Alice" in found.text and "a person must confirm" in found.text
    assert "false-match rate" in found.text
    nobody = service.client.post(
        "/identify",
        files=photo(STRANGER_SEED),
        data={"watchlist": "staff", "purpose": "front door"},
        headers=HTML,
    )
    assert "nobody on the watchlist" in nobody.text
    refused = service.client.post(
        "/identify",
        files=photo(ALICE_SEED),
        data={"watchlist": "staff", "purpose": "sort by race"},
        headers=HTML,
    )
    assert refused.status_code == 403 and 'role="alert"' in refused.text

    as_user(service, "rita")
    queue = service.client.get("/review", headers=HTML)
    (candidate,) = re.findall(r'action="/review/([^/]+)/decide"', queue.text)
    assert f'src="/api/review/{candidate}/faces/probe"' in queue.text
    image = service.client.get(f"/api/review/{candidate}/faces/enrolled")
    assert image.status_code == 200 and image.content[:2] == b"\xff\xd8"
    decided = service.client.post(
        f"/review/{candidate}/decide", data={"decision": "confirm", "note": "same"}, headers=HTML
    )
    assert "confirmed: it is now an alert" in decided.text

    as_user(service, "audrey")
    log = service.client.get("/audit?action=review.decide", headers=HTML)
    assert "review.decide" in log.text and "rita" in log.text
    verified = service.client.post("/audit/verify", headers=HTML)
    assert "audit chain intact" in verified.text
    report = service.client.get("/report?since=2026-01-01&until=2026-02-01", headers=HTML)
    assert "/api/reports/transparency/chart.png?from=2026-01-01&to=2026-02-01" in report.text
    assert "<td>staff</td>" in report.text


def test_admin_pages_purge_and_users(service: Service) -> None:
    as_user(service, "adam")
    purged = service.client.post("/retention/purge", headers=HTML)
    assert "Purge done:" in purged.text
    added = service.client.post(
        "/users", data={"username": "pat", "roles": ["auditor", "reviewer"]}, headers=HTML
    )
    assert "Added pat" in added.text and "shown once" in added.text
    disabled = service.client.post("/users/pat/disable", data={"reason": "left"}, headers=HTML)
    assert "Disabled pat" in disabled.text
    unknown = service.client.post("/users", data={"username": "q", "roles": ["king"]}, headers=HTML)
    assert unknown.status_code == 400 and "king" in unknown.text


def test_console_enrol_and_verify_analyse_photos_outside_the_engine_gate(
    service: Service,
) -> None:
    def analysed(operation: str) -> float:
        value = service.app.state.services.metrics.registry.get_sample_value(
            "watchkeeper_pipeline_duration_seconds_count", {"operation": f"{operation}_analysis"}
        )
        return 0.0 if value is None else float(value)

    create_staff_watchlist(service)
    as_user(service, "olive")
    enrolled = service.client.post(
        "/enrol",
        files=photo(ALICE_SEED),
        data={"person": "Alice", "watchlist": "staff", "basis": "contract", "source": "badge"},
        headers=HTML,
    )
    assert "Alice is enrolled in staff." in enrolled.text
    assert analysed("enrol") == 1
    as_user(service, "ivan")
    same = service.client.post(
        "/verify",
        files={"file_a": photo(ALICE_SEED)["file"], "file_b": photo(ALICE_SEED)["file"]},
        data={"purpose": "badge check"},
        headers=HTML,
    )
    assert same.status_code == 200 and "a person must confirm" in same.text
    other = service.client.post(
        "/verify",
        files={"file_a": photo(ALICE_SEED)["file"], "file_b": photo(STRANGER_SEED)["file"]},
        data={"purpose": "badge check"},
        headers=HTML,
    )
    assert other.status_code == 200 and "below the threshold" in other.text
    assert analysed("verify") == 2


def test_console_enrol_and_verify_refuse_a_file_that_is_not_an_image_on_the_form(
    service: Service,
) -> None:
    create_staff_watchlist(service)
    not_image = ("notes.jpg", b"this is not a picture", "image/jpeg")
    as_user(service, "olive")
    enrolled = service.client.post(
        "/enrol",
        files={"file": not_image},
        data={"person": "Alice", "watchlist": "staff", "basis": "contract", "source": "badge"},
        headers=HTML,
    )
    assert enrolled.status_code == 400 and "Alice is enrolled" not in enrolled.text
    assert "not an image file" in enrolled.text
    assert (
        service.engine.site.store.list_identities(
            service.engine.site.catalog.get("staff").gallery_id
        )
        == []
    )
    as_user(service, "ivan")
    verified = service.client.post(
        "/verify",
        files={"file_a": photo(ALICE_SEED)["file"], "file_b": not_image},
        data={"purpose": "badge check"},
        headers=HTML,
    )
    assert verified.status_code == 400 and "a person must confirm" not in verified.text
    assert "not an image file" in verified.text
