"""The issue's acceptance, as a user's plain script: `python pool_script.py INFRA NODES` prints one JSON line of what it saw.

Run by tests/functions/test_functions_ssh.py (and the local twin) as a subprocess, the way a user runs a script.
Everything the functions use is defined here, in `__main__`: cloudpickle sends it by value.
"""

from __future__ import annotations

import json
import os
import sys
import time

import skyhop


class Mine(Exception):
    """An exception class of the caller's own (`__main__.Mine`): it must come back as itself."""


@skyhop.function
def double(x):
    return os.environ["SKYPILOT_NODE_RANK"], x * 2


@skyhop.function
def rank():
    print(f"hello from rank {os.environ['SKYPILOT_NODE_RANK']}")
    return int(os.environ["SKYPILOT_NODE_RANK"]), int(os.environ["SKYPILOT_NUM_NODES"])


@skyhop.function
def square(x):
    return x * x


@skyhop.function
def ticks(n):
    for i in range(n):
        yield i, time.time()
        time.sleep(0.005)


@skyhop.function
def fail(kind):
    if kind == "value":
        raise ValueError("bad value 42")
    raise Mine("a class of my own")


@skyhop.function
def connection():
    import sqlite3

    return sqlite3.connect(":memory:")


def main(infra: str, nodes: int) -> dict:
    seen: dict = {}
    with skyhop.Pool(infra=infra, nodes=nodes) as pool:
        seen["cluster"] = pool.name
        seen["double"] = double(21) >> pool
        seen["ranks"] = rank() @ pool
        seen["map"] = list(pool.map(square, range(1000))) == [x * x for x in range(1000)]
        arrivals = [(i, sent, time.time()) for i, sent in ticks(100) >> pool]
        seen["ticks_in_order"] = [a[0] for a in arrivals] == list(range(100))
        # Streamed: the first value was here before the last one was even made.
        seen["first_before_last_made"] = arrivals[0][2] < arrivals[-1][1]
        for kind in ("value", "mine"):
            try:
                fail(kind) >> pool
            except Exception as error:  # noqa: BLE001 - what came back is the point
                seen[kind] = {"type": type(error).__module__ + "." + type(error).__qualname__, "message": str(error),
                              "cause": str(error.__cause__), "notes": getattr(error, "__notes__", [])}
        try:
            connection() >> pool
        except Exception as error:  # noqa: BLE001
            seen["unpicklable"] = f"{type(error).__name__}: {error}"
    return seen


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]))), flush=True)
