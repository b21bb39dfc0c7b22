"""Rollback benchmark: how long after a rollback every replica answers with stable only, and what
the router adds to each request.

Setups: two ``mlship serve`` replicas on one PostgreSQL store (fresh schema, one artifact folder),
and one replica on SQLite. Each repetition starts a canary at 50 %, waits until every replica
sends the candidate's routing keys to it, waits a random 0-1 s (so that the rollback falls at any
phase of the replicas' 0.5 s poll of the store), then rolls back, either in Python
(``Rollouts.rollback``: the clock starts when the transaction has committed) or with
``mlship rollback`` (the clock starts when the command returns). From then on the replicas are
asked in turn, with keys that were on the candidate, until each has answered stable only for
0.7 s (longer than the poll); a replica's time is the send time of its first stable answer after
its last candidate answer.

Router overhead: ``Router.route`` per request on a canary table (a routing key, or none: the
request id), and on a stable-only table, timed with ``router_bench.per_call_ns``.

Run ``python bench/rollback_bench.py`` from the repository root (``--repeat``, ``--pg-url``,
``--setups``, ``--out``). Prints the figures and writes ``bench/results/rollback.json``; exits 1 if
a rollback took more than 1 s on some replica or a routing decision more than 50 us.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

from mlship.registry import ArtifactStore, Registry
from mlship.rollout import CanaryConfig, DeploymentStore, Rollouts, TrafficSplit, split_key
from mlship.serving.router import ModelRoutes, Router
from mlship.store import open_store

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from fixtures import FEATURES, LABEL, frame, logreg  # noqa: E402
from router_bench import BUDGET_NS, SALT, per_call_ns  # noqa: E402

ROLLBACK_BUDGET_S = 1.0
"""The issue's target: every replica serves stable only within 1 s of the rollback."""
PG_URL = os.environ.get("MLSHIP_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
STABLE_FOR_S = 0.7
KEYS_PER_REPLICA = 4
"""Keys asked per replica and round: one suffices (a replica swaps its table at once); a few
keep the rounds short (~10 ms) so the figures have that resolution."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ------------------------------------------------------------------------------ the store


@contextmanager
def store_url(setup: str, home: Path, pg_url: str) -> Iterator[str]:
    """A SQLite file in ``home``, or a fresh PostgreSQL schema (dropped afterwards)."""
    if setup == "sqlite":
        yield f"sqlite:///{home / 'mlship.db'}"
        return
    import sqlalchemy as sa

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{pg_url}?options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def prepare(url: str, home: Path) -> Registry:
    """``bench`` v1 deployed and v2 gated, two logistic regressions on 20 features."""
    registry = Registry(
        open_store(url), ArtifactStore(str(home / "artifacts")), cache_dir=home / "cache"
    )
    data = frame(2_000)
    for seed in (1, 2):
        model = logreg(data.sample(frac=1.0, random_state=seed))
        registry.register(model, "bench", train_data=data, label=LABEL)
    registry.record_check_run("bench@2", kind="gate", passed=True, report={})
    Rollouts(registry).start_canary("bench@1")
    return registry


# ------------------------------------------------------------------------------ replicas


class Replica:
    def __init__(self, name: str, env: dict[str, str], log: Path) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        with log.open("wb") as sink:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mlship", "serve", "--port", str(self.port)],
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.log = log
        self.conn: http.client.HTTPConnection | None = None
        """One kept-alive connection (urllib would open one per request); stdlib only, as
        .venv-bench has no httpx."""

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=1) as ready:
                    if ready.status == 200:
                        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not become ready in {timeout:.0f} s")

    def stop(self) -> None:
        if self.conn is not None:
            self.conn.close()
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@contextmanager
def replicas(count: int, url: str, home: Path) -> Iterator[list[Replica]]:
    started = []
    try:
        for i in range(count):
            env = {
                **os.environ,
                "MLSHIP_DB_URL": url,
                "MLSHIP_ARTIFACTS": str(home / "artifacts"),
                "MLSHIP_HOME": str(home / f"replica-{i}"),
                "OMP_NUM_THREADS": "1",
            }
            started.append(Replica(f"replica-{i}", env, home / f"replica-{i}.log"))
        for replica in started:
            replica.wait_ready()
        yield started
    finally:
        for replica in started:
            replica.stop()


# ------------------------------------------------------------------------------ one rollback

ROW = {name: 0.1 * i for i, name in enumerate(FEATURES)}


BODY = json.dumps({"inputs": [ROW]})


def answer(replica: Replica, key: str) -> int:
    """The version that answers ``key`` on ``replica``."""
    assert replica.conn is not None
    headers = {"content-type": "application/json", "x-routing-key": key}
    replica.conn.request("POST", "/models/bench/predict", BODY, headers)
    response = replica.conn.getresponse()
    data = response.read()
    if response.status != 200:
        raise RuntimeError(f"{replica.name} answered {response.status}: {data[:300]!r}")
    return int(json.loads(data)["version"])


def candidate_keys(registry: Registry, count: int) -> list[str]:
    """Routing keys the running canary sends to the candidate (the router's own arithmetic)."""
    deployment = DeploymentStore(registry).get("bench")
    assert deployment is not None and deployment.state == "canary"
    split = TrafficSplit(deployment.traffic, str(deployment.config["salt"]))
    keys = (f"user-{i}" for i in range(100_000))
    return [k for k in keys if split.is_candidate(split_key(k, "unused"))][:count]


def wait_all(group: list[Replica], keys: list[str], version: int) -> None:
    deadline = time.monotonic() + 30
    while not all(answer(r, k) == version for r in group for k in keys):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the replicas did not all serve v{version} within 30 s")
        time.sleep(0.02)


def time_to_obey(group: list[Replica], keys: list[str], since: float) -> dict[str, float]:
    """Seconds from ``since`` until each replica answers stable only (see the module doc)."""
    last_candidate = dict.fromkeys((r.name for r in group), since)
    first_stable: dict[str, float | None] = dict.fromkeys(r.name for r in group)
    deadline = since + 30
    while True:
        now = time.monotonic()
        settled = all(at is not None and now - at >= STABLE_FOR_S for at in first_stable.values())
        if settled:
            break
        if now > deadline:
            raise RuntimeError("a replica still served the candidate 30 s after the rollback")
        for replica in group:
            for key in keys:
                sent = time.monotonic()
                if answer(replica, key) == 2:
                    last_candidate[replica.name] = sent
                    first_stable[replica.name] = None
                elif first_stable[replica.name] is None:
                    first_stable[replica.name] = sent
    return {
        name: (at - since if last_candidate[name] > since else 0.0) if at is not None else 0.0
        for name, at in first_stable.items()
    }


def rollback(registry: Registry, mode: str, url: str, home: Path) -> tuple[float, float]:
    """Roll ``bench`` back; returns (when the clock starts, how long the command took)."""
    start = time.monotonic()
    if mode == "python":
        Rollouts(registry).rollback("bench", reason="bench")
    else:
        env = {
            **os.environ,
            "MLSHIP_DB_URL": url,
            "MLSHIP_ARTIFACTS": str(home / "artifacts"),
            "MLSHIP_HOME": str(home / "cli"),
        }
        done = subprocess.run(
            [sys.executable, "-m", "mlship", "rollback", "bench", "--reason", "bench"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise RuntimeError(f"mlship rollback failed: {done.stderr}")
    end = time.monotonic()
    return end, end - start


def summary(values: list[float]) -> dict[str, float]:
    return {
        "median_s": round(statistics.median(values), 3),
        "max_s": round(max(values), 3),
        "min_s": round(min(values), 3),
    }


def measure_setup(setup: str, count: int, repeat: int, pg_url: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"mlship-rollback-{setup}-") as tmp:
        home = Path(tmp)
        with store_url(setup, home, pg_url) as url:
            registry = prepare(url, home)
            try:
                with replicas(count, url, home) as group:
                    figures: dict[str, Any] = {"replicas": count}
                    phase = random.Random(0)
                    for mode in ("python", "cli"):
                        obeyed, commands = [], []
                        for _ in range(repeat):
                            plan = CanaryConfig(steps=(50, 100), interval_s=3600)
                            Rollouts(registry).start_canary("bench@2", plan)
                            keys = candidate_keys(registry, KEYS_PER_REPLICA)
                            wait_all(group, keys, 2)
                            # The replicas have just polled: without a random pause every
                            # rollback would land at the same phase of their 0.5 s poll.
                            time.sleep(phase.uniform(0.0, 1.0))
                            since, took = rollback(registry, mode, url, home)
                            times = time_to_obey(group, keys, since)
                            obeyed.append(max(times.values()))
                            commands.append(took)
                        figures[mode] = {
                            "all_replicas": summary(obeyed),
                            "runs_s": [round(v, 3) for v in obeyed],
                            "command": summary(commands),
                            "within_budget": max(obeyed) <= ROLLBACK_BUDGET_S,
                        }
                    return figures
            finally:
                registry.close()


# ------------------------------------------------------------------------------ the router


def measure_router(repeat: int) -> dict[str, Any]:
    """``Router.route`` per request; runtimes are stand-ins (the router only hands them out)."""
    stable, candidate = object(), object()
    canary, plain = Router(), Router()
    canary.replace({"m": ModelRoutes(stable, candidate, TrafficSplit(0.25, SALT))})
    plain.replace({"m": ModelRoutes(stable)})
    rng = random.Random(0)
    keys = [f"user-{rng.getrandbits(64):016x}" for _ in range(20_000)]
    ids = [uuid.UUID(int=rng.getrandbits(128), version=4).hex for _ in range(20_000)]
    cases = {
        "canary_routing_key": lambda k: canary.route("m", k, request_id="r"),
        "canary_request_id": lambda k: canary.route("m", None, request_id=k),
        "stable_only": lambda k: plain.route("m", None, request_id=k),
    }
    out: dict[str, Any] = {}
    for name, call in cases.items():
        figures = per_call_ns(call, ids if name != "canary_routing_key" else keys, repeat)
        out[name] = {**figures, "within_budget": figures["median_ns"] <= BUDGET_NS}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--setups", default="postgres,sqlite", help="postgres and/or sqlite")
    parser.add_argument("--pg-url", default=PG_URL)
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "rollback.json")
    args = parser.parse_args(argv)

    results: dict[str, Any] = {}
    for setup in args.setups.split(","):
        count = 2 if setup == "postgres" else 1
        try:
            results[setup] = measure_setup(setup, count, args.repeat, args.pg_url)
        except Exception as exc:  # e.g. no PostgreSQL here: report it, measure the rest
            results[setup] = {"error": f"{type(exc).__name__}: {exc}"}
            print(f"{setup}: not measured ({results[setup]['error']})")
            continue
        for mode in ("python", "cli"):
            row = results[setup][mode]
            print(
                f"rollback, {setup} x{count} replica(s), clock from the {mode} "
                f"{'commit' if mode == 'python' else 'command return'}: all replicas stable after "
                f"median {row['all_replicas']['median_s']:.3f} s, max "
                f"{row['all_replicas']['max_s']:.3f} s over {args.repeat} runs (command took "
                f"median {row['command']['median_s']:.3f} s); budget {ROLLBACK_BUDGET_S} s: "
                f"{'PASS' if row['within_budget'] else 'FAIL'}"
            )
    router = measure_router(7)
    for name, row in router.items():
        print(
            f"router.route, {name}: median {row['median_ns']:,} ns (min {row['min_ns']:,}); "
            f"budget {BUDGET_NS:,} ns: {'PASS' if row['within_budget'] else 'FAIL'}"
        )
    # A setup that could not be measured (no PostgreSQL here) is not a pass.
    passed = all(row["within_budget"] for row in router.values()) and all(
        "error" not in row and row["python"]["within_budget"] and row["cli"]["within_budget"]
        for row in results.values()
    )
    report = {
        "meta": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "packages": {"mlship": metadata.version("mlship")},
            "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "repeat": args.repeat,
        },
        "rollback_budget_s": ROLLBACK_BUDGET_S,
        "router_budget_ns": BUDGET_NS,
        "passed": passed,
        "rollback": results,
        "router": router,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
