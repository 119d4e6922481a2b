"""The daemon's upkeep, run by its maintenance thread under the writer lock: debounced JSONL
flushes, imports of a JSONL that changed under the daemon, lease expiry, housekeeping (a
vanished workspace, the idle exit) and the plug-ins' hooks. A part of ``Server``."""
from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .. import jsonl
from ..errors import BdError, LockTimeoutError, internal
from ..ops import claim, leases
from ..store import Store
from ..workspace import Workspace, safefs
from .feed import Feed
from .jobs import Job, Plugin


class Upkeep:
    """The maintenance half of ``Server`` (a mixin: it works on the server's own state, which
    ``Server.__init__`` sets; the annotations below say what it uses)."""

    ws: Workspace
    writer_store: Store
    log: Callable[[str], None]
    state: Any
    plugins: tuple[Plugin, ...]
    jobs: deque[Job]
    feed: Feed
    stats: dict[str, int]
    flush_interval: float
    idle_timeout: float
    flush_due: float | None
    flush_error: str | None
    import_error: BdError | None
    lease_due: float | None
    last_activity: float
    final_dirty: int
    finished: threading.Event
    _absorbed_fp: str | None
    _jsonl_default: Path
    _wake_maint: threading.Event
    _stop: threading.Event
    _wlock: threading.Lock
    _flock: safefs.FileLock
    _db_ino: int

    def stop(self, reason: str = "") -> None: ...

    def _drain(self) -> None: ...

    def _wrote(self) -> None: ...

    def _maintenance_loop(self) -> None:
        """Debounced JSONL flushes and periodic checks; sleeps (no polling) in between."""
        last_check = time.monotonic()
        while True:
            timeout = 2.0
            due = self.flush_due
            if due is not None:
                timeout = max(min(timeout, due - time.monotonic()), 0)
            lease_due = self.lease_due
            if lease_due is not None:  # wake when the next lease expires, not before
                timeout = max(min(timeout, lease_due - time.time()), 0)
            self._wake_maint.wait(timeout)
            self._wake_maint.clear()
            stopping = self._stop.is_set()
            now = time.monotonic()
            with self._wlock:
                if stopping:
                    self._drain()
                    while self.jobs:
                        self._drain()
                if not stopping and self.lease_due is not None and time.time() >= self.lease_due:
                    self._expire_leases(self.writer_store)
                if self.flush_due is not None and (now >= self.flush_due or stopping):
                    if stopping or not self._flush_held():
                        self._flush(self.writer_store)
                    else:
                        self.flush_due = None
                        self._after_flush(self.writer_store)
                if stopping:
                    try:
                        if self.writer_store.dirty_count():
                            self._flush(self.writer_store)
                        self.final_dirty = self.writer_store.dirty_count()
                        if self.final_dirty:
                            self.log(f"stopping with {self.final_dirty} issue change(s) not in "
                                     f"{self.ws.jsonl_path.name} ({self.flush_error}); they are saved in the "
                                     "database and written by the next flush")
                    finally:
                        self.finished.set()
                    self.writer_store.close()
                    return
                if now - last_check >= 2.0:
                    last_check = now
                    self._housekeeping(self.writer_store)

    def _expire_leases(self, store: Store) -> None:
        """Return the issues whose lease ran out to ready. Caller holds ``_wlock``."""
        try:
            gone = claim.expire_due(store)
        except Exception as e:
            self.log(f"cannot expire leases: {type(e).__name__}: {e}")
            gone = []
        self.lease_due = leases.next_due(store)
        if gone:
            self.log(f"lease expired: {', '.join(gone)} back to ready")
            store.mark_changed()
            self._wrote()

    def _absorbed(self) -> bool:
        """Whether the workspace JSONL is, by its stat, the one last found absorbed (then it
        cannot need importing). The hot path of every request: one ``lstat`` of the default
        name (``Workspace.jsonl_path`` is that name whenever it exists)."""
        fp = jsonl.fingerprint(self._jsonl_default)
        return fp is not None and fp == self._absorbed_fp

    def _sync_in(self, store: Store) -> None:
        """Import the JSONL if it changed under us (pull, merge, checkout, an edit)."""
        if self._absorbed():
            return
        path = self.ws.jsonl_path
        try:
            # A file whose stat is what we last found absorbed cannot need importing;
            # anything else gets the full check.
            fp = jsonl.fingerprint(path)
            if fp is not None and fp == self._absorbed_fp:
                return
            if not jsonl.needs_import(store, path):
                self._absorbed_fp = jsonl.fingerprint(path)
                self.import_error = None
                return
            from ..gitsync.env import rebasing
            if rebasing(self.ws.root):
                return  # git is replaying commits: the file is its until the rebase ends
            with self._flock.acquire(timeout=10):
                if not jsonl.needs_import(store, path):
                    self._absorbed_fp = jsonl.fingerprint(path)
                    self.import_error = None
                    return
                res = jsonl.import_text(store, None, actor="auto-import", workspace=True, collisions="auto",
                                        path=path)
                self._absorbed_fp = store.get_meta("jsonl_fingerprint") or None  # what was read
                self.import_error = None
            self.lease_due = leases.next_due(store)  # another clone's leases came with it
            self._wake_maint.set()
            self.log(f"imported {path.name}: {len(res.created)} created, {len(res.updated)} updated"
                     + jsonl.kept_summary(len(res.kept_newer), len(res.kept_absent))
                     + (f"; renumbered {res.renumbered}" if res.renumbered else "")
                     + (f"; remapped {res.remapped}" if res.remapped else ""))
            if store.dirty_count() and self.flush_due is None:
                self.flush_due = time.monotonic() + self.flush_interval
        except LockTimeoutError as e:
            self.log(f"import of {path.name} postponed: {e}")
        except BdError as e:
            if self.import_error is None or self.import_error.message != e.message:
                self.log(f"cannot import {path.name}: {e}")
            self.import_error = e
        except Exception as e:
            self.log(f"cannot import {path.name}: {type(e).__name__}: {e}")
            self.import_error = internal(e)

    def _flush(self, store: Store) -> None:
        """Write the dirty issues to the JSONL. On failure (a full disk) they stay dirty, the
        reason is kept in ``flush_error`` (write answers and ``health`` carry it) and the flush
        is retried."""
        from ..gitsync.env import index_locked, rebasing
        if rebasing(self.ws.root):  # a rewrite now would stop 'git rebase --continue'
            self.flush_due = time.monotonic() + max(self.flush_interval, 0.5)
            return
        if index_locked(self.ws.root):  # git is writing the work tree (reset, checkout, stash)
            self.flush_due = time.monotonic() + 0.05
            return
        try:
            self._write_jsonl(store)
        except LockTimeoutError:
            self.log("JSONL flush postponed: another bd process holds the lock")
            self.flush_due = time.monotonic() + self.flush_interval
        except Exception as e:
            why = e.message if isinstance(e, BdError) else f"{type(e).__name__}: {e}"
            if why != self.flush_error:
                self.log(f"JSONL flush failed (retried until it works): {why}")
            self.flush_error = why
            self.flush_due = time.monotonic() + max(self.flush_interval, 1.0)

    def _write_jsonl(self, store: Store, before_replace: Any = None) -> bool:
        """Absorb a changed JSONL, then export (see ``jsonl.flush``). Returns whether the file
        was written; raises what it meets (LockTimeoutError, StorageError, or whatever
        ``before_replace`` raises: then nothing changed)."""
        gen = self.state.get().write_gen if self.state is not None else 0
        with self._flock.acquire(timeout=5):
            self._sync_in(store)
            res = jsonl.flush(store, self.ws.jsonl_path, before_replace=before_replace)
            # what we wrote is absorbed by definition: readers need not check it again
            self._absorbed_fp = store.get_meta("jsonl_fingerprint") or None
        if self.flush_error:
            self.log(f"JSONL flush works again (after: {self.flush_error})")
        self.flush_error = None
        self.flush_due = None
        self.stats["flushes"] += 1
        if self.state is not None:
            self.state.mark_exported(gen)
        if res.get("written"):
            self.log(f"flushed {res.get('changed', 0)} issue(s) to {self.ws.jsonl_path.name}")
        self._after_flush(store)
        return bool(res.get("written"))

    def _after_flush(self, store: Store) -> None:
        for plugin in self.plugins:
            try:
                plugin.after_flush(store)
            except Exception as e:
                self.log(f"after-flush of {type(plugin).__name__} failed: {type(e).__name__}: {e}")

    def _flush_held(self) -> bool:
        return any(bool(getattr(p, "holds_flushes", lambda: False)()) for p in self.plugins)

    def flush_now(self, before_replace: Any = None) -> bool:
        """For a plug-in that holds flushes: flush the JSONL now when anything is unexported,
        with ``before_replace`` (see ``jsonl.flush``; the writer lock and ``.beads/bd.lock``
        are held while it runs). Returns whether the JSONL was written; raises LockTimeoutError,
        StorageError and whatever ``before_replace`` raises (then nothing changed). Not once
        stopping: the last flush is the maintenance thread's."""
        with self._wlock:
            if self._stop.is_set():
                return False
            store = self.writer_store
            if not (store.dirty_count() or not self.ws.jsonl_path.exists()):
                return False
            return self._write_jsonl(store, before_replace)

    @contextmanager
    def writes_held(self) -> Iterator[None]:
        """Hold the daemon's writes (the writer lock) for a short local step of a plug-in: the
        auto-push merging what it pulled, so that no issue is created between the merge's look
        at the database and its import (an issue created then would have to be moved aside by
        the import, and renumbered again by the next merge). Take it before ``.beads/bd.lock``,
        as the maintenance thread does."""
        with self._wlock:
            yield

    def _housekeeping(self, store: Store) -> None:
        try:
            st = os.stat(self.ws.db_path)
            gone = st.st_ino != self._db_ino or not self.ws.beads_dir.is_dir()
        except FileNotFoundError:
            gone = True
        if gone:
            self.log(f"{self.ws.beads_dir} or its database disappeared; exiting")
            self.flush_due = None
            self.stop("workspace removed")
            return
        if self.idle_timeout > 0 and time.monotonic() - self.last_activity > self.idle_timeout \
                and not self.jobs and not self.feed.subscribers:  # someone watching is not idle
            self.log(f"idle for {self.idle_timeout:g}s; exiting")
            self.stop("idle timeout")
            return
        self._sync_in(store)
        for plugin in self.plugins:
            try:
                plugin.housekeeping(store)
            except Exception as e:
                self.log(f"housekeeping of {type(plugin).__name__} failed: {type(e).__name__}: {e}")
