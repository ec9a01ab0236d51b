"""CompreFace-compatible recognition and verification: keys bound to a watchlist, the shapes
CompreFace clients read, governance underneath, and the real compreface-sdk client."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from PIL import Image

from tests.api.conftest import PASSWORD, Service
from tests.api.governed import ALICE_SEED, STAFF, STRANGER_SEED, create_staff_watchlist, photo
from tests.builders import encode, pattern_image, save_png
from tests.servers import live_server

BOB_SEED = 33


def door_key(service: Service, purpose: str = "front door entry", watchlist: str = STAFF) -> str:
    """A user with the operator and investigator roles, and a key bound to ``watchlist``."""
    adam = service.headers("adam")
    service.client.post(
        "/api/users",
        json={"username": "door", "roles": ["operator", "investigator"], "password": PASSWORD},
        headers=adam,
    )
    issued = service.client.post(
        "/api/compreface/keys",
        json={"watchlist": watchlist, "purpose": purpose, "username": "door", "basis": "consent"},
        headers=adam,
    )
    assert issued.status_code == 201, issued.text
    assert issued.json()["details"]["watchlist"] == watchlist
    key: str = issued.json()["key"]
    return key


def door_key_for(service: Service, watchlist: str) -> str:
    """A second key for the door user (created by door_key) on another watchlist."""
    issued = service.client.post(
        "/api/compreface/keys",
        json={"watchlist": watchlist, "purpose": "visitor desk", "username": "door"},
        headers=service.headers("adam"),
    )
    assert issued.status_code == 201, issued.text
    key: str = issued.json()["key"]
    return key


def test_keys_are_listed_and_revoked(service: Service) -> None:
    create_staff_watchlist(service)
    key = door_key(service)
    adam = service.headers("adam")
    (listed,) = service.client.get("/api/compreface/keys", headers=adam).json()
    assert listed["username"] == "door" and listed["purpose"] == "front door entry"
    assert (
        service.client.get("/api/v1/recognition/subjects", headers={"x-api-key": key}).status_code
        == 200
    )
    assert (
        service.client.delete(f"/api/compreface/keys/{listed['key_id']}", headers=adam).status_code
        == 204
    )
    refused = service.client.get("/api/v1/recognition/subjects", headers={"x-api-key": key})
    assert refused.status_code == 401 and refused.json()["code"] == 20


def test_keys_for_others_need_users_manage_and_a_real_watchlist(service: Service) -> None:
    create_staff_watchlist(service)
    olive = service.headers("olive")
    for_other = service.client.post(
        "/api/compreface/keys",
        json={"watchlist": STAFF, "purpose": "door", "username": "ivan"},
        headers=olive,
    )
    assert for_other.status_code == 403
    nowhere = service.client.post(
        "/api/compreface/keys", json={"watchlist": "nowhere", "purpose": "door"}, headers=olive
    )
    assert nowhere.status_code == 404
    protected = service.client.post(
        "/api/compreface/keys",
        json={"watchlist": STAFF, "purpose": "sort visitors by ethnicity"},
        headers=olive,
    )
    assert protected.status_code == 403 and protected.json()["type"].endswith(":policy")


def test_subjects_crud(service: Service) -> None:
    create_staff_watchlist(service)
    key = {"x-api-key": door_key(service)}
    url = "/api/v1/recognition/subjects"
    created = service.client.post(url, json={"subject": "Carol"}, headers=key)
    assert created.status_code == 201 and created.json() == {"subject": "Carol"}
    assert service.client.get(url, headers=key).json() == {"subjects": ["Carol"]}
    renamed = service.client.put(
        f"{url}/Carol", json={"subject": "Caroline", "api_endpoint": "Carol"}, headers=key
    )
    assert renamed.json() == {"updated": True}
    assert service.client.get(url, headers=key).json() == {"subjects": ["Caroline"]}
    assert service.client.delete(f"{url}/Caroline", headers=key).json() == {"subject": "Caroline"}
    for name in ("A", "B"):
        service.client.post(url, json={"subject": name}, headers=key)
    assert service.client.delete(url, headers=key).json() == {"deleted": 2}
    assert service.client.get(url, headers=key).json() == {"subjects": []}


def test_faces_add_list_delete_and_recognize(service: Service) -> None:
    create_staff_watchlist(service)
    key = {"x-api-key": door_key(service)}
    faces = "/api/v1/recognition/faces"
    added = service.client.post(f"{faces}?subject=Alice", files=photo(ALICE_SEED), headers=key)
    assert added.status_code == 201, added.text
    assert set(added.json()) == {"image_id", "subject"} and added.json()["subject"] == "Alice"
    b64 = base64.b64encode(encode(pattern_image(BOB_SEED, size=120))).decode()
    assert (
        service.client.post(f"{faces}?subject=Bob", json={"file": b64}, headers=key).status_code
        == 201
    )

    listed = service.client.get(f"{faces}?size=1", headers=key).json()
    assert (
        listed["total_elements"] == 2 and listed["total_pages"] == 2 and len(listed["faces"]) == 1
    )
    only_bob = service.client.get(f"{faces}?subject=Bob", headers=key).json()
    assert [f["subject"] for f in only_bob["faces"]] == ["Bob"]

    found = service.client.post(
        "/api/v1/recognition/recognize?prediction_count=2", files=photo(ALICE_SEED), headers=key
    )
    assert found.status_code == 200, found.text
    (face,) = found.json()["result"]
    assert set(face) == {"box", "subjects"}
    assert face["subjects"][0]["subject"] == "Alice" and face["subjects"][0]["similarity"] > 0.9
    assert found.json()["plugins_versions"]["calculator"]
    # The candidate is in the review queue, under the key's purpose, searched by its user.
    (candidate,) = service.client.get("/api/review", headers=service.headers("rita")).json()[
        "items"
    ]
    assert (candidate["display_name"], candidate["searched_by"], candidate["purpose"]) == (
        "Alice",
        "door",
        "front door entry",
    )
    stranger = service.client.post(
        "/api/v1/recognition/recognize", files=photo(STRANGER_SEED), headers=key
    )
    assert stranger.json()["result"][0]["subjects"] == []

    deleted = service.client.delete(f"{faces}/{added.json()['image_id']}", headers=key)
    assert deleted.json() == {"image_id": added.json()["image_id"], "subject": "Alice"}
    assert service.client.delete(f"{faces}?subject=Bob", headers=key).json() == {"deleted": 1}


def test_verification(service: Service) -> None:
    create_staff_watchlist(service)
    key = {"x-api-key": door_key(service)}
    same = service.client.post(
        "/api/v1/verification/verify",
        files={
            "source_image": photo(ALICE_SEED)["file"],
            "target_image": photo(ALICE_SEED)["file"],
        },
        headers=key,
    )
    assert same.status_code == 200, same.text
    (item,) = same.json()["result"]
    assert set(item) == {"source_image_face", "face_matches", "plugins_versions"}
    assert (
        item["face_matches"][0]["similarity"] > 0.99 and "x_min" in item["face_matches"][0]["box"]
    )


def test_recognition_refusals(service: Service) -> None:
    create_staff_watchlist(service, days=2)
    key = {"x-api-key": door_key(service)}
    url = "/api/v1/recognition/recognize"
    plain_token = service.client.post(
        url, files=photo(ALICE_SEED), headers={"x-api-key": service.token("ivan")}
    )
    assert (
        plain_token.status_code == 403 and "bound to a watchlist" in plain_token.json()["message"]
    )
    demographic = service.client.post(
        f"{url}?face_plugins=age,gender", files=photo(ALICE_SEED), headers=key
    )
    assert demographic.status_code == 403 and "demographic" in demographic.json()["message"]
    service.clock.advance(3 * 86400)
    expired = service.client.post(url, files=photo(ALICE_SEED), headers=key)
    assert expired.status_code == 403 and "expired" in expired.json()["message"]
    assert expired.json()["code"] == 7


def test_a_key_does_no_more_than_its_user_may(service: Service) -> None:
    create_staff_watchlist(service)
    issued = service.client.post(
        "/api/compreface/keys",
        json={"watchlist": STAFF, "purpose": "door"},
        headers=service.headers("olive"),
    ).json()
    key = {"x-api-key": issued["key"]}  # olive is an operator: she may enrol, not search
    assert (
        service.client.post(
            "/api/v1/recognition/faces?subject=A", files=photo(ALICE_SEED), headers=key
        ).status_code
        == 201
    )
    refused = service.client.post(
        "/api/v1/recognition/recognize", files=photo(ALICE_SEED), headers=key
    )
    assert refused.status_code == 403 and refused.json()["code"] == 7


def test_the_compreface_sdk_recognition_round_trip(service: Service, tmp_path: Path) -> None:
    """The PyPI client, unchanged, against the service on a real socket."""
    from compreface import CompreFace

    create_staff_watchlist(service)
    key = door_key(service)
    alice = save_png(pattern_image(ALICE_SEED, size=160), tmp_path / "alice.png")
    bob = save_png(pattern_image(BOB_SEED, size=160), tmp_path / "bob.png")
    with live_server(service.app) as base_url:
        domain, port = base_url.rsplit(":", 1)
        client = CompreFace(
            domain, port, {"limit": 0, "det_prob_threshold": 0.5, "prediction_count": 1}
        )
        recognition = client.init_face_recognition(key)
        subjects = recognition.get_subjects()
        collection = recognition.get_face_collection()

        assert subjects.add("Dora") == {"subject": "Dora"}
        assert subjects.update("Dora", "Dorothy") == {"updated": True}
        assert subjects.list() == {"subjects": ["Dorothy"]}
        assert subjects.delete("Dorothy") == {"subject": "Dorothy"}

        added = collection.add(str(alice), "Alice")
        assert added["subject"] == "Alice" and added["image_id"]
        collection.add(str(bob), "Bob")
        listed = collection.list()
        assert sorted(f["subject"] for f in listed["faces"]) == ["Alice", "Bob"]

        found = recognition.recognize(str(alice))
        assert found["result"][0]["subjects"][0]["subject"] == "Alice"
        refused = recognition.recognize(str(alice), {"face_plugins": "age"})
        assert "result" not in refused and "demographic" in refused["message"]

        verified = client.init_face_verification(key).verify(str(alice), str(alice))
        assert verified["result"][0]["face_matches"][0]["similarity"] > 0.99

        same = collection.verify(str(alice), added["image_id"])
        assert same["result"][0]["similarity"] > 0.99 and "x_min" in same["result"][0]["box"]
        other = collection.verify(str(bob), added["image_id"])
        assert other["result"][0]["similarity"] < same["result"][0]["similarity"]

        assert collection.delete(added["image_id"])["subject"] == "Alice"
        assert collection.delete_all("Bob") == {"deleted": 1}
        assert subjects.delete_all() == {"deleted": 2}
        wrong = client.init_face_recognition("wkcf_wrong").recognize(str(alice))
        assert wrong["code"] == 20


@pytest.mark.parametrize(
    "path",
    ["/api/v1/recognition/subjects", "/api/v1/recognition/faces"],
)
def test_recognition_routes_need_a_key(service: Service, path: str) -> None:
    response = service.client.get(path)
    assert response.status_code == 401 and response.json()["code"] == 20


def _add(service: Service, key: dict[str, str], subject: str, seed: int) -> str:
    added = service.client.post(
        f"/api/v1/recognition/faces?subject={subject}", files=photo(seed), headers=key
    )
    assert added.status_code == 201, added.text
    image_id: str = added.json()["image_id"]
    return image_id


def _audited(service: Service, action: str, target: str) -> list[dict[str, object]]:
    log = service.client.get(
        "/api/audit", params={"action": action, "limit": 200}, headers=service.headers("audrey")
    )
    assert log.status_code == 200, log.text
    return [e for e in log.json()["entries"] if e["target"] == target]


def test_example_image_is_the_stored_face_crop_and_each_look_is_audited(
    service: Service,
) -> None:
    create_staff_watchlist(service)
    key = {"x-api-key": door_key(service)}
    image_id = _add(service, key, "Alice", ALICE_SEED)
    got = service.client.get(f"/api/v1/recognition/faces/{image_id}/img", headers=key)
    assert got.status_code == 200, got.text
    assert got.headers["content-type"] == "image/jpeg"
    assert got.headers["cache-control"] == "no-store"
    assert got.content[:3] == b"\xff\xd8\xff"  # a JPEG
    assert max(Image.open(io.BytesIO(got.content)).size) <= 112  # the crop, not the photo
    (viewed,) = _audited(service, "gallery.view", f"template:{image_id}")
    assert viewed["actor"] == "door" and viewed["watchlist"] == STAFF


def test_bulk_delete_returns_what_went_skips_unknown_ids_and_audits_each(
    service: Service,
) -> None:
    create_staff_watchlist(service)
    key = {"x-api-key": door_key(service)}
    alice = _add(service, key, "Alice", ALICE_SEED)
    bob = _add(service, key, "Bob", BOB_SEED)
    deleted = service.client.post(
        "/api/v1/recognition/faces/delete", json=[alice, "tpl_nothing", bob, alice], headers=key
    )
    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == [
        {"image_id": alice, "subject": "Alice"},
        {"image_id": bob, "subject": "Bob"},
    ]
    assert service.client.get("/api/v1/recognition/faces", headers=key).json()["faces"] == []
    # Subjects stay (as with CompreFace); only their photos went.
    assert service.client.get("/api/v1/recognition/subjects", headers=key).json() == {
        "subjects": ["Alice", "Bob"]
    }
    for image_id in (alice, bob):
        (entry,) = _audited(service, "gallery.delete", f"template:{image_id}")
        assert entry["outcome"] == "success" and entry["actor"] == "door"
    not_a_list = service.client.post(
        "/api/v1/recognition/faces/delete", json={"image_ids": [alice]}, headers=key
    )
    assert not_a_list.status_code in (400, 422)
    too_many = service.client.post(
        "/api/v1/recognition/faces/delete", json=[f"tpl_{i}" for i in range(1001)], headers=key
    )
    assert too_many.status_code in (400, 422)


def test_verify_with_a_saved_example(service: Service) -> None:
    create_staff_watchlist(service)
    key = {"x-api-key": door_key(service)}
    image_id = _add(service, key, "Alice", ALICE_SEED)
    url = f"/api/v1/recognition/faces/{image_id}/verify"
    same = service.client.post(
        f"{url}?face_plugins=landmarks&status=true", files=photo(ALICE_SEED), headers=key
    )
    assert same.status_code == 200, same.text
    body = same.json()
    (face,) = body["result"]
    assert set(face) == {"box", "similarity", "landmarks", "execution_time"}
    assert face["similarity"] > 0.99 and face["box"]["x_max"] > face["box"]["x_min"]
    assert body["plugins_versions"]["calculator"]
    stranger = service.client.post(url, files=photo(STRANGER_SEED), headers=key)
    assert stranger.status_code == 200, stranger.text
    assert stranger.json()["result"][0]["similarity"] < face["similarity"]
    # Each comparison is a 1:1 search, recorded under the key's purpose.
    checks = _audited(service, "search.verify", f"template:{image_id}")
    assert len(checks) == 2
    assert {c["purpose"] for c in checks} == {"front door entry"}
    assert {c["details"]["identity"] for c in checks} == {checks[0]["details"]["identity"]}


def test_example_routes_refuse_without_a_valid_key(service: Service) -> None:
    create_staff_watchlist(service)
    key = {"x-api-key": door_key(service)}
    image_id = _add(service, key, "Alice", ALICE_SEED)
    calls = [
        ("get", f"/api/v1/recognition/faces/{image_id}/img", {}),
        ("post", "/api/v1/recognition/faces/delete", {"json": [image_id]}),
        ("post", f"/api/v1/recognition/faces/{image_id}/verify", {"files": photo(ALICE_SEED)}),
    ]
    for method, url, kwargs in calls:
        missing = getattr(service.client, method)(url, **kwargs)
        assert missing.status_code == 401 and missing.json()["code"] == 20, url
        wrong = getattr(service.client, method)(url, headers={"x-api-key": "wkcf_wrong"}, **kwargs)
        assert wrong.status_code == 401 and wrong.json()["code"] == 20, url
        unbound = getattr(service.client, method)(
            url, headers={"x-api-key": service.token("door")}, **kwargs
        )
        assert unbound.status_code == 403 and "bound to a watchlist" in unbound.json()["message"]
    # Nothing was deleted by the refused calls.
    assert (
        service.client.get(f"/api/v1/recognition/faces/{image_id}/img", headers=key).status_code
        == 200
    )


def test_example_routes_refuse_unknown_ids_and_other_watchlists(service: Service) -> None:
    create_staff_watchlist(service)
    create_staff_watchlist(service, name="visitors")
    key = {"x-api-key": door_key(service)}
    other = {"x-api-key": door_key_for(service, "visitors")}
    image_id = _add(service, key, "Alice", ALICE_SEED)
    for headers, wanted in ((key, "tpl_nothing"), (other, image_id)):
        shown = service.client.get(f"/api/v1/recognition/faces/{wanted}/img", headers=headers)
        assert shown.status_code == 404, shown.text
        checked = service.client.post(
            f"/api/v1/recognition/faces/{wanted}/verify", files=photo(ALICE_SEED), headers=headers
        )
        assert checked.status_code == 404, checked.text
    # Another watchlist's key cannot delete it either: the id is skipped.
    assert (
        service.client.post(
            "/api/v1/recognition/faces/delete", json=[image_id], headers=other
        ).json()
        == []
    )
    assert (
        service.client.get(f"/api/v1/recognition/faces/{image_id}/img", headers=key).status_code
        == 200
    )


def test_expired_watchlist_shows_and_verifies_nothing_but_may_still_be_emptied(
    service: Service,
) -> None:
    create_staff_watchlist(service, days=2)
    key = {"x-api-key": door_key(service)}
    image_id = _add(service, key, "Alice", ALICE_SEED)
    service.clock.advance(3 * 86400)
    shown = service.client.get(f"/api/v1/recognition/faces/{image_id}/img", headers=key)
    assert shown.status_code == 403 and "expired" in shown.json()["message"]
    checked = service.client.post(
        f"/api/v1/recognition/faces/{image_id}/verify", files=photo(ALICE_SEED), headers=key
    )
    assert checked.status_code == 403 and "expired" in checked.json()["message"]
    assert checked.json()["code"] == 7
    # Removing data never waits on a watchlist's term.
    deleted = service.client.post("/api/v1/recognition/faces/delete", json=[image_id], headers=key)
    assert deleted.json() == [{"image_id": image_id, "subject": "Alice"}]


def test_verify_with_example_needs_the_verify_right(service: Service) -> None:
    create_staff_watchlist(service)
    issued = service.client.post(
        "/api/compreface/keys",
        json={"watchlist": STAFF, "purpose": "door"},
        headers=service.headers("olive"),
    ).json()
    key = {"x-api-key": issued["key"]}  # olive is an operator: she may enrol, not verify
    image_id = _add(service, key, "Alice", ALICE_SEED)
    refused = service.client.post(
        f"/api/v1/recognition/faces/{image_id}/verify", files=photo(ALICE_SEED), headers=key
    )
    assert refused.status_code == 403 and refused.json()["code"] == 7
    demographic = service.client.post(
        f"/api/v1/recognition/faces/{image_id}/verify?face_plugins=gender",
        files=photo(ALICE_SEED),
        headers={"x-api-key": door_key(service)},
    )
    assert demographic.status_code == 403 and "demographic" in demographic.json()["message"]


def _analysed(service: Service, operation: str) -> float:
    """How many times ``operation``'s photos were analysed outside the engine gate."""
    value = service.app.state.services.metrics.registry.get_sample_value(
        "watchkeeper_pipeline_duration_seconds_count", {"operation": f"{operation}_analysis"}
    )
    return 0.0 if value is None else float(value)


