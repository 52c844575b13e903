"""An exception raised on a node, raised again here.

The worker sends an error record (fnwire ERROR): the exception cloudpickled
when it would pickle, its type, message and the remote traceback as text. The
caller gets the original exception, type and all, with a `RemoteTraceback` as
its `__cause__` (so the report shows the frames as they ran on the node) and a
note naming the rank, host and function; when the class cannot be rebuilt here
(not importable, or an `__init__` pickle cannot replay) a `RemoteError` stands
in for it with the same cause.
"""

from __future__ import annotations

import pickle
import re
from typing import TYPE_CHECKING, Any

from skyhop.functions.errors import RemoteError, RemoteTraceback

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from types import CodeType

#: A frame's line in a formatted traceback (its source line, when the node had it, follows indented by four).
FRAME = re.compile(r'^(  File )"([^"]+)", line (\d+), in (\S+)$')


def rebuild(record: dict[str, Any], rank: int, fn: Callable[..., Any] | None = None) -> BaseException:
    """The exception to raise locally for one error record of `rank`'s worker (`fn`: the function called, to name its frames)."""
    host = str(record.get("host") or "?")
    function = str(record.get("function") or "?")
    text = str(record.get("traceback") or "")
    if fn is not None:
        text = with_sources(text, fn)
    cause = RemoteTraceback(text, node=host, rank=rank, function=function)
    type_name = ".".join(part for part in (record.get("module"), record.get("type")) if part) or "Exception"
    message = str(record.get("message") or "")
    exception: BaseException
    blob = record.get("exception")
    if blob is None:
        exception = RemoteError(type_name, message, why="it could not be pickled on the node")
    else:
        try:
            exception = pickle.loads(blob)
            if not isinstance(exception, BaseException):
                raise TypeError(f"the record holds a {type(exception).__name__}, not an exception")
        except Exception as error:  # noqa: BLE001 - an unpickling error is any exception a __reduce__ raises
            exception = RemoteError(type_name, message, why=f"its class cannot be rebuilt here ({type(error).__name__}: {error})")
    exception.__cause__ = cause
    exception.__suppress_context__ = True
    add_note(exception, f"raised on rank {rank} ({host}) in {function}")
    return exception


def add_note(exception: BaseException, note: str) -> None:
    """`exception.add_note(note)` on Python 3.11+; on 3.10 the note goes into `__notes__` (shown by 3.11 only)."""
    adder = getattr(exception, "add_note", None)
    if adder is not None:
        adder(note)
    else:
        try:
            exception.__notes__ = [*getattr(exception, "__notes__", []), note]  # type: ignore[attr-defined]
        except AttributeError:  # an exception type with __slots__: the note is left off
            pass


def with_sources(text: str, fn: Callable[..., Any]) -> str:
    """The remote traceback with the source lines the node lacked, from the caller's files.

    The caller has the source the node may not: a frame of a file that is not on
    the node comes without its line, and cloudpickle (3.x) names code it pickles
    by value `<dynamic-code>` (the worker renames what it can). Such a frame is
    matched to a code object of `fn` (nested ones included) or of a function of
    its module that is named NAME and spans line N; a named frame without its line
    gets it from the file here, when this machine has that file.
    """
    import linecache

    codes: list[CodeType] | None = None
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    for position, line in enumerate(lines):
        match = FRAME.match(line.rstrip("\n"))
        if not match:
            out.append(line)
            continue
        filename, number, name = match.group(2), int(match.group(3)), match.group(4)
        if filename == "<dynamic-code>":
            codes = list(_codes(fn)) if codes is None else codes
            code = _spanning(codes, name, number)
            if code is None:
                out.append(line)
                continue
            filename = code.co_filename
            line = f'{match.group(1)}"{filename}", line {number}, in {name}\n'
        out.append(line)
        following = lines[position + 1] if position + 1 < len(lines) else ""
        if not following.startswith("    ") or FRAME.match(following.rstrip("\n")):
            source = linecache.getline(filename, number).strip()
            if source:
                out.append(f"    {source}\n")
    return "".join(out)


def _codes(fn: Callable[..., Any]) -> Iterator[CodeType]:
    import inspect
    import sys

    roots = [getattr(fn, "__code__", None)]
    module = sys.modules.get(getattr(fn, "__module__", None) or "")
    if module is not None:
        roots += [getattr(value, "__code__", None) for value in vars(module).values() if inspect.isfunction(value)]
        roots += [getattr(getattr(value, "__wrapped__", None), "__code__", None) for value in vars(module).values()]
    stack = [code for code in roots if code is not None]
    while stack:
        code = stack.pop()
        yield code
        stack.extend(const for const in code.co_consts if hasattr(const, "co_lines"))


def _spanning(codes: list[CodeType], name: str, line: int) -> CodeType | None:
    for code in codes:
        if code.co_name == name:
            lines = [number for _, _, number in code.co_lines() if number is not None]
            if lines and min(lines + [code.co_firstlineno]) <= line <= max(lines):
                return code
    return None
