"""Serving: SIGTERM in the middle of a burst drains every accepted request, then exits 0;
several workers behind one port share the load, survive a worker's death, and sum their
metrics."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import signal
import socket
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp import web

from service import server, workarounds
from service.metrics import FLUSH_SECONDS
from service.workers import BALANCED_LISTENERS, ServiceWorker
from tests.helpers import run_cli, running_service

BODY = json.dumps({"uid": 7, "channelName": "burst", "role": 1}).encode()


def _half_sent(port: int) -> socket.socket:
    """A request the service has accepted and started, whose body is still arriving."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    head = (
        f"POST /fetch_rtc_token HTTP/1.1\r\nHost: x\r\nContent-Length: {len(BODY)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    sock.sendall(head + BODY[:10])
    return sock


def _finish(sock: socket.socket) -> bytes:
    with sock:
        sock.sendall(BODY[10:])
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _get(port: int, path: str) -> tuple[int, bytes]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", headers={"Connection": "close"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
        return response.status, response.read()


def _post_token(port: int) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/fetch_rtc_token",
        data=BODY,
        method="POST",
        headers={"Connection": "close"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
        return int(response.status)


def _drain_a_burst(port: int, process: Any, signal_target: int, burst: int) -> None:
    sockets = [_half_sent(port) for _ in range(burst)]
    time.sleep(0.5)  # every request is now accepted and in a handler
    os.kill(signal_target, signal.SIGTERM)
    # gunicorn's workers notice SIGTERM at their next heartbeat, within a second.
    time.sleep(1.5)
    assert process.poll() is None, "exited with requests in flight"
    with pytest.raises(OSError):  # no new connections once draining
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    with ThreadPoolExecutor(max_workers=burst) as pool:
        answers = list(pool.map(_finish, sockets))
    assert all(answer.startswith(b"HTTP/1.1 200") for answer in answers), answers
    assert process.wait(timeout=30) == 0


@pytest.mark.slow
def test_sigterm_in_a_burst_answers_every_accepted_request_then_exits_0() -> None:
    with running_service() as (port, process):
        _drain_a_burst(port, process, process.pid, burst=40)


@pytest.mark.slow
def test_two_workers_both_serve() -> None:
    with running_service("--workers", "2") as (port, _):
        workers = {json.loads(_get(port, "/healthz")[1])["worker"] for _ in range(200)}
    assert len(workers) == 2


def _worker_of_a_new_connection(port: int) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return int(json.loads(answer.split(b"\r\n\r\n", 1)[1])["worker"])


def _listening_sockets(port: int) -> int:
    """How many sockets listen on 127.0.0.1:port (state 0A in /proc/net/tcp)."""
    local = f"0100007F:{port:04X}"
    with open("/proc/net/tcp") as table:
        rows = [line.split() for line in table.readlines()[1:]]
    return sum(1 for row in rows if row[1] == local and row[3] == "0A")


@pytest.mark.slow
@pytest.mark.skipif(not BALANCED_LISTENERS, reason="SO_REUSEPORT balancing is Linux-only")
def test_each_worker_listens_on_a_socket_of_its_own_and_none_resets_a_connection() -> None:
    # One shared socket lets the first worker to wake take a whole burst of connections; a
    # socket per worker lets the kernel spread them. Connections made while workers are
    # still starting must all be answered: none may land in a socket that is then closed.
    with running_service("--workers", "3") as (port, _):
        deadline = time.monotonic() + 20
        seen: set[int] = set()
        while len(seen) < 3 and time.monotonic() < deadline:  # every worker is up
            seen.add(_worker_of_a_new_connection(port))
        assert _listening_sockets(port) == 3
        with ThreadPoolExecutor(max_workers=32) as pool:
            workers = set(pool.map(lambda _: _worker_of_a_new_connection(port), range(64)))
        assert workers == seen


@pytest.mark.slow
def test_a_dead_worker_does_not_take_the_service_down() -> None:
    with running_service("--workers", "2") as (port, _):
        victim = json.loads(_get(port, "/healthz")[1])["worker"]
        os.kill(victim, signal.SIGKILL)
        time.sleep(0.3)
        statuses = [_get(port, "/healthz")[0] for _ in range(50)]
        assert statuses == [200] * 50
        deadline = time.monotonic() + 20  # gunicorn replaces the dead worker
        workers: set[int] = set()
        while len(workers - {victim}) < 2 and time.monotonic() < deadline:
            workers.add(json.loads(_get(port, "/healthz")[1])["worker"])
        assert len(workers - {victim}) == 2


@pytest.mark.slow
def test_metrics_count_every_workers_requests_within_a_flush() -> None:
    with running_service("--workers", "2") as (port, _):
        with ThreadPoolExecutor(max_workers=8) as pool:
            assert set(pool.map(lambda _: _post_token(port), range(60))) == {200}
        # A scrape sees the other worker's samples once it has flushed them.
        time.sleep(FLUSH_SECONDS + 0.5)
        text = _get(port, "/metrics")[1].decode()
    issued = [line for line in text.splitlines() if line.startswith("rtc_tokens_issued_total{")]
    assert any(
        'kind="rtc"' in line and 'platform="agora"' in line and line.endswith(" 60.0")
        for line in issued
    ), issued
    requests = [
        line
        for line in text.splitlines()
        if line.startswith("rtc_requests_total{") and "/fetch_rtc_token" in line
    ]
    assert requests and requests[0].endswith(" 60.0")
    # The latency histogram, tallied per worker (service.workarounds.TalliedHistogram),
    # reads as prometheus-client's Histogram would: every request in the +Inf bucket.
    assert "# TYPE rtc_request_duration_seconds histogram" in text
    assert 'rtc_request_duration_seconds_bucket{le="+Inf",route="/fetch_rtc_token"} 60.0' in text
    assert 'rtc_request_duration_seconds_count{route="/fetch_rtc_token"} 60.0' in text
    assert "_tally" not in text


@pytest.mark.slow
def test_sigterm_to_gunicorn_drains_every_worker_then_exits_0() -> None:
    with running_service("--workers", "2") as (port, process):
        _drain_a_burst(port, process, process.pid, burst=20)


@pytest.mark.slow
def test_readyz_turns_503_while_draining() -> None:
    with running_service() as (port, process):
        sock = _half_sent(port)  # keeps the service draining
        keepalive = socket.create_connection(("127.0.0.1", port), timeout=10)
        keepalive.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b"200 OK" in keepalive.recv(65536)
        os.kill(process.pid, signal.SIGTERM)
        time.sleep(0.3)
        keepalive.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = keepalive.recv(65536)
        keepalive.close()
        _finish(sock)
        assert process.wait(timeout=30) == 0
    assert answer.startswith(b"HTTP/1.1 503"), answer


def _a_worker(listening: socket.socket) -> Any:
    """A gunicorn worker of this service (not started) whose one socket is `listening`."""
    worker = ServiceWorker.__new__(ServiceWorker)
    worker.cfg = SimpleNamespace(backlog=server.LISTEN_BACKLOG)
    worker.sockets = [listening]
    return worker


def _run_one_turn(loop: asyncio.AbstractEventLoop) -> None:
    # stop() before run_forever(): the loop polls once, runs what is ready, and returns.
    loop.call_soon(loop.stop)
    loop.run_forever()


def _burst(
    loop: asyncio.AbstractEventLoop, listening: socket.socket, connections: int
) -> list[socket.socket]:
    """`connections` clients whose handshakes the kernel completed; all wait to be accepted,
    and three turns of the loop follow (accept, set up each transport, connection_made)."""
    port = listening.getsockname()[1]
    clients = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(connections)]
    for _ in range(3):
        _run_one_turn(loop)
    return clients


