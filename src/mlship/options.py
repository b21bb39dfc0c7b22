"""Options of every part of mlship: the one message of a bad option, numbers and durations.

Below everything (it imports only :mod:`mlship.errors`), so that a package needs no other one
for its option checks.

>>> parse_duration("10m", "interval").total_seconds()
600.0
>>> try:
...     parse_duration("soon", "interval")
... except Exception as exc:
...     print(exc)
The 'interval' option must be a duration such as 30s, 10m, 2h or 7d. Got 'soon' instead.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import timedelta

from mlship.errors import ConfigError

__all__ = ["DURATION_EXAMPLE", "Rule", "check_number", "invalid", "parse_duration"]

Rule = tuple[str, Callable[[float], bool]]
"""What a number must be (for the message) and the test it must pass."""

DURATION_EXAMPLE = "a duration such as 30s, 10m, 2h or 7d"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, None: 1.0}


def invalid(option: str, must: str, got: object) -> ConfigError:
    """The one message format of a bad option: what it must be and what was given."""
    shown = repr(got) if isinstance(got, str) else str(got)
    return ConfigError(f"The {option!r} option must be {must}. Got {shown} instead.")


def check_number(option: str, value: object, rule: Rule, *, from_text: bool = False) -> float:
    """``value`` as a float if it is a number satisfying ``rule``, else a :class:`ConfigError`.

    With ``from_text`` a string such as ``"0.1"`` (a CLI flag) is parsed first.
    """
    must, ok = rule
    number = value
    if from_text and isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise invalid(option, must, value) from None
    if isinstance(number, bool) or not isinstance(number, int | float):
        raise invalid(option, must, value)
    if not math.isfinite(number) or not ok(float(number)):
        raise invalid(option, must, value)
    return float(number)


def parse_duration(text: str, option: str, *, positive: bool = False) -> timedelta:
    """``"10m"`` → 10 minutes. Units ``ms``, ``s``, ``m``, ``h``, ``d``, ``w``; a plain number
    is seconds. ``positive`` refuses zero."""
    match = _DURATION.match(text) if isinstance(text, str) else None
    if match is None or (positive and float(match.group(1)) <= 0):
        must = f"{DURATION_EXAMPLE}, above zero" if positive else DURATION_EXAMPLE
        raise invalid(option, must, text)
    try:
        return timedelta(seconds=float(match.group(1)) * _UNIT[match.group(2)])
    except OverflowError:
        raise invalid(option, DURATION_EXAMPLE, text) from None
