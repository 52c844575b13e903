"""Planning: which infra is in the search space, the optimizer call, and failover's blocked set.

Runs in the API server when it launches; `skyhop.sdk` is the thin public
facade over it (optimize, show-gpus and check also run in the CLI process,
as pure functions of the catalog and the local credentials).
"""
