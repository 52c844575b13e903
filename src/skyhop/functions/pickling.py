"""What crosses to the nodes as pickles, and how (docs/functions.md has the user's version).

Functions and arguments go with cloudpickle. The caller's own code goes by
value: `__main__` (cloudpickle's own rule) and every loaded module whose file
lies under the working directory (or the pool's workdir) outside any
site-packages/dist-packages and the standard library, plus `Pool(by_value=)`;
installed packages go by reference and must be installed on the nodes.
cloudpickle is imported on the first pickle, never by `import skyhop` (34 ms).
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import sys
from typing import TYPE_CHECKING, Any

from skyhop.functions.errors import NotPicklable
from skyhop_agent import fnwire

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from types import ModuleType

#: A top-level argument whose pickle is larger than this is sent once per node (PUT) and passed by digest.
CACHE_ARGUMENT_BYTES = 64 * 1024
PROTOCOL = 5


def cloudpickle() -> ModuleType:
    """The cloudpickle module, imported on first use; a clear error when the `functions` extra is missing."""
    try:
        import cloudpickle as module
    except ImportError:
        raise NotPicklable(
            "skyhop functions need cloudpickle in this Python: `pip install 'skyhop[functions]'` (or `pip install cloudpickle`)."
        ) from None
    return module


def digest(data: bytes) -> bytes:
    """The PUT key of a pickle: BLAKE2b, 16 bytes."""
    return hashlib.blake2b(data, digest_size=fnwire.DIGEST_SIZE).digest()


@functools.lru_cache(maxsize=1)
def _library_roots() -> tuple[str, ...]:
    import sysconfig

    roots = {sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    return tuple(os.path.join(os.path.realpath(root), "") for root in roots)


def is_own_module(module: ModuleType, roots: Iterable[str], libraries: tuple[str, ...]) -> bool:
    """Whether `module` is the caller's own code: its file is under one of `roots` (real paths, ending in a
    separator) and in no library directory.

    skyhop's own packages are excluded: a node has `skyhop_agent` (whose classes, `fnwire.Cached`,
    must stay by reference) and no `skyhop` (`sharding` alone is sent by value).
    """
    path = getattr(module, "__file__", None)
    name = module.__name__
    if not path or name.partition(".")[0] in ("skyhop", "skyhop_agent"):
        return False
    path = os.path.realpath(path)
    if any(part in ("site-packages", "dist-packages") for part in path.split(os.sep)) or path.startswith(libraries):
        return False
    return path.startswith(tuple(roots))


#: Per set of roots: the module names already judged, and how many modules there were at the last scan.
_judged: dict[tuple[str, ...], set[str]] = {}
_scanned: dict[tuple[str, ...], int] = {}


def register_by_value(roots: Iterable[str], extra: Iterable[ModuleType | str] = ()) -> None:
    """Register the caller's own modules (and `extra`) with cloudpickle so their functions and classes go by value.

    Run before each function is pickled (a module imported since must count too), so it is cheap when
    nothing was imported since the last time: each module is judged once (a scan of `sys.modules` with
    a `realpath` per module cost 80 ms per call under pytest).
    """
    module = cloudpickle()
    key = tuple(os.path.join(os.path.realpath(root), "") for root in roots)
    wanted: list[ModuleType] = [_imported(item) for item in extra]
    if _scanned.get(key) != len(sys.modules):
        judged = _judged.setdefault(key, set())
        libraries = _library_roots()
        import skyhop.functions.sharding as sharding

        wanted.append(sharding)
        for name, candidate in list(sys.modules.items()):
            if name in judged or candidate is None or name == "__main__":
                continue
            judged.add(name)
            if is_own_module(candidate, key, libraries):
                wanted.append(candidate)
        _scanned[key] = len(sys.modules)
    if wanted:
        registered = module.list_registry_pickle_by_value()
        for candidate in wanted:
            if candidate.__name__ not in registered:
                module.register_pickle_by_value(candidate)
                registered.add(candidate.__name__)


def _imported(item: ModuleType | str) -> ModuleType:
    if isinstance(item, str):
        import importlib

        return sys.modules.get(item) or importlib.import_module(item)
    return item


def dumps(value: Any) -> bytes:
    data: bytes = cloudpickle().dumps(value, protocol=PROTOCOL)
    return data


def function_blob(fn: Callable[..., Any], name: str) -> tuple[bytes, bytes]:
    """`(digest, pickle)` of a function, or NotPicklable naming it."""
    try:
        data = dumps(fn)
    except Exception as error:  # noqa: BLE001 - pickling raises anything a __reduce__ raises
        raise NotPicklable(f"The function {name} cannot be pickled to run on the pool's nodes: {_reason(error)}") from None
    return digest(data), data


def _reason(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def _describe(value: Any) -> str:
    return f"a {type(value).__module__}.{type(value).__qualname__}" if type(value).__module__ != "builtins" else f"a {type(value).__name__}"


def check_each(name: str, args: tuple[Any, ...], kwargs: dict[str, Any], error: BaseException) -> NotPicklable:
    """The NotPicklable for a call whose arguments would not pickle: which argument, of what type."""
    for position, value in enumerate(args):
        try:
            dumps(value)
        except Exception as failure:  # noqa: BLE001
            return NotPicklable(f"Argument {position} of {name} ({_describe(value)}) cannot be pickled to send it to the pool's nodes: {_reason(failure)}")
    for key, value in kwargs.items():
        try:
            dumps(value)
        except Exception as failure:  # noqa: BLE001
            return NotPicklable(f"Argument {key}= of {name} ({_describe(value)}) cannot be pickled to send it to the pool's nodes: {_reason(failure)}")
    return NotPicklable(f"The arguments of {name} cannot be pickled to send them to the pool's nodes: {_reason(error)}")


def call_payload(fn_digest: bytes, mode: str, args: tuple[Any, ...], kwargs: dict[str, Any], opts: dict[str, Any], name: str) -> bytes:
    """The CALL pickle; NotPicklable naming the argument that would not go, or saying the call is over a frame's limit."""
    try:
        data = dumps((fn_digest.hex(), mode, args, kwargs, opts))
    except Exception as error:  # noqa: BLE001
        raise check_each(name, args, kwargs, error) from None
    if len(data) > fnwire.MAX_PAYLOAD:
        raise _too_large(f"The arguments of {name}", len(data))
    return data


