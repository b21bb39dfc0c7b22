"""The sticky traffic split: accuracy, stickiness, independence across rollouts, monotonicity."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import os
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlship.errors import ConfigError
from mlship.rollout.traffic import BUCKETS, TrafficSplit, bucket, rollout_salt, split_key

SALT = rollout_salt("churn", 7, datetime(2026, 5, 1, 12, tzinfo=UTC))


def random_keys(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [f"user-{rng.getrandbits(64):016x}" for _ in range(n)]


KEYS = random_keys(10_000)


@pytest.mark.parametrize("share", [0, 0.05, 0.1, 0.25, 0.5, 0.9, 1])
def test_split_is_within_one_point_of_the_share(share: float) -> None:
    split = TrafficSplit(share, SALT)
    measured = sum(split.is_candidate(key) for key in KEYS) / len(KEYS)
    if share in (0, 1):
        assert measured == share
    else:
        assert abs(measured - share) <= 0.01


def test_same_key_gets_the_same_answer_every_time() -> None:
    split = TrafficSplit(0.5, SALT)
    for key in KEYS[:20]:
        first = split.is_candidate(key)
        assert all(split.is_candidate(key) is first for _ in range(1000))
        assert all(bucket(key, SALT) == bucket(key, SALT) for _ in range(1000))


def test_assignment_is_the_same_in_a_fresh_process() -> None:
    """Check that another interpreter, with another hash seed, computes the same assignments."""
    keys = KEYS[:1000]
    code = (
        "import json, sys\n"
        "from mlship.rollout.traffic import TrafficSplit, bucket\n"
        "salt, keys = json.load(sys.stdin)\n"
        "split = TrafficSplit(0.25, salt)\n"
        "print(json.dumps([[bucket(k, salt), split.is_candidate(k)] for k in keys]))\n"
    )
    for hash_seed in ("1", "4242"):
        result = subprocess.run(
            [sys.executable, "-c", code],
            input=json.dumps([SALT, keys]),
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            timeout=60,
        )
        split = TrafficSplit(0.25, SALT)
        here = [[bucket(k, SALT), split.is_candidate(k)] for k in keys]
        assert json.loads(result.stdout) == here


@given(key=st.text(), salt=st.text())
def test_bucket_follows_the_documented_formula(key: str, salt: str) -> None:
    """Check the bucket against the formula in the module docstring (for other languages)."""
    raw_salt = salt.encode("utf-8")
    digest = hashlib.sha256(
        len(raw_salt).to_bytes(4, "big") + raw_salt + key.encode("utf-8")
    ).digest()
    expected = int.from_bytes(digest[:8], "big") % 10_000
    assert bucket(key, salt) == expected
    assert 0 <= expected < BUCKETS


def test_bucket_has_pinned_values() -> None:
    """Check values fixed once: a change here would reshuffle every running rollout."""
    assert bucket("user-42", SALT) == 9873
    assert bucket("", "") == 1019
    assert bucket("ünïcødé 用户 🙂", SALT) == 2695


@pytest.mark.parametrize(
    "key", ["", "x" * 10_240, "ünïcødé 用户 🙂", "\ud800 lone surrogate", "\x00"]
)
def test_unusual_keys_work(key: str) -> None:
    split = TrafficSplit(0.5, SALT)
    assert 0 <= bucket(key, SALT) < BUCKETS
    assert split.is_candidate(key) is split.is_candidate(key)
    assert split.is_candidate(key) is (bucket(key, SALT) < 5000)


def test_long_keys_differing_in_the_last_character_differ() -> None:
    base = "x" * 10_239
    buckets = {bucket(base + c, SALT) for c in "abcdefghijklmnop"}
    assert len(buckets) > 10


@pytest.mark.parametrize("share", [0.1, 0.25, 0.5])
def test_different_salts_give_independent_assignments(share: float) -> None:
    """Check that a new rollout reshuffles users: the overlap of two rollouts is about share²."""
    first = TrafficSplit(share, rollout_salt("churn", 7, datetime(2026, 5, 1, tzinfo=UTC)))
    second = TrafficSplit(share, rollout_salt("churn", 8, datetime(2026, 5, 2, tzinfo=UTC)))
    both = sum(first.is_candidate(k) and second.is_candidate(k) for k in KEYS) / len(KEYS)
    expected = share * share
    # Four standard deviations of a binomial proportion over 10,000 keys.
    tolerance = 4 * math.sqrt(expected * (1 - expected) / len(KEYS))
    assert abs(both - expected) <= tolerance


@given(
    shares=st.lists(st.floats(0, 1), min_size=2, max_size=2),
    keys=st.lists(st.text(), max_size=50),
    salt=st.text(),
)
def test_raising_the_share_keeps_every_candidate_user(
    shares: list[float], keys: list[str], salt: str
) -> None:
    low, high = sorted(shares)
    smaller, larger = TrafficSplit(low, salt), TrafficSplit(high, salt)
    for key in keys:
        if smaller.is_candidate(key):
            assert larger.is_candidate(key)


def test_raising_the_share_keeps_every_candidate_user_at_each_canary_step() -> None:
    steps = [0, 0.05, 0.1, 0.25, 0.5, 1]
    groups = [{k for k in KEYS if TrafficSplit(s, SALT).is_candidate(k)} for s in steps]
    for smaller, larger in itertools.pairwise(groups):
        assert smaller < larger


@pytest.mark.parametrize("share", [1.5, -0.01, math.nan, math.inf, "0.5", True, None, 1.0000001])
def test_invalid_share_is_refused(share: object) -> None:
    with pytest.raises(ConfigError) as caught:
        TrafficSplit(share, SALT)  # type: ignore[arg-type]
    assert (
        caught.value.message
        == f"The 'share' option must be a number from 0 to 1. Got {share!r} instead."
    )


def test_share_message_reads_as_documented() -> None:
    with pytest.raises(
        ConfigError, match=r"^The 'share' option must be a number from 0 to 1\. Got 1\.5 instead\.$"
    ):
        TrafficSplit(1.5, SALT)


def test_non_string_salt_is_refused() -> None:
    with pytest.raises(
        ConfigError, match=r"^The 'salt' option must be a string\. Got 7 instead\.$"
    ):
        TrafficSplit(0.5, 7)  # type: ignore[arg-type]


def test_split_is_a_frozen_value() -> None:
    split = TrafficSplit(0.1, SALT)
    assert split == TrafficSplit(0.1, SALT)
    assert hash(split) == hash(TrafficSplit(0.1, SALT))
    assert repr(split) == f"TrafficSplit(share=0.1, salt={SALT!r})"
    with pytest.raises(dataclasses.FrozenInstanceError):
        split.share = 0.2  # type: ignore[misc]


def test_share_in_integer_form_is_accepted() -> None:
    assert TrafficSplit(1, SALT).is_candidate("anyone")
    assert not TrafficSplit(0, SALT).is_candidate("anyone")


@pytest.mark.parametrize(
    ("routing_key", "expected"), [("user-1", "user-1"), (None, "req-9"), ("", "req-9")]
)
def test_split_key_falls_back_to_the_request_id(routing_key: str | None, expected: str) -> None:
    assert split_key(routing_key, "req-9") == expected


def test_rollout_salt_is_the_same_instant_in_any_time_zone() -> None:
    utc = datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    paris = utc.astimezone(timezone(timedelta(hours=2)))
    naive = utc.replace(tzinfo=None)
    assert rollout_salt("m", 3, utc) == rollout_salt("m", 3, paris) == rollout_salt("m", 3, naive)
    assert rollout_salt("m", 3, utc) == "m@3/2026-05-01T12:00:00.123456+00:00"
    assert rollout_salt("m", 3, utc) != rollout_salt("m", 4, utc)
    assert rollout_salt("m", 3, utc) != rollout_salt("m", 3, utc + timedelta(microseconds=1))
