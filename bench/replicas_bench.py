"""Replicas benchmark: throughput of ``mlship serve`` behind nginx with 1, 2 and 3 replicas.

Three replicas on one PostgreSQL store (a fresh schema) and one artifact folder serve ``bench``
v1 (a logistic regression on 20 features), each with its prediction log on (one row per request
in PostgreSQL, as in production). For each count N, nginx (Debian's package, one worker, keepalive
to the upstreams, the same configuration as ``tests/integration/test_scale_out.py``) balances over
the first N replicas; ``wrk`` (a separate process, ``serve/post.lua``) sends 1-row requests at
concurrency 32 for a warm-up, then for the measured run. A first row asks one replica directly,
without nginx, to show what the proxy costs. nginx's access log says how the requests were
spread over the replicas. Every setup runs once per round and the rounds are interleaved (other
work on a shared machine then falls on all setups alike); the table shows each setup's median
round.

Everything (wrk, nginx, PostgreSQL, the replicas) shares the machine: with 2 cores, one replica
already keeps about one core busy, so the figures flatten from 2 replicas on; more replicas only
help where there are more cores (or hosts).

Run ``python bench/replicas_bench.py`` from the repository root (``--seconds``, ``--pg-url``,
``--out``); ``bench/run.sh`` runs it with ``.venv-bench``. Needs nginx and wrk. Prints a table and
writes ``bench/results/replicas.json``; exits 1 if any request failed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH / "serve"))

from rollback_bench import BODY, PG_URL, prepare, replicas, store_url  # noqa: E402
from serve_bench import group_cpu_s, wrk  # noqa: E402

CONNECTIONS = 32
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1

NGINX_CONF = """\
worker_processes 1;
events {{ worker_connections 1024; }}
http {{
    log_format upstreams '$upstream_addr $status';
    access_log {folder}/access.log upstreams;
    client_body_temp_path {folder}/client_body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    upstream mlship {{
{servers}
        keepalive 64;
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
            proxy_next_upstream error timeout http_502 http_503 non_idempotent;
        }}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def nginx(folder: Path, upstreams: list[str]) -> Iterator[tuple[str, int]]:
    """nginx in the foreground on a free port, balancing over ``upstreams``; yields its URL and
    process group."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    folder.mkdir(parents=True)
    port = free_port()
    servers = "\n".join(f"        server {address};" for address in upstreams)
    conf = folder / "nginx.conf"
    conf.write_text(NGINX_CONF.format(folder=folder, servers=servers, port=port))
    command = [binary, "-p", f"{folder}/", "-c", str(conf), "-e", str(folder / "error.log")]
    command += ["-g", f"daemon off; pid {folder}/nginx.pid;"]
    with (folder / "stderr.log").open("wb") as sink:
        proc = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log = (folder / "stderr.log").read_text()
                    raise RuntimeError(f"nginx did not start: {log}") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}", proc.pid
    finally:
        proc.send_signal(signal.SIGQUIT)  # graceful: the access log is flushed
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def spread(access_log: Path, skip: int) -> dict[str, int]:
    """Requests per upstream in the access log, after its first ``skip`` lines."""
    lines = access_log.read_text().splitlines()[skip:]
    return dict(Counter(line.split()[0] for line in lines))


def run(seconds: float, warmup: float, repeat: int, pg_url: str) -> list[dict[str, Any]]:
    """Every setup once per round, rounds interleaved, so that other work on the machine falls
    on every setup alike; returns one row per setup with the median round and all rounds."""
    runs: dict[tuple[int, str], list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="mlship-replicas-") as tmp, ExitStack() as stack:
        home = Path(tmp)
        body = home / "body.json"
        body.write_text(BODY)
        url = stack.enter_context(store_url("postgres", home, pg_url))
        registry = prepare(url, home)
        stack.callback(registry.close)
        group = stack.enter_context(replicas(3, url, home))
        setups: list[tuple[int, str, str, Path | None, int | None]] = [
            (1, "direct", group[0].url, None, None)
        ]
        for count in (1, 2, 3):
            folder = home / f"nginx-{count}"
            upstreams = [f"127.0.0.1:{r.port}" for r in group[:count]]
            lb, pgid = stack.enter_context(nginx(folder, upstreams))
            setups.append((count, "nginx", lb, folder, pgid))
        for round_ in range(repeat):
            for count, via, base, folder, pgid in setups:
                target = f"{base}/models/bench/predict"
                wrk(target, body, CONNECTIONS, warmup)
                log = None if folder is None else folder / "access.log"
                before = 0 if log is None else len(log.read_text().splitlines())
                # CPU of the replicas (all three: idle ones poll the store) and of nginx.
                groups = [r.proc.pid for r in group] + ([] if pgid is None else [pgid])
                cpu = sum(group_cpu_s(g) for g in groups)
                figures = wrk(target, body, CONNECTIONS, seconds)
                cpu = sum(group_cpu_s(g) for g in groups) - cpu
                figures["cpu_ms_per_request"] = 1000 * cpu / max(1, figures["requests"])
                if log is not None:
                    figures["spread"] = spread(log, before)
                runs.setdefault((count, via), []).append(figures)
                print(
                    f"round {round_ + 1}/{repeat}, {count} replica(s) {via}: "
                    f"{figures['rps']:,.0f} req/s",
                    flush=True,
                )
    rows = []
    for (count, via), measured in runs.items():
        median = sorted(measured, key=lambda r: r["rps"])[len(measured) // 2]
        rows.append(
            {
                "replicas": count,
                "via": via,
                **median,
                "rps_runs": [round(r["rps"]) for r in measured],
                "errors": sum(r["errors"] for r in measured),
            }
        )
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    print(
        f"\nReplicas benchmark: 1-row requests, wrk -c{CONNECTIONS} from the same machine "
        f"({CORES} cores shared by wrk, nginx, PostgreSQL and the replicas)"
    )
    header = f"{'replicas':>8}  {'via':<6}  {'req/s':>7}  {'x 1':>5}  {'p50 ms':>7}  "
    header += f"{'p99 ms':>7}  {'CPU ms/req':>10}  {'errors':>6}  {'spread':<12}  "
    header += "req/s of each round"
    print(header)
    print("-" * len(header))
    base = next(r["rps"] for r in rows if r["via"] == "nginx" and r["replicas"] == 1)
    for row in rows:
        total = sum(row.get("spread", {}).values())
        shares = " ".join(
            f"{100 * n / total:.0f}%" for _, n in sorted(row.get("spread", {}).items())
        )
        print(
            f"{row['replicas']:>8}  {row['via']:<6}  {row['rps']:>7,.0f}  "
            f"{row['rps'] / base:>5.2f}  {row['p50_ms']:>7.2f}  {row['p99_ms']:>7.2f}  "
            f"{row['cpu_ms_per_request']:>10.3f}  "
            f"{row['errors']:>6}  {shares or '-':<12}  {row['rps_runs']}"
        )
    print(
        "CPU ms/req: CPU time of the replicas and nginx per request (other work on the machine "
        "moves it far less than req/s). x 1: req/s over 1 replica behind nginx."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="each measured wrk run")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--repeat", type=int, default=3, help="rounds over every setup")
    parser.add_argument("--pg-url", default=PG_URL)
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "replicas.json")
    args = parser.parse_args(argv)
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            raise SystemExit(f"The replicas benchmark needs {tool} (apt-get install -y {tool}).")
    load_before = os.getloadavg()
    rows = run(args.seconds, args.warmup, args.repeat, args.pg_url)
    print_table(rows)
    failed = sum(row["errors"] for row in rows)
    report = {
        "meta": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": CORES,
            "load_average_before": [round(v, 2) for v in load_before],
            "packages": {"mlship": metadata.version("mlship")},
            "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "connections": CONNECTIONS,
            "seconds": args.seconds,
            "repeat": args.repeat,
        },
        "runs": rows,
        "failed_requests": failed,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
