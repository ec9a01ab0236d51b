"""Concurrent identify, enrol and verify requests: photos are analysed side by side, the
governed work stays one at a time, and the audit chain holds exactly one entry per request,
intact."""

from __future__ import annotations

import io
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.api.conftest import Service
from tests.api.governed import ALICE_SEED, STAFF, STRANGER_SEED, create_staff_watchlist, enrol
from tests.api.governed import photo as photo_of
from watchkeeper.governance.audit import AuditAction

REQUESTS = 12


def _count(service: Service, action: str) -> int:
    row = service.engine.store.conn.execute(
        "SELECT COUNT(*) FROM audit_log WHERE action = ?", (action,)
    ).fetchone()
    return int(row[0])


def _uploaded(seed: int) -> np.ndarray:
    """The pixels the service decodes from the photo the tests upload for ``seed``."""
    _, data, _ = photo_of(seed)["file"]
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def _sample(service: Service, name: str, labels: dict[str, str] | None = None) -> float:
    value = service.app.state.services.metrics.registry.get_sample_value(name, labels or {})
    return 0.0 if value is None else float(value)


def test_concurrent_identify_requests_each_get_their_own_answer_and_one_audit_entry(
    service: Service,
) -> None:
    create_staff_watchlist(service)
    assert enrol(service, "Alice Example", ALICE_SEED).status_code == 201
    headers = service.headers("ivan")
    photos = {seed: photo_of(seed) for seed in (ALICE_SEED, STRANGER_SEED)}
    searches_before = _count(service, AuditAction.SEARCH_IDENTIFY)
    matches_before = _count(service, AuditAction.MATCH)

    def one(i: int) -> tuple[int, Any]:
        seed = ALICE_SEED if i % 2 == 0 else STRANGER_SEED
        response = service.client.post(
            "/api/identify",
            files=photos[seed],
            data={"watchlist": STAFF, "purpose": f"door camera check {i}"},
            headers=headers,
        )
        return seed, response

    with ThreadPoolExecutor(max_workers=REQUESTS) as pool:
        answers = list(pool.map(one, range(REQUESTS)))

    assert all(r.status_code == 200 for _, r in answers), [r.text for _, r in answers]
    candidate_ids = []
    for seed, response in answers:
        [face] = response.json()["faces"]
        # No request sees another's photo or result: Alice matches, the stranger does not.
        assert face["decision"] == ("match" if seed == ALICE_SEED else "unknown")
        if seed == ALICE_SEED:
            assert face["candidates"][0]["display_name"] == "Alice Example"
            candidate_ids.append(face["candidate_id"])
    assert len(set(candidate_ids)) == REQUESTS // 2

    assert _count(service, AuditAction.SEARCH_IDENTIFY) - searches_before == REQUESTS
    assert _count(service, AuditAction.MATCH) - matches_before == REQUESTS // 2
    purposes = {
        row[0]
        for row in service.engine.store.conn.execute(
            "SELECT purpose FROM audit_log WHERE action = ?", (AuditAction.SEARCH_IDENTIFY,)
        )
    }
    assert {f"door camera check {i}" for i in range(REQUESTS)} <= purposes

    verified = service.client.post("/api/audit/verify", headers=service.headers("audrey"))
    assert verified.status_code == 200, verified.text
    assert verified.json()["ok"] is True

    # The gate's metrics still add up: every request analysed once outside the gate and
    # searched once inside it, and nothing is left queued or in progress.
    analysed = {"operation": "identify_analysis"}
    searched = {"operation": "identify"}
    assert _sample(service, "watchkeeper_pipeline_duration_seconds_count", analysed) >= REQUESTS
    assert _sample(service, "watchkeeper_pipeline_duration_seconds_count", searched) >= REQUESTS
    assert _sample(service, "watchkeeper_engine_wait_seconds_count", searched) >= REQUESTS
    assert _sample(service, "watchkeeper_engine_queue_depth") == 0
    assert _sample(service, "watchkeeper_analyses_in_progress") == 0
    assert _sample(service, "watchkeeper_analysis_queue_depth") == 0


