"""A real daemon with auto-commit in a real repository: batching, the user's index untouched,
imports after a merge, worktrees, the sync branch, waiting states, and many agents against a
user who runs git in a loop."""
from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testing import git, run_bd, wait_for

from bdgit.daemon import lifecycle as d
from testing.daemon import Daemon


def _commit_beads(repo: Path) -> None:
    git(repo, "add", ".beads")
    git(repo, "commit", "-q", "-m", "bd init")


@pytest.fixture
def daemons(beads_repo: Path) -> Iterator[list[Daemon]]:
    _commit_beads(beads_repo)
    made: list[Daemon] = []
    yield made
    for dm in made:
        dm.stop()


def start(daemons: list[Daemon], repo: Path, **opts: Any) -> Daemon:
    dm = Daemon(repo).start(**opts)
    daemons.append(dm)
    return dm


def ws_ids(dm: Daemon) -> set[str]:
    """The issue ids in the work tree's JSONL."""
    return {json.loads(ln)["id"] for ln in dm.ws.jsonl_path.read_text().splitlines() if ln.strip()}


def count(repo: Path, rev: str = "HEAD") -> int:
    return int(git(repo, "rev-list", "--count", rev).stdout)


def head_ids(repo: Path, rev: str = "HEAD") -> set[str]:
    text = git(repo, "show", f"{rev}:.beads/issues.jsonl", check=False).stdout
    return {json.loads(ln)["id"] for ln in text.splitlines() if ln.strip()}


def changed(repo: Path, rev: str) -> list[str]:
    return git(repo, "diff-tree", "--no-commit-id", "--name-only", "-r", rev).stdout.split()


def test_n_writes_in_one_interval_make_one_commit(daemons: list[Daemon], beads_repo: Path) -> None:
    dm = start(daemons, beads_repo, flush_interval=2.0, auto_commit=True)
    before = count(beads_repo)
    with dm.client() as c:
        ids = [c.execute("create", {"title": f"issue {i}"})["id"] for i in range(25)]
    assert wait_for(lambda: set(ids) <= head_ids(beads_repo), timeout=20)
    time.sleep(0.3)  # nothing else is pending: no second commit may follow
    assert count(beads_repo) == before + 1
    msg = git(beads_repo, "log", "-1", "--format=%s").stdout.strip()
    assert msg == "bd: 25 issues changed (25 created)"
    h = dm.health()
    assert h["git_state"]["commits"] == 1 and h["git_state"]["mode"] == "index"
    assert "auto-commit on" in h["git"]
    assert git(beads_repo, "status", "--porcelain").stdout == ""
    # the shared-memory state says it is committed
    from bdgit.workspace import statefile
    st = statefile.read(dm.ws.state_path)
    assert st is not None and st.commit_gen >= 1 and st.flags & statefile.FLAG_AUTO_COMMIT


def test_users_staged_changes_are_never_swept_in(daemons: list[Daemon], beads_repo: Path) -> None:
    (beads_repo / "mine.txt").write_text("staged by the user\n")
    git(beads_repo, "add", "mine.txt")
    (beads_repo / "README.md").write_text("edited, not staged\n")
    dm = start(daemons, beads_repo, flush_interval=0.1, auto_commit=True)
    first = dm.create("one")
    assert wait_for(lambda: first in head_ids(beads_repo), timeout=20)
    assert changed(beads_repo, "HEAD") == [".beads/issues.jsonl"]
    assert git(beads_repo, "diff", "--cached", "--name-only").stdout.split() == ["mine.txt"]
    assert git(beads_repo, "diff", "--name-only").stdout.split() == ["README.md"]
    git(beads_repo, "commit", "-q", "-m", "user's commit")
    assert changed(beads_repo, "HEAD") == ["mine.txt"]
    second = dm.create("two")
    assert wait_for(lambda: second in head_ids(beads_repo), timeout=20)
    assert changed(beads_repo, "HEAD") == [".beads/issues.jsonl"]
    assert git(beads_repo, "log", "-3", "--format=%s").stdout.splitlines()[1] == "user's commit"


