"""A replica's readiness probe: one HTTP request, as SkyServe sends it.

GET `readiness_probe.path` (POST with `post_data` as JSON when the spec has it), with the
spec's headers, answered within `timeout_seconds`: ready on any 2xx. Blocking, for the
controller's probe threads. Redirects are not followed (a probe that redirects is a
misconfigured path, and following it could leave the replica's host).
"""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import urlsplit


@dataclass(frozen=True)
class ProbeResult:
    ready: bool
    detail: str  # "HTTP 200", "HTTP 503", "connection refused", "timed out after 15 s"


def probe(url: str, path: str, *, post_data: Any = None, headers: Mapping[str, str] | None = None, timeout: float = 15.0) -> ProbeResult:
    """Probe `url` (`http://HOST:PORT`) at `path` once."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=timeout)
    send = {"User-Agent": "skyhop-readiness-probe", **(headers or {})}
    body = None
    if post_data is not None:
        body = json.dumps(post_data).encode()
        send.setdefault("Content-Type", "application/json")
    try:
        connection.request("POST" if body is not None else "GET", path, body=body, headers=send)
        response = connection.getresponse()
        response.read(64 * 1024)
        return ProbeResult(200 <= response.status < 300, f"HTTP {response.status}")
    except TimeoutError:
        return ProbeResult(False, f"timed out after {timeout:g} s")
    except (OSError, http.client.HTTPException) as error:
        return ProbeResult(False, _reason(error))
    finally:
        connection.close()


def _reason(error: Exception) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    text = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return text[:200]
