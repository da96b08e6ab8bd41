"""What bench/routes.py and bench/compare.py share: running wrk against 127.0.0.1,
reading its report, and running the service the way both measure it."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from service.loadtest import read_cpu_ticks, steal_percent

HERE = Path(__file__).parent
# wrk ends a run by closing connections with requests still in flight; until the server
# has closed its side, a new connection that reuses one of those port pairs gets no
# SYN-ACK and retries a second later, which showed up as a p99 near 1 s in the next run.
PAUSE_SECONDS = 3
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def require_loopback(url: str) -> str:
    """The URL itself, if it points at this machine; load is never sent anywhere else."""
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname not in LOOPBACK_HOSTS:
        raise ValueError(f"{url!r}: only http://127.0.0.1, localhost or [::1] URLs are measured")
    return url


def milliseconds(value: str) -> float:
    """wrk's latency ("812.00us", "3.41ms", "1.02s") in milliseconds."""
    found = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value)
    if found is None:
        raise ValueError(f"not a wrk latency: {value!r}")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[found.group(2)]
    return float(found.group(1)) * scale


def parse_wrk(output: str) -> dict[str, str]:
    """Requests/s, p50, p99, max, non-2xx answers and socket errors from `wrk --latency`."""
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


def wrk(url: str, script: str | None, connections: int, seconds: int) -> dict[str, str]:
    """One `wrk -t1` run; `script` names a Lua file in bench/wrk (a POST body). Also
    reports the CPU steal during the run."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if script:
        command += ["-s", str(HERE / "wrk" / script)]
    before = read_cpu_ticks() or (0, 0)
    done = subprocess.run([*command, require_loopback(url)], capture_output=True, text=True)
    after = read_cpu_ticks() or (0, 0)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed on {url}: {done.stderr.strip()}")
    result = parse_wrk(done.stdout)
    result["steal"] = f"{steal_percent(before, after):.1f}%"
    return result


def peak_memory_mib(root: int) -> list[float]:
    """Peak resident memory (VmHWM) of a process and its children."""
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


def interpreter(python: str) -> str:
    """What runs the service, for a report: implementation, version and path."""
    probe = "import platform; print(platform.python_implementation(), platform.python_version())"
    found = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=True)
    return f"{found.stdout.strip()} ({python})"


@contextlib.contextmanager
def running_service(
    workers: int, python: str = sys.executable
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The service on a free loopback port (--dev, the address rate limit off so wrk's
    single address is not throttled, JSON logs to a scratch file), run by the interpreter
    `python` (which must have the service installed), warmed up; yields its base URL and
    process."""
    port = free_port()
    with tempfile.TemporaryDirectory() as scratch:
        environ = {
            **os.environ,
            "EVENTS_DB_PATH": f"{scratch}/events.sqlite3",
            "RATE_LIMIT_ADDRESS_RATE": "0",
            "LOG_FORMAT": "json",
        }
        # A relative path names a file from here, not from the scratch directory.
        python = os.path.abspath(python) if os.sep in python else python
        command = [python, "-m", "service", "--dev", "--port", str(port)]
        command += ["--workers", str(workers)]
        with open(f"{scratch}/service.log", "wb") as log:
            # From the scratch directory: `-m` puts the working directory first on the
            # path, and the service must be the one installed in `python`'s environment.
            service = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=environ, cwd=scratch
            )
            try:
                time.sleep(3)
                base = f"http://127.0.0.1:{port}"
                # Warm-up, not reported, so no measured run pays for first-time work
                # (imports, caches). Before the service accepted connections itself,
                # every fresh burst of 256 had requests wait up to a second; see
                # service.workarounds.AcceptingListener.
                wrk(f"{base}/fetch_rtc_token", "fetch_rtc_token.lua", 256, 5)
                yield base, service
            finally:
                service.terminate()
                service.wait(timeout=60)
