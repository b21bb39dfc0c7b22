"""Three ``mlship serve`` replicas behind nginx, on PostgreSQL with the artifacts on S3 (a moto
server on loopback), all of it under continuous load through nginx (issue 8):

1. a new version is registered and canaried: every replica answers each routing key with the same
   version at the 50 % step, the leader (the holder of the advisory lock) judges the step, is
   killed with SIGKILL, and a follower takes the lock and finishes the canary;
2. ``mlship rollback`` during a second canary: every replica, asked directly, answers stable only
   within 1 s of the rollback (its commit, as the ledger dates it);
3. a replica is killed with SIGKILL: nginx retries its requests on the others and no request
   fails; once the killed replica has restarted on its own spill folder and every replica has
   stopped gracefully, the prediction log holds every request that got an answer.

The figures (takeover, rollback per replica, retries, log completeness, phase times) are printed:
run with ``-s`` to see them.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
import sqlalchemy as sa

from mlship.registry import Registry
from mlship.rollout import CanaryConfig, DeploymentStore, Rollouts, TrafficSplit
from mlship.rollout.leader import _KEY_SQL
from mlship.store.schema import predictions
from tests.conftest import RegistryFactory, fit_logreg, free_port
from tests.integration.processes import tcp_ports
from tests.integration.replicas import OBEY_WITHIN_S, Replica

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.s3,
    pytest.mark.slow,
    pytest.mark.parametrize("db_url", ["postgres"], indirect=True),
]

CANARY = CanaryConfig(steps=(50, 100), interval_s=2.0, min_requests=40, max_wait_s=60)
"""Time-compressed: each step is judged after 2 s (long enough to kill the leader mid-canary)."""
HOLD = CanaryConfig(steps=(50, 100), interval_s=3600)
"""A canary the controller leaves at 50 %: the one that is rolled back."""
KEYS = [f"user-{i}" for i in range(48)]
LOAD_THREADS = 4
LOAD_RATE = 120
"""Requests per second through nginx: continuous, but leaving CPU for replicas that boot (the
machine has 2 cores; unthrottled, 4 threads saturate it at about 230 requests/s)."""


# ------------------------------------------------------------------------------------ nginx

NGINX_CONF = """\
worker_processes 1;
events {{ worker_connections 1024; }}
http {{
    log_format upstreams '$http_x_request_id $status "$upstream_addr" "$upstream_status" '
                         '$request_time';
    access_log {folder}/access.log upstreams;
    client_body_temp_path {folder}/client_body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    upstream mlship {{
{servers}
        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://mlship;
            # The client's Host: the replicas answer only to names on their allow-list.
            proxy_set_header Host $host;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_connect_timeout 1s;
            proxy_read_timeout 30s;
            # POSTs too: a replica that died mid-request may not have answered.
            proxy_next_upstream error timeout http_502 http_503 non_idempotent;
            proxy_next_upstream_tries 3;
            add_header X-Upstream $upstream_addr always;
        }}
    }}
}}
"""


@pytest.fixture(scope="session")
def nginx_binary() -> str:
    """Debian's nginx; its absence fails the run under CI (``.ci/run`` installs it), else skips."""
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("nginx is not installed (apt-get install -y nginx), and CI is set.")
        pytest.skip("nginx is not installed (apt-get install -y nginx; set CI to make this fail).")
    return found


@contextmanager
def nginx(binary: str, folder: Path, upstreams: list[str]) -> Iterator[str]:
    """nginx in the foreground on a free port, balancing over ``upstreams``; yields its URL."""
    folder.mkdir(parents=True)
    port = free_port()
    servers = "\n".join(f"        server {a} max_fails=1 fail_timeout=2s;" for a in upstreams)
    conf = folder / "nginx.conf"
    conf.write_text(NGINX_CONF.format(folder=folder, servers=servers, port=port))
    command = [binary, "-p", f"{folder}/", "-c", str(conf), "-e", str(folder / "error.log")]
    command += ["-g", f"daemon off; pid {folder}/nginx.pid;"]
    with (folder / "stderr.log").open("wb") as sink:
        proc = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                pass
            assert proc.poll() is None, (folder / "stderr.log").read_text()
            assert time.monotonic() < deadline, "nginx did not listen within 10 s"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ------------------------------------------------------------------------------------ load


