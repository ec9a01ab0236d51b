"""Uploaded images: read, size-checked and decoded safely, with the service's pixel limit."""

from __future__ import annotations

import base64
import binascii

from fastapi import UploadFile

from watchkeeper.config.settings import Settings
from watchkeeper.core import Frame
from watchkeeper.core.errors import ImageError, InvalidInputError
from watchkeeper.governance.policy import safe_excerpt
from watchkeeper.sources.images import decode_image


def _label(filename: str | None) -> str:
    return safe_excerpt(filename or "upload", 80)


def decode_upload(data: bytes, filename: str | None, settings: Settings) -> Frame:
    """Decode uploaded bytes, refusing oversized, corrupt and decompression-bomb images."""
    return decode_image(
        data,
        source_id=_label(filename),
        max_pixels=settings.api.max_image_pixels,
        max_bytes=settings.api.max_body_bytes,
    )


def read_upload(upload: UploadFile, settings: Settings) -> Frame:
    """Read an ``UploadFile`` (from a sync route: the spooled file is read directly)."""
    limit = settings.api.max_body_bytes
    data = upload.file.read(limit + 1)
    if len(data) > limit:
        raise ImageError(f"{_label(upload.filename)}: larger than the {limit:,}-byte limit")
    return decode_upload(data, upload.filename, settings)


def decode_base64_image(text: object, field: str, settings: Settings) -> Frame:
    """Decode an image sent as base64 text in a JSON body (CompreFace's alternative to upload)."""
    if not isinstance(text, str) or not text:
        raise InvalidInputError(f"{field} must be a non-empty base64 string")
    payload = text.split(",", 1)[1] if text.startswith("data:") else text
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImageError(f"{field}: not valid base64 ({exc})") from exc
    return decode_upload(data, field, settings)
