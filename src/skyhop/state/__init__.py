"""The state store: the single source of truth for clusters, jobs, requests and cost.

This package root is deliberately empty of imports: `import skyhop.state` must not
pull in SQLAlchemy (it costs ~100 ms and `import skyhop` has a budget). Import what
you need from the submodules:

- `skyhop.state.records`: frozen dataclasses and status constants (stdlib only),
- `skyhop.state.errors`: the errors the store raises (stdlib only),
- `skyhop.state.store`: `StateStore`, the read/write API (imports SQLAlchemy),
- `skyhop.state.cost`: cost report computation from cluster history (stdlib only),
- `skyhop.state.db`: engine set-up and schema migration (imports SQLAlchemy),
- `skyhop.state.models`: the SQLAlchemy tables (imports SQLAlchemy).
"""
