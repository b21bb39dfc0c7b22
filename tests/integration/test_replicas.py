"""Two ``mlship serve`` replicas on one PostgreSQL store (and one artifact folder), as behind a
load balancer: they agree on every routing key, both obey a ``mlship rollback`` within a second,
and only one of them (the holder of the advisory lock) runs the canary controller."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
import sqlalchemy as sa

from mlship.registry import Registry
from mlship.rollout import CanaryConfig, DeploymentStore, Rollouts
from mlship.rollout.leader import _KEY_SQL
from tests.conftest import fit_logreg, free_port
from tests.integration.processes import tcp_ports
from tests.integration.replicas import OBEY_WITHIN_S, Replica

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.parametrize("db_url", ["postgres"], indirect=True),
]


def _env(tmp_path: Path, db_url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "MLSHIP_DB_URL": db_url,
        "MLSHIP_ARTIFACTS": str(tmp_path / "artifacts"),  # shared, as S3 would be
        "MLSHIP_HOME": str(tmp_path / "cli-home"),
        "OMP_NUM_THREADS": "1",
        **extra,
    }


@pytest.fixture
def replicas(tmp_path: Path, db_url: str) -> Iterator[list[Replica]]:
    """Two replicas (own home, spill folder, actor and log), ready; both stopped with SIGTERM at
    the end."""
    started: list[Replica] = []
    for name in ("replica-a", "replica-b"):
        env = _env(
            tmp_path,
            db_url,
            MLSHIP_HOME=str(tmp_path / name),
            MLSHIP_ACTOR=name,  # the ledger then says which replica's controller acted
            MLSHIP_LOG_LEVEL="INFO",
        )
        replica = Replica(name, free_port(), env, tmp_path / f"{name}.log")
        replica.start()
        started.append(replica)
    try:
        for replica in started:
            replica.wait_ready()
        yield started
    finally:
        for replica in started:
            replica.stop()


@pytest.fixture
def canary(registry_factory, tmp_path: Path, numeric_frame: pd.DataFrame) -> Registry:
    """``fraud`` v1 stable and v2 a canary at 50 % whose steps last an hour (the controller
    leaves it alone); stored before the replicas start."""
    registry: Registry = registry_factory(artifacts=str(tmp_path / "artifacts"))
    for seed in (1, 2):
        registry.register(
            fit_logreg(numeric_frame.sample(frac=1.0, random_state=seed)),
            "fraud",
            train_data=numeric_frame,
            label="is_fraud",
        )
    registry.record_check_run("fraud@2", kind="gate", passed=True, report={})
    rollouts = Rollouts(registry)
    rollouts.start_canary("fraud@1")
    rollouts.start_canary("fraud@2", CanaryConfig(steps=(50, 100), interval_s=3600))
    return registry


def _controller_sessions(registry: Registry) -> tuple[list[int], list[int]]:
    """Client ports of this store's leader-lock holders, and of every controller session."""
    with registry.store.engine.connect() as conn:
        holders = (
            conn.execute(
                sa.text(
                    "SELECT a.client_port FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                    "WHERE l.locktype = 'advisory' AND l.granted "
                    f"AND l.objid = ({_KEY_SQL})::bigint & 4294967295"
                )
            )
            .scalars()
            .all()
        )
        sessions = (
            conn.execute(
                sa.text(
                    "SELECT client_port FROM pg_stat_activity "
                    "WHERE application_name = 'mlship-controller' AND datname = current_database()"
                )
            )
            .scalars()
            .all()
        )
    return [int(p) for p in holders], [int(p) for p in sessions if p is not None]


