"""Orchestration: optimize -> provision with failover -> bootstrap -> sync -> setup -> run.

Runs inside the API server; the CLI reaches it only through requests.
"""
