"""MLflow model folders (with an ``MLmodel`` file), loaded through ``mlflow.pyfunc``.

The folder is stored as one deterministic tar archive. MLflow's flavors unpickle their models, so
registering an MLflow model needs ``trusted=True``; the optional extra ``mlship[mlflow]`` provides
MLflow.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import tarfile
import tempfile
import uuid
from pathlib import Path
from typing import IO, Any

from mlship.errors import ConfigError, IntegrityError, UnsafeArtifact, UnsupportedFormat
from mlship.registry.formats.base import PreparedArtifact

log = logging.getLogger(__name__)

_CHUNK = 1024 * 1024

_UNPACK_ATTEMPTS = 3
"""Unpacks tried before giving up when other processes keep replacing the unpacked folder."""


def _require_mlflow() -> Any:
    try:
        import mlflow.pyfunc
    except ImportError:
        raise ConfigError(
            "MLflow models need MLflow installed: pip install 'mlship[mlflow]'."
        ) from None
    return mlflow.pyfunc


def pack_folder(folder: Path, dest: Path) -> Path:
    """Write ``folder`` as a tar whose bytes depend only on file names and contents.

    The archive holds regular files only. A symlink to a file inside the folder is stored as a copy
    of that file; any other symlink (out of the folder, to a folder, dangling) is refused with
    :class:`UnsafeArtifact`, so that no file from outside the folder reaches the artifact store.
    """
    with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, source in _files_to_pack(folder):
            # O_NOFOLLOW: a file swapped for a symlink since the walk is refused, not followed.
            with open(os.open(source, os.O_RDONLY | os.O_NOFOLLOW), "rb") as fh:
                info = tarfile.TarInfo(name)
                info.size = os.fstat(fh.fileno()).st_size
                info.mtime = 0
                info.mode = 0o644
                tar.addfile(info, fh)
    return dest


def _files_to_pack(folder: Path) -> list[tuple[str, Path]]:
    """``(name in the archive, file to read)`` for each file of ``folder``, in path order."""
    root = folder.resolve()
    files: list[tuple[str, Path]] = []
    for name, info in _walk(root).items():
        if stat.S_ISREG(info.st_mode):
            files.append((name, root / name))
        elif stat.S_ISLNK(info.st_mode):
            # MLflow reads through links, so a link to a file of the folder is stored as a copy:
            # the archive holds the bytes MLflow read at registration and unpacks to no link.
            files.append((name, _link_target(folder, root, name)))
    # Sorted by path parts (not by string) so that archives keep the bytes they always had.
    return sorted(files, key=lambda item: Path(item[0]).parts)


def _link_target(folder: Path, root: Path, name: str) -> Path:
    """The file inside ``root`` that the symlink ``name`` points to; refuses any other target."""
    try:
        target = (root / name).resolve()
    except (OSError, RuntimeError):  # a symlink loop (RuntimeError before Python 3.13)
        raise UnsafeArtifact(
            f"The MLflow model folder {folder} holds the symlink {name!r}, which is a loop. "
            "Replace the link with the file it should point to, then register again."
        ) from None
    if not target.is_relative_to(root):
        raise UnsafeArtifact(
            f"The MLflow model folder {folder} holds the symlink {name!r} to {target}, which is "
            "outside the folder: mlship stores only what is inside the model folder. Copy the "
            "file into the folder in place of the link, then register again."
        )
    if not target.is_file():
        raise UnsafeArtifact(
            f"The MLflow model folder {folder} holds the symlink {name!r} to {target}, which is "
            "not a file (a folder, or missing): mlship stores regular files only. Replace the "
            "link with a copy of what it should point to, or remove it, then register again."
        )
    return target


def _walk(root: Path) -> dict[str, os.stat_result]:
    """Every entry under ``root`` by POSIX path relative to it, never following a symlink."""
    found: dict[str, os.stat_result] = {}
    pending = [root]
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                info = entry.stat(follow_symlinks=False)
                found[Path(entry.path).relative_to(root).as_posix()] = info
                if stat.S_ISDIR(info.st_mode):
                    pending.append(Path(entry.path))
    return found


def unpack_folder(archive: Path, dest: Path) -> Path:
    """Extract an archive made by :func:`pack_folder` into ``dest`` (no path escapes).

    An existing ``dest`` is used only when it holds exactly the archive's files, byte for byte,
    and nothing else: a changed, missing or extra file (or a symlink) is logged, and ``dest`` is
    replaced by a fresh copy of the archive, which the caller has verified. Extraction goes to a
    fresh folder renamed into place, so that processes unpacking the same artifact at once never
    read a half-written file.
    """
    dest.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    for _ in range(_UNPACK_ATTEMPTS):
        if os.path.lexists(dest):
            difference = _first_difference(archive, dest)
            if difference is None:
                return dest
            log.warning(
                "The unpacked model in %s differs from its verified archive (%s); "
                "unpacking the archive again.",
                dest,
                difference,
            )
            _remove_aside(dest)
        # mkdtemp makes the folder owner-only (0700), and so ``dest`` once renamed.
        tmp = Path(tempfile.mkdtemp(prefix=f"{dest.name}.tmp-", dir=dest.parent))
        with tarfile.open(archive, "r") as tar:
            tar.extractall(tmp, filter="data")
        try:
            tmp.rename(dest)
        except OSError:  # another process put its copy in place first: check that one
            shutil.rmtree(tmp, ignore_errors=True)
            continue
        return dest
    raise IntegrityError(
        f"The unpacked model in {dest} kept changing while mlship unpacked it. Stop whatever "
        f"writes into {dest.parent}, then load again."
    )


def _first_difference(archive: Path, folder: Path) -> str | None:
    """How ``folder`` first differs from the archive's content (in path order), or None."""
    try:
        if not stat.S_ISDIR(os.lstat(folder).st_mode):
            return f"{folder.name} is not a folder"
        found = _walk(folder)
    except OSError as exc:
        return f"its files cannot be listed: {exc.strerror}"
    with tarfile.open(archive, "r") as tar:
        members = {m.name: m for m in tar.getmembers()}
        expected = {name: "folder" if m.isdir() else "file" for name, m in members.items()}
        for name in list(expected):
            for parent in Path(name).parents[:-1]:
                expected[parent.as_posix()] = "folder"
        for name in sorted(expected.keys() | found.keys(), key=lambda n: Path(n).parts):
            want, info = expected.get(name), found.get(name)
            if info is None:
                return f"{name} is missing"
            got = _kind(info)
            if want is None:
                return f"{name} is an extra {got}"
            if got != want:
                return f"{name} is a {got}, not a {want}"
            if want == "file" and not _same_bytes(tar, members[name], folder / name, info):
                return f"{name} has changed"
    return None


