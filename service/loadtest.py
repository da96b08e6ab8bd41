"""The renewal load tester: a fleet of virtual clients renewing short-lived tokens.

Each client fetches a token, then renews it when it has 30 s left, as the SDKs'
tokenPrivilegeWillExpire does, with jitter. Time can be compressed (a factor of 10 turns
a 40 s token's 10 s renewal cycle into 1 s) so a long soak fits a short run. Every token
received is checked (it decodes, names the right channel/room and user, is not expired),
and a renewal that arrives after the old token expired is counted as late: in a real app,
a dropped call.

Safety: loopback targets only unless --allow-remote; never more connections than asked;
stops by itself after --duration.
"""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import json
import random
import socket
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

import aiohttp
import jwt
import orjson
import uvloop

from service.agora import accesstoken2
from service.apps import APP_NAME

RENEW_BEFORE_SECONDS = 30.0  # the SDKs warn this long before expiry
MAX_DURATION = 3600.0
STARTUP_SECONDS = 1.0
MODES = ("agora", "livekit", "videosdk")


@dataclass(frozen=True)
class LoadConfig:
    url: str = "http://127.0.0.1:6080"
    mode: str = "agora"
    clients: int = 100
    expire: int = 40
    duration: float = 60.0
    compression: float = 1.0
    jitter: float = 0.1  # share of the renewal interval, spread both ways
    connections: int = 64
    headers: dict[str, str] = field(default_factory=dict)
    allow_remote: bool = False
    app: str | None = None  # served under /apps/<app>/ (several apps in one service)


def cpu_ticks(stat: str) -> tuple[int, int]:
    """All CPU time and the part stolen by the hypervisor, in ticks, from /proc/stat's
    first line (user nice system idle iowait irq softirq steal ...)."""
    fields = [int(value) for value in stat.split("\n", 1)[0].split()[1:]]
    # guest and guest_nice (fields 9 and 10) are already counted in user and nice.
    return sum(fields[:8]), fields[7] if len(fields) > 7 else 0


def steal_percent(before: tuple[int, int], after: tuple[int, int]) -> float:
    """The share of CPU time this VM's vCPUs waited for the host between two readings:
    the measure of a noisy neighbour."""
    total, stolen = after[0] - before[0], after[1] - before[1]
    return 100.0 * stolen / total if total > 0 else 0.0


def read_cpu_ticks() -> tuple[int, int] | None:
    """This machine's CPU ticks now; None where there is no /proc/stat (not Linux)."""
    try:
        return cpu_ticks(Path("/proc/stat").read_text())
    except (OSError, ValueError):
        return None


def _percentile(ordered: list[float], share: float) -> float:
    """The value at `share` of already sorted values; 0 when there are none."""
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


@dataclass
class Report:
    duration: float = 0.0
    requests: int = 0
    renewals: int = 0
    late_renewals: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    # CPU time the hypervisor took from this machine: over the run, and per second. A
    # noisy neighbour shows in p99; this says when the machine, not the service, was slow.
    steal_overall: float | None = None
    steal_by_second: list[float] = field(default_factory=list)

    def percentile(self, share: float) -> float:
        return _percentile(sorted(self.latencies), share)

    def summary(self) -> dict[str, Any]:
        return {
            "duration_s": round(self.duration, 2),
            "requests": self.requests,
            "renewals": self.renewals,
            "renewals_per_s": round(self.renewals / self.duration, 1) if self.duration else 0.0,
            "latency_ms": {
                name: round(self.percentile(share) * 1000, 2)
                for name, share in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))
            }
            | {"max": round(max(self.latencies, default=0.0) * 1000, 2)},
            "errors": dict(self.errors),
            "late_renewals": self.late_renewals,
            "cpu_steal_percent": None
            if self.steal_overall is None
            else {
                "overall": round(self.steal_overall, 1),
                "worst_second": round(max(self.steal_by_second, default=0.0), 1),
            },
        }


class LoadTestRefused(ValueError):
    """The configuration would do something unsafe or impossible."""


def check_target(config: LoadConfig) -> None:
    if config.mode not in MODES:
        raise LoadTestRefused(f"--mode must be one of {', '.join(MODES)}")
    if config.expire <= RENEW_BEFORE_SECONDS:
        raise LoadTestRefused("--expire must be more than 30 seconds (renewals start 30 s before)")
    if not 0 < config.duration <= MAX_DURATION:
        raise LoadTestRefused(f"--duration must be within (0, {MAX_DURATION:.0f}] seconds")
    if config.clients < 1 or config.connections < 1 or config.compression <= 0:
        raise LoadTestRefused("--clients, --connections and --compression must be positive")
    if config.app is not None and not APP_NAME.fullmatch(config.app):
        raise LoadTestRefused("--app must be an app's name: a-z, 0-9, '_' and '-'")
    host = urlsplit(config.url).hostname or ""
    if config.allow_remote:
        return
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError as exc:
        raise LoadTestRefused(f"cannot resolve {host!r}: {exc}") from None
    loopback = [ipaddress.ip_address(str(a).split("%")[0]).is_loopback for a in addresses]
    if not loopback or not all(loopback):
        raise LoadTestRefused(f"{host} is not a loopback address; pass --allow-remote to load it")


