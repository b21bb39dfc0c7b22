"""Serving benchmark: ``mlship serve`` next to ``mlflow models serve``, a plain FastAPI endpoint
and the floors, on one model, one machine, one run, 1-row requests.

Run by ``bench/run.sh`` (``make bench``) with the ``.venv-bench`` interpreter; needs ``wrk``
(run.sh installs it). The reference model (``reference.py``: a seeded
``HistGradientBoostingClassifier`` on 20 features) is registered in a temporary ``MLSHIP_HOME``,
saved with ``mlflow.sklearn.save_model`` and pickled for the FastAPI endpoint. Every server starts
on a free port of 127.0.0.1 in its own process group, is polled until ready, gets one warm-up run,
then ``wrk`` (a separate process, ``post.lua`` for the POST body) at concurrency 1 and 32; it is
stopped before the next one starts, and on any error. Besides req/s and latency, the CPU time
its processes used per request at concurrency 32 is read from ``/proc``: other work on the machine
moves it far less than it moves req/s. Prints the figures and the targets, writes
``bench/results/serve.json``; exits 1 if a target is missed.

Each mlship server is measured ``--repeat`` times (default 5), the rounds interleaved with the
other mlship servers', and the round with the median concurrency-32 throughput is reported: the
logging on/off ratio moved by ±20 % between single runs on this 2-core machine, and with two
workers the kernel's split of wrk's 32 connections between them (anywhere from 9/23 to 16/16)
moves throughput by as much. Logging on and off run back to back in every round, and their
target is the median of the per-round ratios (paired), shown with the CPU time a request.

Next to the bare ASGI floor runs ``handmade.py``: a hand-written uvloop + httptools server that
does nothing but parse, call the model and answer. Its ratio to the floor is printed with the
bare-ASGI target: what any Python server reaches with this model, before validation, request ids,
metrics or a prediction log cost anything.

``--profile KEY`` records the measured concurrency-32 run of server KEY with ``py-spy``
(installed in the same environment) into ``bench/results/profiles/``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
RESULTS = ROOT / "bench" / "results"
BIN = Path(sys.executable).parent
LUA = HERE / "post.lua"
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
CONCURRENCY = (32, 1)
"""Run in this order, so that mlship's batch-size histogram read after the concurrency-32 run
holds that run's batches only (any worker's /metrics then tells the batch size under load)."""
MS = 1000.0


@dataclass(frozen=True, slots=True)
class Server:
    """One server to measure: how to start it and where to send what."""

    key: str
    label: str
    kind: str
    """floor, peer or mlship."""
    workers: int
    command: list[str]
    ready_path: str
    predict_path: str
    body: str
    """Which request body file: ``native`` or ``mlflow``."""
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Target:
    """One pass/fail line: ``value`` compared with ``goal`` (``>=`` or ``<=``/``<``)."""

    name: str
    value: float | None
    goal: float
    op: str
    unit: str
    detail: str = ""

    @property
    def passed(self) -> bool | None:
        if self.value is None:
            return None
        return {">=": self.value >= self.goal, "<=": self.value <= self.goal}.get(
            self.op, self.value < self.goal
        )


_STARTED = time.perf_counter()


def step(text: str) -> None:
    print(f"[{time.perf_counter() - _STARTED:5.0f} s] {text}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------ the servers


def servers(workdir: Path) -> list[Server]:
    """Every configuration, in the order they run: floors, peers, then mlship."""
    ref = "fraud@production"
    predict = "/models/fraud/predict"
    uvicorn = [str(BIN / "uvicorn"), "--host", "127.0.0.1", "--log-level", "warning"]
    uvicorn += ["--loop", "uvloop", "--http", "httptools", "--app-dir", str(HERE)]
    found: list[Server] = []
    for w in (1, 2):
        found.append(
            Server(
                f"asgi-w{w}",
                f"bare ASGI (uvicorn, constant body), {w} worker(s)",
                "floor",
                w,
                [*uvicorn, "--workers", str(w), "peers:floor"],
                "/",
                "/",
                "native",
            )
        )
    for w in (1, 2):
        found.append(
            Server(
                f"mlflow-w{w}",
                f"mlflow models serve, {w} worker(s)",
                "peer",
                w,
                [
                    *(str(BIN / "mlflow"), "models", "serve", "-m", str(workdir / "mlflow-model")),
                    *("--env-manager", "local", "--host", "127.0.0.1", "--workers", str(w)),
                ],
                "/ping",
                "/invocations",
                "mlflow",
            )
        )
    for w in (1, 2):
        found.append(
            Server(
                f"fastapi-w{w}",
                f"plain FastAPI endpoint, {w} worker(s), OMP_NUM_THREADS={max(1, CORES // w)}",
                "peer",
                w,
                [*uvicorn, "--workers", str(w), "--factory", "peers:plain_app"],
                "/ping",
                "/predict",
                "native",
                {"BENCH_MODEL": str(workdir / "model.joblib"), "OMP_NUM_THREADS": str(CORES // w)},
            )
        )
    for w in (1, 2):
        found.append(
            Server(
                f"handmade-w{w}",
                f"hand-written uvloop + httptools server, {w} worker(s), model on the loop, "
                "nothing else",
                "peer",
                w,
                [
                    sys.executable,
                    str(HERE / "handmade.py"),
                    str(workdir / "model.joblib"),
                    "-w",
                    str(w),
                ],
                "/ping",
                "/predict",
                "native",
                {"OMP_NUM_THREADS": str(max(1, CORES // w))},
            )
        )
    mlship = [str(BIN / "mlship"), "serve", "--model", ref]
    variants: tuple[tuple[str, str, list[str]], ...] = (
        ("", "batching, logging", []),
        ("-nolog", "batching, --no-log-predictions", ["--no-log-predictions"]),
        ("-nobatch", "--no-batching", ["--no-batching"]),
    )
    # Logging on and off run one after the other in every round: their ratio is taken round by
    # round (paired), so that a slow spell of the machine falls on both.
    for w in (1, 2):
        for suffix, what, flags in variants:
            found.append(
                Server(
                    f"mlship-w{w}{suffix}",
                    f"mlship serve, {w} worker(s), {what}",
                    "mlship",
                    w,
                    [*mlship, "--workers", str(w), *flags],
                    "/readyz",
                    predict,
                    "native",
                )
            )
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def post(url: str, body: bytes) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's process group, SIGKILL if it is still there after 15 s."""
    for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            continue
        # The leader is gone; make sure no worker of its group outlived it.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        return