def test_example_and_verification_photos_are_analysed_once_outside_the_gate(
    service: Service,
) -> None:
    create_staff_watchlist(service)
    key = {"x-api-key": door_key(service)}
    image_id = _add(service, key, "Alice", ALICE_SEED)
    assert _analysed(service, "enrol") == 1
    verified = service.client.post(
        "/api/v1/verification/verify",
        files={"source_image": photo(ALICE_SEED)["file"], "target_image": photo(BOB_SEED)["file"]},
        headers=key,
    )
    assert verified.status_code == 200, verified.text
    example = service.client.post(
        f"/api/v1/recognition/faces/{image_id}/verify", files=photo(ALICE_SEED), headers=key
    )
    assert example.status_code == 200, example.text
    assert example.json()["result"][0]["similarity"] > 0.99
    # One analysis per request (the pair of photos of a verification counts as one).
    assert _analysed(service, "verify") == 2


def test_an_example_with_no_face_above_the_threshold_is_refused_before_anything_is_stored(
    service: Service,
) -> None:
    create_staff_watchlist(service)
    key = {"x-api-key": door_key(service)}
    enrols_before = len(_audited(service, "gallery.enrol", "person:Alice"))
    refused = service.client.post(
        "/api/v1/recognition/faces?subject=Alice&det_prob_threshold=1.0",
        files=photo(ALICE_SEED),
        headers=key,
    )
    assert refused.status_code == 400 and refused.json()["code"] == 28, refused.text
    assert len(_audited(service, "gallery.enrol", "person:Alice")) == enrols_before
    listed = service.client.get("/api/v1/recognition/subjects", headers=key)
    assert listed.json() == {"subjects": []}
