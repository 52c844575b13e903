"""The SDK side of the API server: stdlib-only HTTP so the CLI starts fast."""