def test_a_pull_that_changes_the_jsonl_is_imported(daemons: list[Daemon], beads_repo: Path, tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    git(beads_repo, "remote", "add", "origin", str(remote))
    git(beads_repo, "push", "-q", "-u", "origin", "main")
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(remote), str(other))
    git(other, "config", "user.name", "Other")
    git(other, "config", "user.email", "other@example.com")
    from bdgit.workspace.initialize import init_workspace
    init_workspace(other, "test")
    p = run_bd("--no-daemon", "create", "from the other clone", "--id", "test-40", "--json", cwd=other)
    assert p.returncode == 0, p.stderr
    assert run_bd("sync", cwd=other).returncode == 0
    dm = start(daemons, beads_repo, flush_interval=0.1, auto_commit=True)
    mine = dm.create("made here")
    assert wait_for(lambda: mine in head_ids(beads_repo), timeout=20)
    # the user merges by hand (a real merge commit: both sides changed the JSONL)
    p = git(beads_repo, "pull", "-q", "--no-rebase", "--no-edit", check=False)
    if p.returncode != 0:  # no merge driver configured here: resolve the JSONL as a user would
        ours = git(beads_repo, "show", ":2:.beads/issues.jsonl").stdout
        theirs = git(beads_repo, "show", ":3:.beads/issues.jsonl").stdout
        (beads_repo / ".beads" / "issues.jsonl").write_text(
            "".join(sorted(set(ours.splitlines(True)) | set(theirs.splitlines(True)))))
        git(beads_repo, "add", ".beads/issues.jsonl")
        git(beads_repo, "commit", "-q", "--no-edit")
    with dm.client() as c:
        got = wait_for(lambda: c.execute("list", {}) and {i["id"] for i in c.execute("list", {})} >= {mine, "test-40"},
                       timeout=20)
        assert got
        assert c.execute("show", {"id": "test-40"})["title"] == "from the other clone"
    # nothing the daemon wrote itself is re-imported, and the merged file needs no new commit
    time.sleep(0.5)
    assert "test-40" in head_ids(beads_repo)
    assert git(beads_repo, "status", "--porcelain", ".beads").stdout == ""


def test_waits_during_a_merge_and_says_so(daemons: list[Daemon], beads_repo: Path) -> None:
    git(beads_repo, "checkout", "-q", "-b", "other")
    (beads_repo / "f.txt").write_text("other\n")
    git(beads_repo, "add", "f.txt")
    git(beads_repo, "commit", "-q", "-m", "other")
    git(beads_repo, "checkout", "-q", "main")
    (beads_repo / "f.txt").write_text("main\n")
    git(beads_repo, "add", "f.txt")
    git(beads_repo, "commit", "-q", "-m", "main")
    git(beads_repo, "merge", "other", check=False)
    assert (beads_repo / ".git" / "MERGE_HEAD").exists()
    dm = start(daemons, beads_repo, flush_interval=0.1, auto_commit=True)
    head = git(beads_repo, "rev-parse", "HEAD").stdout
    new = dm.create("during the merge")
    assert wait_for(lambda: "merge is in progress" in (dm.health().get("git_waiting") or ""), timeout=20)
    p = run_bd("daemon", "status", cwd=beads_repo)
    assert "a merge is in progress" in p.stdout
    assert "git: waiting: a merge is in progress" in d.logs(dm.ws)
    assert git(beads_repo, "rev-parse", "HEAD").stdout == head
    git(beads_repo, "merge", "--abort")
    assert wait_for(lambda: new in head_ids(beads_repo), timeout=20)
    # (it may still wait a moment for the quiet after the user's 'git merge --abort')
    assert wait_for(lambda: not dm.health().get("git_waiting"), timeout=20)
    assert "resumed" in d.logs(dm.ws)


