"""Direct mode: run operations in this process against the SQLite file.

Writers serialise through an ``flock`` on ``.beads/bd.lock`` (opened safely: never through a
link; bounded wait, clear error on timeout); the same lock guards the JSONL, so a daemon and direct-mode writers never write
it at once. Before an operation, a JSONL that changed under us (``git pull``) is imported,
newer-wins (auto-import); leases that have run out are returned to ready (lazily: before the
operation that would see them); after a write the JSONL is brought up to date (auto-flush).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import jsonl, ops
from ..errors import BdError, LockTimeoutError, NotExportedError, ReadOnlyError, UnsafePathError
from ..ops import leases
from ..store import Store
from ..workspace import Workspace, safefs

#: operations that must not trigger an auto-import first (they handle the file themselves)
_NO_AUTO_IMPORT = frozenset({"import", "ping", "flush"})
#: operations that need no expired lease returned first
_NO_LEASE_SWEEP = frozenset({"ping", "info", "config_get", "config_list", "flush", "export"})


def _wait_for_git(root: Any, limit: float = 2.0) -> None:
    """Give a git command that is writing the work tree (it holds ``index.lock``) a moment to
    finish before the JSONL is renamed into place, so that it does not fail on our file."""
    import time

    from ..gitsync.env import index_locked
    deadline = time.monotonic() + limit
    while index_locked(root) and time.monotonic() < deadline:
        time.sleep(0.02)


class DirectBackend:
    """``call(op, args)`` in-process. One Store per backend; close() when done."""

    mode = "direct"

    def __init__(self, ws: Workspace, actor: str, *, auto_flush: bool = True, auto_import: bool = True,
                 lock_timeout: float = 30.0) -> None:
        self.ws = ws
        self.actor = actor
        self.auto_flush = auto_flush
        self.auto_import = auto_import
        self.lock_timeout = lock_timeout
        self._store: Store | None = None
        #: progress(done, total) for long imports (set by the CLI on a terminal)
        self.progress: Callable[[int, int], None] | None = None
        self.notices: list[str] = []
        #: set when a write was committed but the JSONL could not be updated (exit status 4)
        self.export_error: NotExportedError | None = None
        #: --readonly: refuse writes (ReadOnlyError) before taking any lock
        self.readonly = False

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store(self.ws.db_path)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def _lock(self) -> safefs.FileLock:
        return safefs.FileLock(self.ws.lock_path, timeout=self.lock_timeout)

    def call(self, op: str, args: dict[str, Any] | None = None, actor: str | None = None) -> Any:
        """Run ``op``; raises BdError. Takes the workspace lock for writes and imports."""
        store = self.store
        args = args or {}
        write = ops.is_write(op, args)
        if write and self.readonly:
            raise ReadOnlyError.refusing(op)
        path = self.ws.jsonl_path
        want_import = self.auto_import and op not in _NO_AUTO_IMPORT and jsonl.needs_import(store, path)
        # a read-only invocation leaves expired leases for the next writer to return
        sweep = not self.readonly and op not in _NO_LEASE_SWEEP and leases.due(store)
        ctx = ops.Ctx(store, actor or self.actor, progress=self.progress)
        if not write and not want_import and not sweep:
            return ops.run(store, op, args, ctx.actor, ctx)
        from ..gitsync.env import rebasing
        if rebasing(self.ws.root):  # git is replaying commits: the JSONL is git's until it ends
            want_import = False
            if write and op != "import":
                ctx.notices.append(f"saved; {path.name} is brought up to date once the rebase in progress ends")
        try:
            held = self._lock().acquire()
        except LockTimeoutError:
            raise LockTimeoutError(
                f"another bd process held {self.ws.lock_path} for more than {self.lock_timeout:g}s",
                "wait for it to finish and retry; if no bd is running, the lock is free (it is released "
                "when its process exits)") from None
        try:
            with held:
                safefs.clean_stale_temps(self.ws.beads_dir)  # left by a crash or a full disk
                if want_import:
                    self._auto_import(store, path)
                if sweep:
                    from ..ops import claim  # only when a lease has run out: not at start-up
                    claim.expire_due(store)
                result = ops.run(store, op, args, ctx.actor, ctx)
                if write or sweep:
                    store.mark_changed()  # a running daemon keeps the WAL: say so to file watchers
                # after a write, or an auto-import that kept newer local versions (the file
                # is stale for them), bring the JSONL up to date before we exit
                if (write or want_import or sweep) and self.auto_flush and op != "flush" and store.dirty_count() \
                        and not rebasing(self.ws.root):
                    _wait_for_git(self.ws.root)
                    try:
                        jsonl.flush(store, path)
                    except BdError as e:
                        # the write itself is committed: the command's result stands, and the
                        # CLI says what happened with its own exit status (never a retry)
                        self.export_error = not_exported(path, e, store.dirty_count())
                self.note_state(store, wrote=write or sweep)
        finally:
            self.notices.extend(ctx.notices)
        return result

    def note_state(self, store: Store, *, wrote: bool) -> None:
        """Keep ``.beads/bd.state`` current (the hint hooks read): a write bumps the write
        generation; an exported database sets the exported one. Never fails the operation."""
        from ..workspace import statefile
        try:
            w = statefile.Writer(self.ws.state_path)
        except UnsafePathError as e:
            self.notices.append(f"not updated: {e.message}")
            return
        except OSError:
            return
        try:
            w.note(wrote=wrote, dirty=store.dirty_count() > 0)
        except OSError:
            pass
        finally:
            w.close()

    def _auto_import(self, store: Store, path: Any) -> None:
        if not jsonl.needs_import(store, path):  # someone imported it while we waited
            return
        res = jsonl.import_text(store, None, actor="auto-import", workspace=True, collisions="auto", path=path)
        self.notices.extend(res.warnings)
        for old, new in res.renumbered.items():
            self.notices.append(f"auto-import: local issue {old} collided with {old} from the JSONL; "
                                f"it is now {new}")
        for old, new in res.remapped.items():
            self.notices.append(f"auto-import: {old} from the JSONL collided with a local issue; "
                                f"imported it as {new}")
        changed = len(res.created) + len(res.updated)
        if changed:
            self.notices.append(f"auto-import: {len(res.created)} created, {len(res.updated)} updated "
                                f"from {path.name}")


def not_exported(path: Any, e: BdError, dirty: int) -> NotExportedError:
    """The report for a write that is committed but not in the JSONL (both transports)."""
    return NotExportedError(
        f"saved in the database, but {path} was not updated: {e.message}",
        f"do not run the command again: the change is saved ({dirty} issue change(s) wait for the file). "
        "Once the cause is fixed (e.g. disk space freed), the next bd write, 'bd doctor --fix' or the "
        "pre-commit hook writes them", path=str(path), cause=e.kind)
