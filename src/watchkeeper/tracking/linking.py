"""Person-face linking: a person track carries the identity of the face track seen on it.

Face tracks end when someone turns away; the person track (the whole body) usually goes on. Each
frame where both are tracked, a face is linked to the person whose box holds the face's centre
in its upper part (the head is there for people standing or walking), best overlap first, one
face per person and one person per face. The link is remembered, so the person keeps the face
track, and with it any identity decided for that face track, while the face is not visible.

Links are ids only. Nothing here recognises anybody: the identity of a face track comes from
the face path (and only when a watchlist is attached), see ``tracking.identity``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from watchkeeper.core import Faces, Objects
from watchkeeper.core.errors import InvalidInputError
from watchkeeper.tracking.base import UNTRACKED

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class LinkSettings:
    """Where a face may sit on a person to be linked with it."""

    upper_share: float = 0.5
    """Share of the person box height, from the top, in which the face centre must lie."""
    min_overlap: float = 0.5
    """Least share of the face box area inside the person box."""

    def __post_init__(self) -> None:
        if not 0.0 < self.upper_share <= 1.0:
            raise InvalidInputError("upper_share must be in (0, 1]")
        if not 0.0 <= self.min_overlap <= 1.0:
            raise InvalidInputError("min_overlap must be in [0, 1]")


def _face_inside_share(
    person_xyxy: npt.NDArray[np.float32], face_xyxy: npt.NDArray[np.float32]
) -> npt.NDArray[np.float64]:
    """(persons, faces) share of each face box's area that lies inside each person box."""
    p = person_xyxy.astype(np.float64)[:, None, :]
    f = face_xyxy.astype(np.float64)[None, :, :]
    w = np.clip(np.minimum(p[..., 2], f[..., 2]) - np.maximum(p[..., 0], f[..., 0]), 0, None)
    h = np.clip(np.minimum(p[..., 3], f[..., 3]) - np.maximum(p[..., 1], f[..., 1]), 0, None)
    area = (f[..., 2] - f[..., 0]) * (f[..., 3] - f[..., 1])
    return np.asarray(np.where(area > 0, w * h / np.maximum(area, 1e-12), 0.0), np.float64)


class PersonFaceLinker:
    """Remembers which face track belongs to which person track.

    >>> linker = PersonFaceLinker()
    >>> person = Objects(np.array([[100, 50, 200, 400]]), np.array([0.9]), np.array([0]),
    ...                  ("person",), track_id=np.array([3]))
    >>> face = Faces(xyxy=np.array([[130, 60, 170, 110]], np.float32), detector_score=[1.0],
    ...              track_id=np.array([8]))
    >>> linker.update(person, face).tolist()
    [8]
    >>> no_face = Faces(xyxy=np.zeros((0, 4), np.float32), detector_score=[],
    ...                 track_id=np.zeros(0, np.int64))
    >>> linker.update(person, no_face).tolist()  # turned away: the link stays
    [8]
    """

    def __init__(self, settings: LinkSettings | None = None) -> None:
        self.settings = settings or LinkSettings()
        self._face_of: dict[int, int] = {}  # person track -> face track
        self._person_of: dict[int, int] = {}  # face track -> person track

    def face_track_of(self, person_track_id: int) -> int | None:
        """The face track last linked to a person track, if any."""
        return self._face_of.get(int(person_track_id))

    def person_track_of(self, face_track_id: int) -> int | None:
        """The person track a face track is linked to, if any."""
        return self._person_of.get(int(face_track_id))

    def update(self, persons: Objects, faces: Faces) -> IntArray:
        """Link this frame's tracked faces to tracked persons; returns, per row of ``persons``,
        the linked face track id (new or remembered), ``UNTRACKED`` where none.

        Rows without a confirmed track on either side take no part. ``persons`` should hold
        people only (other classes are ignored).
        """
        if persons.track_id is None or faces.track_id is None:
            raise InvalidInputError("linking needs tracked persons and tracked faces")
        person_rows = np.flatnonzero(
            (persons.track_id != UNTRACKED)
            & np.array([n == "person" for n in persons.class_name], dtype=bool)
        )
        face_rows = np.flatnonzero(faces.track_id != UNTRACKED)
        if person_rows.size and face_rows.size:
            self._link(persons, person_rows, faces, face_rows)
        out = np.full(len(persons), UNTRACKED, np.int64)
        for row in person_rows:
            face = self._face_of.get(int(persons.track_id[row]))
            if face is not None:
                out[row] = face
        return out

    def _link(
        self, persons: Objects, person_rows: IntArray, faces: Faces, face_rows: IntArray
    ) -> None:
        from scipy.optimize import linear_sum_assignment

        if persons.track_id is None or faces.track_id is None:  # checked by update
            return
        pboxes = persons.xyxy[person_rows]
        fboxes = faces.xyxy[face_rows]
        share = _face_inside_share(pboxes, fboxes)
        cx = (fboxes[:, 0] + fboxes[:, 2]) / 2.0
        cy = (fboxes[:, 1] + fboxes[:, 3]) / 2.0
        upper_bottom = pboxes[:, 1] + self.settings.upper_share * (pboxes[:, 3] - pboxes[:, 1])
        centre_in_upper = (
            (cx[None, :] >= pboxes[:, 0:1])
            & (cx[None, :] <= pboxes[:, 2:3])
            & (cy[None, :] >= pboxes[:, 1:2])
            & (cy[None, :] <= upper_bottom[:, None])
        )
        feasible = centre_in_upper & (share >= self.settings.min_overlap) & (share > 0)
        if not feasible.any():
            return
        cost = np.where(feasible, 1.0 - share, 1e6)
        p_idx, f_idx = linear_sum_assignment(cost)
        for pi, fi in zip(p_idx.tolist(), f_idx.tolist(), strict=True):
            if not feasible[pi, fi]:
                continue
            person = int(persons.track_id[person_rows[pi]])
            face = int(faces.track_id[face_rows[fi]])
            self._set(person, face)

    def _set(self, person: int, face: int) -> None:
        # One-to-one over time as well: the face leaves any person it was on before, and the
        # person's previous face (a track that ended when they turned away) is let go.
        previous_person = self._person_of.pop(face, None)
        if previous_person is not None and self._face_of.get(previous_person) == face:
            del self._face_of[previous_person]
        previous_face = self._face_of.get(person)
        if previous_face is not None:
            self._person_of.pop(previous_face, None)
        self._face_of[person] = face
        self._person_of[face] = person

    def forget_persons(self, person_track_ids: tuple[int, ...] | list[int]) -> None:
        """Drop the links of person tracks that ended."""
        for person in person_track_ids:
            face = self._face_of.pop(int(person), None)
            if face is not None and self._person_of.get(face) == int(person):
                del self._person_of[face]

    def forget_faces(self, face_track_ids: tuple[int, ...] | list[int]) -> None:
        """Stop a face track from being claimed again; persons keep what they were linked to.

        A person whose face track ended keeps that id, so its identity can still be looked up.
        """
        for face in face_track_ids:
            self._person_of.pop(int(face), None)
