"""Requests per second, latency and memory for each token route, measured with wrk.

Run from the project root after the README's install (and `apt-get install wrk`):

    .venv/bin/python bench/routes.py [--workers 2] [--seconds 10] [--rounds 3] [--python PATH]

It starts the service on 127.0.0.1 (--dev, rate limits off so the load is not refused,
logs to a file), drives each route with `wrk -t1` at 1, 64 and 256 connections, and
prints a Markdown table: requests/s, p50, p99, non-2xx answers, the CPU time the host
stole from this VM during each run (a noisy neighbour), and the peak resident memory of
each service process (VmHWM).

With several rounds, every route and connection count runs once per round, rounds one
after the other, so a slow minute on a shared VM lands on one run of each row rather than
on every run of one row. The table gives each row's median and its runs in round order.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from collections.abc import Mapping, Sequence

from wrkrun import (
    PAUSE_SECONDS,
    interpreter,
    milliseconds,
    peak_memory_mib,
    running_service,
    wrk,
)

ROUTES = [
    ("POST /fetch_rtc_token", "/fetch_rtc_token", "fetch_rtc_token.lua"),
    ("POST /v1/agora/rtc-token", "/v1/agora/rtc-token", "agora_rtc_token.lua"),
    ("POST /token", "/token", "openvidu_token.lua"),
    ("GET /get-token", "/get-token", None),
]
CONNECTIONS = (1, 64, 256)

# One row's runs, in round order: wrk's results as wrkrun.wrk returns them.
Results = Mapping[tuple[str, int], Sequence[Mapping[str, str]]]


def _ms(value: float) -> str:
    return f"{value:.2f} ms" if value < 10 else f"{value:.1f} ms"


def _latency(runs: Sequence[Mapping[str, str]], key: str) -> tuple[float, ...]:
    return tuple(milliseconds(run[key]) for run in runs)


def table(results: Results) -> str:
    """One row per route and connection count: the median of its runs, then every run."""
    lines = [
        "| route | connections | requests/s (median) | requests/s by round | p50 (median) "
        "| p99 (median) | p99 by round | max | non-2xx | socket errors | CPU steal by round |",
        "|---|---:|---:|---|---:|---:|---|---:|---:|---|---|",
    ]
    for (route, connections), runs in results.items():
        rps = [float(run["rps"]) for run in runs]
        p99 = _latency(runs, "p99")
        socket_errors = [run["socket"] for run in runs if run["socket"] != "none"]
        cells = [
            route,
            str(connections),
            f"{statistics.median(rps):,.0f}",
            " / ".join(f"{value:,.0f}" for value in rps),
            _ms(statistics.median(_latency(runs, "p50"))),
            _ms(statistics.median(p99)),
            " / ".join(f"{value:.1f}" for value in p99) + " ms",
            _ms(max(_latency(runs, "max"))),
            str(sum(int(run["non2xx"]) for run in runs)),
            "; ".join(socket_errors) or "none",
            " / ".join(run["steal"] for run in runs),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3, help="runs of every row (default 3)")
    parser.add_argument(
        "--python",
        default=sys.executable,
        metavar="PATH",
        help="the interpreter (with the service installed) that runs it (default: this one)",
    )
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2
    results: dict[tuple[str, int], list[dict[str, str]]] = {
        (name, connections): [] for name, _, _ in ROUTES for connections in CONNECTIONS
    }
    with running_service(args.workers, args.python) as (base, service):
        for round_number in range(1, args.rounds + 1):
            for name, path, script in ROUTES:
                for connections in CONNECTIONS:
                    time.sleep(PAUSE_SECONDS)
                    result = wrk(f"{base}{path}", script, connections, args.seconds)
                    results[name, connections].append(result)
                    print(
                        f"round {round_number}: {name} at {connections}: "
                        f"{float(result['rps']):,.0f} requests/s, p99 {result['p99']}",
                        file=sys.stderr,
                        flush=True,
                    )
        peaks = peak_memory_mib(service.pid)
    print(f"this service on {interpreter(args.python)}\n")
    print(table(results))
    print(f"\npeak memory per process (MiB): {', '.join(f'{p:.1f}' for p in peaks)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
