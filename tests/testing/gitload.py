"""A user's git session in a repository where agents write issues nonstop through a daemon:
the scenario of tests/gitsync/test_user_git.py and bench/bench_git.py.

``Agents`` are real processes (tests/stress/agent.py) creating issues until stopped.
``UserSession`` runs the user's git commands as real processes, never retries one, and records
every failure and what each of the user's commits must contain (by its message, which is
unique, so commits rewritten by ``--amend`` or ``rebase`` are still found). ``check_history``
reads the history back: which commits are the daemon's, which are the user's, and what each
holds.
"""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

AGENT = str(Path(__file__).resolve().parent.parent / "stress" / "agent.py")
JSONL = ".beads/issues.jsonl"


def git_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("GIT_DIR", "GIT_INDEX_FILE", "GIT_WORK_TREE")}
    env.setdefault("GIT_AUTHOR_NAME", "User")
    env.setdefault("GIT_AUTHOR_EMAIL", "user@example.com")
    env.setdefault("GIT_COMMITTER_NAME", "User")
    env.setdefault("GIT_COMMITTER_EMAIL", "user@example.com")
    return env


def git_out(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, text=True, capture_output=True, check=True,
                          env=git_env()).stdout


class Agents:
    """``n`` agent processes writing through the daemon's socket until ``stop`` (agent.py's
    modes, in turn: "create" creates nonstop, "mixed" creates, updates and reads)."""

    def __init__(self, socket: str | os.PathLike[str], n: int = 4, env: dict[str, str] | None = None,
                 modes: tuple[str, ...] = ("create",)) -> None:
        self.procs = [subprocess.Popen([sys.executable, AGENT, str(socket), f"agent{k}", modes[k % len(modes)],
                                        str(10**7)],
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                       env=env) for k in range(n)]
        self.acks: list[str] = []
        self.times: dict[str, float] = {}   # id -> when it was acknowledged (time.monotonic())
        self.errors: list[str] = []

    def stop(self) -> list[str]:
        """Stop them; returns every acknowledged issue id (``errors``: what they reported)."""
        for p in self.procs:
            p.send_signal(signal.SIGTERM)
        for p in self.procs:
            out, err = p.communicate(timeout=60)
            for line in out.splitlines():
                try:
                    obj = json.loads(line)
                except ValueError:
                    continue  # the line cut by the signal
                if "ack" in obj:
                    self.acks.append(obj["ack"])
                    if "t" in obj:
                        self.times[obj["ack"]] = obj["t"]
                elif "error" in obj:
                    self.errors.append(obj["error"])
            if p.returncode not in (0, -signal.SIGTERM) and "KeyboardInterrupt" not in err:
                self.errors.append(f"agent exited {p.returncode}: {err.strip()[-300:]}")
        return self.acks


