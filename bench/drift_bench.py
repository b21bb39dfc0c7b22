"""Drift benchmark: mlship's full drift report next to Evidently's default data-drift preset.

The data: a reference and a current frame of ``--rows`` rows (default 1,000,000) x 20 numeric
and 5 categorical columns, seeded; in the current frame four numeric columns are shifted by 0.3
standard deviations, one by 0.02 (significant at this size, too small to matter), one
categorical column changes its proportions and one gains a new category. Both frames are
written to Parquet once; every contender reads them in its own process, and the timed part
starts with the frames in memory:

- **mlship**: ``detect_drift(reference, current).to_dict()``, the whole JSON report;
- **Evidently** (``evidently.presets.DataDriftPreset``, defaults): ``Report.run`` and
  ``snapshot.dict()``. Evidently 0.7 does not run on pandas 3, so it gets its own environment,
  ``.venv-bench/evidently`` (created here on first use with uv, pins in
  ``EVIDENTLY_REQUIREMENTS``);
- **scipy**: a per-column loop of ``ks_2samp`` + ``wasserstein_distance`` (numeric) and
  ``chi2_contingency`` + ``jensenshannon`` over ``value_counts`` (categorical).

Peak memory is the process's high-water mark (``VmHWM``, reset through ``/proc/self/clear_refs``
just before the report) over its resident size with the frames loaded; the ratio is
``(frames + peak extra) / frames``. Times are the best of ``--repeat`` runs (the machine is
shared). The scaling table runs mlship from 10^4 to 10^6 rows in memory and, with ``--large``,
10^7 rows out of core: column by column from the Parquet files with pyarrow, so memory stays
bounded by a column, not the table.

Run ``python bench/drift_bench.py [--rows N] [--repeat K] [--large] [--no-evidently] [--quick]``
from the repository root. Prints the tables and writes ``bench/results/drift.json``. Targets at
10^6 rows: under 3 s, at least 10 times faster than Evidently, memory ratio at most 2.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
EVIDENTLY_VENV = ROOT / ".venv-bench" / "evidently"
EVIDENTLY_REQUIREMENTS = ["evidently==0.7.23", "pandas==2.3.3", "pyarrow==25.0.1"]
TARGET_S, TARGET_SPEEDUP, TARGET_MEMORY = 3.0, 10.0, 2.0
NUMERIC, CATEGORICAL = 20, 5
CHUNK = 1_000_000
SCALING = (10_000, 100_000, 1_000_000)
LARGE = 10_000_000


# ---------------------------------------------------------------- data (seeded, chunked Parquet)


def write_frames(workdir: Path, rows: int) -> tuple[Path, Path]:
    """Write the reference and current frames of ``rows`` rows as Parquet (once per size)."""
    paths = workdir / f"reference-{rows}.parquet", workdir / f"current-{rows}.parquet"
    for path, current in zip(paths, (False, True), strict=True):
        if not path.exists():
            _write(path, rows, current)
    return paths


def _write(path: Path, rows: int, current: bool) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = None
    tmp = path.with_suffix(".tmp")
    for start in range(0, rows, CHUNK):
        chunk = _chunk(min(CHUNK, rows - start), seed=(2 if current else 1, start), current=current)
        table = pa.Table.from_pydict(chunk)
        writer = writer or pq.ParquetWriter(tmp, table.schema)
        writer.write_table(table)
    assert writer is not None
    writer.close()
    tmp.rename(path)


def _chunk(rows: int, seed: tuple[int, int], current: bool) -> dict[str, Any]:
    import numpy as np

    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {}
    for i in range(NUMERIC):
        shift = (0.3 if i < 4 else 0.02 if i == 4 else 0.0) if current else 0.0
        scale = 1.0 + i / 4
        if i % 5 == 1:
            values = np.exp(rng.normal(shift, 1.0, rows))  # skewed
        elif i % 5 == 2:
            values = rng.poisson(4.0 + 2.0 * shift, rows).astype(np.float64)  # ties
        else:
            values = rng.normal(10.0 * i + shift * scale, scale, rows)
        if i % 4 == 3:
            values[rng.random(rows) < 0.02] = np.nan
        columns[f"n{i:02d}"] = values
    for i, levels in enumerate((5, 20, 100, 2, 50)):
        names = np.array([f"c{i}_{k}" for k in range(levels)] + [f"c{i}_new"])
        weights = 0.9 ** np.arange(levels)
        if current and i == 1:
            weights = weights[::-1]  # proportions change
        codes = rng.choice(levels, rows, p=weights / weights.sum())
        if current and i == 4:
            codes[rng.random(rows) < 0.02] = levels  # a new category
        columns[f"c{i}"] = names[codes]
    return columns


# ---------------------------------------------------------------- children (one process each)


def _rss_mb(field: str = "VmRSS") -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak() -> None:
    gc.collect()
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


def child(kind: str, reference_path: str, current_path: str, repeat: int) -> dict[str, Any]:
    """Load both frames, then time ``kind``'s full report ``repeat`` times."""
    import pandas as pd

    if kind == "outofcore":
        return _outofcore(reference_path, current_path)
    reference = pd.read_parquet(reference_path)
    current = pd.read_parquet(current_path)
    frames_mb = (
        reference.memory_usage(deep=True).sum() + current.memory_usage(deep=True).sum()
    ) / 2**20
    run = {"mlship": _mlship, "evidently": _evidently, "scipy": _scipy}[kind]
    run(reference.head(100), current.head(100))  # imports are not part of the timed report
    times, cpu, drifted = [], [], []
    for attempt in range(repeat):
        if attempt == 0:
            _reset_peak()
            before = _rss_mb()
        start, start_cpu = time.perf_counter(), time.process_time()
        drifted = run(reference, current)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        if attempt == 0:
            peak_extra = _rss_mb("VmHWM") - before
    return _result(kind, len(reference), times, min(cpu), frames_mb, peak_extra, drifted)