def _kind(info: os.stat_result) -> str:
    if stat.S_ISLNK(info.st_mode):
        return "symlink"
    if stat.S_ISDIR(info.st_mode):
        return "folder"
    if stat.S_ISREG(info.st_mode):
        return "file"
    return "special file"


def _same_bytes(
    tar: tarfile.TarFile, member: tarfile.TarInfo, path: Path, info: os.stat_result
) -> bool:
    if info.st_size != member.size:
        return False
    expected = tar.extractfile(member)
    assert expected is not None  # regular members always have content
    try:
        with open(os.open(path, os.O_RDONLY | os.O_NOFOLLOW), "rb") as fh:
            return _same_stream(expected, fh)
    except OSError:  # unreadable, or swapped for a symlink since the walk
        return False


def _same_stream(a: IO[bytes], b: IO[bytes]) -> bool:
    while True:
        chunk = a.read(_CHUNK)
        if chunk != b.read(_CHUNK):
            return False
        if not chunk:
            return True


def _remove_aside(path: Path) -> None:
    """Move ``path`` aside in one rename (no reader sees it half removed), then delete it."""
    aside = path.with_name(f"{path.name}.stale-{uuid.uuid4().hex}")
    try:
        path.rename(aside)
    except FileNotFoundError:  # another process moved it already
        return
    if stat.S_ISDIR(os.lstat(aside).st_mode):
        shutil.rmtree(aside, ignore_errors=True)
    else:
        aside.unlink(missing_ok=True)


class PyfuncModel:
    """An MLflow pyfunc model behind ``predict`` (and ``predict_proba`` when its flavor has one)."""

    def __init__(self, pyfunc: Any) -> None:
        self._pyfunc = pyfunc
        inner = None
        try:
            inner = pyfunc.unwrap_python_model()
        except Exception:
            inner = getattr(getattr(pyfunc, "_model_impl", None), "sklearn_model", None)
        self._inner = inner
        self.classes_ = getattr(inner, "classes_", None)

    def predict(self, frame: Any) -> Any:
        import numpy as np

        return np.asarray(self._pyfunc.predict(frame))

    @property
    def has_proba(self) -> bool:
        return hasattr(self._inner, "predict_proba")

    def predict_proba(self, frame: Any) -> Any:
        if not self.has_proba:
            raise AttributeError("This MLflow model has no predict_proba.")
        assert self._inner is not None
        return self._inner.predict_proba(frame)


class MlflowFormat:
    """A folder saved by ``mlflow.<flavor>.save_model``."""

    name = "mlflow"

    def accepts_object(self, obj: Any) -> bool:
        return False

    def accepts_path(self, path: Path) -> bool:
        return path.is_dir() and (path / "MLmodel").is_file()

    def prepare(self, source: Any, workdir: Path, *, trusted: bool) -> PreparedArtifact:
        if not isinstance(source, Path) or not self.accepts_path(source):
            raise UnsupportedFormat(f"{source} is not an MLflow model folder (no MLmodel file).")
        if not trusted:
            raise UnsafeArtifact(
                "MLflow model folders are loaded by MLflow, which unpickles the model. Register it "
                "with trusted=True (CLI: --trusted) if you trust the folder."
            )
        archive = pack_folder(source, workdir / "mlflow-model.tar")
        model = self._load_folder(source)
        return PreparedArtifact(
            path=archive, load_spec={"packing": "tar", "trusted": True}, model=model
        )

    def load(self, path: Path, load_spec: dict[str, Any], workdir: Path) -> PyfuncModel:
        if not load_spec.get("trusted"):
            raise UnsafeArtifact("Refusing to load an MLflow model not registered as trusted.")
        folder = unpack_folder(path, workdir / "mlflow-model")
        return self._load_folder(folder)

    def _load_folder(self, folder: Path) -> PyfuncModel:
        pyfunc = _require_mlflow()
        try:
            return PyfuncModel(pyfunc.load_model(str(folder)))
        except Exception as exc:  # MLflow raises many kinds of error on bad folders
            raise UnsupportedFormat(f"MLflow could not load the model in {folder}: {exc}") from None
