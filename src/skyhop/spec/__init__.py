"""Task specs: the pure description of what to run (no I/O beyond reading YAML)."""