def test_sync_branch_mode_touches_neither_head_nor_index(daemons: list[Daemon], beads_repo: Path) -> None:
    assert run_bd("config", "set", "sync.branch", "beads-sync", cwd=beads_repo).returncode == 0
    (beads_repo / "mine.txt").write_text("staged\n")
    git(beads_repo, "add", "mine.txt")
    index = beads_repo / ".git" / "index"
    st = index.stat()
    head = git(beads_repo, "rev-parse", "HEAD").stdout
    dm = start(daemons, beads_repo, flush_interval=0.1, auto_commit=True)
    ids = [dm.create(f"s{i}") for i in range(5)]
    assert wait_for(lambda: set(ids) <= head_ids(beads_repo, "beads-sync"), timeout=20)
    assert git(beads_repo, "rev-parse", "HEAD").stdout == head
    assert (index.stat().st_ino, index.stat().st_mtime_ns) == (st.st_ino, st.st_mtime_ns)
    assert changed(beads_repo, "beads-sync") == [".beads/issues.jsonl"]
    h = dm.health()
    assert h["git_state"]["mode"] == "sync-branch" and "sync branch beads-sync" in h["git"]


def test_never_commits_to_a_branch_checked_out_in_another_worktree(
        daemons: list[Daemon], beads_repo: Path, tmp_path: Path) -> None:
    wt = tmp_path / "wt"
    git(beads_repo, "worktree", "add", "-q", "-b", "beads-sync", str(wt))
    assert run_bd("config", "set", "sync.branch", "beads-sync", cwd=beads_repo).returncode == 0
    dm = start(daemons, beads_repo, flush_interval=0.1, auto_commit=True)
    tip = git(beads_repo, "rev-parse", "beads-sync").stdout
    dm.create("x")
    assert wait_for(lambda: "checked out in the worktree" in (dm.health().get("git_waiting") or ""), timeout=20)
    assert git(beads_repo, "rev-parse", "beads-sync").stdout == tip


def test_worktrees_share_one_database_and_daemon(daemons: list[Daemon], beads_repo: Path, tmp_path: Path) -> None:
    wt = tmp_path / "feature"
    git(beads_repo, "worktree", "add", "-q", "-b", "feature", str(wt))
    dm = start(daemons, beads_repo, flush_interval=0.1, auto_commit=True)
    requests_before = dm.health()["requests"]
    p = run_bd("create", "made in the feature worktree", "--json", cwd=wt)
    assert p.returncode == 0, p.stderr
    new = json.loads(p.stdout)["id"]
    assert dm.health()["requests"] > requests_before + 1  # it went through this daemon
    p = run_bd("show", new, "--json", cwd=beads_repo)
    assert p.returncode == 0 and new in p.stdout
    # committed on the main worktree's branch; the feature branch is left alone
    assert wait_for(lambda: new in head_ids(beads_repo, "main"), timeout=20)
    assert new not in head_ids(beads_repo, "feature")
    assert count(beads_repo, "feature") == count(beads_repo, "main~1")


def test_direct_mode_commits_nothing(beads_repo: Path) -> None:
    _commit_beads(beads_repo)
    before = git(beads_repo, "rev-parse", "HEAD").stdout
    p = run_bd("--no-daemon", "create", "direct", cwd=beads_repo)
    assert p.returncode == 0, p.stderr
    assert "direct" in (beads_repo / ".beads" / "issues.jsonl").read_text()
    assert git(beads_repo, "rev-parse", "HEAD").stdout == before
    assert git(beads_repo, "status", "--porcelain").stdout.split() == ["M", ".beads/issues.jsonl"]


def test_auto_commit_from_config_and_a_clean_stop_commits(beads_repo: Path) -> None:
    _commit_beads(beads_repo)
    assert run_bd("config", "set", "daemon.auto_commit", "true", cwd=beads_repo).returncode == 0
    assert run_bd("config", "set", "git.commit_interval", "30", cwd=beads_repo).returncode == 0
    dm = Daemon(beads_repo).start(flush_interval=0.05, commit_interval=None)
    try:
        first = dm.create("first")
        assert wait_for(lambda: first in head_ids(beads_repo), timeout=20)
        second = dm.create("second")  # the next commit (and with it the flush) is 30 s away...
        assert wait_for(lambda: dm.health()["git_state"]["pending"], timeout=20)
        assert second not in ws_ids(dm)
    finally:
        dm.stop()
    assert second in head_ids(beads_repo)  # ...but a clean stop commits what is left


