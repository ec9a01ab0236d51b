"""Typed errors shared by every layer.

Every error carries a plain-words message meant for the person at the keyboard; the CLI prints
``str(error)`` on one line and the API maps the class to a status code.
"""

from __future__ import annotations


class WatchkeeperError(Exception):
    """Base class for every error Watchkeeper raises on purpose."""

    exit_code = 1


class InvalidInputError(WatchkeeperError):
    """The caller passed something that cannot be used (bad value, wrong shape)."""

    exit_code = 2


class ImageError(InvalidInputError):
    """A file or byte string could not be read as a safe, usable image."""

    exit_code = 3


class NoFaceError(InvalidInputError):
    """An operation needed a face and the image has none that passes the quality gates."""

    exit_code = 4


class MultipleFacesError(InvalidInputError):
    """An operation needed exactly one face and the image has several."""

    exit_code = 5


class NotFoundError(WatchkeeperError):
    """A named identity, template, watchlist or record does not exist."""

    exit_code = 6


class ContractMismatchError(WatchkeeperError):
    """Embeddings made by different models or preprocessing were about to be compared."""

    exit_code = 7


class ModelFileError(WatchkeeperError):
    """A model weight file is missing, truncated, altered or not the file we expect."""

    exit_code = 8


class StoreError(WatchkeeperError):
    """The persistent store is unreadable, from a newer version, or otherwise unusable."""

    exit_code = 9


class PolicyViolationError(WatchkeeperError):
    """A request would break the responsible-use policy (for example a protected attribute)."""

    exit_code = 10


class PermissionDeniedError(WatchkeeperError):
    """The principal's role does not allow this action, or the purpose does not cover it."""

    exit_code = 11


class ConfigError(WatchkeeperError):
    """A setting is missing or invalid."""

    exit_code = 12


class SourceError(WatchkeeperError):
    """A camera, stream, video file or image folder cannot be opened or yields nothing usable."""

    exit_code = 13


class DeliveryError(WatchkeeperError):
    """An event could not be handed to an external receiver (webhook, MQTT broker) this time."""

    exit_code = 14
