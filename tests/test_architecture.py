"""The layering of ../shared/DESIGN.md, checked on every test run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_imports_only_point_down_the_layers() -> None:
    exe = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(exe), "--config", str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_importing_the_package_loads_no_model_library() -> None:
    code = (
        "import sys, watchkeeper; "
        "names = ('dlib', 'onnxruntime', 'cv2', 'face_recognition'); "
        "heavy = [m for m in names if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_types_check_strictly() -> None:
    exe = Path(sys.executable).with_name("mypy")
    result = subprocess.run(
        [str(exe), "--config-file", str(ROOT / "pyproject.toml"), str(ROOT / "src/watchkeeper")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-4000:]


def test_ruff_is_clean() -> None:
    exe = Path(sys.executable).with_name("ruff")
    result = subprocess.run(
        [str(exe), "check", "--output-format", "concise", "src", "tests"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-4000:]
