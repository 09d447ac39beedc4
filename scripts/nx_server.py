"""nx-27017 as this project runs it: each connection answered on a thread of its own, no log line per command.

nx-27017's default server reads commands on an asyncio loop and hands each to a worker thread and back
(`asyncio.to_thread`): three threads to wake per command. After the database has sat idle, as it does for the
~28 ms the model takes to answer an annotate request, each wake-up starts on a cold core, and the write that
follows the model's answer waits for all three. Its threaded server (`--threaded`) reads, runs and answers a
command on the connection's own thread, the same handler code under the same locks. Measured on the 2-core
machine (docs/benchmarks.md): a ping after 28 ms idle 0.74–0.84 ms against 1.14–1.19 ms, a small insert 1.08–1.15
ms against 1.41–1.56 ms.

The threaded server logs every command at INFO (about 220 bytes a command, to its log file and to stderr),
which would grow the log without bound, so nx-27017's own logger is set to WARNING; the SQLite layer's
warnings and nx-27017's errors still reach the log.

    python scripts/nx_server.py --data-dir DIR --port PORT [nx-27017's other options]
"""
from __future__ import annotations

import logging
import sys

from nx_27017.nx_27017 import main


def serve(argv: list[str]) -> None:
    logging.getLogger("nx_27017").setLevel(logging.WARNING)
    sys.argv = ["nx-27017", "--threaded", *argv]
    main()


if __name__ == "__main__":
    serve(sys.argv[1:])
