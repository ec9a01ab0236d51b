"""Every kind of bad or odd image file gets a clear error or a proper RGB frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.builders import encode, pattern_image

from watchkeeper.core.errors import ImageError
from watchkeeper.sources.images import decode_image, load_image


def test_jpeg_decodes_to_rgb_uint8() -> None:
    frame = decode_image(encode(pattern_image(1)), source_id="x.jpg")
    assert frame.image.shape == (96, 96, 3)
    assert frame.image.dtype == np.uint8
    assert frame.source_id == "x.jpg"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "nope.jpg")


def test_folder_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="folder"):
        load_image(tmp_path)


def test_zero_bytes(tmp_path: Path) -> None:
    p = tmp_path / "empty.jpg"
    p.write_bytes(b"")
    with pytest.raises(ImageError, match="empty"):
        load_image(p)


def test_not_an_image(tmp_path: Path) -> None:
    p = tmp_path / "notes.jpg"
    p.write_text("these are not pixels\n" * 20)
    with pytest.raises(ImageError, match="not an image"):
        load_image(p)


def test_truncated_jpeg() -> None:
    data = encode(pattern_image(2, size=256), quality=95)
    with pytest.raises(ImageError, match="truncated or corrupt"):
        decode_image(data[: len(data) // 2], source_id="cut.jpg")


def test_decompression_bomb_is_refused_from_the_header() -> None:
    # A 20000 x 20000 PNG of zeros compresses to a few hundred kB but would need 1.2 GB decoded.
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (20000, 20000)).save(buf, format="PNG")
    with pytest.raises(ImageError, match="pixel limit"):
        decode_image(buf.getvalue(), max_pixels=40_000_000)


def test_pixel_limit_is_a_setting() -> None:
    data = encode(pattern_image(3, size=200), fmt="PNG")
    with pytest.raises(ImageError, match="pixel limit"):
        decode_image(data, max_pixels=100 * 100)
    assert decode_image(data, max_pixels=200 * 200).image.shape == (200, 200, 3)


def test_rgba_is_composited_over_white() -> None:
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:5, :, 3] = 255  # top half opaque red, bottom half transparent
    frame = decode_image(encode(rgba, fmt="PNG"))
    assert frame.image[0, 0].tolist() == [200, 0, 0]
    assert frame.image[9, 9].tolist() == [255, 255, 255]


def test_greyscale_becomes_three_equal_channels() -> None:
    grey = np.arange(100, dtype=np.uint8).reshape(10, 10)
    frame = decode_image(encode(grey, fmt="PNG"))
    assert frame.image.shape == (10, 10, 3)
    np.testing.assert_array_equal(frame.image[..., 0], grey)
    np.testing.assert_array_equal(frame.image[..., 2], grey)


def test_sixteen_bit_greyscale_keeps_its_range() -> None:
    import io

    from PIL import Image

    values = (np.linspace(0, 65535, 100).reshape(10, 10)).astype(np.uint16)
    buf = io.BytesIO()
    Image.fromarray(values).save(buf, format="PNG")
    frame = decode_image(buf.getvalue())
    assert frame.image.dtype == np.uint8
    assert frame.image.min() == 0 and frame.image.max() == 255  # not clipped to white


def test_exif_rotation_is_applied() -> None:
    import io

    from PIL import Image

    wide = np.zeros((20, 40, 3), np.uint8)  # stored 40 wide, 20 tall
    img = Image.fromarray(wide)
    exif = img.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif)
    frame = decode_image(buf.getvalue())
    assert frame.resolution_wh == (20, 40)


def test_real_32bit_png_from_the_examples(data_dir: Path) -> None:
    frame = load_image(data_dir / "examples/examples/alex-lacamoire.png")
    assert frame.image.ndim == 3 and frame.image.shape[2] == 3
