from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlship.errors import InvalidReference
from mlship.registry.reference import ModelRef, validate_alias

names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,30}", fullmatch=True)
aliases = st.from_regex(r"[A-Za-z][A-Za-z0-9_\-]{0,20}", fullmatch=True).filter(
    lambda a: a != "latest"
)


@given(names, st.integers(min_value=1, max_value=10**9))
def test_version_references_round_trip(name: str, version: int) -> None:
    ref = ModelRef.parse(f"{name}@{version}")
    assert (ref.name, ref.version, ref.alias) == (name, version, None)
    assert ModelRef.parse(str(ref)) == ref


@given(names, aliases)
def test_alias_references_round_trip(name: str, alias: str) -> None:
    ref = ModelRef.parse(f"{name}@{alias}")
    assert (ref.name, ref.version, ref.alias) == (name, None, alias)
    assert validate_alias(alias) == alias


@pytest.mark.parametrize("text", ["fraud", "fraud@latest"])
def test_bare_name_and_latest_mean_latest(text: str) -> None:
    assert ModelRef.parse(text) == ModelRef(name="fraud")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("fraud@0", "Versions are whole numbers from 1"),
        ("fraud@99999999999999999999", "Versions are whole numbers from 1"),
        ("fraud@²", "not a model reference"),
        ("fraud@prod uction", "not a model reference"),
        ("@4", "Model names"),
        ("bad name@1", "Model names"),
    ],
)
def test_malformed_references_say_what_is_valid(text: str, message: str) -> None:
    with pytest.raises(InvalidReference, match=message):
        ModelRef.parse(text)


@pytest.mark.parametrize("alias", ["latest", "12"])
def test_reserved_aliases(alias: str) -> None:
    with pytest.raises(InvalidReference, match="reserved"):
        validate_alias(alias)
