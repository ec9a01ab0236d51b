"""Small builders for unit tests."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from watchkeeper.config.settings import (
    DetectionSettings,
    DetectorKind,
    EmbedderKind,
    QualitySettings,
    RecognitionSettings,
    Settings,
)
from watchkeeper.core import Faces, Frame
from watchkeeper.gallery.watchlist import WatchlistTerms
from watchkeeper.governance.authz import Principal, ScryptParams
from watchkeeper.service.engine import Engine


def make_faces(n: int = 2, with_embedding: bool = False, dim: int = 8) -> Faces:
    rng = np.random.default_rng(n)
    xy = rng.uniform(0, 100, (n, 2)).astype(np.float32)
    boxes = np.concatenate([xy, xy + 50], axis=1)
    emb = None
    if with_embedding:
        emb = rng.standard_normal((n, dim)).astype(np.float32)
        emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    return Faces(xyxy=boxes, detector_score=np.linspace(0.5, 1.0, n), embedding=emb)


def make_frame(w: int = 64, h: int = 48, seed: int = 0) -> Frame:
    rng = np.random.default_rng(seed)
    return Frame(rng.integers(0, 255, (h, w, 3), dtype=np.uint8), source_id=f"synthetic-{seed}")


def pattern_image(seed: int, size: int = 96) -> np.ndarray:
    """A distinct, non-uniform RGB picture per seed (the mock detector sees one 'face')."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 255, (size, size, 3), dtype=np.uint8)


def save_png(array: np.ndarray, path: Path) -> Path:
    from PIL import Image

    Image.fromarray(array).save(path)
    return path


def encode(array: np.ndarray, fmt: str = "JPEG", **kwargs: object) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def mock_settings(home: Path) -> Settings:
    """Settings that run the whole engine on the deterministic mock backends."""
    return Settings(
        home=home,
        detection=DetectionSettings(kind=DetectorKind.MOCK),
        quality=QualitySettings(min_face_px=8, min_sharpness=0.0),
        recognition=RecognitionSettings(
            embedder=EmbedderKind.MOCK, mirror_augment=False, shift_augment_px=0
        ),
        workers=1,
    )


class FakeClock:
    """A clock tests move by hand (timezone-aware, UTC)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


FAST_PASSWORDS = ScryptParams(n=2**10, r=8, p=1)


@dataclass
class Staff:
    """A governed mock-backend engine with one user per role and an active watchlist."""

    engine: Engine
    clock: FakeClock
    admin: Principal
    operator: Principal
    investigator: Principal
    reviewer: Principal
    auditor: Principal
    second_admin: Principal
    watchlist: str = "staff"

    def audit_actions(self) -> list[str]:
        rows = self.engine.store.conn.execute("SELECT action FROM audit_log ORDER BY seq")
        return [r[0] for r in rows]


def make_staff(home: Path, four_eyes: bool = True, threshold: float = 0.9) -> Staff:
    """Engine on the mock backends with admin, operator, investigator, reviewer, auditor and a
    second admin (the approver), plus an approved 30-day watchlist ``staff``."""
    clock = FakeClock()
    engine = Engine(
        mock_settings(home), threshold=threshold, clock=clock, password_params=FAST_PASSWORDS
    )
    admin = engine.accounts.initialise("root").principal
    made = {
        name: engine.accounts.add_user(admin, name, [role]).principal
        for name, role in [
            ("olga", "operator"),
            ("ines", "investigator"),
            ("rui", "reviewer"),
            ("aud", "auditor"),
            ("ade", "admin"),
        ]
    }
    if not four_eyes:
        engine.accounts.set_four_eyes(admin, False, "test site without a second approver")
    change = engine.watchlists.create(
        made["olga"],
        "staff",
        WatchlistTerms(
            "Door access for staff members",
            "Employment contracts, clause 7",
            clock.now + timedelta(days=30),
        ),
    )
    if change.approval_id is not None:
        engine.watchlists.approve(admin, change.approval_id, "staff door list")
    return Staff(
        engine,
        clock,
        admin,
        made["olga"],
        made["ines"],
        made["rui"],
        made["aud"],
        made["ade"],
    )
