"""The `skyhop` command line (click), a thin layer over `skyhop.sdk`."""
