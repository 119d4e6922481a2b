"""The daemon's server: one writer thread, concurrent readers, per-request deadlines.

- Connections: one thread each (a slow or stalled client blocks only itself). Lines are
  bounded (``MAX_LINE``); garbage gets an error answer and the connection stays usable.
- Reads run in the connection's thread on a pooled read-only use of SQLite (WAL snapshots).
- Writes go through one writer: a lock that owns the writer connection. The thread that holds
  it runs every queued write in one transaction (group commit; each request in its own
  savepoint, so one failure rolls back only itself) and answers after COMMIT. A request whose
  deadline passes while it waits is cancelled, never run.
- A maintenance thread (under the same lock) flushes the JSONL (debounced), imports it when it
  changed under us, and runs the after-flush and housekeeping hooks (git commits live there).
"""
from __future__ import annotations

import json
import os
import queue
import selectors
from collections import deque
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .. import BEADS_COMPAT_VERSION, __version__, jsonl, ops
from ..errors import (BatchFailed, BdError, DaemonError, DeadlineExceeded, InternalError, UsageError,
                      VersionMismatch, internal)
from ..store import Store
from ..workspace import Workspace
from .protocol import MAX_LINE, PROTOCOL_VERSION, encode

_PENDING, _RUNNING, _DONE, _CANCELLED = range(4)
#: operations answered by the server itself, never queued
_CONTROL = frozenset({"ping", "health", "shutdown", "status"})
MAX_CONNECTIONS = 512
MAX_GROUP = 256


@dataclass
class Job:
    op: str
    args: Any
    actor: str
    deadline: float
    done: threading.Event = field(default_factory=threading.Event)
    state: int = _PENDING
    response: dict[str, Any] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def try_start(self) -> bool:
        with self.lock:
            if self.state != _PENDING:
                return False
            if time.monotonic() > self.deadline:
                self.state = _CANCELLED
                self.response = _cancelled(self.op)
                self.done.set()
                return False
            self.state = _RUNNING
            return True

    def try_cancel(self) -> bool:
        with self.lock:
            if self.state == _PENDING:
                self.state = _CANCELLED
                self.response = _cancelled(self.op)
                self.done.set()
                return True
            return False


def _cancelled(op: str) -> dict[str, Any]:
    return failure(DeadlineExceeded(
        f"cancelled: the deadline of this {op} request passed before it could run (nothing changed)"))


def failure(err: BdError) -> dict[str, Any]:
    """A failed response for ``err``: its wire fields (kind, hint, details). A failed batch also
    carries its per-operation results as ``data.results``, as beads' batch answers do."""
    resp: dict[str, Any] = {"success": False, **err.to_wire()}
    if isinstance(err, BatchFailed):
        resp["data"] = {"results": err.results}
    return resp


