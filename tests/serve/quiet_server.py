"""`python -m skyhop.server` as it runs, but hosting no controllers: started through the product's seam for
another server command (`SKYHOP_API_SERVER_COMMAND`) by tests of what the serve routes write.

With the serve controller hosted, a service row would start a load balancer and launch replicas
at once; these tests check the rows themselves (and write what a controller would), so nothing may
act on them meanwhile. Everything else is the real server: its socket, server.json, executor, signals.
"""

from __future__ import annotations

import sys

from skyhop.server import __main__ as server_main
from skyhop.server import app

_create_app = app.create_app


def _without_controllers(store, authenticator, settings=None, *, controllers: bool = False):
    return _create_app(store, authenticator, settings, controllers=False)


if __name__ == "__main__":
    app.create_app = _without_controllers  # type: ignore[assignment]  # what `server_main.main` looks up when it runs
    server_main.main(sys.argv[1:])
