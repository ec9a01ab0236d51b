"""`watchkeeper bench ...` and `watchkeeper calibrate` (registered on import by main())."""

from __future__ import annotations

import json
import platform
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from watchkeeper.bench.embedding_run import EmbeddingRun
from watchkeeper.bench.lfw import VerificationReport
from watchkeeper.bench.lfw_data import LfwPair
from watchkeeper.cli.main import app, bench_app, state
from watchkeeper.cli.output import emit_json, fail, out_console, progress
from watchkeeper.config.paths import evaluation_data_dir
from watchkeeper.core.errors import WatchkeeperError

DataOpt = Annotated[
    Path | None, typer.Option("--data", help="Evaluation data folder (default $WATCHKEEPER_DATA).")
]
WorkersOpt = Annotated[
    int, typer.Option(help="Worker processes for both systems (0 = one per core).")
]


def _lfw_root(data: Path | None) -> Path:
    root = (data or evaluation_data_dir()) / "lfw"
    if not (root / "pairs.txt").is_file():
        fail(f"LFW not found in {root} (set WATCHKEEPER_DATA or pass --data)", 2)
    return root


def _workers(workers: int) -> int:
    from watchkeeper.bench.embedding_run import default_workers

    return workers or default_workers()


def _machine() -> str:
    import os

    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


@bench_app.command("lfw")
def bench_lfw(
    data: DataOpt = None,
    workers: WorkersOpt = 0,
    pairs_per_fold: Annotated[
        int | None, typer.Option(help="Use only this many pairs of each fold (quick runs).")
    ] = None,
    peer: Annotated[bool, typer.Option(help="Also run the face_recognition peer.")] = True,
    errors: Annotated[
        Path | None, typer.Option(help="Write Watchkeeper's wrongly answered pairs to this TSV.")
    ] = None,
) -> None:
    """LFW View 2, 10-fold protocol: accuracy, TAR at FAR 1e-3 and speed, beside the peer."""
    from watchkeeper.bench.embedding_run import (
        embed_with_peer,
        embed_with_watchkeeper,
        peer_available,
    )
    from watchkeeper.bench.lfw import verification_report
    from watchkeeper.bench.lfw_data import read_pairs

    root = _lfw_root(data)
    pairs = read_pairs(root / "pairs.txt", pairs_per_fold)
    images = sorted({str(p.image_a) for p in pairs} | {str(p.image_b) for p in pairs})
    paths = [Path(p) for p in images]
    n = _workers(workers)
    quiet = state.json
    if not quiet:
        out_console.print(
            f"LFW View 2: {len(pairs)} pairs in 10 folds, {len(images)} images, "
            f"{n} worker process(es) per system on {_machine()}."
        )
    try:
        with progress("Watchkeeper", len(paths), enabled=not quiet) as bar:
            ours = embed_with_watchkeeper(paths, state.settings, n, on_image=bar.advance)
    except WatchkeeperError as exc:
        fail(str(exc), exc.exit_code)
    reports = [verification_report(pairs, ours, higher_is_closer=True)]
    if errors is not None:
        _write_errors(errors, pairs, ours)
    if peer:
        if not peer_available():
            fail("the peer package face_recognition is not installed; run scripts/setup.sh", 2)
        with progress("face_recognition (peer)", len(paths), enabled=not quiet) as bar:
            theirs = embed_with_peer(paths, n, on_image=bar.advance)
        reports.append(verification_report(pairs, theirs, higher_is_closer=False))
    if quiet:
        emit_json([{**asdict(r), "mean_accuracy": r.mean_accuracy} for r in reports])
        return
    _print_verification(reports)


