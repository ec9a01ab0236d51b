"""Watchkeeper: accountable face recognition and video analytics.

>>> import watchkeeper
>>> wk = watchkeeper.open(token="wk_...")  # doctest: +SKIP
>>> wk.identify("visitor.jpg", watchlist="staff", purpose="door access")  # doctest: +SKIP

Every search runs as a person, against a watchlist, for a stated purpose, and is audited; see
``watchkeeper.init_home_use`` for a one-person site. Importing this package loads no model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_FACADE = ("detect", "open", "init_home_use", "Session")
# Verbs that once worked without a person or a purpose; they now live on a Session.
_MOVED = ("enrol", "enrol_folder", "identify", "verify", "default_engine")

if TYPE_CHECKING:
    from watchkeeper.facade import Session, detect, init_home_use, open


def __getattr__(name: str) -> Any:
    # The facade pulls in pydantic and numpy; defer it so `import watchkeeper` stays instant.
    if name in _FACADE:
        from watchkeeper import facade

        return getattr(facade, name)
    if name == "Engine":
        from watchkeeper.service.engine import Engine

        return Engine
    if name in _MOVED:
        raise AttributeError(
            f"watchkeeper.{name} needs a person and a purpose: open a session first, "
            f"wk = watchkeeper.open(token=...), then call wk.{name}(...)"
        )
    raise AttributeError(f"module 'watchkeeper' has no attribute {name!r}")


__all__ = [
    "Engine",
    "Session",
    "__version__",
    "detect",
    "init_home_use",
    "open",
]
