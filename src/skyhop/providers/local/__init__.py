"""The `local` provider: clusters made of directories and processes on this machine."""
