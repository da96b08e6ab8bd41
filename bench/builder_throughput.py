"""Tokens per second from the pure Agora builders, on one core, no HTTP.

Run: .venv/bin/python bench/builder_throughput.py [--seconds 2]
Prints one line per operation; bench/README.md records the numbers and the machine.
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable

from service.agora import accesstoken2, tokens
from service.agora.tokens import AgoraCredentials, Role
from service.workarounds import keep_freed_memory

CREDENTIALS = AgoraCredentials(
    "970CA35de60c44645bbae8a215061b33", "5CFd2fd1755d40ecb72977518be15d3b"
)
ISSUE_TS = 1_700_000_000


def _rate(operation: Callable[[int], object], seconds: float) -> float:
    """Operations per second over at least `seconds`, in batches to keep timing cheap."""
    done, batch = 0, 1000
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for i in range(batch):
            operation(done + i)
        done += batch
    return done / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0, help="time per operation")
    seconds = parser.parse_args().seconds
    # The allocator setting every serving process uses (see keep_freed_memory).
    keep_freed_memory()

    sample = tokens.build_rtc_token(
        CREDENTIALS,
        "demo",
        42,
        tokens.rtc_privileges(Role.PUBLISHER, 40),
        token_expire=40,
        issue_ts=ISSUE_TS,
        salt=1,
    )
    operations: dict[str, Callable[[int], object]] = {
        "rtc 007 (uid, publisher)": lambda i: tokens.build_rtc_token(
            CREDENTIALS,
            "demo",
            1 + i % 4_000_000,
            tokens.rtc_privileges(Role.PUBLISHER, 40),
            token_expire=40,
            issue_ts=ISSUE_TS,
            salt=1 + i % 99_999_999,
        ),
        "rtc+rtm 007 (account)": lambda i: tokens.build_rtc_token(
            CREDENTIALS,
            "demo",
            f"user-{i}",
            tokens.rtc_privileges(Role.SUBSCRIBER, 3600),
            token_expire=3600,
            issue_ts=ISSUE_TS,
            salt=1 + i % 99_999_999,
            rtm_user_id=f"user-{i}",
        ),
        "rtc 006 (uid, publisher)": lambda i: tokens.build_rtc_token(
            CREDENTIALS,
            "demo",
            1 + i,
            tokens.rtc_privileges(Role.PUBLISHER, 40),
            token_expire=40,
            issue_ts=ISSUE_TS,
            salt=1 + i % 99_999_999,
            version="006",
        ),
        "rtm 007": lambda i: tokens.build_rtm_token(
            CREDENTIALS, f"user-{i}", expire=3600, issue_ts=ISSUE_TS, salt=1 + i % 99_999_999
        ),
        "parse + verify 007": lambda i: accesstoken2.parse_token(sample).verify_signature(
            CREDENTIALS.certificate
        ),
    }
    print(f"# {platform.python_implementation()} {platform.python_version()}, {platform.machine()}")
    for name, operation in operations.items():
        print(f"{name:28s} {_rate(operation, seconds):>10,.0f} per second")


if __name__ == "__main__":
    main()
