"""The spill folder of the prediction log: numbered JSON-lines segments and a checkpoint.

Every prediction record is appended to the journal before it is written to the store, and
records wait on disk, in order, for as long as the store is down. The active segment is a file
of ``segment_bytes`` reserved up front (``posix_fallocate``: a full disk is an error when the
segment opens, never a crash while writing) and mapped into memory: an append is a copy into the
kernel's page cache, with no release of the GIL and no system call but one ``madvise`` every
256 KiB that faults the next pages in ahead, and survives a ``kill -9`` of the process the moment
it returns. :meth:`SpillJournal.sync` (``msync``) makes it survive a crash of the machine too.
A closed segment is cut to its last line. Layout of a folder::

    spill/
      slot-0/                      one per live PredictionLog (one per server worker)
        LOCK                       flock'ed by the PredictionLog that owns the slot
        WRITER                     flock'ed by its store writer process (which may outlive it)
        checkpoint.json            how far the store has the records: segment, line, byte offset
        00000000000000000007.jsonl a closed segment, read back and deleted once in the store
        00000000000000000008.jsonl the active segment, appended to (NUL bytes after its last line)

A segment is never appended to after a restart: the last line of a crashed process's segment may
be torn, and counts as lost; the NUL padding after it is not data (a JSON line never holds a
NUL byte). Writing a batch to the store and then moving the checkpoint is not
atomic, so after a crash the batch right after the checkpoint may already be in the store:
:attr:`Recovery.verify_until` tells the reader to check for it. The store writer reads and
commits through :class:`mlship.serving.spill_reader.JournalReader`.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import mmap
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import orjson

from mlship.errors import ConfigError

log = logging.getLogger(__name__)

_SUFFIX = ".jsonl"
_CHECKPOINT = "checkpoint.json"
_CHECKPOINT_BYTES = 256
_LOCK = "LOCK"
_WRITER_LOCK = "WRITER"
_ORPHAN_WAIT_S = 10.0
_READ_CHUNK = 1 << 20
# Pages of the mapped segment are faulted in ahead of the appends, this many bytes at a time: one
# madvise per chunk instead of a page fault (and a file system call) every few records.
_POPULATE_CHUNK = 256 << 10
_MADV_POPULATE_WRITE = getattr(mmap, "MADV_POPULATE_WRITE", 23)  # Linux 5.14; Python 3.13


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """A place in the journal: line ``line`` of segment ``segment``, starting at byte ``offset``."""

    segment: int
    line: int
    offset: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Backlog:
    """A slot an earlier process left records in (all its segments are finished)."""

    folder: Path
    cursor: Position
    """Where the store writer starts reading it."""
    records: int
    """Complete records waiting to be written to the store."""
    verify_until: Position | None
    """Records before this position may already be in the store (written, checkpoint not)."""


@dataclass(frozen=True, slots=True)
class Recovery:
    """What :meth:`SpillJournal.open` found: where new records start, and what earlier
    processes left."""

    cursor: Position
    """Where the store writer starts reading the new records."""
    records: int
    """Complete records earlier processes left, waiting to be written to the store."""
    torn: int
    """Records lost: torn last lines of segments a crashed process was writing."""
    backlog: tuple[Backlog, ...]
    """The slots holding those records."""


class NoSpace(OSError):
    """A segment could not be created or reserved: the disk is full (or not writable)."""

    def __init__(self, path: Path, size: int, cause: OSError) -> None:
        super().__init__(cause.errno, cause.strerror)
        self.path = path
        self.size = size
        self.free = free_bytes(path.parent)

    def __str__(self) -> str:
        free = "unknown" if self.free is None else f"{self.free / 1e6:,.1f} MB"
        return (
            f"cannot reserve {self.size / 1e6:,.1f} MB for a spill segment in {self.path.parent} "
            f"({self.strerror}; {free} free)"
        )


def free_bytes(folder: Path) -> int | None:
    """Bytes an unprivileged process may still write under ``folder`` (None: unknown)."""
    try:
        stat = os.statvfs(folder)
    except OSError:
        return None
    return stat.f_bavail * stat.f_frsize


class SpillJournal:
    """Append-only segments of JSON lines in one slot of ``folder``: the appending side.

    One thread at a time appends (:meth:`append`); other threads may read :attr:`end` and
    :meth:`pending`. The store writer reads the segments and moves the checkpoint from its own
    process (:mod:`mlship.serving.spill_reader`).
    """

    def __init__(
        self,
        folder: Path,
        *,
        segment_bytes: int = 8 << 20,
        fsync_interval_s: float | None = 1.0,
        verify_window: int = 1000,
    ) -> None:
        self._root = Path(folder)
        self._segment_bytes = segment_bytes
        self._fsync_interval_s = fsync_interval_s
        self._window = verify_window
        self._lock = threading.Lock()
        self._dir: Path | None = None
        self._lock_fd: int | None = None
        self._backlog_fds: list[int] = []  # the locks of the slots taken as backlog
        # Byte offset just past the last complete line of every segment not yet deleted.
        self._ends: dict[int, int] = {}
        self._lines: dict[int, int] = {}
        self._active = self._first_active = 0
        self._map: mmap.mmap | None = None
        self._fd: int | None = None
        self._capacity = 0
        self._populated = 0  # bytes of the active segment already faulted in
        self._populate = hasattr(mmap.mmap, "madvise")
        self._dirty = False

    @property
    def folder(self) -> Path:
        """The slot this journal owns (valid after :meth:`open`)."""
        if self._dir is None:
            raise RuntimeError("The spill journal is not open.")
        return self._dir

    @property
    def end(self) -> Position:
        """Just past the last record appended so far."""
        with self._lock:
            return Position(self._active, self._lines[self._active], self._ends[self._active])

    @property
    def first_active(self) -> int:
        """The first segment this journal appends to: earlier ones are finished (after
        :meth:`open`)."""
        return self._first_active

    # ------------------------------------------------------------------------- opening

    def open(self) -> Recovery:
        """Take a free slot of the folder for new records; a free slot an earlier process left
        records in is taken too, as backlog, written alongside the new records (a batch of
        each in turn)."""
        backlog: list[Backlog] = []
        torn = 0
        try:
            self._root.mkdir(parents=True, exist_ok=True)
            while True:
                folder, fd = _take_slot(self._root)
                found = _recover_slot(folder, self._window)
                torn += found.torn
                if found.backlog is None:
                    break
                backlog.append(found.backlog)
                self._backlog_fds.append(fd)
        except OSError as exc:
            raise ConfigError(
                f"Cannot use {self._root} as the prediction log's spill folder: {exc}. "
                "Point MLSHIP_HOME (or the spill_dir setting) at a writable folder."
            ) from None
        self._dir, self._lock_fd = folder, fd
        self._active = self._first_active = found.next_segment
        self._ends[self._active], self._lines[self._active] = 0, 0
        records = sum(b.records for b in backlog)
        return Recovery(Position(self._active, 0, 0), records, torn, tuple(backlog))

    # ------------------------------------------------------------------------- appending

    def append(self, lines: Sequence[bytes]) -> None:
        """Append newline-terminated ``lines``.

        When a new segment is needed and cannot be reserved (the disk is full), :class:`NoSpace`
        is raised: those lines are not in the journal, no empty file is left, and the next
        append tries again. One appending thread at a time.
        """
        data = lines[0] if len(lines) == 1 else b"".join(lines)
        size = len(data)
        mapped, active = self._map, self._active
        end = self._ends[active]
        if mapped is None or end + size > self._capacity:
            self._append_new(data, len(lines))
            return
        mapped[end : end + size] = data  # the request path: a copy, no system call
        self._dirty = True
        with self._lock:
            self._ends[active] = end + size
            self._lines[active] += len(lines)
        if end + size > self._populated:
            self._populate_ahead(mapped, end + size)

    def _populate_ahead(self, mapped: mmap.mmap, end: int) -> None:
        """Fault in the next chunk of the mapped segment past ``end``, in one system call."""
        start = end - end % mmap.PAGESIZE
        stop = min(self._capacity, start + _POPULATE_CHUNK)
        self._populated = stop
        if not self._populate or stop <= start:
            return
        try:
            mapped.madvise(_MADV_POPULATE_WRITE, start, stop - start)
        except OSError:  # an older kernel: the pages fault in one at a time as they are written
            self._populate = False

    def _append_new(self, data: bytes, count: int) -> None:
        """Append to a new segment (the first, or the active one is full).

        When the segment cannot be created (the disk is full), no file is left behind and the
        segment's number is tried again by the next append: :class:`NoSpace` is raised."""
        if self._map is not None:
            self._rotate()
        active = self._active
        size = max(self._segment_bytes, len(data))
        mapped = self._map_segment(active, size)
        mapped[0 : len(data)] = data
        self._dirty = True
        with self._lock:
            self._ends[active], self._lines[active] = len(data), count
        self._populate_ahead(mapped, len(data))

    def sync(self) -> None:
        """msync the active segment (unless fsync is off): it survives a crash of the machine.

        Called when a segment is closed; the store writer fsyncs the active one every
        ``fsync_interval_s`` from its own process."""
        if self._map is None or not self._dirty or self._fsync_interval_s is None:
            return
        self._map.flush()
        self._dirty = False

    def _map_segment(self, number: int, size: int) -> mmap.mmap:
        """Create segment ``number`` with ``size`` bytes reserved on disk and map it; on failure
        the file is removed again and :class:`NoSpace` raised."""
        path = self._segment_path(number)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise NoSpace(path, size, exc) from None
        try:
            os.posix_fallocate(fd, 0, size)
            mapped = mmap.mmap(fd, size)
        except OSError as exc:
            os.close(fd)
            _unlink(path)
            raise NoSpace(path, size, exc) from None
        except BaseException:
            os.close(fd)
            _unlink(path)
            raise
        self._map, self._fd, self._capacity, self._populated = mapped, fd, size, 0
        return mapped

    def _rotate(self) -> None:
        try:
            self.sync()
        except OSError as exc:  # the store writer fsyncs it too; never fail an append for it
            log.warning("Could not msync the prediction log spill segment: %s", exc)
        self._close_file()
        with self._lock:
            self._active += 1
            self._ends[self._active], self._lines[self._active] = 0, 0

    def _close_file(self, end: int | None = None) -> None:
        """Unmap the active segment and cut it at ``end`` (default: its last line)."""
        mapped, fd, self._map, self._fd = self._map, self._fd, None, None
        if mapped is not None:
            mapped.close()
        if fd is not None:
            try:
                with self._lock:
                    size = self._ends.get(self._active, 0) if end is None else end
                os.ftruncate(fd, size)
            finally:
                os.close(fd)

    def pending(self, cursor: Position) -> int:
        """Records from ``cursor`` to the end of the journal."""
        with self._lock:
            for number in [n for n in self._lines if n < cursor.segment and n != self._active]:
                del self._ends[number], self._lines[number]  # the writer has deleted them
            total = sum(n for seg, n in self._lines.items() if seg >= cursor.segment)
        return max(0, total - cursor.line)

    # ------------------------------------------------------------------------- closing

    def seal(self) -> None:
        """Stop appending: fsync the active segment and cut it at its last line."""
        try:
            self.sync()
        except OSError as exc:
            log.warning("Could not fsync the prediction log spill segment: %s", exc)
        self._close_file()

    def release(self, cursor: Position | None = None) -> None:
        """Free the slot, after :meth:`seal`; with ``cursor`` past the end (everything is in the
        store) the checkpoint moves there and the folder is left empty."""
        if cursor is not None and self._dir is not None and cursor >= self.end:
            done = Position(self._active + 1, 0, 0)
            write_checkpoint(self.folder, done, self._window)
            for number in _segment_numbers(self.folder):
                if number < done.segment:
                    _unlink(self._segment_path(number))
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None
        for fd in self._backlog_fds:
            os.close(fd)
        self._backlog_fds.clear()

    def _segment_path(self, number: int) -> Path:
        return segment_path(self.folder, number)


