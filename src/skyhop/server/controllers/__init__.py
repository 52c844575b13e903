"""Controllers hosted by the API server: a generic base (leases, ticks, cancellation) and what runs on it."""
