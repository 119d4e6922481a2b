"""Ordinary git commands that put an older JSONL in the work tree (``git reset --hard``,
``git stash`` + ``git stash pop``, ``git checkout`` of another branch and back) with a daemon
running and agents writing: no acknowledged issue disappears, no deleted issue comes back."""
from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bdgit.errors import BdError

from testing import git, wait_for
from testing.daemon import Daemon


class Agents:
    """Agents writing through the daemon until stopped: creates, edits, some deletes. Records
    what was acknowledged."""

    def __init__(self, dm: Daemon, n: int = 2) -> None:
        self.dm = dm
        self.created: set[str] = set()
        self.deleted: set[str] = set()
        self.errors: list[str] = []
        self.go = threading.Event()
        self.go.set()
        self.stop_flag = False
        self.lock = threading.Lock()
        self.idle = [threading.Event() for _ in range(n)]
        self.threads = [threading.Thread(target=self.work, args=(k,), daemon=True) for k in range(n)]

    def work(self, k: int) -> None:
        n = 0
        with self.dm.client(actor=f"agent{k}") as c:
            while not self.stop_flag:
                if not self.go.is_set():
                    self.idle[k].set()  # no write of ours in flight
                    self.go.wait()
                self.idle[k].clear()
                if self.stop_flag:
                    break
                n += 1
                try:
                    i = c.execute("create", {"title": f"agent {k} issue {n}"})["id"]
                    with self.lock:
                        self.created.add(i)
                    c.execute("update", {"id": i, "notes": f"note {n}"})
                    if n % 5 == 0:
                        c.execute("delete", {"id": i, "force": True})
                        with self.lock:
                            self.deleted.add(i)
                except BdError as e:
                    self.errors.append(str(e))
                time.sleep(0.01)

    def __enter__(self) -> Agents:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_flag = True
        self.go.set()
        for t in self.threads:
            t.join(timeout=30)

    def pause(self) -> None:
        """Stop writing, and return once no agent has a write in flight."""
        self.go.clear()
        for ev in self.idle:
            assert ev.wait(timeout=60)

    def resume(self) -> None:
        self.go.set()


def live_and_deleted(repo: Path) -> tuple[set[str], set[str]]:
    """(live, tombstoned) IDs in the daemon's current export."""
    from bdgit.rpc.client import Client
    with Client(repo / ".beads", timeout=30) as c:
        text = c.execute("export")["text"]
    objs = [json.loads(x) for x in text.splitlines()]
    return ({o["id"] for o in objs if o["status"] != "tombstone"}, {o["id"] for o in objs if o["status"] == "tombstone"})


def flushed(repo: Path) -> bool:
    from bdgit.rpc.client import Client
    with Client(repo / ".beads", timeout=30) as c:
        text = c.execute("export")["text"]
    return text == (repo / ".beads" / "issues.jsonl").read_text(encoding="utf-8")


def check(repo: Path, agents: Agents) -> None:
    live, dead = live_and_deleted(repo)
    with agents.lock:
        created, deleted = set(agents.created), set(agents.deleted)
    assert created <= live | dead, sorted(created - live - dead)  # nothing acknowledged lost
    assert deleted <= dead, sorted(deleted - dead)  # nothing deleted came back
    assert live & deleted == set()


@pytest.fixture
def running(beads_repo: Path) -> Iterator[tuple[Path, Daemon]]:
    git(beads_repo, "add", ".beads")
    git(beads_repo, "commit", "-q", "-m", "bd init")
    dm = Daemon(beads_repo).start(flush_interval=0.05)
    yield beads_repo, dm
    dm.stop()


def test_reset_hard_while_agents_write(running: tuple[Path, Daemon]) -> None:
    repo, dm = running
    with Agents(dm) as agents:
        for _ in range(4):
            time.sleep(0.4)
            for _attempt in range(3):  # the daemon holds off while git holds index.lock; git can
                # still, rarely, meet a rename of ours just before it locks: it then says so, and
                # running it again works (nothing is lost either way)
                p = subprocess.run(["git", "reset", "-q", "--hard"], cwd=repo, capture_output=True, text=True)
                if p.returncode == 0:
                    break
            assert p.returncode == 0, p.stderr
        time.sleep(0.4)
    assert wait_for(lambda: flushed(repo), timeout=60)
    check(repo, agents)
    assert len(agents.created) > 10 and not agents.errors, agents.errors


def test_stash_and_pop_while_agents_write(running: tuple[Path, Daemon]) -> None:
    repo, dm = running
    (repo / "work.txt").write_text("the user's own change\n")
    git(repo, "add", "work.txt")
    with Agents(dm) as agents:
        time.sleep(0.4)
        assert git(repo, "stash", "-q").returncode == 0
        time.sleep(0.4)  # agents go on; the daemon finds the stashed-away issues missing, keeps them
        agents.pause()
        assert wait_for(lambda: flushed(repo), timeout=60)
        # the daemon rewrote the JSONL since the stash: commit it, then pop (git merges the
        # stashed JSONL with bd's merge driver)
        git(repo, "add", ".beads/issues.jsonl")
        git(repo, "commit", "-q", "-m", "issues")
        p = subprocess.run(["git", "stash", "pop", "-q"], cwd=repo, capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        assert "<<<<<<<" not in (repo / ".beads" / "issues.jsonl").read_text()
        assert (repo / "work.txt").read_text() == "the user's own change\n"
        agents.resume()
        time.sleep(0.3)
    assert wait_for(lambda: flushed(repo), timeout=60)
    check(repo, agents)


def test_checkout_another_branch_and_back_while_agents_write(running: tuple[Path, Daemon]) -> None:
    repo, dm = running
    with Agents(dm) as agents:
        time.sleep(0.3)
        agents.pause()
        assert wait_for(lambda: flushed(repo), timeout=60)
        git(repo, "add", ".beads/issues.jsonl")
        git(repo, "commit", "-q", "-m", "main's issues")
        git(repo, "checkout", "-q", "-b", "other")
        agents.resume()
        time.sleep(0.4)  # issues made on the other branch
        agents.pause()
        assert wait_for(lambda: flushed(repo), timeout=60)
        git(repo, "add", ".beads/issues.jsonl")
        git(repo, "commit", "-q", "-m", "other's issues")
        for branch in ("main", "other", "main"):
            p = subprocess.run(["git", "checkout", "-q", branch], cwd=repo, capture_output=True, text=True)
            assert p.returncode == 0, p.stderr
            check(repo, agents)  # the older file of the branch deleted nothing
            agents.resume()
            time.sleep(0.2)
            agents.pause()
            assert wait_for(lambda: flushed(repo), timeout=60)
            git(repo, "add", ".beads/issues.jsonl")
            git(repo, "commit", "-q", "--allow-empty", "-m", f"on {branch}")
    check(repo, agents)
