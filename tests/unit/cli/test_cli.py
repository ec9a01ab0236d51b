"""The CLI through its test runner, on the mock backends (fast, no weights)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.builders import encode, pattern_image, save_png
from typer.testing import CliRunner

from watchkeeper.cli.main import app

runner = CliRunner()
BASE = ["--detector", "mock", "--embedder", "mock", "--threshold", "0.9"]


def _wk(home: Path, *args: str, token: str | None = None) -> tuple[int, str, str]:
    auth = ["--token", token] if token else []
    result = runner.invoke(app, ["--home", str(home), *BASE, *auth, *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def owner(home: Path) -> str:
    """A home-use site (one person, every role) with an active watchlist 'staff'."""
    code, out, err = _wk(home, "--json", "init", "--user", "me", "--home-use")
    assert code == 0, err
    token = json.loads(out)["token"]
    code, out, err = _wk(
        home,
        "watchlist",
        "create",
        "staff",
        "--purpose",
        "Door access",
        "--legal-basis",
        "consent of each person",
        "--days",
        "30",
        token=token,
    )
    assert code == 0 and "created" in out, err
    return str(token)


@pytest.fixture
def photos(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for i, name in enumerate(["ada", "grace", "stranger"]):
        out[name] = save_png(pattern_image(i + 1), tmp_path / f"{name}.png")
    return out


def _enrol(home: Path, token: str, person: str, *photos: Path) -> tuple[int, str, str]:
    return _wk(
        home,
        "enrol",
        person,
        *map(str, photos),
        "--watchlist",
        "staff",
        "--basis",
        "consent",
        "--source",
        "own photo",
        token=token,
    )


def _identify(home: Path, token: str, photo: Path, *extra: str) -> tuple[int, str, str]:
    return _wk(
        home,
        *extra,
        "identify",
        str(photo),
        "--watchlist",
        "staff",
        "--purpose",
        "door",
        token=token,
    )


def test_enrol_identify_and_gallery_commands(
    home: Path, owner: str, photos: dict[str, Path]
) -> None:
    code, out, _ = _enrol(home, owner, "Ada Lovelace", photos["ada"])
    assert code == 0 and "Enrolled 1 photo" in out
    code, out, _ = _identify(home, owner, photos["ada"])
    assert code == 0 and "candidate: Ada Lovelace" in out and "sent for review" in out
    code, out, _ = _identify(home, owner, photos["stranger"])
    assert code == 0 and "unknown" in out
    code, out, _ = _identify(home, owner, photos["ada"], "--json")
    payload = json.loads(out)
    assert payload["watchlist"] == "staff"
    assert payload["faces"][0]["decision"] == "match"
    assert payload["faces"][0]["candidates"][0]["person"] == "Ada Lovelace"
    assert payload["faces"][0]["review_candidate"].startswith("cand_")
    code, out, _ = _wk(home, "gallery", "list", token=owner)
    assert "staff: 1 people, active" in out
    code, out, _ = _wk(home, "gallery", "show", "Ada Lovelace", "--watchlist", "staff", token=owner)
    assert code == 0 and "1 template(s)" in out and "basis consent" in out
    code, out, _ = _wk(
        home, "gallery", "delete", "Ada Lovelace", "--watchlist", "staff", token=owner
    )
    assert code == 0 and "Deleted Ada Lovelace" in out
    code, out, _ = _identify(home, owner, photos["ada"])
    assert "unknown" in out


def test_verify_exit_code_tells_the_answer(home: Path, owner: str, photos: dict[str, Path]) -> None:
    args = ("verify", "--purpose", "check")
    code, out, _ = _wk(home, *args, str(photos["ada"]), str(photos["ada"]), token=owner)
    assert code == 0 and "Likely the same person" in out
    code, out, _ = _wk(home, *args, str(photos["ada"]), str(photos["grace"]), token=owner)
    assert code == 1 and "Not shown to be the same person" in out


def test_enrol_folder_with_progress_and_a_broken_file(
    tmp_path: Path, home: Path, owner: str
) -> None:
    tree = tmp_path / "people"
    for i, name in enumerate(["Ada_Lovelace", "Grace_Hopper"]):
        (tree / name).mkdir(parents=True)
        save_png(pattern_image(20 + i), tree / name / "a.png")
    (tree / "Grace_Hopper" / "b.jpg").write_bytes(b"")
    code, out, err = _wk(
        home,
        "enrol",
        "--folder",
        str(tree),
        "--watchlist",
        "staff",
        "--basis",
        "consent",
        "--source",
        "HR",
        token=owner,
    )
    assert code == 4
    assert "Enrolled 2 photo(s)" in out and "1 skipped" in out
    assert "empty (0 bytes)" in err


@pytest.mark.parametrize(
    ("content", "code", "message"),
    [
        (b"", 3, "empty (0 bytes)"),
        (b"hello, not an image", 3, "not an image"),
        (encode(pattern_image(5, size=300))[:2000], 3, "truncated or corrupt"),
    ],
)
def test_bad_input_gets_one_clear_line(
    tmp_path: Path, home: Path, owner: str, content: bytes, code: int, message: str
) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(content)
    got, out, err = _enrol(home, owner, "Ada", bad)
    assert got == code
    assert message in err
    assert "Traceback" not in out + err
    assert len(err.strip().splitlines()) == 1


def test_missing_file_and_missing_watchlist(
    home: Path, owner: str, tmp_path: Path, photos: dict[str, Path]
) -> None:
    code, _, err = _wk(home, "detect", str(tmp_path / "nope.jpg"))
    assert code == 3 and "no such file" in err
    code, _, err = _wk(
        home, "identify", str(photos["ada"]), "--watchlist", "none", "--purpose", "x", token=owner
    )
    assert code == 6 and "no gallery named 'none'" in err


def test_detect_json_reports_quality(home: Path, photos: dict[str, Path]) -> None:
    code, out, _ = _wk(home, "--json", "detect", str(photos["ada"]))
    assert code == 0
    [face] = json.loads(out)[str(photos["ada"])]["faces"]
    assert len(face["box_xyxy"]) == 4 and face["rejected"] == []


@pytest.mark.parametrize("aligner", ["dlib_5point", "dlib_68point"])
def test_aligner_option_reaches_the_engine_settings(home: Path, aligner: str) -> None:
    from watchkeeper.cli.main import state

    # Galleries made before the 68-point default can still be searched by naming their aligner.
    code, _, err = _wk(home, "--aligner", aligner, "--json", "init", "--user", "me", "--home-use")
    assert code == 0, err
    assert state.settings.recognition.aligner.value == aligner


def test_unknown_aligner_is_refused_with_the_choices(home: Path) -> None:
    code, _, err = _wk(home, "--aligner", "dlib_3point", "init", "--user", "me")
    assert code == 2
    assert "dlib_5point" in err and "dlib_68point" in err