def _result(kind: str, rows: int, times: list[float], *figures: Any) -> dict[str, Any]:
    """The JSON of one contender: ``figures`` are CPU s, frames MB, peak extra MB, drifted."""
    cpu, frames_mb, peak_extra, drifted = figures
    return dict(
        kind=kind,
        rows=rows,
        best_s=min(times),
        times_s=times,
        cpu_s=cpu,
        load_average=os.getloadavg()[0],
        frames_mb=frames_mb,
        peak_extra_mb=peak_extra,
        memory_ratio=(frames_mb + peak_extra) / frames_mb,
        drifted=drifted,
    )


def _mlship(reference: Any, current: Any) -> list[str]:
    from mlship.monitoring import detect_drift

    out = detect_drift(reference, current).to_dict()
    return sorted(n for n, f in out["features"].items() if f["drift"])


def _evidently(reference: Any, current: Any) -> list[str]:
    import warnings

    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    warnings.filterwarnings("ignore")
    numeric = [c for c in reference.columns if c.startswith("n")]
    definition = DataDefinition(
        numerical_columns=numeric,
        categorical_columns=[c for c in reference.columns if c.startswith("c")],
    )
    snapshot = Report([DataDriftPreset()]).run(
        current_data=Dataset.from_pandas(current, data_definition=definition),
        reference_data=Dataset.from_pandas(reference, data_definition=definition),
    )
    drifted = []
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config.get("type", "").endswith("ValueDrift"):
            method = config.get("method", "")
            value, threshold = float(metric["value"]), config["threshold"]
            # p-value tests drift below their threshold, distances at or above it.
            if ("p_value" in method) == (value < threshold):
                drifted.append(config["column"])
    return sorted(drifted)


