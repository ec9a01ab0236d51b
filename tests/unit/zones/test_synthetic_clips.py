"""Synthetic clips: ground truth by construction, rendering, scoring, and counting end to end
with oracle boxes (no detector) through the placeholder tracker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from watchkeeper.core import ClassGroup, Objects
from watchkeeper.core.errors import InvalidInputError
from watchkeeper.tracking.objects import ObjectTracker, tracked_only
from watchkeeper.zones.counting import LineCounter
from watchkeeper.zones.events import Direction, LineCrossed
from watchkeeper.zones.geometry import Line, LineSide
from watchkeeper.zones.synthetic import (
    Actor,
    Sprite,
    SyntheticClip,
    Waypoint,
    load_background,
    load_sprites,
    make_counting_clip,
    score_crossings,
    true_crossings,
)

LINE = Line("centre", start=(320, 480), end=(320, 0), in_side=LineSide.RIGHT)
T0 = datetime(2024, 1, 1, tzinfo=UTC)
SPRITE = Sprite("block", "dog", np.full((20, 10, 3), 200, np.uint8))


def actor(*points: tuple[float, float]) -> Actor:
    return Actor(0, SPRITE, tuple(Waypoint(t, x, 100) for t, x in points))


@pytest.mark.parametrize(
    ("points", "expected"),
    [
        ([(0, 0), (4, 640)], [(2.0, Direction.IN)]),
        ([(0, 640), (2, 320), (3, 320), (5, 0)], [(2.0, Direction.OUT)]),  # pause on the line
        ([(0, 0), (2, 320), (3, 0)], []),  # touches the line and turns back
        ([(0, 0), (2, 250), (3, 0)], []),  # turns back before the line
        ([(0, 0), (3, 480), (6, 0)], [(2.0, Direction.IN), (4.0, Direction.OUT)]),
    ],
)
def test_true_crossings_follow_the_path(
    points: list[tuple[float, float]], expected: list[tuple[float, Direction]]
) -> None:
    got = [(round(c.at_s, 6), c.direction) for c in true_crossings(actor(*points), LINE)]
    assert got == expected


def test_actor_paths_are_validated() -> None:
    with pytest.raises(InvalidInputError):
        actor((0, 0))
    with pytest.raises(InvalidInputError):
        actor((1, 0), (1, 10))
    a = actor((1, 0), (3, 100))
    assert a.position(0.5) is None and a.position(2) == (50, 100)


def test_rendering_places_the_sprite_by_its_bottom_centre() -> None:
    clip = SyntheticClip(
        background=np.zeros((480, 640, 3), np.uint8),
        actors=(actor((0, 100), (10, 100.5)),),
        line=LINE, fps=1.0, n_frames=2, truth=(),
    )  # fmt: skip
    image = clip.frame(0)
    ys, xs = np.nonzero(image[..., 0])
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (95, 104, 80, 99)
    with pytest.raises(IndexError):
        clip.frame(2)


def oracle_objects(clip: SyntheticClip, index: int) -> Objects:
    """The boxes a perfect detector would report for frame ``index``."""
    labels = ("person", "motorcycle", "dog", "cat")
    boxes, classes = [], []
    width, height = clip.resolution_wh
    for a in clip.actors:
        pos = a.position(clip.time_s(index))
        if pos is None:
            continue
        sw, sh = a.sprite.size_wh
        box = np.clip([pos[0] - sw / 2, pos[1] - sh, pos[0] + sw / 2, pos[1]], 0,
                      [width, height, width, height])  # fmt: skip
        if box[2] - box[0] >= 8:  # a sliver at the edge is not detectable
            boxes.append(box)
            classes.append(labels.index(a.sprite.class_name))
    if not boxes:
        return Objects.empty(labels)
    return Objects(np.array(boxes), np.full(len(boxes), 0.9), np.array(classes), labels)


def test_clips_from_real_photos_count_perfectly_with_oracle_boxes(data_dir: Path) -> None:
    sprites = load_sprites(data_dir)
    assert {s.group for s in sprites} == {ClassGroup.PERSON, ClassGroup.VEHICLE, ClassGroup.ANIMAL}
    background = load_background(data_dir)
    assert background.shape == (480, 640, 3)
    clip = make_counting_clip(sprites, background, seed=3, duration_s=40.0, fps=10.0)
    again = make_counting_clip(sprites, background, seed=3, duration_s=40.0, fps=10.0)
    assert [c.at_s for c in clip.truth] == [c.at_s for c in again.truth]
    assert len(clip.truth) >= 10
    assert {c.direction for c in clip.truth} == {Direction.IN, Direction.OUT}

    tracker, counter = ObjectTracker(), LineCounter([clip.line], camera_id="oracle")
    counted: list[LineCrossed] = []
    for i in range(clip.n_frames):
        at = T0 + timedelta(seconds=clip.time_s(i))
        counted += counter.update(tracked_only(tracker.update(oracle_objects(clip, i), i)), at)
    score = score_crossings(clip, counted, T0)
    assert score.correct == score.true_crossings == len(clip.truth)
    assert score.extra == 0 and score.recall == 1.0


def test_scoring_finds_misses_extras_and_wrong_directions(data_dir: Path) -> None:
    clip = make_counting_clip(
        load_sprites(data_dir), load_background(data_dir), seed=5, duration_s=30.0
    )
    perfect = [
        LineCrossed(
            camera_id="c", line_id=t.line_id, track_id=t.actor_id, class_name=t.class_name,
            class_group=t.group, direction=t.direction, anchor_xy=t.anchor_xy,
            at=T0 + timedelta(seconds=t.at_s),
        )
        for t in clip.truth
    ]  # fmt: skip
    n = len(perfect)
    assert score_crossings(clip, perfect, T0).correct == n
    dropped = score_crossings(clip, perfect[1:], T0)
    assert (dropped.correct, dropped.missed) == (n - 1, 1)
    doubled = score_crossings(clip, [*perfect, perfect[0]], T0)
    assert (doubled.correct, doubled.extra) == (n, 1)
    flipped_dir = Direction.OUT if perfect[0].direction is Direction.IN else Direction.IN
    flipped = [perfect[0].model_copy(update={"direction": flipped_dir}), *perfect[1:]]
    assert score_crossings(clip, flipped, T0).wrong_direction == 1
    regrouped = [perfect[0].model_copy(update={"class_group": ClassGroup.OTHER}), *perfect[1:]]
    assert score_crossings(clip, regrouped, T0).wrong_group == 1