def test_replicas_agree_obey_a_rollback_within_a_second_and_elect_one_controller(
    canary: Registry, replicas: list[Replica], tmp_path: Path, db_url: str, numeric_frame
) -> None:
    registry = canary
    rows = numeric_frame.drop(columns=["is_fraud"]).head(50).to_dict("records")
    keys = [f"user-{i}" for i in range(200)]

    # 1. The same routing key gets the same version on both replicas.
    with httpx.Client(timeout=30) as client:
        answers = {
            r.name: {k: r.version(client, k, rows[i % len(rows)]) for i, k in enumerate(keys)}
            for r in replicas
        }
    first, second = (answers[r.name] for r in replicas)
    assert first == second
    on_candidate = [k for k in keys if first[k] == 2]
    assert 0.35 < len(on_candidate) / len(keys) < 0.65

    # 2. Exactly one replica holds the leader lock; the other tries (it has a session) but
    #    does not hold it, so it runs no controller ticks.
    #    (Other stores on this server may have controller sessions too: sessions are matched to
    #    the replicas by their client ports.)
    deadline = time.monotonic() + 30
    while True:
        holders, sessions = _controller_sessions(registry)
        ports = {r.name: tcp_ports(r.proc.pid) for r in replicas}
        trying = {name for name, mine in ports.items() if mine & set(sessions)}
        if len(trying) == 2 and holders:
            break
        assert time.monotonic() < deadline, ("no election", holders, sessions, ports)
        time.sleep(0.2)
    assert len(holders) == 1, holders
    leader = [name for name, mine in ports.items() if holders[0] in mine]
    others = sorted(trying - set(leader))
    assert len(leader) == 1 and len(others) == 1, (holders, sessions, ports)

    # 3. `mlship rollback` from the shell: both replicas serve stable only within a second.
    result = subprocess.run(
        [sys.executable, "-m", "mlship", "rollback", "fraud", "--json"],
        env=_env(tmp_path, db_url),
        capture_output=True,
        timeout=120,
    )
    returned = time.monotonic()
    assert result.returncode == 0, result.stderr
    obeyed = _time_to_obey(replicas, on_candidate[:20], rows[0], returned, watch_s=2.0)
    assert max(obeyed.values()) <= OBEY_WITHIN_S, obeyed

    # 4. The leader, and only the leader, acts: a canary that cannot be judged (min_requests
    #    far above the traffic, no wait allowed) is paused by one controller, at once.
    plan = CanaryConfig(steps=(50, 100), interval_s=0, min_requests=10_000, max_wait_s=0)
    Rollouts(registry).start_canary("fraud@2", plan)
    deadline = time.monotonic() + 30
    while DeploymentStore(registry).get("fraud").state != "paused":
        assert time.monotonic() < deadline, "no controller paused the canary"
        time.sleep(0.2)
    time.sleep(2.5)  # two more controller ticks: a second controller would log its own try
    paused = [e for e in registry.history("fraud") if e.kind == "paused"]
    assert [e.actor for e in paused] == leader
    logs = {r.name: r.log.read_text(errors="replace") for r in replicas}
    assert "Controller: pause fraud" in logs[leader[0]]
    assert "Controller" not in logs[others[0]], logs[others[0]][-2000:]


def _time_to_obey(
    replicas: list[Replica], keys: list[str], row: dict[str, Any], since: float, watch_s: float
) -> dict[str, float]:
    """Per replica, seconds from ``since`` until its answers for ``keys`` (all on the candidate
    before) are stable only: the send time of the first answer after its last candidate answer.
    Polls both replicas in turn for ``watch_s`` seconds, so a late candidate answer is seen."""
    last_candidate = {r.name: since for r in replicas}
    first_after: dict[str, float | None] = {r.name: None for r in replicas}
    with httpx.Client(timeout=30) as client:
        while time.monotonic() - since < watch_s:
            for replica in replicas:
                for key in keys:
                    sent = time.monotonic()
                    if replica.version(client, key, row) == 2:
                        last_candidate[replica.name] = sent
                        first_after[replica.name] = None
                    elif first_after[replica.name] is None:
                        first_after[replica.name] = sent
    out = {}
    for name, at in first_after.items():
        assert at is not None, f"{name} still served the candidate {watch_s} s after rollback"
        out[name] = round(at - since, 3) if last_candidate[name] > since else 0.0
    return out
