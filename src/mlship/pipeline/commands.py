"""Running a project's commands (its tests, its training) as ``mlship run`` does: in the project
folder, with mlship's Python first on ``PATH``, the output kept in a log file and its tail kept
for the report.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

TAIL_LINES = 30


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    """How a command ended: its exit code (None: it did not start or timed out) and output."""

    command: str
    returncode: int | None
    output: str
    duration_s: float
    problem: str | None = None
    """Why it did not run to an end (not found, timed out), else None."""

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def tail(self, lines: int = TAIL_LINES) -> str:
        """The last ``lines`` lines of the output."""
        return "\n".join(self.output.rstrip().splitlines()[-lines:])

    def describe(self) -> str:
        """``pytest -q tests`` exited with 1 / timed out / could not start."""
        if self.problem is not None:
            return f"`{self.command}` {self.problem}"
        return f"`{self.command}` exited with {self.returncode}"


def command_environment(
    environ: Mapping[str, str] | None = None, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment of a project command: ``PATH`` starts with the folder of the Python that
    runs mlship (so ``python`` and ``pytest`` are the project's), ``PYTHONHASHSEED`` is 0 unless
    set (reproducible training), plus ``extra``."""
    env = dict(os.environ if environ is None else environ)
    env["PATH"] = os.pathsep.join(
        p for p in (str(Path(sys.executable).parent), env.get("PATH", "")) if p
    )
    env.setdefault("PYTHONHASHSEED", "0")
    env.update(extra or {})
    return env


def run_command(
    command: str | list[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    log: Path | None = None,
    timeout_s: float | None = None,
) -> CommandOutcome:
    """Run ``command`` (a string is split like a shell would, without a shell) in ``cwd``."""
    argv = shlex.split(command) if isinstance(command, str) else list(command)
    shown = command if isinstance(command, str) else shlex.join(command)
    clock = time.perf_counter()
    try:
        done = subprocess.run(
            argv,
            cwd=cwd,
            env=dict(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            timeout=timeout_s,
            check=False,
        )
    except FileNotFoundError:
        return CommandOutcome(
            shown,
            None,
            "",
            time.perf_counter() - clock,
            f"could not start: {argv[0]!r} was not found on PATH",
        )
    except subprocess.TimeoutExpired as exc:
        output = exc.output if isinstance(exc.output, str) else ""
        _write(log, output)
        return CommandOutcome(
            shown, None, output, time.perf_counter() - clock, f"timed out after {timeout_s:g} s"
        )
    _write(log, done.stdout)
    return CommandOutcome(shown, done.returncode, done.stdout, time.perf_counter() - clock)


def _write(log: Path | None, text: str) -> None:
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(text, encoding="utf-8")
