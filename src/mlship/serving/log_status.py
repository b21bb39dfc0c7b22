"""What a prediction log says about itself, in a small file of its spill slot.

``status.json`` is reserved (4 KiB) when the log takes its slot and rewritten in place, so that
it can still be written when the disk is full: it is how ``mlship status`` on the same machine
sees a server whose disk is full, and how the next server on the slot learns how many records
the last one lost. A server's ``/readyz`` and ``/metrics`` say the same over HTTP.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

_NAME = "status.json"
_SIZE = 4096
_LOCK = "LOCK"  # the slot's lock, held by the live log (mlship.serving.spill)
UNKNOWN_MODEL = "unknown"
"""The model a lost record is counted under when its line was torn or unreadable."""


@dataclass(frozen=True, slots=True)
class LogStatus:
    """One log's state: whether its disk is full, and what it kept and lost."""

    folder: Path
    pid: int
    updated: datetime
    disk_full_since: datetime | None = None
    held: int = 0
    """Records kept in memory because the journal cannot grow."""
    lost: dict[str, int] = field(default_factory=dict)
    """Records lost, per model (``unknown`` for a torn or unreadable line)."""
    refused: int = 0
    """Requests answered 503 instead (``--on-log-full refuse``)."""
    detail: str = ""

    @property
    def lost_total(self) -> int:
        return sum(self.lost.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "folder": str(self.folder),
            "pid": self.pid,
            "updated": self.updated.isoformat(),
            "disk_full_since": (
                None if self.disk_full_since is None else self.disk_full_since.isoformat()
            ),
            "held": self.held,
            "lost": self.lost,
            "refused": self.refused,
            "detail": self.detail,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LogStatus:
        since = data.get("disk_full_since")
        return cls(
            folder=Path(data["folder"]),
            pid=int(data["pid"]),
            updated=datetime.fromisoformat(data["updated"]),
            disk_full_since=None if since is None else datetime.fromisoformat(since),
            held=int(data.get("held", 0)),
            lost={str(k): int(v) for k, v in dict(data.get("lost", {})).items()},
            refused=int(data.get("refused", 0)),
            detail=str(data.get("detail", "")),
        )


class StatusFile:
    """The slot's ``status.json``, reserved once and rewritten in place (never grows)."""

    def __init__(self, folder: Path) -> None:
        self._fd: int | None = None
        try:
            fd = os.open(folder / _NAME, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            return  # no status file on a disk full from the start; the log works without it
        try:
            os.posix_fallocate(fd, 0, _SIZE)
        except OSError:
            os.close(fd)
            return
        self._fd = fd

    def write(self, status: LogStatus) -> None:
        """Overwrite the file with ``status`` (a no-op without a file; never raises)."""
        if self._fd is None:
            return
        data = orjson.dumps(status.to_dict())[:_SIZE]
        with contextlib.suppress(OSError):
            os.pwrite(self._fd, data.ljust(_SIZE, b" "), 0)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def read_status(folder: Path) -> LogStatus | None:
    """What the last log in slot ``folder`` wrote (None: nothing readable)."""
    try:
        data = orjson.loads((folder / _NAME).read_bytes().rstrip(b" \0") or b"null")
        return None if data is None else LogStatus.from_dict(data)
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


def take_status(folder: Path) -> LogStatus | None:
    """What the last log in slot ``folder`` wrote, removed so that it is told only once."""
    status = read_status(folder)
    with contextlib.suppress(OSError):
        (folder / _NAME).unlink()
    return status


def live_statuses(spill_root: Path) -> list[LogStatus]:
    """The status of every log running now on the spill folder ``spill_root`` (its slot locked)."""
    found = []
    for folder in sorted(spill_root.glob("slot-*")):
        if _held(folder / _LOCK) and (status := read_status(folder)) is not None:
            found.append(status)
    return found


def _held(lock: Path) -> bool:
    """Whether a process holds the flock on ``lock`` now."""
    try:
        fd = os.open(lock, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # releases the shared lock if it was taken
    return False
