"""`file_mounts` whose source is a URL: each node fetches it itself, with the tool made for it.

Going through this machine would double the transfer and need the
credentials here; the node usually sits next to the bucket and has its own.
So the fetch runs on the node, and when the tool for a scheme is missing there
the error says which one to install. URLs are shown without credentials or
query strings (signed URLs carry their signature there).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

from skyhop.errors import SkyhopError

# scheme -> (what to install, the fetch script; $1 URL, $2 destination)
FETCHERS: dict[str, tuple[str, str]] = {
    "s3": ("the AWS CLI (`aws`)", """command -v aws >/dev/null 2>&1 || exit 127
mkdir -p "$(dirname "$2")" || exit 1
case "$1" in
  */) aws s3 sync --only-show-errors "$1" "$2" ;;
  *) aws s3 cp --only-show-errors "$1" "$2" 2>/dev/null || aws s3 sync --only-show-errors "$1" "$2" ;;
esac
"""),
    "gs": ("the Google Cloud SDK (`gsutil`)", """command -v gsutil >/dev/null 2>&1 || exit 127
mkdir -p "$(dirname "$2")" || exit 1
if gsutil -q stat "$1" 2>/dev/null; then gsutil -q cp "$1" "$2"; else mkdir -p "$2" && gsutil -m -q rsync -r "$1" "$2"; fi
"""),
    "https": ("`curl` or `wget`", """mkdir -p "$(dirname "$2")" || exit 1
if command -v curl >/dev/null 2>&1; then curl -fsSL --retry 3 -o "$2" "$1"
elif command -v wget >/dev/null 2>&1; then wget -q -O "$2" "$1"
else exit 127; fi
"""),
}
FETCHERS["http"] = FETCHERS["https"]
TOOL_MISSING = 127


def scheme_of(source: str) -> str | None:
    match = re.match(r"^([a-z0-9]+)://", source)
    return match.group(1) if match else None


def check_url_mount(field: str, source: str, mode: str | None) -> None:
    """Before any machine exists: refuse what cannot be fetched, saying what can."""
    scheme = scheme_of(source)
    if scheme not in FETCHERS:
        supported = ", ".join(f"{s}://" for s in sorted(FETCHERS))
        raise SkyhopError(f"{field}: {scheme}:// sources are not supported yet (supported: {supported}).")
    if mode not in (None, "COPY"):
        raise SkyhopError(f"{field}: mode {mode} (a FUSE mount) is not supported yet; use mode: COPY, which copies the data onto each node.")


def shown(url: str) -> str:
    """The URL without user:password@ and without the query string."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def fetch(runner, field: str, source: str, dest: str, where: str) -> None:
    scheme = scheme_of(source)
    assert scheme is not None
    tool, script = FETCHERS[scheme]
    done = runner.run(["sh", "-c", script, "sh", source, dest], timeout=3600)
    if done.returncode == TOOL_MISSING:
        raise SkyhopError(f"{field}: fetching {shown(source)} on {where} needs {tool} there; install it on the machine (or its image) and launch again.")
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().replace(source, shown(source))[-400:]
        raise SkyhopError(f"{field}: fetching {shown(source)} on {where} failed (exit {done.returncode}): {detail}")
