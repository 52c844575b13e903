"""`python -m skyhop.state.migrations upgrade [URL] | current [URL] | revision MESSAGE`.

A developer tool (see the package docstring for the workflow); users never need
it, `StateStore()` migrates on open.
"""

from __future__ import annotations

import argparse
import re
import tempfile
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m skyhop.state.migrations")
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("upgrade", "current"):
        sub = commands.add_parser(name)
        sub.add_argument("url", nargs="?", help="database URL (default: SKYHOP_DB_URL or SKYHOP_HOME/state.db)")
    revision = commands.add_parser("revision", help="autogenerate the next revision from the models")
    revision.add_argument("message")
    args = parser.parse_args(argv)

    from skyhop.state import db

    if args.command in ("upgrade", "current"):
        engine = db.create_engine(args.url or db.default_url())
        try:
            if args.command == "upgrade":
                db.upgrade(engine)
            print(db.current_revision(engine))
        finally:
            engine.dispose()
        return 0

    from alembic import command

    from skyhop.state.migrations import HEAD

    rev_id = f"{int(HEAD) + 1:04d}"
    slug = re.sub(r"[^a-z0-9]+", "_", args.message.lower()).strip("_")[:40]
    with tempfile.TemporaryDirectory() as scratch:
        engine = db.create_engine(f"sqlite:///{Path(scratch) / 'scratch.db'}")
        try:
            db.upgrade(engine)
            with db.migration_connection(engine) as connection:
                config = db.alembic_config(connection)
                config.set_main_option("file_template", f"%%(rev)s_{slug}")
                command.revision(config, message=args.message, autogenerate=True, rev_id=rev_id)
        finally:
            engine.dispose()
    print(f"Now review versions/{rev_id}_{slug}.py and append {rev_id!r} to REVISIONS in {Path(__file__).parent}/__init__.py")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
