"""The video commands through the CLI on the mock backends: watch, index, search-footage,
redact (tokens, JSON output, plain-words errors)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tests.builders import pattern_image, save_png
from typer.testing import CliRunner

import watchkeeper.cli.video  # noqa: F401  (registers the video commands)
from watchkeeper.cli.main import app

runner = CliRunner()
BASE = ["--detector", "mock", "--embedder", "mock", "--threshold", "0.9"]


def wk(home: Path, token: str | None, *args: str) -> tuple[int, str, str]:
    auth = ["--token", token] if token else []
    result = runner.invoke(app, ["--home", str(home), *BASE, *auth, *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def home_site(tmp_path: Path) -> tuple[Path, str]:
    """A home-use site: one person with every role, four-eyes off."""
    home = tmp_path / "home"
    code, out, err = wk(home, None, "--json", "init", "--user", "me", "--home-use")
    assert code == 0, err
    return home, str(json.loads(out)["token"])


def _frames(folder: Path, seed: int, count: int) -> Path:
    folder.mkdir(parents=True)
    for i in range(count):
        save_png(pattern_image(seed), folder / f"{i:03d}.png")
    return folder


def test_watch_prints_events_as_json_lines_and_a_summary(
    home_site: tuple[Path, str], tmp_path: Path
) -> None:
    home, token = home_site
    folder = _frames(tmp_path / "cam", 3, 25)
    code, out, err = wk(
        home, token, "--json", "watch", str(folder), "--camera", "door", "--no-worker"
    )
    assert code == 0, err
    lines = out.strip().splitlines()
    events = [json.loads(line) for line in lines if line.startswith("{") and '"kind"' in line]
    assert [e["kind"] for e in events] == ["track_started", "track_ended"]
    summary = json.loads("\n".join(lines[len(events) :]))
    assert summary["frames"] == 25 and summary["sightings"] == 1 and summary["errors"] == 0


def test_watch_without_a_token_is_refused_in_plain_words(tmp_path: Path) -> None:
    code, _, err = wk(tmp_path / "home", None, "watch", str(tmp_path))
    assert code == 11 and "needs an API token" in err


def test_index_then_search_footage_then_redact(home_site: tuple[Path, str], tmp_path: Path) -> None:
    home, token = home_site
    recordings = tmp_path / "rec"
    _frames(recordings / "ignored-pngs", 4, 2)  # not video files
    import av

    image = pattern_image(4)
    with av.open(str(recordings / "door.avi"), "w") as container:
        stream = container.add_stream("ffv1", rate=10)  # lossless: the probe matches exactly
        stream.width, stream.height, stream.pix_fmt = 96, 96, "yuv444p"
        for _ in range(20):
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    code, out, err = wk(home, token, "--json", "index", str(recordings))
    assert code == 0, err
    assert json.loads(out) == [
        {"recording": "door.avi", "frames": 20, "sightings": 1, "error": None}
    ]
    probe = save_png(image, tmp_path / "probe.png")
    thumbs = tmp_path / "thumbs"
    code, out, err = wk(
        home,
        token,
        "--json",
        "search-footage",
        str(probe),
        "-p",
        "case 3",
        "--thumbnails",
        str(thumbs),
    )
    assert code == 0, err
    found = json.loads(out)
    [hit] = found["hits"]
    assert hit["recording"] == "door.avi" and hit["similarity"] >= 0.9
    assert Path(hit["thumbnail"]).read_bytes()[:2] == b"\xff\xd8"
    code, out, err = wk(
        home, token, "redact", str(probe), "--out", str(tmp_path / "r.png"), "-p", "press copy"
    )
    assert code == 0, err
    assert "1 face(s) blurred" in out
    from PIL import Image

    redacted = np.asarray(Image.open(tmp_path / "r.png")).astype(np.float32)
    assert redacted[30:66, 30:66].std() < 0.5 * image[30:66, 30:66].astype(np.float32).std()


def test_search_footage_without_purpose_is_refused(
    home_site: tuple[Path, str], tmp_path: Path
) -> None:
    home, token = home_site
    probe = save_png(pattern_image(1), tmp_path / "p.png")
    code, _, err = wk(home, token, "search-footage", str(probe))
    assert code == 2 and "purpose" in err
