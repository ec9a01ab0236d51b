"""Small clips written with PyAV for the source tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest


def write_clip(
    path: Path,
    *,
    codec: str = "mjpeg",
    frames: int = 20,
    size_wh: tuple[int, int] = (64, 48),
    fps: int = 10,
) -> Path:
    """A clip whose frame ``i`` has red channel ``10 * i % 256``, so frames can be told apart."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = size_wh
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        for i in range(frames):
            image = np.zeros((size_wh[1], size_wh[0], 3), np.uint8)
            image[:, :] = ((10 * i) % 256, 80, 160)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


ClipWriter = Callable[..., Path]


@pytest.fixture()
def make_clip() -> ClipWriter:
    """The :func:`write_clip` builder, for tests that need their own clip."""
    return write_clip


@pytest.fixture()
def mjpeg_clip(tmp_path: Path) -> Path:
    return write_clip(tmp_path / "clip.avi")


@pytest.fixture()
def h264_clip(tmp_path: Path) -> Path:
    return write_clip(tmp_path / "clip.mp4", codec="libx264", frames=15)
