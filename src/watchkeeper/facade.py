"""The verbs at the package top: three lines from a notebook to an answer.

Models load on first use, never at import. One shared ``Engine`` over the default data directory
(``$WATCHKEEPER_HOME`` or ``~/.watchkeeper``) serves these functions; build your own ``Engine``
for anything else.
"""

from __future__ import annotations

import threading
from pathlib import Path

from watchkeeper.core import Faces, Verification
from watchkeeper.service.engine import (
    DEFAULT_GALLERY,
    Engine,
    EnrolResult,
    IdentifyResult,
    ImageInput,
)

_engine: Engine | None = None
_lock = threading.Lock()


def default_engine() -> Engine:
    """The shared engine, created on first use."""
    global _engine
    with _lock:
        if _engine is None:
            _engine = Engine()
        return _engine


def detect(image: ImageInput) -> Faces:
    """Find faces: boxes (xyxy pixels), 5 landmarks, quality and rejection reasons.

    >>> faces = watchkeeper.detect("group.jpg")  # doctest: +SKIP
    >>> faces.xyxy.shape  # doctest: +SKIP
    (2, 4)
    """
    return default_engine().detect(image)


def enrol(person: str, image: ImageInput, gallery: str = DEFAULT_GALLERY) -> EnrolResult:
    """Add a photo of ``person`` to a gallery (created on first use).

    >>> watchkeeper.enrol("Ada Lovelace", "ada.jpg")  # doctest: +SKIP
    """
    return default_engine().enrol(person, image, gallery=gallery)


def enrol_folder(folder: str | Path, gallery: str = DEFAULT_GALLERY) -> list[EnrolResult]:
    """Enrol a tree with one sub-folder of photos per person, on every core."""
    engine = default_engine()
    return engine.enrol_many(engine.folder_items(Path(folder)), gallery=gallery)


def verify(image_a: ImageInput, image_b: ImageInput) -> Verification:
    """1:1: are the faces in two photos the same person? Returns similarity and threshold.

    >>> watchkeeper.verify("a.jpg", "b.jpg").decision  # doctest: +SKIP
    <Decision.MATCH: 'match'>
    """
    return default_engine().verify(image_a, image_b)


def identify(image: ImageInput, gallery: str = DEFAULT_GALLERY) -> IdentifyResult:
    """1:N: who, from the named gallery, is in this photo? Unknown when nobody passes.

    >>> [m.decision for m in watchkeeper.identify("door.jpg").matches]  # doctest: +SKIP
    [<Decision.UNKNOWN: 'unknown'>]
    """
    return default_engine().identify(image, gallery=gallery)
