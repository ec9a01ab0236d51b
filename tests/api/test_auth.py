"""Sign-in, tokens, refusals without or with bad credentials, rate limiting, first admin."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from tests.api.conftest import (
    FAST_SCRYPT,
    MOCK_THRESHOLD,
    PASSWORD,
    Service,
    build_service,
    service_settings,
)
from watchkeeper.governance.authz import UserStore

PROBLEM = "application/problem+json"


def login(service: Service, username: str, password: str = PASSWORD) -> object:
    return service.client.post("/api/auth/login", json={"username": username, "password": password})


def test_login_gives_a_token_that_identifies_the_user(service: Service) -> None:
    response = login(service, "ivan")
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["user"]["roles"] == ["investigator"]
    me = service.client.get(
        "/api/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.status_code == 200
    assert me.json()["username"] == "ivan"
    assert "search.identify" in me.json()["permissions"]


def test_wrong_password_is_401_problem_without_saying_which_part_was_wrong(
    service: Service,
) -> None:
    for username in ("ivan", "nobody"):
        response = login(service, username, "not the password at all")
        assert response.status_code == 401
        assert response.headers["content-type"] == PROBLEM
        assert response.headers["www-authenticate"] == "Bearer"
        assert "unknown username or wrong password" in response.json()["detail"]


def test_requests_without_a_token_are_refused_with_a_hint(service: Service) -> None:
    response = service.client.get("/api/auth/me")
    assert response.status_code == 401
    problem = response.json()
    assert problem["status"] == 401
    assert problem["type"].endswith("unauthenticated")
    assert "POST /api/auth/login" in problem["detail"]


def test_bad_expired_and_revoked_tokens_are_refused(service: Service) -> None:
    bad = service.client.get("/api/auth/me", headers={"Authorization": "Bearer wk_forged"})
    assert bad.status_code == 401
    session = service.accounts.sign_in("ivan", PASSWORD, timedelta(minutes=5), "short")
    headers = {"Authorization": f"Bearer {session.token.plaintext}"}
    assert service.client.get("/api/auth/me", headers=headers).status_code == 200
    service.clock.advance(301)
    assert service.client.get("/api/auth/me", headers=headers).status_code == 401

    headers = service.headers("ivan")
    assert service.client.post("/api/auth/logout", headers=headers).status_code == 204
    assert service.client.get("/api/auth/me", headers=headers).status_code == 401


def test_a_disabled_users_tokens_stop_working(service: Service) -> None:
    headers = service.headers("rita")
    assert service.client.get("/api/auth/me", headers=headers).status_code == 200
    with service.engine.store.transaction() as conn:
        UserStore(conn).disable("rita")
    assert service.client.get("/api/auth/me", headers=headers).status_code == 401


def test_login_is_rate_limited_per_username(service: Service) -> None:
    burst = service.settings.api.login_burst
    for _ in range(burst):
        assert login(service, "olive", "wrong password guess").status_code == 401
    limited = login(service, "olive")  # even the right password waits
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    assert "too many sign-in attempts" in limited.json()["detail"]
    service.clock.advance(service.settings.api.login_refill_s)
    assert login(service, "olive").status_code == 200


def test_login_is_rate_limited_per_client_address(service: Service) -> None:
    burst = service.settings.api.login_burst
    for i in range(burst):
        assert login(service, f"guess{i}", "wrong password guess").status_code == 401
    # A fresh username from the same address is still refused: the address's bucket is empty.
    assert login(service, "adam").status_code == 429


def test_first_start_creates_an_admin_once(tmp_path: Path) -> None:
    first = build_service(tmp_path)
    service = next(first)
    assert [c.username for c in service.announced] == ["admin"]
    password = service.announced[0].password
    assert len(password) >= 20
    assert login(service, "admin", password).status_code == 200
    first.close()

    again = build_service(tmp_path)
    restarted = next(again)
    assert restarted.announced == []
    again.close()


def test_first_start_for_home_use_gives_the_one_person_every_role(tmp_path: Path) -> None:
    from watchkeeper.api import create_app
    from watchkeeper.api.accounts import InitialCredential
    from watchkeeper.governance.authz import Role
    from watchkeeper.service.engine import Engine

    settings = service_settings(tmp_path)
    engine = Engine(settings, threshold=MOCK_THRESHOLD, password_params=FAST_SCRYPT)
    announced: list[InitialCredential] = []
    app = create_app(settings, engine=engine, announce=announced.append, home_use=True)
    with TestClient(app):
        [credential] = announced
        admin = engine.site.users().get(credential.username)
        assert set(admin.roles) == set(Role)
        assert not engine.site.four_eyes()
