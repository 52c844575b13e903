"""Managed jobs: tasks the API server runs to the end across preemptions and errors (issue 11)."""