@contextlib.contextmanager
def running(server: Server, env: dict[str, str], cwd: Path) -> Iterator[tuple[str, int]]:
    """Start ``server`` on a free port, wait until it is ready, yield (base URL, pid); stop it
    (its whole process group) on the way out, error or not."""
    port = free_port()
    command = [*server.command, "--port", str(port)]
    log_path = cwd / f"{server.key}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            command,
            env={**env, **server.env},
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                tail = log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{server.key} exited ({proc.returncode}) before ready:\n{tail}")
            with contextlib.suppress(OSError):
                status, _ = get(base + server.ready_path)
                if status == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{server.key} was not ready after 120 s; see {log_path}.")
            time.sleep(0.2)
        yield base, proc.pid
    finally:
        stop(proc)


# ------------------------------------------------------------------------------------ wrk


def wrk(url: str, body: Path, connections: int, seconds: float) -> dict[str, Any]:
    """One wrk run; req/s and latency percentiles (ms) from post.lua's summary line."""
    threads = min(2, connections)  # wrk needs at least one connection per thread
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--latency"]
    command += ["--timeout", "10s", "-s", str(LUA), url]
    proc = subprocess.run(
        command,
        env={**os.environ, "WRK_BODY": str(body)},
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    )
    found = re.search(r"^BENCH_JSON (.*)$", proc.stdout, re.MULTILINE)
    if proc.returncode != 0 or found is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr or proc.stdout}")
    raw: dict[str, Any] = json.loads(found.group(1))
    answered = raw["requests"] > 0  # a server can be so slow that not one request completes

    def ms(key: str) -> float | None:
        return raw[key] / MS if answered else None

    return {
        "connections": connections,
        "threads": threads,
        "rps": raw["requests"] / (raw["duration_us"] / 1e6),
        "requests": raw["requests"],
        "p50_ms": ms("p50_us"),
        "p90_ms": ms("p90_us"),
        "p99_ms": ms("p99_us"),
        "mean_ms": ms("mean_us"),
        "max_ms": ms("max_us"),
        "errors": sum(raw["errors"].values()),
        "error_kinds": raw["errors"],
    }


