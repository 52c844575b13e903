"""The API server's routes, one module per area (an `APIRouter` each, included by `create_app`)."""
