"""Encryption at rest for biometric blobs (template vectors and face crops), with a site key.

AES-256-GCM with a fresh 96-bit nonce per blob. The row's id is the associated data, so a blob
copied onto another row fails to decrypt instead of silently standing in for someone else. The
key never enters the database: only a key id (a keyed hash of the key) is stored, so a wrong
key is caught with a clear message rather than as garbage vectors.

Example:
    >>> cipher = SiteCipher(bytes(32))
    >>> blob = cipher.seal(b"vector bytes", "tpl_1")
    >>> cipher.open(blob, "tpl_1")
    b'vector bytes'
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from watchkeeper.core.errors import ConfigError, StoreError

KEY_ENV = "WATCHKEEPER_TEMPLATE_KEY"
KEY_BYTES = 32
_NONCE_BYTES = 12


class SiteCipher:
    """Seals and opens blobs with the site's AES-256 key."""

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, bytes) or len(key) != KEY_BYTES:
            raise ConfigError(f"the template key must be exactly {KEY_BYTES} bytes")
        self._aead = AESGCM(key)
        self._mac_key = hashlib.sha256(b"watchkeeper/template-digest\0" + key).digest()
        self.key_id = hashlib.sha256(b"watchkeeper/template-key-id\0" + key).hexdigest()[:16]

    def seal(self, plaintext: bytes, row_id: str) -> bytes:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, row_id.encode("utf-8"))

    def open(self, blob: bytes, row_id: str) -> bytes:
        try:
            return self._aead.decrypt(
                blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], row_id.encode("utf-8")
            )
        except (InvalidTag, ValueError):
            raise StoreError(
                f"encrypted data of {row_id} does not open with this key: it was altered, "
                "moved to another row, or sealed with another key"
            ) from None

    def digest(self, data: bytes) -> str:
        """A keyed digest, so duplicate detection does not expose an unkeyed hash of a vector."""
        return hmac.new(self._mac_key, data, hashlib.sha256).hexdigest()


def parse_key(text: str, origin: str) -> bytes:
    """A 32-byte key from base64 (44 characters) or hex (64 characters) text."""
    cleaned = text.strip()
    try:
        if len(cleaned) == 2 * KEY_BYTES:
            key = bytes.fromhex(cleaned)
        else:
            key = base64.b64decode(cleaned, validate=True)
    except (ValueError, binascii.Error):
        key = b""
    if len(key) != KEY_BYTES:
        raise ConfigError(
            f"the template key from {origin} must be {KEY_BYTES} random bytes written as base64 "
            "or hex; make one with `watchkeeper key new`"
        )
    return key


def load_site_cipher(key_file: Path | None) -> SiteCipher | None:
    """The site cipher from ``$WATCHKEEPER_TEMPLATE_KEY`` or ``key_file``; None when neither."""
    from_env = os.environ.get(KEY_ENV)
    if from_env:
        return SiteCipher(parse_key(from_env, KEY_ENV))
    if key_file is None:
        return None
    path = Path(key_file).expanduser()
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the template key file {path}: {exc}") from None
    if mode & 0o077:
        raise ConfigError(f"{path} is readable by others (mode {mode & 0o777:o}); chmod 600 it")
    return SiteCipher(parse_key(text, str(path)))


def new_key_text() -> str:
    """A fresh key as base64 text, for a key file or the environment variable."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")