def test_no_search_ordered_after_a_deletion_matches_the_deleted_person(service: Service) -> None:
    """The audit log's order is the order the gate ran things in: every search recorded after
    the deletion was made against the index without her, even with searches in flight."""
    create_staff_watchlist(service)
    assert enrol(service, "Alice Example", ALICE_SEED).status_code == 201
    searcher, operator = service.headers("ivan"), service.headers("olive")
    alice = photo_of(ALICE_SEED)

    def search(i: int) -> Any:
        return service.client.post(
            "/api/identify",
            files=alice,
            data={"watchlist": STAFF, "purpose": f"door camera check {i}"},
            headers=searcher,
        )

    with ThreadPoolExecutor(max_workers=REQUESTS) as pool:
        pending = [pool.submit(search, i) for i in range(REQUESTS)]
        deleted = service.client.delete(
            f"/api/watchlists/{STAFF}/people/Alice Example", headers=operator
        )
        answers = [p.result() for p in pending]
    assert deleted.status_code == 200, deleted.text
    assert all(r.status_code == 200 for r in answers)

    rows = service.engine.store.conn.execute(
        "SELECT seq, action, details FROM audit_log WHERE action IN (?, ?, ?) ORDER BY seq",
        (AuditAction.DELETE, AuditAction.SEARCH_IDENTIFY, AuditAction.MATCH),
    ).fetchall()
    [deleted_at] = [seq for seq, action, _ in rows if action == AuditAction.DELETE]
    later = [(action, json.loads(details)) for seq, action, details in rows if seq > deleted_at]
    assert all(action != AuditAction.MATCH for action, _ in later)
    assert all(d["candidates"] == 0 for action, d in later if action == AuditAction.SEARCH_IDENTIFY)
    matched = sum(1 for r in answers if r.json()["faces"][0]["decision"] == "match")
    assert matched == sum(1 for seq, action, _ in rows if action == AuditAction.MATCH)
    after = search(REQUESTS)
    assert after.json()["faces"][0]["decision"] == "unknown"


def test_concurrent_enrolments_each_store_their_person_and_keep_the_audit_chain_intact(
    service: Service,
) -> None:
    create_staff_watchlist(service)
    headers = service.headers("olive")
    people = {f"Person {i}": 100 + i for i in range(REQUESTS)}
    enrols_before = _count(service, AuditAction.ENROL)

    def one(person: str) -> Any:
        return service.client.post(
            "/api/enrol",
            files=photo_of(people[person]),
            data={
                "person": person,
                "watchlist": STAFF,
                "basis": "contract",
                "source": f"HR badge photo of {person}",
            },
            headers=headers,
        )

    with ThreadPoolExecutor(max_workers=REQUESTS) as pool:
        answers = dict(zip(people, pool.map(one, people), strict=True))

    assert all(r.status_code == 201 for r in answers.values()), [r.text for r in answers.values()]
    # Each request stored its own person: names, identities and photos all distinct.
    assert {r.json()["person"] for r in answers.values()} == set(people)
    assert len({r.json()["identity_id"] for r in answers.values()}) == REQUESTS
    assert len({r.json()["template_id"] for r in answers.values()}) == REQUESTS
    assert _count(service, AuditAction.ENROL) - enrols_before == REQUESTS

    listed = service.client.get(f"/api/watchlists/{STAFF}/people", headers=headers).json()
    assert {p["display_name"] for p in listed["items"]} == set(people)
    verified = service.client.post("/api/audit/verify", headers=service.headers("audrey"))
    assert verified.status_code == 200, verified.text
    assert verified.json()["ok"] is True

    # Every photo was analysed outside the gate and stored inside it.
    analysed = {"operation": "enrol_analysis"}
    stored = {"operation": "enrol"}
    assert _sample(service, "watchkeeper_pipeline_duration_seconds_count", analysed) == REQUESTS
    assert _sample(service, "watchkeeper_engine_wait_seconds_count", stored) == REQUESTS
    assert _sample(service, "watchkeeper_engine_queue_depth") == 0
    assert _sample(service, "watchkeeper_analyses_in_progress") == 0

    # Each enrolled person is then found by a search of their own photo.
    for person in ("Person 0", f"Person {REQUESTS - 1}"):
        found = service.client.post(
            "/api/identify",
            files=photo_of(people[person]),
            data={"watchlist": STAFF, "purpose": "door camera check"},
            headers=service.headers("ivan"),
        )
        assert found.json()["faces"][0]["candidates"][0]["display_name"] == person


def test_staged_verify_answers_as_the_engine_does_and_analyses_outside_the_gate(
    service: Service,
) -> None:
    headers = service.headers("ivan")
    pairs = [(ALICE_SEED, ALICE_SEED), (ALICE_SEED, STRANGER_SEED)] * (REQUESTS // 2)
    ivan = service.engine.accounts.authenticate(service.token("ivan"))
    expected = {
        (a, b): service.engine.verify(ivan, _uploaded(a), _uploaded(b), "direct comparison")
        for a, b in set(pairs)
    }

    def one(pair: tuple[int, int]) -> Any:
        a, b = pair
        return service.client.post(
            "/api/verify",
            files={"file_a": photo_of(a)["file"], "file_b": photo_of(b)["file"]},
            data={"purpose": "badge check"},
            headers=headers,
        )

    with ThreadPoolExecutor(max_workers=REQUESTS) as pool:
        answers = list(pool.map(one, pairs))
    for pair, response in zip(pairs, answers, strict=True):
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["decision"] == expected[pair].decision.value
        assert body["similarity"] == pytest.approx(expected[pair].similarity, abs=1e-3)
    analysed = {"operation": "verify_analysis"}
    assert _sample(service, "watchkeeper_pipeline_duration_seconds_count", analysed) == REQUESTS
