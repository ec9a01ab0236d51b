"""The Cameras console in real Chromium: add a file camera, watch its live picture load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.api.conftest import PASSWORD, Service
from tests.builders import pattern_image
from tests.integration.browser.conftest import ARTIFACTS
from tests.unit.runtime.test_camera_supervisor import write_clip
from watchkeeper.runtime.cameras import CameraSupervisor

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_add_a_file_camera_and_see_it_live(
    served: tuple[Service, str], page: Any, tmp_path: Path
) -> None:
    service, base_url = served
    supervisor = CameraSupervisor(service.settings, threshold=0.9)
    service.app.state.services.cameras = supervisor
    # A calm picture (a gradient with a textured middle) so the face box shows in screenshots.
    ramp = np.linspace(40, 200, 160, dtype=np.float32)
    image = np.stack([np.tile(ramp, (160, 1))] * 3, axis=2).astype(np.uint8)
    image[60:100, 60:100] = pattern_image(5, size=40)
    clip = write_clip(tmp_path / "lobby.avi", frames=30, size=160, image=image)
    try:
        page.goto(f"{base_url}/signin?next=/cameras")
        page.fill("input[name=username]", "olive")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base_url}/cameras")
        assert "No cameras yet" in page.locator("main").inner_text()
        assert page.locator("nav a:has-text('Cameras')").count() == 1

        form = page.locator("#new-camera")
        form.locator("input[name=camera_id]").fill("lobby")
        form.locator("input[name=name]").fill("Lobby")
        form.locator("input[name=source]").fill(str(clip))
        form.locator("input[name=loop]").check()
        form.locator("button[type=submit]").click()
        page.wait_for_url(f"{base_url}/cameras/lobby*")
        assert "Camera lobby added." in page.locator(".notice").inner_text()

        # The <img> shows the MJPEG stream: it has a size once the first picture arrives.
        page.wait_for_function(
            "() => document.querySelector('#live').naturalWidth > 0", timeout=60_000
        )
        width = page.evaluate("document.querySelector('#live').naturalWidth")
        assert width == 160
        # The state line follows the camera without a reload.
        page.wait_for_function(
            "() => document.querySelector('#state').textContent === 'running'", timeout=30_000
        )
        page.screenshot(path=str(ARTIFACTS / "cameras-01-live.png"), full_page=True)

        page.goto(f"{base_url}/cameras")
        row = page.locator("#camera-lobby")
        assert "Lobby" in row.inner_text()
        page.screenshot(path=str(ARTIFACTS / "cameras-02-list.png"), full_page=True)
    finally:
        supervisor.stop_all()
