"""The API's client for TorchServe (api/clients/keepalive_http.py) against httpx, side by side in one run.

Each client POSTs a photo-sized body to a loopback server in another process (which answers a small JSON body, as
TorchServe answers an annotation) one request at a time on a kept-alive connection, after a pause like the model's;
the figure is this process's CPU per call (what the API spends of the cores the model needs), and the wall time.

    python -m scripts.bench_http_clients [--requests 2000] [--pause-ms 0]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time

import httpx

from api.clients.keepalive_http import KeepAliveHttp

ANSWER = b'{"category": [{"label": "tshirt", "name": "T-Shirt", "score": 0.91}], "attributes": {}, "colours": []}'
SERVER = f"""
import asyncio
async def serve(reader, writer):
    while True:
        head = await reader.readuntil(b"\\r\\n\\r\\n")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\\r\\n") if line.lower().startswith(b"content-length"))
        await reader.readexactly(length)
        writer.write(b"HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\nContent-Length: {len(ANSWER)}\\r\\n\\r\\n" + {ANSWER!r})
        await writer.drain()
async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()
asyncio.run(main())
"""


async def _measure(call, requests: int, pause_s: float) -> tuple[float, float]:
    """(CPU µs per call, median wall µs per call), after a warm-up."""
    for _ in range(50):
        await call()
    walls = []
    cpu = time.process_time()
    for _ in range(requests):
        if pause_s:
            await asyncio.sleep(pause_s)
        started = time.perf_counter()
        await call()
        walls.append(time.perf_counter() - started)
    return (time.process_time() - cpu) / requests * 1e6, statistics.median(walls) * 1e6


async def run(port: int, requests: int, pause_s: float) -> dict[str, tuple[float, float]]:
    body = os.urandom(5 * 1024)  # a 5 KB thumbnail
    headers = {"Content-Type": "application/octet-stream"}
    ours = KeepAliveHttp(f"http://127.0.0.1:{port}")
    theirs = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", trust_env=False)
    figures = {}
    try:
        for _ in range(2):  # alternated, so neither has the warmer machine
            figures.setdefault("keepalive_http", []).append(await _measure(
                lambda: ours.request("POST", "/predictions/x", body=body, headers=headers, timeout=10), requests, pause_s))
            figures.setdefault("httpx", []).append(await _measure(
                lambda: theirs.post("/predictions/x", content=body, headers=headers), requests, pause_s))
    finally:
        await ours.aclose()
        await theirs.aclose()
    return {name: min(runs) for name, runs in figures.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m scripts.bench_http_clients", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--pause-ms", type=float, default=0.0, help="idle time before each call (the model's wait)")
    args = parser.parse_args(argv)
    server = subprocess.Popen([sys.executable, "-c", SERVER],
                              stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline())
        figures = asyncio.run(run(port, args.requests, args.pause_ms / 1000))
    finally:
        server.terminate()
        server.wait(10)
    base = figures["keepalive_http"][0]
    for name, (cpu, wall) in figures.items():
        print(f"{name:16s} CPU {cpu:7.1f} µs/call ({cpu / base:.2f}×)   wall p50 {wall:7.1f} µs")
    print(f"({args.requests} calls each, best of two alternated runs; pause {args.pause_ms} ms; load average "
          f"{os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
