"""Decoding still images safely: every odd file gets a clear error or a proper RGB frame.

Pillow does the decoding. It is the maintained choice for JPEG/PNG/GIF/BMP/TIFF/WebP/PGM with
EXIF and 16-bit support, and its ``MAX_IMAGE_PIXELS`` check lets us refuse decompression bombs
from the header alone, before any pixel is decoded.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from watchkeeper.core import Frame
from watchkeeper.core.errors import ImageError

if TYPE_CHECKING:
    from PIL import Image

DEFAULT_MAX_PIXELS = 40_000_000
"""About a 7,300 x 5,500 photo; larger inputs are refused rather than risk memory exhaustion."""

DEFAULT_MAX_BYTES = 50 * 1024 * 1024


def _to_rgb_array(img: Image.Image) -> np.ndarray:
    from PIL import Image

    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit greyscale: scale the real range to 8 bits instead of clipping to white.
        arr = np.asarray(img, dtype=np.float64)
        top = float(arr.max()) if arr.size else 0.0
        scale = 255.0 / 65535.0 if top > 255 else 1.0
        grey = np.clip(arr * scale, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.stack([grey] * 3, axis=-1))
    if mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
        grey = ((arr - lo) / max(hi - lo, 1e-12) * 255).astype(np.uint8)
        return np.ascontiguousarray(np.stack([grey] * 3, axis=-1))
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        # Composite transparency over white: transparent pixels are background, not black.
        rgba = img.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        canvas.alpha_composite(rgba)
        return np.ascontiguousarray(np.asarray(canvas.convert("RGB")))
    return np.ascontiguousarray(np.asarray(img.convert("RGB")))


def decode_image(
    data: bytes,
    source_id: str = "",
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Frame:
    """Decode image bytes into an RGB ``Frame``, applying EXIF rotation.

    Raises ``ImageError`` with a one-line reason for empty, oversized, truncated, corrupt or
    non-image input and for images above ``max_pixels``.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    label = source_id or "image"
    if not data:
        raise ImageError(f"{label}: the file is empty (0 bytes)")
    if len(data) > max_bytes:
        raise ImageError(f"{label}: the file is {len(data):,} bytes, above the {max_bytes:,} limit")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            w, h = img.size
            if w * h > max_pixels:
                raise ImageError(
                    f"{label}: {w}x{h} is {w * h:,} pixels, above the {max_pixels:,} pixel limit "
                    "(possible decompression bomb)"
                )
            img.load()
            oriented: Image.Image = ImageOps.exif_transpose(img) or img
            rgb = _to_rgb_array(oriented)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(
            f"{label}: above the pixel limit, refused as a possible decompression bomb ({exc})"
        ) from exc
    except UnidentifiedImageError as exc:
        raise ImageError(f"{label}: not an image file Watchkeeper can read") from exc
    except OSError as exc:
        # Pillow reports truncated and corrupt data as OSError ("image file is truncated").
        raise ImageError(f"{label}: the image is truncated or corrupt ({exc})") from exc
    except (ValueError, SyntaxError, EOFError) as exc:
        raise ImageError(f"{label}: the image data is corrupt ({exc})") from exc
    return Frame(rgb, source_id=source_id)


def load_image(
    path: str | Path,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Frame:
    """Read and decode an image file; see :func:`decode_image`."""
    p = Path(path)
    if not p.exists():
        raise ImageError(f"{p}: no such file")
    if p.is_dir():
        raise ImageError(f"{p}: is a folder, not an image file")
    size = p.stat().st_size
    if size > max_bytes:
        raise ImageError(f"{p}: the file is {size:,} bytes, above the {max_bytes:,} limit")
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ImageError(f"{p}: cannot be read ({exc.strerror})") from exc
    return decode_image(data, source_id=str(p), max_pixels=max_pixels, max_bytes=max_bytes)


IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}
)


def is_image_path(path: Path) -> bool:
    """True for file names with a common image suffix."""
    return path.suffix.lower() in IMAGE_SUFFIXES