@pytest.mark.parametrize("mode", ["one process", "a gunicorn worker"])
def test_a_burst_of_new_connections_is_accepted_in_one_turn_of_the_event_loop(mode: str) -> None:
    # uvloop's own server accepts one connection per turn; under load a turn lasts as long
    # as answering every ready connection, and new clients waited up to 1.4 s.
    listening = socket.create_server(("127.0.0.1", 0))
    runner = server.DrainingRunner(web.Application(), grace=1)
    loop = server.new_event_loop()  # as serve() and each worker run on
    clients: list[socket.socket] = []
    try:
        loop.run_until_complete(runner.setup())

        async def start() -> None:  # inside the loop, as serve() and the worker do
            if mode == "one process":
                runner.listen(listening, backlog=server.LISTEN_BACKLOG)
            else:
                _a_worker(listening).listen(runner)

        loop.run_until_complete(start())
        clients = _burst(loop, listening, 32)
        assert runner.server is not None
        assert len(runner.server.connections) == 32
    finally:
        for client in clients:
            client.close()
        loop.run_until_complete(runner.cleanup())
        loop.close()


def test_uvloops_own_server_still_accepts_one_connection_per_turn() -> None:
    """The upstream behaviour service.workarounds.AcceptingListener works around. When this
    fails, uvloop accepts a burst at once: delete AcceptingListener (see its comment)."""
    listening = socket.create_server(("127.0.0.1", 0))
    runner = web.AppRunner(web.Application())
    loop = server.new_event_loop()
    clients: list[socket.socket] = []
    try:
        loop.run_until_complete(runner.setup())
        assert runner.server is not None
        uvloop_server = loop.run_until_complete(
            loop.create_server(runner.server, sock=listening, backlog=server.LISTEN_BACKLOG)
        )
        clients = _burst(loop, listening, 32)
        assert len(runner.server.connections) < 32
        uvloop_server.close()
    finally:
        for client in clients:
            client.close()
        loop.run_until_complete(runner.cleanup())
        loop.close()