def _user_git_loop(repo: Path, stop: threading.Event, out: dict[str, Any]) -> None:
    """The user's own git, as fast as it goes: add + commit a file of theirs, then status."""
    n = 0
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_INDEX")}
    while not stop.is_set():
        n += 1
        (repo / f"user{n % 5}.txt").write_text(f"{n}\n")
        for args in (["add", f"user{n % 5}.txt"], ["commit", "-q", "-m", f"user {n}"], ["status", "--porcelain"]):
            for attempt in range(50):
                p = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, env=env)
                out["commands"] += 1
                if p.returncode == 0:
                    break
                if "index.lock" in p.stderr:
                    out["index_lock"] += 1
                elif "cannot lock ref" in p.stderr:
                    out["ref_lock"] += 1
                else:
                    out["other"].append(p.stderr.strip())
                    break
                time.sleep(0.005)
            if args[0] == "commit":
                out["user_commits"] += 1


def test_agents_and_a_user_git_loop(daemons: list[Daemon], beads_repo: Path) -> None:
    """8 agents create through the daemon while the user runs git add/commit/status in a loop:
    no agent sees an error, every issue reaches a commit, the user's commits hold only their files."""
    dm = start(daemons, beads_repo, flush_interval=0.05, auto_commit=True)
    start_rev = git(beads_repo, "rev-parse", "HEAD").stdout.strip()
    stop = threading.Event()
    user: dict[str, Any] = {"commands": 0, "index_lock": 0, "ref_lock": 0, "other": [], "user_commits": 0}
    ut = threading.Thread(target=_user_git_loop, args=(beads_repo, stop, user))
    ut.start()
    errors: list[str] = []
    created: list[str] = []
    lock = threading.Lock()

    def agent(k: int) -> None:
        try:
            with dm.client(f"agent-{k}") as c:
                for i in range(25):
                    iid = c.execute("create", {"title": f"agent {k} issue {i}"})["id"]
                    with lock:
                        created.append(iid)
                    time.sleep(0.01)
        except Exception as e:  # pragma: no cover - the assertion below reports it
            errors.append(f"{type(e).__name__}: {e}")
    agents = [threading.Thread(target=agent, args=(k,)) for k in range(8)]
    try:
        for t in agents:
            t.start()
        for t in agents:
            t.join(60)
        assert not errors
        assert len(created) == 200
        # the user keeps at it until the daemon has got at least one commit in between theirs
        wait_for(lambda: dm.health()["git_state"]["commits"] >= 1, timeout=20)
    finally:
        stop.set()
        ut.join(60)
    assert wait_for(lambda: set(created) <= head_ids(beads_repo), timeout=30)
    assert not user["other"], user["other"][:3]
    revs = git(beads_repo, "rev-list", f"{start_rev}..HEAD").stdout.split()
    ours = [r for r in revs if git(beads_repo, "log", "-1", "--format=%s", r).stdout.startswith("bd:")]
    theirs = [r for r in revs if r not in ours]
    assert ours and theirs
    for r in ours:
        assert changed(beads_repo, r) == [".beads/issues.jsonl"]
    for r in theirs:
        files = changed(beads_repo, r)
        assert files and all(f.startswith("user") for f in files), files
    assert git(beads_repo, "diff", "--cached", "--name-only", ".beads").stdout == ""
    print(f"\nuser git commands: {user['commands']}, met our index.lock: {user['index_lock']}, "
          f"ref lock: {user['ref_lock']}; daemon commits: {len(ours)}, user commits: {len(theirs)}; "
          f"{dm.health()['git_state']}")


def _with_remote(repo: Path, tmp_path: Path) -> Path:
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "-q", "-u", "origin", "main")
    return remote


def test_auto_push_from_the_cli(beads_repo: Path, tmp_path: Path) -> None:
    _commit_beads(beads_repo)
    remote = _with_remote(beads_repo, tmp_path)
    p = run_bd("daemon", "start", "--auto-commit", "--auto-push", "--interval", "0.1", cwd=beads_repo)
    assert p.returncode == 0, p.stderr
    dm = Daemon(beads_repo)
    try:
        new = dm.create("pushed by the daemon")
        assert wait_for(lambda: new in head_ids(remote, "main"), timeout=20)
        assert wait_for(lambda: (dm.health()["git_state"]["push"] or {}).get("ok"), timeout=10)
        assert git(remote, "rev-parse", "main").stdout == git(beads_repo, "rev-parse", "HEAD").stdout
    finally:
        dm.stop()


