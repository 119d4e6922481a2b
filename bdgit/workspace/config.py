"""Reading workspace configuration without opening the Store (no migrations, no write lock)."""
from __future__ import annotations

from . import Workspace


def read_config(ws: Workspace, key: str) -> str | None:
    """One config value, read-only and without the Store (no migrations, no write lock): for
    decisions taken before or instead of opening the database. None when unset or unreadable."""
    import sqlite3  # lazily: the daemon-mode client path must not import it
    try:
        conn = sqlite3.connect(f"file:{ws.db_path}?mode=ro", uri=True, timeout=2)
        try:
            row = conn.execute("SELECT value FROM config WHERE key=?", (key,)).fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    return str(row[0]) if row else None
