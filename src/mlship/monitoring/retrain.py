"""The retraining trigger: run a configured command or Python entry point when the monitor asks.

:meth:`Retrainer.trigger` starts the job in a child process watched by a background thread (the
monitor's loop never waits for it) and returns at once. Rules:

- **one at a time**: while a job runs (here, or in another process: a ``retrain_started`` event
  of the model without a ``retrain_finished`` after it, younger than ``timeout``), triggers are
  skipped;
- **cooldown**: a model retrained (started) less than ``cooldown`` ago is not retrained again;
  the time comes from the ledger, so the cooldown holds across restarts and for
  ``mlship monitor --once`` run from cron;
- **timeout**: a job running longer than ``timeout`` is terminated (then killed).

The child gets the environment of the monitor, less the webhook settings (secrets), plus
``MLSHIP_RETRAIN_MODEL``, ``MLSHIP_RETRAIN_VERSION`` (the serving version),
``MLSHIP_RETRAIN_REASON`` (one sentence) and ``MLSHIP_RETRAIN_KINDS`` (e.g.
``data_drift,metric_decay``). An entry point ``package.module:function`` is called in a child
Python as ``function(model=..., reason=...)``; it fails when it raises.

Every trigger is an event in the model's ledger: ``retrain_started`` (command, pid, log file),
``retrain_skipped`` (why; recorded once per job that causes it, not on every tick) and
``retrain_finished`` (exit code, seconds, timed out, and ``new_version`` when the job registered
a new version of the model). Checking, gating and deploying that version (check → gate →
canary) is the pipeline's job (``mlship run``), not the trigger's.

Example::

    retrainer = Retrainer(registry, command="python train.py", cooldown=timedelta(hours=6))
    retrainer.trigger("fraud", 3, "data drift in amount, country", kinds=("data_drift",))
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

from mlship.errors import ConfigError, MlshipError
from mlship.store import utcnow

if TYPE_CHECKING:
    from mlship.registry import Event, Registry

log = logging.getLogger(__name__)

SECRET_VARIABLES = ("MLSHIP_MONITOR_WEBHOOK", "MLSHIP_MONITOR_SLACK_WEBHOOK")
"""Variables not passed to the retraining job."""
_ENTRY_POINT = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")
_CALL_ENTRY_POINT = (
    "import importlib, os, sys\n"
    "module, _, name = sys.argv[1].partition(':')\n"
    "target = importlib.import_module(module)\n"
    "for part in name.split('.'):\n"
    "    target = getattr(target, part)\n"
    "target(model=os.environ['MLSHIP_RETRAIN_MODEL'], reason=os.environ['MLSHIP_RETRAIN_REASON'])\n"
)
_KILL_AFTER_S = 10.0


@dataclass(frozen=True, slots=True)
class RetrainOutcome:
    """What a trigger did: ``started`` a job, or ``skipped`` it (``why``: cooldown, running)."""

    model: str
    action: Literal["started", "skipped"]
    why: str | None = None


@dataclass(slots=True)
class _Job:
    model: str
    version: int
    started: datetime
    process: subprocess.Popen[bytes]
    log_file: Path | None
    before: int | None
    thread: threading.Thread | None = None


class Retrainer:
    """Run ``command`` (or ``entry_point``) to retrain a model; see the module docstring.

    Parameters
    ----------
    registry:
        Where the ledger events go, and where the new version is looked for.
    command:
        A command line (split like a POSIX shell, no shell features) or an argument list.
    entry_point:
        ``package.module:function`` instead of a command.
    cooldown:
        Least time between two retrainings of one model.
    timeout:
        Longest a job may run.
    log_dir:
        The job's output goes to ``log_dir/<model>-<time>.log``; None: the monitor's own.
    environ:
        The environment the job starts from (default: this process's).
    clock:
        The time now (tests inject one).
    """

    def __init__(
        self,
        registry: Registry,
        *,
        command: str | Sequence[str] | None = None,
        entry_point: str | None = None,
        cooldown: timedelta = timedelta(hours=6),
        timeout: timedelta = timedelta(hours=2),
        log_dir: Path | None = None,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if (command is None) == (entry_point is None):
            raise ConfigError(
                "A retrainer needs a command or an entry point, not both: e.g. "
                "--retrain-command 'python train.py' or --retrain-entry-point 'train:main'."
            )
        if command is not None:
            argv = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
            if not argv:
                raise ConfigError("The 'retrain_command' option must not be empty.")
        else:
            assert entry_point is not None
            if not _ENTRY_POINT.fullmatch(entry_point):
                raise ConfigError(
                    "The 'retrain_entry_point' option must be module:function, e.g. "
                    f"'mypackage.train:retrain'. Got {entry_point!r} instead."
                )
            argv = [sys.executable, "-c", _CALL_ENTRY_POINT, entry_point]
        for name, value in (("cooldown", cooldown), ("timeout", timeout)):
            if value < timedelta(0) or (name == "timeout" and value == timedelta(0)):
                raise ConfigError(
                    f"The 'retrain_{name}' option must be a positive duration. Got {value}."
                )
        self.registry = registry
        self.argv: tuple[str, ...] = tuple(argv)
        self.described = command if isinstance(command, str) else shlex.join(argv)
        if entry_point is not None:
            self.described = entry_point
        self.cooldown = cooldown
        self.timeout = timeout
        self.log_dir = log_dir
        self._environ = environ
        self._clock = clock
        self._lock = threading.Lock()
        self._job: _Job | None = None
        self._skipped_for: dict[str, datetime] = {}
        self.finished: list[dict[str, Any]] = []
        """``retrain_finished`` details of the jobs this retrainer ran, in order."""

    @property
    def running(self) -> str | None:
        """The model being retrained by this retrainer, if any."""
        job = self._job
        return job.model if job is not None else None

    def trigger(
        self, model: str, version: int, reason: str, *, kinds: Iterable[str] = ()
    ) -> RetrainOutcome:
        """Start retraining ``model`` unless a job runs or the cooldown holds; never waits."""
        kinds = tuple(kinds)
        now = self._clock()
        with self._lock:
            history = self.registry.history(model)
            started = _last(history, "retrain_started")
            finished = _last(history, "retrain_finished")
            why: str | None = None
            cause = started.at if started is not None else None
            if self._job is not None:
                why = f"a retraining of {self._job.model} is running"
                cause = self._job.started
            elif (
                started is not None
                and (finished is None or finished.id < started.id)
                and now - started.at < self.timeout
            ):
                why = f"a retraining of {model} started at {started.at:%H:%M:%S} is running"
            elif started is not None and now - started.at < self.cooldown:
                why = f"cooldown: {model} was retrained at {started.at:%Y-%m-%d %H:%M:%S} UTC"
            if why is not None:
                assert cause is not None
                self._skipped(model, version, why, cause, history)
                return RetrainOutcome(model, "skipped", why)
            self._start(model, version, reason, kinds, now)
            return RetrainOutcome(model, "started")

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the running job (and its ledger event); True when none is left running."""
        job = self._job
        thread = job.thread if job is not None else None
        if thread is not None:
            thread.join(timeout)
        return self._job is None

    def close(self) -> None:
        """Stop watching: a running job is left to finish on its own (and is not recorded)."""
        job = self._job
        if job is not None:
            log.warning(
                "Retraining of %s (pid %d) still running; its outcome will not be recorded.",
                job.model,
                job.process.pid,
            )

    # ------------------------------------------------------------------------------ the job

    def _start(
        self, model: str, version: int, reason: str, kinds: tuple[str, ...], now: datetime
    ) -> None:
        env = {
            k: v
            for k, v in (os.environ if self._environ is None else self._environ).items()
            if k not in SECRET_VARIABLES
        }
        env.update(
            MLSHIP_RETRAIN_MODEL=model,
            MLSHIP_RETRAIN_VERSION=str(version),
            MLSHIP_RETRAIN_REASON=reason,
            MLSHIP_RETRAIN_KINDS=",".join(kinds),
        )
        log_file: Path | None = None
        output: IO[bytes] | None = None
        if self.log_dir is not None:
            log_file = self.log_dir / f"{model}-{now:%Y%m%dT%H%M%SZ}.log"
            log_file.parent.mkdir(parents=True, exist_ok=True)
            output = open(log_file, "ab")  # closed by the watcher thread
        before = self._latest(model)
        try:
            process = subprocess.Popen(
                self.argv, env=env, stdout=output, stderr=subprocess.STDOUT if output else None
            )
        except OSError as exc:
            if output is not None:
                output.close()
            details = {"command": self.described, "error": f"{type(exc).__name__}: {exc}"}
            self._record(model, version, "retrain_failed", f"cannot start: {exc}", details)
            raise ConfigError(
                f"Cannot start the retraining command {self.described!r}: {exc.strerror or exc}."
            ) from None
        job = _Job(model, version, now, process, log_file, before)
        self._record(
            model,
            version,
            "retrain_started",
            reason,
            {
                "command": self.described,
                "pid": process.pid,
                "kinds": list(kinds),
                "log": str(log_file) if log_file is not None else None,
                "cooldown_s": self.cooldown.total_seconds(),
            },
        )
        log.warning("Retraining %s (%s): started %s", model, reason, self.described)
        job.thread = threading.Thread(
            target=self._watch, args=(job, output), name=f"mlship-retrain-{model}", daemon=True
        )
        self._job = job
        job.thread.start()

    def _watch(self, job: _Job, output: IO[bytes] | None) -> None:
        began = time.monotonic()
        timed_out = False
        try:
            try:
                code = job.process.wait(self.timeout.total_seconds())
            except subprocess.TimeoutExpired:
                timed_out = True
                job.process.terminate()
                try:
                    code = job.process.wait(_KILL_AFTER_S)
                except subprocess.TimeoutExpired:
                    job.process.kill()
                    code = job.process.wait()
            after = self._latest(job.model)
            grew = after is not None and (job.before is None or after > job.before)
            new = after if grew else None
            details = {
                "command": self.described,
                "exit_code": code,
                "timed_out": timed_out,
                "seconds": round(time.monotonic() - began, 3),
                "new_version": new,
                "log": str(job.log_file) if job.log_file is not None else None,
            }
            outcome = "timed out" if timed_out else f"exit code {code}"
            if new is not None:
                outcome += f", registered {job.model}@{new}"
            self._record(job.model, job.version, "retrain_finished", outcome, details)
            self.finished.append(details)
            level = logging.WARNING if code == 0 and not timed_out else logging.ERROR
            log.log(level, "Retraining %s finished: %s", job.model, outcome)
        except Exception as exc:  # the watcher must always clear the job
            log.error("Watching the retraining of %s failed: %s", job.model, exc)
        finally:
            if output is not None:
                output.close()
            with self._lock:
                self._job = None

    def _skipped(
        self, model: str, version: int, why: str, cause: datetime, history: Sequence[Event]
    ) -> None:
        """Record a skip once per job that causes it (the job's start time ``cause``), not on
        every tick of a long drift, nor again after a restart."""
        if self._skipped_for.get(model) == cause:
            return
        already = any(e.kind == "retrain_skipped" and e.at >= cause for e in history)
        self._skipped_for[model] = cause
        if not already:
            self._record(model, version, "retrain_skipped", why, {"why": why})
        log.info("Retraining %s skipped: %s", model, why)

    def _latest(self, model: str) -> int | None:
        try:
            return self.registry.resolve(f"{model}@latest")[1]
        except MlshipError:
            return None

    def _record(
        self, model: str, version: int, kind: str, reason: str, details: dict[str, Any]
    ) -> None:
        try:
            self.registry.record_event(model, kind, version=version, reason=reason, details=details)
        except Exception as exc:  # the ledger being down must not kill the job's watcher
            log.error("Cannot record %s of %s in the ledger: %s", kind, model, exc)


def _last(history: Sequence[Event], kind: str) -> Event | None:
    return next((e for e in reversed(history) if e.kind == kind), None)
