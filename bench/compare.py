"""This service against the public token servers it replaces, on the same machine, in
alternating runs.

Requests/s on a shared VM drift by 10-20 % from one minute to the next, so a number
measured today and one measured last week are a poor basis for "1.5x as fast". This
script measures both sides in the same minutes: for each round and connection count it
runs wrk against the public server and against this service, one right after the other
(the order flips every round), and reports each side's median and their ratio.

Start the public servers yourself (bench/README.md shows how), each on its own port on
127.0.0.1, then, from the project root:

    .venv/bin/python bench/compare.py --agora http://127.0.0.1:8090 \\
        --openvidu http://127.0.0.1:6090 --videosdk http://127.0.0.1:9000

Give any subset of the three. This service is started as bench/routes.py starts it, by
the interpreter running this script, or by each `--python` given (one service each, all
measured in the same rounds): the interpreter's build moves this service's figures by up
to a quarter (bench/README.md, "The interpreter").
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from wrkrun import (
    PAUSE_SECONDS,
    interpreter,
    milliseconds,
    require_loopback,
    running_service,
    wrk,
)

CONNECTIONS = (64, 256)


@dataclass(frozen=True)
class Load:
    """One request as wrk sends it: a label, a path, and the Lua script with its body."""

    label: str
    path: str
    script: str | None = None


@dataclass(frozen=True)
class Platform:
    reference_name: str
    reference: Load
    ours: tuple[Load, ...]


_AGORA_RTC = Load("GET /rtc/demo/publisher/uid/1234/", "/rtc/demo/publisher/uid/1234/")
PLATFORMS = {
    "agora": Platform(
        "AgoraIO-Community/Agora-Node-TokenServer",
        _AGORA_RTC,
        (Load("POST /fetch_rtc_token", "/fetch_rtc_token", "fetch_rtc_token.lua"), _AGORA_RTC),
    ),
    "openvidu": Platform(
        "OpenVidu/openvidu-livekit-tutorials application-server/node",
        Load("POST /token", "/token", "openvidu_token.lua"),
        (Load("POST /token", "/token", "openvidu_token.lua"),),
    ),
    "videosdk": Platform(
        "videosdk-live/videosdk-rtc-api-server-examples nodejs",
        Load("GET /get-token", "/get-token"),
        (Load("GET /get-token", "/get-token"),),
    ),
}


@dataclass(frozen=True)
class Run:
    platform: str
    side: str  # "reference" or "ours"
    load: Load
    connections: int
    round: int
    rps: float
    p99_ms: float
    failures: str  # non-2xx answers and socket errors, or "" when there were none
    steal: str = "?"  # CPU time the host took from this VM during the run
    interpreter: str = ""  # what ran this service ("" for the public server)


def _failures(result: dict[str, str]) -> str:
    parts = []
    if result["non2xx"] != "0":
        parts.append(f"{result['non2xx']} non-2xx")
    if result["socket"] != "none":
        parts.append(f"socket errors: {result['socket']}")
    return ", ".join(parts)


def _measure(
    platform: str,
    side: str,
    load: Load,
    server: str,
    connections: int,
    round_number: int,
    seconds: int,
    python: str = "",
) -> Run:
    result = wrk(f"{server}{load.path}", load.script, connections, seconds)
    return Run(
        platform,
        side,
        load,
        connections,
        round_number,
        float(result["rps"]),
        milliseconds(result["p99"]),
        _failures(result),
        result["steal"],
        python,
    )


def round_order(sides: Sequence[tuple[str, Load]], round_number: int) -> list[tuple[str, Load]]:
    """Even rounds measure the public server first, odd rounds last, so a drift within
    a round does not always favour the same side."""
    return list(sides) if round_number % 2 == 0 else list(reversed(sides))


@dataclass(frozen=True)
class Summary:
    platform: str
    side: str
    load: Load
    connections: int
    rps: tuple[float, ...]
    p99_ms: tuple[float, ...]
    failures: tuple[str, ...]
    steal: tuple[str, ...] = ()
    interpreter: str = ""

    @property
    def median_rps(self) -> float:
        return statistics.median(self.rps)

    @property
    def median_p99_ms(self) -> float:
        return statistics.median(self.p99_ms)


def summarize(runs: Iterable[Run]) -> list[Summary]:
    """Each (platform, side, interpreter, request, connections) with its runs in round
    order."""
    grouped: defaultdict[tuple[str, str, str, Load, int], list[Run]] = defaultdict(list)
    for run in runs:
        grouped[run.platform, run.side, run.interpreter, run.load, run.connections].append(run)
    summaries = []
    for (platform, side, python, load, connections), group in grouped.items():
        group.sort(key=lambda run: run.round)
        summaries.append(
            Summary(
                platform,
                side,
                load,
                connections,
                tuple(run.rps for run in group),
                tuple(run.p99_ms for run in group),
                tuple(run.failures for run in group if run.failures),
                tuple(run.steal for run in group),
                python,
            )
        )
    return summaries


def reference_for(summaries: Sequence[Summary], ours: Summary) -> Summary:
    """The public server's runs that ours are compared with: same platform, same
    connection count."""
    for candidate in summaries:
        if (
            candidate.platform == ours.platform
            and candidate.side == "reference"
            and candidate.connections == ours.connections
        ):
            return candidate
    raise LookupError(f"no reference runs for {ours.platform} at {ours.connections}")


def ratios_by_round(reference: Summary, ours: Summary) -> tuple[float, ...]:
    """Our requests/s over the public server's, round by round (runs minutes apart)."""
    return tuple(mine / theirs for mine, theirs in zip(ours.rps, reference.rps, strict=True))


