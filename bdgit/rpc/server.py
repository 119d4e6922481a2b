"""The daemon's server: one writer thread, concurrent readers, per-request deadlines.

- Connections: one thread each (a slow or stalled client blocks only itself). Lines are
  bounded (``MAX_LINE``); garbage gets an error answer and the connection stays usable. At
  ``MAX_CONNECTIONS`` the connection idle longest is closed to make room (``limits``).
- Reads run in the connection's thread on a pooled read-only use of SQLite (WAL snapshots).
- Writes go through one writer: a lock that owns the writer connection. The thread that holds
  it runs every queued write in one transaction (group commit; each request in its own
  savepoint, so one failure rolls back only itself) and answers after COMMIT. A request whose
  deadline passes while it waits (the deadline is absolute: a daemon that was stopped and reads
  it late drops it), or whose client hung up, is cancelled, never run.
- A maintenance thread (under the same lock) flushes the JSONL (debounced), imports it when it
  changed under us, expires leases when the next one is due, and runs the after-flush and
  housekeeping hooks (git commits live there).
- Every COMMIT of the writer publishes its changes to the change feed (``feed.Feed``); a
  ``subscribe`` request hands its connection over to the feed's thread.
"""
from __future__ import annotations

import os
import queue
import selectors
import socket
import sqlite3
from collections import deque
from contextlib import ExitStack
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .. import BEADS_COMPAT_VERSION, __version__, jsonl, ops
from ..errors import (BdError, DaemonError, InternalError, ReadOnlyError, UsageError, ValidationError, VersionMismatch, internal)
from ..intake import loads, strings_problem
from ..ops import leases
from ..store import Store
from ..store.failures import database_error
from ..workspace import Workspace, safefs
from . import checkpoint, limits
from .feed import Feed
from .jobs import DONE, RUNNING, Job, Plugin, Subscribe, cancelled, failure
from .upkeep import Upkeep
from .protocol import MAX_LINE, PROTOCOL_VERSION, encode
from .stream import Streamed

#: operations answered by the server itself, never queued
_CONTROL = frozenset({"ping", "health", "shutdown", "status"})
MAX_CONNECTIONS = 512
#: operations that still run while the JSONL does not import: they are the ways out
_WAYS_OUT = frozenset({"import", "flush"})
MAX_GROUP = 256


