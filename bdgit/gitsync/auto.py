"""The daemon's git agent: batched auto-commit of the JSONL, optional auto-push, status.

The server's maintenance thread flushes the JSONL (debounced) and calls ``after_flush``; that
hook only marks "commit wanted" and wakes the ``bd-git`` thread, so no git work ever runs
while the writer lock is held. The git thread commits at most once per interval
(``git.commit_interval``, default: the daemon's ``--interval``), whatever the number of writes
in between. It waits, and says why in the log and in ``health``/``bd daemon status``, while
git is busy or in a state we must not commit in. Pushes run in their own thread (network).
"""
from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import jsonl
from ..errors import BdError
from ..workspace import Workspace
from .commit import commit_jsonl
from .repo import default_remote, open_repo, run_git, short, upstream

_TRUE = ("1", "true", "yes", "on")
#: the user's git counts as active when it touched the index or HEAD this recently (seconds) ...
QUIET = 0.25
#: ... and a due commit waits for a quiet moment at most this long (config ``git.busy_wait``;
#: 0 turns the courtesy off), then goes ahead anyway
MAX_DEFER = 2.0


class GitAgent:
    """The daemon's git plug-in (one per daemon; see ``rpc.server.Plugin``). ``log`` and
    ``state`` (the thread-safe ``statefile.Writer``, or None) are the server's."""

    def __init__(self, ws: Workspace, opts: dict[str, Any], *, log: Callable[[str], None], state: Any) -> None:
        self.ws = ws
        self.opts = opts
        self.log = log
        self.state = state
        self.host: Any = None  # the server, from start()
        self.jsonl_path: Path = ws.jsonl_path
        self.cond = threading.Condition()
        self.commit_lock = threading.Lock()
        self.push_event = threading.Event()
        self.pending = True          # check once at start: the JSONL may be ahead of HEAD
        self.checked_fp: str | None = None
        self.last_commit = 0.0       # monotonic time of our last commit
        self.retry_at = 0.0
        self.failures = 0
        self.waiting: str | None = None
        self.waiting_since = 0.0
        self.logged_wait: str | None = None
        self.commits = 0
        self.last_oid: str | None = None
        self.last_commit_wall = 0.0
        self.index_lock_waits = 0
        self.max_lock_hold = 0.0
        self.push_state: dict[str, Any] = {}
        self.defer_since: float | None = None
        self.own_sig: tuple[int, ...] | None = None
        self.deferrals = 0
        self.cfg: dict[str, Any] = {}
        self.cfg_at = 0.0
        self._load_config()
        self.thread = threading.Thread(target=self._loop, name="bd-git", daemon=True)
        self.push_thread = threading.Thread(target=self._push_loop, name="bd-git-push", daemon=True)

    # --- configuration ------------------------------------------------------------------------

    def _load_config(self) -> None:
        from ..store import Store
        try:
            store = Store(self.ws.db_path)
            try:
                conf = store.all_config()
            finally:
                store.close()
        except Exception as e:  # a config read must never stop the agent
            self.log(f"git: cannot read the configuration: {type(e).__name__}: {e}")
            conf = {}
        default_interval = float(self.opts.get("flush_interval", 1.0) or 1.0)
        try:
            interval = float(conf.get("git.commit_interval") or default_interval)
        except ValueError:
            interval = default_interval
        try:
            busy_wait = float(conf.get("git.busy_wait") or MAX_DEFER)
        except ValueError:
            busy_wait = MAX_DEFER
        cfg = {
            "busy_wait": max(busy_wait, 0.0),
            "auto_commit": bool(self.opts.get("auto_commit")) or conf.get("daemon.auto_commit", "").lower() in _TRUE,
            "auto_push": bool(self.opts.get("auto_push")) or conf.get("daemon.auto_push", "").lower() in _TRUE,
            "interval": max(interval, 0.0),
            "sync_branch": (conf.get("sync.branch") or "").strip() or None,
            "sync_remote": (conf.get("sync.remote") or "").strip() or None,
        }
        if cfg != self.cfg:
            if self.cfg:
                self.log(f"git: configuration now {self._describe(cfg)}")
            self.cfg = cfg
            self._set_flags()
        self.cfg_at = time.monotonic()

    def _set_flags(self) -> None:
        state = self.state
        if state is None:
            return
        from ..workspace import statefile
        flags = state.get().flags & ~(statefile.FLAG_AUTO_COMMIT | statefile.FLAG_SYNC_BRANCH)
        if self.cfg.get("auto_commit"):
            flags |= statefile.FLAG_AUTO_COMMIT
        if self.cfg.get("sync_branch"):
            flags |= statefile.FLAG_SYNC_BRANCH
        state.update(flags=flags)

    @staticmethod
    def _describe(cfg: dict[str, Any]) -> str:
        if not cfg.get("auto_commit"):
            return "auto-commit off"
        where = f"sync branch {cfg['sync_branch']}" if cfg.get("sync_branch") else "the checked-out branch"
        push = ", auto-push" if cfg.get("auto_push") else ""
        return f"auto-commit on ({where}, at most one commit per {cfg['interval']:g}s{push})"

    # --- server hooks -------------------------------------------------------------------------

    @property
    def stopping(self) -> bool:
        return self.host is not None and bool(self.host.stopping)

    def start(self, host: Any) -> None:
        self.host = host
        self.thread.start()
        self.push_thread.start()
        self.log(f"git: {self._describe(self.cfg)}")

    def after_flush(self, store: Any) -> None:
        """The JSONL was just flushed (maintenance thread, writer lock held): only signal."""
        with self.cond:
            self.pending = True
            self.cond.notify()

    def housekeeping(self, store: Any) -> None:
        with self.cond:
            self.cond.notify()

    def status(self) -> dict[str, Any]:
        cfg = self.cfg
        out: dict[str, Any] = {}
        summary = self._describe(cfg)
        if self.commits:
            ago = time.time() - self.last_commit_wall
            last = self.last_oid[:10] if self.last_oid else "?"
            summary += f"; {self.commits} commit(s), last {last} {ago:.0f}s ago"
        out["git"] = summary
        waiting = self._waiting_report()
        if waiting:
            out["git_waiting"] = waiting
        out["git_state"] = {
            "auto_commit": cfg.get("auto_commit", False), "auto_push": cfg.get("auto_push", False),
            "mode": "sync-branch" if cfg.get("sync_branch") else "index", "sync_branch": cfg.get("sync_branch"),
            "interval": cfg.get("interval"), "commits": self.commits, "last_commit": self.last_oid,
            "pending": self.pending, "waiting": self.waiting,
            "waiting_seconds": round(time.monotonic() - self.waiting_since, 3) if self.waiting else 0,
            "index_lock_waits": self.index_lock_waits, "deferrals": self.deferrals,
            "max_index_lock_hold_ms": round(self.max_lock_hold * 1000, 3),
            "push": dict(self.push_state),
        }
        return out

    def _waiting_report(self) -> str | None:
        if not self.waiting:
            return None
        secs = time.monotonic() - self.waiting_since
        if self.failures and "index.lock" in self.waiting and secs < 1.0:
            return None  # a few milliseconds behind the user's git is not worth reporting
        return f"{self.waiting} (waiting {secs:.0f}s)"

    # --- the commit loop ----------------------------------------------------------------------

    def _due(self) -> float:
        return max(self.last_commit + self.cfg.get("interval", 1.0), self.retry_at)

    def _loop(self) -> None:
        repo = None
        while not self.stopping:
            with self.cond:
                timeout = 2.0
                if self.pending and self.cfg.get("auto_commit"):
                    timeout = min(timeout, max(self._due() - time.monotonic(), 0.0))
                if timeout > 0:
                    self.cond.wait(timeout)
            if self.stopping:
                return
            try:
                if time.monotonic() - self.cfg_at >= 2.0:
                    self._load_config()
                if repo is None:
                    repo = open_repo(self.ws.root)
                    if repo is None:
                        self._wait("the workspace is no longer in a git repository", 5.0)
                        continue
                self._tick(repo)
            except Exception as e:  # the agent must outlive any bug or odd repository state
                repo = None
                self._wait(f"git error: {type(e).__name__}: {e}", 5.0)

    def _tick(self, repo: Any) -> None:
        if not self.cfg.get("auto_commit"):
            self.pending = False
            self._resolved()
            return
        fp = jsonl.fingerprint(self.jsonl_path)
        if fp != self.checked_fp:
            self.pending = True  # the file changed (a direct-mode write, an edit, a checkout)
        now = time.monotonic()
        if not self.pending or now < self._due():
            return
        if not self.cfg.get("sync_branch"):  # index mode: keep out of the way of a busy user
            if self.defer_since is None:
                self.defer_since = now
            if now - self.defer_since < self.cfg.get("busy_wait", MAX_DEFER) and self._user_git_active(repo):
                self.deferrals += 1
                self.retry_at = now + 0.05
                return
        self._attempt(repo, fp)

    def _git_sig(self, repo: Any) -> tuple[int, ...]:
        gd = Path(repo.path)
        out = []
        for p in (gd / "index", gd / "logs" / "HEAD", gd / "HEAD"):
            try:
                out.append(os.stat(p).st_mtime_ns)
            except OSError:
                out.append(0)
        return tuple(out)

    def _user_git_active(self, repo: Any) -> bool:
        """Whether the user's git is at work right now: it holds index.lock, or it changed the
        index or HEAD in the last QUIET seconds (our own last commit does not count). Committing
        in such a moment could land between a ``git commit``'s read of HEAD and its index.lock."""
        if (Path(repo.path) / "index.lock").exists():
            return True
        sig = self._git_sig(repo)
        if sig == self.own_sig:
            return False
        return time.time() - max(sig) / 1e9 < QUIET

    def _attempt(self, repo: Any, fp: str | None, *, final: bool = False) -> bool:
        from ..errors import LockTimeoutError
        from ..workspace.safefs import FileLock
        gen = self.state.get().export_gen if self.state is not None else 0
        flock = FileLock(self.ws.lock_path)
        try:
            flock.acquire(timeout=1.0 if final else 0)
        except LockTimeoutError:
            self._wait("another bd process holds .beads/bd.lock (bd sync, or a direct-mode write)", 0.05)
            return False
        try:
            with self.commit_lock:
                # One attempt, no waiting for index.lock: a retry right after the user's git
                # releases the lock would land just when their next command wants it. Retries
                # come after a random delay instead (see below).
                res = commit_jsonl(repo, self.jsonl_path, branch=self.cfg.get("sync_branch"), title="bd",
                                   staged="wait", attempts=1, lock_wait=0.0)
        except BdError as e:
            self._wait(str(e), 5.0)
            return False
        finally:
            flock.release()
        if res.committed:
            self.commits += 1
            self.last_oid = res.commit
            self.last_commit = time.monotonic()
            self.last_commit_wall = time.time()
            self.max_lock_hold = max(self.max_lock_hold, res.lock_hold)
            self.log(f"git: committed {res.changes.get('changed', 0)} issue change(s) as "
                            f"{(res.commit or '')[:10]} on {short(res.branch or '')}")
        if res.committed or res.up_to_date:
            self.pending = False
            self.defer_since = None
            if res.committed and not self.cfg.get("sync_branch"):
                self.own_sig = self._git_sig(repo)
            self.checked_fp = fp
            self._resolved()
            if self.state is not None and (final or not self.stopping):
                st = self.state.get()
                if gen > st.commit_gen:
                    self.state.update(commit_gen=gen)
            if res.committed and self.cfg.get("auto_push"):
                self.push_event.set()
            return True
        if res.busy:
            self.index_lock_waits += 1
            # random, growing delays: out of step with whatever rhythm the user's git has
            retry = min(random.uniform(0.005, 0.02) * 2 ** min(self.failures, 5), 0.5)
        else:
            retry = 1.0
        self._wait(res.waiting or "git is busy", retry)
        return False

    def _wait(self, reason: str, retry_in: float) -> None:
        now = time.monotonic()
        if reason != self.waiting:
            self.waiting = reason
            self.waiting_since = now
        self.failures += 1
        self.retry_at = now + retry_in
        if self.logged_wait != reason and (now - self.waiting_since >= 1.0 or "index.lock" not in reason):
            self.logged_wait = reason
            self.log(f"git: waiting: {reason}")

    def _resolved(self) -> None:
        if self.waiting and self.logged_wait:
            self.log(f"git: resumed after {time.monotonic() - self.waiting_since:.1f}s "
                            f"(was: {self.waiting})")
        self.waiting = None
        self.logged_wait = None
        self.failures = 0
        self.retry_at = 0.0

    def close(self) -> None:
        """At shutdown, after the server's last flush: stop the threads, commit what is left."""
        with self.cond:
            self.cond.notify_all()
        self.push_event.set()
        self.thread.join(5.0)
        self._final_commit()

    def _final_commit(self) -> None:
        """Commit what the last flush wrote, trying for a bounded time."""
        if not self.cfg.get("auto_commit"):
            return
        repo = open_repo(self.ws.root)
        if repo is None:
            return
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            try:
                if self._attempt(repo, jsonl.fingerprint(self.jsonl_path), final=True):
                    return
            except Exception as e:
                self.log(f"git: final commit failed: {type(e).__name__}: {e}")
                return
            if self.waiting and "index.lock" not in self.waiting and "bd.lock" not in self.waiting:
                return  # a merge in progress etc.: the next daemon commits it
            time.sleep(0.02)

    # --- auto-push ----------------------------------------------------------------------------

    def _push_loop(self) -> None:
        while not self.stopping:
            if not self.push_event.wait(2.0):
                continue
            self.push_event.clear()
            if self.stopping:
                return
            try:
                self._push()
            except Exception as e:
                self._push_failed(f"{type(e).__name__}: {e}")

    def _push(self) -> None:
        repo = open_repo(self.ws.root)
        if repo is None:
            return
        sync_branch = self.cfg.get("sync_branch")
        if sync_branch:
            ref = f"refs/heads/{sync_branch}"
            up = upstream(repo, ref)
            remote = self.cfg.get("sync_remote") or (up.remote if up else None) or default_remote(repo)
            dest = up.merge_ref if up else ref
        else:
            head = repo.lookup_reference("HEAD")
            ref = head.target if isinstance(head.target, str) else ""
            up = upstream(repo, ref) if ref else None
            if up is None:
                self._push_failed(f"branch {short(ref) or '?'} has no upstream (git push -u <remote> <branch>)")
                return
            remote, dest = up.remote, up.merge_ref
        if not remote:
            self._push_failed("no remote to push to (set sync.remote)")
            return
        proc = run_git(repo, "push", "--porcelain", remote, f"{ref}:{dest}", check=False, timeout=120,
                       bd_hooks=False)
        if proc.returncode == 0:
            if self.push_state.get("error"):
                self.log(f"git: push to {remote} works again")
            self.push_state = {"ok": True, "remote": remote, "ref": short(ref), "at": time.time()}
        else:
            self._push_failed(push_error(proc.stdout, proc.stderr))

    def _push_failed(self, msg: str) -> None:
        if self.push_state.get("error") != msg:
            self.log(f"git: auto-push failed: {msg} (run 'bd sync' to merge and push)")
        self.push_state = {"ok": False, "error": msg, "at": time.time()}


