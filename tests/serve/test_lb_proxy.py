"""The load balancer as the controller runs it: a real `python -m skyhop.serve.lb` in front of real replica processes."""

from __future__ import annotations

import http.client
import json
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from serve.lb_support import LoadBalancer, Replica, free_port, wait_until
from skyhop_agent import channel as unix_path


@pytest.fixture
def replicas() -> Iterator[list[Replica]]:
    started = [Replica(1), Replica(2)]
    yield started
    for replica in started:
        replica.kill()


@pytest.fixture
def lbs() -> Iterator[list[LoadBalancer]]:
    started: list[LoadBalancer] = []
    yield started
    for lb in started:
        if lb.process.poll() is None:
            lb.process.kill()
            lb.process.wait(10)


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoadBalancer]:
    """One replica behind an LB with a 1500-byte body limit, shared by the hostile-input cases."""
    replica = Replica(1)
    lb = LoadBalancer(tmp_path_factory.mktemp("guarded") / "lb", "--max-body-bytes", "1500", routes=[replica.route()])
    yield lb
    assert lb.terminate() == 0
    replica.kill()


def start(lbs: list[LoadBalancer], tmp_path: Path, *args: str, routes: list[dict[str, object]] | None = None) -> LoadBalancer:
    lb = LoadBalancer(tmp_path / f"lb{len(lbs)}", *args, routes=routes)
    lbs.append(lb)
    return lb


