"""The ``watchkeeper`` command: thin, every verb calls the service layer."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from watchkeeper.cli.output import emit_json, err_console, fail, out_console, progress
from watchkeeper.config.settings import (
    DetectionSettings,
    DetectorKind,
    EmbedderKind,
    RecognitionSettings,
    Settings,
)
from watchkeeper.core import Decision, Faces
from watchkeeper.core.errors import WatchkeeperError

app = typer.Typer(
    name="watchkeeper",
    help="Accountable face recognition: detect, enrol, verify and identify faces.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
gallery_app = typer.Typer(help="Look after galleries: list, show and delete people.")
bench_app = typer.Typer(
    help="Benchmarks on real data, each beside a peer measured in the same run."
)
app.add_typer(gallery_app, name="gallery")
app.add_typer(bench_app, name="bench")


class _State:
    json = False
    settings = Settings()
    threshold: float | None = None


state = _State()

HomeOpt = Annotated[
    Path | None,
    typer.Option("--home", help="Data directory (default $WATCHKEEPER_HOME or ~/.watchkeeper)."),
]


@app.callback()
def _global(
    home: HomeOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
    detector: Annotated[
        DetectorKind, typer.Option(help="Face detector: dlib_hog (fast) or dlib_cnn (accurate).")
    ] = DetectorKind.HOG,
    upsample: Annotated[int, typer.Option(help="Upsampling for small faces (0-3).")] = 1,
    embedder: Annotated[
        EmbedderKind, typer.Option(help="Face embedder backend.")
    ] = EmbedderKind.ONNX,
    threshold: Annotated[
        float | None, typer.Option(help="Similarity threshold instead of the calibrated one.")
    ] = None,
    target_fmr: Annotated[
        float, typer.Option(help="Target false-match rate for the calibrated threshold.")
    ] = 1e-3,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details.")] = False,
) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, stream=sys.stderr)
    base = Settings() if home is None else Settings(home=home)
    state.settings = base.model_copy(
        update={
            "detection": DetectionSettings(kind=detector, upsample=upsample),
            "recognition": RecognitionSettings(embedder=embedder, target_fmr=target_fmr),
        }
    )
    state.json = json_out
    state.threshold = threshold


def _engine() -> Any:
    from watchkeeper.service.engine import Engine

    return Engine(state.settings, threshold=state.threshold)


def _faces_json(faces: Faces) -> list[dict[str, Any]]:
    return [
        {
            "box_xyxy": [round(float(v), 1) for v in faces.xyxy[i]],
            "detector_score": round(float(faces.detector_score[i]), 4),
            "sharpness": None if faces.quality is None else round(float(faces.quality[i]), 1),
            "rejected": [r.value for r in faces.rejected[i]],
        }
        for i in range(len(faces))
    ]


def _run(fn: Any) -> Any:
    try:
        return fn()
    except WatchkeeperError as exc:
        fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        fail("interrupted", 130)


@app.command()
def detect(images: Annotated[list[Path], typer.Argument(help="Image files.")]) -> None:
    """Find faces in images and say whether each passes the quality gates."""
    engine = _engine()
    report: dict[str, Any] = {}
    status = 0
    for image in images:
        try:
            faces = engine.detect(image)
        except WatchkeeperError as exc:
            err_console.print(f"[bold red]error:[/] {exc}")
            report[str(image)] = {"error": str(exc)}
            status = exc.exit_code
            continue
        report[str(image)] = {"faces": _faces_json(faces)}
        if not state.json:
            out_console.print(f"{image}: {len(faces)} face(s)")
            for i, face in enumerate(_faces_json(faces)):
                verdict = (
                    "usable" if not face["rejected"] else "rejected: " + ", ".join(face["rejected"])
                )
                out_console.print(f"  face {i} at {face['box_xyxy']}  {verdict}")
    if state.json:
        emit_json(report)
    raise typer.Exit(status)


@app.command()
def enrol(
    person: Annotated[
        str | None, typer.Argument(help="The person's name (omit with --folder).")
    ] = None,
    images: Annotated[list[Path] | None, typer.Argument(help="Photos of the person.")] = None,
    folder: Annotated[
        Path | None, typer.Option(help="A tree with one sub-folder of photos per person.")
    ] = None,
    gallery: Annotated[str, typer.Option(help="Gallery to enrol into.")] = "default",
    face: Annotated[int | None, typer.Option(help="Which face to take from a group photo.")] = None,
) -> None:
    """Enrol photos of a person, or a whole folder tree, into a gallery."""
    engine = _engine()
    if folder is not None:
        items = _run(lambda: engine.folder_items(folder))
    elif person and images:
        items = [(person, p) for p in images]
    else:
        fail("give a person's name and photos, or --folder", 2)
    results = []
    if face is not None or len(items) == 1:
        for who, path in items:
            results.append(_run(lambda who=who, path=path: engine.enrol(who, path, gallery, face)))
    else:
        with progress("Enrolling", len(items), enabled=not state.json) as bar:
            results = _run(
                lambda: engine.enrol_many(items, gallery, on_result=lambda _r: bar.advance())
            )
    stored = sum(1 for r in results if r.ok and not r.duplicate)
    dupes = sum(1 for r in results if r.duplicate)
    failed = [r for r in results if not r.ok]
    if state.json:
        emit_json([_result_dict(r) for r in results])
    else:
        for r in failed:
            err_console.print(f"[yellow]skipped[/] {r.error}")
        out_console.print(
            f"Enrolled {stored} photo(s) into gallery '{gallery}'"
            + (f", {dupes} already there" if dupes else "")
            + (f", {len(failed)} skipped" if failed else "")
            + "."
        )
    engine.close()
    raise typer.Exit(0 if not failed else 4)


def _result_dict(r: Any) -> dict[str, Any]:
    return {name: getattr(r, name) for name in r.__slots__}


@app.command()
def verify(
    image_a: Annotated[Path, typer.Argument(help="First photo (one face).")],
    image_b: Annotated[Path, typer.Argument(help="Second photo (one face).")],
) -> None:
    """1:1 - are these two photos the same person?"""
    engine = _engine()
    result = _run(lambda: engine.verify(image_a, image_b))
    if state.json:
        emit_json(_result_dict(result))
    else:
        same = result.decision is Decision.MATCH
        out_console.print(
            ("Likely the same person" if same else "Not shown to be the same person")
            + f" (similarity {result.similarity:.3f}, threshold {result.threshold:.3f} at "
            f"false-match rate {result.target_fmr:g}). A person should confirm before acting."
        )
    raise typer.Exit(0 if result.decision is Decision.MATCH else 1)


@app.command()
def identify(
    image: Annotated[Path, typer.Argument(help="Photo to search.")],
    gallery: Annotated[str, typer.Option(help="Gallery to search (always named).")] = "default",
    top: Annotated[int, typer.Option(help="Candidates to show per face.")] = 3,
) -> None:
    """1:N - search every face of a photo in one gallery; 'unknown' when nobody passes."""
    engine = _engine()
    result = _run(lambda: engine.identify(image, gallery=gallery, top_k=top))
    engine.close()
    if state.json:
        emit_json(
            {
                "image": str(image),
                "gallery": gallery,
                "faces": [
                    {
                        **face,
                        "decision": m.decision.value,
                        "threshold": round(m.threshold, 4),
                        "candidates": [
                            {
                                "person": c.display_name,
                                "identity_id": c.identity_id,
                                "similarity": round(c.similarity, 4),
                            }
                            for c in m.candidates
                        ],
                    }
                    for face, m in zip(_faces_json(result.faces), result.matches, strict=True)
                ],
            }
        )
        raise typer.Exit(0)
    if not result.matches:
        out_console.print(f"{image}: no face found.")
        raise typer.Exit(4)
    for i, (face, m) in enumerate(zip(_faces_json(result.faces), result.matches, strict=True)):
        if m.decision is Decision.REJECTED:
            line = "not searched (" + ", ".join(m.reasons) + ")"
        elif m.decision is Decision.MATCH:
            c = m.candidates[0]
            line = (
                f"candidate: {c.display_name} (similarity {c.similarity:.3f} >= "
                f"{m.threshold:.3f}); needs a person's review"
            )
        else:
            best = f", best {m.candidates[0].similarity:.3f}" if m.candidates else ""
            line = f"unknown (nobody passes {m.threshold:.3f}{best})"
        out_console.print(f"face {i} at {face['box_xyxy']}: {line}")
    raise typer.Exit(0)


@gallery_app.command("list")
def gallery_list() -> None:
    """List galleries and how many people each holds."""
    engine = _engine()
    rows = [
        {
            "gallery": g.name,
            "people": len(engine.store.list_identities(g.gallery_id, limit=10**9)),
            "model": g.contract_id,
            "created_at": g.created_at.isoformat(),
        }
        for g in engine.galleries()
    ]
    if state.json:
        emit_json(rows)
    elif not rows:
        out_console.print("No galleries yet. Enrol someone with `watchkeeper enrol NAME PHOTO`.")
    else:
        for r in rows:
            out_console.print(f"{r['gallery']}: {r['people']} people (model {r['model']})")


@gallery_app.command("show")
def gallery_show(
    person: Annotated[str | None, typer.Argument(help="A person's name or id.")] = None,
    gallery: Annotated[str, typer.Option(help="Gallery.")] = "default",
) -> None:
    """Show the people of a gallery, or one person's templates."""
    engine = _engine()
    if person is None:
        people = _run(lambda: engine.people(gallery))
        if state.json:
            emit_json([_result_dict(p) for p in people])
        else:
            out_console.print(f"Gallery '{gallery}': {len(people)} people")
            for p in people:
                out_console.print(
                    f"  {p.display_name}  ({p.template_count} photo(s), id {p.identity_id})"
                )
        return
    ident = _run(lambda: engine.person(person, gallery))
    templates = engine.templates_of(ident.identity_id)
    if state.json:
        emit_json(
            {
                "person": _result_dict(ident),
                "templates": [
                    {
                        "template_id": t.template_id,
                        "source": t.source,
                        "created_at": t.created_at.isoformat(),
                    }
                    for t in templates
                ],
            }
        )
    else:
        out_console.print(
            f"{ident.display_name} (id {ident.identity_id}), {len(templates)} template(s):"
        )
        for t in templates:
            out_console.print(
                f"  {t.template_id}  from {t.source}  at {t.created_at:%Y-%m-%d %H:%M}"
            )


@gallery_app.command("delete")
def gallery_delete(
    person: Annotated[str | None, typer.Argument(help="A person's name or id.")] = None,
    template: Annotated[str | None, typer.Option(help="Delete only this template id.")] = None,
    gallery: Annotated[str, typer.Option(help="Gallery.")] = "default",
) -> None:
    """Delete a person (all their templates) or a single template."""
    engine = _engine()
    if template is not None:
        _run(lambda: engine.delete_template(template, gallery))
        msg = f"Deleted template {template}."
    elif person is not None:
        n = _run(lambda: engine.delete_person(person, gallery))
        msg = f"Deleted {person} and {n} template(s)."
    else:
        fail("name a person or a --template to delete", 2)
    if state.json:
        emit_json({"deleted": template or person})
    else:
        out_console.print(msg)


def main() -> None:
    """Entry point of the console script."""
    from watchkeeper.cli import (
        bench,  # noqa: F401  (registers the bench commands)
        serve,  # noqa: F401  (registers the serve command)
    )

    app()


if __name__ == "__main__":
    main()
