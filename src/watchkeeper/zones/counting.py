"""Line crossing counts and zone occupancy/dwell from tracked ``Objects``.

Both counters remember, per track, the last *strict* state (which side of a line, inside or
outside a zone). A point within ``dead_band_px`` of the boundary is "on" it and changes nothing,
so an object that stops on a line, or whose box jitters by a pixel or two around it, is not
counted again and again; only a move from one strict side to the other counts. Memory of a track
that has not been seen for ``forget_after_s`` is dropped, so a track that leaves the frame never
produces a crossing it did not make.

Track classes are voted over the track's life (most frequent detector class so far), because a
detector may call the same dog "cat" in one frame.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType

import numpy as np

from watchkeeper.core import ClassGroup, Objects, class_group
from watchkeeper.core.errors import InvalidInputError
from watchkeeper.zones.events import (
    Direction,
    DwellExceeded,
    LineCrossed,
    ZoneEntered,
    ZoneEvent,
    ZoneLeft,
)
from watchkeeper.zones.geometry import Anchor, Line, Zone, anchor_points

logger = logging.getLogger(__name__)


def _utc(at: datetime) -> datetime:
    if not isinstance(at, datetime) or at.tzinfo is None or at.utcoffset() is None:
        raise InvalidInputError("counting needs timezone-aware (UTC) frame times")
    return at.astimezone(UTC)


def _tracked_rows(objects: Objects, classes: frozenset[str] | None) -> Objects:
    if objects.track_id is None:
        raise InvalidInputError("lines and zones count tracks: the objects need track ids")
    if len(np.unique(objects.track_id)) != len(objects):
        raise InvalidInputError("each track id may appear only once per frame")
    if classes is None:
        return objects
    return objects[np.array([name in classes for name in objects.class_name], dtype=bool)]


def _check_settings(dead_band_px: float, forget_after_s: float) -> None:
    if not (math.isfinite(dead_band_px) and dead_band_px >= 0):
        raise InvalidInputError("dead_band_px must be a finite number >= 0")
    if not (math.isfinite(forget_after_s) and forget_after_s > 0):
        raise InvalidInputError("forget_after_s must be a positive number of seconds")


def _check_places(
    ids: list[str], owner: str, place: str, dead_band_px: float, forget_after_s: float
) -> None:
    """The checks a line counter and a zone monitor share: places given, ids unique, settings."""
    if not ids:
        raise InvalidInputError(f"a {owner} needs at least one {place}")
    if len(set(ids)) != len(ids):
        raise InvalidInputError(f"{place} ids must be unique, got {ids}")
    _check_settings(dead_band_px, forget_after_s)


def _check_classes(classes: Iterable[str] | None) -> frozenset[str] | None:
    if classes is None:
        return None
    wanted = frozenset(classes)
    if not wanted:
        raise InvalidInputError("an empty class filter would count nothing; pass None for all")
    return wanted


class _ClassVotes:
    """Most frequent class name per track so far (ties go to the class seen first)."""

    def __init__(self) -> None:
        self._votes: dict[int, Counter[str]] = {}

    def add(self, track_id: int, class_name: str) -> str:
        votes = self._votes.setdefault(track_id, Counter())
        votes[class_name] += 1
        return votes.most_common(1)[0][0]

    def drop(self, track_id: int) -> None:
        self._votes.pop(track_id, None)


@dataclass(frozen=True, slots=True)
class LineTotals:
    """Crossings of one line so far, per class name and direction."""

    line_id: str
    inbound: Mapping[str, int]
    outbound: Mapping[str, int]

    def count(self, direction: Direction, group: ClassGroup | None = None) -> int:
        """Crossings in one direction, for one class group or all."""
        table = self.inbound if direction is Direction.IN else self.outbound
        return sum(n for name, n in table.items() if group is None or class_group(name) is group)


@dataclass(slots=True)
class _LineMemory:
    side: int  # +1 in side, -1 out side
    point: tuple[float, float]  # where the anchor last was on that strict side


class LineCounter:
    """Counts directed crossings of one or more lines by tracked objects.

    >>> from datetime import datetime, UTC
    >>> counter = LineCounter([Line("gate", (50, 0), (50, 100))], camera_id="cam1")
    >>> def at_x(x):
    ...     return Objects(np.array([[x - 5, 40, x + 5, 60]]), np.array([0.9]), np.array([0]),
    ...                    ("person",), track_id=np.array([7]))
    >>> t = datetime(2024, 1, 1, tzinfo=UTC)
    >>> counter.update(at_x(30), t), len(counter.update(at_x(70), t))
    ([], 1)
    >>> counter.totals("gate").count(Direction.OUT)
    1
    """

    def __init__(
        self,
        lines: Sequence[Line],
        *,
        camera_id: str,
        anchor: Anchor = Anchor.BOTTOM_CENTER,
        dead_band_px: float = 2.0,
        forget_after_s: float = 10.0,
        classes: Iterable[str] | None = None,
    ) -> None:
        ids = [line.line_id for line in lines]
        _check_places(ids, "line counter", "line", dead_band_px, forget_after_s)
        self.lines = tuple(lines)
        self.camera_id = camera_id
        self.anchor = Anchor(anchor)
        self.dead_band_px = float(dead_band_px)
        self.forget_after_s = float(forget_after_s)
        self.classes = _check_classes(classes)
        self._memory: dict[tuple[str, int], _LineMemory] = {}
        self._votes = _ClassVotes()
        self._last_seen: dict[int, datetime] = {}
        self._inbound: dict[str, Counter[str]] = {line_id: Counter() for line_id in ids}
        self._outbound: dict[str, Counter[str]] = {line_id: Counter() for line_id in ids}

    def update(self, objects: Objects, at: datetime) -> list[LineCrossed]:
        """Feed one frame's tracked objects; returns the crossings it completed."""
        at = _utc(at)
        rows = _tracked_rows(objects, self.classes)
        points = anchor_points(rows, self.anchor)
        track_ids = [] if rows.track_id is None else [int(t) for t in rows.track_id]
        names = [self._votes.add(t, n) for t, n in zip(track_ids, rows.class_name, strict=True)]
        events: list[LineCrossed] = []
        for line in self.lines:
            signed = line.side_px(points)
            for i, track_id in enumerate(track_ids):
                point = (float(points[i, 0]), float(points[i, 1]))
                side = 0
                if signed[i] > self.dead_band_px:
                    side = 1
                elif signed[i] < -self.dead_band_px:
                    side = -1
                key = (line.line_id, track_id)
                memory = self._memory.get(key)
                if memory is None:
                    if side:
                        self._memory[key] = _LineMemory(side, point)
                    continue
                if side == 0 or side == memory.side:
                    if side:
                        memory.point = point
                    continue
                # A strict side change: it counts if the path since the last strict point passed
                # through the segment, not around one of its ends.
                if line.segment_crossed_by(memory.point, point):
                    direction = Direction.IN if side > 0 else Direction.OUT
                    events.append(self._crossed(line, track_id, names[i], direction, point, at))
                memory.side, memory.point = side, point
        for track_id in track_ids:
            self._last_seen[track_id] = at
        self._forget(at)
        return events

    def _crossed(
        self,
        line: Line,
        track_id: int,
        class_name: str,
        direction: Direction,
        point: tuple[float, float],
        at: datetime,
    ) -> LineCrossed:
        table = self._inbound if direction is Direction.IN else self._outbound
        table[line.line_id][class_name] += 1
        return LineCrossed(
            camera_id=self.camera_id,
            line_id=line.line_id,
            track_id=track_id,
            class_name=class_name,
            class_group=class_group(class_name),
            direction=direction,
            anchor_xy=point,
            at=at,
        )

    def _forget(self, at: datetime) -> None:
        stale = [
            t
            for t, seen in self._last_seen.items()
            if (at - seen).total_seconds() > self.forget_after_s
        ]
        for track_id in stale:
            del self._last_seen[track_id]
            self._votes.drop(track_id)
            for line in self.lines:
                self._memory.pop((line.line_id, track_id), None)

    def totals(self, line_id: str) -> LineTotals:
        """Crossings of ``line_id`` so far."""
        if line_id not in self._inbound:
            raise InvalidInputError(f"no line {line_id!r} in this counter")
        return LineTotals(
            line_id=line_id,
            inbound=MappingProxyType(dict(self._inbound[line_id])),
            outbound=MappingProxyType(dict(self._outbound[line_id])),
        )


