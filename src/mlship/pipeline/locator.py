"""Errors that name the file, the line, the table and the key of a bad ``mlship.toml`` setting.

>>> loc = Locator("mlship.toml", '[rollout]\\nsteps = [5, 50, 25]\\n')
>>> loc.error("rollout", "steps", "The 'steps' option must be increasing.").message
"mlship.toml, line 2, [rollout] steps: The 'steps' option must be increasing."
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from mlship.errors import ConfigError, MlshipError
from mlship.options import DURATION_EXAMPLE, invalid, parse_duration
from mlship.pipeline.toml_lines import TomlLines

T = TypeVar("T")


class Locator:
    """Makes :class:`~mlship.errors.ConfigError` messages point at a key of one TOML file."""

    def __init__(self, file: str, text: str) -> None:
        self._file = file
        self._lines = TomlLines(text)

    def line(self, table: str, key: str | None = None) -> int | None:
        """The line of ``[table] key`` (or of the table's header), if found."""
        return self._lines.line(table, *([key] if key else []))

    def where(self, table: str, key: str | None = None) -> str:
        """``mlship.toml, line 12, [rollout] steps`` (no line when it cannot be found)."""
        number = self.line(table, key)
        at = f", line {number}" if number is not None else ""
        return f"{self._file}{at}, [{table}]" + (f" {key}" if key else "")

    def error(self, table: str, key: str | None, message: str) -> ConfigError:
        """A :class:`ConfigError` whose message starts with where the setting is."""
        return ConfigError(f"{self.where(table, key)}: {message}")

    def unknown_keys(self, table: str, values: Mapping[str, Any], known: Sequence[str]) -> None:
        """Raise naming the first unknown key of ``[table]`` (and its line), with a suggestion."""
        unknown = [str(k) for k in values if k not in known]
        if not unknown:
            return
        key = unknown[0]
        close = difflib.get_close_matches(key, list(known), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        others = f" ({len(unknown) - 1} more unknown)" if len(unknown) > 1 else ""
        raise self.error(
            table,
            key,
            f"unknown option {key!r}{hint}{others}. Known options of [{table}]: "
            f"{', '.join(sorted(known))}.",
        )

    def check(
        self,
        table: str,
        values: Mapping[str, Any],
        checks: Mapping[str, Callable[[str, Any], Any]],
    ) -> dict[str, Any]:
        """Each value of ``[table]`` passed through its check (``check(option, value)``, which
        raises for a bad value); an error names the key's line."""

        def apply(one: Mapping[str, Any]) -> dict[str, Any]:
            return {k: checks[k](k, x) for k, x in one.items()}

        checked: dict[str, Any] = {}
        for key, value in values.items():
            checked.update(self._attempt(table, key, apply, {key: value}))
        return checked

    def build(
        self,
        table: str,
        values: Mapping[str, Any],
        make: Callable[[Mapping[str, Any]], T],
    ) -> T:
        """``make(values)``, each key tried alone first, so that an error names its key's line
        (for constructors whose every option has a default).

        ``make`` raises :class:`~mlship.errors.MlshipError` (or TypeError/ValueError on a value of
        the wrong type) for bad options; the message is kept and prefixed with the location.
        """
        for key, value in values.items():
            self._attempt(table, key, make, {key: value})
        return self._attempt(table, None, make, values)

    def _attempt(
        self,
        table: str,
        key: str | None,
        make: Callable[[Mapping[str, Any]], T],
        values: Mapping[str, Any],
    ) -> T:
        try:
            return make(values)
        except MlshipError as exc:
            raise self.error(table, key, exc.message) from None
        except (TypeError, ValueError) as exc:
            shown = f"{values[key]!r} ({type(values[key]).__name__})" if key else "these values"
            raise self.error(table, key, f"has the wrong type: {shown}: {exc}.") from None


def must(option: str, what: str, value: object) -> ConfigError:
    """The one message format of a bad option (:func:`mlship.options.invalid`)."""
    return invalid(option, what, value)


def text(option: str, value: object, *, empty: bool = False) -> str:
    """A (non-empty) string."""
    if not isinstance(value, str) or (not empty and not value.strip()):
        raise must(option, "a non-empty string" if not empty else "a string", value)
    return value


def boolean(option: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise must(option, "true or false", value)
    return value


def number(option: str, value: object, *, minimum: float = 0.0) -> float:
    """A finite number >= ``minimum``."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < minimum
    ):
        raise must(option, f"a number >= {minimum:g}", value)
    return float(value)


def integer(option: str, value: object, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise must(option, f"an integer >= {minimum}", value)
    return value


def strings(option: str, value: object) -> tuple[str, ...]:
    """A list of strings (one string is a list of one)."""
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise must(option, 'a list of strings such as ["country"]', value)
    return tuple(value)


def seconds(option: str, value: object) -> float:
    """A duration: ``"10m"``, ``"30s"``, ``"2h"``, ``"500ms"``, or a number of seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return number(option, value)
    if not isinstance(value, str):
        raise must(option, DURATION_EXAMPLE, value)
    return parse_duration(value, option).total_seconds()