def _scipy(reference: Any, current: Any) -> list[str]:
    import numpy as np
    import pandas as pd
    from scipy import stats
    from scipy.spatial.distance import jensenshannon

    drifted = []
    for name in reference.columns:
        ref, cur = reference[name], current[name]
        if name.startswith("n"):
            a, b = ref.dropna().to_numpy(), cur.dropna().to_numpy()
            p = stats.ks_2samp(a, b).pvalue
            effect = stats.wasserstein_distance(a, b) / max(float(np.std(a)), 1e-3)
        else:
            table = pd.concat([ref.value_counts(), cur.value_counts()], axis=1).fillna(0)
            p = stats.chi2_contingency(table.to_numpy().T).pvalue
            effect = jensenshannon(table.iloc[:, 0], table.iloc[:, 1], base=2)
        if p < 0.05 and effect >= 0.1:
            drifted.append(name)
    return sorted(drifted)


def _outofcore(reference_path: str, current_path: str) -> dict[str, Any]:
    """mlship over Parquet, column by column (two columns at a time), never the whole table."""
    from concurrent.futures import ThreadPoolExecutor

    import pyarrow.parquet as pq

    from mlship.monitoring import DriftReport, feature_drift

    names = pq.ParquetFile(reference_path).schema_arrow.names
    rows = pq.ParquetFile(reference_path).metadata.num_rows

    def one(name: str) -> Any:
        ref = pq.read_table(reference_path, columns=[name]).column(0).to_pandas()
        cur = pq.read_table(current_path, columns=[name]).column(0).to_pandas()
        return feature_drift(ref, cur, name=name)

    _reset_peak()
    before = _rss_mb()
    start, start_cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(max_workers=2) as pool:
        features = {f.name: f for f in pool.map(one, names)}
    out = DriftReport.from_features(features, reference_rows=rows, current_rows=rows).to_dict()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    # What the two tables would take in memory if read whole (this run never does).
    frames_mb = (
        sum(
            meta.row_group(g).column(c).total_uncompressed_size
            for meta in (pq.ParquetFile(p).metadata for p in (reference_path, current_path))
            for g in range(meta.num_row_groups)
            for c in range(meta.num_columns)
        )
        / 2**20
    )
    drifted = sorted(n for n, f in out["features"].items() if f["drift"])
    result = _result(
        "outofcore", rows, [elapsed], cpu, frames_mb, _rss_mb("VmHWM") - before, drifted
    )
    result["memory_ratio"] = None  # the tables were never in memory
    return result


# ---------------------------------------------------------------- parent


