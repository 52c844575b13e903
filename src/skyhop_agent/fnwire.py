"""The frames of a functions session (`skyhop.function` calls on a pool's nodes).

A session is one connection from the caller to the head's agent socket, opened
with the `functions` verb; after the daemon's `{"ok": ...}` line both ends
exchange frames until either closes. The head's relay routes each frame by its
rank to that node's worker (a pipe: a local process on the head, an ssh to the
other nodes) and copies the workers' frames back; it never unpickles. The
worker (`fnworker`) reads the same frames on its stdin and writes them on its
stdout. Standard library only: the daemon imports this too.

A frame is a header `>IBHI` (payload length, kind, rank, call id) and the
payload. Call ids are the caller's, unique per session; a worker echoes the id
of the call a frame belongs to. Payloads by kind:

- HELLO (worker -> caller): JSON `{"python": [3, 11, 7], "implementation": "cpython",
  "cloudpickle": "3.1.3" | null, "pid": N, "cpus": N, "slots": N, "host": NAME}`; the first frame a worker sends.
- PUT (caller -> worker): 16-byte BLAKE2b digest, then a pickle; the worker keeps
  the unpickled object under the digest (functions and large arguments, sent once per node).
- CALL (caller -> worker): a pickle of `(fn_digest_hex, mode, args, kwargs, opts)`.
  `mode` is MODE_CALL (`fn(*args, **kwargs)`: its value, or its yields when it is
  a generator) or MODE_BATCH (`args == (items,)`: `fn(item)` for each; the result
  is a list of `(True, value)` / `(False, error_record)`). A top-level argument
  that is a `Cached(digest_hex)` is replaced by the PUT object. `opts`: a dict
  (`{"name": qualname, "timeout": seconds | None}`).
- RESULT (worker -> caller): a pickle of the return value.
- YIELD (worker -> caller): a pickle of one value a generator yielded; at most
  the granted credit is in flight (CREDIT), the first grant is INITIAL_CREDIT.
- ERROR (worker -> caller): a pickle of an error record, a dict: `{"exception": bytes | None`
  (the exception, cloudpickled; None when it would not pickle), `"type": qualname, "module": NAME,
  "message": str(exc), "traceback": the remote frames as text, "function": qualname,
  "host": NAME}`. The caller re-raises the exception when it unpickles, else a RemoteError.
- OUT (worker -> caller): one byte (STDOUT or STDERR), then bytes the node's
  functions wrote (call id 0: output is per worker, not per call).
- CANCEL (caller -> worker): stop the call (a generator closed early, a timeout).
- CREDIT (caller -> worker): 4-byte unsigned count of further yields the caller takes.
- LOST (relay -> caller): JSON `{"rank": N, "host": NAME, "reason": TEXT}`: that
  rank's worker is gone (its pipe ended); no frame of it follows.
- PING / PONG: liveness; the caller pings a worker, whose PONG echoes the PING's call id.
"""

from __future__ import annotations

import struct

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO

HEADER = struct.Struct(">IBHI")
#: The largest payload a frame carries; a larger argument is refused before it is sent.
MAX_PAYLOAD = 1 << 30
DIGEST_SIZE = 16
INITIAL_CREDIT = 64
#: The most calls one worker runs at once (`--slots`; the relay refuses more, the caller checks before it launches).
MAX_SLOTS = 4096

HELLO = 1
PUT = 2
CALL = 3
RESULT = 4
YIELD = 5
ERROR = 6
OUT = 7
CANCEL = 8
CREDIT = 9
LOST = 10
PING = 11
PONG = 12
KINDS = frozenset(range(HELLO, PONG + 1))

MODE_CALL = "call"
MODE_BATCH = "batch"

STDOUT = 1
STDERR = 2

CREDIT_COUNT = struct.Struct(">I")


class Cached:
    """A top-level CALL argument standing for the object a PUT sent under `digest` (hex)."""

    __slots__ = ("digest",)

    def __init__(self, digest: str) -> None:
        self.digest = digest

    def __reduce__(self) -> tuple[type[Cached], tuple[str]]:
        return (Cached, (self.digest,))


class FrameError(Exception):
    """A frame that breaks the format (unknown kind, a payload over MAX_PAYLOAD, a stream cut mid-frame)."""


class Frame:
    """One frame. A plain class with slots: the relay makes one per message."""

    __slots__ = ("kind", "rank", "call_id", "payload")

    def __init__(self, kind: int, rank: int, call_id: int, payload: bytes = b"") -> None:
        self.kind = kind
        self.rank = rank
        self.call_id = call_id
        self.payload = payload

    def __repr__(self) -> str:
        return f"Frame(kind={self.kind}, rank={self.rank}, call_id={self.call_id}, payload={len(self.payload)} bytes)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Frame) and (self.kind, self.rank, self.call_id, self.payload) == (other.kind, other.rank, other.call_id, other.payload)


def encode(frame: Frame) -> bytes:
    """The frame's bytes; FrameError for a payload over MAX_PAYLOAD or an unknown kind."""
    if frame.kind not in KINDS:
        raise FrameError(f"unknown frame kind {frame.kind}")
    if len(frame.payload) > MAX_PAYLOAD:
        raise FrameError(f"a frame payload of {len(frame.payload)} bytes is over the {MAX_PAYLOAD}-byte limit")
    return HEADER.pack(len(frame.payload), frame.kind, frame.rank, frame.call_id) + frame.payload


def parse_header(header: bytes) -> tuple[int, int, int, int]:
    """`(length, kind, rank, call_id)` of a HEADER.size-byte header, checked."""
    length, kind, rank, call_id = HEADER.unpack(header)
    if kind not in KINDS:
        raise FrameError(f"unknown frame kind {kind}")
    if length > MAX_PAYLOAD:
        raise FrameError(f"a frame announces {length} bytes, over the {MAX_PAYLOAD}-byte limit")
    return length, kind, rank, call_id


def read_frame(stream: BinaryIO) -> Frame | None:
    """The next frame from a binary stream (a pipe or `socket.makefile('rb')`); None at a clean end.

    FrameError when the stream ends inside a frame or the header is bad.
    """
    header = _read_exactly(stream, HEADER.size, allow_eof=True)
    if header is None:
        return None
    length, kind, rank, call_id = parse_header(header)
    payload = _read_exactly(stream, length, allow_eof=False) if length else b""
    assert payload is not None
    return Frame(kind, rank, call_id, payload)


def _read_exactly(stream: BinaryIO, size: int, allow_eof: bool) -> bytes | None:
    data = stream.read(size)
    if len(data) == size:
        return data
    parts = [data]
    got = len(data)
    while got < size:
        chunk = stream.read(size - got)
        if not chunk:
            if got == 0 and allow_eof:
                return None
            raise FrameError(f"the stream ended {got} bytes into a {size}-byte read")
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)
