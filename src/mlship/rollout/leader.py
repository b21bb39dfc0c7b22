"""One controller among replicas: a PostgreSQL advisory lock held on its own connection (released
by the server if the process dies), or a file lock next to a SQLite database."""

from __future__ import annotations

import contextlib
import logging
import os
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

if TYPE_CHECKING:
    from mlship.store import Store

log = logging.getLogger(__name__)

# One leader per store: the key is derived from the database and the schema, so two mlship
# stores on one PostgreSQL server (or test schemas) do not share a leader.
_KEY_SQL = "hashtext(current_database() || '.' || current_schema() || '.mlship-controller')"


class Leadership:
    """Try to become (and stay) the controller leader; :meth:`held` is cheap to call per tick."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._conn: Any = None
        self._fd: int | None = None

    def held(self) -> bool:
        """True while this process is the leader (tries to take the lock when it is free)."""
        if self._store.dialect == "postgresql":
            return self._postgres()
        return self._file()

    def _postgres(self) -> bool:
        try:
            if self._conn is None:
                self._conn = self._store.engine.connect()
                self._conn.execute(sa.text("SET application_name = 'mlship-controller'"))
                self._conn.commit()
            if self._has_lock():
                return True
            got = self._conn.execute(sa.text(f"SELECT pg_try_advisory_lock({_KEY_SQL})"))
            taken = bool(got.scalar())
            self._conn.commit()
            return taken
        except sa.exc.DBAPIError as exc:
            log.warning("Leader lock check failed: %s", str(exc).splitlines()[0])
            self.release()
            return False

    def _has_lock(self) -> bool:
        held = self._conn.execute(
            sa.text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                f"AND pid = pg_backend_pid() AND objid = ({_KEY_SQL})::bigint & 4294967295"
            )
        ).scalar()
        self._conn.commit()
        return bool(held)

    def _file(self) -> bool:
        if self._fd is not None:
            return True
        import fcntl

        database = self._store.engine.url.database or ""
        if not database or database == ":memory:":
            return True  # an in-memory store lives in this process only
        fd = os.open(f"{database}.controller.lock", os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._conn is not None:
            # Invalidate, not close: a pooled connection would keep the session lock alive.
            with contextlib.suppress(Exception):
                self._conn.invalidate()
                self._conn.close()
            self._conn = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