@dataclass(frozen=True, slots=True)
class Answer:
    """One request through nginx, as the client saw it."""

    sent: float
    """Wall-clock time (``time.time()``), comparable with the ledger's event times."""
    done: float
    key: str
    request_id: str
    status: int
    """The HTTP status, 0 when no answer came (a transport error)."""
    version: int | None
    upstream: str
    """nginx's ``$upstream_addr``: ``a:p``, or ``a:p, b:q`` when it tried a second replica."""
    error: str | None = None


@dataclass
class Load:
    """Continuous requests through nginx from ``threads`` threads at ``rate`` requests/s in all,
    each with a routing key from ``KEYS`` and a request id of its own; keeps every answer."""

    url: str
    rows: list[dict[str, Any]]
    threads: int = LOAD_THREADS
    rate: float = LOAD_RATE
    answers: list[Answer] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _pool: list[threading.Thread] = field(default_factory=list)

    def _work(self, seed: int) -> None:
        rng = random.Random(seed)
        interval = self.threads / self.rate
        due = time.monotonic() + interval * seed / self.threads
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self._stop.wait(max(0.0, due - time.monotonic())):
                due = max(due + interval, time.monotonic() - 1.0)  # no burst after a stall
                key, rid = rng.choice(KEYS), uuid.uuid4().hex
                sent = time.time()
                try:
                    response = client.post(
                        "/models/fraud/predict",
                        json={"inputs": [rng.choice(self.rows)]},
                        headers={"x-routing-key": key, "x-request-id": rid},
                    )
                    ok = response.status_code == 200
                    answer = Answer(
                        sent,
                        time.time(),
                        key,
                        rid,
                        response.status_code,
                        int(response.json()["version"]) if ok else None,
                        response.headers.get("x-upstream", ""),
                        None if ok else response.text[:300],
                    )
                except Exception as exc:  # no answer, or not one we can read: a failure
                    answer = Answer(sent, time.time(), key, rid, 0, None, "", repr(exc))
                self.answers.append(answer)  # list.append is atomic

    def start(self) -> Load:
        self._pool = [
            threading.Thread(target=self._work, args=(i,), daemon=True) for i in range(self.threads)
        ]
        for thread in self._pool:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._pool:
            thread.join(timeout=60)

    @property
    def failed(self) -> list[Answer]:
        return [a for a in self.answers if a.status != 200]

    def since(self, start: float) -> list[Answer]:
        return [a for a in self.answers if a.sent >= start]


# ------------------------------------------------------------------------------------ helpers


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(0.05)
    return found


def leader(registry: Registry, replicas: list[Replica]) -> Replica | None:
    """The replica whose connection holds this store's controller lock (from pg_locks)."""
    with registry.store.engine.connect() as conn:
        holders = conn.execute(
            sa.text(
                "SELECT a.client_port FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted "
                f"AND l.objid = ({_KEY_SQL})::bigint & 4294967295"
            )
        ).scalars()
        ports = {int(p) for p in holders if p is not None}
    live = [r for r in replicas if r.proc is not None and r.proc.poll() is None]
    found = [r for r in live if tcp_ports(r.proc.pid) & ports]  # type: ignore[union-attr]
    assert len(found) <= 1, [r.name for r in found]
    return found[0] if found else None


def event(registry: Registry, kind: str, after: int = 0) -> Any:
    """The first ledger event of ``fraud`` of this kind with an id above ``after``, or None."""
    return next((e for e in registry.history("fraud") if e.kind == kind and e.id > after), None)


