"""The daemon's git agent: coalesced auto-commit of the JSONL, optional auto-push, status.

The server's maintenance thread flushes the JSONL (debounced) and calls ``after_flush``; that
hook only marks "commit wanted" and wakes the ``bd-git`` thread, so no git work ever runs
while the writer lock is held. The git thread commits at most once per interval
(``--commit-interval`` / ``git.commit_interval``, default ``COMMIT_INTERVAL``), whatever the
number of writes in between.

On the user's branch (index mode) a commit also waits while the user's git is running
(``busy.Watcher``: the hooks' marks, git processes in the repository, ``index.lock``), and the
watcher is asked once more at the last moment (``commit_jsonl(guard=...)``), so that no git
command of the user's ever meets a HEAD we moved or an ``index.lock`` we hold. The wait is
bounded (``git.busy_timeout``): a git that hangs cannot hold the issues back for ever. Agents
never wait for any of this. While auto-commit is on, ``.beads/daemon.autocommit`` (our pid)
tells the pre-commit hook, in shell, that issue changes are the daemon's to commit. On the
user's branch the daemon also holds the server's flushes: the JSONL is written when it is
committed, and replaces the work tree's copy only once the commit is in (``_flush_and_commit``).

Everything that makes the agent wait is said in the log and in ``health``/``bd daemon status``.
Pushes run in their own thread (network).
"""
from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from .. import jsonl
from ..errors import BdError, LockTimeoutError
from ..workspace import Workspace
from .busy import SLOW, Watcher, proc_available
from .commit import CommitResult, commit_jsonl
from .repo import common_dir, config_get, open_repo, short

