"""Every request is counted once and released once under random replica failures, route changes and client aborts.

SkyPilot #10444 leaked in-flight counters when replicas failed mid-request. Here the proxy's real
request path (`ClientConnection`, `Balancer`, upstream pools, in one event loop as the LB process runs
them) serves real TCP clients on 127.0.0.1 in front of in-process replicas that answer, close before
answering, die mid-stream, or are taken down and up; hypothesis picks the interleaving. At the end the
ledger must hold nothing open and every client must have had an answer that matches what happened.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from skyhop.serve.lb.ledger import Route
from skyhop.serve.lb.proxy import Balancer, ClientConnection, Limits

OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
PARTIAL = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n"
BEHAVIOURS = ("ok", "slow", "close_before", "die_mid", "hang")


class FakeReplica:
    """A replica in this event loop on a fixed loopback port: the request path names its behaviour."""

    def __init__(self, replica_id: int) -> None:
        self.replica_id = replica_id
        self.port = 0
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    async def up(self) -> None:
        if self.server is None:
            self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
            self.port = self.server.sockets[0].getsockname()[1]

    async def down(self) -> None:
        """Like a killed process: refuse new connections and cut the open ones."""
        if self.server is not None:
            self.server.close()
            for writer in list(self.writers):
                writer.transport.abort()
            await self.server.wait_closed()
            self.server = None

    def route(self) -> Route:
        return Route(self.replica_id, f"http://127.0.0.1:{self.port}")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0)
                await reader.readexactly(length)
                behaviour = head.split(b" ")[1].strip(b"/").decode()
                if behaviour == "close_before":
                    return
                if behaviour == "hang":
                    # Until the LB drops the connection (its client left) or the replica goes down.
                    await reader.read()
                    return
                if behaviour == "die_mid":
                    writer.write(PARTIAL)
                    await writer.drain()
                    return
                if behaviour == "slow":
                    await asyncio.sleep(0.02)
                writer.write(OK)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.writers.discard(writer)
            writer.transport.abort()


@dataclass(frozen=True)
class Call:
    method: str
    behaviour: str
    abort_after: float | None  # the client hangs up this long after sending, or waits for the answer

    @property
    def hang_up_after(self) -> float | None:
        # A replica that never answers is only ever left by its client.
        return 0.01 if self.behaviour == "hang" and self.abort_after is None else self.abort_after


calls = st.builds(Call, st.sampled_from(["GET", "POST", "PUT"]), st.sampled_from(BEHAVIOURS), st.one_of(st.none(), st.sampled_from([0.0, 0.005, 0.03])))
steps = st.one_of(
    st.tuples(st.just("call"), calls),
    st.tuples(st.just("routes"), st.frozensets(st.sampled_from([1, 2, 3]))),
    st.tuples(st.just("down"), st.sampled_from([1, 2, 3])),
    st.tuples(st.just("up"), st.sampled_from([1, 2, 3])),
    st.tuples(st.just("pause"), st.sampled_from([0.0, 0.01])),
)


async def client(port: int, call: Call) -> bytes | None:
    """The raw answer, or None when the client hung up itself."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    body = b"" if call.method == "GET" else b"payload"
    writer.write(f"{call.method} /{call.behaviour} HTTP/1.1\r\nhost: t\r\ncontent-length: {len(body)}\r\nconnection: close\r\n\r\n".encode() + body)
    try:
        if call.hang_up_after is not None:
            await asyncio.sleep(call.hang_up_after)
            return None
        try:
            return await asyncio.wait_for(reader.read(), 10)
        except ConnectionError:
            return b"<reset>"
    finally:
        writer.transport.abort()


