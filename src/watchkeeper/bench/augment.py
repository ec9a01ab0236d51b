"""Which test-time augmentation pays on LFW? Measured, not assumed.

For each View 2 image the subject face is found once; then chips are cut in several deterministic
variants (mirrored, slightly larger or smaller padding, shifted) and embedded. Each candidate
recipe averages a subset of those embeddings into one template, and is scored with the same
10-fold protocol as ``bench lfw``.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from watchkeeper.bench.embedding_run import central_row
from watchkeeper.bench.lfw import ten_fold_accuracy
from watchkeeper.bench.lfw_data import LfwPair
from watchkeeper.config.settings import Settings

# name -> (padding, shift in chip pixels x, y, mirrored)
VARIANTS: dict[str, tuple[float, int, int, bool]] = {
    "base": (0.25, 0, 0, False),
    "mirror": (0.25, 0, 0, True),
    "pad0.20": (0.20, 0, 0, False),
    "pad0.20-mirror": (0.20, 0, 0, True),
    "pad0.30": (0.30, 0, 0, False),
    "pad0.30-mirror": (0.30, 0, 0, True),
    "shift+4": (0.25, 4, 4, False),
    "shift-4": (0.25, -4, -4, False),
    "shift+4-mirror": (0.25, 4, 4, True),
    "shift-4-mirror": (0.25, -4, -4, True),
    "shift+4-4": (0.25, 4, -4, False),
    "shift-4+4": (0.25, -4, 4, False),
    "shift+4-4-mirror": (0.25, 4, -4, True),
    "shift-4+4-mirror": (0.25, -4, 4, True),
    "shift+2": (0.25, 2, 2, False),
    "shift-2": (0.25, -2, -2, False),
}

_DIAGONALS = ("shift+4", "shift-4", "shift+4-4", "shift-4+4")
RECIPES: dict[str, tuple[str, ...]] = {
    "none": ("base",),
    "mirror": ("base", "mirror"),
    "mirror+scales": ("base", "mirror", "pad0.20", "pad0.20-mirror", "pad0.30", "pad0.30-mirror"),
    "mirror+shifts": ("base", "mirror", "shift+4", "shift-4"),
    "mirror+shifts2": ("base", "mirror", "shift+2", "shift-2"),
    "mirror+shifts-mirrored": (
        "base", "mirror", "shift+4", "shift-4", "shift+4-mirror", "shift-4-mirror"
    ),
    "mirror+diagonals": ("base", "mirror", *_DIAGONALS),
    "mirror+diagonals-mirrored": (
        "base", "mirror", *_DIAGONALS, *(f"{d}-mirror" for d in _DIAGONALS)
    ),
    "all": tuple(VARIANTS),
}  # fmt: skip

_state: dict[str, Any] = {}


def _init(settings: Settings) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from watchkeeper.models.dlib_detectors import DlibCnnDetector, DlibHogDetector
    from watchkeeper.models.registry import make_aligner, make_embedder

    _state["hog"] = DlibHogDetector(upsample=settings.detection.upsample)
    _state["cnn"] = DlibCnnDetector(upsample=1)
    _state["embedder"] = make_embedder(settings)
    # The configured landmarks (68 points by default), so the recipes compare on today's chips.
    _state["aligner"] = make_aligner(settings.detection.kind, settings.recognition.aligner)


def _cut(image: npt.NDArray[np.uint8], shape: Any, padding: float, dx: int, dy: int) -> Any:
    import dlib

    if dx == 0 and dy == 0:
        return dlib.get_face_chip(image, shape, size=150, padding=padding)
    # Cut a larger chip at the same face scale, then crop 150 px off-centre.
    margin = 8
    big_size = 150 + 2 * margin
    big_padding = (big_size * (1 + 2 * padding) / 150 - 1) / 2
    big = dlib.get_face_chip(image, shape, size=big_size, padding=big_padding)
    y0, x0 = margin + dy, margin + dx
    return big[y0 : y0 + 150, x0 : x0 + 150]


def _variants(path: str) -> tuple[str, npt.NDArray[np.float32] | None]:
    import dlib

    from watchkeeper.sources.images import load_image

    image = load_image(path).image
    faces = _state["hog"].detect(image)
    if len(faces) == 0:
        faces = _state["cnn"].detect(image)
    if len(faces) == 0:
        return path, None
    faces = faces[central_row(faces.xyxy, (image.shape[1], image.shape[0]))]
    faces = _state["aligner"].landmarks(image, faces)
    box, pts = faces.xyxy[0], faces.landmarks[0]
    x0, y0, x1, y1 = (int(v) for v in np.rint(box))
    shape = dlib.full_object_detection(
        dlib.rectangle(x0, y0, x1 - 1, y1 - 1),
        [dlib.point(int(x), int(y)) for x, y in np.rint(pts)],
    )
    chips = []
    for padding, dx, dy, mirrored in VARIANTS.values():
        chip = _cut(image, shape, padding, dx, dy)
        chips.append(chip[:, ::-1] if mirrored else chip)
    return path, _state["embedder"].embed(np.ascontiguousarray(np.stack(chips)))


@dataclass(frozen=True, slots=True)
class RecipeScore:
    recipe: str
    embeddings_per_face: int
    fold_accuracy: tuple[float, ...]

    @property
    def mean_accuracy(self) -> float:
        return float(np.mean(self.fold_accuracy))


def evaluate_recipes(
    pairs: list[LfwPair],
    images: Sequence[Path],
    settings: Settings,
    workers: int,
    on_image: Callable[[], None] | None = None,
) -> tuple[list[RecipeScore], float]:
    """Accuracy of each recipe, and the wall time of computing every variant."""
    t0 = time.perf_counter()
    variants: dict[str, npt.NDArray[np.float32] | None] = {}
    with ProcessPoolExecutor(workers, initializer=_init, initargs=(settings,)) as pool:
        for path, emb in pool.map(_variants, [str(p) for p in images], chunksize=4):
            variants[path] = emb
            if on_image:
                on_image()
    wall = time.perf_counter() - t0
    names = list(VARIANTS)
    scores_out = []
    for recipe, members in RECIPES.items():
        cols = [names.index(m) for m in members]
        sims = np.zeros(len(pairs))
        valid = np.zeros(len(pairs), dtype=bool)
        for i, p in enumerate(pairs):
            a, b = variants[str(p.image_a)], variants[str(p.image_b)]
            if a is None or b is None:
                continue
            ta, tb = a[cols].mean(axis=0), b[cols].mean(axis=0)
            sims[i] = float(ta @ tb / (np.linalg.norm(ta) * np.linalg.norm(tb)))
            valid[i] = True
        scores_out.append(RecipeScore(recipe, len(cols), ten_fold_accuracy(pairs, sims, valid)))
    return scores_out, wall
