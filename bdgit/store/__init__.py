"""SQLite storage: schema and migrations (schema.py), the Store (db.py), queries (queries.py)."""
from __future__ import annotations

from .db import Store, open_store

__all__ = ["Store", "open_store"]
