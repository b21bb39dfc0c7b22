"""Registry benchmark: mlship next to MLflow on registering, loading and resolving models.

Run by ``bench/run.sh`` (``make bench``) with the ``.venv-bench`` interpreter. Every measured case
runs in its own fresh process (see ``workers.py``) against temporary stores: a SQLite mlship
registry with local artifacts, and an MLflow SQLite tracking/registry store with local artifacts.
Prints a table and writes ``bench/results/registry.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORKERS = BENCH / "workers.py"


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the table: a figure for each library and mlship's target, in ``unit``."""

    metric: str
    unit: str
    mlship: float | None
    mlflow: float | None
    target: float | None = None
    inclusive: bool = False
    """The target is ``<=`` rather than ``<``."""

    @property
    def passed(self) -> bool | None:
        if self.target is None or self.mlship is None:
            return None
        return self.mlship <= self.target if self.inclusive else self.mlship < self.target


def bench_env(tmp: Path, profile: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        MLSHIP_HOME=str(tmp / "mlship"),
        MLSHIP_ACTOR="bench",
        MLFLOW_TRACKING_URI=f"sqlite:///{tmp / 'mlflow' / 'mlflow.db'}",
        BENCH_MLFLOW_ARTIFACTS=str(tmp / "mlflow" / "artifacts"),
        MLFLOW_DISABLE_TELEMETRY="true",
        DO_NOT_TRACK="true",
        # Both libraries ask git for the commit; never let that rewrite the repository's index.
        GIT_OPTIONAL_LOCKS="0",
        # Registry.load leaves a fresh mkdtemp() folder per uncached load; keep them in here.
        TMPDIR=str(tmp / "tmp"),
    )
    if profile:
        env.update(BENCH_PROFILE=profile, BENCH_PROFILE_DIR=str(BENCH / "results" / "profiles"))
    for folder in ("mlflow", "tmp"):
        (tmp / folder).mkdir(parents=True, exist_ok=True)
    return env


def run_case(env: dict[str, str], case: str, *args: str) -> dict[str, Any]:
    """Run one case of ``workers.py`` in a fresh process and return its figures."""
    fd, out = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    try:
        proc = subprocess.run(
            [sys.executable, str(WORKERS), case, out, *args],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr[-4000:])
            raise SystemExit(f"bench case {case} {' '.join(args)} failed ({proc.returncode})")
        result: dict[str, Any] = json.loads(Path(out).read_text())
        return result
    finally:
        os.unlink(out)


def fresh_runs(
    env: dict[str, str], repeat: int, cases: list[str], *args: str
) -> dict[str, dict[str, float]]:
    """Per case, the median of each figure over ``repeat`` fresh processes.

    The cases take turns, so a burst of other work on the machine hits them alike.
    """
    runs: dict[str, list[dict[str, Any]]] = {case: [] for case in cases}
    for _ in range(repeat):
        for case in cases:
            runs[case].append(run_case(env, case, *args))
    return {
        case: {key: statistics.median(r[key] for r in found) for key in found[0]}
        for case, found in runs.items()
    }


def wall(env: dict[str, str], command: list[str], repeat: int) -> float:
    """Median wall time of ``command`` over ``repeat`` runs, after one unmeasured warm-up run."""
    times = []
    for i in range(repeat + 1):
        start = time.perf_counter()
        subprocess.run(command, env=env, cwd=ROOT, check=True, capture_output=True)
        if i:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


_STARTED = time.perf_counter()


def step(text: str) -> None:
    elapsed = time.perf_counter() - _STARTED
    print(f"[{elapsed:5.0f} s] {text}", file=sys.stderr, flush=True)


def measure_all(env: dict[str, str], repeat: int) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    step("seeding both registries (lr, hgb @production)")
    raw["seed_mlship"] = run_case(env, "seed_mlship")
    raw["seed_mlflow"] = run_case(env, "seed_mlflow")
    step("register: 10 MB forest + 1,000,000 x 20 frame (mlship)")
    raw["register_big"] = run_case(env, "register_big")
    step("register: small HistGradientBoosting (mlship, MLflow)")
    raw["register_small_mlship"] = run_case(env, "register_small_mlship")
    raw["register_small_mlflow"] = run_case(env, "register_small_mlflow")
    for name in ("lr", "hgb"):
        step(f"load {name}@production in {repeat} fresh processes each (mlship, MLflow)")
        cases = ["load_mlship", "load_mlship_api", "load_mlflow"]
        for case, figures in fresh_runs(env, repeat, cases, name).items():
            raw[f"{case}_{name}"] = figures
    step("CLI and import wall times")
    bindir = Path(sys.executable).parent
    raw["mlship_help_s"] = wall(env, [str(bindir / "mlship"), "--help"], 5)
    raw["import_mlship_s"] = wall(env, [sys.executable, "-c", "import mlship"], 5)
    raw["import_mlflow_s"] = wall(env, [sys.executable, "-c", "import mlflow"], 5)
    return raw


