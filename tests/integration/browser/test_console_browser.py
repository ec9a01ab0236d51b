"""The console in real Chromium: sign in, detect faces in an upload, sign out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import PASSWORD, Service
from tests.builders import pattern_image, save_png
from tests.integration.browser.conftest import ARTIFACTS

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_sign_in_and_detect_faces_in_an_upload(
    served: tuple[Service, str], page: Any, tmp_path: Path
) -> None:
    _, base_url = served
    photo = save_png(pattern_image(11, size=480), tmp_path / "group-photo.png")

    page.goto(f"{base_url}/")
    assert page.url.endswith("/signin?next=/")
    page.fill("input[name=username]", "olive")
    page.fill("input[name=password]", "a wrong password")
    page.click("button[type=submit]")
    assert page.locator("[role=alert]").inner_text() == "Wrong username or password."
    page.screenshot(path=str(ARTIFACTS / "01-signin-error.png"))

    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/")
    assert "Signed in as olive" in page.locator("main").inner_text()
    page.screenshot(path=str(ARTIFACTS / "02-overview.png"))

    page.click("a.button:has-text('Upload a photo')")
    page.wait_for_url(f"{base_url}/detect")
    page.set_input_files("input[type=file]", str(photo))
    page.click("button:has-text('Detect')")
    page.wait_for_selector("figure.overlay svg rect")
    assert page.locator(".summary").inner_text() == ("1 face found, 1 good enough for recognition.")
    assert page.locator("figure.overlay svg rect").count() == 1
    assert page.locator("table.faces tbody tr").count() == 1
    page.screenshot(path=str(ARTIFACTS / "03-detect-result.png"), full_page=True)

    page.click("button:has-text('Sign out')")
    page.wait_for_url(f"{base_url}/signin")
    page.goto(f"{base_url}/detect")
    assert "/signin" in page.url


@pytest.mark.models
@pytest.mark.data
def test_detect_draws_real_faces(
    served_real: tuple[Service, str], page: Any, data_dir: Path
) -> None:
    _, base_url = served_real
    page.goto(f"{base_url}/signin")
    page.fill("input[name=username]", "ivan")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/")
    page.goto(f"{base_url}/detect")
    page.set_input_files("input[type=file]", str(data_dir / "examples/examples/two_people.jpg"))
    page.click("button:has-text('Detect')")
    page.wait_for_selector("figure.overlay svg rect")
    assert page.locator("figure.overlay svg rect").count() == 2
    assert page.locator(".summary").inner_text().startswith("2 faces found")
    page.screenshot(path=str(ARTIFACTS / "04-detect-real-faces.png"), full_page=True)
