"""The ``Host`` allow-list: the first check of every request, on every route.

A web page can rebind its own name to 127.0.0.1 (DNS rebinding): the browser then sends the
page's requests to a local ``mlship serve`` as same-origin requests, with ``Host`` and
``Origin`` both naming the attacker's site, so an ``Origin``-matches-``Host`` test passes. What
the browser cannot forge is a ``Host`` the server answers to. The server answers only to the
names in its allow-list:

- by default the address it is bound to, ``localhost``, ``127.0.0.1`` and ``[::1]``;
- bound to every interface (``0.0.0.0``, ``::``) without a token, also the machine's own names;
- bound to every interface with a token, any name (its clients' names, a Kubernetes Service or
  an Ingress, are not known to it, and the token guards every route that changes anything),
  unless ``--allowed-host`` names them;
- ``--allowed-host NAME`` (repeatable, ``MLSHIP_ALLOWED_HOSTS``) adds names, ``*`` allows any.

A request without ``Host`` (HTTP/1.0; no browser sends one) is let through.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable

import orjson

WILDCARD_ADDRESSES = frozenset({"0.0.0.0", "::", ""})
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
_CACHE_LIMIT = 256


def host_name(header: str) -> str:
    """The name in a ``Host`` value, lower-case, without its port or a trailing dot.

    >>> host_name("Example.COM.:8080")
    'example.com'
    >>> host_name("[::1]:8080")
    '::1'
    """
    value = header.strip().lower()
    if value.startswith("["):
        return value[1:].partition("]")[0]
    if value.count(":") == 1:
        value = value.partition(":")[0]
    return value.rstrip(".")


class HostGuard:
    """Decides whether a request's ``Host`` header names this server.

    ``allowed`` None means any host. Verdicts are kept per header value (a server sees a
    handful), so a request costs one dictionary lookup.

    >>> guard = HostGuard(frozenset({"localhost", "127.0.0.1"}))
    >>> guard.allows(b"localhost:8080"), guard.allows(b"evil.example:8080")
    (True, False)
    """

    def __init__(self, allowed: frozenset[str] | None) -> None:
        self._allowed = allowed
        self._seen: dict[bytes, bool] = {}

    @property
    def allowed(self) -> frozenset[str] | None:
        return self._allowed

    @classmethod
    def for_server(cls, bound: str, extra: Iterable[str], *, has_token: bool) -> HostGuard:
        """The guard of a server bound to ``bound`` (see the module docstring)."""
        given = {host_name(name) for name in extra}
        if "*" in given:
            return cls(None)
        bound_name = host_name(bound)
        if bound_name in WILDCARD_ADDRESSES:
            if has_token and not given:
                return cls(None)
            given |= _own_names()
        else:
            given.add(bound_name)
        return cls(frozenset(given | set(LOOPBACK_NAMES)))

    def allows(self, header: bytes | None) -> bool:
        """True when ``header`` (the raw ``Host`` value) is allowed, or absent."""
        if header is None or self._allowed is None:
            return True
        verdict = self._seen.get(header)
        if verdict is None:
            verdict = host_name(header.decode("latin-1")) in self._allowed
            if len(self._seen) < _CACHE_LIMIT:
                self._seen[header] = verdict
        return verdict

    def refusal(self, header: bytes) -> bytes:
        """The JSON body of a 421 answer for ``header``."""
        given = header.decode("latin-1")
        name = host_name(given)
        shown = ", ".join(sorted(self._allowed or ()))
        return orjson.dumps(
            {
                "error": f"This server does not answer to the host {given!r} (it answers to "
                f"{shown}). If clients reach it by that name on purpose, start it with "
                f"--allowed-host {name or '<name>'}.",
                "field": "host",
            }
        )


def _own_names() -> set[str]:
    """The machine's host name, its fully qualified name and the addresses they resolve to."""
    names = {socket.gethostname(), socket.getfqdn()}
    for name in list(names):
        try:
            names.update(str(info[4][0]) for info in socket.getaddrinfo(name, None))
        except OSError:
            continue
    return {host_name(name) for name in names if name}