def request(lb: LoadBalancer, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None, timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", lb.port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def raw_exchange(lb: LoadBalancer, data: bytes) -> bytes:
    """Send raw bytes, read until the LB closes: what a hostile client sees."""
    with socket.create_connection(("127.0.0.1", lb.port), timeout=10) as sock:
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the LB may refuse and close before a large request is fully written
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
        return received


def test_round_robin_keep_alive_and_end_to_end_headers(tmp_path: Path, replicas: list[Replica], lbs: list[LoadBalancer]) -> None:
    lb = start(lbs, tmp_path, "--policy", "round_robin", routes=[r.route() for r in replicas])
    connection = http.client.HTTPConnection("127.0.0.1", lb.port, timeout=10)
    bodies = []
    for _ in range(4):
        connection.request("GET", "/id")
        bodies.append(connection.getresponse().read())
    assert bodies == [b"replica 1", b"replica 2", b"replica 1", b"replica 2"]
    # One client connection carried all four (keep-alive towards the client).
    connection.request("GET", "/headers", headers={"Host": "api.example.test", "Connection": "keep-alive, x-hop", "X-Hop": "secret", "X-Forwarded-For": "10.1.2.3"})
    seen = dict(json.loads(connection.getresponse().read()))
    assert seen["host"] == "api.example.test"
    assert seen["x-forwarded-for"] == "10.1.2.3, 127.0.0.1"
    assert seen["x-forwarded-proto"] == "http"
    assert "x-hop" not in seen and "keep-alive" not in seen.get("connection", "")
    connection.close()
    status, headers, body = request(lb, "POST", "/echo", body=b"x" * 100_000)
    assert (status, len(body)) == (200, 100_000)
    status, headers, body = request(lb, "HEAD", "/id")
    assert (status, headers["content-length"], body) == (200, "9", b"")


def open_stream(lb: LoadBalancer) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    """A /stream request whose first event has arrived: the replica holds the rest until /release."""
    connection = http.client.HTTPConnection("127.0.0.1", lb.port, timeout=10)
    connection.request("GET", "/stream?n=3")
    response = connection.getresponse()
    assert response.read1(65536) == b"data: event 0\n\n"
    return connection, response


def release(replica: Replica) -> None:
    direct = http.client.HTTPConnection("127.0.0.1", replica.port, timeout=10)
    direct.request("GET", "/release")
    assert direct.getresponse().read() == b"released"
    direct.close()


def test_replica_connections_are_pooled_even_when_clients_close_theirs(tmp_path: Path, replicas: list[Replica], lbs: list[LoadBalancer]) -> None:
    lb = start(lbs, tmp_path, routes=[replicas[0].route()])
    ports = {request(lb, "GET", "/peer", headers={"Connection": "close"})[2] for _ in range(4)}
    ports |= {raw_exchange(lb, b"GET /peer HTTP/1.0\r\n\r\n").rsplit(b"\r\n", 1)[1] for _ in range(2)}
    assert len(ports) == 1, ports


def test_a_slow_reader_pauses_the_replica_and_its_connection_is_reused_after(tmp_path: Path, replicas: list[Replica], lbs: list[LoadBalancer]) -> None:
    lb = start(lbs, tmp_path, routes=[replicas[0].route()])
    size = 16 * 1024 * 1024
    with socket.create_connection(("127.0.0.1", lb.port), timeout=10) as slow:
        slow.sendall(b"GET /big?bytes=%d HTTP/1.1\r\nHost: x\r\n\r\n" % size)
        time.sleep(0.5)  # 16 MiB overflow the kernel's buffers: the LB's fills and it stops reading from the replica
        received = 0
        while received < size:
            piece = slow.recv(1 << 20)
            assert piece
            received += len(piece)
    # The replica's connection went back to the pool reading again: the next requests are answered.
    for _ in range(3):
        assert request(lb, "GET", "/id", timeout=5)[2] == b"replica 1"


def test_route_reload_drains_the_removed_replica(tmp_path: Path, replicas: list[Replica], lbs: list[LoadBalancer]) -> None:
    one, two = replicas
    lb = start(lbs, tmp_path, routes=[one.route()])
    connection, held = open_stream(lb)
    lb.write_routes([two.route()])
    wait_until(lambda: request(lb, "GET", "/id")[2] == b"replica 2")
    assert {request(lb, "GET", "/id")[2] for _ in range(5)} == {b"replica 2"}
    # The removed replica still counts its open request (the controller waits for 0 before stopping it).
    assert lb.metrics()['skyhop_lb_in_flight{replica="1"}'] == 1
    release(one)
    assert held.read() == b"data: event 1\n\ndata: event 2\n\n"
    connection.close()
    wait_until(lambda: 'skyhop_lb_in_flight{replica="1"}' not in lb.metrics())
    # The controller's view, written about once a second.
    wait_until(lambda: lb.stats()["in_flight"] == {"2": 0})


def test_a_stream_reaches_the_client_while_the_replica_still_holds_the_rest(tmp_path: Path, replicas: list[Replica], lbs: list[LoadBalancer]) -> None:
    replica = replicas[0]
    lb = start(lbs, tmp_path, routes=[replica.route()])
    # open_stream returns only if the first event passed the LB while the replica blocks before the second.
    connection, response = open_stream(lb)
    assert response.getheader("content-type") == "text/event-stream"
    assert response.getheader("transfer-encoding") == "chunked"
    release(replica)
    assert response.read() == b"data: event 1\n\ndata: event 2\n\n"
    connection.close()


def test_a_killed_replica_costs_no_client_request(tmp_path: Path, replicas: list[Replica], lbs: list[LoadBalancer]) -> None:
    lb = start(lbs, tmp_path, "--policy", "round_robin", routes=[r.route() for r in replicas])
    assert {request(lb, "GET", "/id")[2] for _ in range(4)} == {b"replica 1", b"replica 2"}
    replicas[0].kill()
    answers = [request(lb, "GET", "/id") for _ in range(10)] + [request(lb, "POST", "/echo", body=b"once") for _ in range(4)]
    assert [(status, body) for status, _, body in answers] == [(200, b"replica 2")] * 10 + [(200, b"once")] * 4
    metrics = lb.metrics()
    assert metrics["skyhop_lb_requests_total"] == 18 and metrics["skyhop_lb_failed_total"] == 0
    assert metrics["skyhop_lb_retries_total"] >= 5
    assert metrics['skyhop_lb_in_flight{replica="1"}'] == metrics['skyhop_lb_in_flight{replica="2"}'] == 0


def test_scale_to_zero_holds_the_first_request_until_a_replica_is_ready(tmp_path: Path, replicas: list[Replica], lbs: list[LoadBalancer]) -> None:
    lb = start(lbs, tmp_path, "--wait-timeout", "20")
    results: list[tuple[int, bytes]] = []
    waiter = threading.Thread(target=lambda: results.append(request(lb, "GET", "/id", timeout=30)[::2]))
    waiter.start()
    wait_until(lambda: lb.metrics()["skyhop_lb_waiting"] == 1)
    lb.write_routes([replicas[1].route()])
    waiter.join(10)
    assert results == [(200, b"replica 2")]
    assert lb.metrics()["skyhop_lb_waiting"] == 0


def test_no_replica_within_the_wait_timeout_is_a_clear_503(tmp_path: Path, lbs: list[LoadBalancer]) -> None:
    lb = start(lbs, tmp_path, "--wait-timeout", "0.2")
    status, headers, body = request(lb, "GET", "/v1/chat/completions")
    assert status == 503 and headers["retry-after"] == "5"
    assert body == b"service svc has no ready replica yet; `skyhop serve status svc`\n"


def test_no_replica_coming_is_a_503_at_once_also_for_requests_already_waiting(tmp_path: Path, lbs: list[LoadBalancer]) -> None:
    """The controller writes hold: false for a FAILED service: nothing waits out the 600 s for a replica that never comes."""
    lb = start(lbs, tmp_path, "--wait-timeout", "600")
    results: list[tuple[int, bytes]] = []
    waiter = threading.Thread(target=lambda: results.append(request(lb, "GET", "/id", timeout=30)[::2]))
    waiter.start()
    wait_until(lambda: lb.metrics()["skyhop_lb_waiting"] == 1)
    lb.write_routes([], hold=False)
    waiter.join(10)
    failed = b"service svc has no ready replica and none is starting; `skyhop serve status svc` says why\n"
    assert results == [(503, failed)]
    assert request(lb, "GET", "/id")[::2] == (503, failed)


def test_a_service_directory_past_unix_socket_length_still_serves_with_its_metrics(tmp_path: Path, replicas: list[Replica], lbs: list[LoadBalancer]) -> None:
    """DIR/lb-metrics.sock past sun_path's 108 bytes (a deep SKYHOP_HOME) once killed the LB at every start."""
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True, mode=0o700)
    lb = LoadBalancer(deep / "svc", routes=[replicas[0].route()])
    lbs.append(lb)
    assert len(str(lb.dir / "lb-metrics.sock")) > 108
    assert request(lb, "GET", "/id")[::2] == (200, b"replica 1")
    assert lb.metrics()["skyhop_lb_requests_total"] == 1
    assert (lb.dir / "lb-metrics.sock").stat().st_mode & 0o777 == 0o600