def segment_path(folder: Path, number: int) -> Path:
    """The file of segment ``number`` in the slot ``folder``."""
    return folder / f"{number:020d}{_SUFFIX}"


def write_checkpoint(folder: Path, cursor: Position, window: int) -> None:
    """Record that everything before ``cursor`` is in the store.

    The file is rewritten in place (one ``pwrite`` of a fixed size, within one disk sector), so
    that moving the checkpoint needs no new space on a full disk; a checkpoint torn by a power
    loss reads as unreadable, and every segment is then re-read and checked against the store."""
    checkpoint = {
        "segment": cursor.segment,
        "line": cursor.line,
        "offset": cursor.offset,
        "window": window,
    }
    data = orjson.dumps(checkpoint).ljust(_CHECKPOINT_BYTES, b" ")
    fd = os.open(folder / _CHECKPOINT, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.pwrite(fd, data, 0)
    finally:
        os.close(fd)


def segment_numbers(folder: Path) -> list[int]:
    """The segments in the slot ``folder``, in order."""
    return sorted(_segment_numbers(folder))


@dataclass(frozen=True, slots=True)
class _Found:
    backlog: Backlog | None
    torn: int
    next_segment: int
    """The number a new segment of the slot gets (past every number used before)."""


def _recover_slot(folder: Path, window: int) -> _Found:
    """What an earlier process left in the slot ``folder``; what is left to write, if anything,
    as a :class:`Backlog`.

    One pass: a segment with nothing left to write (empty, consumed, only a torn line) is
    removed now, so that the store writer never walks through it."""
    start, window, trusted = _read_checkpoint(folder, window)
    if not (folder / _CHECKPOINT).exists():
        # Created now, while there is room: it is rewritten in place, even on a full disk.
        with contextlib.suppress(OSError):
            write_checkpoint(folder, start, window)
    existing = sorted(_segment_numbers(folder))
    for number in [n for n in existing if n < start.segment]:
        _unlink(segment_path(folder, number))  # consumed; the crash came before its deletion
    existing = [n for n in existing if n >= start.segment]
    verify_until: Position | None = None
    records = torn = 0
    kept: list[int] = []
    for number in existing:
        path = segment_path(folder, number)
        offset = start.offset if number == start.segment else 0
        lines, end, size = _scan(path, offset)
        if number == start.segment and end < offset:
            # A checkpoint past the data cannot be trusted: re-read the segment, verified.
            start, offset = Position(number, 0, 0), 0
            lines, end, size = _scan(path, 0)
            verify_until = Position(number, lines)
        torn += int(size > end)
        if lines == 0:
            _unlink(path)
            continue
        if size > end:  # cut the torn tail now, so that the next start does not count it again
            with contextlib.suppress(OSError), open(path, "r+b") as file:
                file.truncate(end)
        kept.append(number)
        records += lines
    next_segment = max([*existing, start.segment - 1]) + 1
    if not kept:
        return _Found(None, torn, next_segment)
    if start.segment not in kept:
        start = Position(kept[0], 0, 0)
        # Saved (in place), so that a writer restarted later resumes, and verifies, from here.
        with contextlib.suppress(OSError):
            write_checkpoint(folder, start, window)
    if not trusted:
        verify_until = Position(kept[-1] + 1, 0)  # no telling how far the store got
    elif verify_until is None:
        verify_until = Position(start.segment, start.line + window)
    return _Found(Backlog(folder, start, records, verify_until), torn, next_segment)


def _read_checkpoint(folder: Path, window: int) -> tuple[Position, int, bool]:
    """Where the store writer got to in ``folder``, its batch size, and whether the checkpoint
    is sound."""
    path = folder / _CHECKPOINT
    try:
        data = orjson.loads(path.read_bytes())
        position = Position(int(data["segment"]), int(data["line"]), int(data["offset"]))
        return position, int(data.get("window", window)), True
    except FileNotFoundError:  # nothing was ever written to the store from this slot
        return Position(0, 0, 0), window, True
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        log.warning(
            "Ignoring the unreadable checkpoint %s; every segment is re-read and checked "
            "against the store.",
            path,
        )
        return Position(0, 0, 0), window, False


def checkpoint_cursor(folder: Path, window: int) -> tuple[Position, Position]:
    """Where a new store writer resumes in the slot ``folder`` (after a writer crash), and up
    to where it checks the store for records already written."""
    cursor, window, trusted = _read_checkpoint(folder, window)
    if not trusted:
        return cursor, Position(max(_segment_numbers(folder), default=0) + 1, 0)
    return cursor, Position(cursor.segment, cursor.line + window)


def _take_slot(root: Path) -> tuple[Path, int]:
    """The first ``slot-N`` folder no other process holds, locked; created if needed."""
    index = 0
    while True:
        folder = root / f"slot-{index}"
        folder.mkdir(exist_ok=True)
        fd = os.open(folder / _LOCK, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            index += 1
            continue
        if _writer_gone(folder):
            return folder, fd
        os.close(fd)  # the writer of a dead process is still at work: leave the slot to it
        index += 1


def hold_writer_lock(folder: Path) -> int:
    """Wait for and take the store writer's lock on the slot ``folder``; returns its fd.

    A store writer outlives a server killed with ``kill -9`` by one batch at most; holding this
    lock keeps the next server from reading the slot's checkpoint before that batch is done."""
    fd = os.open(folder / _WRITER_LOCK, os.O_CREAT | os.O_RDWR, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def _writer_gone(folder: Path) -> bool:
    """Whether no store writer holds the slot (waiting a little for one that is finishing)."""
    fd = os.open(folder / _WRITER_LOCK, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        deadline = time.monotonic() + _ORPHAN_WAIT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.05)
    finally:
        os.close(fd)  # releases the lock if taken


def _segment_numbers(folder: Path) -> list[int]:
    numbers = []
    for path in folder.glob(f"*{_SUFFIX}"):
        with contextlib.suppress(ValueError):
            numbers.append(int(path.name.removesuffix(_SUFFIX)))
    return numbers


def _scan(path: Path, offset: int) -> tuple[int, int, int]:
    """Complete lines from ``offset``, the offset just past the last one, and the offset just
    past the last byte of data (the NUL padding of a segment a crashed process had mapped is
    not data)."""
    lines = 0
    end = used = offset
    position = offset
    with open(path, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        if offset > size or (offset > 0 and _byte_before(file, offset) != b"\n"):
            return 0, -1, size
        file.seek(offset)
        while chunk := file.read(_READ_CHUNK):
            count = chunk.count(b"\n")
            if count:
                lines += count
                end = position + chunk.rindex(b"\n") + 1
            data = len(chunk.rstrip(b"\0"))
            if data:
                used = position + data
            position += len(chunk)
    return lines, end, used


def _byte_before(file: BinaryIO, offset: int) -> bytes:
    file.seek(offset - 1)
    return file.read(1)


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
