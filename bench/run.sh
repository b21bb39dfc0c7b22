#!/usr/bin/env bash
# Registry benchmark: mlship vs MLflow, in a separate environment (.venv-bench).
# Idempotent: the environment is created once; later runs only reinstall mlship from src/.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv-bench
PY="$VENV/bin/python"

if [ ! -x "$PY" ]; then
  uv venv --quiet --python 3.11 "$VENV"
fi

# mlship's locked dependencies (pyarrow left to bench/requirements.txt), then the peer.
locked="$(mktemp)"
trap 'rm -f "$locked"' EXIT
uv export --quiet --frozen --no-dev --all-extras --no-hashes --no-emit-project \
  | grep -v '^pyarrow==' >"$locked"
# Not editable: with PYTHONDONTWRITEBYTECODE=1 an editable src/ would be recompiled on every
# import, which would distort the import-time figures. --reinstall-package picks up src/ edits.
uv pip install --quiet --python "$PY" --compile-bytecode \
  -r "$locked" -r bench/requirements.txt --override bench/requirements.txt \
  --reinstall-package mlship .

# Every benchmark runs even when an earlier one misses its target; the exit code says if any did.
missed=0
"$PY" bench/registry_bench.py "$@" || missed=1
# Checks: data validation of 1M x 50 and the paired bootstrap (no peer to install).
"$PY" bench/validation_bench.py || missed=1
"$PY" bench/bootstrap_bench.py || missed=1
# Serving: mlship serve next to mlflow models serve, plain FastAPI and the floors, loaded by wrk.
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; } || true
"$PY" bench/serve/serve_bench.py || missed=1
# Rollouts: rollback to stable-only answers on every replica (2 on PostgreSQL, 1 on SQLite), and
# the router's cost per request.
"$PY" bench/rollback_bench.py || missed=1
"$PY" bench/drift_bench.py || missed=1  # drift report vs Evidently (its own env) and scipy
# Scale-out: throughput through nginx (Debian's) with 1, 2 and 3 replicas on one PostgreSQL store.
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { apt-get update -qq && apt-get install -y -qq nginx >/dev/null; } || true
"$PY" bench/replicas_bench.py || missed=1
# Faults under load: a PostgreSQL restart, a killed log writer, a full disk (root: tmpfs mounts).
"$PY" bench/faults_bench.py || missed=1
exit "$missed"
