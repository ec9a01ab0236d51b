"""The CLI through its test runner, on the mock backends (fast, no weights)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.builders import encode, pattern_image, save_png
from typer.testing import CliRunner

from watchkeeper.cli.main import app

runner = CliRunner()


def _wk(home: Path, *args: str) -> tuple[int, str, str]:
    base = ["--home", str(home), "--detector", "mock", "--embedder", "mock", "--threshold", "0.9"]
    result = runner.invoke(app, [*base, *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def photos(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for i, name in enumerate(["ada", "grace", "stranger"]):
        out[name] = save_png(pattern_image(i + 1), tmp_path / f"{name}.png")
    return out


def test_enrol_identify_and_gallery_commands(tmp_path: Path, photos: dict[str, Path]) -> None:
    home = tmp_path / "home"
    code, out, _ = _wk(home, "enrol", "Ada Lovelace", str(photos["ada"]))
    assert code == 0 and "Enrolled 1 photo" in out
    code, out, _ = _wk(home, "identify", str(photos["ada"]))
    assert code == 0 and "candidate: Ada Lovelace" in out and "review" in out
    code, out, _ = _wk(home, "identify", str(photos["stranger"]))
    assert code == 0 and "unknown" in out
    code, out, _ = _wk(home, "--json", "identify", str(photos["ada"]))
    payload = json.loads(out)
    assert payload["gallery"] == "default"
    assert payload["faces"][0]["decision"] == "match"
    assert payload["faces"][0]["candidates"][0]["person"] == "Ada Lovelace"
    code, out, _ = _wk(home, "gallery", "list")
    assert "default: 1 people" in out
    code, out, _ = _wk(home, "gallery", "show", "Ada Lovelace")
    assert code == 0 and "1 template(s)" in out
    code, out, _ = _wk(home, "gallery", "delete", "Ada Lovelace")
    assert code == 0 and "Deleted Ada Lovelace" in out
    code, out, _ = _wk(home, "identify", str(photos["ada"]))
    assert "unknown" in out


def test_verify_exit_code_tells_the_answer(tmp_path: Path, photos: dict[str, Path]) -> None:
    home = tmp_path / "home"
    code, out, _ = _wk(home, "verify", str(photos["ada"]), str(photos["ada"]))
    assert code == 0 and "Likely the same person" in out
    code, out, _ = _wk(home, "verify", str(photos["ada"]), str(photos["grace"]))
    assert code == 1 and "Not shown to be the same person" in out


def test_enrol_folder_with_progress_and_a_broken_file(tmp_path: Path) -> None:
    tree = tmp_path / "people"
    for i, name in enumerate(["Ada_Lovelace", "Grace_Hopper"]):
        (tree / name).mkdir(parents=True)
        save_png(pattern_image(20 + i), tree / name / "a.png")
    (tree / "Grace_Hopper" / "b.jpg").write_bytes(b"")
    code, out, err = _wk(tmp_path / "home", "enrol", "--folder", str(tree))
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
    tmp_path: Path, content: bytes, code: int, message: str
) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(content)
    got, out, err = _wk(tmp_path / "home", "enrol", "Ada", str(bad))
    assert got == code
    assert message in err
    assert "Traceback" not in out + err
    assert len(err.strip().splitlines()) == 1


def test_missing_file_and_missing_gallery(tmp_path: Path, photos: dict[str, Path]) -> None:
    code, _, err = _wk(tmp_path / "home", "detect", str(tmp_path / "nope.jpg"))
    assert code == 3 and "no such file" in err
    code, _, err = _wk(tmp_path / "home", "identify", str(photos["ada"]), "--gallery", "none")
    assert code == 6 and "no gallery named 'none'" in err


def test_detect_json_reports_quality(tmp_path: Path, photos: dict[str, Path]) -> None:
    code, out, _ = _wk(tmp_path / "home", "--json", "detect", str(photos["ada"]))
    assert code == 0
    [face] = json.loads(out)[str(photos["ada"])]["faces"]
    assert len(face["box_xyxy"]) == 4 and face["rejected"] == []
