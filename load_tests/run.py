"""The load run: the whole service on loopback, TorchServe alone as the baseline, then mixed load with a model switch.

    python -m load_tests.run                       # 30 s baseline, then 120 s of mixed load, switch at 40%
    python -m load_tests.run --duration 30 --baseline 10 --annotators 4 --json var/load/report.json

1. Builds the archives twice from checkpoints/ (version 1.0, and 1.1 for the switch) into a fresh model store.
2. Starts nx-27017, TorchServe with config.production.properties (token authorization on, registration only from
   the model store), a WooCommerce store emulator, the API and the worker, all on free loopback ports.
3. Provisions shops with API keys, a seeded catalogue, a rate-limit probe key and a WooCommerce integration.
4. Baseline: locust's TorchServeAlone users post the photos straight to TorchServe for `--baseline` seconds.
5. Load: Annotator, Shopper, WebhookBurst and RateLimitProbe users for `--duration` seconds; meanwhile
   scripts/register_model.py's `register` puts fashion-attributes 1.1 into service.
6. Prints p50/p95 per endpoint, throughput, failures, the annotate/baseline ratio and the versions that answered.
Exits non-zero when a request failed (other than the probe's deliberate 429s), when the probe was never refused
or was refused without Retry-After, or when the switch failed.
"""
from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from handlers.archive import DEFAULT_CHECKPOINT
from load_tests.provision import provision, wait_for_queue
from load_tests.report import as_json, read_failures, read_stats, steady_rps, table
from load_tests.stack import Stack, cpu_seconds, start_stack, stop_stack
from scripts.register_model import TorchServeAdmin, read_archive, register

ROOT = Path(__file__).resolve().parents[1]
LOCUSTFILE = ROOT / "load_tests" / "locustfile.py"
MIX = ("Annotator", "Shopper", "WebhookBurst", "RateLimitProbe")
FIXED_USERS = 3  # Shopper, WebhookBurst and RateLimitProbe: one each (their `fixed_count`)


def run_locust(stack: Stack, classes: list[str], users: int, seconds: int, host: str, csv_prefix: Path,
               setup: Path) -> dict[str, float]:
    """Run locust headless; returns the CPU seconds each part of the system used meanwhile."""
    command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary",
               "-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--stop-timeout", "30",
               "--host", host, "--csv", str(csv_prefix), "--csv-full-history", "--loglevel", "WARNING", *classes]
    before, children, runner, started = cpu_seconds(stack), _children_cpu(), _own_cpu(), time.monotonic()
    with csv_prefix.with_suffix(".log").open("wb") as out:
        subprocess.run(command, cwd=ROOT, env={**_env(), "KALAS_LOAD_SETUP": str(setup)}, stdout=out,
                       stderr=subprocess.STDOUT)
    used = {name: round(value - before.get(name, 0.0), 1) for name, value in cpu_seconds(stack).items()}
    used["locust"] = round(_children_cpu() - children, 1)
    used["store emulator (this process)"] = round(_own_cpu() - runner, 1)
    used["wall clock"] = round(time.monotonic() - started, 1)
    return used


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("KALAS_")}


