"""Enrolment rules that do not depend on storage."""

from __future__ import annotations

import numpy as np

from watchkeeper.core import Faces
from watchkeeper.core.errors import InvalidInputError, MultipleFacesError, NoFaceError

MAX_NAME_LENGTH = 200


def choose_enrolment_face(faces: Faces, source: str, face_index: int | None = None) -> int:
    """The row to enrol: the only accepted face, or the one the caller picked.

    An image with several faces is refused unless ``face_index`` says which one, because
    enrolling the wrong person is worse than asking.
    """
    if face_index is not None:
        if not 0 <= face_index < len(faces):
            raise InvalidInputError(
                f"{source}: face {face_index} was asked for but {len(faces)} faces were found"
            )
        reasons = faces.rejected[face_index]
        if reasons:
            raise NoFaceError(
                f"{source}: face {face_index} failed the quality gates: "
                + ", ".join(r.value for r in reasons)
            )
        return face_index
    if len(faces) == 0:
        raise NoFaceError(f"{source}: no face found")
    accepted = np.flatnonzero(faces.accepted)
    if len(accepted) == 0:
        found = sorted({r.value for row in faces.rejected for r in row})
        raise NoFaceError(
            f"{source}: {len(faces)} face(s) found but none passed the quality gates "
            f"({', '.join(found)})"
        )
    if len(accepted) > 1:
        raise MultipleFacesError(
            f"{source}: {len(accepted)} faces found; choose one with a face index "
            f"(0..{len(faces) - 1}, left to right as detected)"
        )
    return int(accepted[0])


def validate_display_name(name: str) -> str:
    """A trimmed, printable, reasonably short name for a person."""
    cleaned = name.strip()
    if not cleaned:
        raise InvalidInputError("a person's name cannot be empty")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise InvalidInputError(f"a person's name is limited to {MAX_NAME_LENGTH} characters")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in cleaned):
        raise InvalidInputError("a person's name cannot contain control characters")
    return cleaned