_TRUE = ("1", "true", "yes", "on")
#: seconds between two daemon commits (at least), unless configured: a few per minute at most
COMMIT_INTERVAL = 30.0
#: a due commit waits at most this long for the user's git to finish (``git.busy_timeout``)
BUSY_TIMEOUT = 600.0
#: the user's git must have been quiet this long (no git process, no hook mark, no change to the
#: index or HEAD but ours): git commands come in bursts, and a pause makes a new one starting
#: during our sub-millisecond hold unlikely
QUIET = 0.25
#: the file that tells the hooks "the daemon commits issue changes on this branch"
AUTOCOMMIT_FILE = "daemon.autocommit"
#: with auto-push, seconds between two pulls when the daemon has nothing to push (``git.pull_interval``; 0: never)
PULL_INTERVAL = 60.0


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
        self.flush_wanted = False    # (flushes held) the server announced unexported writes
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
        self.push_lock = threading.Lock()
        self.push_watcher: Watcher | None = None
        self.pushes = 0
        self.push_retries = 0
        self.defer_since: float | None = None   # when the due commit first found the user's git busy
        self.own_sig: tuple[int, ...] | None = None
        self.deferrals = 0
        self.guard_aborts = 0
        self.forced = 0
        self.user_git_at = 0.0                  # when we last saw the user's git at work
        self.watcher: Watcher | None = None
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

        def number(key: str, default: float) -> float:
            try:
                return float(conf.get(key) or default)
            except ValueError:
                return default
        interval = self.opts.get("commit_interval")
        cfg = {
            "busy_timeout": max(number("git.busy_timeout", BUSY_TIMEOUT), 0.0),
            "watch_processes": (conf.get("git.watch_processes") or "true").lower() in _TRUE,
            "auto_commit": bool(self.opts.get("auto_commit")) or conf.get("daemon.auto_commit", "").lower() in _TRUE,
            "auto_push": bool(self.opts.get("auto_push")) or conf.get("daemon.auto_push", "").lower() in _TRUE,
            "interval": max(float(interval) if interval is not None else number("git.commit_interval", COMMIT_INTERVAL),
                            0.0),
            "sync_branch": (conf.get("sync.branch") or "").strip() or None,
            "sync_remote": (conf.get("sync.remote") or "").strip() or None,
            "pull_interval": number("git.pull_interval", PULL_INTERVAL),
        }
        if cfg != self.cfg:
            if self.cfg:
                self.log(f"git: configuration now {self._describe(cfg)}")
            self.cfg = cfg
            self._set_flags()
        self.cfg_at = time.monotonic()

    def _set_flags(self) -> None:
        self._mark_autocommit(bool(self.cfg.get("auto_commit")))
        self.watcher = None  # rebuilt with the new settings
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

    def _mark_autocommit(self, on: bool) -> None:
        """Keep ``.beads/daemon.autocommit`` (our pid) while we auto-commit: the pre-commit hook
        then has nothing to flush or stage (on the user's branch or the sync branch)."""
        from ..workspace import safefs
        from ..workspace.files import atomic_write
        path = self.ws.beads_dir / AUTOCOMMIT_FILE
        try:
            if on:
                atomic_write(path, f"{os.getpid()}\n", mode=safefs.PRIVATE_FILE, exact_mode=True, durable=False,
                             check_target=True)
            elif safefs.lstat_file(path) is not None:
                path.unlink()
        except (OSError, BdError) as e:
            self.log(f"git: cannot update {path.name}: {e}")

    def _watcher(self, repo: Any) -> Watcher:
        if self.watcher is None:
            def alias(name: str) -> str | None:
                return config_get(repo, f"alias.{name}")
            self.watcher = Watcher(Path(repo.workdir), Path(repo.path), common_dir(repo),
                                   scan=bool(self.cfg.get("watch_processes", True)),
                                   max_age=float(self.cfg.get("busy_timeout", BUSY_TIMEOUT)), alias=alias)
        return self.watcher

    @staticmethod
    def _describe(cfg: dict[str, Any]) -> str:
        if not cfg.get("auto_commit"):
            return "auto-commit off"
        where = f"sync branch {cfg['sync_branch']}" if cfg.get("sync_branch") else "the checked-out branch"
        pull = cfg.get("pull_interval", PULL_INTERVAL)
        push = (f", auto-push (and pull every {pull:g}s)" if pull else ", auto-push") if cfg.get("auto_push") else ""
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
        """The JSONL was just flushed, or (flushes held) a flush is due (maintenance thread,
        writer lock held): only signal."""
        with self.cond:
            self.pending = True
            self.flush_wanted = True
            self.cond.notify()

    def holds_flushes(self) -> bool:
        """On the user's branch the JSONL changes only together with our commit (``_attempt``
        flushes right before it): in between, the work tree's copy is the committed one, so
        ``git status`` is clean and ``git rebase``/``checkout``/``pull`` never find it modified."""
        return bool(self.cfg.get("auto_commit")) and not self.cfg.get("sync_branch")

    def housekeeping(self, store: Any) -> None:
        with self.cond:
            if self.holds_flushes() and store.dirty_count() and getattr(self.host, "flush_due", None) is None:
                self.pending = self.flush_wanted = True  # flushes are ours: none is forgotten (debounce kept)
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
            "guard_aborts": self.guard_aborts, "forced_commits": self.forced,
            "busy_timeout": cfg.get("busy_timeout"),
            "watching": ("hooks + git processes" if cfg.get("watch_processes", True) and proc_available() else "hooks")
            if not cfg.get("sync_branch") else None,
            "max_index_lock_hold_ms": round(self.max_lock_hold * 1000, 3),
            "push": dict(self.push_state),
        }
        return out

    def _waiting_report(self) -> str | None:
        if not self.waiting:
            return None
        secs = time.monotonic() - self.waiting_since
        if self.failures and self._transient(self.waiting) and secs < 1.0:
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
        guard = None
        if not self.cfg.get("sync_branch"):  # the user's branch: never while their git runs
            if self.defer_since is None:
                self.defer_since = now
            waited = now - self.defer_since
            if waited < self.cfg.get("busy_timeout", BUSY_TIMEOUT):
                why = self._user_git(repo)
                if why:
                    self.deferrals += 1
                    self._wait(f"your git is busy: {why}", random.uniform(0.01, 0.05))
                    return
                guard = self._guard
            else:
                why = self._user_git(repo)
                if why:
                    self.forced += 1
                    self.log(f"git: committing although your git has been busy for {waited:.0f}s "
                             f"(git.busy_timeout): {why}")
        self._attempt(repo, fp, guard=guard)

    def _user_git(self, repo: Any) -> str | None:
        """Why the user's git counts as busy now (see ``busy``), or None: a hook mark or a git
        process now, or either of them, or a change to the index or HEAD that is not ours,
        less than QUIET seconds ago."""
        w = self._watcher(repo)
        why = w.look()[0]
        now = time.monotonic()
        if why == SLOW:
            return why  # nothing seen running: no reason to restart the quiet period
        if why is None and self._user_git_active(repo):
            why = "git changed the index or HEAD a moment ago"
        if why is not None:
            self.user_git_at = now
            return why
        if now - self.user_git_at < QUIET:
            return f"your git ran {(now - self.user_git_at) * 1000:.0f} ms ago; waiting for a pause"
        return None

    def _guard(self) -> tuple[str | None, float]:
        """The last look, from inside commit_jsonl (the branch's ref lock held)."""
        assert self.watcher is not None
        why, deadline = self.watcher.look()
        if why:
            self.guard_aborts += 1
        return why, deadline

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
        """Whether the user's git changed the index or HEAD in the last QUIET seconds (our own
        last commit does not count): it catches commands too short to be seen running."""
        sig = self._git_sig(repo)
        if sig == self.own_sig:
            return False
        return time.time() - max(sig) / 1e9 < QUIET

    def _attempt(self, repo: Any, fp: str | None, *, final: bool = False,
                 guard: Any = None) -> bool:
        from ..errors import LockTimeoutError
        from ..workspace.safefs import FileLock
        gen = self.state.get().export_gen if self.state is not None else 0
        res: CommitResult | None = None
        if not final and self.holds_flushes() and self.host is not None and self.flush_wanted:
            res = self._flush_and_commit(repo, guard)
            if res is not None:
                gen = self.state.get().export_gen if self.state is not None else 0
                fp = jsonl.fingerprint(self.jsonl_path)
        if res is None:  # nothing to flush: commit the JSONL as it is (an edit, a checkout)
            flock = FileLock(self.ws.lock_path)
            try:
                flock.acquire(timeout=1.0 if final else 0)
            except LockTimeoutError:
                self._wait("another bd process holds .beads/bd.lock (bd sync, or a direct-mode write)", 0.05)
                return False
            try:
                res = self._commit(repo, guard)
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
            extra = f" with {', '.join(res.companions)}" if res.companions else ""
            self.log(f"git: committed {res.changes.get('changed', 0)} issue change(s){extra} as "
                     f"{(res.commit or '')[:10]} on {short(res.branch or '')}")
        if res.committed or res.up_to_date:
            # writes made meanwhile are announced after their debounce (or by housekeeping)
            self.pending = self.flush_wanted = False
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
        reason = res.waiting or "git is busy"
        if res.busy:
            if "index.lock" in reason:
                self.index_lock_waits += 1
            else:  # the guard's last look found the user's git
                reason = f"your git is busy: {reason}"
            # random, growing delays: out of step with whatever rhythm the user's git has
            retry = min(random.uniform(0.005, 0.02) * 2 ** min(self.failures, 5), 0.5)
        else:
            retry = 1.0
        self._wait(reason, retry)
        return False

    def _commit(self, repo: Any, guard: Any, source: Path | None = None) -> CommitResult:
        with self.commit_lock:
            # One attempt, no waiting for index.lock: a retry right after the user's git
            # releases the lock would land just when their next command wants it. Retries
            # come after a random delay instead (see _attempt).
            return commit_jsonl(repo, self.jsonl_path, branch=self.cfg.get("sync_branch"), title="bd",
                                staged="wait", attempts=1, lock_wait=0.0, guard=guard, source=source)

    def _flush_and_commit(self, repo: Any, guard: Any) -> CommitResult | None:
        """Flush through the server with our commit in between: the new JSONL is committed
        first and replaces the work tree's copy only once the commit is in, so the file never
        stays modified in the work tree. None when there was nothing to flush."""
        out: list[CommitResult] = []

        def commit_new(new: Path) -> None:
            res = self._commit(repo, guard, source=new)
            out.append(res)
            if not (res.committed or res.up_to_date):
                raise _NotCommitted()
        try:
            assert self.host is not None
            self.host.flush_now(before_replace=commit_new)
        except _NotCommitted:
            pass  # the flush was rolled back: nothing changed
        except LockTimeoutError:
            return CommitResult(waiting="another bd process holds .beads/bd.lock (bd sync, or a direct-mode write)")
        except BdError as e:  # the disk refused the new file, ...: the flush is retried later
            return CommitResult(waiting=str(e))
        return out[-1] if out else None

    @staticmethod
    def _transient(reason: str) -> bool:
        """Reasons that usually pass within milliseconds (not worth a log line at once)."""
        return "index.lock" in reason or reason.startswith("your git is busy")

    def _wait(self, reason: str, retry_in: float) -> None:
        now = time.monotonic()
        if reason != self.waiting:
            # the same kind of wait, another process: keep counting from the first
            if not (self.waiting and self._transient(self.waiting) and self._transient(reason)):
                self.waiting_since = now
            self.waiting = reason
        self.failures += 1
        self.retry_at = now + retry_in
        logged = self.logged_wait
        new_kind = logged is None or (logged != reason and not (self._transient(logged) and self._transient(reason)))
        if new_kind and (now - self.waiting_since >= 1.0 or not self._transient(reason)):
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
        try:
            self._final_commit()
        finally:
            self._mark_autocommit(False)

    def _final_commit(self) -> None:
        """Commit what the last flush wrote, trying for a bounded time, as the loop does: on
        the user's branch only in a pause of their git, with the guard. What is left uncommitted
        goes with the user's next commit (no daemon: the pre-commit hook stages it) or with the
        next daemon's first commit."""
        if not self.cfg.get("auto_commit"):
            return
        repo = open_repo(self.ws.root)
        if repo is None:
            return
        index_mode = not self.cfg.get("sync_branch")
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            try:
                if index_mode and self._user_git(repo):
                    time.sleep(0.02)
                    continue
                if self._attempt(repo, jsonl.fingerprint(self.jsonl_path), final=True,
                                 guard=self._guard if index_mode else None):
                    return
            except Exception as e:
                self.log(f"git: final commit failed: {type(e).__name__}: {e}")
                return
            if self.waiting and not self._transient(self.waiting) and "bd.lock" not in self.waiting:
                return  # a merge in progress etc.: the next daemon commits it
            time.sleep(0.02)
        self.log(f"git: stopping without the last commit ({self.waiting or 'your git was busy'})")

    # --- auto-push ----------------------------------------------------------------------------

    def _push_loop(self) -> None:
        last = time.monotonic()
        while not self.stopping:
            pull = float(self.cfg.get("pull_interval") or 0.0)
            periodic = bool(self.cfg.get("auto_push") and self.cfg.get("auto_commit") and pull > 0)
            wait = min(max(last + pull - time.monotonic(), 0.0), 2.0) if periodic else 2.0
            if not self.push_event.wait(wait):
                if not (periodic and time.monotonic() - last >= pull):
                    continue
            self.push_event.clear()
            if self.stopping:
                return
            last = time.monotonic()
            try:
                self._push()
            except BdError as e:
                self._push_failed(e.message, e)
            except Exception as e:
                self._push_failed(f"{type(e).__name__}: {e}")

    def _push(self) -> None:
        """Push our commits the way ``bd sync`` does (one implementation: ``sync.Sync``, run for
        the daemon): fetch, merge what the upstream changed in the issues (in objects, pushed
        before the branch moves), retry transient failures within ``sync.retry_timeout``.
        Unlike ``bd sync`` it commits nothing itself, never runs ``git merge`` over your files,
        and moves your branch only while your git is quiet (the same look as its commits)."""
        from .sync import Sync
        repo = open_repo(self.ws.root)
        if repo is None:
            return
        guard = None
        if not self.cfg.get("sync_branch"):
            if self.push_watcher is None:
                self.push_watcher = Watcher(Path(repo.workdir), Path(repo.path), common_dir(repo),
                                            scan=bool(self.cfg.get("watch_processes", True)),
                                            max_age=float(self.cfg.get("busy_timeout", BUSY_TIMEOUT)),
                                            alias=lambda name: config_get(repo, f"alias.{name}"))
            guard = self.push_watcher.look
        said: list[str] = []

        def progress(step: str) -> None:
            if "trying again" in step and not said:  # the first retry of a run is worth a line
                said.append(step)
                self.log(f"git: auto-push: {step} (and so on, within sync.retry_timeout)")
        with self.push_lock:
            report = Sync(self.ws, actor="bd-daemon", daemon=True, guard=guard, progress=progress,
                          stopping=lambda: self.stopping, hold=self._writes_held).run()
        self.pushes += 1
        self.push_retries += report["retries"]["count"]
        if self.push_state.get("error"):
            self.log(f"git: push to {report.get('upstream')} works again")
        if report["renumbered"]:
            pairs = ", ".join(f"{a} -> {b}" for a, b in report["renumbered"].items())
            self.log(f"git: renumbered (the IDs were taken for other issues): {pairs}")
        if report["pushed"] or report["pulled"]:
            n = report["retries"]["count"]
            self.log(f"git: {'pushed to' if report['pushed'] else 'pulled from'} {report.get('upstream')}"
                     + (f" ({len(report['created'])} created, {len(report['updated'])} updated, "
                        f"{len(report['deleted'])} deleted here)" if report["pulled"] else "")
                     + (f" after {n} retr{'y' if n == 1 else 'ies'}" if n else ""))
        self.push_state = {"ok": True, "upstream": report.get("upstream"), "ref": report.get("branch"),
                           "at": time.time(), "pushed": report["pushed"], "pulled": report["pulled"],
                           "retries": report["retries"]["count"], "renumbered": report["renumbered"],
                           "pushes": self.pushes, "total_retries": self.push_retries}

    def _writes_held(self) -> AbstractContextManager[Any]:
        held = getattr(self.host, "writes_held", None)
        return held() if held is not None else nullcontext()

    def _push_failed(self, msg: str, err: BdError | None = None) -> None:
        if self.push_state.get("error") != msg:
            self.log(f"git: auto-push failed: {msg}" + (f" ({err.hint})" if err is not None and err.hint else ""))
        self.push_state = {"ok": False, "error": msg, "at": time.time(), "pushes": self.pushes,
                           "total_retries": self.push_retries}
        if err is not None:
            self.push_state.update(kind=err.kind, hint=err.hint)


class _NotCommitted(Exception):
    """Our commit of a new JSONL did not happen: the flush must not replace the file."""


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
