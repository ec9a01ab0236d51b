"""Footage index, search by photo and redaction on the real models and a real clip."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from watchkeeper.config.settings import Settings
from watchkeeper.governance.authz import Principal
from watchkeeper.service.engine import Engine

pytestmark = [pytest.mark.models, pytest.mark.slow]


@dataclass
class Site:
    engine: Engine
    me: Principal
    examples: Path
    recordings: Path


def _cut(source: Path, out: Path, frames: int) -> None:
    """The first ``frames`` frames of ``source`` as an H.264 MP4."""
    import av

    with av.open(str(source)) as src, av.open(str(out), "w") as dst:
        stream = dst.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
        for i, frame in enumerate(src.decode(video=0)):
            if i >= frames:
                break
            picture = av.VideoFrame.from_ndarray(frame.to_ndarray(format="rgb24"), format="rgb24")
            for packet in stream.encode(picture):
                dst.mux(packet)
        for packet in stream.encode():
            dst.mux(packet)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Iterator[Site]:
    home = tmp_path_factory.mktemp("home")
    examples = data_dir / "examples" / "examples"
    recordings = home / "recordings"
    recordings.mkdir()
    _cut(examples / "short_hamilton_clip.mp4", recordings / "hamilton.mp4", 120)
    with Engine(Settings(home=home, workers=1)) as engine:
        me = engine.accounts.initialise("tester", home_use=True).principal
        yield Site(engine, me, examples, recordings)


def test_indexed_footage_is_found_by_photo_of_the_right_person_only(site: Site) -> None:
    [indexed] = site.engine.footage.index_folder(site.me, site.recordings)
    assert indexed.error is None and indexed.frames == 120 and indexed.sightings >= 1
    found = site.engine.footage.search(
        site.me, site.examples / "lin-manuel-miranda.png", "find him in the clip"
    )
    assert found.hits, "Lin-Manuel Miranda is in the clip"
    best = found.hits[0]
    assert best.recording == "hamilton.mp4"
    assert best.thumbnail_jpeg is not None and best.thumbnail_jpeg[:2] == b"\xff\xd8"
    assert 0.0 <= best.sighting.first_pts_s <= best.sighting.last_pts_s <= 4.0
    assert [h.similarity for h in found.hits] == sorted(
        (h.similarity for h in found.hits), reverse=True
    )
    for stranger in ("obama.jpg", "biden.jpg"):
        assert site.engine.footage.search(site.me, site.examples / stranger, "check").hits == ()


def _face_boxes(engine: Engine, image: np.ndarray) -> np.ndarray:
    return engine.detect(image).xyxy.astype(int)


def _detail(image: np.ndarray, box: np.ndarray) -> float:
    x0, y0, x1, y1 = box
    gray = image[y0:y1, x0:x1].astype(np.float32).mean(axis=2)
    return float(np.abs(np.diff(gray, axis=1)).mean())


def test_redaction_blurs_everyone_but_the_subject(site: Site, tmp_path: Path) -> None:
    from PIL import Image

    photo = site.examples / "two_people.jpg"
    original = np.asarray(Image.open(photo).convert("RGB"))
    boxes = _face_boxes(site.engine, original)
    assert len(boxes) == 2
    out = tmp_path / "redacted.png"
    report = site.engine.footage.redact(
        site.me, photo, out, "press copy", keep=site.examples / "obama.jpg"
    )
    assert (report.faces_blurred, report.faces_kept) == (1, 1)
    redacted = np.asarray(Image.open(out).convert("RGB"))
    ratios = sorted(_detail(redacted, b) / _detail(original, b) for b in boxes)
    assert ratios[0] < 0.3  # the other face lost most of its detail
    assert ratios[1] > 0.95  # the subject's face is untouched
    everyone = tmp_path / "everyone.png"
    site.engine.footage.redact(site.me, photo, everyone, "press copy")
    blurred = np.asarray(Image.open(everyone).convert("RGB"))
    assert all(_detail(blurred, b) < 0.3 * _detail(original, b) for b in boxes)
    assert "data.export" in [
        r[0] for r in site.engine.store.conn.execute("SELECT action FROM audit_log")
    ]
