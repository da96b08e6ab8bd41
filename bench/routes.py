"""Requests per second, latency and memory for each token route, measured with wrk.

Run from the project root after the README's install (and `apt-get install wrk`):

    .venv/bin/python bench/routes.py [--workers 2] [--seconds 10]

It starts the service on 127.0.0.1 (--dev, rate limits off so the load is not refused,
logs to a file), drives each route with `wrk -t1` at 1, 64 and 256 connections, and
prints a Markdown table: requests/s, p50, p99, non-2xx answers, the CPU time the host
stole from this VM during the run (a noisy neighbour), and the peak resident memory of each
service process (VmHWM).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time

from wrkrun import PAUSE_SECONDS, peak_memory_mib, running_service, wrk

ROUTES = [
    ("POST /fetch_rtc_token", "/fetch_rtc_token", "fetch_rtc_token.lua"),
    ("POST /v1/agora/rtc-token", "/v1/agora/rtc-token", "agora_rtc_token.lua"),
    ("POST /token", "/token", "openvidu_token.lua"),
    ("GET /get-token", "/get-token", None),
]
CONNECTIONS = (1, 64, 256)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2
    with running_service(args.workers) as (base, service):
        header = "route | connections | requests/s | p50 | p99 | max | non-2xx | socket errors"
        print(f"| {header} | CPU steal |")
        print("|---|---:|---:|---:|---:|---:|---:|---|---:|")
        for name, path, script in ROUTES:
            for connections in CONNECTIONS:
                time.sleep(PAUSE_SECONDS)
                result = wrk(f"{base}{path}", script, connections, args.seconds)
                rps = f"{float(result['rps']):,.0f}"
                row = [name, str(connections), rps, result["p50"], result["p99"], result["max"]]
                row += [result["non2xx"], result["socket"], result["steal"]]
                print("| " + " | ".join(row) + " |", flush=True)
        peaks = peak_memory_mib(service.pid)
        print(f"\npeak memory per process (MiB): {', '.join(f'{p:.1f}' for p in peaks)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
