"""Shared fixtures live in tests/support/ as plugins, one module per real server the tests start."""
from pathlib import Path

import pytest

from kalas import dataset

pytest_plugins = [
    "tests.support.mongo",
    "tests.support.torchserve",
]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data sets (`kalas.dataset.shared_data()`: `../shared/data`), read in place, never copied."""
    found = dataset.shared_data()
    if not found.is_dir():
        pytest.fail(f"the shared data set is missing: expected it at {found}")
    return found
