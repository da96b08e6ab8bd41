"""Requests per second, latency and memory for each token route, measured with wrk.

Run from the project root after the README's install (and `apt-get install wrk`):

    .venv/bin/python bench/routes.py [--workers 2] [--seconds 10]

It starts the service on 127.0.0.1 (--dev, rate limits off so the load is not refused,
logs to a file), drives each route with `wrk -t1` at 1, 64 and 256 connections, and
prints a Markdown table: requests/s, p50, p99, non-2xx answers, and the peak resident
memory of each service process (VmHWM).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
ROUTES = [
    ("POST /fetch_rtc_token", "/fetch_rtc_token", "fetch_rtc_token.lua"),
    ("POST /v1/agora/rtc-token", "/v1/agora/rtc-token", "agora_rtc_token.lua"),
    ("POST /token", "/token", "openvidu_token.lua"),
    ("GET /get-token", "/get-token", None),
]
CONNECTIONS = (1, 64, 256)
PAUSE_SECONDS = 3


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wrk(url: str, script: str | None, connections: int, seconds: int) -> dict[str, str]:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if script:
        command += ["-s", str(HERE / "wrk" / script)]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    found = {
        "rps": re.search(r"Requests/sec:\s+([\d.]+)", output),
        "p50": re.search(r"\s50%\s+([\d.]+\w+)", output),
        "p99": re.search(r"\s99%\s+([\d.]+\w+)", output),
        "max": re.search(r"Latency\s+\S+\s+\S+\s+(\S+)", output),
        "non2xx": re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output),
        "socket": re.search(r"Socket errors: (.+)", output),
    }
    result = {k: (m.group(1) if m else "?") for k, m in found.items()}
    result["non2xx"] = found["non2xx"].group(1) if found["non2xx"] else "0"
    result["socket"] = found["socket"].group(1).strip() if found["socket"] else "none"
    return result


def _peak_memory_mib(root: int) -> list[float]:
    pids = [root]
    children = Path(f"/proc/{root}/task/{root}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    peaks = []
    for pid in pids:
        status = Path(f"/proc/{pid}/status").read_text()
        match = re.search(r"VmHWM:\s+(\d+) kB", status)
        if match:
            peaks.append(int(match.group(1)) / 1024)
    return peaks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2
    port = _free_port()
    with tempfile.TemporaryDirectory() as scratch:
        environ = {
            **os.environ,
            "EVENTS_DB_PATH": f"{scratch}/events.sqlite3",
            "RATE_LIMIT_ADDRESS_RATE": "0",
            "LOG_FORMAT": "json",
        }
        log = open(f"{scratch}/service.log", "w")  # noqa: SIM115 - closed below
        service = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "service",
                "--dev",
                "--port",
                str(port),
                "--workers",
                str(args.workers),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=environ,
        )
        try:
            time.sleep(3)
            # Warm-up, not reported: the first burst of 256 connections to a fresh service
            # had a few requests wait up to a second (max 0.4-1.0 s; p99 up to 399 ms) in
            # four runs out of five, and no later 256-connection run did.
            _wrk(f"http://127.0.0.1:{port}/fetch_rtc_token", "fetch_rtc_token.lua", 256, 5)
            header = "route | connections | requests/s | p50 | p99 | max | non-2xx | socket errors"
            print(f"| {header} |")
            print("|---|---:|---:|---:|---:|---:|---:|---|")
            for name, path, script in ROUTES:
                for connections in CONNECTIONS:
                    # wrk ends a run by closing connections with requests still in
                    # flight; until the service has closed its side, a new connection
                    # that reuses one of those port pairs gets no SYN-ACK and retries a
                    # second later, which showed up as a p99 near 1 s in the next run.
                    time.sleep(PAUSE_SECONDS)
                    result = _wrk(
                        f"http://127.0.0.1:{port}{path}", script, connections, args.seconds
                    )
                    rps = f"{float(result['rps']):,.0f}"
                    row = [name, str(connections), rps, result["p50"], result["p99"], result["max"]]
                    row += [result["non2xx"], result["socket"]]
                    print("| " + " | ".join(row) + " |", flush=True)
            peaks = _peak_memory_mib(service.pid)
            print(f"\npeak memory per process (MiB): {', '.join(f'{p:.1f}' for p in peaks)}")
        finally:
            service.terminate()
            service.wait(timeout=60)
            log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
