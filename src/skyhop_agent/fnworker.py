"""The worker of a functions session: runs the caller's pickled functions on one node.

Started by the relay as `python -u -m skyhop_agent.fnworker --rank R --slots N`
(in the user's environment, found through `bash -i`, with PYTHONPATH at the
copied agent), it speaks `fnwire` frames on its stdin and stdout and nothing
else: HELLO first, then PUT/CALL/CANCEL/CREDIT/PING in, RESULT/YIELD/ERROR/OUT/PONG
out, every frame it sends carrying rank R. Standard library plus cloudpickle
only: the agent package is copied to nodes alone, so `skyhop` is never importable here.

Why the pieces are as they are:

- **Output.** The frame pipes are moved off fds 0/1 at start (to private
  descriptors no child inherits); fd 0 becomes /dev/null and fds 1/2 become
  pipes of the worker's own whose reader threads send what arrives as OUT
  frames at once (no line assembly: the caller joins lines). So `print`, a C
  extension's `write(1, ...)` and a subprocess's output all reach the caller,
  and nothing a function writes can corrupt the frame stream. A call's
  RESULT waits (at most 50 ms) until what the function wrote before it
  returned has been sent, so its output shows before its value.
- **Slots.** Up to `--slots` calls run at once in threads of one process
  (a ThreadPoolExecutor): a no-op call then costs a queue hand-off, not a
  fork, and an object PUT once is shared by every call. CPU-bound pure-Python
  items contend for the GIL; the caller spreads those over nodes and cores.
  Calls over the slot count wait in the executor's queue, never in the frame
  reader, which must stay free for CANCEL and CREDIT.
- **Cancel and timeouts.** CANCEL closes a generator (`gen.close()`, so its
  `finally:` runs here) at its next step and suppresses every later frame of
  the call. A plain call that is already running cannot be interrupted from
  another thread: it runs to the end and its result is dropped.
  `opts["timeout"]` is not enforced here; timing out is the caller's job
  (it sends CANCEL and stops waiting).
- **Errors.** An exception becomes an ERROR record (see fnwire): the
  exception cloudpickled only if it also unpickles back here (a class whose
  `__init__` cannot be replayed from its args would fail on the caller
  instead), and always its type, message and traceback text, whose first
  frame is the user's function (the worker's and asyncio's own frames are cut).
- **Results.** Plain pickle (protocol 5) first, cloudpickle when that fails
  (values of classes that were themselves pickled by value); a value that
  neither pickles is an ERROR naming the function and the value's type.
- **End.** EOF on stdin closes every generator, gives running calls a grace
  period (2 s), ends the processes the calls started (SIGTERM, then SIGKILL
  after 1 s) and exits 0 with `os._exit`; a malformed frame says why on the
  caller's stderr (an OUT frame) and exits 2 the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import fcntl
import inspect
import io
import json
import linecache
import os
import pickle
import socket
import struct
import sys
import termios
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

from skyhop_agent import fnwire, proctree

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, BinaryIO, Callable

DEFAULT_CACHE_BYTES = 2 << 30
#: How long EOF waits for running calls before the worker exits anyway.
DEFAULT_GRACE_S = 2.0
#: How long the processes calls started get after SIGTERM, when the worker ends, before SIGKILL.
CHILD_GRACE_S = 1.0
#: How long a RESULT waits for the call's output to be sent first.
OUTPUT_SETTLE_S = 0.05
_READ_CHUNK = 1 << 16
_HERE = os.path.abspath(__file__)
_ASYNCIO_DIR = os.path.dirname(os.path.abspath(asyncio.__file__))
_FIONREAD = struct.Struct("i")
#: The file name cloudpickle gives the code of functions it pickles by value.
_DYNAMIC_CODE = "<dynamic-code>"


class _Stop(Exception):
    """The frame reader's way out: the stream ended (code 0) or broke the format (code 2)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


