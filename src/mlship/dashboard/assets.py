"""The dashboard's static files (``static/``: the page, its scripts, style and icon), served from
memory with their content type, an ETag, ``Cache-Control: no-cache`` (the browser revalidates,
the server answers 304 while the file is unchanged: an upgraded server never runs stale scripts)
and headers that forbid loading anything from elsewhere.

Only the files in ``static/`` are served, by exact name: no path is ever joined from a request.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from importlib import resources

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
"""Everything the page loads comes from this server; no inline script or style, no frames."""

SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}
"""Headers of every dashboard answer (the JSON ones too)."""


@dataclass(frozen=True, slots=True)
class Asset:
    """One static file: its bytes, content type and ETag."""

    name: str
    body: bytes
    content_type: str

    @property
    def etag(self) -> str:
        return f'"{hashlib.sha256(self.body).hexdigest()[:20]}"'

    def headers(self) -> dict[str, str]:
        return {**SECURITY_HEADERS, "etag": self.etag, "cache-control": "no-cache"}

    def fresh_for(self, if_none_match: str | None) -> bool:
        """Whether the browser's copy (its ``If-None-Match``) is this version: answer 304."""
        if not if_none_match:
            return False
        tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
        return self.etag in tags or "*" in tags


@functools.cache
def assets() -> dict[str, Asset]:
    """Every file of ``static/`` by name (read once per process: they are package data)."""
    found: dict[str, Asset] = {}
    for entry in resources.files("mlship.dashboard").joinpath("static").iterdir():
        suffix = "." + entry.name.rpartition(".")[2]
        if entry.is_file() and suffix in _TYPES:
            found[entry.name] = Asset(entry.name, entry.read_bytes(), _TYPES[suffix])
    return found
