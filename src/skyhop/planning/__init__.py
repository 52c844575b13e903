"""Planning: which infra is in the search space, the optimizer call, and failover's blocked set.

Runs in the API server, which launches, answers `check` and plans `optimize`
(`server/routers/optimize.py`), so every plan a user sees is made with the
server's credentials, pools and config; `skyhop.sdk` is the thin public facade
over it (the Python SDK and `show-gpus` call it in their own process).
"""
