"""Opening the metadata database: engine, pragmas, migrations, transactions.

SQLite runs in WAL mode with a busy timeout, and every write transaction starts with
``BEGIN IMMEDIATE`` so that concurrent writers queue instead of failing on lock upgrade.
PostgreSQL write transactions are READ COMMITTED transactions that lock the rows they change.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from mlship.errors import ConfigError, StoreUnavailable
from mlship.store.schema import SCHEMA_REVISION

log = logging.getLogger(__name__)

_IMMEDIATE = "mlship_sqlite_immediate"
_MIGRATION_LOCK_ID = 0x6D6C73  # "mls": pg_advisory_lock key for migrations


def utcnow() -> datetime:
    """The current time, timezone-aware UTC (what every timestamp in the store is)."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite returns naive datetimes: they were written as UTC, so say so."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def mask_url(url: str) -> str:
    """The URL with its password replaced by ``***``, safe to show and log."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "<unparseable URL>"


class Store:
    """An open metadata database. Create with :func:`open_store`."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    @property
    def url(self) -> str:
        """The database URL with the password masked."""
        return self._engine.url.render_as_string(hide_password=True)

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection in a read transaction (deferred on SQLite: it never blocks writers)."""
        with self._connect() as conn, conn.begin():
            yield conn

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A connection in a write transaction; commits on success, rolls back on error."""
        with self._connect() as conn:
            conn = conn.execution_options(**{_IMMEDIATE: True})
            with conn.begin():
                yield conn

    @contextlib.contextmanager
    def _connect(self) -> Iterator[Connection]:
        try:
            conn = self._engine.connect()
        except sa.exc.OperationalError as exc:
            raise _unavailable(self.url, exc) from None
        with conn:
            yield conn

    def close(self) -> None:
        self._engine.dispose()


def open_store(db_url: str, *, migrate: bool = True, create: bool = True) -> Store:
    """Open the database at ``db_url``, creating and migrating its tables when needed.

    With ``create=False`` the folder of a SQLite file is not created (a missing one is an error
    when the store is first used).

    >>> store = open_store("sqlite://")
    >>> store.dialect
    'sqlite'
    """
    try:
        url = sa.engine.make_url(db_url)
    except sa.exc.ArgumentError:
        raise ConfigError(
            f"MLSHIP_DB_URL is not a database URL: {db_url!r}. "
            "Use e.g. 'sqlite:///path/mlship.db' or 'postgresql+psycopg://user@host/db'."
        ) from None
    engine = _create_engine(url, create=create)
    store = Store(engine)
    if migrate:
        _migrate(store)
    return store


def _create_engine(url: sa.URL, *, create: bool) -> Engine:
    backend = url.get_backend_name()
    if backend == "sqlite":
        database = url.database or ""
        if create and database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30})
        _configure_sqlite(engine, in_memory=not database or database == ":memory:")
        return engine
    if backend == "postgresql":
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        return sa.create_engine(
            url, pool_pre_ping=True, connect_args={"connect_timeout": 5}, pool_size=10
        )
    raise ConfigError(
        f"Unsupported database {backend!r} in MLSHIP_DB_URL. mlship supports SQLite and PostgreSQL."
    )


def _configure_sqlite(engine: Engine, *, in_memory: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control from the sqlite3 module so BEGIN IMMEDIATE is possible.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        if not in_memory:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _unavailable(masked_url: str, exc: BaseException) -> StoreUnavailable:
    reason = (
        str(getattr(exc, "orig", exc)).strip().splitlines()[0] if str(exc) else type(exc).__name__
    )
    return StoreUnavailable(
        f"Cannot open the mlship store at {masked_url}: {reason}. "
        "Check MLSHIP_DB_URL and that the database server is running."
    )


def current_revision(store: Store) -> str | None:
    """The Alembic revision the database is at, or None for an empty database."""
    with store.read() as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def _migrate(store: Store) -> None:
    try:
        revision = current_revision(store)
    except sa.exc.OperationalError as exc:
        raise _unavailable(store.url, exc) from None
    if revision == SCHEMA_REVISION:
        return
    with _migration_lock(store) as conn:
        _run_alembic_upgrade(conn)


@contextlib.contextmanager
def _migration_lock(store: Store) -> Iterator[Connection]:
    """Serialise migrations between processes that open a fresh store at once."""
    if store.dialect == "postgresql":
        with store._connect() as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _MIGRATION_LOCK_ID})
            conn.commit()
            try:
                yield conn
            finally:
                conn.rollback()
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _MIGRATION_LOCK_ID})
                conn.commit()
        return
    database = store.engine.url.database or ""
    if not database or database == ":memory:":
        with store._connect() as conn:
            yield conn
        return
    import fcntl

    lock_path = f"{database}.migrate.lock"
    fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with store._connect() as conn:
            yield conn
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _run_alembic_upgrade(conn: Connection) -> None:
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    cfg.attributes["connection"] = conn
    log.info("Migrating the mlship store to revision %s", SCHEMA_REVISION)
    command.upgrade(cfg, "head")
    conn.commit()
