"""Bearer tokens: reading ``Authorization`` and comparing in constant time."""

from __future__ import annotations

import hmac


def bearer_token(authorization: str | None) -> str | None:
    """The token of ``Authorization: Bearer <token>``; the scheme in any case (RFC 7235).

    >>> bearer_token("bearer abc"), bearer_token("Basic abc"), bearer_token(None)
    ('abc', None, None)
    """
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def token_ok(expected: str | None, authorization: str | None) -> bool:
    """True when no token is configured, or ``authorization`` carries ``expected``."""
    if not expected:
        return True
    return any_token_ok((expected,), authorization)


def any_token_ok(accepted: tuple[str, ...], authorization: str | None) -> bool:
    """True when ``authorization`` carries one of ``accepted`` (each compared in full, so the
    time taken does not say which one came close)."""
    given = bearer_token(authorization)
    if given is None:
        return False
    matches = [hmac.compare_digest(given.encode(), token.encode()) for token in accepted]
    return any(matches)
