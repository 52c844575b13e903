"""`file_mounts` whose source is a URL: each node fetches it itself, with the tool made for it.

Going through this machine would double the transfer and need the
credentials here; the node usually sits next to the bucket and has its own.
So the fetch runs on the node, and when the tool for a scheme is missing there
the error says which one to install. A URL can be a secret (signed URLs,
`user:password@`): it reaches the node on stdin, never in an argv that `ps`
would show, and messages show it without credentials or query string.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

from skyhop.errors import SkyhopError

FETCH_TIMEOUT_S = 3600
TOOL_MISSING = 127
TIMED_OUT = 124

# Common to every fetch: the URL on stdin, $1 the destination, $2 the cluster's
# directory on the node (the marker `down` finds processes by), and a time limit
# when `timeout` exists.
_PRELUDE = f"""IFS= read -r url || exit 1
dest=$1
export SKYHOP_NODE_BASE="$2"
t=; command -v timeout >/dev/null 2>&1 && t="timeout {FETCH_TIMEOUT_S}"
mkdir -p "$(dirname "$dest")" || exit 1
"""

# scheme -> (what to install, the fetch)
FETCHERS: dict[str, tuple[str, str]] = {
    "s3": ("the AWS CLI (`aws`)", """command -v aws >/dev/null 2>&1 || exit 127
case "$url" in
  */) $t aws s3 sync --only-show-errors "$url" "$dest" ;;
  *) $t aws s3 cp --only-show-errors "$url" "$dest" 2>/dev/null || $t aws s3 sync --only-show-errors "$url" "$dest" ;;
esac
"""),
    "gs": ("the Google Cloud SDK (`gsutil`)", """command -v gsutil >/dev/null 2>&1 || exit 127
if gsutil -q stat "$url" 2>/dev/null; then $t gsutil -q cp "$url" "$dest"
else mkdir -p "$dest" && $t gsutil -m -q rsync -r "$url" "$dest"; fi
"""),
    # curl and wget both read the URL from stdin here (`-K -`, `-i -`), not from argv.
    "https": ("`curl` or `wget`", """if command -v curl >/dev/null 2>&1; then
  printf 'url = "%s"\\n' "$url" | $t curl -fsSL --retry 3 -o "$dest" -K -
elif command -v wget >/dev/null 2>&1; then
  printf '%s\\n' "$url" | $t wget -q -O "$dest" -i -
else exit 127; fi
"""),
}
FETCHERS["http"] = FETCHERS["https"]


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
    if re.search(r'[\s"\\]', source):
        raise SkyhopError(f"{field}: {shown(source)} has spaces, quotes or backslashes; percent-encode them (%20, %22, %5C).")


def shown(url: str) -> str:
    """The URL without user:password@ and without the query string."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def fetch(runner, field: str, source: str, dest: str, where: str, node_base: str) -> None:
    scheme = scheme_of(source)
    assert scheme is not None
    tool, script = FETCHERS[scheme]
    done = runner.run(["sh", "-c", _PRELUDE + script, "sh", dest, node_base], input=source + "\n", timeout=FETCH_TIMEOUT_S + 60)
    if done.returncode == TIMED_OUT:
        raise SkyhopError(f"{field}: fetching {shown(source)} on {where} took longer than {FETCH_TIMEOUT_S} s and was stopped.")
    if done.returncode == TOOL_MISSING:
        raise SkyhopError(f"{field}: fetching {shown(source)} on {where} needs {tool} there; install it on the machine (or its image) and launch again.")
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().replace(source, shown(source))[-400:]
        raise SkyhopError(f"{field}: fetching {shown(source)} on {where} failed (exit {done.returncode}): {detail}")