def register(registry: Registry, frame: pd.DataFrame, seed: int) -> str:
    model = fit_logreg(frame.sample(frac=1.0, random_state=seed))
    version = registry.register(model, "fraud", train_data=frame, label="is_fraud")
    registry.record_check_run(version.ref, kind="gate", passed=True, report={})
    return version.ref


def logged_ids(registry: Registry) -> set[str]:
    with registry.store.engine.connect() as conn:
        return set(conn.execute(sa.select(predictions.c.request_id)).scalars())


def watch_rollback(
    replicas: list[Replica], keys: list[str], row: dict[str, Any], command: subprocess.Popen[bytes]
) -> tuple[dict[str, float], float]:
    """Ask every replica directly, in turn, for ``keys`` (all on the candidate) while ``command``
    runs and for 2 s after it returned. Returns, per replica, the wall-clock send time of its
    first stable answer after its last candidate answer, and when the command returned."""
    first_stable: dict[str, float | None] = {r.name: None for r in replicas}
    returned: float | None = None
    with httpx.Client(timeout=30) as client:
        while returned is None or time.time() - returned < 2.0:
            if returned is None and command.poll() is not None:
                returned = time.time()
            for replica in replicas:
                for key in keys:
                    sent = time.time()
                    if replica.version(client, key, row) == 2:
                        first_stable[replica.name] = first_stable[replica.name] or sent
                    else:
                        first_stable[replica.name] = None
    stable = {name: at for name, at in first_stable.items() if at is not None}
    assert len(stable) == len(replicas), f"still on the candidate 2 s after: {first_stable}"
    return stable, returned


# ------------------------------------------------------------------------------------ the test


@pytest.fixture
def s3_registry(
    registry_factory: RegistryFactory, s3_endpoint: str, s3_bucket: str, numeric_frame
) -> Registry:
    """``fraud`` v1 deployed; its artifacts in the moto bucket."""
    registry = registry_factory(artifacts=f"s3://{s3_bucket}/models", s3_endpoint_url=s3_endpoint)
    Rollouts(registry).start_canary(register(registry, numeric_frame, seed=1))
    return registry


@pytest.fixture
def cluster(
    s3_registry: Registry, db_url: str, s3_endpoint: str, s3_bucket: str, tmp_path: Path
) -> Iterator[list[Replica]]:
    """Three replicas (own home: cache and spill; own actor name in the ledger), started at once;
    stopped gracefully at the end."""
    base = {
        **os.environ,
        "MLSHIP_DB_URL": db_url,
        "MLSHIP_ARTIFACTS": f"s3://{s3_bucket}/models",
        "MLSHIP_S3_ENDPOINT_URL": s3_endpoint,
        "OMP_NUM_THREADS": "1",
        "MLSHIP_LOG_LEVEL": "INFO",
    }
    replicas = [
        Replica(
            name,
            free_port(),
            {**base, "MLSHIP_HOME": str(tmp_path / name), "MLSHIP_ACTOR": name},
            tmp_path / f"{name}.log",
        )
        for name in ("replica-a", "replica-b", "replica-c")
    ]
    try:
        for replica in replicas:
            replica.start()
        for replica in replicas:
            replica.wait_ready()
        yield replicas
    finally:
        for replica in replicas:
            replica.stop()


