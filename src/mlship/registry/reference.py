"""Model references: ``fraud``, ``fraud@4``, ``fraud@latest``, ``fraud@production``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mlship.errors import InvalidReference

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}")
_ALIAS = re.compile(r"[A-Za-z][A-Za-z0-9_\-]{0,99}")
RESERVED_ALIASES = frozenset({"latest"})
MAX_VERSION = 2**31 - 1
"""Versions are stored as 32-bit integers."""


@dataclass(frozen=True, slots=True)
class ModelRef:
    """A parsed reference: a model name and a version number, an alias, or neither (= latest)."""

    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}@{self.version}"
        return f"{self.name}@{self.alias or 'latest'}"

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        """Parse ``NAME[@VERSION|@ALIAS]``.

        >>> ModelRef.parse("fraud@4")
        ModelRef(name='fraud', version=4, alias=None)
        >>> ModelRef.parse("fraud@production").alias
        'production'
        """
        name, sep, ref = text.strip().partition("@")
        validate_model_name(name)
        if not sep or ref == "latest":
            return cls(name=name)
        if ref.isascii() and ref.isdigit():
            version = int(ref)
            if not 1 <= version <= MAX_VERSION:
                raise InvalidReference(
                    f"Versions are whole numbers from 1 to {MAX_VERSION}. Got {text!r} instead."
                )
            return cls(name=name, version=version)
        if not _ALIAS.fullmatch(ref):
            raise InvalidReference(
                f"{text!r} is not a model reference. Use NAME, NAME@VERSION (e.g. fraud@4) "
                "or NAME@ALIAS (e.g. fraud@production)."
            )
        return cls(name=name, alias=ref)


def validate_model_name(name: str) -> str:
    """Return ``name`` if it is a valid model name, else raise :class:`InvalidReference`."""
    if not _NAME.fullmatch(name):
        raise InvalidReference(
            f"Model names are 1-200 letters, digits, '_', '-' or '.', starting with a letter or "
            f"digit. Got {name!r} instead."
        )
    return name


def validate_alias(alias: str) -> str:
    """Return ``alias`` if users may set it, else raise :class:`InvalidReference`."""
    if alias in RESERVED_ALIASES or alias.isdigit():
        raise InvalidReference(
            f"The alias {alias!r} is reserved: 'latest' and numbers always mean versions. "
            "Choose another name, e.g. 'production' or 'staging'."
        )
    if not _ALIAS.fullmatch(alias):
        raise InvalidReference(
            "Aliases are 1-100 letters, digits, '_' or '-', starting with a letter. "
            f"Got {alias!r} instead."
        )
    return alias
