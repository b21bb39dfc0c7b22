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

import logging
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson

from mlship.errors import ConfigError
from mlship.serving.log_writer import (
    ABORT,
    STOP,
    WAKE,
    LogWriter,
    QueueChannel,
    WriterSettings,
)
from mlship.serving.prediction_record import PredictionRecord, encode
from mlship.serving.spill import Position, SpillJournal
from mlship.store import Store

__all__ = ["PredictionLog", "PredictionRecord"]

log = logging.getLogger(__name__)

_RESTART_AFTER_S = 1.0
_MAX_RESTART_AFTER_S = 30.0
_KILL_AFTER_S = 10.0


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
        Most records :meth:`record` keeps in memory before :meth:`start`; beyond, they are
        counted as lost. Once started, records go straight to disk.
    segment_bytes:
        Size at which a journal segment is closed and a new one started.
    fsync_interval_s:
        How often the journal is fsynced (None: never; a process crash loses nothing written).
    writer_process:
        Run the store writer in its own process (default), or in a thread of this one (the
        default for a store in memory, which another process cannot open).
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
    ) -> None:
        for name, value, ok, must in [
            ("batch_size", batch_size, isinstance(batch_size, int) and batch_size >= 1, ">= 1"),
            ("flush_interval_s", flush_interval_s, 0 < flush_interval_s <= 1, "in (0, 1]"),
            ("max_queue", max_queue, isinstance(max_queue, int) and max_queue >= 1, ">= 1"),
            ("segment_bytes", segment_bytes, segment_bytes >= 1, ">= 1"),
        ]:
            if not ok:
                raise ConfigError(f"The {name!r} option must be {must}. Got {value!r} instead.")
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
        self._queue: deque[PredictionRecord] = deque()
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
        self._taken = self._lost = self._recovered = 0
        # The writer's counters: those of writers that ended, and of the running one.
        self._ended = {"written": 0, "lost": 0, "spilled": 0}
        self._running = dict(self._ended)

    # ------------------------------------------------------------------------- hot path

    def record(self, rec: PredictionRecord) -> None:
        """Log ``rec``: once started, on disk before this returns; never raises.

        Before :meth:`start` the record waits in memory. A record that cannot be serialized or
        written is counted as lost and logged."""
        if not self._started:
            if len(self._queue) >= self._max_queue or self._closed:
                self._refuse()
                return
            self._queue.append(rec)
            return
        line = self._encoded(rec)
        if line is None:
            return
        with self._append_lock:
            if self._closed:
                self._refuse()
                return
            try:
                self._journal.append((line,))
            except Exception:
                log.exception(
                    "Prediction log: request %r lost, the spill write failed", rec.request_id
                )
                self._count_lost(1)
                return
            self._taken += 1

    def _encoded(self, rec: PredictionRecord) -> bytes | None:
        """``rec``'s spill line; None (counted lost, logged) if it cannot be serialized."""
        try:
            return encode(rec)
        except Exception:
            log.exception("Prediction log: cannot serialize request %r", rec.request_id)
            self._count_lost(1)
            return None

    def _refuse(self) -> None:
        with self._lock:
            self._lost += 1
            lost = self._lost
        if lost == 1 or lost % 10_000 == 0:
            reason = "closed" if self._closed else f"full ({self._max_queue:,} records in memory)"
            log.warning("Prediction log %s: %d record(s) lost so far.", reason, lost)

    def _count_lost(self, count: int) -> None:
        with self._lock:
            self._lost += count

    # ------------------------------------------------------------------------- life cycle

    def start(self) -> PredictionLog:
        """Open the spill folder, recover what an earlier process left there, start the writer."""
        if self._started:
            return self
        journal = self._journal
        recovery = journal.open()
        self._cursor = recovery.cursor
        self._recovered = recovery.records
        self._lost += recovery.torn
        if recovery.torn:
            log.warning(
                "Prediction log: %d record(s) lost in a crash (torn lines in %s).",
                recovery.torn,
                journal.folder,
            )
        if recovery.records:
            log.info(
                "Prediction log: writing %d record(s) left in %s to the store.",
                recovery.records,
                journal.folder,
            )
        self._journal_queued()
        settings = WriterSettings(
            folder=journal.folder,
            cursor=recovery.cursor,
            first_active=journal.first_active,
            batch_size=self._batch_size,
            interval_s=self._interval,
            fsync_interval_s=self._fsync_interval,
            verify_until=recovery.verify_until,
            recovered_until=Position(journal.first_active, 0, 0),
        )
        self._launch(settings)
        self._started = True
        return self

    def _journal_queued(self) -> None:
        """Write the records given before start() to the journal."""
        queue = self._queue
        records = [queue.popleft() for _ in range(len(queue))]
        for first in range(0, len(records), self._batch_size):
            encoded = [self._encoded(rec) for rec in records[first : first + self._batch_size]]
            lines = [line for line in encoded if line is not None]
            if not lines:
                continue
            try:
                self._journal.append(lines)
            except Exception:
                log.exception(
                    "Prediction log: %d record(s) lost, the spill write failed", len(lines)
                )
                self._count_lost(len(lines))
                continue
            self._taken += len(lines)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every record queued before the call is in the store (False: timed out)."""
        if not self._started or self._closed:
            return self.queue_depth == 0
        end = self._journal.end
        self._send(WAKE)
        with self._progress:
            return self._progress.wait_for(lambda: self._cursor >= end, timeout)

    def close(self, timeout: float = 30.0) -> bool:
        """Write everything to the store (waiting up to ``timeout`` for it) and stop the writer.

        What the store did not take in time stays in the spill folder for the next start; returns
        whether everything reached the store.
        """
        with self._append_lock:
            if self._closed:
                return self.queue_depth == 0
            self._closed = True
            if self._started:
                self._journal.seal()
        if not self._started:
            self._drop_queued("closed before it started")
            return True
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

    def _drop_queued(self, reason: str) -> None:
        with self._lock:
            count = len(self._queue)
            self._queue.clear()
            self._lost += count
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
            with self._progress:
                for key, value in self._running.items():
                    self._ended[key] += value
                    self._running[key] = 0
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
            # The batch after the last checkpoint may be in the store already: check it.
            settings = replace(
                settings,
                cursor=cursor,
                verify_until=Position(cursor.segment, cursor.line + self._batch_size),
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
            except OSError:  # the writer is gone; the relay starts a new one
                pass

    # ------------------------------------------------------------------------- statistics

    def _count(self, key: str) -> int:
        with self._progress:
            return self._ended[key] + self._running[key]

    @property
    def queued(self) -> int:
        """Records accepted by :meth:`record`."""
        return self._taken + len(self._queue)

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
        """Records known to be lost: memory full before start, torn in a crash, refused by the
        store, unreadable."""
        with self._lock:
            return self._lost + self._count("lost")

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
        return self._journal.pending(cursor)

    @property
    def writer_pid(self) -> int | None:
        """The store writer's process id (None before start, or when it runs as a thread)."""
        proc = self._proc
        return None if proc is None else proc.pid

    @property
    def spill_folder(self) -> Path:
        """The slot of the spill folder this log uses (after :meth:`start`)."""
        return self._journal.folder