def _write_errors(path: Path, pairs: list[LfwPair], run: EmbeddingRun) -> None:
    from watchkeeper.bench.lfw import pair_scores, wrong_pairs

    scores, valid = pair_scores(pairs, run, higher_is_closer=True)
    lines = [
        "fold\tsame\tscore\tthreshold\timage_a\tfound_a\tfaces_a\toffset_a\timage_b\tfound_b\tfaces_b\toffset_b"
    ]
    for pair, score, threshold in wrong_pairs(pairs, scores, valid):
        a, b = run.subjects[str(pair.image_a)], run.subjects[str(pair.image_b)]
        lines.append(
            f"{pair.fold}\t{pair.same}\t{'' if score is None else f'{score:.4f}'}\t"
            f"{threshold:.4f}\t{pair.image_a}\t{a.found_by}\t{a.faces_embedded}\t"
            f"{a.centre_offset_px:.0f}\t{pair.image_b}\t{b.found_by}\t{b.faces_embedded}\t"
            f"{b.centre_offset_px:.0f}"
        )
    path.write_text("\n".join(lines) + "\n")


def _print_verification(reports: list[VerificationReport]) -> None:
    rows: list[tuple[str, Callable[[VerificationReport], str]]] = [
        (
            "accuracy (mean of 10 folds)",
            lambda r: f"{r.mean_accuracy * 100:.2f}% ± {r.std_accuracy * 100:.2f}",
        ),
        ("TAR at FAR 1e-3", lambda r: f"{r.tar_at_far_1e3 * 100:.2f}%"),
        ("failed pairs (no embedding)", lambda r: f"{r.failed_pairs} of {r.pairs}"),
        ("images with no face found", lambda r: f"{r.no_face_images} of {r.images}"),
        ("found only by the CNN fallback", lambda r: f"{r.cnn_fallback_images}"),
        ("off-centre subject replaced by CNN", lambda r: f"{r.cnn_centre_images}"),
        ("subject failed a quality gate", lambda r: f"{r.quality_rejected_subjects}"),
        ("images per second", lambda r: f"{r.images_per_s:.1f}"),
        ("faces per second", lambda r: f"{r.faces_per_s:.1f}"),
        (
            "latency per image p50 / p95",
            lambda r: f"{r.latency_ms_p50:.0f} / {r.latency_ms_p95:.0f} ms",
        ),
    ]
    header = f"{'':34}" + "".join(f"{r.system:>24}" for r in reports)
    out_console.print(header)
    for label, fmt in rows:
        line = f"{label:34}" + "".join(f"{fmt(r):>24}" for r in reports)
        out_console.print(line)
    if len(reports) == 2:
        ours, theirs = reports
        out_console.print(
            f"\nSpeed ratio (faces/s, Watchkeeper / peer): "
            f"{ours.faces_per_s / max(theirs.faces_per_s, 1e-9):.2f}x; "
            f"accuracy difference: {(ours.mean_accuracy - theirs.mean_accuracy) * 100:+.2f} points."
        )
    out_console.print(
        "Policy: HOG detector first, the CNN detector for images where HOG finds nothing or only "
        "faces far off centre; the face "
        "nearest the image centre is the subject; a pair with no embedding counts as wrong. "
        "The peer has no fallback."
    )


@app.command("calibrate")
def calibrate_cmd(
    data: DataOpt = None,
    workers: WorkersOpt = 0,
    output: Annotated[
        Path | None,
        typer.Option(help="Folder for the calibration file (default: the package's own)."),
    ] = None,
) -> None:
    """Choose decision thresholds by false-match rate on LFW View 1 (never View 2)."""
    from watchkeeper.bench.embedding_run import embed_with_watchkeeper
    from watchkeeper.bench.lfw import calibrate
    from watchkeeper.bench.lfw_data import read_pairs
    from watchkeeper.models.calibration import packaged_path, save_calibration
    from watchkeeper.pipeline.factory import build_analyzer

    root = _lfw_root(data)
    pairs = read_pairs(root / "pairsDevTrain.txt") + read_pairs(root / "pairsDevTest.txt")
    paths = sorted({p.image_a for p in pairs} | {p.image_b for p in pairs})
    contract = build_analyzer(state.settings).contract
    with progress("Embedding View 1 images", len(paths), enabled=not state.json) as bar:
        run = embed_with_watchkeeper(paths, state.settings, _workers(workers), bar.advance)
    calibration = calibrate(
        run.subjects,
        contract.contract_id,
        "LFW View 1 (pairsDevTrain + pairsDevTest images), all cross-person pairs",
    )
    folder = output or packaged_path(contract.contract_id).parent
    path = save_calibration(calibration, folder)
    if state.json:
        emit_json(json.loads(calibration.to_json()))
        return
    out_console.print(
        f"Calibrated {contract.contract_id} on {calibration.genuine_pairs:,} genuine and "
        f"{calibration.impostor_pairs:,} impostor pairs; wrote {path}"
    )
    for fmr, threshold in sorted(calibration.thresholds.items(), key=lambda kv: -float(kv[0])):
        out_console.print(f"  false-match rate {fmr:>6}: similarity >= {threshold:.4f}")


