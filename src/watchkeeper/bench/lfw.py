"""LFW View 2 verification (10-fold protocol), calibration on View 1, and 1:N identification.

Scores: Watchkeeper compares unit embeddings by cosine similarity (higher is closer); the peer,
like its documentation, by Euclidean distance (lower is closer), which we negate to rank.
A pair where either image yielded no embedding counts as a wrong answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from watchkeeper.bench.embedding_run import EmbeddingRun, SubjectEmbedding
from watchkeeper.bench.lfw_data import LfwPair
from watchkeeper.core.calibration import best_accuracy_threshold, threshold_at_fmr
from watchkeeper.models.calibration import Calibration


@dataclass(frozen=True, slots=True)
class VerificationReport:
    system: str
    fold_accuracy: tuple[float, ...]
    tar_at_far_1e3: float
    failed_pairs: int
    pairs: int
    images: int
    no_face_images: int
    cnn_fallback_images: int
    cnn_centre_images: int
    quality_rejected_subjects: int
    images_per_s: float
    faces_per_s: float
    latency_ms_p50: float
    latency_ms_p95: float
    workers: int
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def mean_accuracy(self) -> float:
        return float(np.mean(self.fold_accuracy))

    @property
    def std_accuracy(self) -> float:
        return float(np.std(self.fold_accuracy))


def pair_scores(
    pairs: list[LfwPair], run: EmbeddingRun, higher_is_closer: bool
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """Score per pair (higher = more alike) and which pairs could be scored at all."""
    scores = np.zeros(len(pairs))
    valid = np.zeros(len(pairs), dtype=bool)
    for i, p in enumerate(pairs):
        a = run.subjects[str(p.image_a)].embedding
        b = run.subjects[str(p.image_b)].embedding
        if a is None or b is None:
            continue
        valid[i] = True
        if higher_is_closer:
            scores[i] = float(np.dot(a, b))
        else:
            scores[i] = -float(np.linalg.norm(a - b))
    return scores, valid


def fold_thresholds(
    pairs: list[LfwPair], scores: npt.NDArray[np.float64], valid: npt.NDArray[np.bool_]
) -> dict[int, float]:
    """Per fold, the best-accuracy threshold chosen on the other folds' scorable pairs."""
    folds = np.array([p.fold for p in pairs])
    same = np.array([p.same for p in pairs])
    out = {}
    for fold in sorted(set(folds.tolist())):
        train = (folds != fold) & valid
        if not train.any():  # a single-fold run: tune on the fold itself (stated by the caller)
            train = (folds == fold) & valid
        out[fold] = best_accuracy_threshold(scores[train], same[train])
    return out


def wrong_pairs(
    pairs: list[LfwPair], scores: npt.NDArray[np.float64], valid: npt.NDArray[np.bool_]
) -> list[tuple[LfwPair, float | None, float]]:
    """Every pair the protocol gets wrong: (pair, score or None if unscorable, threshold)."""
    thresholds = fold_thresholds(pairs, scores, valid)
    out: list[tuple[LfwPair, float | None, float]] = []
    for i, p in enumerate(pairs):
        t = thresholds[p.fold]
        if not valid[i]:
            out.append((p, None, t))
        elif (scores[i] >= t) != p.same:
            out.append((p, float(scores[i]), t))
    return out


def ten_fold_accuracy(
    pairs: list[LfwPair], scores: npt.NDArray[np.float64], valid: npt.NDArray[np.bool_]
) -> tuple[float, ...]:
    """Threshold from the other folds, accuracy on each fold; failed pairs count as wrong."""
    folds = np.array([p.fold for p in pairs])
    same = np.array([p.same for p in pairs])
    out = []
    for fold, threshold in fold_thresholds(pairs, scores, valid).items():
        test = folds == fold
        predicted = scores >= threshold
        correct = (predicted == same) & valid & test
        out.append(float(correct.sum() / test.sum()))
    return tuple(out)


def tar_at_far(
    pairs: list[LfwPair],
    scores: npt.NDArray[np.float64],
    valid: npt.NDArray[np.bool_],
    far: float,
) -> float:
    same = np.array([p.same for p in pairs])
    impostor = scores[~same & valid]
    if len(impostor) == 0 or far * len(impostor) < 1:
        return float("nan")
    threshold = threshold_at_fmr(impostor, far)
    return float(np.sum((scores >= threshold) & same & valid) / same.sum())


