"""The options module every part shares: one message for a bad option, one duration grammar."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mlship.errors import ConfigError
from mlship.options import check_number, invalid, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("30s", 30),
        ("10m", 600),
        ("2h", 7200),
        ("7d", 604800),
        ("1w", 604800),
        ("45", 45),
        (" 1.5 h ", 5400),
        ("0s", 0),
    ],
)
def test_durations_read_every_unit_and_plain_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text, "interval") == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "soon", "5 minutes", "-1m", "1y", "1e3s"])
def test_a_bad_duration_names_the_option_and_the_form(text: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_duration(text, "interval")
    form = "a duration such as 30s, 10m, 2h or 7d"
    assert raised.value.message == f"The 'interval' option must be {form}. Got {text!r} instead."


def test_positive_durations_refuse_zero() -> None:
    with pytest.raises(ConfigError, match=r"'cooldown' option must be a duration .*, above zero"):
        parse_duration("0m", "cooldown", positive=True)


def test_numbers_are_checked_against_their_rule_with_one_message() -> None:
    rule = ("a number in [0, 1]", lambda v: 0 <= v <= 1)
    assert check_number("share", "0.25", rule, from_text=True) == 0.25
    for bad in (1.5, True, "x", float("nan")):
        with pytest.raises(ConfigError, match=r"The 'share' option must be a number in \[0, 1\]"):
            check_number("share", bad, rule, from_text=True)
    assert invalid("mode", "'a' or 'b'", "c").message == (
        "The 'mode' option must be 'a' or 'b'. Got 'c' instead."
    )
