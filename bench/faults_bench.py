"""Faults under load: what a real ``mlship serve`` answers, and what reaches its prediction log.

Eight client threads send one-row requests with a unique ``X-Request-ID`` each for ``--seconds``
(default 30); the fault comes at a third of the run. Every answered id is then looked up in the
store. The harness is the tests' (``tests/integration/faults.py``):

- **PostgreSQL restart**: a private PostgreSQL server (initdb, its own port) stopped and started.
- **kill -9 of the log writer**: every prediction log writer process of the server (SQLite store).
- **full disk, short**: ``MLSHIP_HOME`` (SQLite store and spill journal) on a 64 MB tmpfs, filled
  for ``--fill`` seconds (default 5) and freed; records wait in memory (bound 50,000).
- **full disk, long**: the same with the memory bound at 5,000 and the disk full until the end;
  the server is stopped (SIGTERM) while full, the disk freed, and the server restarted: the lost
  count it reports must be exactly the answered ids missing from the log.
- **start-up over 100,000 empty segments** (what a full disk used to leave behind).

Targets (exit 1 if one is missed): no failed request; nothing lost except in the long fill, where
the count is exact; SIGTERM within the drain timeout (15 s here); every restart under 10 s.
Root is needed (tmpfs, a PostgreSQL server run as user postgres). Run from the repository root:
``python bench/faults_bench.py``; writes ``bench/results/faults.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' harness
sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
from fixtures import LABEL, frame, logreg
from tests.integration.faults import (
    Server,
    fill,
    load,
    logged_ids,
    private_postgres,
    small_disk,
    wait_for_ids,
)

DRAIN_S = 15


@dataclass
class Row:
    fault: str
    requests: int
    failed: int
    answered_in_log: int
    lost_counted: int
    sigterm_s: float | None = None
    restart_s: float | None = None

    @property
    def exact(self) -> bool:
        return self.requests - self.answered_in_log == self.lost_counted


def setup(work: Path, db_url: str, home: Path, *args: str) -> tuple[Server, dict[str, Any]]:
    from mlship.registry import ArtifactStore, Registry
    from mlship.store import open_store

    data = frame(2_000)
    artifacts = work / "artifacts"
    registry = Registry(open_store(db_url), ArtifactStore(str(artifacts)), cache_dir=home / "cache")
    registry.register(logreg(data), "fraud", train_data=data, label=LABEL)
    registry.set_alias("fraud@1", "production")
    registry.close()
    env = {
        **os.environ,
        "MLSHIP_HOME": str(home),
        "MLSHIP_DB_URL": db_url,
        "MLSHIP_ARTIFACTS": str(artifacts),
        "MLSHIP_SPILL_SEGMENT_MB": "1",
    }
    args = ("--model", "fraud@production", "--drain-timeout", str(DRAIN_S), *args)
    server = Server(env, _free_port(), work / "server.log", args)
    return server, data.drop(columns=[LABEL]).iloc[0].to_dict()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def lost_metric(server: Server) -> int:
    text = httpx.get(f"{server.url}/metrics", timeout=5).text
    pattern = r"^mlship_prediction_log_lost_total\{[^}]*\} (\S+)$"
    return sum(int(float(v)) for v in re.findall(pattern, text, re.M))


def postgres_restart(work: Path, seconds: float) -> Row:
    with private_postgres(_free_port()) as postgres:
        server, row = setup(work, postgres.url, work / "home")
        server.start()
        try:
            with load(server.url, row) as traffic:
                time.sleep(seconds / 3)
                down = postgres.restart()
                time.sleep(seconds * 2 / 3)
            found = wait_for_ids(postgres.url, traffic.answered, 120)
            lost = lost_metric(server)
        finally:
            stopped = server.terminate()
    return Row(
        f"PostgreSQL restart ({down:.1f} s down)",
        len(traffic.answered),
        len(traffic.failed),
        len(found),
        lost,
        sigterm_s=stopped,
    )


def writer_kill(work: Path, seconds: float) -> Row:
    db_url = f"sqlite:///{work / 'mlship.db'}"
    server, row = setup(work, db_url, work / "home")
    server.start()
    try:
        with load(server.url, row) as traffic:
            time.sleep(seconds / 3)
            for pid in server.writer_pids():
                os.kill(pid, 9)
            time.sleep(seconds * 2 / 3)
        found = wait_for_ids(db_url, traffic.answered, 120)
        lost = lost_metric(server)
    finally:
        stopped = server.terminate()
    return Row(
        "kill -9 of the log writer (SQLite)",
        len(traffic.answered),
        len(traffic.failed),
        len(found),
        lost,
        sigterm_s=stopped,
    )


def full_disk_short(work: Path, seconds: float, fill_s: float) -> Row:
    with small_disk(work / "home", 64) as home:
        db_url = f"sqlite:///{home / 'mlship.db'}"
        server, row = setup(work, db_url, home, "--log-memory-records", "50000")
        server.start()
        try:
            with load(server.url, row) as traffic:
                time.sleep(seconds / 3)
                filler = fill(home)
                time.sleep(fill_s)
                filler.unlink()
                time.sleep(max(1.0, seconds * 2 / 3 - fill_s))
            found = wait_for_ids(db_url, traffic.answered, 120)
            lost = lost_metric(server)
        finally:
            stopped = server.terminate()
    return Row(
        f"MLSHIP_HOME on 64 MB tmpfs, full for {fill_s:g} s",
        len(traffic.answered),
        len(traffic.failed),
        len(found),
        lost,
        sigterm_s=stopped,
    )


def full_disk_long(work: Path, seconds: float) -> Row:
    with small_disk(work / "home", 64) as home:
        db_url = f"sqlite:///{home / 'mlship.db'}"
        server, row = setup(work, db_url, home, "--log-memory-records", "5000")
        server.start()
        with load(server.url, row) as traffic:
            time.sleep(seconds / 3)
            filler = fill(home)
            time.sleep(seconds * 2 / 3)
        stopped = server.terminate()  # still full: what memory held is lost, counted
        filler.unlink()
        restart = server.start()
        try:
            reported = re.search(r"lost ([\d,]+) record\(s\)", server.log.read_text())
            lost = int(reported.group(1).replace(",", "")) if reported else 0
            wait_for_ids(db_url, traffic.answered, 60)
            found = logged_ids(db_url) & set(traffic.answered)
        finally:
            server.terminate()
    return Row(
        "64 MB tmpfs full until SIGTERM, then restart",
        len(traffic.answered),
        len(traffic.failed),
        len(found),
        lost,
        sigterm_s=stopped,
        restart_s=restart,
    )


def empty_segments_start(work: Path) -> Row:
    db_url = f"sqlite:///{work / 'mlship.db'}"
    home = work / "home"
    server, _ = setup(work, db_url, home)
    slot = home / "spill" / "slot-0"
    slot.mkdir(parents=True)
    for number in range(1, 100_001):
        (slot / f"{number:020d}.jsonl").touch()
    restart = server.start()
    left = len(list(slot.glob("*.jsonl")))
    server.terminate()
    return Row(f"start-up over 100,000 empty segments ({left} left)", 0, 0, 0, 0, restart_s=restart)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--fill", type=float, default=5.0)
    parser.add_argument("--out", type=Path, default=Path("bench/results/faults.json"))
    options = parser.parse_args()
    if os.geteuid() != 0:
        print("faults_bench: needs root (tmpfs mounts, a PostgreSQL server as user postgres)")
        return 1
    rows: list[Row] = []
    runs = [
        ("pg", lambda w: postgres_restart(w, options.seconds)),
        ("writer", lambda w: writer_kill(w, options.seconds)),
        ("short", lambda w: full_disk_short(w, options.seconds, options.fill)),
        ("long", lambda w: full_disk_long(w, options.seconds)),
        ("empty", empty_segments_start),
    ]
    for name, run in runs:
        with tempfile.TemporaryDirectory(prefix=f"mlship-faults-{name}-") as work:
            rows.append(run(Path(work)))
            print(f"  done: {rows[-1].fault}", flush=True)
    print()
    head = (
        "fault",
        "requests",
        "failed",
        "answered ids in the log",
        "lost (counted)",
        "exact",
        "SIGTERM s",
        "restart s",
    )
    print(" | ".join(head))
    print(" | ".join("---" for _ in head))
    for r in rows:
        cells = [
            r.fault,
            f"{r.requests:,}",
            f"{r.failed:,}",
            f"{r.answered_in_log:,} of {r.requests:,}",
            f"{r.lost_counted:,}",
            "yes" if r.exact else "NO",
            "" if r.sigterm_s is None else f"{r.sigterm_s:.1f}",
            "" if r.restart_s is None else f"{r.restart_s:.1f}",
        ]
        print(" | ".join(cells))
    missed = []
    for r in rows:
        if r.failed:
            missed.append(f"{r.fault}: {r.failed} failed request(s)")
        if not r.exact:
            missed.append(f"{r.fault}: lost count not exact")
        if r.sigterm_s is not None and r.sigterm_s > DRAIN_S + 1:
            missed.append(f"{r.fault}: SIGTERM took {r.sigterm_s:.1f} s")
        if r.restart_s is not None and r.restart_s >= 10:
            missed.append(f"{r.fault}: restart took {r.restart_s:.1f} s")
    for r in rows[:3]:
        if r.lost_counted or r.answered_in_log != r.requests:
            missed.append(f"{r.fault}: lost {r.requests - r.answered_in_log} answered request(s)")
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.write_text(
        json.dumps({"rows": [asdict(r) for r in rows], "missed": missed}, indent=2)
    )
    for line in missed:
        print(f"MISSED {line}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