def test_replicas_that_all_refuse_are_a_clear_502(tmp_path: Path, lbs: list[LoadBalancer]) -> None:
    dead = [{"replica_id": i, "url": f"http://127.0.0.1:{free_port()}"} for i in (1, 2)]
    lb = start(lbs, tmp_path, routes=dead)
    status, _, body = request(lb, "GET", "/")
    assert status == 502
    assert body == b"service svc: every ready replica failed this request; `skyhop serve status svc`\n"
    metrics = lb.metrics()
    assert (metrics["skyhop_lb_failed_total"], metrics["skyhop_lb_retries_total"]) == (1, 2)


def test_metrics_on_the_unix_socket(tmp_path: Path, replicas: list[Replica], lbs: list[LoadBalancer]) -> None:
    lb = start(lbs, tmp_path, routes=[replicas[0].route()])
    for _ in range(3):
        request(lb, "GET", "/id")
    with socket.socket(socket.AF_UNIX) as sock:
        unix_path.connect(sock, str(lb.dir / "lb-metrics.sock"))
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: lb\r\n\r\n")
        text = b"".join(iter(lambda: sock.recv(65536), b"")).decode()
    assert text.startswith("HTTP/1.1 200 OK")
    assert "\nskyhop_lb_requests_total 3\n" in text
    assert '\nskyhop_lb_replica_requests_total{replica="1"} 3\n' in text
    assert "\nskyhop_lb_request_seconds_count 3\n" in text
    assert '\nskyhop_lb_in_flight{replica="1"} 0\n' in text
    assert oct((lb.dir / "lb-metrics.sock").stat().st_mode & 0o777) == "0o600"
    # The controller's file: arrivals per second for the autoscaler, in-flight per replica for draining.
    wait_until(lambda: lb.stats()["requests_total"] == 3)
    stats = lb.stats()
    assert stats["pid"] == lb.process.pid and sum(count for _, count in stats["recent"]) == 3
    assert {k: stats[k] for k in ("waiting", "in_flight", "retries", "failed")} == {"waiting": 0, "in_flight": {"1": 0}, "retries": 0, "failed": 0}
    assert oct((lb.dir / "lb-stats.json").stat().st_mode & 0o777) == "0o600"
    # A broken routes.json is reported and the routes stay.
    (lb.dir / "routes.json").write_text("{broken")
    wait_until(lambda: "keeping the previous routes" in lb.stderr())
    assert request(lb, "GET", "/id")[2] == b"replica 1"


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a certificate")
def test_tls_termination(tmp_path: Path, replicas: list[Replica], lbs: list[LoadBalancer]) -> None:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    lb = start(lbs, tmp_path, "--tls-keyfile", str(key), "--tls-certfile", str(cert), routes=[replicas[0].route()])
    connection = http.client.HTTPSConnection("127.0.0.1", lb.port, timeout=10, context=ssl.create_default_context(cafile=str(cert)))
    connection.request("GET", "/headers")
    seen = dict(json.loads(connection.getresponse().read()))
    assert seen["x-forwarded-proto"] == "https"
    connection.close()


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n", 431),
        (b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(200)) + b"\r\n", 431),
        (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", 414),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n" + b"a" * 2000, 413),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + b"400\r\n" + b"a" * 1024 + b"\r\n" + b"400\r\n" + b"a" * 1024 + b"\r\n0\r\n\r\n", 413),
        (b"GET /chat HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", 501),
        (b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n", 405),
        (b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello", 400),
    ],
    ids=["tls-on-plain", "huge-header", "many-headers", "long-target", "big-body", "big-chunked-body", "websocket", "connect", "two-lengths"],
)
def test_hostile_input_gets_a_4xx_and_the_lb_keeps_serving(guarded: LoadBalancer, data: bytes, status: int) -> None:
    lb = guarded
    answer = raw_exchange(lb, data)
    assert answer.startswith(b"HTTP/1.1 %d " % status), answer[:200]
    assert request(lb, "GET", "/id")[::2] == (200, b"replica 1")


