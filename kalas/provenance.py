"""Where a trained artefact came from: the git commit, portable data paths (file digests: handlers/archive.py)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path


def git_commit() -> str:
    """`git describe --always --dirty` of the working tree, or "unknown" outside a git checkout."""
    try:
        result = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=40"], capture_output=True, text=True, check=True
        )
        return result.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def portable_path(path: str | Path) -> str:
    """The path relative to the working directory when it lies near it, so no machine path is recorded."""
    relative = os.path.relpath(Path(path).resolve())
    return relative if not relative.startswith("../" * 3) else Path(path).name