class Switch(threading.Thread):
    """Registers the next model version after `delay_s`, while the load runs."""

    def __init__(self, stack: Stack, archive: Path, check_image: Path, delay_s: float) -> None:
        super().__init__(daemon=True)
        self.stack, self.archive, self.check_image, self.delay_s = stack, archive, check_image, delay_s
        self.result: dict = {}

    def run(self) -> None:
        time.sleep(self.delay_s)
        admin = TorchServeAdmin(self.stack.torchserve.management_url, self.stack.torchserve.inference_url,
                                self.stack.key_file)
        archive = read_archive(self.archive)
        started = time.time()
        try:
            old = register(admin, archive, self.check_image)
            self.result = {"ok": True, "from": old, "to": archive.version, "started": started, "switched": time.time()}
        except Exception as error:  # reported in the summary and in the exit status
            self.result = {"ok": False, "error": f"{type(error).__name__}: {error}", "started": started}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=120, help="seconds of mixed load (default 120)")
    parser.add_argument("--baseline", type=int, default=30, help="seconds of TorchServe alone (default 30)")
    # Enough closed loops to saturate the service, so that both phases measure its capacity and not users over
    # latency: with two TorchServe workers per model, 6 left the path through the API latency-bound (annotate
    # 0.77 of TorchServe alone; 0.83 with 8 and with 10: docs/benchmarks.md, "Load").
    parser.add_argument("--annotators", type=int, default=8, help="closed-loop annotating users, in both phases")
    parser.add_argument("--switch-at", type=float, default=0.4, help="when the model switch starts (fraction of the run)")
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT, help="the model the archives are built from")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    parser.add_argument("--keep", action="store_true", help="keep the run's directory (logs, CSVs)")
    args = parser.parse_args(argv)

    home = Path(tempfile.mkdtemp(prefix="kalas-load-"))
    print(f"run directory: {home}")
    stack = start_stack(home, args.checkpoint)
    try:
        setup = provision(stack, home)
        setup_file = home / "setup.json"
        setup_file.write_text(json.dumps(setup, indent=1))
        print(f"service up: API {stack.api_url}, TorchServe {stack.torchserve.inference_url} (token auth on)")

        print(f"baseline: {args.annotators} users, TorchServe alone, {args.baseline} s ...")
        baseline_cpu = run_locust(stack, ["TorchServeAlone"], args.annotators, args.baseline,
                                  stack.torchserve.inference_url, home / "baseline", setup_file)
        baseline = read_stats(home / "baseline")

        print(f"load: {args.annotators} annotators + shopper + webhook bursts + rate-limit probe, {args.duration} s; "
              f"fashion-attributes 1.1 goes into service at {args.switch_at:.0%} ...")
        switch = Switch(stack, stack.next_archive, Path(setup["photos"][0]), args.duration * args.switch_at)
        switch.start()
        load_cpu = run_locust(stack, list(MIX), args.annotators + FIXED_USERS, args.duration, stack.api_url,
                              home / "load", setup_file)
        switch.join(timeout=300)
        load, failures = read_stats(home / "load"), read_failures(home / "load")
        jobs = wait_for_queue(stack, timeout_s=120)
        tally = json.loads((home / "tally.json").read_text()) if (home / "tally.json").is_file() else {}
    finally:
        stop_stack(stack)

    # Steady-state throughput of both sides: all users running, the first seconds left out.
    alone = steady_rps(home / "baseline", "torchserve: fashion-attributes", args.annotators)
    under_load = steady_rps(home / "load", "annotate", args.annotators + FIXED_USERS)
    failed = sum(e.failures for name, e in load.items() if name != "Aggregated")
    figures = {"baseline": as_json(baseline), "load": as_json(load), "failures": failures, "switch": switch.result,
               "annotate_rps": round(under_load, 2), "torchserve_alone_rps": round(alone, 2),
               "annotate_vs_torchserve_alone": round(under_load / alone, 3) if alone else None, "jobs": jobs,
               "cpu_seconds": {"baseline": baseline_cpu, "load": load_cpu}, "tally": tally, "duration_s": args.duration, "baseline_s": args.baseline, "annotators": args.annotators}
    print("\nTorchServe alone (baseline)\n" + table(baseline))
    print("\nMixed load through the service\n" + table(load))
    print(f"\nannotate under load: {under_load:.2f} req/s; TorchServe alone: {alone:.2f} req/s; "
          f"ratio {figures['annotate_vs_torchserve_alone']}")
    print(f"failed requests: {failed}; deliberate 429s: {tally.get('deliberate_429', 0)} "
          f"(without Retry-After: {tally.get('retry_after_missing', 0)})")
    for failure in failures:
        print(f"  {failure['Occurrences']} x {failure['Method']} {failure['Name']}: {failure['Error'][:200]}")
    print(f"model switch: {switch.result}")
    print(f"annotations by model version: {tally.get('versions')}")
    print(f"webhook jobs after the run: {jobs}")
    print(f"CPU seconds, baseline: {baseline_cpu}")
    print(f"CPU seconds, load:     {load_cpu}  (2 cores)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=1))
    if not args.keep:
        shutil.rmtree(home, ignore_errors=True)
    probe_ok = tally.get("deliberate_429", 0) > 0 and tally.get("retry_after_missing", 0) == 0
    if not probe_ok:
        print("the rate-limit probe was never refused, or was refused without Retry-After")
    return 0 if failed == 0 and probe_ok and switch.result.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
