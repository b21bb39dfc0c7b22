"""Sticky traffic split benchmark: cost of one routing decision, and the split measured on 1M keys.

One decision is what the router does per request: ``split.is_candidate(split_key(key, request_id))``
with a precomputed :class:`~mlship.rollout.traffic.TrafficSplit`. It is timed for short routing
keys (user ids), for requests without a key (the request id, a UUID), and for 10 KB keys, against
the issue's router budget of 50 us per request. The same arithmetic inlined, with SHA-256 and with
BLAKE2b, is timed beside it: the reason for SHA-256. Then 1,000,000 random keys are split at 5,
10, 25 and 50 %.

Run ``python bench/router_bench.py`` from the repository root (``--keys``, ``--out``). Prints the
figures and writes ``bench/results/router.json``; exits 1 if a decision misses the budget.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from mlship.rollout.traffic import TrafficSplit, rollout_salt, split_key

BENCH = Path(__file__).resolve().parent
BUDGET_NS = 50_000
"""The issue's router overhead per request (50 us); the split decision is one part of it."""
SHARES = (0.05, 0.10, 0.25, 0.50)
SALT = rollout_salt("churn", 7, datetime(2026, 5, 1, 12, tzinfo=UTC))


def per_call_ns(call: Callable[[str], object], keys: list[str], repeat: int) -> dict[str, float]:
    """Nanoseconds per call over ``keys``: min and median of ``repeat`` passes (loop included)."""
    passes = []
    for _ in range(repeat):
        start = time.perf_counter_ns()
        for key in keys:
            call(key)
        passes.append((time.perf_counter_ns() - start) / len(keys))
    return {"min_ns": round(min(passes)), "median_ns": round(statistics.median(passes))}


def bare_decision(hash_name: str, salt: str, share: float) -> Callable[[str], bool]:
    """The decision's arithmetic inlined in one closure, with ``hash_name`` as the hash.

    Timing SHA-256 and BLAKE2b (8-byte digest) through the same closure compares the hashes alone.
    """
    raw = salt.encode()
    prefix = len(raw).to_bytes(4, "big") + raw
    threshold = round(share * 10_000)
    if hash_name == "sha256":
        sha256 = hashlib.sha256

        def decide(key: str) -> bool:
            digest = sha256(prefix + key.encode("utf-8", "surrogatepass")).digest()
            return int.from_bytes(digest[:8], "big") % 10_000 < threshold

    else:
        blake2b = hashlib.blake2b

        def decide(key: str) -> bool:
            digest = blake2b(prefix + key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
            return int.from_bytes(digest[:8], "big") % 10_000 < threshold

    return decide


def measure_cost(repeat: int) -> dict[str, Any]:
    rng = random.Random(0)
    split = TrafficSplit(0.25, SALT)
    kinds = {
        "short_key": [f"user-{rng.getrandbits(64):016x}" for _ in range(20_000)],
        "request_id": [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(20_000)],
        "key_10kb": [f"{i:08d}" + "k" * 10_232 for i in range(2_000)],
    }

    def keyed(key: str) -> bool:
        return split.is_candidate(split_key(key, "unused-request-id"))

    def keyless(request_id: str) -> bool:
        # No routing key: the router falls back to the request id.
        return split.is_candidate(split_key(None, request_id))

    cost: dict[str, Any] = {}
    for kind, keys in kinds.items():
        decision = per_call_ns(keyless if kind == "request_id" else keyed, keys, repeat)
        cost[kind] = {
            "key_bytes": len(keys[0].encode()),
            "decision": decision,
            "hash_only": {
                name: per_call_ns(bare_decision(name, SALT, 0.25), keys, repeat)
                for name in ("sha256", "blake2b")
            },
            "within_budget": decision["median_ns"] <= BUDGET_NS,
        }
    return cost


def measure_split(n_keys: int) -> dict[str, Any]:
    rng = random.Random(1)
    keys = [f"user-{rng.getrandbits(64):016x}" for _ in range(n_keys)]
    figures: dict[str, Any] = {}
    for share in SHARES:
        split = TrafficSplit(share, SALT)
        measured = sum(map(split.is_candidate, keys)) / n_keys
        figures[f"{share:.2f}"] = {
            "target": share,
            "measured": round(measured, 6),
            "error_points": round((measured - share) * 100, 4),
        }
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "router.json")
    args = parser.parse_args(argv)

    cost = measure_cost(args.repeat)
    for kind, row in cost.items():
        print(
            f"decision, {kind} ({row['key_bytes']:,} B): median {row['decision']['median_ns']:,} ns"
            f" (min {row['decision']['min_ns']:,}); budget {BUDGET_NS:,} ns: "
            f"{'PASS' if row['within_budget'] else 'FAIL'}; inlined with sha256 "
            f"{row['hash_only']['sha256']['median_ns']:,} ns, with blake2b "
            f"{row['hash_only']['blake2b']['median_ns']:,} ns (medians)"
        )
    split = measure_split(args.keys)
    for row in split.values():
        print(
            f"split over {args.keys:,} keys: target {row['target']:.2f} -> measured "
            f"{row['measured']:.4f} ({row['error_points']:+.3f} points)"
        )
    passed = all(row["within_budget"] for row in cost.values())
    report = {
        "meta": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "packages": {"mlship": metadata.version("mlship")},
            "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
        "budget_ns": BUDGET_NS,
        "passed": passed,
        "salt": SALT,
        "decision_cost": cost,
        "split": {"keys": args.keys, "shares": split},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
