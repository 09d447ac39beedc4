"""Run the embedded MongoDB-protocol server (nx-27017) in the foreground until Ctrl-C, its data under --home.

    python -m scripts.mongo --home var/mongo

The server is started as kalas/stack/mongo.py starts it for the run command, the benchmarks and the tests:
threaded, without a log line per command, its data, log and pid file under one directory, on a free loopback
port unless --port names one.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from kalas.stack.mongo import start, stop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, default=Path("var/mongo"))
    parser.add_argument("--port", type=int)
    args = parser.parse_args()
    server = start(args.home, port=args.port)
    print(f"nx-27017 at {server.uri} (data in {server.data_dir}); Ctrl-C stops it", flush=True)
    try:
        server.process.wait()
    except KeyboardInterrupt:
        stop(server)


if __name__ == "__main__":
    main()