def verification_report(
    pairs: list[LfwPair], run: EmbeddingRun, higher_is_closer: bool
) -> VerificationReport:
    scores, valid = pair_scores(pairs, run, higher_is_closer)
    subjects = list(run.subjects.values())
    return VerificationReport(
        system=run.name,
        fold_accuracy=ten_fold_accuracy(pairs, scores, valid),
        tar_at_far_1e3=tar_at_far(pairs, scores, valid, 1e-3),
        failed_pairs=int((~valid).sum()),
        pairs=len(pairs),
        images=len(subjects),
        no_face_images=run.count("none"),
        cnn_fallback_images=run.count("cnn_fallback"),
        cnn_centre_images=run.count("cnn_centre"),
        quality_rejected_subjects=sum(1 for s in subjects if s.rejected),
        images_per_s=run.images_per_s,
        faces_per_s=run.faces_per_s,
        latency_ms_p50=run.latency_ms(50),
        latency_ms_p95=run.latency_ms(95),
        workers=run.workers,
    )


# -- calibration on View 1 ---------------------------------------------------------------------

CALIBRATED_FMRS = (1e-2, 1e-3, 1e-4, 1e-5)


def person_of(path: str) -> str:
    return Path(path).parent.name


def calibrate(
    subjects: dict[str, SubjectEmbedding], contract_id: str, made_from: str
) -> Calibration:
    """Thresholds at several FMRs from every impostor pair among the View 1 images.

    View 1's 1,100 listed different-person pairs cannot resolve an FMR of 1e-4; every
    cross-person pair among its ~5,000 images (about 12 million) can.
    """
    usable = [
        (person_of(p), s.embedding) for p, s in sorted(subjects.items()) if s.embedding is not None
    ]
    names = np.array([n for n, _ in usable])
    vectors = np.stack([v for _, v in usable]).astype(np.float32)
    sims = vectors @ vectors.T
    upper = np.triu(np.ones(sims.shape, dtype=bool), k=1)
    same = names[:, None] == names[None, :]
    impostor = sims[upper & ~same]
    genuine = sims[upper & same]
    thresholds = {
        f"{fmr:g}": threshold_at_fmr(impostor, fmr)
        for fmr in CALIBRATED_FMRS
        if fmr * len(impostor) >= 10  # at least ten impostors above the line, or it's noise
    }
    return Calibration(contract_id, made_from, len(genuine), len(impostor), thresholds)


# -- 1:N identification ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IdentificationReport:
    enrolled_people: int
    mated_probes: int
    non_mated_probes: int
    threshold: float
    target_fmr: float
    rank1_rate: float
    rank1_rate_at_threshold: float
    non_mated_unknown_rate: float
    no_face_images: int


def identification_report(
    people: dict[str, list[Path]],
    subjects: dict[str, SubjectEmbedding],
    threshold: float,
    target_fmr: float,
    on_step: Callable[[], None] | None = None,
) -> IdentificationReport:
    """Enrol each 2+-image person's first usable image; probe with the rest and with strangers."""
    gallery_names: list[str] = []
    gallery_vecs: list[npt.NDArray[np.float32]] = []
    mated: list[tuple[str, npt.NDArray[np.float32]]] = []
    strangers: list[npt.NDArray[np.float32]] = []
    for name, images in people.items():
        vecs = [subjects[str(p)].embedding for p in images]
        usable = [v for v in vecs if v is not None]
        if len(images) >= 2 and usable:
            gallery_names.append(name)
            gallery_vecs.append(usable[0])
            mated.extend((name, v) for v in usable[1:])
        elif len(images) == 1 and usable:
            strangers.append(usable[0])
    g = np.stack(gallery_vecs)
    names = np.array(gallery_names)
    mated_ok = mated_pass = 0
    for start in range(0, len(mated), 512):
        block = mated[start : start + 512]
        sims = np.stack([v for _, v in block]) @ g.T
        best = sims.argmax(axis=1)
        for (name, _), j, row in zip(block, best, sims, strict=True):
            hit = names[j] == name
            mated_ok += int(hit)
            mated_pass += int(hit and row[j] >= threshold)
        if on_step:
            on_step()
    unknown = 0
    for start in range(0, len(strangers), 512):
        sims = np.stack(strangers[start : start + 512]) @ g.T
        unknown += int((sims.max(axis=1) < threshold).sum())
    return IdentificationReport(
        enrolled_people=len(gallery_names),
        mated_probes=len(mated),
        non_mated_probes=len(strangers),
        threshold=threshold,
        target_fmr=target_fmr,
        rank1_rate=mated_ok / max(len(mated), 1),
        rank1_rate_at_threshold=mated_pass / max(len(mated), 1),
        non_mated_unknown_rate=unknown / max(len(strangers), 1),
        no_face_images=sum(1 for s in subjects.values() if s.embedding is None),
    )
