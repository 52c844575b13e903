"""The web dashboard under `/dashboard/`: server-rendered pages, a session cookie, live logs (docs/architecture.md)."""
