"""The `skyhop` console script: the CLI, with Ctrl-C during its own start-up ending quietly.

`skyhop.cli.main` imports click and the command modules; a Ctrl-C while
they load would otherwise end in a KeyboardInterrupt traceback from deep in
an import. This module imports nothing of its own before that guard.
"""

from __future__ import annotations

import sys


def run() -> None:
    try:
        from skyhop.cli.main import main
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted.\n")
        sys.exit(130)
    main()
