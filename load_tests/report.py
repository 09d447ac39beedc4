"""Reading locust's CSV statistics and printing the run's summary (p50/p95 per endpoint, throughput, failures)."""
from __future__ import annotations

import csv
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Endpoint:
    name: str
    requests: int
    failures: int
    p50_ms: float
    p95_ms: float
    rps: float


def read_stats(prefix: Path) -> dict[str, Endpoint]:
    """`{prefix}_stats.csv` by request name; the row locust calls "Aggregated" is kept under that name."""
    with open(f"{prefix}_stats.csv", newline="") as handle:
        return {row["Name"]: Endpoint(row["Name"], int(row["Request Count"]), int(row["Failure Count"]),
                                      _ms(row["50%"]), _ms(row["95%"]), float(row["Requests/s"]))
                for row in csv.DictReader(handle)}


def steady_rps(prefix: Path, name: str, users: int, warmup_s: float = 5.0) -> float:
    """Requests per second of `name` once all `users` run, after `warmup_s`, to the end of the run: locust's own
    figure counts the spawn and the first, slower requests too. Needs `--csv-full-history`."""
    with open(f"{prefix}_stats_history.csv", newline="") as handle:
        rows = [(float(r["Timestamp"]), int(r["Total Request Count"])) for r in csv.DictReader(handle)
                if r["Name"] == name and int(r["User Count"]) >= users]
    if not rows:
        return 0.0
    start = next(((t, n) for t, n in rows if t >= rows[0][0] + warmup_s), rows[0])
    end = rows[-1]
    return (end[1] - start[1]) / (end[0] - start[0]) if end[0] > start[0] else 0.0


def read_failures(prefix: Path) -> list[dict[str, str]]:
    path = Path(f"{prefix}_failures.csv")
    if not path.is_file():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _ms(value: str) -> float:
    return float(value) if value not in ("", "N/A") else float("nan")


def table(stats: dict[str, Endpoint]) -> str:
    lines = [f"{'endpoint':34} {'requests':>9} {'failed':>7} {'p50 ms':>8} {'p95 ms':>8} {'req/s':>8}"]
    for endpoint in stats.values():
        lines.append(f"{endpoint.name:34} {endpoint.requests:9d} {endpoint.failures:7d} {endpoint.p50_ms:8.0f} "
                     f"{endpoint.p95_ms:8.0f} {endpoint.rps:8.2f}")
    return "\n".join(lines)


def as_json(stats: dict[str, Endpoint]) -> dict[str, dict]:
    return {name: asdict(endpoint) for name, endpoint in stats.items()}