@bench_app.command("identify")
def bench_identify(
    data: DataOpt = None,
    workers: WorkersOpt = 0,
    target_fmr: Annotated[float, typer.Option(help="FMR of the decision threshold.")] = 1e-3,
) -> None:
    """1:N on LFW: one image enrolled per person with 2+ images; the rest and strangers probe."""
    from watchkeeper.bench.embedding_run import embed_with_watchkeeper
    from watchkeeper.bench.lfw import identification_report
    from watchkeeper.bench.lfw_data import people_images
    from watchkeeper.service.engine import Engine

    root = _lfw_root(data)
    people = people_images(root)
    paths = [p for images in people.values() for p in images]
    threshold = Engine(state.settings, threshold=state.threshold).threshold(target_fmr)
    with progress("Embedding LFW", len(paths), enabled=not state.json) as bar:
        run = embed_with_watchkeeper(paths, state.settings, _workers(workers), bar.advance)
    report = identification_report(people, run.subjects, threshold, target_fmr)
    if state.json:
        emit_json(asdict(report))
        return
    out_console.print(
        f"Gallery: {report.enrolled_people} people (one image each). "
        f"Mated probes: {report.mated_probes}; strangers: {report.non_mated_probes}.\n"
        f"Rank-1 identification rate: {report.rank1_rate * 100:.2f}% "
        f"({report.rank1_rate_at_threshold * 100:.2f}% also passing the threshold "
        f"{report.threshold:.4f} at FMR {report.target_fmr:g}).\n"
        f"Strangers answered 'unknown': {report.non_mated_unknown_rate * 100:.2f}%.\n"
        f"Images with no face: {report.no_face_images}. Speed: {run.images_per_s:.1f} images/s."
    )


@app.command("demo")
def demo(data: DataOpt = None) -> None:
    """A short tour on the example photos: enrol two people, then identify and verify."""
    import tempfile
    from datetime import timedelta

    from watchkeeper.core import Decision
    from watchkeeper.gallery.watchlist import WatchlistTerms
    from watchkeeper.service.engine import Engine

    examples = (data or evaluation_data_dir()) / "examples" / "examples"
    if not examples.is_dir():
        fail(f"example photos not found in {examples} (set WATCHKEEPER_DATA or pass --data)", 2)
    with tempfile.TemporaryDirectory(prefix="watchkeeper-demo-") as home:
        settings = state.settings.model_copy(update={"home": Path(home)})
        engine = Engine(settings, threshold=state.threshold)
        # The demo uses a throwaway data directory so it never touches a real gallery.
        out_console.print(f"Demo data directory (deleted afterwards): {home}")
        try:
            # A one-person demo site: every role, four-eyes off (recorded in the audit log).
            me = engine.accounts.initialise("demo", home_use=True).principal
            engine.watchlists.create(
                me,
                "demo",
                WatchlistTerms(
                    "Show how Watchkeeper works on example photos",
                    "Public example photos shipped for testing",
                    engine.site.now() + timedelta(days=1),
                ),
            )
            for person, photo in [("Barack Obama", "obama.jpg"), ("Joe Biden", "biden.jpg")]:
                engine.enrol(me, person, examples / photo, "demo", "consent", "example photos")
                out_console.print(f"Enrolled {person} from {photo}.")
            threshold = engine.threshold()
            out_console.print(
                f"Decision threshold: similarity >= {threshold:.3f} "
                f"(false-match rate {settings.recognition.target_fmr:g}, calibrated on LFW View 1)."
            )
            for photo in ["obama2.jpg", "two_people.jpg", "obama-480p.jpg"]:
                result = engine.identify(me, examples / photo, "demo", "demo search")
                answers = []
                for m in result.matches:
                    if m.decision is Decision.MATCH:
                        c = m.candidates[0]
                        answers.append(f"candidate {c.display_name} ({c.similarity:.3f})")
                    elif m.decision is Decision.UNKNOWN:
                        answers.append("unknown")
                    else:
                        answers.append("not searched: " + ", ".join(m.reasons))
                out_console.print(
                    f"Identify {photo}: {len(result.faces)} face(s): "
                    + ("; ".join(answers) or "none")
                )
            v = engine.verify(me, examples / "obama.jpg", examples / "obama2.jpg", "demo")
            out_console.print(
                f"Verify obama.jpg vs obama2.jpg: {v.decision.value} "
                f"(similarity {v.similarity:.3f})."
            )
            v = engine.verify(me, examples / "obama.jpg", examples / "biden.jpg", "demo")
            out_console.print(
                f"Verify obama.jpg vs biden.jpg: {v.decision.value} "
                f"(similarity {v.similarity:.3f})."
            )
            out_console.print(
                "Every match above is a candidate in the review queue for a person to confirm, "
                "not a verdict. Every step is in the audit log: "
                + engine.oversight.verify(me).summary()
            )
        except WatchkeeperError as exc:
            fail(str(exc), exc.exit_code)
        finally:
            engine.close()


