"""The ``--out`` folder of a build: refused when it holds files, unless ``--force``.

``--force`` removes only the entries a build writes, never anything else the folder holds.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

from mlship.errors import ConfigError


def prepare_out_dir(out: Path, entries: Iterable[str], *, force: bool) -> Path:
    """Make ``out`` ready for a build that writes ``entries`` (top-level names) into it."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; name a folder (it is created if missing).")
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise ConfigError(
                f"--out {out} is not empty. Choose a new folder, or pass --force to replace "
                "what an earlier build wrote there."
            )
        for name in entries:
            path = out / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()
    out.mkdir(parents=True, exist_ok=True)
    return out
