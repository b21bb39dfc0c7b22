"""Many processes registering one model at once get distinct versions, on every backend."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mlship.registry import Registry
from mlship.store import open_store
from tests.conftest import RegistryFactory

WORKER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from mlship.registry import Registry

    go, seed, model = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    registry = Registry.from_env()           # every process opens (and may migrate) the store
    Path(f"{go}.ready-{seed}").touch()
    while not go.exists():
        time.sleep(0.005)
    version = registry.register(model, "fraud", tags={"worker": seed})
    print(version.version)
    """
)


def _onnx_model(folder: Path) -> Path:
    """A small ONNX model: registering it needs no scikit-learn import in the workers."""
    import numpy as np
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    X = np.random.default_rng(0).normal(size=(200, 3)).astype(np.float32)
    model = LogisticRegression().fit(X, (X[:, 0] > 0).astype(int))
    path = folder / "model.onnx"
    path.write_bytes(to_onnx(model, X[:1]).SerializeToString())
    return path


@pytest.mark.slow
def test_ten_processes_get_ten_distinct_versions(
    db_url: str, tmp_path: Path, registry_factory: RegistryFactory
) -> None:
    """Check that concurrent registrations (and the first open of a fresh store) never collide."""
    go = tmp_path / "go"
    model = _onnx_model(tmp_path)
    env = {
        **os.environ,
        "MLSHIP_HOME": str(tmp_path / "home"),
        "MLSHIP_DB_URL": db_url,
        "MLSHIP_ARTIFACTS": str(tmp_path / "artifacts"),
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(go), str(i), str(model)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(10)
    ]
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("go.ready-*"))) < 10 and time.monotonic() < deadline:
        if any(p.poll() not in (None, 0) for p in procs):
            break
        time.sleep(0.05)
    go.touch()
    results = [p.communicate(timeout=120) for p in procs]
    errors = [err for (_, err), p in zip(results, procs, strict=True) if p.returncode != 0]
    assert errors == []
    versions = sorted(int(out.strip()) for out, _ in results)
    assert versions == list(range(1, 11))

    registry: Registry = registry_factory(artifacts=str(tmp_path / "artifacts"))
    events = [e for e in registry.history("fraud") if e.kind == "registered"]
    assert sorted(e.version for e in events if e.version is not None) == list(range(1, 11))
    by_version = {v.version: v.tags["worker"] for v in registry.list_versions("fraud")}
    assert sorted(by_version.values(), key=int) == [str(i) for i in range(10)]


def test_store_migrates_once_and_reopens_without_alembic(db_url: str) -> None:
    """Check that a migrated store is opened without importing Alembic again."""
    open_store(db_url).close()
    code = (
        "import sys; from mlship.store import open_store; "
        f"open_store({db_url!r}).close(); print('alembic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_registry_from_env_uses_home(tmp_path: Path) -> None:
    registry = Registry.from_env({"MLSHIP_HOME": str(tmp_path / "h")})
    assert registry.list_models() == []
    assert (tmp_path / "h" / "mlship.db").exists()
    registry.close()
