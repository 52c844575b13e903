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

#: cloudpickle (3.x) names the file of code it pickles by value "<dynamic-code>": the node has no source for it.
DYNAMIC_FRAME = re.compile(r'^(  File )"<dynamic-code>", line (\d+), in (\S+)$')


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
    """The remote traceback with the frames of code sent by value pointed back at their files and lines here.

    The caller has the source the node lacks: each `File "<dynamic-code>", line N, in NAME` frame is
    matched to a code object of `fn` (nested ones included) or of a function of its module that is
    named NAME and spans line N, and gets that file's name and source line.
    """
    if "<dynamic-code>" not in text:
        return text
    import linecache

    codes = list(_codes(fn))
    out: list[str] = []
    for line in text.splitlines(keepends=True):
        match = DYNAMIC_FRAME.match(line.rstrip("\n"))
        code = match and _spanning(codes, match.group(3), int(match.group(2)))
        if not match or not code:
            out.append(line)
            continue
        number = int(match.group(2))
        out.append(f'{match.group(1)}"{code.co_filename}", line {number}, in {match.group(3)}\n')
        source = linecache.getline(code.co_filename, number).strip()
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
