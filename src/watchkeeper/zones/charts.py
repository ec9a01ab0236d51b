"""Small PNG charts of counts, drawn with Pillow (already a dependency; no plotting library).

Two shapes cover what counting needs: grouped bars (traffic per hour, footfall in/out per
minute) and lines over time (zone occupancy). They are meant to be glanced at in a folder or a
console page, not to be publication plots: a title, axis ticks, a legend, nothing more.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from watchkeeper.core.errors import InvalidInputError

if TYPE_CHECKING:
    from PIL.Image import Image as PilImage
    from PIL.ImageDraw import ImageDraw

PALETTE = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189))
_SIZE_WH = (900, 420)
_MARGIN = (60, 40, 20, 60)  # left, top, right, bottom


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    step = 10 ** len(str(int(value))) / 10
    for factor in (1, 2, 5, 10):
        if value <= step * factor:
            return float(step * factor)
    return float(value)  # pragma: no cover


def _check(labels: Sequence[str], series: Mapping[str, Sequence[float]]) -> None:
    if not series:
        raise InvalidInputError("a chart needs at least one series")
    for name, values in series.items():
        if len(values) != len(labels):
            raise InvalidInputError(
                f"series {name!r} has {len(values)} values for {len(labels)} labels"
            )


def _canvas(
    title: str, labels: Sequence[str], series: Mapping[str, Sequence[float]], y_label: str
) -> tuple[PilImage, ImageDraw, float, tuple[int, int, int, int]]:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", _SIZE_WH, (255, 255, 255))
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = _MARGIN
    box = (left, top, _SIZE_WH[0] - right, _SIZE_WH[1] - bottom)
    peak = _nice_max(max((max(v) if v else 0.0) for v in series.values()))
    draw.text((left, 10), title, fill=(0, 0, 0))
    draw.text((5, top - 20), y_label, fill=(90, 90, 90))
    for i in range(5):  # horizontal grid with values
        y = box[3] - (box[3] - box[1]) * i / 4
        draw.line((box[0], y, box[2], y), fill=(225, 225, 225))
        value = peak * i / 4
        draw.text((5, y - 6), f"{value:g}", fill=(90, 90, 90))
    draw.rectangle(box, outline=(120, 120, 120))
    # At most about 12 x labels, evenly spread.
    every = max(1, len(labels) // 12)
    width = (box[2] - box[0]) / max(1, len(labels))
    for i, label in enumerate(labels):
        if i % every == 0:
            draw.text((box[0] + i * width + 2, box[3] + 6), label, fill=(60, 60, 60))
    for k, name in enumerate(series):
        colour = PALETTE[k % len(PALETTE)]
        x = box[2] - 160
        y = top + 6 + 16 * k
        draw.rectangle((x, y, x + 10, y + 10), fill=colour)
        draw.text((x + 16, y - 1), name, fill=(0, 0, 0))
    return image, draw, peak, box


def _png(image: PilImage) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def bar_chart_png(
    title: str,
    labels: Sequence[str],
    series: Mapping[str, Sequence[float]],
    *,
    y_label: str = "count",
) -> bytes:
    """Grouped bars: one group per label, one bar per series.

    >>> png = bar_chart_png("Crossings per hour", ["09:00", "10:00"], {"in": [3, 5], "out": [1, 0]})
    >>> png[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
    True
    """
    _check(labels, series)
    image, draw, peak, box = _canvas(title, labels, series, y_label)
    group_w = (box[2] - box[0]) / max(1, len(labels))
    bar_w = max(1.0, group_w * 0.8 / len(series))
    for k, values in enumerate(series.values()):
        colour = PALETTE[k % len(PALETTE)]
        for i, value in enumerate(values):
            if value <= 0:
                continue
            x = box[0] + i * group_w + group_w * 0.1 + k * bar_w
            y = box[3] - (box[3] - box[1]) * value / peak
            draw.rectangle((x, y, x + bar_w - 1, box[3] - 1), fill=colour)
    return _png(image)


def line_chart_png(
    title: str,
    labels: Sequence[str],
    series: Mapping[str, Sequence[float]],
    *,
    y_label: str = "count",
) -> bytes:
    """One line per series over evenly spaced labels (e.g. times)."""
    _check(labels, series)
    image, draw, peak, box = _canvas(title, labels, series, y_label)
    n = len(labels)
    for k, values in enumerate(series.values()):
        colour = PALETTE[k % len(PALETTE)]
        points = [
            (
                box[0] + (box[2] - box[0]) * (i / max(1, n - 1)),
                box[3] - (box[3] - box[1]) * v / peak,
            )
            for i, v in enumerate(values)
        ]
        if len(points) == 1:
            x, y = points[0]
            draw.ellipse((x - 2, y - 2, x + 2, y + 2), fill=colour)
        elif points:
            draw.line(points, fill=colour, width=2)
    return _png(image)
