"""The daemon never fights the user's git: a real daemon auto-committing, bd's hooks installed,
4 agent processes creating issues nonstop, and the user's own git in the same repository (50
rounds of add + commit + status, amends, a merged side branch, a rebased small branch).

Zero failed user commands; every agent issue reaches a commit; the user's commits hold exactly
what the user staged; the daemon's commits hold only bd's files. In sync-branch mode bd touches
neither HEAD, nor the index, nor the user's branch.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from testing import git, run_bd, wait_for
from testing.gitload import JSONL, Agents, UserSession, history, ids_at, summary

from bdgit.daemon import lifecycle as d
from bdgit.gitsync.sync import install_merge_driver
from bdgit.gitsync.repo import open_repo
from bdgit.rpc.client import Client
from bdgit.workspace import find

pytestmark = pytest.mark.stress


def _health(ws: Any) -> dict[str, Any]:
    with Client(ws.beads_dir, timeout=30) as c:
        return c.execute("health")


@pytest.fixture
def repo(beads_repo: Path) -> Path:
    """``beads_repo`` committed, with bd's hooks and the JSONL merge driver (as a user has them)."""
    git(beads_repo, "add", ".beads")
    git(beads_repo, "commit", "-q", "-m", "bd init")
    run_bd("hooks", "install", cwd=beads_repo, check=True)
    install_merge_driver(open_repo(beads_repo), JSONL)
    return beads_repo


def _session(repo: Path, opts: dict[str, Any]) -> tuple[Any, UserSession, Agents, str]:
    ws = find(cwd=repo)
    start = git(repo, "rev-parse", "HEAD").stdout.strip()
    d.start(ws, {"idle_timeout": 300, "auto_commit": True, "flush_interval": 0.2, **opts})
    agents = Agents(ws.beads_dir / "bd.sock", 4)
    try:
        assert wait_for(lambda: _health(ws)["dirty_issues"] or _health(ws)["git_state"]["pending"], timeout=20)
        user = UserSession(repo)
        user.run(50, pause=1.0)
    finally:
        agents.stop()
    return ws, user, agents, start


def test_index_mode_zero_failed_user_commands(repo: Path) -> None:
    ws, user, agents, start = _session(repo, {"commit_interval": 1.0})
    try:
        assert not agents.errors, agents.errors[:3]
        assert len(agents.acks) > 100
        assert wait_for(lambda: set(agents.acks) <= ids_at(repo, "main"), timeout=60), "agent issues not committed"
        gs = _health(ws)["git_state"]
    finally:
        d.stop(ws)
    hist = history(repo, start, "main")
    print("\n" + summary(user, hist, agents, {k: gs[k] for k in ("commits", "deferrals", "guard_aborts",
                                                                 "index_lock_waits", "forced_commits")}))
    assert user.failures == [], "\n".join(user.failures)
    # the user's commits hold exactly what the user staged, and nothing of bd's
    assert set(hist.user) == set(user.expected)
    for message, files in user.expected.items():
        assert set(hist.user[message]) == files, message
    # the daemon's commits hold bd's files only, and some landed between the user's commits
    last_user = git(repo, "log", "-1", "--format=%H", "--grep=^user 49$", "main").stdout.strip()
    assert any(git(repo, "merge-base", "--is-ancestor", sha, last_user, check=False).returncode == 0
               for sha, _, _ in hist.daemon), "no daemon commit landed while the user worked"
    for _, subject, files in hist.daemon:
        assert set(files) <= {JSONL, ".beads/.gitignore", ".beads/.gitattributes"} and JSONL in files, (subject, files)
    assert gs["forced_commits"] == 0
    assert git(repo, "status", "--porcelain", "--", ".beads").stdout == ""


def test_sync_branch_mode_never_touches_head_the_index_or_the_branch(repo: Path) -> None:
    # The documented sync-branch setup: the JSONL lives on the sync branch, not on yours.
    run_bd("config", "set", "sync.branch", "beads-sync", cwd=repo, check=True)
    git(repo, "rm", "-q", "--cached", JSONL)
    with open(repo / ".beads" / ".gitignore", "a") as f:
        f.write("issues.jsonl\n")
    git(repo, "add", ".beads/.gitignore")
    git(repo, "commit", "-q", "-m", "issues travel on beads-sync")
    reflog_before = git(repo, "reflog", "--format=%gs").stdout.splitlines()
    ws, user, agents, start = _session(repo, {"commit_interval": 0.5})
    try:
        assert not agents.errors, agents.errors[:3]
        assert wait_for(lambda: set(agents.acks) <= ids_at(repo, "beads-sync"), timeout=60)
        gs = _health(ws)["git_state"]
    finally:
        d.stop(ws)
    hist = history(repo, start, "main")
    print("\n" + summary(user, hist, agents, {k: gs[k] for k in ("commits", "mode")}))
    assert user.failures == [], "\n".join(user.failures)
    assert hist.daemon == [] and set(hist.user) == set(user.expected)
    for message, files in user.expected.items():
        assert set(hist.user[message]) == files, message
    # bd never took index.lock, and HEAD only ever moved by the user's own commands
    assert gs["mode"] == "sync-branch" and gs["commits"] >= 3
    assert gs["index_lock_waits"] == 0 and gs["max_index_lock_hold_ms"] == 0
    reflog = git(repo, "reflog", "--format=%gs").stdout.splitlines()
    assert not [r for r in reflog[:len(reflog) - len(reflog_before)] if r.startswith("bd")]
    assert git(repo, "ls-files", ".beads").stdout.split() == [".beads/.gitattributes", ".beads/.gitignore"]
    # the sync branch (started from HEAD at its first commit) holds only bd's commits of the JSONL
    assert set(git(repo, "log", "--format=", "--name-only", "main..beads-sync").stdout.split()) == {JSONL}
    assert {s.split(":")[0] for s in git(repo, "log", "--format=%s", "main..beads-sync").stdout.splitlines()} == {"bd"}