def group_cpu_s(pgid: int) -> float:
    """CPU seconds (user + system) used so far by the live processes of process group ``pgid``:
    with the request count, a cost per request that other load on the machine barely moves."""
    ticks = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def batch_rows(base: str) -> float | None:
    """Mean rows per predict call so far, from mlship's /metrics (of the worker that answers)."""
    with contextlib.suppress(OSError):
        _, text = get(base + "/metrics")
        sums = re.findall(rb"^mlship_batch_size_rows_sum\{[^}]*\} (\S+)$", text, re.MULTILINE)
        counts = re.findall(rb"^mlship_batch_size_rows_count\{[^}]*\} (\S+)$", text, re.MULTILINE)
        if sums and counts and float(counts[0]):
            return float(sums[0]) / float(counts[0])
    return None


def profiler(pid: int, seconds: float, out: Path, fmt: str) -> subprocess.Popen[bytes]:
    spy = BIN / "py-spy"
    if not spy.exists():
        raise SystemExit(f"--profile needs py-spy: uv pip install --python {sys.executable} py-spy")
    out.parent.mkdir(parents=True, exist_ok=True)
    command = [str(spy), "record", "--pid", str(pid), "--subprocesses", "--format", fmt]
    command += ["--duration", str(max(1, int(seconds) - 1)), "--output", str(out), "--nonblocking"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def measure(
    server: Server, env: dict[str, str], workdir: Path, args: argparse.Namespace
) -> dict[str, Any]:
    body = workdir / f"body-{server.body}.json"
    with running(server, env, workdir) as (base, pid):
        url = base + server.predict_path
        status, answer = post(url, body.read_bytes())
        if status != 200:
            raise RuntimeError(f"{server.key} answered {status}: {answer[:500]!r}")
        wrk(url, body, max(CONCURRENCY), args.warmup)
        runs: dict[str, Any] = {"answer": answer.decode(errors="replace")}
        for connections in CONCURRENCY:
            spy = None
            loaded = connections == max(CONCURRENCY)
            if server.key in args.profile and loaded:
                out = RESULTS / "profiles" / f"serve-{server.key}.{args.profile_format}"
                spy = profiler(pid, args.seconds, out, args.profile_format)
                time.sleep(0.5)  # let py-spy attach before the clock starts
            cpu = group_cpu_s(pid)
            run = wrk(url, body, connections, args.seconds)
            used = group_cpu_s(pid) - cpu
            run["server_cpu_us_per_req"] = used / run["requests"] * 1e6 if run["requests"] else None
            runs[f"c{connections}"] = run
            if spy is not None:
                _, err = spy.communicate(timeout=60)
                runs["profiled"] = True
                if spy.returncode:
                    step(f"  py-spy failed: {err.decode(errors='replace')[-500:]}")
            if server.kind == "mlship" and loaded:
                runs["batch_rows"] = batch_rows(base)
    runs["load_average_after"] = os.getloadavg()[0]
    return runs


def median_run(found: list[dict[str, Any]]) -> dict[str, Any]:
    """Of a server's rounds, the one with the median throughput at concurrency 32, with every
    round's req/s alongside (rounds run interleaved with the other servers', so that a burst of
    other work on the machine falls on all of them rather than on one)."""
    ordered = sorted(found, key=lambda run: run["c32"]["rps"])
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    chosen["c32_rps_rounds"] = [run["c32"]["rps"] for run in found]
    return chosen


def same_answer(answer: str, floors: dict[str, Any]) -> bool:
    """Whether a server's answer to the request body is the in-process model's."""
    data = json.loads(answer)
    proba = floors["proba"]
    if "probabilities" in data:
        return all(abs(a - b) < 1e-9 for a, b in zip(data["probabilities"][0], proba, strict=True))
    return bool(data["predictions"][0] == proba.index(max(proba)))


# --------------------------------------------------------------------------------- targets


def ceiling(floors: dict[str, Any], bare: dict[str, Any] | None) -> str:
    """What the bare-ASGI ratio could be if mlship's own code cost nothing: each request still
    needs the floor's HTTP CPU time and the model's time per row at the largest batch that 32
    connections make (32 rows, one thread)."""
    if bare is None or not bare.get("server_cpu_us_per_req"):
        return ""
    http_us = bare["server_cpu_us_per_req"]
    model_us = floors["batch32_s"] * 1e6 / 32
    return (
        f"ceiling with no mlship code at all: {http_us / (http_us + model_us):.2f} x "
        f"(HTTP {http_us:.0f} us + model {model_us:.0f} us a request)"
    )


def cpu_per_request(on: dict[str, Any] | None, off: dict[str, Any] | None) -> str:
    """The server's CPU time a request with logging on and off (the writer process included):
    steadier than req/s on a machine whose speed wanders."""
    a, b = (run and run.get("server_cpu_us_per_req") for run in (on, off))
    return f"; CPU a request on / off: {a:.0f} / {b:.0f} us" if a and b else ""


def handmade(value: float | None) -> str:
    """The bare-ASGI ratio of the hand-written server: what Python reaches with this model when
    it does nothing else (no validation, ids, metrics or log)."""
    return "" if value is None else f"hand-written server with the model alone: {value:.2f} x"


def targets(floors: dict[str, Any], runs: dict[str, dict[str, Any]]) -> list[Target]:
    found: list[Target] = []

    def c32(key: str) -> dict[str, Any] | None:
        run = runs.get(key)
        return None if run is None else run["c32"]

    def ratio(a: str, b: str) -> float | None:
        x, y = c32(a), c32(b)
        if x is None or y is None:
            return None
        # A peer that completed no request at all is beaten by any server that did.
        return x["rps"] / y["rps"] if y["rps"] else math.inf if x["rps"] else None

    for w in (1, 2):
        mlship = f"mlship-w{w}"
        if mlship not in runs:
            continue
        found += [
            Target(
                f"c=32, {w}w: mlship / MLflow req/s", ratio(mlship, f"mlflow-w{w}"), 10, ">=", "x"
            ),
            Target(
                f"c=32, {w}w: mlship / plain FastAPI req/s",
                ratio(mlship, f"fastapi-w{w}"),
                2,
                ">=",
                "x",
            ),
            Target(
                f"c=32, {w}w: mlship / bare ASGI req/s",
                ratio(mlship, f"asgi-w{w}"),
                0.5,
                ">=",
                "x",
                "; ".join(
                    note
                    for note in (
                        ceiling(floors, c32(f"asgi-w{w}")),
                        handmade(ratio(f"handmade-w{w}", f"asgi-w{w}")),
                    )
                    if note
                ),
            ),
        ]
        peers = [c32(f"mlflow-w{w}"), c32(f"fastapi-w{w}")]
        lowest = min((p["p99_ms"] for p in peers if p and p["p99_ms"] is not None), default=None)
        own = c32(mlship)
        if lowest is not None and own is not None and own["p99_ms"] is not None:
            found.append(
                Target(
                    f"c=32, {w}w: mlship p99 < peers' p99",
                    own["p99_ms"],
                    lowest,
                    "<",
                    "ms",
                    "lowest p99 of MLflow and plain FastAPI, same workers",
                )
            )
        nolog = f"mlship-w{w}-nolog"
        if nolog in runs:
            on, off = runs[mlship]["c32_rps_rounds"], runs[nolog]["c32_rps_rounds"]
            paired = sorted(a / b for a, b in zip(on, off, strict=True) if b)
            found.append(
                Target(
                    f"c=32, {w}w: logging on / off req/s",
                    paired[(len(paired) - 1) // 2] if paired else None,
                    0.9,
                    ">=",
                    "x",
                    f"median of {len(paired)} paired rounds: "
                    + ", ".join(f"{r:.2f}" for r in paired)
                    + cpu_per_request(c32(mlship), c32(nolog)),
                )
            )
    # Added latency at concurrency 1 over the in-process DataFrame predict with the same threads.
    for w, floor_key, threads in ((1, "frame_s", "default"), (2, "frame_s_1thread", "1")):
        run = runs.get(f"mlship-w{w}")
        if run is not None and run["c1"]["p50_ms"] is not None:
            added = run["c1"]["p50_ms"] - floors[floor_key] * MS
            found.append(
                Target(
                    f"c=1, {w}w: mlship p50 - in-process DataFrame predict",
                    added,
                    1.0,
                    "<=",
                    "ms",
                    f"floor {floors[floor_key] * MS:.3f} ms, {threads} OpenMP thread(s)",
                )
            )
    return found


# ---------------------------------------------------------------------------------- output


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} ms"


def print_tables(
    floors: dict[str, Any], plan: list[Server], runs: dict[str, Any], found: list[Target]
) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(130, shutil.get_terminal_size().columns))
    table = Table(
        title="Serving benchmark: 1-row requests, wrk from a separate process",
        caption="CPU/req: CPU time of the server's processes per request at c=32; rows/call: "
        "mean rows per model call at c=32 (of one worker). Floors: median time of one call.",
    )
    columns = ["server", "c=1 req/s", "c=1 p50", "c=1 p99"]
    columns += ["c=32 req/s", "c=32 p50", "c=32 p99", "CPU/req", "rows/call", "errors"]
    for column in columns:
        table.add_column(column, justify="left" if column == "server" else "right")
    batch_ms = floors["batch32_s"] * MS
    table.add_row(
        "in-process predict_proba, numpy 32 rows, 1 thread",
        f"{32 / floors['batch32_s']:,.0f} rows/s",
        f"{batch_ms:.3f} ms",
        *[""] * 7,
    )
    for name, key in (
        ("in-process predict_proba, numpy 1 row", "numpy_s"),
        ("in-process predict_proba, DataFrame 1 row", "frame_s"),
        ("in-process predict_proba, DataFrame 1 row, 1 thread", "frame_s_1thread"),
    ):
        ms = floors[key] * MS
        table.add_row(name, f"{1 / floors[key]:,.0f}", f"{ms:.3f} ms", *[""] * 7)
    for server in plan:
        run = runs.get(server.key)
        if run is None:
            continue
        a, b = run["c1"], run["c32"]
        rows = run.get("batch_rows")
        cpu = b["server_cpu_us_per_req"]
        table.add_row(
            server.label,
            f"{a['rps']:,.0f}",
            _ms(a["p50_ms"]),
            _ms(a["p99_ms"]),
            f"{b['rps']:,.0f}",
            _ms(b["p50_ms"]),
            _ms(b["p99_ms"]),
            "-" if cpu is None else f"{cpu:.0f} us",
            "" if rows is None else f"{rows:.1f}",
            str(a["errors"] + b["errors"]),
        )
    console.print(table)

    verdicts = Table(title="Targets")
    for column in ("target", "measured", "goal", "pass/fail", "note"):
        verdicts.add_column(column, justify="right" if column in ("measured", "goal") else "left")
    for t in found:

        def fmt(value: float, unit: str = t.unit) -> str:
            return f"{value:.2f} {unit}"

        verdict = {None: "-", True: "[green]pass[/]", False: "[red]FAIL[/]"}[t.passed]
        verdicts.add_row(
            t.name,
            "-" if t.value is None else fmt(t.value),
            f"{t.op} {fmt(t.goal)}",
            verdict,
            t.detail,
        )
    console.print(verdicts)


