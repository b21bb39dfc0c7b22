"""The prediction log's store writer: tails the spill journal and inserts batches into the store.

It runs in a process of its own (``python -m mlship.serving.log_writer``, started by
:class:`mlship.serving.prediction_log.PredictionLog`), so that decoding lines, binding rows and
the database driver never hold the serving process's GIL. The two talk over pipes, one JSON
message a line::

    serving process ── stdin ──> writer:  the settings (first line), then "wake", "stop", "abort"
    serving process <── stdout ── writer:  progress {"cursor", "written", "lost", "spilled"},
                                           log records {"log": [logger, level, message]}, "done"

End of file on stdin means the serving process is gone (``kill -9``): the writer exits before
its next INSERT, and the next server on the spill folder takes the slot over. A store in memory
cannot be shared with a process, so for one the same :class:`LogWriter` runs in a thread.
"""

from __future__ import annotations

import fcntl
import logging
import os
import queue
import select
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import orjson
import sqlalchemy as sa

from mlship.errors import StoreUnavailable
from mlship.serving.log_status import UNKNOWN_MODEL
from mlship.serving.prediction_insert import BulkInsert, insert_statement, not_stored
from mlship.serving.prediction_record import Row, decode
from mlship.serving.spill import Position, hold_writer_lock
from mlship.serving.spill_reader import JournalReader
from mlship.store import Store

log = logging.getLogger("mlship.serving.prediction_log")

# A row the store will never take (a value out of range, a constraint): it is lost, and logged.
_REFUSED = (sa.exc.DataError, sa.exc.IntegrityError)
# Anything else is the store's condition (down, locked, not migrated yet): retry the batch later.
_UNAVAILABLE = (StoreUnavailable, sa.exc.SQLAlchemyError)
_MAX_BACKOFF_S = 5.0
_REPORT_EVERY_S = 30.0

WAKE, STOP, ABORT, GONE = "wake", "stop", "abort", "gone"


@dataclass(frozen=True, slots=True)
class WriterSettings:
    """Where the writer starts and how it batches; sent as the first line of its stdin."""

    folder: Path
    cursor: Position
    first_active: int
    batch_size: int
    interval_s: float
    fsync_interval_s: float | None
    verify_until: Position | None
    """New records before this may be in the store already (a writer restarted after a crash)."""
    backlog: tuple[BacklogSlot, ...] = ()
    """Slots earlier processes left records in: written alongside the new records, a batch of
    each in turn, so that new records never wait for all of them."""

    def to_json(self, db_url: str) -> bytes:
        return orjson.dumps(
            {
                "db_url": db_url,
                "folder": str(self.folder),
                "cursor": pos(self.cursor),
                "first_active": self.first_active,
                "batch_size": self.batch_size,
                "interval_s": self.interval_s,
                "fsync_interval_s": self.fsync_interval_s,
                "verify_until": pos(self.verify_until),
                "backlog": [
                    [str(b.folder), pos(b.cursor), pos(b.verify_until)] for b in self.backlog
                ],
            },
            option=orjson.OPT_APPEND_NEWLINE,
        )

    @classmethod
    def from_json(cls, line: bytes) -> tuple[str, WriterSettings]:
        data = orjson.loads(line)
        verify = data["verify_until"]
        return data["db_url"], cls(
            folder=Path(data["folder"]),
            cursor=Position(*data["cursor"]),
            first_active=data["first_active"],
            batch_size=data["batch_size"],
            interval_s=data["interval_s"],
            fsync_interval_s=data["fsync_interval_s"],
            verify_until=None if verify is None else Position(*verify),
            backlog=tuple(
                BacklogSlot(Path(folder), Position(*cursor), None if v is None else Position(*v))
                for folder, cursor, v in data["backlog"]
            ),
        )


def pos(p: Position | None) -> list[int] | None:
    return None if p is None else [p.segment, p.line, p.offset]


@dataclass(frozen=True, slots=True)
class BacklogSlot:
    """A slot an earlier process left records in, and where its writer starts."""

    folder: Path
    cursor: Position
    verify_until: Position | None


class Channel(Protocol):
    """How the writer hears commands and tells its progress."""

    def wait(self, timeout: float) -> str | None:
        """The next command, or None when ``timeout`` passes first."""

    def report(self, message: dict[str, Any]) -> None:
        """Send progress, a log record or "done" to the serving process."""


class _Source:
    """One slot the writer reads: the live one (new records) or a backlog one."""

    def __init__(
        self, reader: JournalReader, cursor: Position, verify_until: Position | None, live: bool
    ) -> None:
        self.reader = reader
        self.cursor = cursor
        self.verify_until = verify_until
        self.live = live


