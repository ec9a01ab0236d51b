"""Where the evaluation data and the site's data directory live."""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "WATCHKEEPER_DATA"
HOME_ENV = "WATCHKEEPER_HOME"


def repo_root() -> Path:
    """The checkout this package runs from (src layout: src/watchkeeper/config/paths.py)."""
    return Path(__file__).resolve().parents[3]


def evaluation_data_dir() -> Path:
    """Folder with the shared evaluation data: ``$WATCHKEEPER_DATA`` or ``../shared/data``."""
    configured = os.environ.get(DATA_ENV)
    if configured:
        return Path(configured).expanduser()
    return repo_root().parent / "shared" / "data"


def default_home() -> Path:
    """The site's data directory: ``$WATCHKEEPER_HOME`` or ``~/.watchkeeper``."""
    configured = os.environ.get(HOME_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".watchkeeper"
