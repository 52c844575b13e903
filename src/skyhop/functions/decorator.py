"""`@skyhop.function`: a function the pool's nodes can run.

Calling the decorated function does not run it: `fn(x)` is a `PendingCall`
that a pool runs, `fn(x) >> pool` on one node (`pool.run`) and `fn(x) @ pool`
on every node (`pool.broadcast`), as in Skyward. `fn.local(x)` runs it here.
Decorating is free: cloudpickle is imported on the first call that goes out.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

if TYPE_CHECKING:
    from collections.abc import Callable

    from skyhop.functions.pool import Pool

R = TypeVar("R")


class Function(Generic[R]):
    """A function marked to run on a pool's nodes, with its per-call options.

    `__wrapped__` is the plain function (it is what gets pickled); name,
    qualname, module and docstring are copied from it.
    """

    __wrapped__: Callable[..., R]

    def __init__(self, fn: Callable[..., R], *, timeout: float | None = None, retries: int | None = None) -> None:
        if not callable(fn):
            raise TypeError(f"skyhop.function decorates a function, not a {type(fn).__name__}")
        if timeout is not None and not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
        if retries is not None and retries < 0:
            raise ValueError(f"retries must be 0 or more, not {retries!r}")
        functools.update_wrapper(self, fn)
        self.timeout = timeout
        self.retries = retries

    @property
    def name(self) -> str:
        return getattr(self.__wrapped__, "__qualname__", None) or repr(self.__wrapped__)

    @property
    def is_generator(self) -> bool:
        """Whether a call streams values (a generator function, sync or async) rather than returning one."""
        import inspect

        return inspect.isgeneratorfunction(self.__wrapped__) or inspect.isasyncgenfunction(self.__wrapped__)

    def __call__(self, *args: Any, **kwargs: Any) -> PendingCall[R]:
        return PendingCall(self, args, kwargs)

    def local(self, *args: Any, **kwargs: Any) -> R:
        """Run the function here, in this process, as if it were not decorated."""
        return self.__wrapped__(*args, **kwargs)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Pickled, it is the plain function: a node has no skyhop, and there a decorated helper is called directly."""
        import operator

        return (operator.itemgetter(0), ((self.__wrapped__,),))

    def __repr__(self) -> str:
        return f"<skyhop.function {self.name}>"


class PendingCall(Generic[R]):
    """A call of a `Function` waiting for a pool: `>> pool` runs it on one node, `@ pool` on each."""

    def __init__(self, function: Function[R], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.function = function
        self.args = args
        self.kwargs = kwargs

    def __rshift__(self, pool: Pool) -> Any:
        return pool.run(self.function, *self.args, **self.kwargs)

    def __matmul__(self, pool: Pool) -> list[Any]:
        return pool.broadcast(self.function, *self.args, **self.kwargs)

    def local(self) -> R:
        return self.function.local(*self.args, **self.kwargs)

    def __repr__(self) -> str:
        return f"<pending call of {self.function.name}: `>> pool` to run it on a node, `@ pool` on every node>"


@overload
def function(fn: Callable[..., R], *, timeout: float | None = None, retries: int | None = None) -> Function[R]: ...


@overload
def function(fn: None = None, *, timeout: float | None = None, retries: int | None = None) -> Callable[[Callable[..., R]], Function[R]]: ...


def function(fn: Callable[..., R] | None = None, *, timeout: float | None = None, retries: int | None = None) -> Any:
    """Mark `fn` to run on a pool's nodes: `@skyhop.function` or `@skyhop.function(timeout=60, retries=2)`.

    `timeout` (seconds) cancels a call that runs longer and raises FunctionTimeout;
    `retries` overrides the pool's bound on re-running a call whose node was lost.
    """
    if fn is None:
        return lambda inner: Function(inner, timeout=timeout, retries=retries)
    return Function(fn, timeout=timeout, retries=retries)


def as_function(fn: Callable[..., Any]) -> Function[Any]:
    """`fn` as a Function: a decorated one as is, a plain callable with no options."""
    return fn if isinstance(fn, Function) else Function(fn)
