"""Writing a file whole or not at all, the one way the index directory's files are written; whether the process
that named a file is still there."""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


@contextmanager
def written_whole(target: Path) -> Iterator[BinaryIO]:
    """A handle whose bytes become `target` only when the block ends without error: written to a temporary file
    beside it (`.<name>.<pid>.tmp`), flushed and fsynced, then renamed over `target`; removed on any error. A crash
    at any moment leaves the previous file or the new one, never a torn one."""
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def process_alive(pid: int) -> bool:
    """Whether process `pid` runs on this machine (a temporary file or claim named by it is not left over)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True