def meta() -> dict[str, Any]:
    versions = {}
    for dist in ("mlship", "mlflow", "scikit-learn", "fastapi", "uvicorn", "numpy", "pandas"):
        versions[dist] = metadata.version(dist)
    wrk_version = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": CORES,
        "packages": versions,
        "wrk": wrk_version.splitlines()[0] if wrk_version else None,
        "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def base_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",  # mlflow starts "uvicorn" from PATH
        MLSHIP_HOME=str(tmp / "mlship"),
        MLSHIP_ACTOR="bench",
        MLFLOW_DISABLE_TELEMETRY="true",
        DO_NOT_TRACK="true",
        GIT_OPTIONAL_LOCKS="0",
        TMPDIR=str(tmp / "tmp"),
    )
    (tmp / "tmp").mkdir(parents=True, exist_ok=True)
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="each measured wrk run")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up run per server")
    parser.add_argument(
        "--only", nargs="+", metavar="KEY", help="run only these servers (e.g. mlship-w1)"
    )
    parser.add_argument(
        "--profile", nargs="+", metavar="KEY", default=[], help="py-spy these servers at c=32"
    )
    parser.add_argument(
        "--profile-format", default="raw", choices=("raw", "flamegraph", "speedscope")
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=5,
        help="rounds of every mlship server, interleaved; the median round counts",
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "serve.json")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("The serving benchmark needs wrk (apt-get install -y wrk).")

    # A SIGTERM to the bench unwinds like Ctrl-C, so every server is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="mlship-serve-bench-") as name:
        tmp = Path(name)
        env = base_env(tmp)
        step("training the reference model; registering, saving for MLflow; in-process floors")
        out = tmp / "reference.json"
        subprocess.run(
            [sys.executable, str(HERE / "reference.py"), str(tmp), str(out)],
            env=env,
            cwd=tmp,
            check=True,
        )
        floors = json.loads(out.read_text())
        plan = [s for s in servers(tmp) if not args.only or s.key in args.only]
        rounds: dict[str, list[dict[str, Any]]] = {s.key: [] for s in plan}
        for round_ in range(args.repeat):
            for server in plan:
                if round_ and server.kind != "mlship":
                    continue  # peers and floors once: the ratios that wobble are mlship's own
                step(f"{server.label}" + (f" (round {round_ + 1})" if args.repeat > 1 else ""))
                run = measure(server, env, tmp, args)
                if server.kind != "floor" and not same_answer(run["answer"], floors):
                    raise SystemExit(
                        f"{server.key} answered {run['answer']!r}, not the "
                        f"reference model's {floors['proba']}."
                    )
                rounds[server.key].append(run)
        runs: dict[str, Any] = {key: median_run(found) for key, found in rounds.items()}
    found = targets(floors, runs)
    print_tables(floors, plan, runs, found)
    if load_before > CORES:
        print(
            f"Warning: the load average was {load_before:.1f} on {CORES} CPUs before the run; "
            "other work was running and the figures are slower than on a quiet machine."
        )
    report = {
        "meta": {**meta(), "load_average_before": load_before},
        "floors_ms": {k: v * MS for k, v in floors.items() if k.endswith(("_s", "_1thread"))},
        "servers": {
            s.key: {"label": s.label, "workers": s.workers, "command": s.command[1:], **runs[s.key]}
            for s in plan
        },
        "targets": [
            {"name": t.name, "op": t.op, "goal": t.goal, "unit": t.unit}
            | {"value": t.value if t.value is None or math.isfinite(t.value) else str(t.value)}
            | {"passed": t.passed, "detail": t.detail}
            for t in found
        ],
        "elapsed_s": time.perf_counter() - _STARTED,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    shown = args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out
    print(f"Figures written to {shown} ({report['elapsed_s']:.0f} s).")
    return 1 if any(t.passed is False for t in found) else 0


if __name__ == "__main__":
    sys.exit(main())
