"""Managed jobs: states, recovery and deadline policies."""
