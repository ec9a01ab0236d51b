"""An app on the mock backends, users of every role, and a hand-driven clock for rate limits."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.builders import encode, mock_settings, pattern_image
from watchkeeper.api import create_app
from watchkeeper.api.accounts import Accounts, InitialCredential
from watchkeeper.config.api import ApiSettings
from watchkeeper.config.settings import Settings
from watchkeeper.governance.authz import Role, ScryptParams
from watchkeeper.service.engine import Engine

# A cheap scrypt setting keeps sign-ins in tests fast; production uses the OWASP default.
FAST_SCRYPT = ScryptParams(n=2**8)
PASSWORD = "correct horse battery staple"
MOCK_THRESHOLD = 0.9
USERS = {
    "olive": Role.OPERATOR,
    "ivan": Role.INVESTIGATOR,
    "rita": Role.REVIEWER,
    "audrey": Role.AUDITOR,
    "adam": Role.ADMIN,
}


@dataclass
class Clock:
    """A clock the test moves by hand, for both wall time and the rate limiter."""

    monotonic_s: float = 1000.0
    wall: datetime = field(default_factory=lambda: datetime(2026, 1, 5, 9, 0, tzinfo=UTC))

    def advance(self, seconds: float) -> None:
        self.monotonic_s += seconds
        self.wall += timedelta(seconds=seconds)


@dataclass
class Service:
    app: FastAPI
    client: TestClient
    accounts: Accounts
    clock: Clock
    settings: Settings
    announced: list[InitialCredential]
    engine: Engine

    def headers(self, username: str) -> dict[str, str]:
        """Bearer headers for a user, signed in directly (no rate-limit budget spent)."""
        session = self.accounts.sign_in(username, PASSWORD, timedelta(hours=1), "test")
        return {"Authorization": f"Bearer {session.token.plaintext}"}

    def token(self, username: str) -> str:
        return self.headers(username)["Authorization"].removeprefix("Bearer ")


def service_settings(home: Path, real_models: bool = False, **api: object) -> Settings:
    base = Settings(home=home) if real_models else mock_settings(home)
    limits: dict[str, object] = {"max_body_bytes": 256 * 1024, "max_image_pixels": 1_000_000}
    return base.model_copy(update={"api": ApiSettings(**{**limits, **api})})


def build_service(home: Path, real_models: bool = False, **api: object) -> Iterator[Service]:
    settings = service_settings(home, real_models, **api)
    clock = Clock()
    # The mock embedder has no calibration file, so mock sites take a fixed threshold.
    engine = Engine(
        settings,
        threshold=None if real_models else MOCK_THRESHOLD,
        clock=lambda: clock.wall,
        password_params=FAST_SCRYPT,
    )
    accounts = Accounts(engine)
    announced: list[InitialCredential] = []
    app = create_app(
        settings,
        engine=engine,
        accounts=accounts,
        announce=announced.append,
        login_clock=lambda: clock.monotonic_s,
    )
    with TestClient(app) as client:
        if accounts.user_count() <= 1:  # a restart on the same home keeps its users
            admin = engine.site.users().get("admin")
            for name, role in USERS.items():
                engine.accounts.add_user(admin, name, [role], password=PASSWORD)
        yield Service(app, client, accounts, clock, settings, announced, engine)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    yield from build_service(tmp_path)


@pytest.fixture
def face_jpeg() -> bytes:
    """A picture the mock detector sees one face in."""
    return encode(pattern_image(3, size=120))


@pytest.fixture
def upload() -> Callable[[bytes, str], dict[str, tuple[str, bytes, str]]]:
    def make(data: bytes, name: str = "photo.jpg") -> dict[str, tuple[str, bytes, str]]:
        return {"file": (name, data, "image/jpeg")}

    return make
