"""Console forms over HTTP: extend and widen a watchlist (four-eyes), erasure with its
confirmation step and receipt, recognition keys, the signed checkpoint download, Counts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.api.conftest import Service, build_service
from tests.api.governed import ALICE_SEED, STAFF, create_staff_watchlist, identify, staffed
from tests.api.test_console_governed import HTML, as_user
from tests.api.test_video import count_some

# The Service clock starts on 2026-01-05; the staff watchlist runs 30 days from then.


def _watchlist(service: Service) -> dict[str, object]:
    shown = service.client.get(f"/api/watchlists/{STAFF}", headers=service.headers("olive"))
    assert shown.status_code == 200, shown.text
    body: dict[str, object] = shown.json()
    return body


def _approve_the_one_request(service: Service) -> str:
    as_user(service, "adam")
    approvals = service.client.get("/approvals", headers=HTML)
    (request_id,) = re.findall(r'action="/approvals/([^/]+)/decide"', approvals.text)
    approved = service.client.post(
        f"/approvals/{request_id}/decide",
        data={"decision": "approve", "reason": "ok"},
        headers=HTML,
    )
    assert "approved and applied" in approved.text
    return request_id


# -- watchlists: extend and widen ----------------------------------------------------------------


def test_extending_later_files_a_request_that_applies_once_approved(service: Service) -> None:
    create_staff_watchlist(service)
    as_user(service, "olive")
    page = service.client.get("/watchlists", headers=HTML)
    assert f'action="/watchlists/{STAFF}/extend"' in page.text and "At most 365 days" in page.text
    asked = service.client.post(
        f"/watchlists/{STAFF}/extend",
        data={"expires_on": "2026-03-01", "reason": "project runs longer"},
        headers=HTML,
    )
    assert asked.status_code == 200, asked.text
    assert "waits for approval by a second person" in asked.text
    assert str(_watchlist(service)["expires_at"]).startswith("2026-02-04")  # unchanged so far
    _approve_the_one_request(service)
    assert str(_watchlist(service)["expires_at"]).startswith("2026-03-01")


def test_ending_earlier_applies_at_once(service: Service) -> None:
    create_staff_watchlist(service)
    as_user(service, "olive")
    done = service.client.post(
        f"/watchlists/{STAFF}/extend",
        data={"expires_on": "2026-01-20", "reason": "pilot ends early"},
        headers=HTML,
    )
    assert "Watchlist staff now ends on 2026-01-20." in done.text
    assert str(_watchlist(service)["expires_at"]).startswith("2026-01-20")


@pytest.mark.parametrize(
    ("expires_on", "message"),
    [("2031-01-01", "365"), ("next week", "dates look like"), ("", "give the new end date")],
)
def test_extend_refuses_bad_dates_with_the_reason(
    service: Service, expires_on: str, message: str
) -> None:
    create_staff_watchlist(service)
    as_user(service, "olive")
    refused = service.client.post(
        f"/watchlists/{STAFF}/extend",
        data={"expires_on": expires_on, "reason": "why not"},
        headers=HTML,
    )
    assert refused.status_code == 400 and 'role="alert"' in refused.text
    assert message in refused.text
    assert str(_watchlist(service)["expires_at"]).startswith("2026-02-04")


def test_widen_narrows_at_once_and_widening_waits_for_approval(service: Service) -> None:
    create_staff_watchlist(service)
    as_user(service, "olive")
    narrowed = service.client.post(
        f"/watchlists/{STAFF}/widen", data={"max_people": "2", "reason": "small team"}, headers=HTML
    )
    assert "Watchlist staff now holds at most 2 people." in narrowed.text
    assert _watchlist(service)["max_people"] == 2
    widened = service.client.post(
        f"/watchlists/{STAFF}/widen", data={"max_people": "", "reason": "whole site"}, headers=HTML
    )
    assert "waits for approval by a second person" in widened.text
    assert _watchlist(service)["max_people"] == 2
    _approve_the_one_request(service)
    assert _watchlist(service)["max_people"] is None
    as_user(service, "olive")
    junk = service.client.post(
        f"/watchlists/{STAFF}/widen", data={"max_people": "lots", "reason": "x"}, headers=HTML
    )
    assert junk.status_code == 400 and "whole number" in junk.text


def test_extend_and_widen_need_watchlist_manage(service: Service) -> None:
    create_staff_watchlist(service)
    as_user(service, "ivan")
    for action, data in (
        ("extend", {"expires_on": "2026-03-01", "reason": "x"}),
        ("widen", {"max_people": "5", "reason": "x"}),
    ):
        refused = service.client.post(f"/watchlists/{STAFF}/{action}", data=data, headers=HTML)
        assert refused.status_code == 403 and "Not allowed" in refused.text
    as_user(service, "olive")
    unknown = service.client.post(
        "/watchlists/nowhere/widen", data={"max_people": "5", "reason": "x"}, headers=HTML
    )
    assert unknown.status_code == 404 and "nowhere" in unknown.text


# -- erasure -------------------------------------------------------------------------------------


def test_erasure_asks_first_then_erases_and_shows_the_receipt(service: Service) -> None:
    staffed(service)
    as_user(service, "adam")
    form = service.client.get("/erasure", headers=HTML)
    assert form.status_code == 200 and 'href="/erasure" aria-current="page"' in form.text
    asked = service.client.post(
        "/erasure",
        data={"person": "Alice Example", "reason": "asked to be forgotten"},
        headers=HTML,
    )
    assert asked.status_code == 200
    assert "Erase Alice Example?" in asked.text and "cannot be undone" in asked.text
    assert 'name="confirmed" value="yes"' in asked.text
    assert _watchlist(service)["people"] == 1  # nothing erased before the confirmation

    erased = service.client.post(
        "/erasure",
        data={"person": "Alice Example", "reason": "asked to be forgotten", "confirmed": "yes"},
        headers=HTML,
    )
    assert erased.status_code == 200, erased.text
    assert "Alice Example is erased everywhere" in erased.text
    digest = re.search(r"Digest \(SHA-256\)</th><td[^>]*>([0-9a-f]{64})<", erased.text)
    assert digest is not None
    assert erased.text.count(digest.group(1)) == 2  # in the table and in the JSON receipt
    assert _watchlist(service)["people"] == 0
    assert identify(service, ALICE_SEED).json()["faces"][0]["decision"] == "unknown"
    log = service.client.get(
        "/api/audit", params={"action": "data.erase"}, headers=service.headers("audrey")
    ).json()["entries"]
    assert [e["details"]["receipt_digest"] for e in log] == [digest.group(1)]


def test_erasure_refusals_are_readable(service: Service) -> None:
    as_user(service, "adam")
    nobody = service.client.post(
        "/erasure",
        data={"person": "Nobody Here", "reason": "asked", "confirmed": "yes"},
        headers=HTML,
    )
    assert nobody.status_code == 404 and "Nobody Here" in nobody.text
    as_user(service, "olive")
    assert service.client.get("/erasure", headers=HTML).status_code == 403
    refused = service.client.post(
        "/erasure", data={"person": "A", "reason": "b", "confirmed": "yes"}, headers=HTML
    )
    assert refused.status_code == 403


# -- recognition keys ----------------------------------------------------------------------------


def test_keys_are_created_shown_once_listed_and_revoked(service: Service) -> None:
    create_staff_watchlist(service)
    as_user(service, "olive")
    empty = service.client.get("/keys", headers=HTML)
    assert "No recognition keys yet." in empty.text and f">{STAFF}</option>" in empty.text
    created = service.client.post(
        "/keys",
        data={"watchlist": STAFF, "purpose": "front door tablet", "days": "30", "label": "door"},
        headers=HTML,
    )
    assert created.status_code == 200, created.text
    (plaintext,) = re.findall(r"(wkcf_[A-Za-z0-9_-]+)", created.text)
    key = {"x-api-key": plaintext}
    assert service.client.get("/api/v1/recognition/subjects", headers=key).status_code == 200
    listed = service.client.get("/keys", headers=HTML)
    assert plaintext not in listed.text  # shown once only
    (key_id,) = re.findall(r'action="/keys/([^/]+)/revoke"', listed.text)
    assert "front door tablet" in listed.text and ">active<" in listed.text

    as_user(service, "ivan")  # not his key, and he does not manage users
    refused = service.client.post(f"/keys/{key_id}/revoke", headers=HTML)
    assert refused.status_code == 403 and "only your own" in refused.text
    as_user(service, "olive")
    revoked = service.client.post(f"/keys/{key_id}/revoke", headers=HTML)
    assert f"Key {key_id} revoked" in revoked.text and ">revoked<" in revoked.text
    assert service.client.get("/api/v1/recognition/subjects", headers=key).status_code == 401


def test_key_refusals_keep_the_form(service: Service) -> None:
    create_staff_watchlist(service)
    as_user(service, "olive")
    nowhere = service.client.post(
        "/keys", data={"watchlist": "nowhere", "purpose": "door"}, headers=HTML
    )
    assert nowhere.status_code == 404 and "nowhere" in nowhere.text
    protected = service.client.post(
        "/keys", data={"watchlist": STAFF, "purpose": "sort visitors by ethnicity"}, headers=HTML
    )
    assert protected.status_code == 403 and 'role="alert"' in protected.text
    assert "sort visitors by ethnicity" in protected.text  # the form keeps what was typed
    for_other = service.client.post(
        "/keys", data={"watchlist": STAFF, "purpose": "door", "username": "ivan"}, headers=HTML
    )
    assert for_other.status_code == 403
    as_user(service, "audrey")
    assert service.client.get("/keys", headers=HTML).status_code == 403


# -- audit checkpoint ----------------------------------------------------------------------------


def test_checkpoint_download_without_a_key_says_how_to_make_one(service: Service) -> None:
    as_user(service, "audrey")
    page = service.client.get("/audit", headers=HTML)
    assert 'action="/audit/checkpoint"' in page.text
    refused = service.client.post("/audit/checkpoint", headers=HTML)
    assert refused.status_code == 400 and "audit keygen" in refused.text
    as_user(service, "olive")
    assert service.client.post("/audit/checkpoint", headers=HTML).status_code == 403


def test_checkpoint_download_is_a_signed_file(tmp_path: Path) -> None:
    from watchkeeper.governance.audit import generate_signing_key

    key = tmp_path / "keys" / "audit.key"
    key.parent.mkdir()
    home = tmp_path / "home"
    generate_signing_key(key, data_dir=home)
    for service in build_service(home):
        governance = service.settings.governance.model_copy(update={"audit_signing_key": key})
        service.settings.__dict__["governance"] = governance  # frozen model; test-only swap
        as_user(service, "audrey")
        got = service.client.post("/audit/checkpoint", headers=HTML)
        assert got.status_code == 200, got.text
        assert got.headers["content-type"].startswith("application/json")
        disposition = got.headers["content-disposition"]
        assert disposition.startswith("attachment;") and "audit-checkpoint-" in disposition
        body = json.loads(got.content)
        assert body["seq"] >= 1 and body["signature"]
        # The export itself is on record.
        log = service.client.get(
            "/api/audit", params={"action": "audit.checkpoint"}, headers=service.headers("audrey")
        ).json()["entries"]
        assert len(log) == 1 and log[0]["actor"] == "audrey"


# -- counts --------------------------------------------------------------------------------------


def test_counts_page_empty_state(service: Service) -> None:
    as_user(service, "olive")
    page = service.client.get("/counts", headers=HTML)
    assert page.status_code == 200
    assert "No counting data" in page.text and 'href="/counts" aria-current="page"' in page.text
    assert 'value="2025-12-30"' in page.text and 'value="2026-01-06"' in page.text  # last 7 days


def test_counts_page_totals_and_hourly_chart(service: Service) -> None:
    count_some(service)  # gate/road: 4 in and 1 out across 08:58-09:01 on 2026-01-05
    as_user(service, "olive")
    page = service.client.get("/counts", headers=HTML)
    assert page.status_code == 200, page.text
    assert "gate · road" in page.text and "(5 in all)" in page.text
    rows = re.findall(
        r"<tr><td>line crossed</td><td>vehicle</td><td>(\w+)</td><td>(\d+)</td></tr>", page.text
    )
    assert sorted(rows) == [("in", "4"), ("out", "1")]
    (src,) = re.findall(r'src="(/counts/chart\.png[^"]+)"', page.text)
    chart = service.client.get(src.replace("&amp;", "&"))
    assert chart.status_code == 200 and chart.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert chart.headers["content-type"] == "image/png"

    other_camera = service.client.get("/counts?camera=yard", headers=HTML)
    assert "No counting data for camera yard" in other_camera.text
    before = service.client.get("/counts?since=2025-12-01&until=2026-01-01", headers=HTML)
    assert "No counting data" in before.text


def test_counts_refusals(service: Service) -> None:
    count_some(service)
    as_user(service, "olive")
    backwards = service.client.get("/counts?since=2026-01-05&until=2026-01-01", headers=HTML)
    assert backwards.status_code == 400 and "after the start" in backwards.text
    too_long = service.client.get("/counts?since=2025-01-01&until=2026-01-01", headers=HTML)
    assert too_long.status_code == 400 and "at most 92 days" in too_long.text
    no_place = service.client.get("/counts/chart.png?camera=gate&place=nowhere")
    assert no_place.status_code == 400
    for user in ("rita", "audrey"):
        as_user(service, user)
        assert service.client.get("/counts", headers=HTML).status_code == 403
        assert service.client.get("/counts/chart.png?camera=gate&place=road").status_code == 403


def test_nav_links_follow_permissions(service: Service) -> None:
    as_user(service, "adam")
    home = service.client.get("/", headers=HTML).text
    assert 'href="/erasure"' in home and 'href="/keys"' in home and 'href="/counts"' not in home
    as_user(service, "olive")
    home = service.client.get("/", headers=HTML).text
    assert 'href="/counts"' in home and 'href="/keys"' in home and 'href="/erasure"' not in home
