"""How a script is started on one node: the single place that knows about remoteness.

Today every node of the local provider is a directory on this machine, so a
node command is `bash -c SCRIPT` run there. A node with an `exec_prefix` (for
instance an ssh command line) gets `PREFIX + ["bash", "-c", ...]` instead, with
the environment and working directory carried inside the script, since a
prefix like ssh passes neither along.
"""

from __future__ import annotations

import os
import shlex

from skyhop_agent.config import Node


def node_command(node: Node, script: str, env: dict[str, str]) -> tuple[list[str], str | None, dict[str, str]]:
    """`(argv, cwd, env)` for `subprocess.Popen` to run `script` on `node` with the job variables `env`.

    Jobs start in the node's workdir once the broker has synced one, else in
    its base directory.
    """
    if node.exec_prefix is None:
        cwd = node.workdir if node.workdir and os.path.isdir(node.workdir) else node.base
        return ["bash", "-c", script], cwd, {**os.environ, **env}
    exports = "".join(f"export {key}={shlex.quote(value)}\n" for key, value in sorted(env.items()))
    goto = f"cd {shlex.quote(node.workdir)} 2>/dev/null || " if node.workdir else ""
    wrapped = f"{exports}{goto}cd {shlex.quote(node.base)} || exit 1\n{script}"
    return list(node.exec_prefix) + ["bash", "-c", wrapped], None, dict(os.environ)
