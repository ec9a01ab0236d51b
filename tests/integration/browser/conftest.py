"""Debian's Chromium driven by Playwright against the real service on 127.0.0.1.

The browser is the one the project's setup installs (`apt-get install chromium`); Playwright is
given its path and never downloads one. Screenshots go to test-artifacts/browser/.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.conftest import Service, build_service
from tests.servers import live_server

ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "browser"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.skip("Debian's chromium is not installed (scripts/setup.sh installs it)")
    return path


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Service, str]]:
    """The service on the mock backends, on a real loopback socket."""
    for service in build_service(tmp_path, max_body_bytes=4 * 1024 * 1024):
        with live_server(service.app) as base_url:
            yield service, base_url


@pytest.fixture
def served_real(tmp_path: Path) -> Iterator[tuple[Service, str]]:
    """The service on the real dlib/ONNX models."""
    limits = {"max_body_bytes": 8 * 1024 * 1024, "max_image_pixels": 25_000_000}
    for service in build_service(tmp_path, real_models=True, **limits):
        with live_server(service.app) as base_url:
            yield service, base_url


@pytest.fixture
def page(chromium_path: str) -> Iterator[object]:
    sync_api = pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_FLAGS)
        try:
            context = browser.new_context(viewport={"width": 1366, "height": 800})
            tab = context.new_page()
            tab.set_default_timeout(15_000)
            yield tab
            context.close()
        finally:
            browser.close()
