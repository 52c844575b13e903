"""skyhop node agent: the job queue, gang launcher, logs and autostop of one cluster.

It is copied (never pip-installed) to each cluster's head node and runs there on
any Python >= 3.8 with the standard library alone, so that a bare machine needs
nothing but `python3` to join a cluster.
"""

from __future__ import annotations

__version__ = "0.1.0"

# The verbs of the agent's own long-lived processes; also how they are
# recognised in /proc (see proctree.is_agent_process).
DAEMON_VERB = "daemon"
DRIVER_VERB = "run-job"
