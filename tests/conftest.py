"""Shared fixtures: the evaluation data folder and small builders."""

from __future__ import annotations

from pathlib import Path

import pytest

from watchkeeper.config.paths import evaluation_data_dir


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The shared evaluation data; tests that need it skip, naming the folder, when absent."""
    folder = evaluation_data_dir()
    if not (folder / "README.md").exists():
        pytest.skip(f"evaluation data not found in {folder} (set WATCHKEEPER_DATA)")
    return folder
