"""Alembic migrations of the state database, shipped inside the package.

Schema (revision 0001; the models are in `skyhop.state.models`)
-----------------------------------------------------------------
- `clusters`: one row per live cluster, PK `name`: provider, region, zone,
  status (INIT/UP/STOPPED), num_nodes, resources (JSON), handle (JSON: the
  provider's cluster info), hourly_price (whole cluster), autostop_minutes,
  autostop_down, setup_hash, user, launched_at, status_updated_at. Deleted on
  terminate.
- `cluster_events`: append-only history, PK `id` (autoincrement), indexed by
  (cluster, id): event (LAUNCH/STOP/START/TERMINATE), at, and a copy of the
  cluster's provider, region, num_nodes, resources, user and hourly_price.
  `cluster` is not a foreign key: history outlives the cluster. Cost reports
  are computed from this table alone.
- `jobs`: mirror of each cluster's node-agent job table, PK (cluster, job_id),
  foreign key to `clusters` (ON DELETE CASCADE).
- `requests`: API server requests, PK `request_id`, indexed by status and
  created_at.
- `alembic_version`: Alembic's bookkeeping (the current revision).
- (0005) `controller_owners`, `controller_leases`: which API server process drives which
  controller object (`skyhop.state.controller_leases`); `managed_jobs` and
  `managed_job_attempts` (foreign key, ON DELETE CASCADE): managed jobs and their attempts
  (`skyhop.state.managed`).

Times are unix seconds (DOUBLE), JSON is `sqlalchemy.JSON`, and there are no
server defaults, so the same schema works on SQLite and PostgreSQL.

How migrations run
------------------
`StateStore()` reads `alembic_version` with plain SQL; only when it differs
from `HEAD` below is Alembic imported and `upgrade head` run, in one
transaction holding the database's write lock (SQLite BEGIN IMMEDIATE,
PostgreSQL advisory lock), so concurrent openers wait and a crash rolls back.
There is no alembic.ini: `skyhop.state.db.alembic_config()` builds the config in
code. By hand: `python -m skyhop.state.migrations upgrade [URL]`.

Adding revision 0002
--------------------
1. Change the models in `skyhop/state/models.py`.
2. Run `python -m skyhop.state.migrations revision "add foo to clusters"`: it
   migrates a scratch SQLite database to head and autogenerates
   `versions/0002_add_foo_to_clusters.py` from the difference (batch mode, so
   the ALTERs also work on SQLite, which rebuilds the table).
3. Read and fix the script (autogenerate misses renames and data moves; give
   new NOT NULL columns a value for existing rows: add them nullable, fill them
   with `op.execute(sa.update(...))`, then make them NOT NULL in batch mode).
4. Append "0002" to `REVISIONS` below (a test checks it matches the scripts).
5. `pytest tests/state`: the test that compares the migrated schema with the
   models must pass, as must the upgrade test from 0001 with data in it
   (add one for 0001 -> 0002 if data is transformed).
"""

#: Every revision, oldest first. Lets `StateStore()` check the schema without
#: importing Alembic, and recognise a database written by a newer skyhop.
REVISIONS: tuple[str, ...] = ("0001", "0002", "0003", "0004", "0005", "0006", "0007", "0008", "0009")
HEAD: str = REVISIONS[-1]