@dataclass(frozen=True)
class _Call:
    """One virtual client's request, encoded once (the tester's own CPU time is latency
    the fleet would not see, so it is kept off each request), and the room and user its
    token must name."""

    method: str
    url: str
    body: bytes | None
    headers: dict[str, str]
    room: str
    user: str


def _call(config: LoadConfig, client: int) -> _Call:
    room, user = f"load-{client % 100}", str(client + 1)
    body: dict[str, Any] | None = None
    if config.mode == "agora":
        method, path = "POST", "/v1/agora/rtc-token"
        body = {"channel": room, "uid": int(user), "role": "publisher", "expire": config.expire}
    elif config.mode == "livekit":
        method, path = "POST", "/token"
        body = {"roomName": room, "participantName": user}
    else:
        method, path = "GET", f"/get-token?roomId={room}&participantId={user}"
    headers = dict(config.headers)
    if body is not None:
        headers["Content-Type"] = "application/json"
    encoded = None if body is None else orjson.dumps(body)
    base = config.url.rstrip("/") + (f"/apps/{config.app}" if config.app else "")
    return _Call(method, base + path, encoded, headers, room, user)


def _check(mode: str, answer: Any, room: str, user: str, now: float) -> str | None:
    """Why the token is wrong, or None. Tokens are read, not verified: the load tester
    holds no platform secret."""
    token = answer.get("token") if isinstance(answer, dict) else None
    if not isinstance(token, str):
        return "no_token"
    try:
        if mode == "agora":
            parsed = accesstoken2.parse_token(token)
            (service,) = parsed.services
            if (service.channel, service.uid) != (room, user):
                return "wrong_grant"
            return "expired_token" if parsed.expires_at <= now else None
        claims = jwt.decode(token, options={"verify_signature": False})
    except (ValueError, jwt.PyJWTError):
        return "undecodable_token"
    if mode == "livekit":
        grant = (claims.get("sub"), (claims.get("video") or {}).get("room"))
    else:
        grant = (claims.get("participantId"), claims.get("roomId"))
    if grant != (user, room):
        return "wrong_grant"
    return "expired_token" if claims.get("exp", 0) <= now else None


class _Fleet:
    def __init__(self, config: LoadConfig, session: aiohttp.ClientSession) -> None:
        self.config = config
        self.session = session
        self.report = Report()
        # Creating tens of thousands of client tasks takes a moment; requests start after.
        self.started = time.monotonic() + STARTUP_SECONDS
        self.deadline = self.started + config.duration
        # Seeded, for runs that can be repeated; nothing here is secret.
        self.random = random.Random(20261122)  # noqa: S311

    def virtual_now(self) -> float:
        """Wall-clock seconds as the virtual clients experience them (compressed)."""
        return time.time() + (time.monotonic() - self.started) * (self.config.compression - 1)

    async def fetch(self, call: _Call) -> float | None:
        """One token request; the virtual time its token expires, or None on failure."""
        began = time.monotonic()
        self.report.requests += 1
        try:
            async with self.session.request(
                call.method, call.url, data=call.body, headers=call.headers
            ) as response:
                status = response.status
                answer = orjson.loads(await response.read()) if status == 200 else None
        except TimeoutError:
            self.report.errors["timeout"] += 1
            return None
        except aiohttp.ClientError:
            self.report.errors["connection"] += 1
            return None
        except ValueError:  # orjson.JSONDecodeError
            self.report.errors["undecodable_answer"] += 1
            return None
        self.report.latencies.append(time.monotonic() - began)
        if status != 200:
            self.report.errors[f"http_{status}"] += 1
            return None
        # The token itself carries real times: check it against the real clock.
        problem = _check(self.config.mode, answer, call.room, call.user, time.time())
        if problem is not None:
            self.report.errors[problem] += 1
            return None
        # The app renews for the lifetime it asked for (route defaults can be longer).
        return self.virtual_now() + self.config.expire

    async def client(self, client: int) -> None:
        config = self.config
        call = _call(config, client)
        cycle = config.expire - RENEW_BEFORE_SECONDS
        # Spread the fleet's first fetches over one renewal cycle, from the fleet's start
        # (after every client task exists, so creating them delays no request).
        offset = self.random.uniform(0, cycle) / config.compression
        await asyncio.sleep(max(0.0, self.started + offset - time.monotonic()))
        expires_at: float | None = None
        while time.monotonic() < self.deadline:
            renewed = await self.fetch(call)
            if expires_at is not None and renewed is not None:
                self.report.renewals += 1
                if self.virtual_now() > expires_at:
                    self.report.late_renewals += 1
            if renewed is not None:
                expires_at = renewed
            jitter = self.random.uniform(-config.jitter, config.jitter) * cycle
            wait = (cycle + jitter) / config.compression if renewed else 1.0 / config.compression
            if time.monotonic() + wait >= self.deadline:
                # Done: leave now, rather than all waking at the deadline together.
                return
            await asyncio.sleep(wait)


