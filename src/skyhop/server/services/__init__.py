"""The server's logic that is not a route and not orchestration: submitting, streaming, retention."""
