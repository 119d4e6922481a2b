"""SQLite failures as the core's errors: locked, full disk, damaged file."""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from ..errors import BdError, DatabaseError, LockTimeoutError, StorageError


def _no_space(path: Path) -> bool:
    try:
        st = os.statvfs(path.parent)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < 64 * 1024


def storage_failure(e: sqlite3.Error) -> bool:
    """Whether SQLite failed because of the disk (full, read-only, I/O), not the SQL."""
    msg = str(e).lower()
    return any(w in msg for w in ("disk is full", "readonly", "read-only", "disk i/o error"))


def database_error(path: Path, e: sqlite3.Error) -> BdError:
    """The core error for a SQLite failure on the database at ``path``."""
    msg = str(e)
    if "locked" in msg or "busy" in msg:
        return LockTimeoutError(f"{path} stayed locked by another process: {msg}",
                                "wait for the other bd process to finish, then retry")
    if "full" in msg or (storage_failure(e) and _no_space(path)):  # a full disk may say "I/O error"
        return StorageError(f"cannot write {path}: the disk is full; nothing was saved",
                            "free some disk space, then run the command again")
    if storage_failure(e):
        return StorageError(f"cannot write {path}: {msg}; nothing was saved",
                            "check the disk and the file's permissions, then run the command again")
    return DatabaseError(f"{path} is not a usable beads database: {msg}",
                         "if it is damaged, move it aside (keep the copy) and run 'bd init' in the project: "
                         "it rebuilds the database from .beads/issues.jsonl")