@dataclass(frozen=True, slots=True)
class ZoneOccupancy:
    """How many tracks are inside a zone, per class name."""

    zone_id: str
    by_class: Mapping[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """All tracks inside."""
        return sum(self.by_class.values())

    def count(self, group: ClassGroup) -> int:
        """Tracks of one class group inside."""
        return sum(n for name, n in self.by_class.items() if class_group(name) is group)


@dataclass(slots=True)
class _Visit:
    inside: bool
    entered_at: datetime | None
    last_seen_at: datetime
    dwell_reported: bool = False


class ZoneMonitor:
    """Entries, exits, occupancy and dwell per zone; overlapping zones are fully independent.

    A track lost inside a zone (not seen for ``forget_after_s``) leaves it with ``lost=True`` and
    the dwell it had when last seen. ``close(at)`` ends every open visit the same way.
    """

    def __init__(
        self,
        zones: Sequence[Zone],
        *,
        camera_id: str,
        anchor: Anchor = Anchor.BOTTOM_CENTER,
        dead_band_px: float = 2.0,
        forget_after_s: float = 2.0,
        classes: Iterable[str] | None = None,
    ) -> None:
        ids = [zone.zone_id for zone in zones]
        _check_places(ids, "zone monitor", "zone", dead_band_px, forget_after_s)
        self.zones = tuple(zones)
        self.camera_id = camera_id
        self.anchor = Anchor(anchor)
        self.dead_band_px = float(dead_band_px)
        self.forget_after_s = float(forget_after_s)
        self.classes = _check_classes(classes)
        self._visits: dict[tuple[str, int], _Visit] = {}
        self._votes = _ClassVotes()
        self._names: dict[int, str] = {}

    def update(self, objects: Objects, at: datetime) -> list[ZoneEvent]:
        """Feed one frame's tracked objects; returns entries, exits and dwell alerts."""
        at = _utc(at)
        rows = _tracked_rows(objects, self.classes)
        points = anchor_points(rows, self.anchor)
        track_ids = [] if rows.track_id is None else [int(t) for t in rows.track_id]
        for t, n in zip(track_ids, rows.class_name, strict=True):
            self._names[t] = self._votes.add(t, n)
        events: list[ZoneEvent] = []
        for zone in self.zones:
            depth = zone.inside_px(points)
            for i, track_id in enumerate(track_ids):
                key = (zone.zone_id, track_id)
                visit = self._visits.get(key)
                if visit is None:
                    # First sight on the boundary counts as outside until it is clearly in.
                    visit = self._visits[key] = _Visit(
                        inside=False, entered_at=None, last_seen_at=at
                    )
                visit.last_seen_at = at
                if depth[i] > self.dead_band_px and not visit.inside:
                    visit.inside, visit.entered_at, visit.dwell_reported = True, at, False
                    events.append(self._entered(zone, track_id, at))
                elif depth[i] < -self.dead_band_px and visit.inside:
                    events.append(self._left(zone, track_id, visit, at, lost=False))
                    visit.inside, visit.entered_at = False, None
                if visit.inside and visit.entered_at is not None:
                    dwell_s = (at - visit.entered_at).total_seconds()
                    limit = zone.loiter_after_s
                    if limit is not None and not visit.dwell_reported and dwell_s >= limit:
                        visit.dwell_reported = True
                        events.append(self._dwell(zone, track_id, dwell_s, limit, at))
        events.extend(self._forget(at, everything=False))
        return events

    def close(self, at: datetime) -> list[ZoneLeft]:
        """End of stream: every open visit leaves as lost; memory is cleared."""
        return self._forget(_utc(at), everything=True)

    def occupancy(self, zone_id: str) -> ZoneOccupancy:
        """Tracks currently inside ``zone_id`` (including ones briefly unseen)."""
        if zone_id not in {z.zone_id for z in self.zones}:
            raise InvalidInputError(f"no zone {zone_id!r} in this monitor")
        counts: Counter[str] = Counter(
            self._names[track_id]
            for (zid, track_id), visit in self._visits.items()
            if zid == zone_id and visit.inside
        )
        return ZoneOccupancy(zone_id=zone_id, by_class=MappingProxyType(dict(counts)))

    def _forget(self, at: datetime, *, everything: bool) -> list[ZoneLeft]:
        events: list[ZoneLeft] = []
        zones = {z.zone_id: z for z in self.zones}
        for key, visit in list(self._visits.items()):
            if not everything and (at - visit.last_seen_at).total_seconds() <= self.forget_after_s:
                continue
            zone_id, track_id = key
            if visit.inside:
                events.append(self._left(zones[zone_id], track_id, visit, visit.last_seen_at, True))
            del self._visits[key]
        alive = {track_id for _, track_id in self._visits}
        for track_id in set(self._names) - alive:
            del self._names[track_id]
            self._votes.drop(track_id)
        return events

    def _entered(self, zone: Zone, track_id: int, at: datetime) -> ZoneEntered:
        name = self._names[track_id]
        return ZoneEntered(
            camera_id=self.camera_id,
            zone_id=zone.zone_id,
            track_id=track_id,
            class_name=name,
            class_group=class_group(name),
            at=at,
        )

    def _left(self, zone: Zone, track_id: int, visit: _Visit, at: datetime, lost: bool) -> ZoneLeft:
        name = self._names[track_id]
        entered = visit.entered_at or at
        return ZoneLeft(
            camera_id=self.camera_id,
            zone_id=zone.zone_id,
            track_id=track_id,
            class_name=name,
            class_group=class_group(name),
            dwell_s=max(0.0, (at - entered).total_seconds()),
            lost=lost,
            at=at,
        )

    def _dwell(
        self, zone: Zone, track_id: int, dwell_s: float, limit: float, at: datetime
    ) -> DwellExceeded:
        name = self._names[track_id]
        return DwellExceeded(
            camera_id=self.camera_id,
            zone_id=zone.zone_id,
            track_id=track_id,
            class_name=name,
            class_group=class_group(name),
            dwell_s=dwell_s,
            threshold_s=limit,
            at=at,
        )
