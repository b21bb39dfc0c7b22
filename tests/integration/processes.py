"""What a running server process holds, read from /proc (no psutil in the project)."""

from __future__ import annotations

import os
from pathlib import Path


def tcp_ports(pid: int) -> set[int]:
    """Local TCP ports of the sockets process ``pid`` holds (from /proc: no psutil here)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            link = os.readlink(fd)
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[len("socket:[") : -1])
    ports = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports
