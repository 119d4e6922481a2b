"""WAL checkpoints off the request path: the daemon's writer never checkpoints.

SQLite's default checkpoints the WAL from inside the COMMIT that pushes it past 1,000 pages:
that one request pays for copying every page back into the database and two fsyncs (tens of
milliseconds, on the writer lock, so every queued write waits too). The daemon's writer turns
that off (``PRAGMA wal_autocheckpoint=0``) and a thread of its own runs a PASSIVE checkpoint
on its own connection after every ``every`` committed write groups. PASSIVE never blocks the
writer or the readers (it copies what no reader still needs, and gives up on the rest until
the next round), and a commit is durable in the WAL before it is acknowledged, so nothing
acknowledged depends on when, or whether, a checkpoint runs. Direct-mode processes keep
SQLite's default and checkpoint by themselves.
"""
from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

from ..errors import BdError
from ..store import Store

#: committed write groups between two checkpoints (~10 pages each: about SQLite's 1,000 pages)
EVERY = 100


def writer_pragmas(conn: sqlite3.Connection) -> None:
    """Make ``conn`` (the writer's) leave checkpoints to a ``Checkpointer``."""
    conn.execute("PRAGMA wal_autocheckpoint=0")


class Checkpointer:
    """A thread that checkpoints ``db_path``'s WAL when told that enough was written.

    ``wrote()`` is cheap (a counter; the writer calls it after each committed group, holding
    its lock); ``close()`` stops the thread and closes its connection. A failed checkpoint is
    logged and tried again on the next round: the WAL only grows meanwhile."""

    def __init__(self, db_path: Path, log: Callable[[str], None], every: int = EVERY) -> None:
        self.db_path = db_path
        self.log = log
        self.every = every
        self.count = 0  #: checkpoints run (for ``health``)
        self._pending = 0
        self._wake = threading.Event()
        self._stop = False
        self._thread = threading.Thread(target=self._loop, name="bd-checkpoint", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wrote(self) -> None:
        self._pending += 1
        if self._pending >= self.every:
            self._pending = 0
            self._wake.set()

    def close(self) -> None:
        self._stop = True
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        store: Store | None = None
        try:
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._stop:
                    return
                try:
                    if store is None:  # opened as every Store is: its files checked first
                        store = Store(self.db_path)
                    store.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.count += 1
                except (sqlite3.Error, BdError) as e:
                    self.log(f"WAL checkpoint failed (tried again later): {e}")
        finally:
            if store is not None:
                store.close()