async def scenario(plan: list[tuple[str, object]]) -> None:
    balancer = Balancer("svc", "least_load", Limits(wait_timeout=0.05), b"http")
    replicas = {i: FakeReplica(i) for i in (1, 2, 3)}
    for replica in replicas.values():
        await replica.up()
    balancer.set_routes([r.route() for r in replicas.values()])
    server = await asyncio.get_running_loop().create_server(lambda: ClientConnection(balancer), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    tasks: list[tuple[Call, asyncio.Task[bytes | None]]] = []
    for kind, arg in plan:
        if kind == "call":
            assert isinstance(arg, Call)
            tasks.append((arg, asyncio.create_task(client(port, arg))))
        elif kind == "routes":
            assert isinstance(arg, frozenset)
            balancer.set_routes([replicas[i].route() for i in sorted(arg)])
        elif kind == "down":
            await replicas[arg].down()  # type: ignore[index]
        elif kind == "up":
            await replicas[arg].up()  # type: ignore[index]
        else:
            await asyncio.sleep(arg)  # type: ignore[arg-type]
    answers = await asyncio.gather(*(task for _, task in tasks))
    # Clients that hung up leave the LB to notice; give the loop a moment to run connection_lost.
    for _ in range(200):
        if balancer.ledger.open_count() == 0 and not balancer.connections:
            break
        await asyncio.sleep(0.005)
    assert balancer.ledger.open_count() == 0
    assert all(count == 0 for count in balancer.ledger.in_flight().values()), balancer.ledger.in_flight()
    assert balancer.stats.waiting == 0
    for (call, _), answer in zip(tasks, answers):
        if answer is None:
            continue
        status = answer[9:12]
        if call.behaviour in ("ok", "slow"):
            # Down replicas and empty routes are retried or answered by the LB, never a broken answer.
            assert answer.endswith(b"\r\n\r\nok") or status in (b"502", b"503"), answer
        elif call.behaviour == "close_before":
            assert status in (b"502", b"503"), answer
        elif call.behaviour == "die_mid":
            # Mid-stream death: the client sees the start and then a cut connection (never a clean end).
            assert not answer.endswith(b"0\r\n\r\n"), answer
    done = sum(answer is not None for answer in answers)
    assert balancer.stats.requests_total >= done
    assert balancer.stats.requests_total <= len(tasks)
    server.close()
    for replica in replicas.values():
        await replica.down()


@settings(max_examples=40, deadline=None)
@given(st.lists(steps, min_size=1, max_size=18))
def test_the_ledger_ends_empty_whatever_fails(plan: list[tuple[str, object]]) -> None:
    asyncio.run(scenario(plan))


VALID = b"GET /ok HTTP/1.1\r\nhost: t\r\ncontent-length: 0\r\n\r\n"
garbage = st.one_of(
    st.binary(max_size=300),
    # A valid request with a few bytes changed, cut, or repeated: closer to what breaks parsers.
    st.builds(lambda at, junk: VALID[:at] + junk + VALID[at:], st.integers(0, len(VALID)), st.binary(min_size=1, max_size=8)),
    st.builds(lambda at: VALID[:at], st.integers(0, len(VALID))),
    st.builds(lambda n: VALID * n, st.integers(1, 4)),
)


async def hostile(data: bytes) -> None:
    loop = asyncio.get_running_loop()
    errors: list[dict[str, object]] = []
    loop.set_exception_handler(lambda _, context: errors.append(context))
    balancer = Balancer("svc", "least_load", Limits(wait_timeout=0.05, max_body_bytes=64), b"http")
    replica = FakeReplica(1)
    await replica.up()
    balancer.set_routes([replica.route()])
    server = await loop.create_server(lambda: ClientConnection(balancer), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    writer.write_eof()
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    # Whatever came back is HTTP answers: the replica's, or the LB's own 4xx; never a 5xx of the LB's making.
    for status in [answer[i + 9 : i + 12] for i in range(len(answer)) if answer.startswith(b"HTTP/1.1 ", i)]:
        assert status in (b"200", b"400", b"405", b"413", b"414", b"431", b"501"), answer
    # And the LB still serves.
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(VALID)
    assert (await asyncio.wait_for(reader.readexactly(len(OK)), 5)) == OK
    writer.close()
    server.close()
    await replica.down()
    for _ in range(100):
        if balancer.ledger.open_count() == 0:
            break
        await asyncio.sleep(0.005)
    assert balancer.ledger.open_count() == 0
    assert errors == []


@settings(max_examples=60, deadline=None)
@given(garbage)
def test_hostile_bytes_get_4xx_and_never_break_the_lb(data: bytes) -> None:
    asyncio.run(hostile(data))