#: Payloads from this size on are written after their header rather than copied into one buffer with it.
_COPY_MAX = 1 << 16


class FrameWriter:
    """Writes whole frames to the caller's pipe; one lock, so frames of many threads never interleave."""

    def __init__(self, fd: int, rank: int) -> None:
        self._fd = fd
        self._rank = rank
        self._lock = threading.Lock()
        #: Set once stdin ended: the caller is going away, so a closed pipe is no failure.
        self.closing = False

    def send(self, kind: int, call_id: int, payload: bytes = b"") -> None:
        if len(payload) < _COPY_MAX:
            parts = [fnwire.encode(fnwire.Frame(kind, self._rank, call_id, payload))]
        else:  # a large result goes after its header, not copied behind it (a 1 GB value would need 2 GB)
            if len(payload) > fnwire.MAX_PAYLOAD:
                raise fnwire.FrameError(f"a frame payload of {len(payload)} bytes is over the {fnwire.MAX_PAYLOAD}-byte limit")
            parts = [fnwire.HEADER.pack(len(payload), kind, self._rank, call_id), payload]
        with self._lock:
            try:
                for part in parts:
                    _write_all(self._fd, part)
            except OSError:
                # The caller (relay) is gone: nobody can hear anything this worker says.
                os._exit(0 if self.closing else 1)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class OutputPump:
    """One of fd 1/2: a pipe whose reader thread sends what arrives as OUT frames."""

    def __init__(self, target_fd: int, stream: int, writer: FrameWriter) -> None:
        read_fd, write_fd = os.pipe()
        os.dup2(write_fd, target_fd)  # inheritable: subprocesses write here too
        os.close(write_fd)
        self._read_fd = read_fd
        self._prefix = bytes([stream])
        self._writer = writer
        self._cond = threading.Condition()
        self._read = 0
        self._sent = 0
        self._thread = threading.Thread(target=self._run, name=f"fnworker-out{target_fd}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                chunk = os.read(self._read_fd, _READ_CHUNK)
            except OSError:
                chunk = b""
            if not chunk:
                break
            with self._cond:
                self._read += len(chunk)
            self._writer.send(fnwire.OUT, 0, self._prefix + chunk)
            with self._cond:
                self._sent += len(chunk)
                self._cond.notify_all()
        with self._cond:
            self._sent = self._read = -1  # ended: nothing to wait for
            self._cond.notify_all()

    def settle(self, deadline: float) -> None:
        """Wait (until `deadline`, monotonic) for what was written so far to be sent."""
        with self._cond:
            target = self._read
        try:
            pending = _FIONREAD.unpack(fcntl.ioctl(self._read_fd, termios.FIONREAD, b"\0" * _FIONREAD.size))[0]
        except OSError:
            return
        target += pending
        with self._cond:
            while 0 <= self._sent < target:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._cond.wait(left)

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


class ObjectCache:
    """The PUT objects by digest (hex), least recently used evicted first past `limit` bytes (pickled size)."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._items: collections.OrderedDict[str, tuple[object, int]] = collections.OrderedDict()
        self._bytes = 0

    def put(self, digest: str, obj: object, size: int) -> None:
        old = self._items.pop(digest, None)
        if old is not None:
            self._bytes -= old[1]
        self._items[digest] = (obj, size)
        self._bytes += size
        while self._bytes > self._limit and len(self._items) > 1:
            _, (_, dropped) = self._items.popitem(last=False)
            self._bytes -= dropped

    def get(self, digest: str) -> object:
        obj, _ = self._items[digest]
        self._items.move_to_end(digest)
        return obj

    def __contains__(self, digest: str) -> bool:
        return digest in self._items

    def __len__(self) -> int:
        return len(self._items)


class _FailedPut:
    """A PUT whose pickle would not load here: the error is raised by each call that uses it."""

    def __init__(self, error: BaseException) -> None:
        self.error = error
        self.traceback = error.__traceback__  # each raise starts from it (a raise adds its frames)


class _Call:
    """One CALL's state shared by the frame reader (credit, cancel) and the thread that runs it."""

    __slots__ = ("call_id", "name", "credit", "cancelled", "cond")

    def __init__(self, call_id: int, name: str) -> None:
        self.call_id = call_id
        self.name = name
        self.credit = fnwire.INITIAL_CREDIT
        self.cancelled = False
        self.cond = threading.Condition(threading.Lock())

    def grant(self, count: int) -> None:
        with self.cond:
            self.credit += count
            self.cond.notify()

    def cancel(self) -> None:
        with self.cond:
            self.cancelled = True
            self.cond.notify()

    def take_credit(self) -> bool:
        """Wait for one unit of credit; False once the call is cancelled."""
        with self.cond:
            while self.credit <= 0 and not self.cancelled:
                self.cond.wait()
            if self.cancelled:
                return False
            self.credit -= 1
            return True


class Worker:
    """The frame loop and the calls it runs."""

    def __init__(self, rank: int, slots: int, writer: FrameWriter, pumps: tuple[OutputPump, ...], cache_bytes: int, cloudpickle: Any | None) -> None:
        self.rank = rank
        self.slots = slots
        self.host = socket.gethostname()
        self._writer = writer
        self._pumps = pumps
        self._cache = ObjectCache(cache_bytes)
        self._cloudpickle = cloudpickle
        self._calls: dict[int, _Call] = {}
        self._executor = ThreadPoolExecutor(max_workers=slots, thread_name_prefix="fnworker-slot")

    # -- the frame loop ---------------------------------------------------------------

    def hello(self) -> None:
        body = {
            "python": list(sys.version_info[:3]),
            "implementation": sys.implementation.name,
            "cloudpickle": getattr(self._cloudpickle, "__version__", None) if self._cloudpickle is not None else None,
            "pid": os.getpid(),
            "cpus": _cpus(),
            "slots": self.slots,
            "host": self.host,
        }
        self._writer.send(fnwire.HELLO, 0, json.dumps(body).encode())

    def serve(self, stream: BinaryIO) -> int:
        """Read frames until EOF (0) or a malformed one (2); the exit code."""
        try:
            while True:
                try:
                    frame = fnwire.read_frame(stream)
                except (fnwire.FrameError, OSError) as exc:
                    self._complain(f"a malformed frame from the caller: {exc}")
                    return 2
                if frame is None:
                    return 0
                self._dispatch(frame)
        except _Stop as stop:
            return stop.code

    def _dispatch(self, frame: fnwire.Frame) -> None:
        kind = frame.kind
        if kind == fnwire.CALL:
            self._start_call(frame.call_id, frame.payload)
        elif kind == fnwire.CREDIT:
            if len(frame.payload) != fnwire.CREDIT_COUNT.size:
                self._complain(f"a CREDIT frame of {len(frame.payload)} bytes (4 expected)")
                raise _Stop(2)
            call = self._calls.get(frame.call_id)
            if call is not None:
                call.grant(fnwire.CREDIT_COUNT.unpack(frame.payload)[0])
        elif kind == fnwire.CANCEL:
            call = self._calls.get(frame.call_id)
            if call is not None:
                call.cancel()
        elif kind == fnwire.PUT:
            self._put(frame.payload)
        elif kind == fnwire.PING:
            self._writer.send(fnwire.PONG, frame.call_id)
        elif kind == fnwire.PONG:
            pass
        else:
            self._complain(f"a frame of kind {kind}, which only a worker or the relay sends")
            raise _Stop(2)

    def _complain(self, text: str) -> None:
        self._writer.send(fnwire.OUT, 0, bytes([fnwire.STDERR]) + f"skyhop fnworker (rank {self.rank}, {self.host}): {text}\n".encode())

    def _put(self, payload: bytes) -> None:
        if len(payload) < fnwire.DIGEST_SIZE:
            self._complain(f"a PUT frame of {len(payload)} bytes, shorter than its {fnwire.DIGEST_SIZE}-byte digest")
            raise _Stop(2)
        digest = payload[: fnwire.DIGEST_SIZE].hex()
        obj: object
        try:
            obj = pickle.loads(memoryview(payload)[fnwire.DIGEST_SIZE :])
        except BaseException as exc:  # kept for the call that uses it
            obj = _FailedPut(self._unpickling_note(exc))
        self._cache.put(digest, obj, len(payload))

    # -- one call ----------------------------------------------------------------------

    def _start_call(self, call_id: int, payload: bytes) -> None:
        call = _Call(call_id, "?")
        if self._cloudpickle is None:
            self._send_error(call, _missing_cloudpickle(self.host))
            return
        try:
            try:
                fn_digest, mode, args, kwargs, opts = pickle.loads(payload)
            except BaseException as exc:
                self._unpickling_note(exc)
                raise
            call.name = str((opts or {}).get("name") or "?")
            fn = self._lookup(fn_digest)
            args = tuple(self._lookup(a.digest) if isinstance(a, fnwire.Cached) else a for a in args)
            kwargs = {k: self._lookup(v.digest) if isinstance(v, fnwire.Cached) else v for k, v in kwargs.items()}
            if call.name == "?":
                call.name = getattr(fn, "__qualname__", None) or repr(fn)
            if mode == fnwire.MODE_BATCH:
                (items,) = args
                job: tuple[Any, ...] = (self._run_batch, call, fn, items)
            elif mode == fnwire.MODE_CALL:
                job = (self._run_call, call, fn, args, kwargs)
            else:
                raise ValueError(f"unknown call mode {mode!r} (this worker knows {fnwire.MODE_CALL!r} and {fnwire.MODE_BATCH!r})")
        except BaseException as exc:  # reported to the caller
            self._send_error(call, exc)
            return
        self._calls[call_id] = call
        self._executor.submit(*job)

    def _unpickling_note(self, exc: BaseException) -> BaseException:
        """`exc` (raised by unpickling what the caller sent) with a note of where and what usually causes it."""
        if hasattr(exc, "add_note"):  # Python >= 3.11; the note travels in the exception's pickle and its traceback text
            exc.add_note(
                f"(raised while unpickling a function or arguments on rank {self.rank}, {self.host}: modules the caller imports from "
                "installed packages are pickled by reference and must be installed on the node too)"
            )
        return exc

    def _lookup(self, digest: str) -> object:
        try:
            obj = self._cache.get(digest)
        except KeyError:
            raise LookupError(f"no object under digest {digest} on rank {self.rank} ({self.host}): it was never PUT to this worker or was evicted from its cache") from None
        if isinstance(obj, _FailedPut):
            raise obj.error.with_traceback(obj.traceback)
        return obj

    def _run_call(self, call: _Call, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        try:
            if call.cancelled:
                return
            try:
                value = fn(*args, **kwargs)
                if inspect.isgenerator(value):
                    self._stream(call, value.__next__, value.close)
                    return
                if inspect.isasyncgen(value):
                    self._stream_async(call, value)
                    return
                if inspect.iscoroutine(value):
                    value = asyncio.run(value)
            except BaseException as exc:  # a function's SystemExit is its error too
                self._send_error(call, exc)
                return
            data = self._pickle(call, value, f"the return value of {call.name}")
            if data is not None:
                self._finish(call, fnwire.RESULT, data)
        finally:
            self._calls.pop(call.call_id, None)

    def _stream(self, call: _Call, step: Callable[[], Any], close: Callable[[], Any]) -> None:
        """Send a generator's values as YIELDs within the call's credit, then RESULT(None).

        `step` gives the next value (StopIteration/StopAsyncIteration at the end),
        `close` closes the generator: on CANCEL (its `finally:` runs here) or a
        value that will not pickle.
        """
        try:
            while True:
                if not call.take_credit():
                    close()
                    return
                try:
                    value = step()
                except (StopIteration, StopAsyncIteration):
                    break
                if call.cancelled:
                    close()
                    return
                data = self._pickle(call, value, f"a value yielded by {call.name}")
                if data is None:
                    close()
                    return
                self._send_live(call, fnwire.YIELD, data)
        except BaseException as exc:  # reported to the caller
            self._send_error(call, exc)
            return
        self._finish(call, fnwire.RESULT, _NONE)

    def _stream_async(self, call: _Call, agen: Any) -> None:
        """An async generator streamed on an event loop of this thread's own."""
        loop = asyncio.new_event_loop()
        try:
            self._stream(call, lambda: loop.run_until_complete(agen.__anext__()), lambda: loop.run_until_complete(agen.aclose()))
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()

    def _run_batch(self, call: _Call, fn: Callable[[Any], Any], items: Any) -> None:
        try:
            results: list[tuple[bool, Any]] = []
            for item in items:
                if call.cancelled:
                    return
                try:
                    value = fn(item)
                    if inspect.iscoroutine(value):
                        value = asyncio.run(value)
                    results.append((True, value))
                except BaseException as exc:  # one item's error
                    results.append((False, self._record(call, exc)))
            try:
                data = _dumps_plain(results)
            except Exception:
                data = self._pickle_batch(call, results)
            self._finish(call, fnwire.RESULT, data)
        except BaseException as exc:  # e.g. items that are not iterable
            self._send_error(call, exc)
        finally:
            self._calls.pop(call.call_id, None)

    def _pickle_batch(self, call: _Call, results: list[tuple[bool, Any]]) -> bytes:
        """The batch's pickle when one value would not pickle: that item becomes its error."""
        fixed: list[tuple[bool, Any]] = []
        for index, (ok, value) in enumerate(results):
            if ok:
                try:
                    self._dumps(value)
                except Exception as exc:
                    ok, value = False, self._record(call, _unpicklable(f"the return value for item {index} of {call.name}", value, exc), cut=False)
            fixed.append((ok, value))
        return self._dumps(fixed)

    # -- pickling and sending ----------------------------------------------------------

    def _dumps(self, value: object) -> bytes:
        try:
            return _dumps_plain(value)
        except Exception:
            assert self._cloudpickle is not None
            data: bytes = self._cloudpickle.dumps(value, protocol=5)
            return data

    def _pickle(self, call: _Call, value: object, what: str) -> bytes | None:
        """The value's pickle, or None after sending the ERROR that says why it has none."""
        try:
            data = self._dumps(value)
        except Exception as exc:
            self._send_error(call, _unpicklable(what, value, exc), cut=False)
            return None
        if len(data) > fnwire.MAX_PAYLOAD:
            self._send_error(call, pickle.PicklingError(f"{what} pickles to {len(data)} bytes, over the {fnwire.MAX_PAYLOAD}-byte frame limit"), cut=False)
            return None
        return data

    def _send_live(self, call: _Call, kind: int, payload: bytes) -> None:
        if not call.cancelled:
            self._writer.send(kind, call.call_id, payload)

    def _finish(self, call: _Call, kind: int, payload: bytes) -> None:
        """The call's last frame, after the output it wrote so far (at most OUTPUT_SETTLE_S)."""
        if call.cancelled:
            return
        deadline = time.monotonic() + OUTPUT_SETTLE_S
        for pump in self._pumps:
            pump.settle(deadline)
        self._send_live(call, kind, payload)

    def _send_error(self, call: _Call, exc: BaseException, cut: bool = True) -> None:
        self._finish(call, fnwire.ERROR, pickle.dumps(self._record(call, exc, cut), protocol=5))

    def _record(self, call: _Call, exc: BaseException, cut: bool = True) -> dict[str, Any]:
        """The fnwire ERROR record of `exc` raised by the call's function."""
        blob: bytes | None = None
        if self._cloudpickle is not None:
            try:
                blob = self._cloudpickle.dumps(exc, protocol=5)
                pickle.loads(blob)
            except BaseException:  # an exception that will not travel is sent as text
                blob = None
        else:
            try:
                blob = pickle.dumps(exc, protocol=5)
                pickle.loads(blob)
            except BaseException:
                blob = None
        try:
            message = str(exc)
        except BaseException:  # a broken __str__
            message = f"<{type(exc).__qualname__}: its str() failed>"
        text = format_remote_traceback(exc, _user_frames(exc.__traceback__) if cut else None)
        return {
            "exception": blob,
            "type": type(exc).__qualname__,
            "module": type(exc).__module__,
            "message": message,
            "traceback": text,
            "function": call.name,
            "host": self.host,
        }

    # -- the end -------------------------------------------------------------------------

    def shutdown(self, grace: float) -> None:
        """Close the generators, give running calls `grace` seconds, flush what they wrote."""
        for call in list(self._calls.values()):
            call.cancel()
        deadline = time.monotonic() + grace
        while self._calls and time.monotonic() < deadline:
            time.sleep(0.01)
        _flush_std()


_NONE = pickle.dumps(None, protocol=5)


def _dumps_plain(value: object) -> bytes:
    return pickle.dumps(value, protocol=5)


def _type_name(value: object) -> str:
    cls = type(value)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def _unpicklable(what: str, value: object, exc: BaseException) -> pickle.PicklingError:
    """`what` (e.g. "the return value of f") names the value; the error says its type and why."""
    return pickle.PicklingError(f"{what} (a {_type_name(value)}) cannot be pickled: {exc}")


def _user_frames(tb: Any) -> Any:
    """`tb` without its leading frames of this module and of asyncio's runner: the first left is the user's.

    None when no frame is left (the call itself failed, e.g. with the wrong arguments).
    """
    while tb is not None:
        filename = os.path.abspath(tb.tb_frame.f_code.co_filename)
        if filename != _HERE and os.path.dirname(filename) != _ASYNCIO_DIR:
            break
        tb = tb.tb_next
    return tb


def format_remote_traceback(exc: BaseException, tb: Any) -> str:
    """The text of `exc` raised through `tb`, with the caller's own file names in its frames.

    cloudpickle names the code of every function it pickles by value
    `<dynamic-code>` (so a pickle does not depend on where it was made); such
    a function's globals still hold its module's `__file__`, which is the name
    the caller knows its code by. Frames keep their line numbers; the source
    line is shown when that file exists on this node too.
    """
    summary = traceback.TracebackException(type(exc), exc, tb)
    _name_dynamic_code(summary, exc, tb, set())
    return "".join(summary.format())


def _name_dynamic_code(summary: traceback.TracebackException, exc: BaseException, tb: Any, seen: set[int]) -> None:
    if id(exc) in seen:
        return
    seen.add(id(exc))
    frames = [frame for frame, _ in traceback.walk_tb(tb)]
    if len(frames) == len(summary.stack) and any(fs.filename == _DYNAMIC_CODE for fs in summary.stack):
        summary.stack = traceback.StackSummary.from_list([_named(fs, frame) for fs, frame in zip(summary.stack, frames)])
    for sub_summary, sub_exc in ((summary.__cause__, exc.__cause__), (summary.__context__, exc.__context__)):
        if sub_summary is not None and sub_exc is not None:
            _name_dynamic_code(sub_summary, sub_exc, sub_exc.__traceback__, seen)
    for sub_summary, sub_exc in zip(getattr(summary, "exceptions", None) or (), getattr(exc, "exceptions", None) or ()):
        _name_dynamic_code(sub_summary, sub_exc, sub_exc.__traceback__, seen)


def _named(fs: traceback.FrameSummary, frame: Any) -> traceback.FrameSummary:
    filename = frame.f_globals.get("__file__") if fs.filename == _DYNAMIC_CODE else None
    if not isinstance(filename, str):
        return fs
    line = linecache.getline(filename, fs.lineno or 0) or None  # unstripped: the carets' columns count from its start
    positions = {key: getattr(fs, key) for key in ("end_lineno", "colno", "end_colno") if hasattr(fs, key)}  # Python >= 3.11
    return traceback.FrameSummary(filename, fs.lineno, fs.name, lookup_line=False, line=line, **positions)


def _missing_cloudpickle(host: str) -> ModuleNotFoundError:
    version = ".".join(map(str, sys.version_info[:3]))
    return ModuleNotFoundError(
        f"cloudpickle is not installed for the Python that runs functions on {host} ({sys.executable}, Python {version}): "
        f"install it there with `{sys.executable} -m pip install cloudpickle` (in the pool's setup), then open the session again",
        name="cloudpickle",
    )


def _cpus() -> int:
    """The CPUs this process may run on (its affinity, which a container or `taskset` narrows)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS has no sched_getaffinity
        return os.cpu_count() or 1


def _flush_std() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass


def _take_frame_pipes() -> tuple[int, int]:
    """Move the frame pipes off fds 0/1 to private descriptors (not inherited) and point fd 0 at /dev/null."""
    frames_in = os.dup(0)
    frames_out = os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    return frames_in, frames_out


def _reopen_std() -> None:
    """Python-level stdout/stderr on the new fds 1/2, unbuffered, so a print is sent at once."""
    for name, fd in (("stdout", 1), ("stderr", 2)):
        raw = io.FileIO(fd, "w", closefd=False)
        setattr(sys, name, io.TextIOWrapper(raw, encoding="utf-8", errors="backslashreplace", write_through=True, line_buffering=True))


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m skyhop_agent.fnworker", description="Run a functions session's calls on this node (frames on stdin/stdout).")
    parser.add_argument("--rank", type=int, required=True)
    parser.add_argument("--slots", type=int, default=0, help="calls run at once (default: the CPUs this process may use)")
    parser.add_argument("--cache-bytes", type=int, default=DEFAULT_CACHE_BYTES, help="bytes of PUT objects kept (least recently used dropped first)")
    parser.add_argument("--grace", type=float, default=DEFAULT_GRACE_S, help="seconds running calls get after stdin ends")
    args = parser.parse_args(argv)
    if not 0 <= args.rank <= 0xFFFF:
        parser.error(f"--rank must be 0..65535, not {args.rank}")
    if args.slots < 0:
        parser.error(f"--slots must be positive, not {args.slots}")
    return args


def _import_cloudpickle() -> Any | None:
    """The cloudpickle module, or None when this Python lacks it (every call then says how to install it)."""
    try:
        import cloudpickle
    except Exception:
        return None
    return cloudpickle


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    frames_in, frames_out = _take_frame_pipes()
    writer = FrameWriter(frames_out, args.rank)
    _flush_std()
    pumps = (OutputPump(1, fnwire.STDOUT, writer), OutputPump(2, fnwire.STDERR, writer))
    _reopen_std()
    cloudpickle = _import_cloudpickle()
    worker = Worker(args.rank, args.slots or _cpus(), writer, pumps, args.cache_bytes, cloudpickle)
    worker.hello()
    code = worker.serve(os.fdopen(frames_in, "rb", buffering=_READ_CHUNK))
    writer.closing = True
    worker.shutdown(args.grace if code == 0 else 0.0)
    # What the calls started (subprocesses, their children) goes with the worker.
    proctree.kill_tree([os.getpid()], grace=min(args.grace, CHILD_GRACE_S))
    # Close this process's ends of fds 1/2 so the pumps see EOF (a child that kept them open ends the wait).
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    for pump in pumps:
        pump.join(0.2)
    # Threads of calls still running (past the grace) must not hold the exit.
    os._exit(code)


if __name__ == "__main__":
    main()