@dataclass(slots=True)
class _Batch:
    source: _Source
    start: Position
    end: Position
    rows: list[Row]
    lines: int


class LogWriter:
    """Move journal lines into the ``predictions`` table, in order, one INSERT a batch."""

    def __init__(self, store: Store, settings: WriterSettings) -> None:
        self._store = store
        self._settings = settings
        window = settings.batch_size
        live = JournalReader(settings.folder, settings.first_active, window)
        self._live = _Source(live, settings.cursor, settings.verify_until, live=True)
        self._backlog: list[_Source] = []
        for slot in settings.backlog:
            reader = JournalReader(slot.folder, 0, window)
            reader.seal()  # nothing is appended to a slot an earlier process left
            self._backlog.append(_Source(reader, slot.cursor, slot.verify_until, live=False))
        self._backlog_turn = False
        self._backlog_read = 0
        self._insert = insert_statement(store.dialect)
        self._bulk = BulkInsert(store.engine.dialect, self._insert)
        self._written = self._lost = self._spilled = 0
        self._lost_models: Counter[str] = Counter()
        self._down_since: float | None = None
        self._reported = 0.0
        self._last_sync = time.monotonic()

    def run(self, channel: Channel) -> None:
        """Write until told to stop (everything written) or abort, or the log process is gone."""
        settings = self._settings
        stopping = False
        failures = 0
        batch: _Batch | None = None
        wait = 0.0
        while True:
            command = channel.wait(wait)
            if command in (ABORT, GONE):
                return
            if command == STOP:
                stopping = True
                self._live.reader.seal()
            self._sync()  # every interval, busy or idle: a machine crash loses at most that
            if batch is None:
                before = self._live.cursor
                batch = self._next_batch()
                if batch is None and self._live.cursor != before:
                    self._report(channel)  # moved past finished segments
            if batch is None:
                if stopping:
                    self._report(channel)
                    channel.report({"done": True})
                    return
                wait = settings.interval_s
                continue
            if self._store_batch(batch):
                full = batch.lines >= settings.batch_size or bool(self._backlog)
                self._advance(batch)
                self._report(channel)
                batch, failures = None, 0
                wait = 0.0 if full or stopping else settings.interval_s
            else:
                failures += 1
                wait = min(_MAX_BACKOFF_S, 0.05 * 2**failures)

    # ------------------------------------------------------------------------- reading

    def _next_batch(self) -> _Batch | None:
        """The next batch: of new records and of the backlog in turn, while both have some."""
        self._backlog_turn = not self._backlog_turn
        order = [self._live, *self._backlog[:1]]
        if self._backlog_turn:
            order.reverse()
        for source in order:
            batch = self._read(source)
            if batch is not None:
                return batch
            if not source.live:
                self._backlog.remove(source)  # written out: its segments are deleted
                log.info(
                    "Prediction log: every record left in %s is written.", source.reader.folder
                )
                if self._backlog:
                    return self._next_batch()
        return None

    def _read(self, source: _Source) -> _Batch | None:
        while True:
            lines, after = source.reader.read(source.cursor, self._settings.batch_size)
            if lines:
                return self._decoded(source, lines, after)
            if after == source.cursor:
                return None
            source.cursor = after  # a finished segment: move on and let the reader delete it
            try:
                source.reader.commit(after)
            except OSError as exc:  # nothing is lost: the next commit moves the checkpoint on
                log.warning("Prediction log: cannot update the spill checkpoint: %s", exc)

    def _decoded(self, source: _Source, lines: list[bytes], after: Position) -> _Batch:
        rows: list[Row] = []
        for line in lines:
            try:
                rows.append(decode(line))
            except (ValueError, KeyError, TypeError):
                self._lost += 1
                self._lost_models[UNKNOWN_MODEL] += 1
                log.warning(
                    "Prediction log: skipping an unreadable line in %s", source.reader.folder
                )
        # A full batch of new records: more waited on disk behind it (the store was slow, down).
        if source.live and len(lines) >= self._settings.batch_size:
            self._spilled += len(lines)
        return _Batch(source, source.cursor, after, rows, len(lines))

    def _sync(self) -> None:
        interval = self._settings.fsync_interval_s
        if interval is None or time.monotonic() - self._last_sync < interval:
            return
        self._last_sync = time.monotonic()
        try:
            self._live.reader.sync(self._live.cursor)
        except OSError as exc:
            log.warning("Prediction log: fsync of the spill segment failed: %s", exc)

    # ------------------------------------------------------------------------- writing

    def _store_batch(self, batch: _Batch) -> bool:
        """Insert the batch (True), or leave it for a retry because the store failed (False)."""
        rows = batch.rows
        verify_until = batch.source.verify_until
        verify = verify_until is not None and batch.start < verify_until
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
            self._lost += len(refused)
            self._lost_models.update(str(row["model"]) for row, _ in refused)
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
                "Prediction log: cannot write to the store (%s); records wait in %s.",
                _reason(exc),
                self._live.reader.folder,
            )

    def _advance(self, batch: _Batch) -> None:
        source = batch.source
        source.cursor = batch.end
        if not source.live:
            self._backlog_read += batch.lines
        try:
            source.reader.commit(batch.end)
        except OSError as exc:  # the batch is in the store: never write it again
            log.warning("Prediction log: cannot update the spill checkpoint: %s", exc)

    def _report(self, channel: Channel) -> None:
        c = self._live.cursor
        channel.report(
            {
                "cursor": [c.segment, c.line, c.offset],
                "written": self._written,
                "lost": self._lost,
                "spilled": self._spilled,
                "lost_models": dict(self._lost_models),
                "backlog_read": self._backlog_read,
            }
        )