def push_error(stdout: str, stderr: str) -> str:
    """The line that says why a ``git push --porcelain`` failed."""
    for line in stdout.splitlines():
        if line.startswith("!"):
            return line.split("\t")[-1].strip()
    for line in stderr.splitlines():
        if line.startswith(("error:", "fatal:")):
            return line
    return (stderr.strip() or stdout.strip() or "git push failed").splitlines()[-1]


class NoRepository:
    """The git plug-in of a workspace outside any git repository: it only says so."""

    def __init__(self, auto_commit: bool, log: Callable[[str], None]) -> None:
        self.auto_commit = auto_commit
        if auto_commit:
            log("git: --auto-commit ignored: the workspace is not in a git repository")

    def start(self, host: Any) -> None:
        pass

    def after_flush(self, store: Any) -> None:
        pass

    def housekeeping(self, store: Any) -> None:
        pass

    def status(self) -> dict[str, Any]:
        return {"git": "not a git repository" + ("; auto-commit unavailable" if self.auto_commit else "")}

    def close(self) -> None:
        pass


def plugin(ws: Workspace, opts: dict[str, Any], *, log: Callable[[str], None], state: Any) -> GitAgent | NoRepository:
    """The daemon's git plug-in for ``ws`` (``bdgit.daemon.process`` passes it to the server)."""
    if open_repo(ws.root) is None:
        return NoRepository(bool(opts.get("auto_commit")), log)
    return GitAgent(ws, opts, log=log, state=state)
