"""API server tests: a real server process over real HTTP (a package, so its conftest never shadows another)."""