@bench_app.command("augment")
def bench_augment(
    data: DataOpt = None,
    workers: WorkersOpt = 0,
    pairs_per_fold: Annotated[
        int | None, typer.Option(help="Use only this many pairs of each fold (quick runs).")
    ] = None,
) -> None:
    """LFW View 2 accuracy of each test-time augmentation recipe (same faces, same protocol)."""
    from watchkeeper.bench.augment import RECIPES, evaluate_recipes
    from watchkeeper.bench.lfw_data import read_pairs

    root = _lfw_root(data)
    pairs = read_pairs(root / "pairs.txt", pairs_per_fold)
    paths = sorted({p.image_a for p in pairs} | {p.image_b for p in pairs})
    with progress("Cutting and embedding chip variants", len(paths), enabled=not state.json) as bar:
        scores, wall = evaluate_recipes(
            pairs, paths, state.settings, _workers(workers), bar.advance
        )
    if state.json:
        emit_json([{**asdict(s), "mean_accuracy": s.mean_accuracy} for s in scores])
        return
    out_console.print(f"{len(pairs)} pairs, {len(paths)} images, all variants in {wall:.0f} s")
    base = scores[0].mean_accuracy
    for s in scores:
        out_console.print(
            f"  {s.recipe:15} {s.embeddings_per_face} embedding(s)/face  "
            f"accuracy {s.mean_accuracy * 100:.2f}% ± {np.std(s.fold_accuracy) * 100:.2f} "
            f"({(s.mean_accuracy - base) * 100:+.2f} vs none): {', '.join(RECIPES[s.recipe])}"
        )


@bench_app.command("embed")
def bench_embed(
    data: DataOpt = None,
    faces: Annotated[int, typer.Option(help="How many LFW faces to embed.")] = 64,
    repeats: Annotated[int, typer.Option(help="Timed repetitions (best is reported).")] = 3,
) -> None:
    """Embedding alone: ONNX Runtime against dlib's own embedder on the same chips."""
    from watchkeeper.bench.embed_speed import compare_embedders

    root = _lfw_root(data)
    try:
        report = compare_embedders(root, faces, repeats, state.settings.home / "cache" / "onnx")
    except WatchkeeperError as exc:
        fail(str(exc), exc.exit_code)
    if state.json:
        emit_json(asdict(report))
        return
    out_console.print(f"{report.chips} chips (150x150) from LFW, best of {repeats} runs:")
    for name, ms in report.ms_per_chip.items():
        out_console.print(
            f"  {name:34} {ms:7.2f} ms/chip  {1000 / ms:8.1f} faces/s  "
            f"{report.ms_per_chip['dlib (peer)'] / ms:6.1f}x dlib"
        )
    out_console.print(f"Largest per-component difference to dlib: {report.max_abs_diff:.2e}")
