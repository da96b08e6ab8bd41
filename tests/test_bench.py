"""The benchmark scripts still drive the application they measure."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
INSTRUCTIONS = ROOT / "bench" / "instructions.py"


@pytest.mark.parametrize(
    "request_name", ["fetch_rtc_token", "v1_rtc_token", "token", "get_token", "healthz"]
)
def test_the_instruction_counter_gets_a_200_for_every_request_it_counts(
    request_name: str, tmp_path: Path
) -> None:
    # --child is what runs under valgrind; without valgrind it just drives the requests,
    # and exits non-zero if the last answer is not a 200.
    environ = {
        **os.environ,
        "EVENTS_DB_PATH": str(tmp_path / "events.sqlite3"),
        "RATE_LIMIT_ADDRESS_RATE": "0",
        "LOG_FORMAT": "json",
    }
    result = subprocess.run(
        [sys.executable, str(INSTRUCTIONS), "--child", request_name, "20"],
        env=environ,
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr.decode()[-2000:]