def test_the_listener_stops_accepting_once_closed() -> None:
    loop = server.new_event_loop()
    runner = server.DrainingRunner(web.Application(), grace=1)
    listening = socket.create_server(("127.0.0.1", 0))
    port = listening.getsockname()[1]
    try:
        loop.run_until_complete(runner.setup())

        async def listen_then_close() -> None:
            listener = runner.listen(listening)
            listener.close()
            await listener.wait_closed()

        loop.run_until_complete(listen_then_close())
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
    finally:
        loop.run_until_complete(runner.cleanup())
        loop.close()


def test_the_old_accepting_site_name_still_serves() -> None:
    loop = server.new_event_loop()
    runner = server.DrainingRunner(web.Application(), grace=1)
    listening = socket.create_server(("127.0.0.1", 0))
    try:
        loop.run_until_complete(runner.setup())
        site = server.AcceptingSite(runner, listening, backlog=8)
        loop.run_until_complete(site.start())
        assert site.listener is not None and site.listener.is_serving()
        loop.run_until_complete(site.stop())
        assert not site.listener.is_serving()
    finally:
        loop.run_until_complete(runner.cleanup())
        loop.close()


def test_accept_failing_for_want_of_descriptors_pauses_rather_than_spins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(workarounds, "ACCEPT_PAUSE", 0.05)
    attempts: list[int] = []

    class OutOfDescriptors(socket.socket):
        def accept(self) -> tuple[socket.socket, Any]:
            attempts.append(1)
            raise OSError(errno.EMFILE, "Too many open files")

    loop = server.new_event_loop()
    listening = OutOfDescriptors(socket.AF_INET, socket.SOCK_STREAM)
    listening.bind(("127.0.0.1", 0))
    listener = server.AcceptingListener(loop, listening, asyncio.Protocol, backlog=8)
    client = socket.create_connection(listening.getsockname(), timeout=5)
    try:
        for _ in range(5):  # the socket stays readable: without the pause, five attempts
            _run_one_turn(loop)
        assert len(attempts) == 1
        loop.run_until_complete(asyncio.sleep(0.3))  # after the pause it tries again
        assert len(attempts) >= 2
    finally:
        client.close()
        listener.close()
        loop.close()


def test_the_service_listens_on_every_address_of_its_host_name() -> None:
    sockets = server.listening_sockets("localhost", 0)
    try:
        families = {sock.family for sock in sockets}
        named = {info[0] for info in socket.getaddrinfo("localhost", 0, type=socket.SOCK_STREAM)}
        # An address family the machine has disabled is skipped, as asyncio skips it.
        assert socket.AF_INET in families and families <= named
    finally:
        for sock in sockets:
            sock.close()


@pytest.mark.slow
def test_bad_worker_count_is_one_line() -> None:
    done = run_cli("serve", "--workers", "0")
    assert done.returncode == 2
    assert "--workers: must be between 1 and 256" in done.stderr


_ = urllib.error  # urlopen raises HTTPError for non-2xx answers, failing the test


def test_a_port_in_use_is_one_clear_error() -> None:
    taken = socket.create_server(("127.0.0.1", 0))
    try:
        with pytest.raises(OSError, match=r"cannot listen on 127\.0\.0\.1 port"):
            server.listening_sockets("127.0.0.1", taken.getsockname()[1])
    finally:
        taken.close()


def _one_request(port: int) -> str:
    """Connect and send one request: "refused" at connect, "answered", or "reset" (the
    connection was accepted, then closed or reset without an answer)."""
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    except OSError:
        return "refused"
    with sock:
        head = (
            f"POST /fetch_rtc_token HTTP/1.1\r\nHost: x\r\nContent-Length: {len(BODY)}\r\n"
            "Connection: close\r\n\r\n"
        ).encode()
        try:
            sock.sendall(head + BODY)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        except OSError:
            return "reset"
    return "answered" if answer.startswith(b"HTTP/1.1 ") else "reset"


def _burst_with_sigterm(port: int, signal_target: int, connections: int) -> dict[str, int]:
    outcomes: dict[str, int] = {"refused": 0, "answered": 0, "reset": 0}
    with ThreadPoolExecutor(max_workers=64) as pool:
        futures = [pool.submit(_one_request, port) for _ in range(connections)]
        time.sleep(0.05)  # the burst is under way, some of it waiting in the backlog
        os.kill(signal_target, signal.SIGTERM)
        for future in futures:
            outcomes[future.result()] += 1
    return outcomes


@pytest.mark.slow
@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_in_a_burst_of_new_connections_resets_none(workers: str) -> None:
    # No rate limit: every connection that is accepted is answered with a token.
    with running_service("--workers", workers, RATE_LIMIT_ADDRESS_RATE="0") as (port, process):
        outcomes = _burst_with_sigterm(port, process.pid, connections=600)
        assert process.wait(timeout=30) == 0
    assert outcomes["reset"] == 0, outcomes
    assert outcomes["answered"] > 0, outcomes
