"""The API server: the single door to clusters, jobs and requests (FastAPI + uvicorn, imported lazily)."""