def test_a_hand_edit_of_the_jsonl_is_imported_and_committed(daemons: list[Daemon], beads_repo: Path) -> None:
    dm = start(daemons, beads_repo, flush_interval=0.1, auto_commit=True)
    new = dm.create("original title")
    assert wait_for(lambda: new in head_ids(beads_repo), timeout=20)
    path = beads_repo / ".beads" / "issues.jsonl"
    obj = json.loads(path.read_text())
    obj["title"] = "edited by hand"
    obj["updated_at"] = "2099-01-01T00:00:00Z"
    path.write_text(json.dumps(obj) + "\n")
    with dm.client() as c:
        assert wait_for(lambda: c.execute("show", {"id": new})["title"] == "edited by hand", timeout=20)
    assert wait_for(lambda: "edited by hand" in git(beads_repo, "show", "HEAD:.beads/issues.jsonl").stdout,
                    timeout=20)
    # the import writes the line back in canonical form (with the edit's version): committed too
    assert wait_for(lambda: git(beads_repo, "status", "--porcelain").stdout == "", timeout=20)


def test_bd_sync_with_a_daemon_running_and_bd_hooks_installed(
        daemons: list[Daemon], beads_repo: Path, tmp_path: Path) -> None:
    remote = _with_remote(beads_repo, tmp_path)
    hooks = run_bd("hooks", "install", cwd=beads_repo)
    assert hooks.returncode == 0, hooks.stderr
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(remote), str(other))
    git(other, "config", "user.name", "Other")
    git(other, "config", "user.email", "other@example.com")
    from bdgit.workspace.initialize import init_workspace
    init_workspace(other, "test")
    assert run_bd("--no-daemon", "create", "from other", "--id", "test-30", cwd=other).returncode == 0
    assert run_bd("sync", cwd=other).returncode == 0
    (other / "code.txt").write_text("code from the other clone\n")  # so that the merge is a real git merge
    git(other, "add", "code.txt")
    git(other, "commit", "-q", "-m", "code")
    git(other, "push", "-q")
    dm = start(daemons, beads_repo, flush_interval=0.1, auto_commit=True)
    mine = [dm.create(f"mine {i}") for i in range(3)]
    t0 = time.monotonic()
    p = run_bd("sync", cwd=beads_repo)
    assert p.returncode == 0, p.stdout + p.stderr
    assert time.monotonic() - t0 < 20
    with dm.client() as c:
        assert wait_for(lambda: {i["id"] for i in c.execute("list", {})} >= {*mine, "test-30"}, timeout=20)
    assert (beads_repo / "code.txt").exists()
    assert head_ids(remote, "main") >= {*mine, "test-30"}
    assert run_bd("sync", cwd=other).returncode == 0
    p = run_bd("--no-daemon", "list", "--json", cwd=other)
    assert {i["id"] for i in json.loads(p.stdout)} >= {*mine, "test-30"}


def test_the_daemons_first_commit_carries_the_gitignore(beads_repo: Path) -> None:
    """.beads/ never committed yet: the daemon's first commit brings .gitignore with the JSONL."""
    dm = Daemon(beads_repo).start(flush_interval=0.05, auto_commit=True)
    try:
        new = dm.create("first issue")
        assert wait_for(lambda: new in head_ids(beads_repo), timeout=20)
    finally:
        dm.stop()
    assert set(changed(beads_repo, "HEAD")) == {".beads/issues.jsonl", ".beads/.gitignore", ".beads/.gitattributes"}
    assert git(beads_repo, "status", "--porcelain", "--", ".beads").stdout == ""
    body = git(beads_repo, "log", "-1", "--format=%B").stdout
    assert "test-1 created: first issue" in body and "with .beads/.gitignore" in body
