"""The ``watchkeeper`` command: thin, every verb calls the service layer as a person.

Everything that touches identities needs an API token (``--token`` or ``$WATCHKEEPER_TOKEN``);
``watchkeeper init`` prints the first one. Detection alone needs none.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

from watchkeeper.cli.output import emit_json, err_console, fail, out_console, progress
from watchkeeper.config.settings import (
    AlignerKind,
    DetectionSettings,
    DetectorKind,
    EmbedderKind,
    RecognitionSettings,
    Settings,
)
from watchkeeper.core import Decision, Faces
from watchkeeper.core.errors import PermissionDeniedError, WatchkeeperError

if TYPE_CHECKING:  # the service is imported lazily, so `--help` stays fast
    from watchkeeper.governance.authz import Principal
    from watchkeeper.service.engine import Engine

app = typer.Typer(
    name="watchkeeper",
    help="Accountable face recognition: watchlists with a purpose, human review, an audit "
    "trail nobody can rewrite.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
gallery_app = typer.Typer(help="Look after the people of a watchlist: list, show and delete.")
bench_app = typer.Typer(
    help="Benchmarks on real data, each beside a peer measured in the same run."
)
app.add_typer(gallery_app, name="gallery")
app.add_typer(bench_app, name="bench")

TOKEN_ENV = "WATCHKEEPER_TOKEN"
T = TypeVar("T")


class _State:
    json = False
    settings = Settings()
    threshold: float | None = None
    token: str | None = None


state = _State()

HomeOpt = Annotated[
    Path | None,
    typer.Option("--home", help="Data directory (default $WATCHKEEPER_HOME or ~/.watchkeeper)."),
]
WatchlistOpt = Annotated[str, typer.Option("--watchlist", "-w", help="Watchlist (always named).")]
PurposeOpt = Annotated[
    str, typer.Option("--purpose", "-p", help="Why you search (recorded in the audit log).")
]


@app.callback()
def _global(
    home: HomeOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
    token: Annotated[
        str | None,
        typer.Option("--token", help=f"API token (default ${TOKEN_ENV}).", show_default=False),
    ] = None,
    detector: Annotated[
        DetectorKind, typer.Option(help="Face detector: dlib_hog (fast) or dlib_cnn (accurate).")
    ] = DetectorKind.HOG,
    upsample: Annotated[int, typer.Option(help="Upsampling for small faces (0-3).")] = 1,
    embedder: Annotated[
        EmbedderKind, typer.Option(help="Face embedder backend.")
    ] = EmbedderKind.ONNX,
    aligner: Annotated[
        AlignerKind,
        typer.Option(
            help="Landmarks the face chip is cut from; galleries made before 2026-11-26 "
            "used dlib_5point."
        ),
    ] = AlignerKind.SIXTY_EIGHT_POINT,
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
            "recognition": RecognitionSettings(
                embedder=embedder, aligner=aligner, target_fmr=target_fmr
            ),
        }
    )
    state.json = json_out
    state.threshold = threshold
    state.token = token or os.environ.get(TOKEN_ENV) or None


def engine() -> Engine:
    from watchkeeper.service.engine import Engine

    return Engine(state.settings, threshold=state.threshold)


def run(fn: Callable[[], T]) -> T:
    """Call the service; a Watchkeeper error becomes one line on stderr and its exit code."""
    try:
        return fn()
    except WatchkeeperError as exc:
        fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        fail("interrupted", 130)
    raise AssertionError("unreachable")  # pragma: no cover


def principal(wk: Engine) -> Principal:
    """The person the token stands for; no token, no identity work."""
    if not state.token:
        fail(
            f"this command needs an API token: pass --token or set {TOKEN_ENV} "
            "(`watchkeeper init` prints the first one)",
            PermissionDeniedError.exit_code,
        )
    token: str = state.token or ""
    return run(lambda: wk.accounts.authenticate(token))


def done(payload: Any, text: str, code: int = 0) -> NoReturn:
    """Print ``payload`` as JSON or ``text`` for people, then exit."""
    if state.json:
        emit_json(payload)
    elif text:
        out_console.print(text)
    raise typer.Exit(code)


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


def as_dict(r: Any) -> dict[str, Any]:
    return {name: getattr(r, name) for name in r.__slots__}


@app.command()
def detect(images: Annotated[list[Path], typer.Argument(help="Image files.")]) -> None:
    """Find faces in images and say whether each passes the quality gates (no identities)."""
    wk = engine()
    report: dict[str, Any] = {}
    status = 0
    for image in images:
        try:
            faces = wk.detect(image)
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


def _parse_meta(pairs: list[str] | None) -> dict[str, object]:
    meta: dict[str, object] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            fail(f"metadata must be KEY=VALUE, got {pair[:60]!r}", 2)
        meta[key.strip()] = value
    return meta


@app.command()
def enrol(
    person: Annotated[
        str | None, typer.Argument(help="The person's name (omit with --folder).")
    ] = None,
    images: Annotated[list[Path] | None, typer.Argument(help="Photos of the person.")] = None,
    watchlist: WatchlistOpt = "",
    basis: Annotated[
        str,
        typer.Option(
            help="Why this person may be on the watchlist: consent, contract, legal_obligation, "
            "vital_interests, public_task or legitimate_interests."
        ),
    ] = "",
    source: Annotated[
        str, typer.Option(help="Where the photos come from (e.g. 'HR badge photo').")
    ] = "",
    folder: Annotated[
        Path | None, typer.Option(help="A tree with one sub-folder of photos per person.")
    ] = None,
    face: Annotated[int | None, typer.Option(help="Which face to take from a group photo.")] = None,
    meta: Annotated[
        list[str] | None, typer.Option("--meta", help="Metadata KEY=VALUE (repeatable).")
    ] = None,
) -> None:
    """Enrol photos of a person, or a folder tree, into an active watchlist."""
    if not watchlist or not basis or not source:
        fail("enrolment needs --watchlist, --basis and --source", 2)
    metadata = _parse_meta(meta)
    wk = engine()
    me = principal(wk)
    if folder is not None:
        items = run(lambda: wk.folder_items(folder))
    elif person and images:
        items = [(person, p) for p in images]
    else:
        fail("give a person's name and photos, or --folder", 2)
    results = []
    if face is not None or len(items) == 1:
        for who, path in items:
            results.append(
                run(partial(wk.enrol, me, who, path, watchlist, basis, source, face, metadata))
            )
    else:
        with progress("Enrolling", len(items), enabled=not state.json) as bar:
            results = run(
                lambda: wk.enrol_many(
                    me,
                    items,
                    watchlist,
                    basis,
                    source,
                    on_result=lambda _r: bar.advance(),
                    metadata=metadata,
                )
            )
    stored = sum(1 for r in results if r.ok and not r.duplicate)
    dupes = sum(1 for r in results if r.duplicate)
    failed = [r for r in results if not r.ok]
    wk.close()
    if not state.json:
        for r in failed:
            err_console.print(f"[yellow]skipped[/] {r.error}")
    done(
        [as_dict(r) for r in results],
        f"Enrolled {stored} photo(s) into watchlist '{watchlist}'"
        + (f", {dupes} already there" if dupes else "")
        + (f", {len(failed)} skipped" if failed else "")
        + ".",
        0 if not failed else 4,
    )


@app.command()
def verify(
    image_a: Annotated[Path, typer.Argument(help="First photo (one face).")],
    image_b: Annotated[Path, typer.Argument(help="Second photo (one face).")],
    purpose: PurposeOpt = "",
) -> None:
    """1:1 - are these two photos the same person? (audited, needs a purpose)"""
    wk = engine()
    me = principal(wk)
    result = run(lambda: wk.verify(me, image_a, image_b, purpose))
    wk.close()
    same = result.decision is Decision.MATCH
    done(
        as_dict(result),
        ("Likely the same person" if same else "Not shown to be the same person")
        + f" (similarity {result.similarity:.3f}, threshold {result.threshold:.3f} at "
        f"false-match rate {result.target_fmr:g}). A person should confirm before acting.",
        0 if same else 1,
    )


@app.command()
def identify(
    image: Annotated[Path, typer.Argument(help="Photo to search.")],
    watchlist: WatchlistOpt = "",
    purpose: PurposeOpt = "",
    top: Annotated[int, typer.Option(help="Candidates to show per face.")] = 3,
) -> None:
    """1:N - search every face of a photo in one watchlist; matches go to human review."""
    if not watchlist:
        fail("1:N search needs --watchlist (and --purpose)", 2)
    wk = engine()
    me = principal(wk)
    result = run(lambda: wk.identify(me, image, watchlist, purpose, top_k=top))
    wk.close()
    faces = list(zip(_faces_json(result.faces), result.matches, result.candidate_ids, strict=True))
    payload = {
        "image": str(image),
        "watchlist": watchlist,
        "faces": [
            {
                **face,
                "decision": m.decision.value,
                "threshold": round(m.threshold, 4),
                "review_candidate": cid,
                "candidates": [
                    {
                        "person": c.display_name,
                        "identity_id": c.identity_id,
                        "similarity": round(c.similarity, 4),
                    }
                    for c in m.candidates
                ],
            }
            for face, m, cid in faces
        ],
    }
    if state.json:
        done(payload, "")
    if not result.matches:
        done(payload, f"{image}: no face found.", 4)
    lines = []
    for i, (face, m, cid) in enumerate(faces):
        if m.decision is Decision.REJECTED:
            line = "not searched (" + ", ".join(m.reasons) + ")"
        elif m.decision is Decision.MATCH:
            c = m.candidates[0]
            line = (
                f"candidate: {c.display_name} (similarity {c.similarity:.3f} >= "
                f"{m.threshold:.3f}); sent for review as {cid}"
            )
        else:
            best = f", best {m.candidates[0].similarity:.3f}" if m.candidates else ""
            line = f"unknown (nobody passes {m.threshold:.3f}{best})"
        lines.append(f"face {i} at {face['box_xyxy']}: {line}")
    done(payload, "\n".join(lines))


@gallery_app.command("list")
def gallery_list() -> None:
    """List watchlists, their state and how many people each holds."""
    wk = engine()
    me = principal(wk)
    infos = run(lambda: wk.watchlists.list(me))
    rows = [
        {
            "watchlist": i.record.name,
            "state": i.state,
            "people": i.people,
            "model": i.record.contract_id,
            "expires_at": i.record.expires_at.isoformat() if i.record.expires_at else None,
        }
        for i in infos
    ]
    text = "\n".join(
        f"{r['watchlist']}: {r['people']} people, {r['state']} (model {r['model']})" for r in rows
    )
    done(rows, text or "No watchlists yet. Create one with `watchkeeper watchlist create`.")


@gallery_app.command("show")
def gallery_show(
    person: Annotated[str | None, typer.Argument(help="A person's name or id.")] = None,
    watchlist: WatchlistOpt = "",
) -> None:
    """Show the people of a watchlist, or one person's templates (audited views)."""
    if not watchlist:
        fail("name the --watchlist", 2)
    wk = engine()
    me = principal(wk)
    if person is None:
        people = run(lambda: wk.people(me, watchlist))
        done(
            [as_dict(p) | {"metadata": dict(p.metadata)} for p in people],
            "\n".join(
                [f"Watchlist '{watchlist}': {len(people)} people"]
                + [
                    f"  {p.display_name}  ({p.template_count} photo(s), basis {p.basis}, "
                    f"id {p.identity_id})"
                    for p in people
                ]
            ),
        )
    ident = run(lambda: wk.person(me, person, watchlist))
    templates = run(lambda: wk.templates_of(me, ident.identity_id))
    done(
        {
            "person": as_dict(ident) | {"metadata": dict(ident.metadata)},
            "templates": [
                {
                    "template_id": t.template_id,
                    "source": t.source,
                    "created_at": t.created_at.isoformat(),
                    "encrypted": t.encrypted,
                }
                for t in templates
            ],
        },
        "\n".join(
            [
                f"{ident.display_name} (id {ident.identity_id}, basis {ident.basis}, source "
                f"{ident.source}), {len(templates)} template(s):"
            ]
            + [
                f"  {t.template_id}  from {t.source}  at {t.created_at:%Y-%m-%d %H:%M}"
                for t in templates
            ]
        ),
    )


@gallery_app.command("delete")
def gallery_delete(
    person: Annotated[str | None, typer.Argument(help="A person's name or id.")] = None,
    template: Annotated[str | None, typer.Option(help="Delete only this template id.")] = None,
    watchlist: WatchlistOpt = "",
) -> None:
    """Delete a person (all their templates) or a single template from a watchlist."""
    if not watchlist:
        fail("name the --watchlist", 2)
    wk = engine()
    me = principal(wk)
    if template is not None:
        run(lambda: wk.delete_template(me, template, watchlist))
        msg = f"Deleted template {template}."
    elif person is not None:
        n = run(lambda: wk.delete_person(me, person, watchlist))
        msg = f"Deleted {person} and {n} template(s)."
    else:
        fail("name a person or a --template to delete", 2)
    done({"deleted": template or person}, msg)


def main() -> None:
    """Entry point of the console script."""
    from watchkeeper.cli import (  # noqa: F401  (each registers its commands)
        bench,
        bench_api,
        bench_count,
        bench_video,
        count,
        serve,
        video,
    )

    app()


# The governance commands register themselves on `app` (after it exists).
from watchkeeper.cli import governance as _governance  # noqa: E402, F401
