"""Is the user's git at work in this repository? What the daemon asks before it moves a branch
or writes the index (see docs/GIT.md, "When your git runs").

A ``git commit`` reads HEAD when it starts and updates it, compare-and-swap, when it ends; a
daemon commit in between makes it fail ("cannot lock ref 'HEAD'"). ``git add`` fails when it
meets our ``index.lock``. So the daemon commits on the user's branch only when none of these
says that a git command is running:

1. **Hook marks.** bd's hooks create ``<git dir>/bd-busy.<pid>`` (the git process's pid) when git
   enters a command that commits (``pre-commit``, ``prepare-commit-msg``, ``pre-merge-commit``,
   ``pre-rebase``) and remove it when it leaves (``post-commit``, ``post-merge``,
   ``post-rewrite``, ``post-checkout``). A mark counts while that process lives (and, where
   ``/proc`` tells, started before the mark: pids are reused), for at most ``max_age`` seconds.
   Portable; it covers a command from its first hook on.
2. **Git processes** (Linux ``/proc``): a ``git`` process whose working directory is in this
   repository, running anything but a read-only command (``log``, ``diff``, ``fetch``, ...;
   aliases resolved). It covers every command, hooks or not, from its very start.
3. ``index.lock`` (checked by ``commit`` itself, under the index protocol).

``look`` makes the check and says until when its answer holds (a ``deadline``: a process forked
after it listed /proc cannot read HEAD before ``FORK_TO_READ`` has passed, one it saw just before
exec not before ``EXEC_TO_READ``). The process part is incremental: after a
first full scan, only processes that are new, young (started less than 0.1 s ago: a child
forked before may exec git next) or known to be git are read again (~0.1-0.3 ms), with a full
scan now and then. The commit asks it twice: before building (why wait) and at the last moment,
holding the branch's ref lock (see ``commit._publish``), which makes its visible changes before
the deadline or none at all.

The reads go through ``syscalls`` (libc, the GIL kept): in a busy daemon each ``os`` call could
wait milliseconds for the GIL, longer than the whole look may take. Light: no pygit2, so that
tests and ``bd doctor`` can use it too.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .syscalls import libc

MARK_PREFIX = "bd-busy."
#: git commands that can neither move a branch nor write the index in a way that fails or is
#: failed by ours; everything else (including unknown commands) counts as a writer
READERS = frozenset("""
annotate archive blame bugreport bundle cat-file check-attr check-ignore check-mailmap check-ref-format
cherry column commit-graph config count-objects credential credential-cache credential-cache--daemon
credential-store daemon describe diagnose diff diff-files diff-index diff-tree difftool fetch
for-each-ref format-patch fsck fsmonitor--daemon gc get-tar-commit-id grep hash-object help index-pack
instaweb interpret-trailers log ls-files ls-remote ls-tree mailinfo mailsplit maintenance merge-base
multi-pack-index name-rev pack-objects pack-redundant patch-id prune prune-packed push range-diff
remote repack request-pull rev-list rev-parse send-email shortlog show show-branch show-index show-ref
status stripspace upload-archive upload-pack var verify-commit verify-pack verify-tag version
web--browse whatchanged
""".split())
#: git's global options that take a separate value (``git -C dir commit``)
_VALUE_OPTS = frozenset(("-C", "-c", "--git-dir", "--work-tree", "--namespace", "--config-env",
                         "--super-prefix", "--exec-path", "--list-cmds", "--attr-source"))
#: what ``look`` answers when it was too slow to be trusted
SLOW = "looking at the processes took too long; trying again"
#: the least time (seconds) a git command needs from its fork to reading HEAD, and from its
#: exec (measured here: 1.1 ms and ~0.5 ms at the 5th percentile; taken with a margin)
FORK_TO_READ = 0.0006
EXEC_TO_READ = 0.0003
_YOUNG = 0.1  # seconds: a process this young may still be about to exec git (fork to exec: ~0.5 ms)


@dataclass(frozen=True)
class GitProcess:
    pid: int
    command: str          # the subcommand ("commit"), alias resolved
    argv: tuple[str, ...]

    def describe(self) -> str:
        return f"git {self.command} (pid {self.pid})"


@dataclass(frozen=True)
class Mark:
    pid: int
    path: Path
    age: float            # seconds since the hook made it
    live: bool            # its git process is still running (and is the one that made it)


def _clock_ticks() -> int:
    try:
        return int(os.sysconf("SC_CLK_TCK"))
    except (ValueError, OSError, AttributeError):
        return 100


_TICKS = _clock_ticks()


def _read(path: str) -> bytes | None:
    return libc().read_file(os.fsencode(path))


def _stat_fields(pid: int) -> tuple[str, str, int] | None:
    """(comm, state, start time in clock ticks since boot) from /proc/<pid>/stat, or None."""
    data = _read(f"/proc/{pid}/stat")
    if not data:
        return None
    try:
        lp, rp = data.index(b"("), data.rindex(b")")
        rest = data[rp + 2:].split()
        return data[lp + 1:rp].decode(errors="replace"), rest[0].decode(), int(rest[19])
    except (ValueError, IndexError):
        return None


def _uptime() -> float | None:
    data = _read("/proc/uptime")
    try:
        return float(data.split()[0]) if data else None
    except (ValueError, IndexError):
        return None


def _boot_time() -> float | None:
    data = _read("/proc/stat")
    if not data:
        return None
    for line in data.splitlines():
        if line.startswith(b"btime "):
            try:
                return float(line.split()[1])
            except (ValueError, IndexError):
                return None
    return None


def subcommand(argv: list[str] | tuple[str, ...]) -> str | None:
    """The git subcommand in a git command line (global options skipped), or None."""
    i = 1
    while i < len(argv):
        a = argv[i]
        if a in _VALUE_OPTS:
            i += 2
            continue
        if a.startswith("-"):
            i += 1
            continue
        return a
    return None


def proc_available() -> bool:
    return os.path.isdir("/proc/self") and os.path.exists("/proc/self/stat")


class Watcher:
    """Watches one repository for the user's git (see the module docstring).

    ``work_tree``, ``git_dir`` (this worktree's: HEAD, index and the marks live there) and
    ``common_dir``: a git process whose working directory is inside one of them counts.
    ``alias``: resolves a git alias to its expansion (None: not an alias). ``scan``: look at
    processes at all (False where /proc is missing, or by configuration). ``every``: count
    read-only git commands too (``bd doctor``: who may hold ``index.lock``)."""

    def __init__(self, work_tree: Path, git_dir: Path, common_dir: Path | None = None, *,
                 scan: bool = True, max_age: float = 600.0,
                 alias: Callable[[str], str | None] | None = None, every: bool = False) -> None:
        self.git_dir = Path(git_dir)
        self.deadline = 0.0
        roots = {os.path.realpath(work_tree), os.path.realpath(git_dir)}
        if common_dir is not None:
            roots.add(os.path.realpath(common_dir))
        self.roots = tuple(r.rstrip(os.sep) + os.sep for r in roots)
        self.scan = scan and proc_available()
        self.max_age = max_age
        self.alias = alias
        self.every = every
        self._seen: dict[bytes, int] = {}         # pid -> start time (ticks) when last read
        self._young: set[bytes] = set()           # not git yet, but may exec it
        self._git: dict[bytes, GitProcess] = {}   # git processes at work in this repository
        self._full_at = 0.0
        self._boot = _boot_time() if self.scan else None
        self.stats = {"looks": 0, "full_scans": 0, "reads": 0, "slow_looks": 0}

    # --- marks --------------------------------------------------------------------------------

    def marks(self, *, clean: bool = True) -> list[Mark]:
        """The hook marks in the git dir; dead ones are removed when ``clean``."""
        out: list[Mark] = []
        try:
            names = libc().listdir(os.fsencode(self.git_dir))
        except OSError:
            return out
        prefix = MARK_PREFIX.encode()
        now = time.time()
        for name in names:
            if not name.startswith(prefix):
                continue
            path = self.git_dir / os.fsdecode(name)
            try:
                pid = int(name[len(prefix):])
                mtime = os.lstat(path).st_mtime
            except (ValueError, OSError):
                continue
            live = self._alive(pid, mtime)
            if not live and clean:
                try:
                    os.unlink(path)
                except OSError:
                    pass
            out.append(Mark(pid, path, max(now - mtime, 0.0), live))
        return out

    def _alive(self, pid: int, since: float) -> bool:
        if pid <= 0:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        except OSError:
            return False
        if self._boot is not None:
            st = _stat_fields(pid)
            if st is None or st[1] == "Z":
                return False
            if self._boot + st[2] / _TICKS > since + 2.0:  # started after the mark: a reused pid
                return False
        return True

    def _mark_reason(self) -> str | None:
        for m in self.marks():
            if m.live and m.age < self.max_age:
                return f"git (pid {m.pid}) is running a command (its hook said so {m.age:.1f}s ago)"
        return None

    # --- processes -----------------------------------------------------------------------------

    def _classify(self, pid: int, comm: str, state: str) -> GitProcess | None:
        """``pid`` as a git process at work in this repository (a writer), or None."""
        if comm != "git" or state == "Z":
            return None
        raw_cwd = libc().readlink(f"/proc/{pid}/cwd".encode())
        if raw_cwd is None:
            return None  # another user's process, or gone
        cwd = os.fsdecode(raw_cwd)
        if not (cwd + os.sep).startswith(self.roots):
            return None
        raw = _read(f"/proc/{pid}/cmdline") or b""
        argv = tuple(x.decode(errors="replace") for x in raw.split(b"\0") if x)
        cmd = subcommand(argv) or ""
        if self.every:
            return GitProcess(pid, cmd or "?", argv)
        if not cmd or cmd in READERS:
            return None
        if self.alias is not None:
            expansion = (self.alias(cmd) or "").split()
            if expansion and not expansion[0].startswith("!") and expansion[0] in READERS:
                return None
        return GitProcess(pid, cmd, argv)

    def processes(self, *, full: bool = False) -> list[GitProcess]:
        """The git processes at work in this repository (empty without /proc): the new, young
        and known-git processes read again, every process after 30 s or when ``full``.
        Sets ``deadline`` (see the module docstring)."""
        self.deadline = time.perf_counter() + FORK_TO_READ
        if not self.scan:
            return []
        now = time.monotonic()
        if full or now - self._full_at > 30.0:
            self._seen.clear()
            self._young.clear()
            self._git.clear()
            self._full_at = now
            self.stats["full_scans"] += 1
        up = _uptime()
        young_after = (up - _YOUNG) * _TICKS if up is not None else None
        listed_at = time.perf_counter()
        try:
            names = [os.fsencode(n) for n in os.listdir("/proc")]
        except OSError:
            return []
        deadline = listed_at + FORK_TO_READ
        listed = set(names)
        for gone in [p for p in self._seen if p not in listed]:
            self._forget(gone)
        me = str(os.getpid()).encode()
        for name in (listed - self._seen.keys()) | self._young | self._git.keys():
            if name == me or not name.isdigit() or name not in listed:
                continue
            pid = int(name)
            st = _stat_fields(pid)
            read_at = time.perf_counter()
            self.stats["reads"] += 1
            if st is None:
                self._forget(name)
                continue
            comm, state, start = st
            if self._seen.get(name, start) != start:  # the pid was reused
                self._git.pop(name, None)
            self._seen[name] = start
            proc = self._git.get(name) if state != "Z" else None
            if proc is None:
                proc = self._classify(pid, comm, state)
            if proc is not None:
                self._git[name] = proc
                self._young.discard(name)
                continue
            self._git.pop(name, None)
            if comm != "git" and young_after is not None and start >= young_after:
                self._young.add(name)
                deadline = min(deadline, read_at + EXEC_TO_READ)  # it may exec git right now
            else:
                self._young.discard(name)
        self.deadline = deadline
        return sorted(self._git.values(), key=lambda p: p.pid)

    def _forget(self, name: bytes) -> None:
        self._seen.pop(name, None)
        self._young.discard(name)
        self._git.pop(name, None)

    def look(self) -> tuple[str | None, float]:
        """(why the user's git counts as busy now, or None; the deadline, a
        ``time.perf_counter()``, until which a None stays true: see the module docstring).
        A look that ends past its own deadline answers ``SLOW``: nothing is known to run, but
        the answer is already stale."""
        self.stats["looks"] += 1
        reason = self._mark_reason()
        if reason:
            return reason, time.perf_counter()
        procs = self.processes()
        if procs:
            return ", ".join(p.describe() for p in procs[:3]) + \
                (" is" if len(procs) == 1 else " are") + " running in this repository", self.deadline
        if self.scan and time.perf_counter() > self.deadline:
            self.stats["slow_looks"] += 1
            return SLOW, self.deadline
        return None, self.deadline if self.scan else time.perf_counter() + FORK_TO_READ

    def why(self) -> str | None:
        """Why the user's git counts as busy now, or None (a slow look is still a look here:
        only its deadline is stale)."""
        reason = self.look()[0]
        return None if reason == SLOW else reason


# --- the hooks' side ---------------------------------------------------------------------------

def git_ancestor(pid: int | None = None) -> int | None:
    """The nearest ``git`` process above ``pid`` (default: this one), from /proc; None when
    there is none or /proc cannot tell."""
    cur = os.getppid() if pid is None else pid
    for _ in range(16):
        if cur <= 1:
            return None
        st = _read(f"/proc/{cur}/stat")
        if not st:
            return None
        try:
            rp = st.rindex(b")")
            comm = st[st.index(b"(") + 1:rp]
            ppid = int(st[rp + 2:].split()[1])
        except (ValueError, IndexError):
            return None
        if comm == b"git":
            return cur
        cur = ppid
    return None


def mark(git_dir: Path, pid: int) -> None:
    """Say that git process ``pid`` is running a command (what the entering hooks do)."""
    try:
        with open(Path(git_dir) / f"{MARK_PREFIX}{pid}", "wb"):
            pass
    except OSError:
        pass  # a hint: without it the daemon still sees index.lock and, on Linux, the process


def unmark(git_dir: Path, pid: int) -> None:
    try:
        os.unlink(Path(git_dir) / f"{MARK_PREFIX}{pid}")
    except OSError:
        pass
