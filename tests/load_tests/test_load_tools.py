"""The load run's own parts: the multipart bodies locust sends, and the throughput read from locust's history."""
from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from starlette.datastructures import UploadFile
from starlette.requests import Request

from load_tests.forms import multipart
from load_tests.report import read_stats, steady_rps

ROOT = Path(__file__).resolve().parents[2]
HISTORY_HEADER = "Timestamp,User Count,Type,Name,Requests/s,Total Request Count\n"
STATS_HEADER = "Type,Name,Request Count,Failure Count,Requests/s,50%,95%\n"


def parse_form(body: bytes, headers: dict[str, str]) -> dict:
    """The body parsed by Starlette's form parser, as the API receives it."""
    scope = {"type": "http", "method": "POST", "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]}

    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    async def parse() -> dict:
        form = await Request(scope, receive).form()
        return {key: (await value.read() if isinstance(value, UploadFile) else value) for key, value in form.multi_items()}

    return asyncio.run(parse())


def test_multipart_bodies_carry_fields_and_files_byte_for_byte() -> None:
    photo = bytes(range(256)) * 40 + b"\r\n--not-a-boundary\r\n"
    body, headers = multipart({"k": "10", "catalogue": "shop"}, [("file", photo)])
    assert parse_form(body, headers) == {"k": "10", "catalogue": "shop", "file": photo}


def test_steady_throughput_leaves_out_the_spawn_and_the_warm_up(tmp_path: Path) -> None:
    rows = [(100, 2, 0), (101, 4, 3), (102, 4, 10), (103, 4, 20), (110, 4, 90), (120, 4, 190)]
    (tmp_path / "run_stats_history.csv").write_text(HISTORY_HEADER + "".join(
        f"{t},{users},POST,annotate,0,{count}\n{t},{users},,Aggregated,0,{count}\n" for t, users, count in rows))
    # All 4 users from t=101; 5 s of warm-up leaves the window 110..120: 100 requests in 10 s.
    assert steady_rps(tmp_path / "run", "annotate", users=4, warmup_s=5) == 10.0
    assert steady_rps(tmp_path / "run", "similar items", users=4) == 0.0


def test_stats_rows_by_name(tmp_path: Path) -> None:
    (tmp_path / "run_stats.csv").write_text(STATS_HEADER + "POST,annotate,120,0,4.0,310,900\n,Aggregated,120,0,4.0,310,N/A\n")
    stats = read_stats(tmp_path / "run")
    assert (stats["annotate"].requests, stats["annotate"].p50_ms, stats["annotate"].p95_ms) == (120, 310.0, 900.0)
    assert stats["Aggregated"].p95_ms != stats["Aggregated"].p95_ms  # N/A reads as NaN


def test_the_locustfile_loads_with_every_scenario() -> None:
    # In a subprocess: importing locust patches the importing process with gevent.
    listed = subprocess.run([sys.executable, "-m", "locust", "-f", str(ROOT / "load_tests" / "locustfile.py"), "--list"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert set(listed.stdout.split()) >= {"Annotator", "Shopper", "WebhookBurst", "RateLimitProbe", "TorchServeAlone"}
