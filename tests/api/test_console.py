"""The web console through HTTP: sign-in cookie, pages, refusals, detection overlay."""

from __future__ import annotations

import re

from tests.api.conftest import PASSWORD, Service

HTML = {"accept": "text/html"}


def sign_in(service: Service, username: str, password: str = PASSWORD) -> object:
    return service.client.post(
        "/signin",
        data={"username": username, "password": password, "next": "/detect"},
        headers=HTML,
        follow_redirects=False,
    )


def test_pages_send_visitors_to_sign_in(service: Service) -> None:
    response = service.client.get("/detect", headers=HTML, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/signin?next=/detect"
    form = service.client.get("/signin?next=/detect")
    assert form.status_code == 200
    assert 'name="password"' in form.text and 'value="/detect"' in form.text


def test_sign_in_sets_a_strict_http_only_cookie_and_follows_next(service: Service) -> None:
    response = sign_in(service, "olive")
    assert response.status_code == 303
    assert response.headers["location"] == "/detect"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("wk_session=wk_")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    page = service.client.get("/", headers=HTML)
    assert page.status_code == 200
    assert "olive" in page.text and "operator" in page.text
    assert "No watchlists yet" in page.text  # the empty state


def test_wrong_password_shows_the_form_again_with_an_error(service: Service) -> None:
    response = sign_in(service, "olive", "not my password!!")
    assert response.status_code == 401
    assert "Wrong username or password." in response.text
    assert "set-cookie" not in response.headers


def test_next_never_leaves_the_site(service: Service) -> None:
    response = service.client.post(
        "/signin",
        data={"username": "olive", "password": PASSWORD, "next": "//evil.example/x"},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/"


def test_detect_page_draws_boxes_and_verdicts(service: Service, face_jpeg: bytes) -> None:
    sign_in(service, "olive")
    response = service.client.post(
        "/detect", files={"file": ("me.jpg", face_jpeg, "image/jpeg")}, headers=HTML
    )
    assert response.status_code == 200
    assert "1 face found, 1 good enough for recognition." in response.text
    assert len(re.findall(r"<rect ", response.text)) == 1
    assert 'href="data:image/jpeg;base64,' in response.text
    assert "usable" in response.text


def test_detect_page_explains_a_bad_upload(service: Service) -> None:
    sign_in(service, "olive")
    response = service.client.post(
        "/detect", files={"file": ("x.jpg", b"garbage", "image/jpeg")}, headers=HTML
    )
    assert response.status_code == 400
    assert 'role="alert"' in response.text and "x.jpg" in response.text


def test_a_role_without_detection_gets_a_readable_403_page(service: Service) -> None:
    sign_in(service, "audrey")
    response = service.client.get("/detect", headers=HTML)
    assert response.status_code == 403
    assert "Not allowed" in response.text and "audrey" in response.text
    dashboard = service.client.get("/", headers=HTML)
    assert 'href="/detect"' not in dashboard.text


def test_cross_site_posts_with_the_cookie_are_refused(service: Service, face_jpeg: bytes) -> None:
    sign_in(service, "olive")
    response = service.client.post(
        "/detect",
        files={"file": ("me.jpg", face_jpeg, "image/jpeg")},
        headers={"origin": "https://evil.example"},
    )
    assert response.status_code == 403
    assert "cross-site" in response.json()["detail"]


def test_sign_out_revokes_the_session(service: Service) -> None:
    sign_in(service, "olive")
    token = service.client.cookies["wk_session"]
    response = service.client.post("/signout", headers=HTML, follow_redirects=False)
    assert response.status_code == 303
    reused = service.client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert reused.status_code == 401


def test_user_text_is_escaped(service: Service) -> None:
    response = service.client.get('/signin?next=/"><script>alert(1)</script>')
    assert "<script>alert(1)</script>" not in response.text


def test_an_oversized_upload_on_a_page_gets_a_readable_page(service: Service) -> None:
    sign_in(service, "olive")
    limit = service.settings.api.max_body_bytes
    response = service.client.post(
        "/detect", files={"file": ("big.jpg", b"\xff" * limit, "image/jpeg")}, headers=HTML
    )
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("text/html")
    assert f"{limit:,}-byte limit" in response.text
