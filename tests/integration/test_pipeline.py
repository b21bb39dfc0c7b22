"""``mlship run`` and ``mlship reproduce`` from the shell, on a copy of ``examples/fraud``.

One module-scoped run trains, gates and deploys the first model; each test then works on its own
copy of that project and store (a folder copy: SQLite and the artifacts live in it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from mlship.errors import InvalidInput
from mlship.pipeline import load_pipeline_config, run_pipeline
from mlship.registry import Registry
from mlship.rollout import DeploymentStore

# One worker runs the module: its tests share the first run (a module-scoped fixture).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("pipeline")]

EXAMPLE = Path(__file__).parents[2] / "examples" / "fraud"
NAME = "fraud_detector"
Run = Callable[..., subprocess.CompletedProcess[str]]


def _edit(project: Path, old: str, new: str) -> None:
    path = project / "mlship.toml"
    text = path.read_text()
    assert re.search(old, text, flags=re.M), f"{old!r} not in mlship.toml"
    path.write_text(re.sub(old, lambda _: new, text, count=1, flags=re.M))


def _runner(root: Path) -> Run:
    env = {k: v for k, v in os.environ.items() if k not in ("MLSHIP_DB_URL", "MLSHIP_ARTIFACTS")}
    env.update(MLSHIP_HOME=str(root / "home"), COLUMNS="200", MLSHIP_ACTOR="ci")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mlship", *args],
            cwd=root / "project",
            env=env,
            stdin=subprocess.DEVNULL,  # no terminal: reproduce cannot ask, only --yes runs it
            capture_output=True,
            text=True,
            timeout=240,
        )

    return run


def _declined_on_a_terminal(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run mlship with a terminal as stdin, answering 'n' to its question."""
    import pty

    env = {k: v for k, v in os.environ.items() if k not in ("MLSHIP_DB_URL", "MLSHIP_ARTIFACTS")}
    env.update(MLSHIP_HOME=str(root / "home"), COLUMNS="200")
    controller, terminal = pty.openpty()
    try:
        os.write(controller, b"n\n")
        return subprocess.run(
            [sys.executable, "-m", "mlship", *args],
            cwd=root / "project",
            env=env,
            stdin=terminal,
            capture_output=True,
            text=True,
            timeout=240,
        )
    finally:
        os.close(terminal)
        os.close(controller)


def _registry(root: Path) -> Registry:
    return Registry.from_env({"MLSHIP_HOME": str(root / "home")})


@pytest.fixture(scope="module")
def deployed(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """The example project after its first ``mlship run``: fraud_detector@1 live.

    The project's own tests are replaced by a quick command and the latency and memory budgets
    dropped (they are timing figures of a shared machine, and gates have their own tests)."""
    root = tmp_path_factory.mktemp("pipeline")
    project = root / "project"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("data", "__pycache__"))
    subprocess.run([sys.executable, "make_data.py"], cwd=project, check=True, capture_output=True)
    _edit(project, r"^code = .*$", 'code = "python -c pass"')
    _edit(project, r"^max_latency_ms = .*\n", "")
    _edit(project, r"^max_memory_mb = .*\n", "")
    done = _runner(root)("run")
    return root, done


@pytest.fixture
def root(deployed: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path) -> Path:
    """A private copy of the deployed project (``project/``) and its store (``home/``)."""
    root, done = deployed
    assert done.returncode == 0, done.stdout + done.stderr
    shutil.copytree(root, tmp_path / "copy")
    return tmp_path / "copy"