def large_arguments(args: tuple[Any, ...], kwargs: dict[str, Any], name: str) -> tuple[tuple[Any, ...], dict[str, Any], list[tuple[bytes, bytes]]]:
    """Arguments (positional and keyword) with every one whose pickle is over CACHE_ARGUMENT_BYTES replaced by
    `fnwire.Cached`, and the PUTs they need.

    Small ones stay as they are (pickled again inside the CALL: a few µs); a
    large one is pickled once here and sent once per node however often it is used.
    """
    puts: list[tuple[bytes, bytes]] = []
    out = tuple(_cached(value, f"Argument {position} of {name}", puts) for position, value in enumerate(args))
    named = {key: _cached(value, f"Argument {key}= of {name}", puts) for key, value in kwargs.items()}
    return out, named, puts


def _cached(value: Any, what: str, puts: list[tuple[bytes, bytes]]) -> Any:
    """`value`, or a `fnwire.Cached` standing for it (its PUT appended to `puts`) when its pickle is large."""
    if isinstance(value, (int, float, bool, type(None))) or (isinstance(value, (str, bytes)) and len(value) < CACHE_ARGUMENT_BYTES // 4):
        return value
    try:
        data = dumps(value)
    except Exception as failure:  # noqa: BLE001
        raise NotPicklable(f"{what} ({_describe(value)}) cannot be pickled to send it to the pool's nodes: {_reason(failure)}") from None
    if len(data) <= CACHE_ARGUMENT_BYTES:
        return value
    if len(data) + fnwire.DIGEST_SIZE > fnwire.MAX_PAYLOAD:
        raise _too_large(f"{what} ({_describe(value)})", len(data))
    key = digest(data)
    puts.append((key, data))
    return fnwire.Cached(key.hex())


def _too_large(what: str, size: int) -> NotPicklable:
    return NotPicklable(
        f"{what} is {size / 2**30:.2f} GiB pickled, over the {fnwire.MAX_PAYLOAD / 2**30:g} GiB one call can carry to a node. "
        "Put large data where the nodes can read it (the pool's file_mounts or workdir, a bucket) and pass its path."
    )


def loads(payload: bytes, what: str) -> Any:
    """Unpickle a RESULT/YIELD payload, or NotPicklable saying what could not be rebuilt here."""
    cloudpickle()  # pickles made by cloudpickle load with pickle once it is imported
    try:
        return pickle.loads(payload)
    except Exception as error:  # noqa: BLE001
        raise NotPicklable(f"{what} arrived but cannot be unpickled in this process: {_reason(error)}. "
                           "Its class must be importable here (install its package locally too).") from None