def table_rows(raw: dict[str, Any]) -> list[Row]:
    ms = 1000.0
    big = raw["register_big"]
    small_a, small_b = raw["register_small_mlship"], raw["register_small_mlflow"]
    rows = [
        Row("register 10 MB forest + 1M x 20 frame, 1st call", "s", big["first_s"], None, 3.0),
        Row("register 10 MB forest + 1M x 20 frame, 2nd call", "s", big["second_s"], None),
        Row("register small HGB, steady state", "s", small_a["steady_s"], small_b["steady_s"], 0.5),
        Row("register small HGB, 1st call in process", "s", small_a["first_s"], small_b["first_s"]),
    ]
    for name, label in (("lr", "LR"), ("hgb", "HGB")):
        a, b = raw[f"load_mlship_{name}"], raw[f"load_mlflow_{name}"]
        api = raw[f"load_mlship_api_{name}"]
        rows += [
            Row(
                f"1st load by alias after imports: {label}",
                "ms",
                a["first_s"] * ms,
                b["first_s"] * ms,
                10.0,
                inclusive=True,
            ),
            Row(f"1st mlship.load(), store not yet open: {label}", "ms", api["first_s"] * ms, None),
        ]
    rows += [
        Row(
            "2nd load: LR (mlship cached, MLflow reloads)",
            "ms",
            raw["load_mlship_lr"]["cached_s"] * ms,
            raw["load_mlflow_lr"]["again_s"] * ms,
            1.0,
        ),
        Row(
            "2nd load: HGB (mlship cached, MLflow reloads)",
            "ms",
            raw["load_mlship_hgb"]["cached_s"] * ms,
            raw["load_mlflow_hgb"]["again_s"] * ms,
            1.0,
        ),
        Row(
            "resolve alias (median of 200)",
            "ms",
            raw["load_mlship_lr"]["resolve_s"] * ms,
            raw["load_mlflow_lr"]["resolve_s"] * ms,
            2.0,
        ),
        Row("mlship --help (wall, median of 5)", "s", raw["mlship_help_s"], None, 0.3),
        Row(
            "python -c 'import mlship' / 'import mlflow'",
            "s",
            raw["import_mlship_s"],
            raw["import_mlflow_s"],
        ),
    ]
    return rows


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    return f"{value:.3f} {unit}" if unit == "s" else f"{value:.2f} {unit}"


def print_table(rows: list[Row]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Registry benchmark: mlship vs MLflow (SQLite store, local artifacts)")
    for column in ("metric", "mlship", "MLflow", "target", "pass/fail"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for row in rows:
        target = (
            "-"
            if row.target is None
            else f"{'<=' if row.inclusive else '<'} " + fmt(row.target, row.unit)
        )
        verdict = {None: "", True: "[green]pass[/]", False: "[red]FAIL[/]"}[row.passed]
        table.add_row(
            row.metric, fmt(row.mlship, row.unit), fmt(row.mlflow, row.unit), target, verdict
        )
    Console(width=max(120, shutil.get_terminal_size().columns)).print(table)


def meta() -> dict[str, Any]:
    versions = {}
    for dist in ("mlship", "mlflow", "scikit-learn", "skops", "sqlalchemy", "pandas", "numpy"):
        versions[dist] = metadata.version(dist)
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "packages": versions,
        "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "load_average_1min": os.getloadavg()[0],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="fresh processes per load case")
    parser.add_argument(
        "--profile",
        metavar="KEY",
        help="cProfile the timed calls named KEY (first, steady, cached, resolve, ... or all) "
        "into bench/results/profiles/",
    )
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "registry.json")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="mlship-bench-") as tmp:
        raw = measure_all(bench_env(Path(tmp), args.profile), args.repeat)
    rows = table_rows(raw)
    print_table(rows)
    if load_before > (os.cpu_count() or 1):
        print(
            f"Warning: the load average was {load_before:.1f} on {os.cpu_count()} CPUs before the "
            "run; other work was running and the figures are slower than on a quiet machine."
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "meta": {**meta(), "load_average_before": load_before},
        "rows": [{**asdict(r), "passed": r.passed} for r in rows],
        "raw": raw,
        "elapsed_s": time.perf_counter() - started,
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"Figures written to {args.out.relative_to(ROOT)} ({report['elapsed_s']:.0f} s).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
