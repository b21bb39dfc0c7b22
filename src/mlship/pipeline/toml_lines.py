"""Where a key sits in a TOML file: ``tomllib`` gives values, not line numbers, so error messages
find the line by scanning the text.

The scan knows table headers (``[checks.columns.amount]``), dotted and quoted keys and skips
multi-line strings; it is for messages, so a key it cannot place falls back to its table's header.

>>> text = '[model]\\nname = "fraud"\\n\\n[rollout]\\nsteps = [5, 100]\\n'
>>> TomlLines(text).line("rollout", "steps"), TomlLines(text).line("rollout")
(5, 4)
"""

from __future__ import annotations

import re

_HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")
_BARE = r"""[A-Za-z0-9_\-]+|"[^"]*"|'[^']*'"""
_KEY = re.compile(rf"^\s*((?:{_BARE})(?:\s*\.\s*(?:{_BARE}))*)\s*=")
_PART = re.compile(_BARE)


def _parts(dotted: str) -> tuple[str, ...]:
    return tuple(p.strip("\"'") for p in _PART.findall(dotted))


class TomlLines:
    """The line (1-based) of each table header and key of a TOML text."""

    def __init__(self, text: str) -> None:
        self._lines: dict[tuple[str, ...], int] = {}
        self._implicit: dict[tuple[str, ...], int] = {}
        """Tables only named as the parents of others (``[checks.columns]`` of
        ``[checks.columns.amount]``): used when they have no line of their own."""
        table: tuple[str, ...] = ()
        in_string: str | None = None
        for number, line in enumerate(text.splitlines(), start=1):
            if in_string is not None:
                if line.count(in_string) % 2 == 1:
                    in_string = None
                continue
            header = _HEADER.match(line)
            if header is not None:
                table = _parts(header.group(1))
                self._lines.setdefault(table, number)
                for end in range(1, len(table)):
                    self._implicit.setdefault(table[:end], number)
                continue
            key = _KEY.match(line)
            if key is None:
                continue
            path = (*table, *_parts(key.group(1)))
            self._lines.setdefault(path, number)
            for end in range(len(table) + 1, len(path)):
                self._implicit.setdefault(path[:end], number)
            rest = line[key.end() :]
            for quote in ('"""', "'''"):
                if rest.count(quote) % 2 == 1:
                    in_string = quote

    def line(self, *path: str) -> int | None:
        """The line of ``path`` (a table, then keys); the nearest enclosing one that is known."""
        for end in range(len(path), 0, -1):
            found = self._lines.get(path[:end]) or self._implicit.get(path[:end])
            if found is not None:
                return found
        return None
