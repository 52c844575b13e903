"""A controller host process for the lease tests (run as a script).

Usage: python lease_worker.py URL OUT [--host H] [--ttl S]. Runs a `Controller`
of kind "test" whose drive appends `start ID PID` to OUT, waits until cancelled,
then appends `cancel ID PID` and ends the object. `--host` fakes another
machine's owner id (its death cannot be proven, only its silence).
"""

from __future__ import annotations

import argparse
import asyncio
import os

from skyhop.server.controllers.base import Controller, ControllerSettings, ObjectContext
from skyhop.state.controller_leases import ControllerLeases, OwnerId
from skyhop.state.store import StateStore


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("out")
    parser.add_argument("--host")
    parser.add_argument("--ttl", type=float, default=30.0)
    args = parser.parse_args()
    store = StateStore(args.url)
    owner = OwnerId.of_this_process()
    if args.host:
        owner = OwnerId(args.host, owner.pid, owner.start)

    def note(line: str) -> None:
        with open(args.out, "a") as f:
            f.write(f"{line} {os.getpid()}\n")

    async def drive(ctx: ObjectContext) -> None:
        note(f"start {ctx.object_id}")
        while not ctx.cancelled.is_set():
            await ctx.sleep(0.2)
        note(f"cancel {ctx.object_id}")

    settings = ControllerSettings(tick_s=0.2, lease_ttl_s=args.ttl)
    controller = Controller(store, "test", drive, settings, ControllerLeases(store, owner))
    print("ready", flush=True)
    asyncio.run(controller.run())


if __name__ == "__main__":
    main()