def test_run_tests_validates_trains_gates_and_deploys(
    deployed: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    root, done = deployed
    assert done.returncode == 0, done.stdout + done.stderr
    for title in ("Code tests", "Data validation", "Train and register", "Model sanity"):
        assert f"✔ {title}" in done.stdout
    assert "✔ Gates" in done.stdout and "✔ Deploy" in done.stdout
    assert "fraud_detector@1 is live" in done.stdout and "Pipeline passed" in done.stdout
    registry = _registry(root)
    try:
        deployment = DeploymentStore(registry).get(NAME)
        assert deployment is not None and deployment.stable_version == 1
        version = registry.get(f"{NAME}@production")
        assert version.version == 1 and version.blessed is True
        event = [e for e in registry.history(NAME) if e.kind == "pipeline_run"][-1]
        assert event.version == 1 and event.details["verdict"] == "pass"
        stages = event.details["stages"]
        assert [s["stage"] for s in stages] == [
            "test",
            "validate",
            "train",
            "sanity",
            "gate",
            "deploy",
        ]
        assert {s["status"] for s in stages} == {"pass"}
        assert all(s["duration_s"] >= 0 for s in stages)
        # Reproducibility: the recipe is on the version, next to what the registry records.
        training = json.loads(version.tags["mlship.train"])
        assert training["command"].startswith("python train.py --data {data}")
        data = json.loads(version.tags["mlship.data"])
        assert data["train"]["path"] == "data/train.parquet" and data["train"]["rows"] == 4000
        assert len(data["holdout"]["fingerprint"]) == 64
        assert json.loads(version.tags["mlship.config"])["model"]["name"] == NAME
        assert version.environment["packages"]["scikit-learn"]
        assert version.params["C"] == 1.0 and "holdout_f1" in version.metrics
    finally:
        registry.close()


def test_until_gate_registers_and_gates_but_does_not_deploy(root: Path) -> None:
    done = _runner(root)("run", "--until", "gate", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert result["version"] == 2 and result["baseline"] == f"{NAME}@1"
    assert [s["status"] for s in result["stages"]][-2:] == ["pass", "skip"]
    registry = _registry(root)
    try:
        assert registry.get(f"{NAME}@2").blessed is True
        deployment = DeploymentStore(registry).get(NAME)
        assert deployment is not None
        assert (deployment.stable_version, deployment.state) == (1, "idle")
        assert registry.get(f"{NAME}@production").version == 1
    finally:
        registry.close()


def test_a_worse_model_fails_the_gate_with_exit_code_1(root: Path) -> None:
    _edit(root / "project", r"--params \{params\}", "--params {params} --c 0.0001")
    done = _runner(root)("run")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "✘ Gates" in done.stdout and "Not run: stage 'gate' failed." in done.stdout
    assert "The pipeline stopped at stage 'gate'" in done.stderr
    assert "gate:f1" in done.stderr
    registry = _registry(root)
    try:
        assert registry.get(f"{NAME}@2").blessed is False
        deployment = DeploymentStore(registry).get(NAME)
        assert deployment is not None and deployment.stable_version == 1
        event = [e for e in registry.history(NAME) if e.kind == "pipeline_run"][-1]
        assert event.details["failed_stage"] == "gate" and "gate:f1" in event.details["failure"]
    finally:
        registry.close()


def test_failing_project_tests_stop_the_pipeline_first(root: Path) -> None:
    (root / "project" / "failing_tests.py").write_text(
        "print('F.. 1 failed: test_model_learns_something')\nraise SystemExit(1)\n"
    )
    _edit(root / "project", r"^code = .*$", 'code = "python failing_tests.py"')
    done = _runner(root)("run")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "✘ Code tests" in done.stdout and "1 failed: test_model_learns_something" in done.stdout
    assert "The pipeline stopped at stage 'test'" in done.stderr
    registry = _registry(root)
    try:
        assert registry.get(NAME).version == 1  # nothing trained or registered
        event = [e for e in registry.history(NAME) if e.kind == "pipeline_run"][-1]
        assert event.version is None and event.details["failed_stage"] == "test"
        assert [s["status"] for s in event.details["stages"]] == ["fail"] + ["skip"] * 5
    finally:
        registry.close()


def test_reproduce_is_identical_and_refuses_changed_data(root: Path) -> None:
    run = _runner(root)
    done = run("reproduce", f"{NAME}@1", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{NAME}@1 reproduced: identical" in done.stdout
    train = root / "project" / "data" / "train.parquet"
    pd.read_parquet(train).iloc[:-1].to_parquet(train, index=False)
    refused = run("reproduce", f"{NAME}@1", "--yes")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    message = " ".join(refused.stderr.split())
    registry = _registry(root)
    try:
        recorded = json.loads(registry.get(f"{NAME}@1").tags["mlship.data"])["train"]
        kinds = [e.kind for e in registry.history(NAME)]
    finally:
        registry.close()
    assert "Refusing to reproduce fraud_detector@1" in message
    assert "data/train.parquet" in message and recorded["fingerprint"] in message
    assert "(3,999 rows)" in message
    assert kinds.count("reproduced") == 1


def test_reproduce_shows_the_recorded_command_and_asks_before_running_it(root: Path) -> None:
    """Check that the command read from the database is shown, refused without a terminal to
    confirm on, not run when declined, and run with --yes (the training writes a marker)."""
    script = root / "project" / "train.py"
    script.write_text(
        script.read_text().replace(
            "from pathlib import Path\n",
            "from pathlib import Path\n\nPath('trained.marker').touch()\n",
        )
    )
    marker = root / "project" / "trained.marker"
    run = _runner(root)
    refused = run("reproduce", f"{NAME}@1", "--json")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    message = " ".join(refused.stderr.split())
    assert f"Reproducing {NAME}@1 runs the command `python train.py --data {{data}}" in message
    assert "stdin is not a terminal" in message and "pass --yes to run it" in message
    assert refused.stdout == "" and not marker.exists()
    registry = _registry(root)
    try:
        assert "reproduced" not in [e.kind for e in registry.history(NAME)]
    finally:
        registry.close()
    declined = _declined_on_a_terminal(root, "reproduce", f"{NAME}@1")
    assert declined.returncode == 1, declined.stdout + declined.stderr
    assert "Run it? [y/N]" in declined.stderr and "Aborted" in declined.stderr
    assert not marker.exists()
    done = run("reproduce", f"{NAME}@1", "--yes", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["verdict"] == "identical" and marker.exists()
    assert f"Reproducing {NAME}@1 runs the command" in done.stderr


def test_the_provenance_of_a_run_cannot_be_edited(root: Path) -> None:
    registry = _registry(root)
    try:
        before = registry.get(f"{NAME}@1").tags
        assert {"mlship.run", "mlship.train", "mlship.config", "mlship.data"} <= set(before)
        evil = json.dumps({"command": "sh -c 'touch pwned'", "entry": None})
        for change in ({"mlship.train": evil}, {"mlship.config": None}):
            with pytest.raises(InvalidInput, match=r"is reserved: tags starting with 'mlship\.'"):
                registry.update(f"{NAME}@1", tags=change)
        assert registry.get(f"{NAME}@1").tags == before
    finally:
        registry.close()
    refused = _runner(root)(
        "models", "register", NAME, "model.skops", "--tag", f"mlship.train={evil}"
    )
    assert refused.returncode == 2
    assert "The tag 'mlship.train' is reserved" in refused.stderr


def test_an_entry_point_run_starts_a_canary_once_a_version_is_live(root: Path) -> None:
    """Check the API path: training by ``entry``, and a second deployment that is a canary."""
    _edit(root / "project", r"^command = .*$", 'entry = "train:fit"')
    environ = {"MLSHIP_HOME": str(root / "home"), "PATH": os.environ.get("PATH", "")}
    registry = Registry.from_env(environ)
    try:
        result = run_pipeline(
            registry, load_pipeline_config(root / "project" / "mlship.toml"), environ=environ
        )
        assert result.passed, [s.message for s in result.stages]
        assert (result.version, result.baseline, result.recorded) == (2, f"{NAME}@1", True)
        deployment = DeploymentStore(registry).get(NAME)
        assert deployment is not None
        assert (deployment.state, deployment.stable_version) == ("canary", 1)
        assert (deployment.candidate_version, deployment.traffic) == (2, 0.05)
        assert deployment.config["interval_s"] == 600
        assert "canary started: 5% of traffic on v2" in result.stages[-1].message
        training = json.loads(registry.get(f"{NAME}@2").tags["mlship.train"])
        assert (training["entry"], training["command"]) == ("train:fit", None)
    finally:
        registry.close()