@dataclass
class UserSession:
    """The user's git, as real processes; nothing is retried, every failure is kept."""

    repo: Path
    env: dict[str, str] = field(default_factory=git_env)
    commands: int = 0
    failures: list[str] = field(default_factory=list)
    expected: dict[str, set[str]] = field(default_factory=dict)   # commit message -> files it holds
    seconds: float = 0.0

    def git(self, *args: str) -> subprocess.CompletedProcess[str]:
        p = subprocess.run(["git", *args], cwd=self.repo, text=True, capture_output=True, env=self.env)
        self.commands += 1
        if p.returncode != 0:
            self.failures.append(f"git {' '.join(args)} -> {p.returncode}: {(p.stderr or p.stdout).strip()}")
        return p

    def edit(self, name: str, text: str) -> None:
        (self.repo / name).write_text(text)

    def commit(self, message: str, *files: str) -> None:
        """Edit, add and commit ``files`` (the user's commit must hold exactly them)."""
        for f in files:
            self.edit(f, f"{message}\n")
            self.git("add", f)
        self.git("commit", "-q", "-m", message)
        self.expected[message] = set(files)

    def run(self, iterations: int = 50, *, amends: tuple[int, ...] = (12, 33), merge_at: int = 20,
            rebase_at: int = 40, pause_every: int = 5, pause: float = 0.4, seed: int = 7,
            until: float | None = None) -> None:
        """``iterations`` rounds of edit + ``git add`` + ``git commit`` + ``git status``, with an
        ``--amend`` at ``amends``, a side branch merged at ``merge_at``, a small branch rebased
        at ``rebase_at``, and a pause (a person reading) every ``pause_every`` rounds; fewer
        when ``until`` (a ``time.monotonic()``) comes first."""
        rng = random.Random(seed)
        t0 = time.monotonic()
        for i in range(iterations):
            if until is not None and time.monotonic() >= until:
                break
            f = f"user{i % 5}.txt"
            self.commit(f"user {i}", f)
            self.git("status", "--porcelain")
            if i in amends:
                extra = f"amend{i}.txt"
                self.edit(extra, "amended\n")
                self.git("add", extra)
                self.git("commit", "-q", "--amend", "-m", f"user {i} (amended)")
                self.expected[f"user {i} (amended)"] = self.expected.pop(f"user {i}") | {extra}
            if i == merge_at:
                self.git("checkout", "-q", "-b", f"side{i}")
                self.commit(f"side {i}", f"side{i}.txt")
                self.git("checkout", "-q", "main")
                self.commit(f"main before merge {i}", f"main{i}.txt")
                self.git("merge", "-q", "--no-edit", f"side{i}")
                self.git("status", "--porcelain")
            if i == rebase_at:
                self.git("checkout", "-q", "-b", f"small{i}")
                self.commit(f"small {i} a", f"small{i}a.txt")
                self.commit(f"small {i} b", f"small{i}b.txt")
                self.git("checkout", "-q", "main")
                self.commit(f"main before rebase {i}", f"mainr{i}.txt")
                self.git("rebase", "-q", "main", f"small{i}")
                self.git("checkout", "-q", "main")
                self.git("merge", "-q", "--ff-only", f"small{i}")
                self.git("status", "--porcelain")
            if pause_every and i % pause_every == pause_every - 1:
                time.sleep(pause * rng.uniform(0.5, 1.5))
        self.seconds = time.monotonic() - t0


@dataclass
class History:
    daemon: list[tuple[str, str, list[str]]] = field(default_factory=list)   # (sha, subject, files)
    user: dict[str, list[str]] = field(default_factory=dict)                 # subject -> files
    merges: list[str] = field(default_factory=list)


def history(repo: Path, since: str, ref: str = "HEAD") -> History:
    """The commits on ``ref`` after ``since``: the daemon's (subject "bd: ..."), the user's
    (their files), and merge commits (not inspected: their content is their parents')."""
    out = History()
    log = git_out(repo, "log", "--format=%H%x00%P%x00%s", f"{since}..{ref}")
    for line in log.splitlines():
        sha, parents, subject = line.split("\0")
        if len(parents.split()) > 1:
            out.merges.append(subject)
            continue
        files = git_out(repo, "diff-tree", "--no-commit-id", "--name-only", "-r", sha).split()
        if subject.startswith("bd: "):
            out.daemon.append((sha, subject, files))
        else:
            out.user[subject] = files
    return out


def ids_at(repo: Path, rev: str) -> set[str]:
    p = subprocess.run(["git", "show", f"{rev}:{JSONL}"], cwd=repo, text=True, capture_output=True, env=git_env())
    return {json.loads(x)["id"] for x in p.stdout.splitlines() if x.strip()} if p.returncode == 0 else set()


def summary(session: UserSession, hist: History, agents: Agents, extra: dict[str, Any] | None = None) -> str:
    return (f"user: {session.commands} git commands in {session.seconds:.1f}s, {len(session.failures)} failed; "
            f"user commits {len(hist.user)}, daemon commits {len(hist.daemon)}, merges {len(hist.merges)}; "
            f"agent writes {len(agents.acks)}" + (f"; {extra}" if extra else ""))