def table(summaries: Sequence[Summary]) -> str:
    lines = [
        "| platform | server | request | connections | requests/s by round | median "
        "| p99 by round | ratio by round | ratio of medians | failures | CPU steal by round |",
        "|---|---|---|---:|---|---:|---|---|---:|---|---|",
    ]
    for summary in summaries:
        by_round = " / ".join(f"{rps:,.0f}" for rps in summary.rps)
        p99 = " / ".join(f"{ms:.0f}" for ms in summary.p99_ms)
        if summary.side == "reference":
            server, ratios, ratio = PLATFORMS[summary.platform].reference_name, "", ""
        else:
            reference = reference_for(summaries, summary)
            server = (
                f"this service on {summary.interpreter}" if summary.interpreter else "this service"
            )
            ratios = " / ".join(f"{r:.2f}" for r in ratios_by_round(reference, summary))
            ratio = f"{summary.median_rps / reference.median_rps:.2f}"
        failures = "; ".join(summary.failures) or "none"
        lines.append(
            f"| {summary.platform} | {server} | {summary.load.label} | {summary.connections} "
            f"| {by_round} | {summary.median_rps:,.0f} | {p99} ms | {ratios} | {ratio} "
            f"| {failures} | {' / '.join(summary.steal)} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    for name, platform in PLATFORMS.items():
        parser.add_argument(
            f"--{name}", metavar="URL", help=f"base URL of a running {platform.reference_name}"
        )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--python",
        action="append",
        metavar="PATH",
        help="an interpreter with the service installed to run it (repeat to measure several "
        "side by side; default: the one running this script)",
    )
    args = parser.parse_args()
    references = {name: getattr(args, name) for name in PLATFORMS if getattr(args, name)}
    if not references:
        parser.error("give at least one of --agora, --openvidu, --videosdk")
    try:
        for url in references.values():
            require_loopback(url)
    except ValueError as refused:
        parser.error(str(refused))
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2
    pythons = args.python or [sys.executable]
    labels = {python: interpreter(python) for python in pythons}
    runs: list[Run] = []
    with contextlib.ExitStack() as services:
        # One service per interpreter, all started before the first run: each waits idle
        # while another side is measured.
        bases = {
            python: services.enter_context(running_service(args.workers, python))[0]
            for python in pythons
        }
        for name, reference_url in references.items():
            platform = PLATFORMS[name]
            servers = {"reference": reference_url.rstrip("/")}
            servers.update({f"ours {python}": base for python, base in bases.items()})
            # A short unreported run warms the public server's JIT as ours was warmed.
            wrk(
                f"{servers['reference']}{platform.reference.path}",
                platform.reference.script,
                256,
                5,
            )
            sides = [("reference", platform.reference)] + [
                (f"ours {python}", load) for python in pythons for load in platform.ours
            ]
            for round_number in range(args.rounds):
                for connections in CONNECTIONS:
                    for side, load in round_order(sides, round_number):
                        time.sleep(PAUSE_SECONDS)
                        python = side.removeprefix("ours ") if side != "reference" else ""
                        run = _measure(
                            name,
                            "reference" if side == "reference" else "ours",
                            load,
                            servers[side],
                            connections,
                            round_number,
                            args.seconds,
                            labels[python] if python and len(pythons) > 1 else "",
                        )
                        runs.append(run)
                        print(
                            f"round {round_number + 1} {name} {side:9} {load.label} "
                            f"c={connections}: {run.rps:,.0f} rps, p99 {run.p99_ms:.1f} ms, "
                            f"steal {run.steal}",
                            file=sys.stderr,
                            flush=True,
                        )
    if len(pythons) == 1:
        print(f"this service on {labels[pythons[0]]}\n")
    print(table(summarize(runs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
