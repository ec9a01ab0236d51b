"""Watchkeeper: accountable face recognition and video analytics.

>>> import watchkeeper
>>> watchkeeper.enrol("Ada Lovelace", "ada.jpg")  # doctest: +SKIP
>>> watchkeeper.identify("visitor.jpg").matches  # doctest: +SKIP

Importing this package loads no model; the first call does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_FACADE = ("detect", "enrol", "enrol_folder", "verify", "identify", "default_engine")

if TYPE_CHECKING:
    from watchkeeper.facade import default_engine, detect, enrol, enrol_folder, identify, verify


def __getattr__(name: str) -> Any:
    # The facade pulls in pydantic and numpy; defer it so `import watchkeeper` stays instant.
    if name in _FACADE:
        from watchkeeper import facade

        return getattr(facade, name)
    if name == "Engine":
        from watchkeeper.service.engine import Engine

        return Engine
    raise AttributeError(f"module 'watchkeeper' has no attribute {name!r}")


__all__ = [
    "Engine",
    "__version__",
    "default_engine",
    "detect",
    "enrol",
    "enrol_folder",
    "identify",
    "verify",
]