def run_child(python: Path, kind: str, paths: tuple[Path, Path], repeat: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    args = [str(python), str(Path(__file__).resolve()), "--child", kind, *map(str, paths)]
    args += ["--repeat", str(repeat)]
    done = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        return {"kind": kind, "error": done.stderr.strip().splitlines()[-1:]}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def evidently_python() -> Path | None:
    """The interpreter of the Evidently environment, created with uv on first use."""
    python = EVIDENTLY_VENV / "bin" / "python"
    if python.exists():
        return python
    uv = shutil.which("uv") or str(ROOT / ".tools" / "bin" / "uv")
    try:
        subprocess.run([uv, "venv", "--quiet", "--python", "3.11", str(EVIDENTLY_VENV)], check=True)
        install = [uv, "pip", "install", "--quiet", "--python", str(python)]
        subprocess.run([*install, *EVIDENTLY_REQUIREMENTS], check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"Evidently environment unavailable ({exc}); skipping the peer.", file=sys.stderr)
        return None
    return python


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--large", action="store_true", help="add 10^7 rows out of core")
    parser.add_argument("--no-evidently", action="store_true")
    parser.add_argument("--quick", action="store_true", help="mlship alone, no peers, no scaling")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the Parquet files here")
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "drift.json")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("paths", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, *args.paths, repeat=args.repeat)))
        return 0

    with tempfile.TemporaryDirectory(prefix="drift-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        return _compare(args, workdir)


def _compare(args: argparse.Namespace, workdir: Path) -> int:
    here = Path(sys.executable)
    evidently = None if args.no_evidently or args.quick else evidently_python()
    main_paths = write_frames(workdir, args.rows)
    headline = {"mlship": run_child(here, "mlship", main_paths, args.repeat)}
    if not args.quick:
        headline["scipy"] = run_child(here, "scipy", main_paths, 1)
    if evidently is not None:
        headline["evidently"] = run_child(evidently, "evidently", main_paths, 1)

    scaling: list[dict[str, Any]] = []
    for rows in () if args.quick else SCALING:
        paths = write_frames(workdir, rows)
        entry = {"rows": rows, "mlship": run_child(here, "mlship", paths, args.repeat)}
        if evidently is not None and rows < args.rows:
            entry["evidently"] = run_child(evidently, "evidently", paths, 1)
        scaling.append(entry)
    if args.large:
        paths = write_frames(workdir, LARGE)
        scaling.append({"rows": LARGE, "outofcore": run_child(here, "outofcore", paths, 1)})

    ours = headline["mlship"]
    peer = headline.get("evidently", {})
    speedup = peer["best_s"] / ours["best_s"] if "best_s" in peer else None
    passed = (
        ours.get("best_s", float("inf")) < TARGET_S
        and (speedup is None or speedup >= TARGET_SPEEDUP)
        and ours.get("memory_ratio", float("inf")) <= TARGET_MEMORY
    )
    _print(args.rows, headline, scaling)
    if speedup is not None:
        print(f"\nmlship is {speedup:.1f}x faster than Evidently's DataDriftPreset")
    print(
        f"targets: < {TARGET_S:g} s, >= {TARGET_SPEEDUP:g}x Evidently, memory ratio <= "
        f"{TARGET_MEMORY:g}: {'PASS' if passed else 'FAIL'}"
    )
    report = {
        "meta": _meta(),
        "rows": args.rows,
        "columns": {"numeric": NUMERIC, "categorical": CATEGORICAL},
        "targets": {"seconds": TARGET_S, "speedup": TARGET_SPEEDUP, "memory": TARGET_MEMORY},
        "passed": passed,
        "speedup_vs_evidently": speedup,
        "headline": headline,
        "scaling": scaling,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if passed else 1


def _print(rows: int, headline: dict[str, Any], scaling: list[dict[str, Any]]) -> None:
    print(f"Drift report, {rows:,} + {rows:,} rows x {NUMERIC} numeric + {CATEGORICAL} categorical")
    print(
        f"{'':<11}{'best s':>8}{'CPU s':>8}{'load':>6}{'frames MB':>11}{'extra MB':>10}{'ratio':>7}"
    )
    for name, r in headline.items():
        if "error" in r:
            print(f"{name:<11} failed: {r['error']}")
            continue
        print(
            f"{name:<11}{r['best_s']:>8.2f}{r['cpu_s']:>8.2f}{r['load_average']:>6.1f}"
            f"{r['frames_mb']:>11.0f}{r['peak_extra_mb']:>10.0f}{r['memory_ratio']:>7.2f}"
            f"   drifted: {', '.join(r['drifted']) or '-'}"
        )
    print(f"\n{'rows':>12}{'mlship s':>10}{'CPU s':>8}{'extra MB':>10}{'evidently s':>13}")
    nan = float("nan")
    for entry in scaling:
        ours = entry.get("mlship") or entry.get("outofcore") or {}
        theirs = entry.get("evidently") or headline.get("evidently", {})
        their_s = theirs.get("best_s", nan) if theirs.get("rows") == entry["rows"] else nan
        print(
            f"{entry['rows']:>12,}{ours.get('best_s', nan):>10.2f}{ours.get('cpu_s', nan):>8.2f}"
            f"{ours.get('peak_extra_mb', nan):>10.0f}{their_s:>13.2f}"
            + (" (out of core)" if "outofcore" in entry else "")
        )


def _meta() -> dict[str, Any]:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": cpus,
        "load_average": os.getloadavg(),
        "packages": {p: metadata.version(p) for p in ("numpy", "pandas", "scipy", "pyarrow")},
        "evidently_requirements": EVIDENTLY_REQUIREMENTS,
        "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


if __name__ == "__main__":
    sys.exit(main())
