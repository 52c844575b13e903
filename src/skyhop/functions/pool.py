"""`skyhop.Pool`: a cluster whose nodes run Python functions for this process.

`with skyhop.Pool(accelerators="H100:1", nodes=2) as pool:` launches a cluster
through the normal launch path (the API server: optimizer, failover, cost
records, autostop), opens one functions session to its head, and downs the
cluster on the way out, also when the body raised, unless `keep=True`.
`Pool(cluster="dev")` attaches to an existing cluster instead and leaves it as
it found it. A pool that is not kept launches with `idle_minutes=10, down=True`
unless told otherwise, so a notebook kernel killed mid-session cannot leave
machines running for long (plan §4.1, §10.7).
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import sys
from typing import TYPE_CHECKING, Any

from skyhop.errors import SkyhopError
from skyhop.execution.names import check_cluster_name
from skyhop.functions.calls import Call, Calls, wait_all
from skyhop.functions.decorator import as_function
from skyhop.functions.errors import PickleMismatch
from skyhop.functions.fleet import Fleet
from skyhop.functions.output import Output
from skyhop.functions.replace import Replacer
from skyhop_agent.fnwire import MAX_SLOTS

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence
    from concurrent.futures import Future
    from types import ModuleType, TracebackType

    from skyhop.functions.aio import AsyncIterator
    from skyhop.functions.calls import Session
    from skyhop.functions.scheduler import MapRun
    from skyhop.functions.session import WorkerInfo
    from skyhop.functions.stream import RemoteGenerator
    from skyhop.spec.task import Task

#: Task fields a Pool takes as keywords; every other keyword is a resources field.
TASK_FIELDS = ("setup", "envs", "secrets", "workdir", "file_mounts", "volumes", "config")
#: How long a pool that is not kept may sit idle before autostop downs it, unless `idle_minutes=` says otherwise.
DEFAULT_IDLE_MINUTES = 10.0
#: Variables the relay sets for every worker (the job variables): a task's own of these names are not passed.
JOB_VARIABLE_PREFIXES = ("SKYPILOT_", "CUDA_VISIBLE_DEVICES")


def connect(cluster: str, *, slots: int | None, env: dict[int, dict[str, str]]) -> Session:
    """Open the functions session on `cluster`'s head (a seam the unit tests replace with a fake session)."""
    from skyhop.functions.session import open_session

    return open_session(cluster, slots=slots, env=env)


def check_workers(workers: Sequence[WorkerInfo], cluster: str = "NAME") -> None:
    """PickleMismatch unless every node's Python and cloudpickle can exchange pickles with this process.

    Code objects change with every minor Python version, so major.minor must match (patch may differ);
    cloudpickle's major version must match too.
    """
    from skyhop.functions.pickling import cloudpickle

    here_python = sys.version_info[:2]
    here_pickle = str(cloudpickle().__version__)
    for worker in workers:
        python = ".".join(map(str, worker.python))
        if tuple(worker.python[:2]) != here_python:
            raise PickleMismatch(
                f"Node {worker.rank} ({worker.host}) runs Python {python} and this process runs {sys.version.split()[0]}: "
                "functions cannot be exchanged between them (bytecode differs between minor versions). Give the pool a "
                f"Python {here_python[0]}.{here_python[1]} on the nodes (an `image_id` that has it, or a `setup` that installs "
                "it and puts it first on PATH), or run this program with the nodes' Python."
            )
        if worker.cloudpickle is None:
            raise PickleMismatch(
                f"Node {worker.rank} ({worker.host}) has no cloudpickle for its Python {python}, so it cannot run functions. "
                "The agent skyhop installs on a cluster brings one; an agent older than this skyhop does not: restart the "
                f"cluster (`skyhop stop {cluster}` then `skyhop start {cluster}`) or launch it again, or install "
                f"cloudpickle=={here_pickle} in that Python."
            )
        if worker.cloudpickle.split(".")[0] != here_pickle.split(".")[0]:
            raise PickleMismatch(
                f"Node {worker.rank} ({worker.host}) has cloudpickle {worker.cloudpickle} and this process {here_pickle}: "
                "pickles of functions do not cross major versions. Install the same major version on both sides "
                f"(`python -m pip install cloudpickle=={here_pickle}` in the pool's `setup`)."
            )


