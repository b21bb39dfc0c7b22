"""The prediction log: every prediction written to the store in batches, off the request path.

Once the log is started, :meth:`PredictionLog.record` writes ahead: it serializes the record
(one ``orjson.dumps``) and copies the line into the memory-mapped spill journal before it
returns, so a request is answered only once its record is in the page cache and a ``kill -9`` of
the process loses none. The store writer runs in a process of its own
(:mod:`mlship.serving.log_writer`), so that nothing of it holds this process's GIL::

    record() ──> spill journal (mapped segment, in order)
                     └──[writer process: tails the journal]──> one INSERT a batch ──> table
                                   └── progress, log records ──> this process (a relay thread)

The writer fsyncs the journal every second (a crash of the machine loses at most that), reads
batches from where the store's copy ends, and moves the journal's checkpoint after each INSERT;
while the store is down, records wait on disk, in order, and memory stays bounded. Records given
to :meth:`record` before :meth:`start` wait in memory (up to ``max_queue``) and are journaled by
:meth:`start`. A new log on the same folder writes what an earlier process left, and logs how
many records it knows to be lost.

>>> import tempfile
>>> from pathlib import Path
>>> from mlship.store import open_store, utcnow
>>> folder = Path(tempfile.mkdtemp())
>>> store = open_store(f"sqlite:///{folder / 'mlship.db'}")
>>> with PredictionLog(store, folder / "spill") as plog:
...     plog.record(PredictionRecord("r-1", utcnow(), "fraud", 1, "stable", [{"x": 1}], [0], 1.5))
>>> plog.written
1
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import orjson

from mlship.options import invalid
from mlship.serving.log_status import UNKNOWN_MODEL, LogStatus, StatusFile, take_status
from mlship.serving.log_writer import (
    ABORT,
    STOP,
    WAKE,
    BacklogSlot,
    LogWriter,
    QueueChannel,
    WriterSettings,
)
from mlship.serving.prediction_record import PredictionRecord, encode
from mlship.serving.spill import Position, SpillJournal, checkpoint_cursor
from mlship.store import Store, utcnow

__all__ = ["PredictionLog", "PredictionRecord"]

log = logging.getLogger(__name__)

_RESTART_AFTER_S = 1.0
_MAX_RESTART_AFTER_S = 30.0
_KILL_AFTER_S = 3.0
# A journal that cannot grow (the disk is full) is tried again after this, doubling to the most.
_RETRY_FIRST_S = 0.05
_RETRY_MOST_S = 1.0
_STATUS_EVERY_S = 1.0

OnFull = Literal["answer", "refuse"]


@dataclass(slots=True)
class _DiskFull:
    """Since when the journal cannot grow, and when to try again."""

    since: datetime
    started: float
    retry_at: float
    backoff: float = _RETRY_FIRST_S
    memory_full_warned: bool = False


class PredictionLog:
    """Write prediction records to the store asynchronously, spilling to ``spill_dir``.

    Parameters
    ----------
    store:
        Where the ``predictions`` table is.
    spill_dir:
        Folder of the journal; each live log takes its own ``slot-N`` in it.
    batch_size:
        Most records per INSERT.
    flush_interval_s:
        Longest the writer waits before it takes a batch that is not full.
    max_queue:
        Most records kept in memory: before :meth:`start`, and while the disk is full (the
        journal cannot reserve a new segment). Beyond, a record is lost (counted per model) or,
        with ``on_full="refuse"``, :meth:`record` says so and the server answers 503. Once
        started and while the disk has room, records go straight to disk.
    segment_bytes:
        Size at which a journal segment is closed and a new one started.
    fsync_interval_s:
        How often the journal is fsynced (None: never; a process crash loses nothing written).
    writer_process:
        Run the store writer in its own process (default), or in a thread of this one (the
        default for a store in memory, which another process cannot open).
    on_full:
        ``"answer"`` (default): when the disk is full and memory too, records are lost, counted
        and reported, and requests are still answered. ``"refuse"``: :meth:`record` returns
        False instead, and the request is not answered (503): no answered request is missing
        from the log.
    """

    def __init__(
        self,
        store: Store,
        spill_dir: Path,
        *,
        batch_size: int = 1000,
        flush_interval_s: float = 0.2,
        max_queue: int = 50_000,
        segment_bytes: int = 8 << 20,
        fsync_interval_s: float | None = 1.0,
        writer_process: bool | None = None,
        on_full: OnFull = "answer",
    ) -> None:
        for name, value, ok, must in [
            ("on_full", on_full, on_full in ("answer", "refuse"), "'answer' or 'refuse'"),
            ("batch_size", batch_size, isinstance(batch_size, int) and batch_size >= 1, ">= 1"),
            ("flush_interval_s", flush_interval_s, 0 < flush_interval_s <= 1, "in (0, 1]"),
            ("max_queue", max_queue, isinstance(max_queue, int) and max_queue >= 1, ">= 1"),
            ("segment_bytes", segment_bytes, segment_bytes >= 1, ">= 1"),
        ]:
            if not ok:
                raise invalid(name, must, value)
        self._store = store
        self._batch_size = batch_size
        self._interval = flush_interval_s
        self._fsync_interval = fsync_interval_s
        self._max_queue = max_queue
        database = store.engine.url.database or ""
        in_memory = store.dialect == "sqlite" and database in ("", ":memory:")
        self._in_process = not writer_process if writer_process is not None else in_memory
        self._journal = SpillJournal(
            spill_dir,
            segment_bytes=segment_bytes,
            fsync_interval_s=fsync_interval_s,
            verify_window=batch_size,
        )
        self._on_full = on_full
        self._queue: deque[PredictionRecord] = deque()
        self._held: deque[tuple[str, bytes]] = deque()  # (model, line) a full disk refused
        self._full: _DiskFull | None = None
        self._lost_models: Counter[str] = Counter()  # this process's losses (the writer's apart)
        self._refused = 0
        self._status: StatusFile | None = None
        self._status_at = 0.0
        self._retrier: threading.Thread | None = None
        self._append_lock = threading.Lock()  # record() appends, close() seals
        self._lock = threading.Lock()  # the lost counter, written by more than one thread
        self._progress = threading.Condition()  # the writer's reports
        self._send_lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._channel: QueueChannel | None = None
        self._relay: threading.Thread | None = None
        self._started = self._closed = self._stopping = self._aborted = False
        self._done = False
        self._cursor = Position(0, 0, 0)
        self._taken = self._recovered = 0
        # The writer's counters: those of writers that ended, and of the running one.
        self._ended = {"written": 0, "lost": 0, "spilled": 0}
        self._running = dict(self._ended)
        self._ended_models: Counter[str] = Counter()  # the writers' lost records, per model
        self._running_models: dict[str, int] = {}
        self._ended_backlog = self._running_backlog = 0  # backlog lines the writers consumed

    # ------------------------------------------------------------------------- hot path

    def record(self, rec: PredictionRecord, *, refusable: bool = True) -> bool:
        """Log ``rec``: once started, on disk before this returns; never raises.

        Before :meth:`start`, and while the disk is full, the record waits in memory (up to
        ``max_queue``). Returns False when the record could not be kept: it is counted lost
        (logged once), or with ``on_full="refuse"`` counted refused, for the caller to refuse
        the request. A record whose request is not refused when it cannot be kept (an error, a
        shadow copy) is ``refusable=False``: it is counted lost instead."""
        if not self._started:
            if len(self._queue) >= self._max_queue or self._closed:
                self._refuse(rec.model)
                return False
            self._queue.append(rec)
            return True
        line = self._encoded(rec)
        if line is None:
            return True  # a record mlship cannot serialize is a bug, not the client's to pay
        with self._append_lock:
            if self._closed:
                self._refuse(rec.model)
                return False
            if self._full is not None:  # the retrier journals what is held, in order
                return self._hold(line, rec.model, refusable)
            try:
                self._journal.append((line,))
            except OSError as exc:  # NoSpace, or another I/O error: never fail the request
                self._disk_full(exc)
                return self._hold(line, rec.model, refusable)
            self._taken += 1
            return True

    def _encoded(self, rec: PredictionRecord) -> bytes | None:
        """``rec``'s spill line; None (counted lost, logged) if it cannot be serialized."""
        try:
            return encode(rec)
        except Exception:
            log.exception("Prediction log: cannot serialize request %r", rec.request_id)
            self._count_lost(rec.model, 1)
            return None

    def _refuse(self, model: str) -> None:
        lost = self._count_lost(model, 1)
        if lost == 1 or lost % 10_000 == 0:
            reason = "closed" if self._closed else f"full ({self._max_queue:,} records in memory)"
            log.warning("Prediction log %s: %d record(s) lost so far.", reason, lost)

    def _count_lost(self, model: str, count: int) -> int:
        """Count ``count`` records of ``model`` lost; how many this process has lost so far."""
        with self._lock:
            self._lost_models[model] += count
            return self._lost_models.total()

    # ------------------------------------------------------------------------- a full disk

    def _disk_full(self, exc: OSError) -> None:
        """The journal cannot grow: say so once, then keep records in memory and retry."""
        now = time.monotonic()
        self._full = _DiskFull(utcnow(), now, now + _RETRY_FIRST_S)
        if self._retrier is None or not self._retrier.is_alive():
            # Off the request path, and also when traffic has stopped.
            self._retrier = threading.Thread(
                target=self._retry_until_room, name="mlship-plog-retry", daemon=True
            )
            self._retrier.start()
        log.warning(
            "Prediction log: the disk is full: %s. Records are kept in memory (up to %s) and "
            "journaled when space returns; beyond that they are lost and counted "
            "(mlship_prediction_log_lost_total, /readyz).",
            exc,
            f"{self._max_queue:,}",
        )
        self._write_status(force=True)

    def _retry_until_room(self) -> None:
        """Keep trying to journal the held records until there is room or the log closes."""
        while True:
            full = self._full
            if full is None or self._closed:
                return
            time.sleep(max(0.0, full.retry_at - time.monotonic()) + 0.001)
            with self._append_lock:
                if self._full is None or self._closed or self._retry_full():
                    return

    def _hold(self, line: bytes, model: str, refusable: bool = True) -> bool:
        """Keep ``line`` in memory while the disk is full; False when memory is full too."""
        full = self._full
        assert full is not None
        if len(self._held) < self._max_queue:
            self._held.append((model, line))
            self._write_status()
            return True
        if not full.memory_full_warned:
            full.memory_full_warned = True
            log.warning(
                "Prediction log: the disk is still full and %s records wait in memory: new "
                "records are %s until space returns.",
                f"{len(self._held):,}",
                "refused (503)" if self._on_full == "refuse" else "lost (counted)",
            )
        if self._on_full == "refuse" and refusable:
            with self._lock:
                self._refused += 1
        else:
            self._count_lost(model, 1)
        self._write_status()
        return False

    def _retry_full(self, *, now: bool = False) -> bool:
        """Try to journal the records held in memory (when the backoff allows, or ``now``);
        True once they all are and the disk has room again."""
        full = self._full
        assert full is not None
        clock = time.monotonic()
        if not now and clock < full.retry_at:
            return False
        held = self._held
        while held:
            chunk = [held[i][1] for i in range(min(len(held), self._batch_size))]
            try:
                self._journal.append(chunk)
            except OSError:
                full.backoff = min(_RETRY_MOST_S, full.backoff * 2)
                full.retry_at = clock + full.backoff
                return False
            for _ in chunk:
                held.popleft()
            self._taken += len(chunk)
        self._full = None
        with self._lock:
            lost = self._lost_models.total()
        log.warning(
            "Prediction log: the disk has room again after %.1f s; the records kept in memory "
            "are journaled (%d record(s) lost so far).",
            clock - full.started,
            lost,
        )
        self._write_status(force=True)
        return True

    def _write_status(self, *, force: bool = False) -> None:
        """Rewrite the slot's status file (at most once a second unless ``force``)."""
        status_file = self._status
        if status_file is None:
            return
        clock = time.monotonic()
        if not force and clock - self._status_at < _STATUS_EVERY_S:
            return
        self._status_at = clock
        status_file.write(self.status())

    def status(self) -> LogStatus:
        """This log's state: disk full since when, records held in memory, lost, refused."""
        full = self._full
        with self._lock:
            lost = dict(self._lost_models)
            refused = self._refused
        with self._progress:
            writers = self._ended_models + Counter(self._running_models)
        for model, count in writers.items():
            lost[model] = lost.get(model, 0) + count
        detail = ""
        if full is not None:
            detail = (
                f"disk full since {full.since:%Y-%m-%d %H:%M:%S} UTC: {len(self._held):,} "
                f"record(s) in memory, {sum(lost.values()):,} lost"
            )
        return LogStatus(
            folder=self._journal.folder if self._started else Path(),
            pid=os.getpid(),
            updated=utcnow(),
            disk_full_since=None if full is None else full.since,
            held=len(self._held),
            lost={k: v for k, v in lost.items() if v},
            refused=refused,
            detail=detail,
        )

    @property
    def refusing(self) -> bool:
        """Whether the next record would be refused (``on_full="refuse"``, disk and memory full)."""
        return (
            self._on_full == "refuse"
            and self._full is not None
            and len(self._held) >= self._max_queue
        )

    # ------------------------------------------------------------------------- life cycle

    def start(self) -> PredictionLog:
        """Open the spill folder, recover what an earlier process left there, start the writer."""
        if self._started:
            return self
        journal = self._journal
        recovery = journal.open()
        self._cursor = recovery.cursor
        self._recovered = recovery.records
        self._count_lost(UNKNOWN_MODEL, recovery.torn)
        for folder in [*(b.folder for b in recovery.backlog), journal.folder]:
            self._report_previous(folder)
        self._status = StatusFile(journal.folder)
        if recovery.torn:
            log.warning(
                "Prediction log: %d record(s) lost in a crash (torn lines in %s).",
                recovery.torn,
                journal.folder,
            )
        for slot in recovery.backlog:
            log.info(
                "Prediction log: writing %d record(s) left in %s to the store, alongside the "
                "new records.",
                slot.records,
                slot.folder,
            )
        self._journal_queued()
        self._write_status(force=True)
        settings = WriterSettings(
            folder=journal.folder,
            cursor=recovery.cursor,
            first_active=journal.first_active,
            batch_size=self._batch_size,
            interval_s=self._interval,
            fsync_interval_s=self._fsync_interval,
            verify_until=None,
            backlog=tuple(
                BacklogSlot(b.folder, b.cursor, b.verify_until) for b in recovery.backlog
            ),
        )
        self._launch(settings)
        self._started = True
        return self

    def _report_previous(self, folder: Path) -> None:
        """Log what the last server on this slot lost (it wrote it in the slot's status)."""
        previous = take_status(folder)
        if previous is not None and previous.held:  # it died holding them: no clean close
            log.warning(
                "Prediction log: the last server on %s (pid %d) died while the disk was full, "
                "with %s record(s) in memory at its last status (%s UTC): they are lost.",
                folder,
                previous.pid,
                f"{previous.held:,}",
                f"{previous.updated:%Y-%m-%d %H:%M:%S}",
            )
        if previous is None or not (previous.lost_total or previous.refused):
            return
        lost = ", ".join(f"{n:,} of {model}" for model, n in sorted(previous.lost.items()))
        log.warning(
            "Prediction log: the last server on %s (pid %d, until %s UTC) lost %s record(s)%s "
            "and refused %s request(s).",
            folder,
            previous.pid,
            f"{previous.updated:%Y-%m-%d %H:%M:%S}",
            f"{previous.lost_total:,}",
            f" ({lost})" if lost else "",
            f"{previous.refused:,}",
        )

    def _journal_queued(self) -> None:
        """Write the records given before start() to the journal (or hold them: disk full)."""
        queue = self._queue
        records = [queue.popleft() for _ in range(len(queue))]
        for first in range(0, len(records), self._batch_size):
            chunk = records[first : first + self._batch_size]
            encoded = [(rec.model, self._encoded(rec)) for rec in chunk]
            pairs = [(model, line) for model, line in encoded if line is not None]
            if not pairs:
                continue
            if self._full is None:
                try:
                    self._journal.append([line for _, line in pairs])
                except OSError as exc:
                    self._disk_full(exc)
                else:
                    self._taken += len(pairs)
                    continue
            for model, line in pairs:
                self._hold(line, model)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every record queued before the call is in the store (False: timed out)."""
        if not self._started or self._closed:
            return self.queue_depth == 0
        with self._append_lock:
            held = self._full is not None and not self._retry_full(now=True)
            end = self._journal.end
        self._send(WAKE)
        with self._progress:
            return self._progress.wait_for(lambda: self._cursor >= end, timeout) and not held

    def close(self, timeout: float = 30.0) -> bool:
        """Write everything to the store (waiting up to ``timeout`` for it) and stop the writer.

        What the store did not take in time stays in the spill folder for the next start; returns
        whether everything reached the store.
        """
        with self._append_lock:
            if self._closed:
                return self.queue_depth == 0
            if self._started and self._full is not None and not self._retry_full(now=True):
                self._drop_held()
            self._closed = True
            if self._started:
                self._journal.seal()
        if not self._started:
            self._drop_queued("closed before it started")
            return True
        if self._retrier is not None:
            self._retrier.join()
        with self._progress:
            self._stopping = True
        self._send(STOP)
        relay = self._relay
        assert relay is not None
        relay.join(timeout)
        if relay.is_alive():
            with self._progress:
                self._aborted = True
            self._send(ABORT)
            relay.join(_KILL_AFTER_S)
            if relay.is_alive() and self._proc is not None:
                self._proc.kill()
            relay.join()
        if self._status is not None:  # before the slot is released: the next server reads it
            self._write_status(force=True)
            self._status.close()
        self._journal.release(self._cursor)
        left = self.queue_depth
        if left:
            log.warning(
                "Prediction log closed with %d record(s) not yet in the store; they stay in %s "
                "and are written at the next start.",
                left,
                self._journal.folder,
            )
        return left == 0

    def __enter__(self) -> PredictionLog:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _drop_held(self) -> None:
        """Closing while the disk is still full: the records in memory are lost, counted."""
        count = len(self._held)
        for model, _ in self._held:
            self._count_lost(model, 1)
        self._held.clear()
        log.warning(
            "Prediction log: closing while the disk is full: %d record(s) kept in memory are lost.",
            count,
        )

    def _drop_queued(self, reason: str) -> None:
        with self._lock:
            count = len(self._queue)
            self._lost_models.update(rec.model for rec in self._queue)
            self._queue.clear()
        if count:
            log.warning("Prediction log %s: %d queued record(s) lost.", reason, count)

    # ------------------------------------------------------------------------- the writer

    def _launch(self, settings: WriterSettings) -> None:
        if self._in_process:
            channel = QueueChannel(self._on_report)
            writer = LogWriter(self._store, settings)
            self._channel = channel
            self._relay = threading.Thread(
                target=self._run_thread, args=(writer, channel), name="mlship-plog-write"
            )
        else:
            proc = self._spawn(settings)
            self._relay = threading.Thread(
                target=self._run_process, args=(proc, settings), name="mlship-plog-relay"
            )
        self._relay.daemon = True
        self._relay.start()

    def _run_thread(self, writer: LogWriter, channel: QueueChannel) -> None:
        try:
            writer.run(channel)
        except Exception:
            log.exception("Prediction log: the store writer failed")

    def _spawn(self, settings: WriterSettings) -> subprocess.Popen[bytes]:
        """Start a writer process and send it its settings (and "stop" if the log is closing)."""
        db_url = self._store.engine.url.render_as_string(hide_password=False)
        proc = subprocess.Popen(
            [sys.executable, "-m", "mlship.serving.log_writer"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        with self._send_lock:
            self._proc = proc
            assert proc.stdin is not None
            try:
                proc.stdin.write(settings.to_json(db_url))
                if self._stopping:
                    proc.stdin.write(STOP.encode() + b"\n")
                proc.stdin.flush()
            except OSError:  # it died at once: the relay sees it end
                pass
        return proc

    def _run_process(self, proc: subprocess.Popen[bytes], settings: WriterSettings) -> None:
        """Relay the writer process's reports; start a new one if it dies."""
        delay = _RESTART_AFTER_S
        while True:
            assert proc.stdout is not None
            reported = False
            for line in proc.stdout:
                self._on_report(orjson.loads(line))
                reported = True
            code = proc.wait()
            with self._send_lock:  # no command is written to a closed pipe
                for pipe in (proc.stdin, proc.stdout):
                    if pipe is not None:
                        with contextlib.suppress(OSError):
                            pipe.close()
            with self._progress:
                for key, value in self._running.items():
                    self._ended[key] += value
                    self._running[key] = 0
                self._ended_models.update(self._running_models)
                self._running_models = {}
                self._ended_backlog += self._running_backlog
                self._running_backlog = 0
                if self._done or self._aborted:
                    return
                cursor = self._cursor
            # One that cannot even start (a broken environment) is retried less and less often.
            delay = _RESTART_AFTER_S if reported else min(_MAX_RESTART_AFTER_S, delay * 2)
            log.error(
                "Prediction log: the store writer process exited (code %s); starting a new one "
                "in %.0f s. Records wait in %s meanwhile.",
                code,
                delay,
                settings.folder,
            )
            time.sleep(delay)
            with self._progress:
                if self._aborted:  # closed while waiting: what is left stays on disk
                    return
            # The batch after the last checkpoint may be in the store already: check it.
            settings = replace(
                settings,
                cursor=cursor,
                verify_until=Position(cursor.segment, cursor.line + self._batch_size),
                backlog=tuple(
                    BacklogSlot(b.folder, *checkpoint_cursor(b.folder, self._batch_size))
                    for b in settings.backlog
                ),
            )
            proc = self._spawn(settings)

    def _on_report(self, message: dict[str, Any]) -> None:
        if "log" in message:
            name, level, text = message["log"]
            logging.getLogger(name).log(level, "%s", text)
            return
        with self._progress:
            if message.get("done"):
                self._done = True
            else:
                self._cursor = Position(*message["cursor"])
                for key in self._running:
                    self._running[key] = message[key]
                self._running_models = message.get("lost_models", {})
                self._running_backlog = message.get("backlog_read", 0)
            self._progress.notify_all()

    def _send(self, command: str) -> None:
        if self._channel is not None:
            self._channel.commands.put(command)
            return
        with self._send_lock:
            proc = self._proc
            if proc is None or proc.stdin is None:
                return
            try:
                proc.stdin.write(command.encode() + b"\n")
                proc.stdin.flush()
            except (OSError, ValueError):  # the writer is gone; the relay starts a new one
                pass

    # ------------------------------------------------------------------------- statistics

    def _count(self, key: str) -> int:
        with self._progress:
            return self._ended[key] + self._running[key]

    @property
    def queued(self) -> int:
        """Records accepted by :meth:`record`."""
        return self._taken + len(self._queue) + len(self._held)

    @property
    def written(self) -> int:
        """Records inserted into the store."""
        return self._count("written")

    @property
    def spilled(self) -> int:
        """Records the store writer read while it was behind (a full batch or more waited on
        disk: the store was slow or down), not counting those :attr:`recovered`."""
        return self._count("spilled")

    @property
    def lost(self) -> int:
        """Records known to be lost: memory full (before start, or while the disk is full),
        torn in a crash, refused by the store, unreadable."""
        with self._lock:
            return self._lost_models.total() + self._count("lost")

    @property
    def recovered(self) -> int:
        """Records an earlier process left in the spill folder."""
        return self._recovered

    @property
    def queue_depth(self) -> int:
        """Records waiting for the store, in memory or on disk."""
        if not self._started:
            return len(self._queue)
        with self._progress:
            cursor = self._cursor
            backlog = self._recovered - self._ended_backlog - self._running_backlog
        return self._journal.pending(cursor) + len(self._held) + max(0, backlog)

    @property
    def held(self) -> int:
        """Records kept in memory because the disk is full."""
        return len(self._held)

    @property
    def refused(self) -> int:
        """Records not kept, whose requests were refused instead (``on_full="refuse"``)."""
        with self._lock:
            return self._refused

    @property
    def writer_pid(self) -> int | None:
        """The store writer's process id (None before start, or when it runs as a thread)."""
        proc = self._proc
        return None if proc is None else proc.pid

    @property
    def spill_folder(self) -> Path:
        """The slot of the spill folder this log uses (after :meth:`start`)."""
        return self._journal.folder
