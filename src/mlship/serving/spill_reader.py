"""Reading the spill journal as it grows, from the prediction log's writer process.

The serving process appends lines to the active segment through a memory map; this side reads
the same file through the page cache. A line is complete once it ends with a newline and holds
no NUL byte (a copy in progress may have filled the end of a line before its middle; a JSON line
never holds a NUL). A segment is finished once a later one exists (the appender cuts a segment
before it starts the next), once it is older than the appender's first segment, or once the
appender has sealed the journal.
"""

from __future__ import annotations

import os
from pathlib import Path

from mlship.serving.spill import Position, segment_numbers, segment_path, write_checkpoint

_CHUNK = 1 << 20


class JournalReader:
    """Read lines from a slot of the spill folder, and commit how far the store has them.

    ``first_active`` is the first segment the live appender writes: every earlier segment was
    left by an earlier process and is finished.
    """

    def __init__(self, folder: Path, first_active: int, window: int) -> None:
        self.folder = folder
        self._first_active = first_active
        self._window = window
        self._sealed = False

    def seal(self) -> None:
        """The appender has stopped: every segment is finished."""
        self._sealed = True

    def read(self, cursor: Position, limit: int) -> tuple[list[bytes], Position]:
        """Up to ``limit`` complete lines from ``cursor`` (without their newline), and the
        cursor after them.

        With no line left in a finished segment, the cursor moves to the start of the next one
        (no lines): commit it to delete the finished segment.
        """
        # Looked at before reading: a later segment that exists now means this one was cut before.
        later = [n for n in segment_numbers(self.folder) if n > cursor.segment]
        finished = self._sealed or cursor.segment < self._first_active or bool(later)
        path = segment_path(self.folder, cursor.segment)
        lines, after = _lines(path, cursor, limit)
        if lines or not finished:
            return lines, after
        if later:
            return [], Position(later[0], 0, 0)
        if cursor.segment < self._first_active:  # the appender has not started its first one
            return [], Position(self._first_active, 0, 0)
        if path.exists():  # sealed: the last segment is done
            return [], Position(cursor.segment + 1, 0, 0)
        return [], cursor

    def commit(self, cursor: Position) -> None:
        """Everything before ``cursor`` is in the store: move the checkpoint, delete segments."""
        write_checkpoint(self.folder, cursor, self._window)
        for number in segment_numbers(self.folder):
            if number >= cursor.segment:
                break
            try:
                segment_path(self.folder, number).unlink()
            except FileNotFoundError:
                pass

    def sync(self, cursor: Position) -> None:
        """fsync the newest segment: what the appender copied into it survives a power loss."""
        numbers = [n for n in segment_numbers(self.folder) if n >= cursor.segment]
        if not numbers:
            return
        try:
            fd = os.open(segment_path(self.folder, numbers[-1]), os.O_RDONLY)
        except FileNotFoundError:
            return
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _lines(path: Path, cursor: Position, limit: int) -> tuple[list[bytes], Position]:
    try:
        file = open(path, "rb")
    except FileNotFoundError:
        return [], cursor
    with file:
        file.seek(cursor.offset)
        data = b""
        size = _CHUNK
        while True:
            chunk = file.read(size)
            data += chunk
            stop = data.find(b"\0")
            if stop >= 0:
                data = data[:stop]
                break
            # Read on while the buffer is full but holds no whole line (one very long line).
            if len(chunk) < size or b"\n" in data:
                break
            size *= 2
    lines = data.split(b"\n")[:-1]  # the last piece is empty or an incomplete line
    del lines[limit:]
    taken = sum(len(line) for line in lines) + len(lines)
    return lines, Position(cursor.segment, cursor.line + len(lines), cursor.offset + taken)