class Plugin(Protocol):
    """What a server extension (the git agent) offers: the server calls ``start`` before it
    serves, ``after_flush`` (writer lock held: only signal, never do slow work) after each JSONL
    flush, ``housekeeping`` every few seconds, ``status`` for ``health``, and ``close`` once it has
    stopped serving and made its last flush. ``host`` gives ``log``, ``state`` and ``stopping``."""

    def start(self, host: Server) -> None: ...

    def after_flush(self, store: Store) -> None: ...

    def housekeeping(self, store: Store) -> None: ...

    def status(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


class Server:
    """Serve ``ws`` on the already-bound listening socket ``sock`` until ``stop()``.

    ``state`` is the workspace's ``statefile.Writer`` (thread-safe) or None; ``plugins`` extend
    the server (see ``Plugin``)."""

    def __init__(self, ws: Workspace, sock: socket.socket, *, flush_interval: float = 1.0,
                 idle_timeout: float = 0.0, log: Callable[[str], None] = lambda m: None,
                 state: Any = None, plugins: Sequence[Plugin] = ()) -> None:
        self.ws = ws
        self.sock = sock
        self.flush_interval = flush_interval
        self.idle_timeout = idle_timeout
        self.log = log
        self.state = state  # statefile.Writer or None
        self.started = time.time()
        self.last_activity = time.monotonic()
        self.jobs: deque[Job] = deque()
        self._wlock = threading.Lock()  # the single writer: whoever holds it owns writer_store
        self._wake_maint = threading.Event()
        self._stop = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        self._readers: queue.Queue[Store] = queue.Queue()
        self._conns = 0
        self._conns_lock = threading.Lock()
        self.flush_due: float | None = None
        #: stat fingerprint of the JSONL when we last found it absorbed (see _sync_in)
        self._absorbed_fp: str | None = None
        self.plugins = tuple(plugins)
        self.stop_reason = ""
        self.stats = {"requests": 0, "writes": 0, "groups": 0, "flushes": 0, "cancelled": 0, "errors": 0}
        #: bound on one request line (BD_DAEMON_MAX_LINE overrides, e.g. to test the bound)
        self.max_line = int(os.environ.get("BD_DAEMON_MAX_LINE") or MAX_LINE)
        self.writer_store = Store(ws.db_path)
        from filelock import FileLock
        # one instance, used only under _wlock: FileLock is reentrant per instance
        self._flock = FileLock(str(ws.lock_path), thread_local=False)
        self._db_ino = os.stat(ws.db_path).st_ino
        self._maint = threading.Thread(target=self._maintenance_loop, name="bd-maintenance", daemon=True)

    # --- lifecycle -----------------------------------------------------------------------------

    def serve_forever(self) -> None:
        """Serve until ``stop()``; returns after the last flush, with every plug-in closed."""
        for plugin in self.plugins:
            plugin.start(self)
        self._maint.start()
        sel = selectors.DefaultSelector()
        sel.register(self.sock, selectors.EVENT_READ, "accept")
        sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        try:
            while not self._stop.is_set():
                for key, _ in sel.select():
                    if key.data == "wake":
                        os.read(self._wake_r, 64)
                        continue
                    try:
                        conn, _ = self.sock.accept()
                    except OSError:
                        continue
                    with self._conns_lock:
                        if self._conns >= MAX_CONNECTIONS:
                            conn.sendall(encode(failure(DaemonError("too many connections; try again"))))
                            conn.close()
                            continue
                        self._conns += 1
                    threading.Thread(target=self._serve_conn, args=(conn,), daemon=True).start()
        finally:
            sel.close()
            self._wake_maint.set()
            self._maint.join(timeout=60)
            while not self._readers.empty():
                self._readers.get().close()
            for plugin in self.plugins:
                try:
                    plugin.close()  # after the last flush: the git agent commits what it wrote
                except Exception as e:
                    self.log(f"plug-in {type(plugin).__name__} failed to close: {type(e).__name__}: {e}")

    def stop(self, reason: str = "") -> None:
        if not self._stop.is_set():
            self.stop_reason = reason or self.stop_reason
            self._stop.set()
            self._wake_maint.set()
            try:
                os.write(self._wake_w, b"x")
            except OSError:
                pass

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # --- connections ---------------------------------------------------------------------------

    def _serve_conn(self, conn: socket.socket) -> None:
        buf = b""
        discarding = False
        conn.settimeout(600)  # an idle connection is dropped after ten minutes
        try:
            while not self._stop.is_set():
                try:
                    chunk = conn.recv(1 << 20)
                except (socket.timeout, OSError):
                    return
                if not chunk:
                    return
                buf += chunk
                while True:
                    nl = buf.find(b"\n")
                    if nl == -1:
                        break
                    line, buf = buf[:nl], buf[nl + 1:]
                    if discarding:
                        discarding = False
                        continue
                    if len(line) > self.max_line:
                        conn.sendall(encode(failure(UsageError(f"invalid request: line longer than {self.max_line} bytes"))))
                        continue
                    if line.strip():
                        conn.sendall(encode(self.handle_line(line)))
                if len(buf) > self.max_line:
                    if not discarding:
                        conn.sendall(encode(failure(UsageError(f"invalid request: line longer than {self.max_line} bytes"))))
                    buf = b""
                    discarding = True
        except OSError:
            return
        finally:
            with self._conns_lock:
                self._conns -= 1
            try:
                conn.close()
            except OSError:
                pass

    def handle_line(self, line: bytes) -> dict[str, Any]:
        """Answer one request line; never raises."""
        self.last_activity = time.monotonic()
        self.stats["requests"] += 1
        try:
            req = json.loads(line)
        except (ValueError, UnicodeDecodeError) as e:
            return failure(UsageError(f"invalid request: not JSON ({e})"))
        if not isinstance(req, dict):
            return failure(UsageError("invalid request: expected a JSON object"))
        rid = req.get("request_id")
        try:
            resp = self._handle(req)
        except BdError as e:
            resp = failure(e)
        except Exception as e:  # a bug must not take the daemon down
            self.stats["errors"] += 1
            self.log(f"internal error on {req.get('operation')!r}: {type(e).__name__}: {e}")
            resp = failure(internal(e))
        if rid is not None:
            resp["request_id"] = rid
        return resp

    def _handle(self, req: dict[str, Any]) -> dict[str, Any]:
        op = req.get("operation")
        if not isinstance(op, str) or not op:
            raise UsageError("invalid request: 'operation' must be a string")
        args = req.get("args") or {}
        if not isinstance(args, dict):
            raise UsageError(f"invalid {op} args: expected an object")
        actor = req.get("actor") or "daemon"
        if not isinstance(actor, str):
            raise UsageError("invalid request: 'actor' must be a string")
        timeout_ms = req.get("timeout_ms")
        if timeout_ms is not None and (isinstance(timeout_ms, bool) or not isinstance(timeout_ms, (int, float))
                                       or timeout_ms <= 0):
            raise UsageError("invalid request: 'timeout_ms' must be a positive number")
        deadline = time.monotonic() + (timeout_ms / 1000 if timeout_ms else 3600)
        cwd = req.get("cwd")
        if cwd is not None:
            err = self._check_cwd(cwd)
            if err:
                raise UsageError(err)
        cv = req.get("client_version")
        if cv is not None and cv != __version__ and op not in _CONTROL:
            raise VersionMismatch(f"daemon runs bdgit {__version__}, client is bdgit {cv}")
        if op in _CONTROL:
            return {"success": True, "data": self._control(op, cv)}
        if op not in ops.OPS and op != "batch":
            raise UsageError(f"unknown operation: {op}")
        if op == "batch" or ops.is_write(op, args):
            return self._submit(Job(op, args, actor, deadline))
        return self._read(op, args, actor, deadline)

    def _check_cwd(self, cwd: Any) -> str | None:
        if not isinstance(cwd, str):
            return "invalid request: 'cwd' must be a string"
        try:
            p = Path(cwd).resolve()
        except (OSError, RuntimeError):
            return f"invalid request: cannot resolve cwd {cwd!r}"
        root = self.ws.root.resolve()
        if p != root and root not in p.parents:
            return f"cwd {cwd} is outside this daemon's repository ({root})"
        return None

    def _control(self, op: str, client_version: str | None) -> dict[str, Any]:
        if op == "ping":
            return {"message": "pong", "version": BEADS_COMPAT_VERSION, "bdgit_version": __version__}
        if op == "shutdown":
            threading.Thread(target=self.stop, args=("shutdown requested",), daemon=True).start()
            return {"message": "shutting down", "pid": os.getpid()}
        t0 = time.perf_counter()
        store = self._reader()
        try:
            store.conn.execute("SELECT count(*) FROM issues").fetchone()
            dirty = store.dirty_count()
        finally:
            self._readers.put(store)
        out = {
            "status": "healthy", "version": BEADS_COMPAT_VERSION, "bdgit_version": __version__,
            "protocol_version": PROTOCOL_VERSION, "pid": os.getpid(),
            "uptime_seconds": round(time.time() - self.started, 3),
            "db_response_ms": round((time.perf_counter() - t0) * 1000, 3),
            "queue_depth": len(self.jobs), "connections": self._conns, "dirty_issues": dirty,
            "flush_pending": self.flush_due is not None, "socket": str(self.sock.getsockname()),
            "database": str(self.ws.db_path), **self.stats,
        }
        if client_version is not None:
            out["client_version"] = client_version
            out["compatible"] = client_version == __version__
        for plugin in self.plugins:
            out.update(plugin.status())
        return out

    # --- reads ---------------------------------------------------------------------------------

    def _reader(self) -> Store:
        try:
            return self._readers.get_nowait()
        except queue.Empty:
            return Store(self.ws.db_path)

    def _read(self, op: str, args: dict[str, Any], actor: str, deadline: float) -> dict[str, Any]:
        if time.monotonic() > deadline:
            self.stats["cancelled"] += 1
            return _cancelled(op)
        store = self._reader()
        try:
            path = self.ws.jsonl_path
            fp = jsonl.fingerprint(path)
            if (fp is None or fp != self._absorbed_fp) and jsonl.needs_import(store, path, update=False):
                # the file changed under us: absorb it (as the writer) before we read
                with self._wlock:
                    self._sync_in(self.writer_store)
            ctx = ops.Ctx(store, actor)
            data = ops.run(store, op, args, actor, ctx)
            resp: dict[str, Any] = {"success": True, "data": data}
            if ctx.notices:
                resp["notices"] = ctx.notices
            return resp
        finally:
            if store.in_tx:  # pragma: no cover - defensive
                store.conn.execute("ROLLBACK")
            self._readers.put(store)

    # --- writes --------------------------------------------------------------------------------

    def _submit(self, job: Job) -> dict[str, Any]:
        """Queue a write and see it through: whoever holds the writer lock commits every
        queued write as one group (leader/follower group commit: no thread hand-off when
        uncontended). Returns after COMMIT, or a cancellation if the deadline passed first."""
        if self._stop.is_set():
            return failure(DaemonError("the daemon is shutting down; retry"))
        self.jobs.append(job)
        while not job.done.is_set():
            left = job.deadline - time.monotonic()
            if left > 0 and self._wlock.acquire(timeout=left):
                try:
                    if not job.done.is_set():
                        self._drain()
                finally:
                    self._wlock.release()
                continue
            if job.try_cancel():
                self.stats["cancelled"] += 1
                break
            job.done.wait()  # another leader is running it: the answer comes after COMMIT
        assert job.response is not None
        return job.response

    def _drain(self) -> None:
        """Run every queued job as one group. Caller holds ``_wlock``."""
        group: list[Job] = []
        while self.jobs and len(group) < MAX_GROUP:
            group.append(self.jobs.popleft())
        if not group:
            return
        try:
            self._run_group(self.writer_store, group)
        finally:
            # whatever happened, nobody may wait forever for an answer
            for job in group:
                if not job.done.is_set():
                    if job.response is None:
                        job.response = failure(InternalError("internal error: the write was not completed"))
                    job.done.set()

    def _maintenance_loop(self) -> None:
        """Debounced JSONL flushes and periodic checks; sleeps (no polling) in between."""
        last_check = time.monotonic()
        while True:
            timeout = 2.0
            due = self.flush_due
            if due is not None:
                timeout = max(min(timeout, due - time.monotonic()), 0)
            self._wake_maint.wait(timeout)
            self._wake_maint.clear()
            stopping = self._stop.is_set()
            now = time.monotonic()
            with self._wlock:
                if stopping:
                    self._drain()
                    while self.jobs:
                        self._drain()
                if self.flush_due is not None and (now >= self.flush_due or stopping):
                    self._flush(self.writer_store)
                if stopping:
                    if self.writer_store.dirty_count():
                        self._flush(self.writer_store)
                    self.writer_store.close()
                    return
                if now - last_check >= 2.0:
                    last_check = now
                    self._housekeeping(self.writer_store)

    def _run_group(self, store: Store, group: list[Job]) -> None:
        self._sync_in(store)
        live = group
        wrote = False
        try:
            with store.tx():
                for job in live:
                    if not job.try_start():
                        self.stats["cancelled"] += 1
                        continue
                    ctx = ops.Ctx(store, job.actor)
                    try:
                        data = ops.run(store, job.op, job.args, job.actor, ctx)
                        job.response = {"success": True, "data": data}
                        if ctx.notices:
                            job.response["notices"] = ctx.notices
                        wrote = True
                    except BdError as e:
                        job.response = failure(e)
                    except Exception as e:  # a bug in one request must not sink the group
                        self.stats["errors"] += 1
                        self.log(f"internal error on {job.op}: {type(e).__name__}: {e}")
                        job.response = failure(internal(e))
        except Exception as e:
            self.log(f"commit failed: {type(e).__name__}: {e}")
            for job in live:
                if job.state == _RUNNING:
                    job.response = failure(InternalError(
                        f"the transaction could not be committed: {type(e).__name__}: {e}",
                        "nothing of this request was saved; retry it"))
            wrote = False
        self.stats["groups"] += 1
        self.stats["writes"] += len(live)
        if wrote:
            # The hint only has to say "something is not exported yet": one bump per flush
            # interval is enough (a mapped read is cheap; a bump takes the file's lock).
            if self.state is not None and not self.state.get().dirty:
                self.state.bump_write()
            if self.flush_due is None:
                self.flush_due = time.monotonic() + self.flush_interval
                self._wake_maint.set()
        for job in group:
            with job.lock:
                if job.state == _RUNNING:
                    job.state = _DONE
            job.done.set()

    def _sync_in(self, store: Store) -> None:
        """Import the JSONL if it changed under us (pull, merge, checkout, an edit)."""
        path = self.ws.jsonl_path
        try:
            # Hot path (every write group): one stat. A file whose stat is what we last found
            # absorbed cannot need importing; anything else gets the full check.
            fp = jsonl.fingerprint(path)
            if fp is not None and fp == self._absorbed_fp:
                return
            if not jsonl.needs_import(store, path):
                self._absorbed_fp = jsonl.fingerprint(path)
                return
            from ..gitsync.env import rebasing
            if rebasing(self.ws.root):
                return  # git is replaying commits: the file is its until the rebase ends
            with self._flock.acquire(timeout=10):
                if not jsonl.needs_import(store, path):
                    self._absorbed_fp = jsonl.fingerprint(path)
                    return
                res = jsonl.import_text(store, None, actor="auto-import", workspace=True, collisions="auto",
                                        path=path)
                self._absorbed_fp = store.get_meta("jsonl_fingerprint") or None  # what was read
            self.log(f"imported {path.name}: {len(res.created)} created, {len(res.updated)} updated, "
                     f"{len(res.kept_newer)} kept (newer here), {len(res.kept_absent)} missing kept"
                     + (f"; renumbered {res.renumbered}" if res.renumbered else "")
                     + (f"; remapped {res.remapped}" if res.remapped else ""))
            if store.dirty_count() and self.flush_due is None:
                self.flush_due = time.monotonic() + self.flush_interval
        except BdError as e:
            self.log(f"cannot import {path.name}: {e}")
        except Exception as e:
            self.log(f"cannot import {path.name}: {type(e).__name__}: {e}")

    def _flush(self, store: Store) -> None:
        from filelock import Timeout
        gen = self.state.get().write_gen if self.state is not None else 0
        from ..gitsync.env import index_locked, rebasing
        if rebasing(self.ws.root):  # a rewrite now would stop 'git rebase --continue'
            self.flush_due = time.monotonic() + max(self.flush_interval, 0.5)
            return
        if index_locked(self.ws.root):  # git is writing the work tree (reset, checkout, stash)
            self.flush_due = time.monotonic() + 0.05
            return
        try:
            with self._flock.acquire(timeout=5):
                self._sync_in(store)
                res = jsonl.flush(store, self.ws.jsonl_path)
        except Timeout:
            self.log("JSONL flush postponed: another bd process holds the lock")
            self.flush_due = time.monotonic() + self.flush_interval
            return
        except Exception as e:
            self.log(f"JSONL flush failed: {type(e).__name__}: {e}")
            self.flush_due = time.monotonic() + max(self.flush_interval, 1.0)
            return
        self.flush_due = None
        self.stats["flushes"] += 1
        if self.state is not None:
            self.state.mark_exported(gen)
        if res.get("written"):
            self.log(f"flushed {res.get('changed', 0)} issue(s) to {self.ws.jsonl_path.name}")
        for plugin in self.plugins:
            try:
                plugin.after_flush(store)
            except Exception as e:
                self.log(f"after-flush of {type(plugin).__name__} failed: {type(e).__name__}: {e}")

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
                and not self.jobs:
            self.log(f"idle for {self.idle_timeout:g}s; exiting")
            self.stop("idle timeout")
            return
        self._sync_in(store)
        for plugin in self.plugins:
            try:
                plugin.housekeeping(store)
            except Exception as e:
                self.log(f"housekeeping of {type(plugin).__name__} failed: {type(e).__name__}: {e}")
