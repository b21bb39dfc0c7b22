"""The metadata store: one SQLAlchemy metadata, SQLite by default, PostgreSQL by URL."""

from __future__ import annotations

from mlship.store.database import Store, as_utc, mask_url, open_store, utcnow

__all__ = ["Store", "as_utc", "mask_url", "open_store", "utcnow"]
