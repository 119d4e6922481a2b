"""bdgit.gitsync.busy on real processes: hook marks (live, dead, reused pids, too old), git
processes found in /proc (writers count, readers and aliases of readers do not), and the
daemon holding its commit while a user's ``git commit`` waits in its editor, then committing
once it is done (the user's commit succeeds), bounded by ``git.busy_timeout``."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from testing import git, run_bd, wait_for

from bdgit.daemon import lifecycle as d
from bdgit.gitsync import busy
from bdgit.rpc.client import Client
from bdgit.workspace import find

needs_proc = pytest.mark.skipif(not busy.proc_available(), reason="needs Linux /proc to see processes")


def watcher(repo: Path, **kw: Any) -> busy.Watcher:
    return busy.Watcher(repo, repo / ".git", repo / ".git", **kw)


def editor_commit(repo: Path, seconds: float, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """A ``git commit`` that sits in its editor for ``seconds`` (as a person writing a message)."""
    return subprocess.Popen(["git", "commit", "-q", *args], cwd=repo, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE,
                            env={**os.environ, **(env or {}), "GIT_EDITOR": f"sleep {seconds}; echo msg >"})


def test_marks_count_while_their_git_lives(git_repo: Path) -> None:
    w = watcher(git_repo)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        busy.mark(git_repo / ".git", sleeper.pid)
        assert "is running a command" in (w.why() or "")
        dead = subprocess.Popen(["true"])
        dead.wait()
        busy.unmark(git_repo / ".git", sleeper.pid)
        busy.mark(git_repo / ".git", dead.pid)  # a git that crashed: its mark does not count ...
        assert w.why() is None
        assert not (git_repo / ".git" / f"bd-busy.{dead.pid}").exists()  # ... and is cleaned away
        busy.mark(git_repo / ".git", sleeper.pid)
        mark = git_repo / ".git" / f"bd-busy.{sleeper.pid}"
        old = time.time() - 3600
        os.utime(mark, (old, old))
        assert watcher(git_repo, scan=False, max_age=7200).why()  # the pid lives, the mark is young enough
        assert watcher(git_repo, scan=False).why() is None        # older than max_age: void (kept)
        assert mark.exists()
        if busy.proc_available():  # made before the process with that pid started: a reused pid
            assert watcher(git_repo, max_age=7200).why() is None and not mark.exists()
    finally:
        sleeper.kill()
        sleeper.wait()


@needs_proc
def test_git_processes_in_the_repository_are_seen(git_repo: Path, tmp_path: Path) -> None:
    w = watcher(git_repo)
    (git_repo / "f.txt").write_text("f\n")
    git(git_repo, "add", "f.txt")
    p = editor_commit(git_repo, 1.5)
    try:
        assert wait_for(lambda: "git commit" in (w.why() or ""), timeout=5)
        # another repository's git, and a reader here, do not count
        other = tmp_path / "other"
        git(tmp_path, "init", "-q", str(other))
        w2 = watcher(other)
        assert w2.why() is None
    finally:
        p.communicate(timeout=10)
    assert p.returncode == 0
    assert wait_for(lambda: w.why() is None, timeout=5)
    git(git_repo, "config", "alias.cf", "cat-file")
    reader = subprocess.Popen(["git", "cf", "--batch"], cwd=git_repo, stdin=subprocess.PIPE,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:  # a long-running reader (an editor's integration does this), known by its alias
        assert wait_for(lambda: watcher(git_repo, every=True).processes(), timeout=5)  # bd doctor sees it
        assert watcher(git_repo, alias={"cf": "cat-file"}.get).why() is None
        assert "git cf" in (watcher(git_repo).why() or "")  # an unknown command counts as a writer
    finally:
        reader.communicate(input=b"", timeout=10)


def test_subcommand_skips_global_options() -> None:
    assert busy.subcommand(["git", "-C", "/x", "-c", "a=b", "--no-pager", "commit", "-m", "x"]) == "commit"
    assert busy.subcommand(["git", "--git-dir=/x/.git", "rebase", "main"]) == "rebase"
    assert busy.subcommand(["git"]) is None


# --- the daemon ----------------------------------------------------------------------------------

def _health(ws: Any) -> dict[str, Any]:
    with Client(ws.beads_dir, timeout=30) as c:
        return c.execute("health")


@pytest.fixture
def committed(beads_repo: Path) -> Path:
    git(beads_repo, "add", ".beads")
    git(beads_repo, "commit", "-q", "-m", "bd init")
    return beads_repo


@pytest.mark.parametrize("hooks", [True, pytest.param(False, marks=needs_proc)])
def test_the_daemon_waits_for_a_commit_in_progress(committed: Path, hooks: bool) -> None:
    """A ``git commit`` waiting in its editor has read HEAD: the daemon holds its commit until
    it is done (seen through the hooks' mark, or the process), and the user's commit succeeds."""
    repo = committed
    if hooks:
        run_bd("hooks", "install", cwd=repo, check=True)
        run_bd("config", "set", "git.watch_processes", "false", cwd=repo, check=True)  # the marks alone
    ws = find(cwd=repo)
    d.start(ws, {"idle_timeout": 300, "auto_commit": True, "flush_interval": 0.05, "commit_interval": 0})
    try:
        with Client(ws.beads_dir, timeout=30) as c:
            c.execute("create", {"title": "before"})
        assert wait_for(lambda: _health(ws)["git_state"]["commits"] == 1, timeout=20)
        (repo / "mine.txt").write_text("mine\n")
        git(repo, "add", "mine.txt")
        p = editor_commit(repo, 3)
        time.sleep(0.5)
        with Client(ws.beads_dir, timeout=30) as c:
            c.execute("create", {"title": "during the user's commit"})
        assert wait_for(lambda: "your git is busy" in (_health(ws).get("git_waiting") or "")
                        or _health(ws)["git_state"]["deferrals"] > 0, timeout=10)
        assert _health(ws)["git_state"]["commits"] == 1
        out, err = p.communicate(timeout=20)
        assert p.returncode == 0, err
        assert wait_for(lambda: _health(ws)["git_state"]["commits"] == 2, timeout=20)
    finally:
        d.stop(ws)
    subjects = git(repo, "log", "--format=%s", "-3").stdout.splitlines()
    assert subjects[0].startswith("bd: 1 issue changed") and subjects[1] == "msg"
    assert git(repo, "show", "--name-only", "--format=", "HEAD~1").stdout.split() == ["mine.txt"]


def test_a_hung_git_holds_the_daemon_only_until_busy_timeout(committed: Path) -> None:
    repo = committed
    run_bd("config", "set", "git.busy_timeout", "1", cwd=repo, check=True)
    hung = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        busy.mark(repo / ".git", hung.pid)  # a git that hangs with its mark made
        ws = find(cwd=repo)
        d.start(ws, {"idle_timeout": 300, "auto_commit": True, "flush_interval": 0.05, "commit_interval": 0})
        try:
            with Client(ws.beads_dir, timeout=30) as c:
                c.execute("create", {"title": "held back, then committed"})
            assert wait_for(lambda: _health(ws)["git_state"]["commits"] == 1, timeout=20)
            assert hung.poll() is None  # committed while the hung git still has its mark
            assert _health(ws)["git_state"]["deferrals"] > 0
        finally:
            d.stop(ws)
    finally:
        hung.kill()
        hung.wait()
