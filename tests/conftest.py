"""Shared fixtures live in tests/support/ as plugins, one module per real server the tests start."""
from pathlib import Path

import pytest

pytest_plugins = [
    "tests.support.mongo",
    "tests.support.torchserve",
]

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """`../shared/data`, read in place (never copied into the project)."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"the shared data set is missing: expected it at {SHARED_DATA}")
    return SHARED_DATA
