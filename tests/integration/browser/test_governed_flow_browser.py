"""The whole accountable flow in real Chromium on the real models: sign in, create a watchlist,
enrol a person from a photo, identify them in another photo, confirm the candidate in the review
queue, and find every step in the audit log. Screenshots go to test-artifacts/browser/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import PASSWORD, Service
from tests.integration.browser.conftest import ARTIFACTS
from watchkeeper.governance.authz import Role

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.models, pytest.mark.data]


def home_user(service: Service) -> None:
    """One person runs this site (home use): every role, four-eyes off, both audited."""
    engine = service.engine
    admin = engine.site.users().get("admin")
    engine.accounts.add_user(admin, "hana", list(Role), password=PASSWORD)
    engine.accounts.set_four_eyes(admin, False, "home use: one person runs this site")


def test_watchlist_enrol_identify_review_audit(
    served_real: tuple[Service, str], page: Any, data_dir: Path
) -> None:
    service, base_url = served_real
    home_user(service)
    photos = data_dir / "examples" / "examples"
    shot = 10

    def snap(name: str) -> None:
        nonlocal shot
        shot += 1
        page.screenshot(path=str(ARTIFACTS / f"{shot:02d}-{name}.png"), full_page=True)

    page.goto(f"{base_url}/signin")
    page.fill("input[name=username]", "hana")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/")
    assert "No watchlists yet" in page.locator("main").inner_text()

    page.click("nav >> text=Watchlists")
    page.fill("input[name=name]", "family")
    page.fill("input[name=purpose]", "Recognise family members at the front door")
    page.fill("input[name=legal_basis]", "Consent of each family member (household exemption)")
    page.fill("input[name=days]", "90")
    page.click("button:has-text('Create watchlist')")
    assert "created and active" in page.locator("[role=status]").inner_text()
    assert page.locator("tr#family .badge").inner_text() == "active"
    snap("watchlist-created")

    page.click("nav >> text=Enrol")
    page.fill("input[name=person]", "Barack Obama")
    page.select_option("select[name=basis]", "consent")
    page.fill("input[name=source]", "obama.jpg from the examples folder")
    page.set_input_files("input[type=file]", str(photos / "obama.jpg"))
    page.click("button:has-text('Enrol')")
    assert "Barack Obama is enrolled in family." in page.locator("[role=status]").inner_text()
    snap("enrolled")

    page.click("nav >> text=Identify")
    page.fill("input[name=purpose]", "who is at the front door")
    page.set_input_files("input[type=file]", str(photos / "obama2.jpg"))
    page.click("button:has-text('Search')")
    page.wait_for_selector(".decision")
    decision = page.locator(".decision").first.inner_text()
    assert "candidate: Barack Obama" in decision
    assert "a person must confirm" in decision
    snap("identified")

    page.click("nav >> text=Review")
    card = page.locator("section.candidate").first
    assert "Barack Obama" in card.inner_text()
    # Both faces are real images the browser decoded (probe left, enrolled right).
    widths = card.locator("img").evaluate_all("imgs => imgs.map(i => i.naturalWidth)")
    assert len(widths) == 2 and min(widths) > 0
    snap("review-queue")
    card.locator("input[name=note]").fill("same person, checked at the door")
    card.locator("button:has-text('Confirm')").click()
    assert "confirmed: it is now an alert" in page.locator("[role=status]").inner_text()

    page.click("nav >> text=Audit log")
    page.click("button:has-text('Verify the chain')")
    assert "audit chain intact" in page.locator("p.chain").inner_text()
    page.goto(f"{base_url}/audit?actor=hana")
    log = page.locator("table.audit").inner_text()
    for action in (
        "watchlist.create",
        "gallery.enrol",
        "search.identify",
        "match.candidate",
        "review.decide",
    ):
        assert action in log, action
    assert "who is at the front door" in log
    snap("audit-log")