class Pool:
    """A cluster running Python functions: `run`/`>>`, `broadcast`/`@`, `map`, generators, async forms.

    Keywords are the task's (`setup`, `envs`, `secrets`, `workdir`, `file_mounts`,
    `volumes`, `config`), `nodes` (the task's `num_nodes`), and any resources
    field (`accelerators`, `cpus`, `memory`, `use_spot`, `infra`, `image_id`, ...).
    """

    def __init__(
        self,
        *,
        cluster: str | None = None,
        name: str | None = None,
        nodes: int = 1,
        keep: bool = False,
        idle_minutes: float | None = None,
        retries: int | None = None,
        slots: int | None = None,
        quiet: bool = False,
        by_value: Iterable[ModuleType | str] = (),
        **fields: Any,
    ) -> None:
        if cluster is not None and (name is not None or nodes != 1 or fields or idle_minutes is not None):
            raise SkyhopError(
                f"Pool(cluster={cluster!r}) attaches to that cluster as it is: it takes no name, nodes, idle_minutes or "
                "resources. Drop them, or leave out cluster= to launch a new pool."
            )
        if retries is not None and retries < 0:
            raise ValueError(f"retries must be 0 or more, not {retries}")
        if slots is not None and (isinstance(slots, bool) or not isinstance(slots, int) or not 1 <= slots <= MAX_SLOTS):
            raise ValueError(f"slots must be a whole number from 1 to {MAX_SLOTS} (calls each node runs at once), not {slots!r}")
        self.attached = cluster is not None
        # 8 hex digits: a new pool's name must not meet a kept one's by chance (open refuses a name in use).
        self.name = check_cluster_name(cluster or name or f"pool-{secrets.token_hex(4)}")
        self.keep = keep or self.attached
        self.quiet = quiet
        self.slots = slots
        self.by_value = tuple(by_value)
        self.task: Task | None = None if self.attached else self._task(nodes, fields)
        use_spot = bool(self.task and self.task.resources.use_spot)
        self.retries = retries if retries is not None else (3 if use_spot else 0)
        if not keep and idle_minutes is None and not self.attached:
            idle_minutes = DEFAULT_IDLE_MINUTES
        self.idle_minutes = idle_minutes
        self._session: Session | None = None
        self._calls: Calls | None = None
        self._output: Output | None = None
        self._launched = False
        self._replacer: Replacer | None = None

    def _task(self, nodes: int, fields: dict[str, Any]) -> Task:
        from skyhop.spec.task import Task

        data: dict[str, Any] = {key: fields.pop(key) for key in TASK_FIELDS if fields.get(key) is not None}
        for key in TASK_FIELDS:
            fields.pop(key, None)
        data.update(name=self.name, num_nodes=nodes, resources=fields)
        return Task.from_dict(data)

    # -- lifetime ----------------------------------------------------------
    def __enter__(self) -> Pool:
        return self.open()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close(raising=error is None)

    def open(self) -> Pool:
        """Launch (or attach), open the session, check the nodes' Python; on any failure, tear down what was launched."""
        if self._session is not None:
            return self
        try:
            if not self.attached:
                self._launch()
            session = connect(self.name, slots=self.slots, env=self._worker_env())
            self._session = session
            check_workers(session.workers, self.name)
        except BaseException:
            self.close(raising=False)
            raise
        if self._replaces():
            session = self._session = Fleet(session)
        self._output = Output(prefixed=len(session.workers) > 1, quiet=self.quiet)
        session.on_output = self._output
        self._calls = Calls(session, roots=self._roots(), by_value=self.by_value)
        if isinstance(session, Fleet) and self.task is not None:
            self._replacer = Replacer(
                name=self.name, task=dataclasses.replace(self.task, num_nodes=1), size=self.task.num_nodes, fleet=session, calls=self._calls,
                budget=self.retries * self.task.num_nodes, idle_minutes=self.idle_minutes, keep=self.keep, quiet=self.quiet,
                env=self._worker_env().get(0, {}), slots=self.slots, check=check_workers,
            )
        return self

    def _launch(self) -> None:
        """Launch the pool's cluster: refused if the name is taken (a pool downs what it launched, and must not take
        over someone's cluster), and undone if the setup failed (calls would fail on what it did not install)."""
        from skyhop.client.api import launch, status

        if status([self.name]):
            raise SkyhopError(
                f"A cluster named {self.name!r} already exists. Attach the pool to it with Pool(cluster={self.name!r}) "
                "(it is then neither launched nor taken down by the pool), or give the pool another name."
            )
        self._launched = True
        answer = launch(self.task, self.name, idle_minutes=self.idle_minutes, down=not self.keep, stream=not self.quiet)
        state = str(answer.get("job_status") or "") if isinstance(answer, dict) else ""
        if state.startswith("FAILED"):
            why = answer.get("failure_reason") or f"exit code {answer.get('exit_code')}"
            raise SkyhopError(f"The setup of pool {self.name} failed ({state}: {why}); its cluster is taken down. "
                              f"`skyhop logs {self.name} {answer.get('job_id')}` showed its output while it was up.")

    def _replaces(self) -> bool:
        """Lost nodes get replacements (replace.py) in a pool this launched, with retries (spot pools' default)."""
        return self.task is not None and not self.attached and self.retries > 0

    def _worker_env(self) -> dict[int, dict[str, str]]:
        """The task's `envs` and `secrets` for every node's worker, as a job of the task would have them.

        The relay gives each worker the job variables (SKYPILOT_NODE_RANK, ...); what the pool was
        launched with is the pool's to pass (it goes over the agent socket, never on a command line).
        An attached pool has no task: its workers get the job variables only.
        """
        if self.task is None:
            return {}
        # The job variables win, as in jobs (envvars.job_env): a task's SKYPILOT_NODE_RANK must not make two nodes rank 0.
        variables = {name: value for name, value in {**self.task.envs, **self.task.secrets}.items()
                     if value is not None and not name.startswith(JOB_VARIABLE_PREFIXES)}
        return {rank: dict(variables) for rank in range(self.task.num_nodes)} if variables else {}

    def _roots(self) -> list[str]:
        roots = [os.getcwd()]
        workdir = self.task.workdir if self.task is not None else None
        if isinstance(workdir, str):
            roots.append(os.path.abspath(os.path.expanduser(workdir)))
        return roots

    def close(self, *, raising: bool = True) -> None:
        """End the session (the workers exit) and down the cluster unless kept or attached. Idempotent.

        With `raising=False` (the `with` body raised) a failed teardown is reported on stderr, not raised
        over the body's own error.
        """
        replacer, self._replacer = self._replacer, None
        replacements = replacer.close() if replacer is not None else []
        session, self._session, self._calls = self._session, None, None
        if session is not None:
            session.close()
        if self._output is not None:
            self._output.flush()
        if not self._launched or self.keep:
            return
        self._launched = False
        from skyhop.client.api import down
        from skyhop.errors import NotFoundError

        failed: Exception | None = None
        for name in [self.name, *replacements]:
            try:
                down(name)
            except NotFoundError:
                pass  # the launch failed before the cluster existed: nothing to take down
            except Exception as error:
                if raising and failed is None:
                    failed = error  # raised once the others were tried
                    continue
                print(f"skyhop: the pool's cluster {name} could not be taken down: {error}. Run `skyhop down {name}`.", file=sys.stderr)
        if failed is not None and raising:
            raise failed

    # -- what the pool has -------------------------------------------------
    @property
    def calls(self) -> Calls:
        if self._calls is None:
            raise SkyhopError(f"The pool {self.name} is not open: use it as `with skyhop.Pool(...) as pool:` (or call pool.open()).")
        return self._calls

    @property
    def workers(self) -> list[WorkerInfo]:
        """The live nodes' workers (rank, host, Python, cloudpickle, pid, cpus, slots), in rank order."""
        return self.calls.workers()

    @property
    def nodes(self) -> int:
        return len(self.workers)

    def _retries(self, fn: Any) -> int:
        return fn.retries if fn.retries is not None else self.retries

    # -- single calls ------------------------------------------------------
    def submit(self, fn: Callable[..., Any], *args: Any, node: int | None = None, **kwargs: Any) -> Future[Any]:
        """Start `fn(*args, **kwargs)` on one node (round robin, or `node`); a Future of its value."""
        function = as_function(fn)
        if function.is_generator:
            raise TypeError(f"{function.name} is a generator function: pool.run returns its stream (pool.stream_async for asyncio)")
        call = Call(self.calls, function, args, kwargs, retries=self._retries(function))
        return call.start(self.calls.pick(node))

    def run(self, fn: Callable[..., Any], *args: Any, node: int | None = None, **kwargs: Any) -> Any:
        """`fn(*args, **kwargs)` on one node; its value, or its stream of values when `fn` is a generator function."""
        function = as_function(fn)
        if function.is_generator:
            return self.stream(function, *args, node=node, **kwargs)
        call = Call(self.calls, function, args, kwargs, retries=self._retries(function))
        future = call.start(self.calls.pick(node))
        try:
            return future.result()
        except KeyboardInterrupt:
            self.calls.cancel(call.rank, call.call_id)
            raise

    def stream(self, fn: Callable[..., Any], *args: Any, node: int | None = None, **kwargs: Any) -> RemoteGenerator:
        """A generator function's values as the node produces them (`pool.run` does this for generator functions)."""
        from skyhop.functions.stream import RemoteGenerator

        return RemoteGenerator(self.calls, as_function(fn), args, kwargs, self.calls.pick(node))

    def broadcast(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> list[Any]:
        """`fn(*args, **kwargs)` once on every node; the values in rank order (SKYPILOT_NODE_RANK tells a call its node).

        A failure is raised once every node has finished, the other nodes' failures as its notes.
        """
        futures, ranks = self._broadcast(fn, args, kwargs)
        return wait_all(futures, ranks)

    def _broadcast(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[list[Future[Any]], list[int]]:
        function = as_function(fn)
        if function.is_generator:
            raise TypeError(f"{function.name} is a generator function: broadcast runs functions that return (stream each node with pool.run(fn, node=R))")
        ranks = [worker.rank for worker in self.calls.workers()]
        calls = [Call(self.calls, function, args, kwargs, retries=0) for _ in ranks]
        return [call.start(rank) for call, rank in zip(calls, ranks)], ranks

    def map(self, fn: Callable[..., Any], items: Iterable[Any], *, ordered: bool = True, window: int | None = None,
            batch: int | None = None) -> Iterator[Any]:
        """`fn(item)` for every item, over every node's slots; an iterator of the values (input order unless `ordered=False`).

        Work starts when you iterate. `items` is read lazily; `window` bounds the items in flight (default two calls
        per slot); `batch` fixes how many items go per call (default: adaptive, larger for tiny items). A node lost
        mid-map hands its items to the others (each at most `retries` times): every value comes back exactly once.
        """
        return iter(self.map_run(fn, items, ordered=ordered, window=window, batch=batch))

    def map_run(self, fn: Callable[..., Any], items: Iterable[Any], *, ordered: bool = True, window: int | None = None,
                batch: int | None = None) -> MapRun:
        """`map` as its scheduler object (iterate it; its `high_water` says how many items were ever in flight at once)."""
        from skyhop.functions.scheduler import MapRun

        function = as_function(fn)
        if function.is_generator:
            raise TypeError(f"{function.name} is a generator function: map takes functions that return (stream one call with pool.run)")
        return MapRun(self.calls, function, items, ordered=ordered, window=window, batch=batch, retries=self._retries(function))

    # -- asyncio -----------------------------------------------------------
    async def run_async(self, fn: Callable[..., Any], *args: Any, node: int | None = None, **kwargs: Any) -> Any:
        """`await pool.run_async(fn, ...)`: `run` for asyncio code (generator functions: `stream_async`)."""
        import asyncio

        return await asyncio.wrap_future(self.submit(fn, *args, node=node, **kwargs))

    async def broadcast_async(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> list[Any]:
        import asyncio

        futures, ranks = self._broadcast(fn, args, kwargs)
        await asyncio.wait([asyncio.wrap_future(future) for future in futures])
        return wait_all(futures, ranks)

    def map_async(self, fn: Callable[..., Any], items: Iterable[Any], *, ordered: bool = True, window: int | None = None,
                  batch: int | None = None) -> AsyncIterator:
        """`async for value in pool.map_async(fn, items)`."""
        from skyhop.functions.aio import AsyncIterator

        return AsyncIterator(self.map(fn, items, ordered=ordered, window=window, batch=batch))

    def stream_async(self, fn: Callable[..., Any], *args: Any, node: int | None = None, **kwargs: Any) -> AsyncIterator:
        """`async for value in pool.stream_async(gen_fn, ...)`."""
        from skyhop.functions.aio import AsyncIterator

        return AsyncIterator(self.stream(fn, *args, node=node, **kwargs))

    def __repr__(self) -> str:
        state = f"{self.nodes} nodes" if self._calls is not None else "not open"
        return f"<skyhop.Pool {self.name}: {state}>"
