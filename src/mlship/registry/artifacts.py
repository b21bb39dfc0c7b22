"""Content-addressed artifact storage on any fsspec URL (a folder, ``s3://bucket/prefix``, ...).

An artifact lives at ``<root>/sha256/<2 hex>/<64 hex>``. Writes go to a temporary name and are then
moved into place, so a reader never sees half a file; every read verifies the SHA-256.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from mlship.errors import ArtifactNotFound, ConfigError, IntegrityError

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

log = logging.getLogger(__name__)

_CHUNK = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class StoredArtifact:
    """Where an artifact was stored and what its bytes hash to."""

    uri: str
    sha256: str
    size: int


def sha256_file(path: str | Path) -> str:
    """SHA-256 of a local file, read in chunks."""
    with open(path, "rb") as fh:
        return _sha256(fh)


def _sha256(fh: BinaryIO) -> str:
    digest = hashlib.sha256()
    while chunk := fh.read(_CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


class ArtifactStore:
    """Content-addressed blobs under ``root`` (a local folder or an fsspec URL)."""

    def __init__(self, root: str, *, s3_endpoint_url: str | None = None) -> None:
        self._root = root.rstrip("/")
        self._s3_endpoint_url = s3_endpoint_url
        self._fs: AbstractFileSystem | None = None

    @property
    def root(self) -> str:
        return self._root

    @property
    def s3_endpoint_url(self) -> str | None:
        return self._s3_endpoint_url

    def _local_base(self) -> Path | None:
        """The root as a local folder, or None when it is a URL."""
        if "://" in self._root and not self._root.startswith("file://"):
            return None
        return Path(self._root.removeprefix("file://")).expanduser().resolve()

    def _filesystem(self) -> tuple[AbstractFileSystem, str]:
        import fsspec

        protocol, _, rest = self._root.partition("://")
        if not rest:
            protocol, rest = "file", str(Path(self._root).expanduser().resolve())
        if self._fs is None:
            options: dict[str, Any] = {}
            if protocol in ("s3", "s3a") and self._s3_endpoint_url:
                options["client_kwargs"] = {"endpoint_url": self._s3_endpoint_url}
            try:
                self._fs = fsspec.filesystem(protocol, **options)
            except (ImportError, ValueError) as exc:
                raise ConfigError(
                    f"MLSHIP_ARTIFACTS={self._root!r} uses the unsupported scheme {protocol!r}: "
                    f"{exc}. Use a local folder or s3://bucket/prefix."
                ) from None
        return self._fs, rest

    def _path(self, sha256: str) -> str:
        _, base = self._filesystem()
        return f"{base}/sha256/{sha256[:2]}/{sha256}"

    def uri_for(self, sha256: str) -> str:
        fs, _ = self._filesystem()
        path = self._path(sha256)
        return path if fs.protocol in ("file", ("file", "local")) else fs.unstrip_protocol(path)

    def put_file(self, local_path: str | Path) -> StoredArtifact:
        """Store a local file; returns its content address.

        Storing bytes that are already stored uploads nothing, but the stored copy is read back and
        replaced if it no longer matches: registering a model again repairs a damaged artifact.
        """
        sha = sha256_file(local_path)
        size = Path(local_path).stat().st_size
        fs, _ = self._filesystem()
        target = self._path(sha)
        if not self._holds(fs, target, sha, size):
            tmp = f"{target}.tmp-{uuid.uuid4().hex}"
            fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
            fs.put_file(str(local_path), tmp)
            fs.mv(tmp, target)
        return StoredArtifact(uri=self.uri_for(sha), sha256=sha, size=size)

    @staticmethod
    def _holds(fs: AbstractFileSystem, target: str, sha256: str, size: int) -> bool:
        """True when ``target`` exists and its bytes hash to ``sha256``."""
        # Object stores cache listings, and someone may have changed the object since.
        fs.invalidate_cache(target)
        try:
            if fs.size(target) == size:
                with fs.open(target, "rb") as fh:
                    if _sha256(fh) == sha256:
                        return True
        except FileNotFoundError:
            return False
        log.warning("Replacing the damaged artifact at %s with the bytes being registered", target)
        return False

    def fetch(self, sha256: str, dest: str | Path) -> Path:
        """Copy the artifact to ``dest`` and verify its hash; raises IntegrityError on mismatch.

        ``dest`` is only written once the bytes are verified: a failed fetch leaves it as it was.
        """
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f"{dest.name}.tmp-{uuid.uuid4().hex}")
        try:
            local = self._local_base()
            if local is not None:
                # The common local case without fsspec (its import alone costs ~30 ms).
                data = (local / "sha256" / sha256[:2] / sha256).read_bytes()
                actual = hashlib.sha256(data).hexdigest()
                tmp.write_bytes(data)
            else:
                fs, _ = self._filesystem()
                fs.get_file(self._path(sha256), str(tmp))
                actual = sha256_file(tmp)
        except FileNotFoundError:
            tmp.unlink(missing_ok=True)
            raise ArtifactNotFound(
                f"The artifact {sha256[:12]}... is missing from {self._root}. "
                "Restore it from a backup of the artifact store, or register the model again."
            ) from None
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        if actual != sha256:
            tmp.unlink(missing_ok=True)
            raise IntegrityError(
                f"The artifact at {self.uri_for(sha256)} has changed since it was registered: "
                f"expected SHA-256 {sha256}, found {actual}. Nothing was loaded; restore the "
                "original file or register the model again."
            )
        tmp.replace(dest)
        return dest

    def read_bytes(self, sha256: str) -> bytes:
        """The artifact's bytes, verified against ``sha256``."""
        fs, _ = self._filesystem()
        try:
            data: bytes = fs.cat_file(self._path(sha256))
        except FileNotFoundError:
            raise ArtifactNotFound(
                f"The artifact {sha256[:12]}... is missing from {self._root}. "
                "Restore it from a backup of the artifact store, or register the model again."
            ) from None
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256:
            raise IntegrityError(
                f"The artifact at {self.uri_for(sha256)} has changed since it was registered: "
                f"expected SHA-256 {sha256}, found {actual}. Nothing was loaded; restore the "
                "original file or register the model again."
            )
        return data