class Server(Upkeep):
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
        self._table = limits.ConnTable(MAX_CONNECTIONS, encode(limits.EVICTED))
        #: why the last JSONL flush failed (None: it worked); write answers carry it meanwhile
        self.flush_error: str | None = None
        #: why the changed JSONL could not be imported (a broken line): requests get this error
        #: until it is fixed or rewritten (``bd export --force``), as in direct mode
        self.import_error: BdError | None = None
        #: set once the final flush at stop was tried; ``final_dirty`` is what it left unexported
        self.finished = threading.Event()
        self.final_dirty = 0
        self._answering = 0  # shutdown answers still being sent (the process waits for them)
        self.flush_due: float | None = None
        #: stat fingerprint of the JSONL when we last found it absorbed (see _sync_in)
        self._absorbed_fp: str | None = None
        self._jsonl_default = ws.beads_dir / "issues.jsonl"
        self.plugins = tuple(plugins)
        self.stop_reason = ""
        self.stats = {"requests": 0, "writes": 0, "groups": 0, "flushes": 0, "cancelled": 0, "errors": 0}
        #: bound on one request line (BD_DAEMON_MAX_LINE overrides, e.g. to test the bound)
        self.max_line = int(os.environ.get("BD_DAEMON_MAX_LINE") or MAX_LINE)
        self.writer_store = Store(ws.db_path)
        checkpoint.writer_pragmas(self.writer_store.conn)  # a COMMIT never checkpoints: see checkpoint
        self.checkpointer = checkpoint.Checkpointer(ws.db_path, log)
        self.feed = Feed(log=log)
        self.writer_store.on_commit = self._committed
        #: when the next lease expires (epoch seconds; None: no lease), kept by the writer
        self.lease_due = leases.next_due(self.writer_store)
        # one instance, used only under _wlock: reentrant per instance
        self._flock = safefs.FileLock(ws.lock_path)
        self._db_ino = os.stat(ws.db_path).st_ino
        self._maint = threading.Thread(target=self._maintenance_loop, name="bd-maintenance", daemon=True)

    # --- lifecycle -----------------------------------------------------------------------------

    def serve_forever(self) -> None:
        """Serve until ``stop()``; returns after the last flush, with every plug-in closed."""
        for plugin in self.plugins:
            plugin.start(self)
        self._maint.start()
        self.checkpointer.start()
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
                    entry = self._table.admit(conn)  # at the cap, the longest idle makes room
                    if entry is None:  # every connection is in the middle of a request
                        try:
                            conn.sendall(encode(failure(DaemonError(
                                "busy: every connection is in the middle of a request; try again", busy=True))))
                        except OSError:
                            pass
                        conn.close()
                        continue
                    threading.Thread(target=self._serve_conn, args=(conn, entry), daemon=True).start()
        finally:
            sel.close()
            self._wake_maint.set()
            self._maint.join(timeout=60)
            self.checkpointer.close()
            self.feed.close()
            while not self._readers.empty():
                self._readers.get().close()
            for plugin in self.plugins:
                try:
                    plugin.close()  # after the last flush: the git agent commits what it wrote
                except Exception as e:
                    self.log(f"plug-in {type(plugin).__name__} failed to close: {type(e).__name__}: {e}")
            end = time.monotonic() + 2.0  # let a waiting 'shutdown' answer go out first
            while self._answering and time.monotonic() < end:
                time.sleep(0.005)

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

    def _serve_conn(self, conn: socket.socket, entry: limits.Conn) -> None:
        handed_over = False  # to the change feed, which closes it when the subscription ends
        buf = b""
        discarding = False
        conn.settimeout(600)  # an idle connection is dropped after ten minutes

        def alive() -> bool:
            return not limits.hung_up(conn)
        try:
            while not self._stop.is_set():
                try:
                    chunk = conn.recv(1 << 20)
                except (TimeoutError, OSError):
                    return
                if not chunk:
                    return
                received = time.monotonic()
                if not entry.begin():  # evicted meanwhile: what it sent is never run
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
                        resp = self.handle_line(line, received, alive)
                        if isinstance(resp, Subscribe):  # the connection is the feed's from now on
                            self.feed.attach(conn, resp.args, resp.request_id, buf)
                            handed_over = True
                            return
                        if isinstance(resp, Streamed):
                            try:  # a failure mid-answer is an OSError: the connection closes
                                resp.send(conn.sendall, self.log)
                            finally:
                                resp.close()
                        else:
                            conn.sendall(encode(resp))
                if len(buf) > self.max_line:
                    if not discarding:
                        conn.sendall(encode(failure(UsageError(f"invalid request: line longer than {self.max_line} bytes"))))
                    buf = b""
                    discarding = True
                entry.end()
        except OSError:
            return
        finally:
            self._table.remove(entry)
            try:
                if not handed_over:
                    conn.close()
            except OSError:
                pass

    def handle_line(self, line: bytes, received: float | None = None,
                    alive: Callable[[], bool] | None = None) -> dict[str, Any] | Subscribe | Streamed:
        """Answer one request line read at monotonic time ``received`` (default now); ``alive``
        says whether its client is still connected (for ``subscribe``: say so). Never raises.
        A ``Streamed`` answer must be sent and then closed (``_serve_conn``)."""
        self.last_activity = time.monotonic()
        self.stats["requests"] += 1
        try:
            req = loads(line)  # JSON nested too deeply is a ValueError too
        except (ValueError, UnicodeDecodeError) as e:
            return failure(UsageError(f"invalid request: not JSON ({e})"))
        if not isinstance(req, dict):
            return failure(UsageError("invalid request: expected a JSON object"))
        rid = req.get("request_id")
        try:
            resp = self._handle(req, self.last_activity if received is None else received, alive)
            if isinstance(resp, Subscribe):
                resp.request_id = rid
                return resp
        except BdError as e:
            resp = failure(e)
        except Exception as e:  # a bug must not take the daemon down
            self.stats["errors"] += 1
            self.log(f"internal error on {req.get('operation')!r}: {type(e).__name__}: {e}")
            resp = failure(internal(e))
        if rid is not None:
            if isinstance(resp, Streamed):
                resp.tail["request_id"] = rid
            else:
                resp["request_id"] = rid
        return resp

    def _handle(self, req: dict[str, Any], received: float,
                alive: Callable[[], bool] | None = None) -> dict[str, Any] | Subscribe | Streamed:
        op = req.get("operation")
        if not isinstance(op, str) or not op:
            raise UsageError("invalid request: 'operation' must be a string")
        args = req.get("args") or {}
        if not isinstance(args, dict):
            raise UsageError(f"invalid {op} args: expected an object")
        actor = req.get("actor") or "daemon"
        if not isinstance(actor, str):
            raise UsageError("invalid request: 'actor' must be a string")
        deadline = limits.request_deadline(req, received)
        if isinstance(deadline, str):
            raise UsageError(deadline)
        why = strings_problem(args)  # a lone surrogate: never an internal error at the database
        if why:
            raise ValidationError(f"invalid {op} args: {why}",
                                  "send UTF-8 text (lone \\ud800-\\udfff escapes cannot be stored)")
        cwd = req.get("cwd")
        if cwd is not None:
            err = self._check_cwd(cwd)
            if err:
                raise UsageError(err)
        cv = req.get("client_version")
        if cv is not None and cv != __version__ and op not in _CONTROL:
            raise VersionMismatch(f"daemon runs bdgit {__version__}, client is bdgit {cv}")
        if op in _CONTROL:
            return {"success": True, "data": self._control(op, cv, args)}
        if op == "subscribe":
            return Subscribe(args, req.get("request_id"))
        if op not in ops.OPS and op != "batch":
            raise UsageError(f"unknown operation: {op}")
        if op == "batch" or ops.is_write(op, args):
            if req.get("readonly"):
                raise ReadOnlyError.refusing(op)
            return self._submit(Job(op, args, actor, deadline, alive=alive))
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

    def _control(self, op: str, client_version: str | None, args: dict[str, Any] | None = None) -> dict[str, Any]:
        if op == "ping":
            return {"message": "pong", "version": BEADS_COMPAT_VERSION, "bdgit_version": __version__}
        if op == "shutdown":
            if not (args or {}).get("wait"):
                threading.Thread(target=self.stop, args=("shutdown requested",), daemon=True).start()
                return {"message": "shutting down", "pid": os.getpid()}
            # answer after the final flush, saying whether it worked (bd daemon stop reports it)
            self._answering += 1
            try:
                self.stop("shutdown requested")
                self.finished.wait(60)
                return {"message": "stopped", "pid": os.getpid(), "flushed": self.flush_error is None,
                        "flush_error": self.flush_error, "dirty": self.final_dirty}
            finally:
                self._answering -= 1
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
            "queue_depth": len(self.jobs), "connections": len(self._table), "dirty_issues": dirty,
            "evictions": self._table.evictions, "flush_error": self.flush_error,
            "flush_pending": self.flush_due is not None, "socket": str(self.sock.getsockname()),
            "database": str(self.ws.db_path), "checkpoints": self.checkpointer.count, **self.stats,
            "feed": {"stream": self.feed.stream, "seq": self.feed.seq, "oldest": self.feed.oldest,
                     "backlog": self.feed.capacity, "subscribers": self.feed.subscribers, **self.feed.stats},
            "next_lease_expiry": leases.stamp(self.lease_due) if self.lease_due is not None else None,
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

    def _read(self, op: str, args: dict[str, Any], actor: str, deadline: float) -> dict[str, Any] | Streamed:
        if time.monotonic() > deadline:
            self.stats["cancelled"] += 1
            return cancelled(op)
        store = self._reader()
        handed_over = False  # to a Streamed answer, which gives the reader back when it is sent
        try:
            if not self._absorbed() and jsonl.needs_import(store, self.ws.jsonl_path, update=False):
                # the file changed under us: absorb it (as the writer) before we read
                with self._wlock:
                    self._sync_in(self.writer_store)
                if self.import_error is not None:
                    return failure(self.import_error)
            ctx = ops.Ctx(store, actor)
            if ops.streams(op, args):
                streamed = self._streamed(store, op, args, actor, ctx)
                handed_over = True
                return streamed
            data = ops.run(store, op, args, actor, ctx)
            resp: dict[str, Any] = {"success": True, "data": data}
            if ctx.notices:
                resp["notices"] = ctx.notices
            return resp
        finally:
            if not handed_over:
                if store.in_tx:  # pragma: no cover - defensive
                    store.conn.execute("ROLLBACK")
                self._readers.put(store)

    def _streamed(self, store: Store, op: str, args: dict[str, Any], actor: str, ctx: ops.Ctx) -> Streamed:
        """A list answer to send as it is rendered (``rpc.stream``): its IDs and first chunk
        read in a snapshot that lasts until the answer is sent; then the reader is given back."""
        done = ExitStack()
        done.callback(self._readers.put, store)
        try:
            done.enter_context(store.read_snapshot())
            rows = ops.run_stream(store, op, args, actor, ctx)
            try:
                return Streamed(rows, ctx.notices, done.close)
            except sqlite3.IntegrityError:
                raise
            except sqlite3.DatabaseError as e:  # damaged, locked or full: as ops.run says it
                raise database_error(store.path, e) from e
        except BaseException:
            done.close()
            raise

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

    def _run_group(self, store: Store, group: list[Job]) -> None:
        self._sync_in(store)
        if self.lease_due is not None and time.time() >= self.lease_due:
            self._expire_leases(store)  # no write may see a lease that has run out
        live = group
        if self.import_error is not None:
            # a JSONL that does not import blocks writes as in direct mode; only the ways out run
            for job in group:
                if job.op not in _WAYS_OUT and job.try_start():
                    job.response = failure(self.import_error)
            live = [j for j in group if j.op in _WAYS_OUT]
        wrote = False
        try:
            if len(live) == 1:
                # Alone: the operation's own transaction is the group's (no savepoint around it).
                # A COMMIT that fails raises from ops.run and answers this request alone.
                wrote = self._run_job(store, live[0])
            else:
                with store.tx():  # each job a savepoint in it (ops.run nests): one fails alone
                    for job in live:
                        wrote = self._run_job(store, job) or wrote
        except Exception as e:
            self.log(f"commit failed: {type(e).__name__}: {e}")
            for job in live:
                if job.state == RUNNING:  # a full disk is a StorageError: say so, as it is
                    job.response = failure(e if isinstance(e, BdError) else InternalError(
                        f"the transaction could not be committed: {type(e).__name__}: {e}",
                        "nothing of this request was saved; retry it"))
            wrote = False
        self.stats["groups"] += 1
        self.stats["writes"] += len(live)
        if wrote and self.flush_error:
            # committed, but the JSONL cannot be written at the moment: the client says so
            for job in live:
                if job.state == RUNNING and job.response is not None and job.response.get("success"):
                    job.response["export_error"] = self.flush_error
        if wrote:
            self.checkpointer.wrote()
            store.mark_changed()  # file watchers (beads-ui) see the main db file change
        flushed = any(job.op == "flush" and (job.response or {}).get("success") for job in live)
        if wrote and flushed and store.dirty_count() == 0:
            # An explicit flush (the pre-commit hook's) left nothing unexported: say so now, so
            # that the hook's stamp of bd.state is a clean state and the next write changes it.
            if self.state is not None:
                self.state.mark_exported()
        elif wrote:
            self._wrote()
        for job in group:
            with job.lock:
                if job.state == RUNNING:
                    job.state = DONE
            job.done.set()

    def _run_job(self, store: Store, job: Job) -> bool:
        """Run one queued write (inside the group's transaction, if it has one); its response
        says how it went. Returns whether it succeeded. Raises only what the COMMIT of a job
        run alone raises (then the caller answers it)."""
        if not job.try_start():
            self.stats["cancelled"] += 1
            return False
        ctx = ops.Ctx(store, job.actor)
        try:
            data = ops.run(store, job.op, job.args, job.actor, ctx)
        except BdError as e:
            job.response = failure(e)
            return False
        except Exception as e:  # a bug in one request must not sink the group
            if not store.in_tx and isinstance(e, sqlite3.Error):
                raise  # alone, its COMMIT failed: nothing of it was saved
            self.stats["errors"] += 1
            self.log(f"internal error on {job.op}: {type(e).__name__}: {e}")
            job.response = failure(internal(e))
            return False
        resp: dict[str, Any] = {"success": True, "data": data}
        if ctx.notices:
            resp["notices"] = ctx.notices
        job.response = resp
        return True

    def _wrote(self) -> None:
        """After a committed write: schedule the JSONL flush and bump the state hint."""
        # The hint only has to say "something is not exported yet": one bump per flush
        # interval is enough (a mapped read is cheap; a bump takes the file's lock).
        if self.state is not None and not self.state.get().dirty:
            self.state.bump_write()
        if self.flush_due is None:
            self.flush_due = time.monotonic() + self.flush_interval
            self._wake_maint.set()

    def _committed(self, changes: list[dict[str, Any]]) -> None:
        """The writer's ``on_commit`` (``_wlock`` held): publish, and move the lease timer
        earlier if a new lease ends sooner (a later end just makes the next wake-up idle)."""
        self.feed.publish(changes)
        for ch in changes:
            ends = ch.get("lease_expires_at")
            if ends is None:
                continue
            end = leases.expiry({"expires_at": ends})
            if end is not None and (self.lease_due is None or end < self.lease_due):
                self.lease_due = end
                self._wake_maint.set()

