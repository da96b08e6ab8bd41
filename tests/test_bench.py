"""The benchmark scripts still drive the application they measure."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import compare
import pytest
import routes
import wrkrun

ROOT = Path(__file__).resolve().parent.parent
INSTRUCTIONS = ROOT / "bench" / "instructions.py"


@pytest.mark.slow
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


WRK_REPORT = """\
Running 10s test @ http://127.0.0.1:8090/rtc/demo/publisher/uid/1234/
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    15.58ms    3.34ms  82.43ms   90.12%
    Req/Sec     4.06k   312.45     4.52k    81.00%
  Latency Distribution
     50%  812.00us
     75%   16.20ms
     90%   18.10ms
     99%    1.02s
  40431 requests in 10.01s, 9.67MB read
  Socket errors: connect 0, read 12, write 0, timeout 0
  Non-2xx or 3xx responses: 3
Requests/sec:   4039.12
Transfer/sec:      0.97MB
"""


def test_a_wrk_report_gives_the_rate_the_percentiles_and_the_failures() -> None:
    result = wrkrun.parse_wrk(WRK_REPORT)
    assert result == {
        "rps": "4039.12",
        "p50": "812.00us",
        "p99": "1.02s",
        "max": "82.43ms",
        "non2xx": "3",
        "socket": "connect 0, read 12, write 0, timeout 0",
    }


def test_a_clean_wrk_report_has_no_failures() -> None:
    clean = "\n".join(
        line for line in WRK_REPORT.splitlines() if "errors" not in line and "Non-2xx" not in line
    )
    result = wrkrun.parse_wrk(clean)
    assert (result["non2xx"], result["socket"]) == ("0", "none")


@pytest.mark.parametrize(
    ("latency", "ms"),
    [("812.00us", 0.812), ("3.41ms", 3.41), ("1.02s", 1020.0), ("1.50m", 90_000.0)],
)
def test_wrk_latencies_are_read_in_milliseconds(latency: str, ms: float) -> None:
    assert wrkrun.milliseconds(latency) == pytest.approx(ms)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8090", "http://localhost:9000/", "http://[::1]:6090"]
)
def test_load_goes_to_loopback_urls(url: str) -> None:
    assert wrkrun.require_loopback(url) == url


@pytest.mark.parametrize(
    "url", ["http://10.0.0.7:8090", "http://example.com", "https://127.0.0.1:8090", "127.0.0.1:80"]
)
def test_load_is_never_sent_off_this_machine(url: str) -> None:
    with pytest.raises(ValueError, match="are measured"):
        wrkrun.require_loopback(url)


def test_rounds_alternate_which_server_is_measured_first() -> None:
    sides = [("reference", compare.PLATFORMS["videosdk"].reference)]
    sides += [("ours", load) for load in compare.PLATFORMS["videosdk"].ours]
    assert [side for side, _ in compare.round_order(sides, 0)] == ["reference", "ours"]
    assert [side for side, _ in compare.round_order(sides, 1)] == ["ours", "reference"]
    assert [side for side, _ in compare.round_order(sides, 2)] == ["reference", "ours"]


def _run(
    side: str, connections: int, round_number: int, rps: float, failures: str = ""
) -> compare.Run:
    platform = compare.PLATFORMS["videosdk"]
    load = platform.reference if side == "reference" else platform.ours[0]
    return compare.Run("videosdk", side, load, connections, round_number, rps, 10.0, failures)


def test_each_side_is_summed_up_by_its_median_and_ours_compared_round_by_round() -> None:
    runs = [
        _run("reference", 64, 0, 3000.0),
        _run("ours", 64, 0, 9000.0),
        _run("ours", 64, 1, 12000.0),
        _run("reference", 64, 1, 4000.0, failures="2 non-2xx"),
        _run("reference", 64, 2, 3500.0),
        _run("ours", 64, 2, 7000.0),
    ]
    reference, ours = compare.summarize(runs)
    assert reference.rps == (3000.0, 4000.0, 3500.0)  # in round order
    assert (reference.median_rps, ours.median_rps) == (3500.0, 9000.0)
    assert reference.failures == ("2 non-2xx",)
    assert compare.reference_for([reference, ours], ours) is reference
    assert compare.ratios_by_round(reference, ours) == pytest.approx((3.0, 3.0, 2.0))


def test_a_comparison_needs_reference_runs_at_the_same_connection_count() -> None:
    reference, ours = compare.summarize(
        [_run("reference", 64, 0, 3000.0), _run("ours", 256, 0, 1.0)]
    )
    with pytest.raises(LookupError):
        compare.reference_for([reference, ours], ours)


def test_the_comparison_table_names_each_server_and_the_ratio() -> None:
    summaries = compare.summarize([_run("reference", 256, 0, 3000.0), _run("ours", 256, 0, 6000.0)])
    rows = compare.table(summaries).splitlines()
    assert "videosdk-live/videosdk-rtc-api-server-examples nodejs" in rows[2]
    assert rows[3].startswith("| videosdk | this service | GET /get-token | 256 | 6,000 | 6,000 |")
    assert rows[3].endswith("| 10 ms | 2.00 | 2.00 | none | ? |")


def _wrk_result(rps: str, p99: str, *, non2xx: str = "0", socket: str = "none") -> dict[str, str]:
    return {
        "rps": rps,
        "p50": "5.00ms",
        "p99": p99,
        "max": p99,
        "non2xx": non2xx,
        "socket": socket,
        "steal": "0.1%",
    }


def test_a_routes_row_gives_the_median_of_its_rounds_and_every_round_in_order() -> None:
    runs = [_wrk_result("9000", "50.00ms"), _wrk_result("7000", "70.00ms")]
    runs.append(_wrk_result("8000", "812.00us"))
    row = routes.table({("POST /fetch_rtc_token", 256): runs}).splitlines()[2]
    assert row == (
        "| POST /fetch_rtc_token | 256 | 8,000 | 9,000 / 7,000 / 8,000 | 5.00 ms | 50.0 ms "
        "| 50.0 / 70.0 / 0.8 ms | 70.0 ms | 0 | none | 0.1% / 0.1% / 0.1% |"
    )


def test_a_routes_row_counts_every_failure_of_every_round() -> None:
    runs = [
        _wrk_result("9000", "50.00ms", non2xx="2"),
        _wrk_result("9000", "50.00ms", non2xx="3", socket="connect 0, read 1, write 0, timeout 0"),
    ]
    row = routes.table({("GET /get-token", 64): runs}).splitlines()[2]
    assert "| 5 | connect 0, read 1, write 0, timeout 0 |" in row


def test_services_on_two_interpreters_are_summed_up_apart_and_named_in_the_table() -> None:
    platform = compare.PLATFORMS["videosdk"]
    runs = [
        compare.Run("videosdk", "reference", platform.reference, 64, 0, 3000.0, 10.0, ""),
        compare.Run("videosdk", "ours", platform.ours[0], 64, 0, 6000.0, 5.0, "", "?", "A"),
        compare.Run("videosdk", "ours", platform.ours[0], 64, 0, 7500.0, 5.0, "", "?", "B"),
    ]
    summaries = compare.summarize(runs)
    assert [(s.side, s.interpreter, s.median_rps) for s in summaries] == [
        ("reference", "", 3000.0),
        ("ours", "A", 6000.0),
        ("ours", "B", 7500.0),
    ]
    rows = compare.table(summaries).splitlines()
    assert "| this service on A |" in rows[3] and "| 2.00 |" in rows[3]
    assert "| this service on B |" in rows[4] and "| 2.50 |" in rows[4]


def test_the_interpreter_is_named_by_implementation_version_and_path() -> None:
    named = wrkrun.interpreter(sys.executable)
    assert named.startswith("CPython 3.") and named.endswith(f"({sys.executable})")
