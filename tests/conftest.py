"""Shared fixtures live in tests/support/ as plugins, one module per real server the tests start."""
from pathlib import Path

import pytest

from kalas.dataset import SHARED_DATA

pytest_plugins = [
    "tests.support.mongo",
    "tests.support.torchserve",
]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data sets (`kalas.dataset.SHARED_DATA`: `../shared/data`), read in place, never copied."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"the shared data set is missing: expected it at {SHARED_DATA}")
    return SHARED_DATA
