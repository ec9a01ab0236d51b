"""PNG charts drawn with Pillow."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from watchkeeper.core.errors import InvalidInputError
from watchkeeper.zones.charts import PALETTE, bar_chart_png, line_chart_png


def test_bars_are_drawn_in_the_series_colours() -> None:
    png = bar_chart_png("t", ["a", "b"], {"in": [4, 0], "out": [0, 2]})
    image = Image.open(io.BytesIO(png)).convert("RGB")
    colours = {c for _, c in image.getcolors(maxcolors=1 << 16) or []}
    assert PALETTE[0] in colours and PALETTE[1] in colours


def test_lines_and_a_single_point_render() -> None:
    for values in ([0, 3, 1], [2]):
        png = line_chart_png("occ", [str(i) for i in range(len(values))], {"zone": values})
        assert Image.open(io.BytesIO(png)).size == (900, 420)


def test_mismatched_series_are_refused() -> None:
    with pytest.raises(InvalidInputError):
        bar_chart_png("t", ["a"], {"in": [1, 2]})
    with pytest.raises(InvalidInputError):
        line_chart_png("t", ["a"], {})
