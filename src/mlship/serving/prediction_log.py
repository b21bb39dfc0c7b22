"""The prediction log: every prediction written to the store in batches, off the request path.

Once the log is started, :meth:`PredictionLog.record` writes ahead: it serializes the record
and appends its line to the spill journal before it returns (a few microseconds: one ``write``
into the page cache), so a request is answered only once its record is on disk and a ``kill -9``
of the process loses none. Two background threads move records along::

    record() ──> spill journal (disk, in order) + in-memory copy
                     └──[collector, every flush interval]──> batches ──[store writer]──> table

The collector fsyncs the journal every second (a crash of the machine loses at most that) and
hands the in-memory copies to the writer in batches; records given to :meth:`record` before
:meth:`start` wait in memory and are journaled by the collector. The store writer inserts
batches (one executemany each) from the in-memory copies while it keeps up, and reads the
journal back when it does not (the store is slow or down), so memory stays bounded and nothing
is dropped. A new log on the same folder
writes what an earlier process left, and logs how many records it knows to be lost.

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
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import sqlalchemy as sa

from mlship.errors import ConfigError, StoreUnavailable
from mlship.serving.prediction_insert import BulkInsert, insert_statement, not_stored
from mlship.serving.prediction_record import PredictionRecord, Row, decode, encode
from mlship.serving.spill import Position, SpillJournal
from mlship.store import Store

__all__ = ["PredictionLog", "PredictionRecord"]

log = logging.getLogger(__name__)

# A row the store will never take (a value out of range, a constraint): it is lost, and logged.
_REFUSED = (sa.exc.DataError, sa.exc.IntegrityError)
# Anything else is the store's condition (down, locked, not migrated yet): retry the batch later.
_UNAVAILABLE = (StoreUnavailable, sa.exc.SQLAlchemyError)
_MAX_BACKOFF_S = 5.0
_REPORT_EVERY_S = 30.0


@dataclass(slots=True)
class _Batch:
    """Rows for one INSERT and the journal lines they are, ``start`` up to ``end``."""

    start: Position
    end: Position
    rows: list[Row]
    lines: int
    from_disk: bool


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
        Longest a record waits in memory before it is on disk (and handed to the store writer).
    max_queue:
        Most records waiting in memory for the collector; beyond it :meth:`record` counts them
        as lost (only when the collector cannot keep up with the disk). Serialized rows kept in
        memory for the store writer are bounded too, by ``min(max_queue, 5 * batch_size)``.
    segment_bytes:
        Size at which a journal segment is closed and a new one started.
    fsync_interval_s:
        How often the journal is fsynced (None: never; a process crash loses nothing written).
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
        self._max_queue = max_queue
        # Rows kept in memory for the store writer; beyond, it reads them back from the journal.
        self._handoff_cap = min(max_queue, 5 * batch_size)
        self._journal = SpillJournal(
            spill_dir,
            segment_bytes=segment_bytes,
            fsync_interval_s=fsync_interval_s,
            verify_window=batch_size,
        )
        self._queue: deque[PredictionRecord] = deque()
        # Written ahead by record(): (start, end, row) in journal order, for the collector.
        self._ahead: deque[tuple[Position, Position, Row]] = deque()
        self._append_lock = threading.Lock()  # record() appends, the collector fsyncs
        self._published = Position(0, 0, 0)  # the writer reads the journal up to here
        self._handoff: deque[_Batch] = deque()
        self._lock = threading.Lock()  # counters written by more than one thread
        self._cond = threading.Condition()  # progress of both threads
        self._wake = threading.Event()
        self._abort = threading.Event()
        self._threads: list[threading.Thread] = []
        self._started = self._closed = self._collector_done = False
        self._cursor = Position(0, 0, 0)
        self._verify_until: Position | None = None
        self._cycles = 0
        self._taken = self._written = self._spilled = self._lost = self._recovered = 0
        self._journaled = self._consumed = self._handoff_rows = 0
        self._insert = insert_statement(store.dialect)
        self._bulk = BulkInsert(store.engine.dialect, self._insert)
        self._down_since: float | None = None
        self._reported = 0.0

    # ------------------------------------------------------------------------- hot path

    def record(self, rec: PredictionRecord) -> None:
        """Log ``rec``: once started, on disk before this returns; never raises.

        Before :meth:`start` the record waits in memory (the collector journals it). A record
        that cannot be serialized or written is counted as lost and logged."""
        if not self._started:
            queue = self._queue
            depth = len(queue)
            if depth >= self._max_queue or self._closed:
                self._refuse()
                return
            queue.append(rec)
            if depth == self._batch_size:  # a full batch is waiting: do not wait for the timer
                self._wake.set()
            return
        ahead = self._ahead
        if self._closed or len(ahead) >= self._max_queue:
            self._refuse()
            return
        encoded = self._encoded(rec)
        if encoded is None:
            return
        row, line = encoded
        with self._append_lock:
            try:
                start, end = self._journal.append((line,))
            except Exception:
                log.exception(
                    "Prediction log: request %r lost, the spill write failed", rec.request_id
                )
                self._count_lost(1)
                return
            ahead.append((start, end, row))
        if len(ahead) == self._batch_size:
            self._wake.set()

    def _encoded(self, rec: PredictionRecord) -> tuple[Row, bytes] | None:
        """``rec``'s store row and spill line; None (counted lost, logged) if it cannot be
        serialized."""
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

    # ------------------------------------------------------------------------- life cycle

    def start(self) -> PredictionLog:
        """Open the spill folder, recover what an earlier process left there, start the threads."""
        if self._started:
            return self
        recovery = self._journal.open()
        self._published = self._journal.end
        self._cursor = recovery.cursor
        self._verify_until = recovery.verify_until
        self._recovered = self._journaled = recovery.records
        self._lost += recovery.torn
        if recovery.torn:
            log.warning(
                "Prediction log: %d record(s) lost in a crash (torn lines in %s).",
                recovery.torn,
                self._journal.folder,
            )
        if recovery.records:
            log.info(
                "Prediction log: writing %d record(s) left in %s to the store.",
                recovery.records,
                self._journal.folder,
            )
        self._threads = [
            threading.Thread(target=self._collect_loop, name="mlship-plog-collect", daemon=True),
            threading.Thread(target=self._write_loop, name="mlship-plog-write", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        self._started = True
        return self

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every record queued before the call is in the store (False: timed out)."""
        if not self._started or self._collector_done:
            return self.queue_depth == 0
        deadline = time.monotonic() + timeout
        with self._cond:
            # The cycle running now may have missed the records; the one after it has them.
            target = self._cycles + 2
            self._wake.set()
            if not self._cond.wait_for(lambda: self._cycles >= target, _left(deadline)):
                return False
            end = self._journal.end
            return self._cond.wait_for(lambda: self._cursor >= end, _left(deadline))

    def close(self, timeout: float = 30.0) -> bool:
        """Write everything to the store (waiting up to ``timeout`` for it) and stop the threads.

        What the store did not take in time stays in the spill folder for the next start; returns
        whether everything reached the store.
        """
        if self._closed:
            return self.queue_depth == 0
        self._closed = True
        if not self._started:
            self._drop_queued("closed before it started")
            return True
        collector, writer = self._threads
        self._wake.set()
        collector.join()
        self._drop_queued("closed")  # records another thread appended as the collector stopped
        with self._cond:
            self._collector_done = True
            self._cond.notify_all()
        writer.join(timeout)
        if writer.is_alive():
            self._abort.set()
            with self._cond:
                self._cond.notify_all()
            writer.join()
        self._journal.close(self._cursor)
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

    # ------------------------------------------------------------------------- statistics

    @property
    def queued(self) -> int:
        """Records accepted by :meth:`record` since start."""
        with self._lock:
            return self._taken + len(self._queue)

    @property
    def written(self) -> int:
        """Records inserted into the store."""
        return self._written

    @property
    def spilled(self) -> int:
        """Records the store writer had to read back from disk (it fell behind, or the store was
        down), not counting those :attr:`recovered` from an earlier process."""
        return self._spilled

    @property
    def lost(self) -> int:
        """Records known to be lost: memory full, torn in a crash, or refused by the store."""
        return self._lost

    @property
    def recovered(self) -> int:
        """Records an earlier process left in the spill folder."""
        return self._recovered

    @property
    def queue_depth(self) -> int:
        """Records waiting for the store, in memory or on disk."""
        return len(self._queue) + len(self._ahead) + max(0, self._journaled - self._consumed)

    @property
    def spill_folder(self) -> Path:
        """The slot of the spill folder this log uses (after :meth:`start`)."""
        return self._journal.folder

    # ------------------------------------------------------------------------- collector

    def _collect_loop(self) -> None:
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            last = self._closed  # read before draining: records queued before close() get in
            try:
                self._collect()
            except Exception:  # keep the thread alive whatever a record holds
                log.exception("Prediction log: collecting records failed")
            with self._cond:
                self._cycles += 1
                self._cond.notify_all()
            if last:
                return

    def _collect(self) -> None:
        queue = self._queue
        with self._lock:
            records = [queue.popleft() for _ in range(len(queue))]
            self._taken += len(records)
        self._hand_off_ahead()  # journaled already: before the records journaled below
        for first in range(0, len(records), self._batch_size):
            self._journal_batch(records[first : first + self._batch_size])
        try:
            with self._append_lock:
                self._journal.sync()
        except OSError as exc:
            log.warning("Prediction log: fsync of the spill segment failed: %s", exc)

    def _hand_off_ahead(self) -> None:
        """The records :meth:`record` wrote ahead, in batches of consecutive journal lines."""
        ahead = self._ahead
        taken = [ahead.popleft() for _ in range(len(ahead))]
        with self._lock:
            self._taken += len(taken)
        batch: list[tuple[Position, Position, Row]] = []
        for item in taken:
            # A segment rotated (or abandoned after an I/O error) between two records.
            if batch and (len(batch) == self._batch_size or item[0] != batch[-1][1]):
                self._hand_off(batch[0][0], batch[-1][1], [row for _, _, row in batch])
                batch = []
            batch.append(item)
        if batch:
            self._hand_off(batch[0][0], batch[-1][1], [row for _, _, row in batch])

    def _journal_batch(self, records: list[PredictionRecord]) -> None:
        rows: list[Row] = []
        lines: list[bytes] = []
        for rec in records:
            encoded = self._encoded(rec)
            if encoded is not None:
                rows.append(encoded[0])
                lines.append(encoded[1])
        if not rows:
            return
        try:
            with self._append_lock:
                start, end = self._journal.append(lines)
        except Exception:
            log.exception("Prediction log: %d record(s) lost, the spill write failed", len(rows))
            self._count_lost(len(rows))
            return
        self._hand_off(start, end, rows)

    def _hand_off(self, start: Position, end: Position, rows: list[Row]) -> None:
        """Give the writer the journaled rows ``start``..``end`` from memory, or leave them to
        be read back from disk when memory holds enough already."""
        with self._lock:
            keep = self._handoff_rows + len(rows) <= self._handoff_cap
            if keep:
                self._handoff_rows += len(rows)
            else:
                self._spilled += len(rows)
            self._journaled += len(rows)
        if keep:
            self._handoff.append(_Batch(start, end, rows, len(rows), from_disk=False))
        with self._cond:
            self._published = max(self._published, end)
            self._cond.notify_all()

    def _drop_queued(self, reason: str) -> None:
        with self._lock:
            count = len(self._queue)
            self._queue.clear()
            self._taken += count
            self._lost += count
        if count:
            log.warning("Prediction log %s: %d queued record(s) lost.", reason, count)

    def _count_lost(self, count: int) -> None:
        with self._lock:
            self._lost += count

    # ------------------------------------------------------------------------- store writer

    def _write_loop(self) -> None:
        failures = 0
        batch: _Batch | None = None
        while not self._abort.is_set():
            try:
                if batch is None:
                    batch = self._next_batch()
                if batch is None:
                    with self._cond:
                        if self._collector_done and not self._handoff and not self._has_more():
                            return
                        self._cond.wait(self._interval)
                    continue
                stored = self._store_batch(batch)
                if stored:
                    self._advance(batch)
                    batch = None
            except Exception:  # the journal failed (disk): keep the thread alive and retry
                log.exception("Prediction log: the store writer failed")
                stored = False
            failures = 0 if stored else failures + 1
            if failures:
                self._abort.wait(min(_MAX_BACKOFF_S, 0.05 * 2**failures))

    def _has_more(self) -> bool:
        return self._cursor < self._journal.end

    def _next_batch(self) -> _Batch | None:
        while True:
            handoff = self._handoff
            # A batch the journal was read past, wholly or in part (it was published on disk
            # before it reached the hand-off): the rest of it comes from disk.
            while handoff and handoff[0].start < self._cursor:
                self._release(handoff.popleft())
            head = handoff[0] if handoff else None
            if head is not None and head.start == self._cursor:
                self._release(handoff.popleft())
                return head
            # Not past what the collector has handed off: later lines come from memory.
            stop = self._published if head is None else head.start
            lines, after = self._journal.read(self._cursor, self._batch_size, stop)
            if lines:
                return self._from_disk(lines, after)
            if after == self._cursor:
                return None
            self._cursor = after  # a finished segment: move on and let the journal delete it
            self._journal.commit(after)

    def _release(self, batch: _Batch) -> None:
        with self._lock:
            self._handoff_rows -= batch.lines

    def _from_disk(self, lines: list[bytes], after: Position) -> _Batch:
        rows: list[Row] = []
        for line in lines:
            try:
                rows.append(decode(line))
            except (ValueError, KeyError, TypeError):
                self._count_lost(1)
                log.warning(
                    "Prediction log: skipping an unreadable line in %s", self._journal.folder
                )
        return _Batch(self._cursor, after, rows, len(lines), from_disk=True)

    def _store_batch(self, batch: _Batch) -> bool:
        """Insert the batch (True), or leave it for a retry because the store failed (False)."""
        rows = batch.rows
        verify = self._verify_until is not None and batch.start < self._verify_until
        try:
            with self._store.write() as conn:
                if verify:
                    rows = not_stored(conn, rows)
                if rows:
                    self._bulk.insert(conn, rows)
        except _REFUSED:
            inserted = self._insert_one_by_one(rows)
            if inserted is None:
                return False
        except _UNAVAILABLE as exc:
            self._store_down(exc)
            return False
        else:
            inserted = len(rows)
        if self._down_since is not None:
            log.info(
                "Prediction log: the store is back after %.0f s.",
                time.monotonic() - self._down_since,
            )
            self._down_since = None
        with self._lock:
            self._written += inserted
        if len(rows) < len(batch.rows):
            log.info(
                "Prediction log: %d record(s) were already in the store (written before a crash).",
                len(batch.rows) - len(rows),
            )
        return True

    def _insert_one_by_one(self, rows: list[Row]) -> int | None:
        """Insert row by row, each in a savepoint: rows the store refuses are lost and logged."""
        refused: list[tuple[Row, Exception]] = []
        try:
            with self._store.write() as conn:
                for row in rows:
                    try:
                        with conn.begin_nested():
                            conn.execute(self._insert, [row])
                    except _REFUSED as refusal:
                        refused.append((row, refusal))
        except _UNAVAILABLE as exc:
            self._store_down(exc)
            return None
        if refused:
            self._count_lost(len(refused))
            first, reason = refused[0]
            log.error(
                "Prediction log: the store refused %d record(s), lost (first: request %r: %s).",
                len(refused),
                first["request_id"],
                _reason(reason),
            )
        return len(rows) - len(refused)

    def _store_down(self, exc: Exception) -> None:
        now = time.monotonic()
        if self._down_since is None:
            self._down_since = now
        if now - self._reported >= _REPORT_EVERY_S:
            self._reported = now
            log.warning(
                "Prediction log: cannot write to the store (%s); %d record(s) wait in %s.",
                _reason(exc),
                self.queue_depth,
                self._journal.folder,
            )

    def _advance(self, batch: _Batch) -> None:
        with self._cond:
            self._cursor = batch.end
            self._consumed += batch.lines
            self._cond.notify_all()
        try:
            self._journal.commit(batch.end)
        except OSError as exc:  # the batch is in the store: never write it again
            log.warning("Prediction log: cannot update the spill checkpoint: %s", exc)


def _reason(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _left(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())
