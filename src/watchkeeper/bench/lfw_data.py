"""Reading LFW's pair lists and image tree (the data stays in WATCHKEEPER_DATA, never copied)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from watchkeeper.core.errors import InvalidInputError


@dataclass(frozen=True, slots=True)
class LfwPair:
    fold: int
    image_a: Path
    image_b: Path
    same: bool


def lfw_image(root: Path, name: str, number: int) -> Path:
    return root / "images" / name / f"{name}_{number:04d}.jpg"


def read_pairs(path: Path, per_fold: int | None = None) -> list[LfwPair]:
    """Pairs from an LFW pairs file: View 2 has a "folds pairs-per-half" header line.

    ``per_fold`` keeps only the first ``per_fold // 2`` same and different pairs of each fold
    (for quick runs; the full protocol uses all).
    """
    if not path.is_file():
        raise InvalidInputError(f"LFW pairs file not found: {path}")
    root = path.parent
    lines = [line.split("\t") for line in path.read_text().splitlines() if line.strip()]
    header = [int(v) for v in lines[0]]
    folds, half = (header[0], header[1]) if len(header) == 2 else (1, header[0])
    body = lines[1:]
    if len(body) != folds * half * 2:
        raise InvalidInputError(f"{path}: expected {folds * half * 2} pairs, found {len(body)}")
    keep = half if per_fold is None else max(1, min(half, per_fold // 2))
    pairs: list[LfwPair] = []
    for i, parts in enumerate(body):
        fold, pos = divmod(i, half * 2)
        same = pos < half
        if (pos if same else pos - half) >= keep:
            continue
        if same and len(parts) == 3:
            a = lfw_image(root, parts[0], int(parts[1]))
            b = lfw_image(root, parts[0], int(parts[2]))
        elif not same and len(parts) == 4:
            a = lfw_image(root, parts[0], int(parts[1]))
            b = lfw_image(root, parts[2], int(parts[3]))
        else:
            raise InvalidInputError(f"{path}: line {i + 2} is not a valid LFW pair")
        pairs.append(LfwPair(fold, a, b, same))
    return pairs


def people_images(root: Path) -> dict[str, list[Path]]:
    """Every LFW person and their images, sorted."""
    images = root / "images"
    if not images.is_dir():
        raise InvalidInputError(f"LFW images not found in {images}")
    return {d.name: sorted(d.glob("*.jpg")) for d in sorted(images.iterdir()) if d.is_dir()}