def test_silent_clients_are_closed_after_the_idle_timeout(tmp_path: Path, replicas: list[Replica], lbs: list[LoadBalancer]) -> None:
    lb = start(lbs, tmp_path, "--idle-timeout", "0.3", routes=[replicas[0].route()])
    with socket.create_connection(("127.0.0.1", lb.port), timeout=10) as slowloris, socket.create_connection(("127.0.0.1", lb.port), timeout=10) as idle:
        slowloris.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        idle.sendall(b"GET /id HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while not answer.endswith(b"replica 1"):  # head and body may come in two reads
            piece = idle.recv(65536)
            assert piece, answer
            answer += piece
        # Both are closed by the LB (recv returns b"" at the close) without a byte more.
        assert slowloris.recv(65536) == b"" and idle.recv(65536) == b""
    # A client dribbling its head a byte at a time (each byte resetting the idle timer) gets 408 all the same.
    with socket.create_connection(("127.0.0.1", lb.port), timeout=10) as dribble:
        answer = b""
        for byte in b"GET /id HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 40:
            try:
                dribble.sendall(bytes([byte]))
            except OSError:
                break
            time.sleep(0.05)
        answer = b"".join(iter(lambda: dribble.recv(65536), b""))
        assert answer.startswith(b"HTTP/1.1 408 "), answer
    # A streaming response outlives the idle timeout: the LB is the one sending.
    connection, held = open_stream(lb)
    time.sleep(0.8)
    release(replicas[0])
    assert held.read() == b"data: event 1\n\ndata: event 2\n\n"
    connection.close()


def test_sigterm_finishes_open_requests_then_exits_0(tmp_path: Path, replicas: list[Replica], lbs: list[LoadBalancer]) -> None:
    lb = start(lbs, tmp_path, routes=[replicas[0].route()])
    connection, held = open_stream(lb)
    lb.process.send_signal(signal.SIGTERM)
    wait_until(lambda: not lb.accepting())
    release(replicas[0])
    assert held.read() == b"data: event 1\n\ndata: event 2\n\n"
    connection.close()
    assert lb.terminate() == 0
    assert lb.stats()["in_flight"] == {"1": 0} and lb.stderr() == ""


def test_a_directory_others_can_read_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "open"
    directory.mkdir(mode=0o755)
    directory.chmod(0o755)
    result = subprocess.run([sys.executable, "-m", "skyhop.serve.lb", "--dir", str(directory), "--port", "1"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "must be owned by this user with mode 0700" in result.stderr