@dataclass
class Run:
    """What the phases of the test share."""

    registry: Registry
    replicas: list[Replica]
    frame: pd.DataFrame
    cli_env: dict[str, str]
    rows: list[dict[str, Any]]
    load: Load
    figures: dict[str, Any] = field(default_factory=dict)
    kills: dict[str, float] = field(default_factory=dict)
    """Wall-clock time of each SIGKILL, by the killed replica's address."""

    def kill(self, replica: Replica) -> None:
        self.kills[replica.address] = time.time()
        replica.kill()

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time a phase of the test into ``figures["phases_s"]``."""
        start = time.monotonic()
        try:
            yield
        finally:
            phases = self.figures.setdefault("phases_s", {})
            phases[name] = round(time.monotonic() - start, 1)


def canary_outlives_its_leader(run: Run) -> None:
    """Register v2 and canary it (50 %, then 100 %): every replica answers each routing key with
    the same version at 50 %; the leader judges that step, is killed, and a follower takes the
    lock and promotes v2. The killed replica then restarts on its own home (and spill)."""
    registry, replicas, load = run.registry, run.replicas, run.load
    canary = Rollouts(registry).start_canary(register(registry, run.frame, seed=2), CANARY)
    started_at = time.time()
    step = wait_for(lambda: event(registry, "canary_step"), 60, "the 50 % step to be judged")
    killed = next(r for r in replicas if r.name == step.actor)
    assert leader(registry, replicas) is killed, "the replica that judged holds no lock"
    # At once: the 100 % step runs for 2 s more, and whoever leads then judges it.
    run.kill(killed)
    kill_at = time.monotonic()
    follower = wait_for(lambda: leader(registry, replicas), 10, "a follower to take the lock")
    run.figures["takeover_s"] = round(time.monotonic() - kill_at, 3)
    assert follower is not killed
    killed.start()  # boots while the follower finishes the canary
    promoted = wait_for(lambda: event(registry, "promoted"), 60, "the promotion")
    assert promoted.actor == follower.name, (promoted.actor, follower.name)
    deployment = DeploymentStore(registry).get("fraud")
    assert deployment is not None and deployment.stable_version == 2

    # The sticky split at 50 %: from when every replica had v2 loaded until the step moved on.
    # (Each replica serves v2 to some keys from its first v2 answer on.)
    first_v2 = {
        r.address: min(
            (a.sent for a in load.since(started_at) if a.upstream == r.address and a.version == 2),
            default=float("inf"),
        )
        for r in replicas
    }
    window = [
        a
        for a in load.answers
        if a.status == 200
        and a.sent >= max(first_v2.values())
        and a.done <= step.at.timestamp()
        and "," not in a.upstream
    ]
    split = TrafficSplit(0.5, str(canary.config["salt"]))
    seen: dict[str, dict[str, set[int]]] = defaultdict(lambda: defaultdict(set))
    for a in window:
        assert a.version is not None
        seen[a.key][a.upstream].add(a.version)
    for key, by_replica in seen.items():
        expected = 2 if split.is_candidate(key) else 1
        assert all(v == {expected} for v in by_replica.values()), (key, expected, by_replica)
    shared = [k for k, by_replica in seen.items() if len(by_replica) >= 2]
    run.figures["sticky"] = {
        "answers": len(window),
        "seconds": round(step.at.timestamp() - max(first_v2.values()), 2),
        "keys_on_2_or_more_replicas": len(shared),
        "keys_on_candidate": sum(split.is_candidate(k) for k in seen),
    }
    assert len(shared) >= len(KEYS) // 4, run.figures["sticky"]
    assert 0 < run.figures["sticky"]["keys_on_candidate"] < len(seen)
    killed.wait_ready()


def rollback_is_obeyed(run: Run) -> None:
    """A second canary, held at 50 %, rolled back with ``mlship rollback``: every replica, asked
    directly, answers stable (v2) only within 1 s of the rollback's commit (the command returns
    later: it is a Python process that starts, connects and writes the ledger)."""
    registry, replicas, row = run.registry, run.replicas, run.rows[0]
    hold = Rollouts(registry).start_canary(register(registry, run.frame, seed=3), HOLD)
    split = TrafficSplit(0.5, str(hold.config["salt"]))
    on_candidate = [k for k in KEYS if split.is_candidate(k)][:6]
    with httpx.Client(timeout=30) as client:
        wait_for(
            lambda: all(r.version(client, k, row) == 3 for r in replicas for k in on_candidate),
            60,
            "every replica to serve the v3 canary",
        )
    called = time.time()
    with subprocess.Popen(
        [sys.executable, "-m", "mlship", "rollback", "fraud", "--json"],
        env=run.cli_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as command:
        first_stable, returned = watch_rollback(replicas, on_candidate[:3], row, command)
        _, stderr = command.communicate(timeout=60)
    assert command.returncode == 0, stderr
    rolled_back = event(registry, "rolled_back")
    committed = rolled_back.at.timestamp()
    # From the commit (the ledger's time of the rollback), and from the command's return (a
    # replica that switched before it returned counts 0).
    run.figures["rollback"] = {
        "command_s": round(returned - called, 2),
        "from_commit_s": {n: round(at - committed, 3) for n, at in first_stable.items()},
        "from_return_s": {n: round(max(0.0, at - returned), 3) for n, at in first_stable.items()},
    }
    assert max(first_stable.values()) - committed <= OBEY_WITHIN_S, run.figures["rollback"]


def test_three_replicas_behind_nginx_canary_rollback_and_crash(
    cluster: list[Replica],
    s3_registry: Registry,
    nginx_binary: str,
    numeric_frame: pd.DataFrame,
    db_url: str,
    s3_endpoint: str,
    s3_bucket: str,
    tmp_path: Path,
) -> None:
    began = time.monotonic()
    replicas = cluster
    upstreams = [r.address for r in replicas]
    rows = numeric_frame.drop(columns=["is_fraud"]).head(50).to_dict("records")
    cli_env = {
        **os.environ,
        "MLSHIP_DB_URL": db_url,
        "MLSHIP_ARTIFACTS": f"s3://{s3_bucket}/models",
        "MLSHIP_S3_ENDPOINT_URL": s3_endpoint,
        "MLSHIP_HOME": str(tmp_path / "cli"),
    }
    with nginx(nginx_binary, tmp_path / "nginx", upstreams) as lb:
        run = Run(s3_registry, replicas, numeric_frame, cli_env, rows, Load(lb, rows).start())
        try:
            wait_for(
                lambda: {a.upstream for a in run.load.answers} >= set(upstreams),
                30,
                "answers from every replica through nginx",
            )
            with run.phase("canary"):
                canary_outlives_its_leader(run)
            with run.phase("rollback"):
                rollback_is_obeyed(run)
            # SIGKILL a replica that was not killed before and does not lead.
            leading = leader(run.registry, replicas)
            victim = next(r for r in replicas if r.address not in run.kills and r is not leading)
            run.kill(victim)
            time.sleep(3)
        finally:
            run.load.stop()
    load, figures = run.load, run.figures
    figures["requests"] = len(load.answers)
    figures["failed"] = len(load.failed)
    figures["retried_by_nginx"] = sum("," in a.upstream for a in load.answers)
    assert load.failed == [], load.failed[:10]
    crashed_at = run.kills[victim.address]
    figures["retried_at_the_crash"] = sum(
        "," in a.upstream for a in load.answers if abs(a.sent - crashed_at) < 1
    )
    assert len(load.since(crashed_at)) > 100, "the load stopped with the replica"

    # Every answered request is in the prediction log once the survivors have stopped gracefully
    # and the killed replica has restarted on its spill folder (its journal is replayed).
    answered = {a.request_id: a for a in load.answers if a.status == 200}
    for replica in replicas:
        if replica is not victim:
            replica.stop()
    figures["missing_before_restart"] = len(set(answered) - logged_ids(run.registry))
    with run.phase("restart_after_crash"):
        victim.start()
        victim.wait_ready()
        victim.stop()
    missing = [answered[m] for m in set(answered) - logged_ids(run.registry)]
    figures["missing_after_restart"] = len(missing)
    figures["missing_by_replica"] = dict(Counter(a.upstream.rsplit(", ", 1)[-1] for a in missing))
    figures["killed"] = {r.address: r.name for r in replicas if r.address in run.kills}
    figures["runtime_s"] = round(time.monotonic() - began, 1)
    print(f"\nscale-out figures: {figures}")

    # PredictionLog.record writes ahead (the record is in the spill journal before the answer
    # leaves), and a restart on the same spill folder replays the journal: nothing may be missing.
    assert not missing, [(a.request_id, a.upstream, a.sent) for a in missing][:20]
