"""Start and stop TorchServe from a shell: ready when start returns, gone when stop returns.

    python -m scripts.torchserve start [--model-store model_store]   # prints the URLs, leaves it running
    python -m scripts.torchserve stop

The server runs on free loopback ports with its pid file, worker sockets, unpacked archives and logs under
var/torchserve, as kalas/stack/torchserve.py starts every instance (the run command's, a benchmark's, the tests').
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from kalas.stack.torchserve import ROOT, Server, start, stop

STATE_DIR = ROOT / "var" / "torchserve"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["start", "stop"])
    parser.add_argument("--model-store", type=Path, default=ROOT / "model_store")
    args = parser.parse_args()
    state = STATE_DIR / "server.json"
    if args.command == "start":
        if state.exists():
            sys.exit(f"a server started from here may still run ({state}); run `python -m scripts.torchserve stop`")
        server = start(args.model_store, home=STATE_DIR)
        state.write_text(json.dumps(asdict(server), indent=2))
        print(json.dumps(asdict(server), indent=2))
    else:
        if not state.exists():
            sys.exit("no server started from here is recorded; nothing to stop")
        stop(Server(**json.loads(state.read_text())))
        state.unlink()
        print("TorchServe stopped")


if __name__ == "__main__":
    main()
