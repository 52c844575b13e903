"""The spot simulator: replay availability traces through the deadline policies the controller runs."""