async def run_loadtest(config: LoadConfig, progress: TextIO | None = None) -> Report:
    check_target(config)
    connector = aiohttp.TCPConnector(limit=config.connections, limit_per_host=config.connections)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        fleet = _Fleet(config, session)
        tasks = [asyncio.create_task(fleet.client(i)) for i in range(config.clients)]
        # The cyclic garbage collector is off while the fleet runs. With tens of
        # thousands of live client tasks its passes paused the tester for up to 120 ms,
        # which it then reported as the service's latency (p99 54 ms with it, 10 ms
        # without, same service). A request leaves no reference cycles behind (checked
        # with gc.DEBUG_SAVEALL), so memory stays flat; the run is bounded anyway.
        collecting = gc.isenabled()
        gc.disable()
        reporter = asyncio.create_task(_progress(fleet, progress)) if progress else None
        first = read_cpu_ticks()
        steal_watch = asyncio.create_task(_watch_steal(fleet.report, first))
        try:
            await asyncio.gather(*tasks)
        finally:
            if collecting:
                gc.enable()
            steal_watch.cancel()
        if reporter is not None:
            reporter.cancel()
        last = read_cpu_ticks()
        if first is not None and last is not None:
            fleet.report.steal_overall = steal_percent(first, last)
        fleet.report.duration = time.monotonic() - fleet.started
        return fleet.report


async def _watch_steal(report: Report, previous: tuple[int, int] | None) -> None:
    while previous is not None:
        await asyncio.sleep(1.0)
        now = read_cpu_ticks()
        if now is None:
            return
        report.steal_by_second.append(steal_percent(previous, now))
        previous = now


async def _progress(fleet: _Fleet, out: TextIO) -> None:
    last, seen = 0, 0
    while True:
        await asyncio.sleep(1.0)
        report = fleet.report
        elapsed = max(0.0, time.monotonic() - fleet.started)
        errors = sum(report.errors.values())
        # The last second's p99: sorting every latency so far each second would stall
        # the clients' event loop more as the run grows.
        p99 = _percentile(sorted(report.latencies[seen:]), 0.99) * 1000
        seen = len(report.latencies)
        out.write(
            f"\r{elapsed:6.0f}s  renewals {report.renewals:8d} ({report.renewals - last:5d}/s)  "
            f"p99 (last second) {p99:7.1f} ms  errors {errors:5d}  late {report.late_renewals:5d}"
        )
        out.flush()
        last = report.renewals


def summary_table(summary: dict[str, Any]) -> str:
    latency = summary["latency_ms"]
    rows = [
        ("duration", f"{summary['duration_s']} s"),
        ("requests", str(summary["requests"])),
        ("renewals", f"{summary['renewals']} ({summary['renewals_per_s']}/s)"),
        (
            "latency p50 / p95 / p99 / max",
            " / ".join(f"{latency[k]} ms" for k in ("p50", "p95", "p99", "max")),
        ),
        ("errors", ", ".join(f"{k}: {v}" for k, v in summary["errors"].items()) or "none"),
        ("late renewals", str(summary["late_renewals"])),
    ]
    steal = summary["cpu_steal_percent"]
    if steal is not None:
        rows.append(
            (
                "CPU steal (host)",
                f"{steal['overall']} % overall, {steal['worst_second']} % in the worst second",
            )
        )
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def main(config: LoadConfig, *, as_json: bool) -> int:
    try:
        # uvloop: the tester's own overhead is counted as latency. It only opens
        # connections, so libuv's one accept per turn of the loop does not concern it.
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            report = runner.run(run_loadtest(config, None if as_json else sys.stderr))
    except LoadTestRefused as refused:
        print(f"rtc-token-service loadtest: {refused}", file=sys.stderr)
        return 2
    summary = report.summary()
    if as_json:
        print(
            json.dumps({"config": {**asdict(config), "headers": sorted(config.headers)}, **summary})
        )
    else:
        print("\n" + summary_table(summary))
    failed = sum(report.errors.values()) or report.late_renewals
    return 1 if failed else 0
