"""Embedding speed of the ONNX Runtime backend against dlib's own, on identical chips."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from watchkeeper.core.errors import InvalidInputError
from watchkeeper.models.base import ChipBatch, FaceEmbedder
from watchkeeper.models.dlib_detectors import DlibFivePointAligner, DlibHogDetector
from watchkeeper.sources.images import load_image


@dataclass(frozen=True, slots=True)
class EmbedSpeedReport:
    chips: int
    ms_per_chip: dict[str, float]
    max_abs_diff: float


def lfw_chips(root: Path, count: int) -> ChipBatch:
    """Chips of the first ``count`` LFW images (alphabetical) with exactly one face found."""
    detector, aligner = DlibHogDetector(upsample=1), DlibFivePointAligner()
    chips = []
    for path in sorted((root / "images").glob("*/*.jpg")):
        image = load_image(path).image
        faces = detector.detect(image)
        if len(faces) != 1:
            continue
        chips.append(aligner.chips(image, aligner.landmarks(image, faces))[0])
        if len(chips) == count:
            break
    if not chips:
        raise InvalidInputError(f"no usable LFW faces under {root}")
    return np.stack(chips)


def _time(embedder: FaceEmbedder, chips: ChipBatch, batch: int, repeats: int) -> float:
    embedder.embed(chips[:1])  # warm-up: load weights, build or load the graph
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for start in range(0, len(chips), batch):
            embedder.embed(chips[start : start + batch])
        best = min(best, time.perf_counter() - t0)
    return best * 1e3 / len(chips)


def compare_embedders(
    lfw_root: Path, count: int, repeats: int, cache_dir: Path
) -> EmbedSpeedReport:
    from watchkeeper.models.dlib_onnx import OnnxResnetEmbedder
    from watchkeeper.models.dlib_resnet import DlibResnetEmbedder

    chips = lfw_chips(lfw_root, count)
    dlib_embedder = DlibResnetEmbedder()
    results = {"dlib (peer)": _time(dlib_embedder, chips, len(chips), 1)}
    reference = dlib_embedder.embed(chips)
    max_diff = 0.0
    for threads in (1, 2):
        onnx = OnnxResnetEmbedder(cache_dir, intra_op_num_threads=threads)
        for batch in (1, 32):
            results[f"onnx, {threads} thread(s), batch {batch}"] = _time(
                onnx, chips, batch, repeats
            )
        max_diff = max(max_diff, float(np.abs(onnx.embed(chips) - reference).max()))
        onnx.close()
    return EmbedSpeedReport(len(chips), results, max_diff)