def _reason(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# ----------------------------------------------------------------------------- channels


class QueueChannel:
    """Commands from a queue, progress to a callback: the writer as a thread."""

    def __init__(self, on_report: Callable[[dict[str, Any]], None]) -> None:
        self.commands: queue.Queue[str] = queue.Queue()
        self._on_report = on_report

    def wait(self, timeout: float) -> str | None:
        try:
            return self.commands.get(timeout=timeout) if timeout > 0 else self.commands.get_nowait()
        except queue.Empty:
            return None

    def report(self, message: dict[str, Any]) -> None:
        self._on_report(message)


class PipeChannel:
    """Commands from stdin, progress to stdout: the writer as a process."""

    def __init__(self, commands: BinaryIO, out: BinaryIO) -> None:
        self._fd = commands.fileno()
        self._out = out
        self._pending: list[str] = []
        self._buffer = b""

    def settings_line(self) -> bytes:
        """The first line: read with ``os.read``, so that no command after it is buffered away."""
        while b"\n" not in self._buffer:
            data = os.read(self._fd, 65536)
            if not data:
                raise EOFError("the serving process closed the pipe before the settings")
            self._buffer += data
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line

    def wait(self, timeout: float) -> str | None:
        if not self._pending and b"\n" in self._buffer:
            *done, self._buffer = self._buffer.split(b"\n")
            self._pending += [line.decode().strip() for line in done if line.strip()]
        if not self._pending:
            ready, _, _ = select.select([self._fd], [], [], max(0.0, timeout))
            if ready:
                data = os.read(self._fd, 4096)
                if not data:
                    return GONE
                self._buffer += data
                *done, self._buffer = self._buffer.split(b"\n")
                self._pending += [line.decode().strip() for line in done if line.strip()]
        return self._pending.pop(0) if self._pending else None

    def report(self, message: dict[str, Any]) -> None:
        self._out.write(orjson.dumps(message, option=orjson.OPT_APPEND_NEWLINE))
        self._out.flush()


class _Relay(logging.Handler):
    """Log records of the writer process, sent to the serving process to be logged there."""

    def __init__(self, channel: PipeChannel) -> None:
        super().__init__(logging.INFO)
        self._channel = channel

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._channel.report({"log": [record.name, record.levelno, record.getMessage()]})
        except Exception:  # the serving process is gone: nobody to tell
            pass


def main() -> None:
    """The writer process: settings on the first line of stdin, then commands."""
    from mlship.store import open_store

    # Ctrl-C in a terminal, or a signal to the server's process group, is for the server: it
    # stops this process with "stop" (after it has drained) or by closing the pipe.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    channel = PipeChannel(sys.stdin.buffer, sys.stdout.buffer)
    try:
        db_url, settings = WriterSettings.from_json(channel.settings_line())
    except EOFError:
        return
    root = logging.getLogger()
    root.handlers[:] = [_Relay(channel)]
    root.setLevel(logging.INFO)
    locks = [hold_writer_lock(f) for f in [settings.folder, *(b.folder for b in settings.backlog)]]
    try:
        store = open_store(db_url, migrate=False, create=False)
        try:
            LogWriter(store, settings).run(channel)
        finally:
            store.close()
    except BrokenPipeError:  # the serving process is gone
        pass
    finally:
        for lock in locks:
            fcntl.flock(lock, fcntl.LOCK_UN)
            os.close(lock)


if __name__ == "__main__":
    main()
