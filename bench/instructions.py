"""Instructions per request through the whole application, counted by valgrind.

    apt-get install valgrind
    .venv/bin/python bench/instructions.py                # every route below
    .venv/bin/python bench/instructions.py fetch_rtc_token

Requests/s on a shared VM moves by 10-20 % from one run to the next, more than most single
changes to the hot path are worth. An instruction count does not move: this script builds
the application exactly as `serve` does (dev settings, JSON logs, multiprocess metrics),
hands raw HTTP requests to aiohttp's protocol through an in-memory transport (no sockets,
no kernel), and runs that under valgrind's cachegrind twice per route, with N and 3N
requests after the same warm-up. The difference divided by 2N is the instructions one
request costs, start-up excluded. Compare two commits by running it in each.

Instructions are a proxy for time, not a measure of it: a 64 KiB memset inside zlib
counts as many instructions as it writes bytes, and system calls count as one.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

WRK_SCRIPTS = Path(__file__).resolve().parent / "wrk"
# Each request's line, and the wrk script whose body it sends (as bench/routes.py does).
REQUESTS: dict[str, tuple[str, str | None]] = {
    "fetch_rtc_token": ("POST /fetch_rtc_token", "fetch_rtc_token.lua"),
    "v1_rtc_token": ("POST /v1/agora/rtc-token", "agora_rtc_token.lua"),
    "token": ("POST /token", "openvidu_token.lua"),
    "get_token": ("GET /get-token", None),
    "healthz": ("GET /healthz", None),
}
WARM_UP = 300


def _body(script: str | None) -> bytes:
    if script is None:
        return b""
    found = re.search(r"^wrk\.body = '(.*)'$", (WRK_SCRIPTS / script).read_text(), re.MULTILINE)
    if found is None:
        raise SystemExit(f"no wrk.body in bench/wrk/{script}")
    return found.group(1).encode()


def _http_request(name: str) -> bytes:
    line, script = REQUESTS[name]
    body = _body(script)
    head = f"{line} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    if body:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


class _MemoryTransport(asyncio.Transport):
    """Takes what the server writes and wakes the driver; nothing leaves the process."""

    def __init__(self) -> None:
        super().__init__()
        self.answered = asyncio.Event()
        self.last = b""

    def write(self, data: Any) -> None:
        self.last = bytes(data)
        self.answered.set()

    def writelines(self, list_of_data: Any) -> None:
        self.write(b"".join(list_of_data))

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 6080)}.get(
            name, default
        )

    def get_write_buffer_size(self) -> int:
        return 0

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def is_reading(self) -> bool:
        return True


async def _drive(name: str, count: int) -> None:
    from service.app import create_app
    from service.config import load_settings
    from service.server import DrainingRunner, prepare

    settings = load_settings(os.environ, dev=True, host="127.0.0.1", port=6080, workers=1)
    prepare(settings)
    runner = DrainingRunner(create_app(settings), grace=1)
    await runner.setup()
    assert runner.server is not None
    transport = _MemoryTransport()
    protocol = runner.server()
    protocol.connection_made(transport)
    raw = _http_request(name)
    for _ in range(WARM_UP + count):
        transport.answered.clear()
        protocol.data_received(raw)
        async with asyncio.timeout(60):  # a request that is never answered fails the run
            await transport.answered.wait()
        await asyncio.sleep(0)
    if not transport.last.startswith(b"HTTP/1.1 200"):
        raise SystemExit(f"{name}: {transport.last[:200]!r}")
    await runner.cleanup()


def _child(name: str, count: int) -> None:
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(_drive(name, count))


def apps_file(count: int) -> str:
    """An APPS_FILE of `count` apps, each with credentials of its own on every platform;
    the first is `default`, so requests without an /apps/<name>/ prefix are its."""
    tables = []
    for n in range(count):
        name = "default" if n == 0 else f"app{n}"
        tables.append(
            f'[apps.{name}]\napi_keys = ["bench-key-{n:05d}-0123456789"]\n'
            f'[apps.{name}.agora]\napp_id = "{n + 1:032x}"\napp_certificate = "{n + 7:032x}"\n'
            f'[apps.{name}.livekit]\napi_key = "APIbench{n}"\n'
            f'api_secret = "bench-livekit-secret-{n:05d}-0123456789abcdef"\n'
            f'[apps.{name}.videosdk]\napi_key = "bench-videosdk-{n}"\n'
            f'secret_key = "bench-videosdk-secret-{n:05d}-0123456789abcdef"\n'
        )
    return "\n".join(tables)


def _instructions(name: str, count: int, scratch: str, apps: int) -> int:
    metrics_dir = tempfile.mkdtemp(dir=scratch)
    extra = {}
    if apps > 1:
        path = os.path.join(metrics_dir, "apps.toml")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(apps_file(apps))
        extra["APPS_FILE"] = path
    environ = {
        **os.environ,
        **extra,
        "EVENTS_DB_PATH": f"{metrics_dir}/events.sqlite3",
        "RATE_LIMIT_ADDRESS_RATE": "0",
        "LOG_FORMAT": "json",
        "PROMETHEUS_MULTIPROC_DIR": metrics_dir,  # as with --workers 2
        # The same string hashes in every run: dict and set probes then repeat exactly.
        "PYTHONHASHSEED": "0",
    }
    result = subprocess.run(
        [
            "valgrind",
            "--tool=cachegrind",
            "--cache-sim=no",
            "--cachegrind-out-file=/dev/null",
            sys.executable,
            __file__,
            "--child",
            name,
            str(count),
        ],
        env=environ,
        stdout=subprocess.DEVNULL,  # the access log
        stderr=subprocess.PIPE,
        text=True,
        check=True,
    )
    found = re.search(r"I\s+refs:\s+([\d,]+)", result.stderr)
    if found is None:
        raise SystemExit(result.stderr[-2000:])
    return int(found.group(1).replace(",", ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("routes", nargs="*", help=f"any of {', '.join(REQUESTS)} (default: all)")
    parser.add_argument("--requests", type=int, default=1000, help="N (default 1000)")
    parser.add_argument(
        "--apps", type=int, default=1, help="serve this many apps from an APPS_FILE (default 1)"
    )
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], int(args.child[1]))
        return 0
    unknown = set(args.routes) - set(REQUESTS)
    if unknown:
        parser.error(f"unknown route {sorted(unknown)[0]!r}: choose from {', '.join(REQUESTS)}")
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: apt-get install valgrind", file=sys.stderr)
        return 2
    print("| request | instructions per request |\n|---|---:|", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.routes or REQUESTS:
            few = _instructions(name, args.requests, scratch, args.apps)
            many = _instructions(name, 3 * args.requests, scratch, args.apps)
            per_request = (many - few) / (2 * args.requests)
            print(f"| {REQUESTS[name][0]} | {per_request:,.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
