"""Locating model weight files shipped by registry packages, and digesting them once."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from importlib import resources
from pathlib import Path

from watchkeeper.core.errors import ModelFileError


def face_models_file(name: str) -> Path:
    """Path of a weight file inside the ``face-recognition-models`` package."""
    try:
        root = resources.files("face_recognition_models") / "models" / name
    except ModuleNotFoundError as exc:
        raise ModelFileError(
            "the package face-recognition-models is not installed; run scripts/setup.sh"
        ) from exc
    path = Path(str(root))
    if not path.is_file():
        raise ModelFileError(f"model file {name} is missing from face-recognition-models")
    return path


@lru_cache(maxsize=16)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, cached per (path, size, mtime) because weight files are large."""
    stat = path.stat()
    return _digest(str(path), stat.st_size, stat.st_mtime_ns)
