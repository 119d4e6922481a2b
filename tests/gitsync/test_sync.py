"""``bd sync`` between two clones of a real bare remote (no daemon): merges per issue, newer
wins, sequential-ID collisions renumbered with references intact; flags; refusals."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from bdgit import jsonl
from bdgit.backends.direct import DirectBackend
from bdgit.errors import GitError
from bdgit.workspace.initialize import init_workspace
from bdgit.store import Store
from bdgit.gitsync.sync import sync
from bdgit.workspace import Workspace, find

from testing import git, run_bd


def _setup_git(path: Path) -> None:
    git(path, "config", "user.name", "Test User")
    git(path, "config", "user.email", "test@example.com")
    git(path, "config", "commit.gpgsign", "false")


@pytest.fixture
def clones(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(bare remote, clone A, clone B): A initialised bd and pushed; B cloned and ran bd init."""
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    a = tmp_path / "a"
    git(tmp_path, "clone", "-q", str(remote), str(a))
    _setup_git(a)
    (a / "README.md").write_text("project\n")
    init_workspace(a, "test")
    git(a, "add", "README.md", ".beads")
    git(a, "commit", "-q", "-m", "initial")
    git(a, "push", "-q", "-u", "origin", "main")
    b = tmp_path / "b"
    git(tmp_path, "clone", "-q", str(remote), str(b))
    _setup_git(b)
    init_workspace(b, "test")
    return remote, a, b


def ws(clone: Path) -> Workspace:
    return find(cwd=clone)


def call(clone: Path, op: str, args: dict[str, Any] | None = None) -> Any:
    b = DirectBackend(ws(clone), "tester")
    try:
        return b.call(op, args or {})
    finally:
        b.close()


def create(clone: Path, title: str, **kw: Any) -> str:
    return call(clone, "create", {"title": title, **kw})["id"]


def export(clone: Path) -> str:
    s = Store(ws(clone).db_path)
    try:
        return jsonl.render(jsonl.export_lines(s))
    finally:
        s.close()


def issues(clone: Path, *, deleted: bool = False) -> dict[str, dict[str, Any]]:
    """The clone's exported issues (``deleted``: the tombstones instead of the live ones)."""
    objs = (json.loads(ln) for ln in export(clone).splitlines())
    return {o["id"]: o for o in objs if (o["status"] == "tombstone") == deleted}


def head(clone: Path, ref: str = "HEAD") -> str:
    return git(clone, "rev-parse", ref).stdout.strip()


def head_jsonl(clone: Path, ref: str = "HEAD") -> str:
    return git(clone, "show", f"{ref}:.beads/issues.jsonl", check=False).stdout


def test_disjoint_creates_meet(clones: tuple[Path, Path, Path]) -> None:
    _, a, b = clones
    create(a, "from A")
    sync(ws(a))
    sync(ws(b))  # pulls test-1
    assert set(issues(b)) == {"test-1"}
    create(b, "from B")  # test-2: B's counter followed the import
    sync(ws(b))
    sync(ws(a))
    assert set(issues(a)) == set(issues(b)) == {"test-1", "test-2"}
    assert export(a) == export(b)
    assert head_jsonl(a) == head_jsonl(b) == export(a)
    assert git(a, "status", "--porcelain").stdout == ""


def test_sequential_id_collision_renumbers_the_unpushed_side(clones: tuple[Path, Path, Path]) -> None:
    _, a, b = clones
    a1 = create(a, "A first")
    a2 = create(a, "A second", dependencies=[f"blocks:{a1}"])
    b1 = create(b, "B first")
    b2 = create(b, "B second", description=f"see {b1} for context", dependencies=[f"blocks:{b1}"])
    assert (a1, a2) == (b1, b2) == ("test-1", "test-2")
    sync(ws(a))          # A pushes first: its test-1/test-2 keep their IDs
    rep = sync(ws(b))    # B's never-pushed test-1/test-2 collide and are renumbered
    assert rep["renumbered"] == {"test-1": "test-3", "test-2": "test-4"}
    sync(ws(a))
    ia, ib = issues(a), issues(b)
    assert ia == ib
    assert {i: x["title"] for i, x in ia.items()} == {
        "test-1": "A first", "test-2": "A second", "test-3": "B first", "test-4": "B second"}
    # references followed the renumbering
    assert ia["test-4"]["description"] == "see test-3 for context"
    assert [d["depends_on_id"] for d in ia["test-4"]["dependencies"]] == ["test-3"]
    assert [d["depends_on_id"] for d in ia["test-2"]["dependencies"]] == ["test-1"]
    assert head_jsonl(a) == head_jsonl(b) == export(a)
    # new issues continue after the highest number on both sides
    assert create(a, "next") == "test-5"


def test_edits_of_the_same_issue_newer_wins_in_either_order(clones: tuple[Path, Path, Path]) -> None:
    _, a, b = clones
    one = create(a, "shared")
    two = create(a, "other")
    sync(ws(a))
    sync(ws(b))
    call(a, "update", {"id": one, "title": "edited in A (older)"})
    call(b, "update", {"id": two, "notes": "B's note"})  # a disjoint edit: both survive
    time.sleep(0.002)
    call(b, "update", {"id": one, "title": "edited in B (newer)"})
    sync(ws(a))
    sync(ws(b))
    sync(ws(a))
    assert issues(a) == issues(b)
    assert issues(a)[one]["title"] == "edited in B (newer)"
    assert issues(a)[two]["notes"] == "B's note"
    # the other order: the newer edit is pushed first, the older one must not win after it
    call(a, "update", {"id": one, "priority": 0})
    time.sleep(0.002)
    call(b, "update", {"id": one, "priority": 4})
    sync(ws(b))
    sync(ws(a))
    sync(ws(b))
    assert issues(a) == issues(b)
    assert issues(a)[one]["priority"] == 4


def test_close_on_one_side_edit_on_the_other(clones: tuple[Path, Path, Path]) -> None:
    _, a, b = clones
    x = create(a, "to close")
    sync(ws(a))
    sync(ws(b))
    call(a, "update", {"id": x, "assignee": "alice"})
    time.sleep(0.002)
    call(b, "close", {"id": x, "reason": "done"})
    sync(ws(a))
    sync(ws(b))
    sync(ws(a))
    assert issues(a) == issues(b)
    assert issues(a)[x]["status"] == "closed"


def test_cli_dry_run_changes_nothing(clones: tuple[Path, Path, Path]) -> None:
    remote, a, b = clones
    create(a, "pending")
    before = head(a)
    remote_before = git(remote, "rev-parse", "main").stdout
    p = run_bd("sync", "--dry-run", cwd=a)
    assert p.returncode == 0, p.stderr
    assert "Would commit 1 issue change(s)" in p.stdout
    assert "Dry run complete" in p.stdout
    assert head(a) == before
    assert git(remote, "rev-parse", "main").stdout == remote_before
    p = run_bd("sync", "--dry-run", "--json", cwd=a)
    rep = json.loads(p.stdout)
    assert rep["dry_run"] is True and rep["commits"] == [] and rep["local_changes"]["created"] == ["test-1"]


def test_dry_run_reports_collisions_it_would_renumber(clones: tuple[Path, Path, Path]) -> None:
    _, a, b = clones
    create(a, "A's")
    sync(ws(a))
    create(b, "B's")
    git(b, "fetch", "-q")
    rep = sync(ws(b), dry_run=True)
    assert rep["renumbered"] == {"test-1": "test-2"}
    assert issues(b)["test-1"]["title"] == "B's"  # nothing renamed for real


def test_no_push_and_no_pull(clones: tuple[Path, Path, Path]) -> None:
    remote, a, b = clones
    create(a, "local only")
    remote_before = git(remote, "rev-parse", "main").stdout
    p = run_bd("sync", "--no-push", "-m", "my message", cwd=a)
    assert p.returncode == 0, p.stderr
    assert git(remote, "rev-parse", "main").stdout == remote_before
    assert git(a, "log", "-1", "--format=%s").stdout.strip() == "my message"
    assert "test-1" in head_jsonl(a)
    # B pushes something; A syncs with --no-pull --no-push: nothing arrives
    create(b, "from B", id="test-50")
    sync(ws(b))
    sync(ws(a), pull=False, push=False)
    assert "test-50" not in issues(a)
    # a full sync brings it, and pushes A's commit
    sync(ws(a))
    assert {"test-1", "test-50"} <= set(issues(a))
    assert git(remote, "rev-parse", "main").stdout.strip() == head(a)


def test_refuses_during_a_merge_and_with_unmerged_paths(clones: tuple[Path, Path, Path]) -> None:
    _, a, b = clones
    (a / "code.txt").write_text("a\n")
    git(a, "add", "code.txt")
    git(a, "commit", "-q", "-m", "a's code")
    git(a, "push", "-q")
    (b / "code.txt").write_text("b\n")
    git(b, "add", "code.txt")
    git(b, "commit", "-q", "-m", "b's code")
    git(b, "pull", "-q", "--no-rebase", check=False)  # conflicts: MERGE_HEAD + unmerged code.txt
    assert (b / ".git" / "MERGE_HEAD").exists()
    create(b, "while merging")
    p = run_bd("sync", cwd=b)
    assert p.returncode != 0
    assert "a merge is in progress" in p.stderr
    with pytest.raises(GitError, match="merge is in progress"):
        sync(ws(b), pull=False, push=False)
    git(b, "merge", "--abort")
    # unmerged paths without MERGE_HEAD (e.g. a stash pop that conflicted)
    git(b, "reset", "-q", "--hard", "origin/main")
    (b / "code.txt").write_text("mine\n")
    git(b, "stash", "-q")
    (b / "code.txt").write_text("theirs\n")
    git(b, "commit", "-q", "-am", "x")
    git(b, "stash", "pop", check=False)
    p = run_bd("sync", cwd=b)
    assert p.returncode != 0 and "unmerged paths: code.txt" in p.stderr


def test_staged_changes_stay_staged_when_the_upstream_changed_only_issues(clones: tuple[Path, Path, Path]) -> None:
    remote, a, b = clones
    create(a, "issue A")
    sync(ws(a))
    create(b, "issue B", id="test-9")
    (b / "staged.txt").write_text("staged, not committed\n")
    git(b, "add", "staged.txt")
    (b / "README.md").write_text("an unstaged edit\n")
    rep = sync(ws(b))
    assert rep["pulled"] and rep["pushed"]
    assert set(issues(b)) == {"test-1", "test-9"}
    # the staged file is still staged and in no commit; the unstaged edit is still there
    assert git(b, "diff", "--cached", "--name-only").stdout.split() == ["staged.txt"]
    assert git(b, "diff", "--name-only").stdout.split() == ["README.md"]
    assert "staged.txt" not in git(b, "log", "--name-only", "--format=").stdout
    assert git(remote, "ls-tree", "-r", "--name-only", "main").stdout.split() == [
        ".beads/.gitattributes", ".beads/.gitignore", ".beads/issues.jsonl", "README.md"]
    assert git(b, "status", "--porcelain", ".beads").stdout == ""
    # a clone with nothing of its own fast-forwards (no merge commit)
    n = int(git(a, "rev-list", "--count", "HEAD").stdout)
    sync(ws(a))
    assert head(a) == head(b)
    assert int(git(a, "rev-list", "--count", "HEAD").stdout) > n
    assert len(git(a, "log", "-1", "--format=%P").stdout.split()) == 2  # B's merge commit, fast-forwarded


def test_upstream_code_changes_merge_with_git(clones: tuple[Path, Path, Path]) -> None:
    remote, a, b = clones
    (a / "a.txt").write_text("A\n")
    git(a, "add", "a.txt")
    git(a, "commit", "-q", "-m", "a's file")
    create(a, "issue A")
    sync(ws(a))
    create(b, "issue B", id="test-9")
    rep = sync(ws(b))
    assert rep["pulled"] and rep["pushed"]
    assert (b / "a.txt").read_text() == "A\n"
    assert set(issues(b)) == {"test-1", "test-9"}
    assert head_jsonl(b) == export(b)
    # with something staged, git itself refuses that merge: bd says so and what to do
    (a / "a.txt").write_text("A2\n")
    git(a, "commit", "-q", "-am", "more code")
    sync(ws(a))  # pulls B's merge, pushes the code
    create(b, "another", id="test-10")
    (b / "staged.txt").write_text("x\n")
    git(b, "add", "staged.txt")
    p = run_bd("sync", cwd=b)
    assert p.returncode != 0
    assert "refused" in p.stderr and "commit or stash" in p.stderr
    assert git(b, "diff", "--cached", "--name-only").stdout.split() == ["staged.txt"]


def test_manual_git_pull_uses_the_merge_driver_and_import_follows_renumbering(
        clones: tuple[Path, Path, Path]) -> None:
    _, a, b = clones
    sync(ws(b))  # the driver is registered (bd init did it already: .beads/.gitattributes + config)
    assert git(b, "check-attr", "merge", "--", ".beads/issues.jsonl").stdout.strip().endswith(": beads")
    assert "bdgit merge-driver" in git(b, "config", "merge.beads.driver").stdout
    create(a, "A's five", id="test-5")
    sync(ws(a))
    mine = create(b, "B's five", id="test-5")
    sync(ws(b), pull=False, push=False)  # committed locally, never pushed
    p = git(b, "pull", "-q", "--no-rebase", "--no-edit", check=False)
    assert p.returncode == 0, p.stderr
    text = (b / ".beads" / "issues.jsonl").read_text()
    assert "<<<<<<<" not in text
    titles = {json.loads(ln)["id"]: json.loads(ln)["title"] for ln in text.splitlines()}
    assert titles == {"test-5": "A's five", "test-6": "B's five"}
    # the next bd command imports it and recognises its own issue under the new number
    assert mine == "test-5"
    got = {i: x["title"] for i, x in issues_after_auto_import(b).items()}
    assert got == {"test-5": "A's five", "test-6": "B's five"}


def issues_after_auto_import(clone: Path) -> dict[str, dict[str, Any]]:
    call(clone, "list", {})  # any command: auto-import runs first
    return issues(clone)


def test_sync_branch_between_clones_never_touches_main(clones: tuple[Path, Path, Path]) -> None:
    remote, a, b = clones
    for c in (a, b):
        call(c, "config_set", {"key": "sync.branch", "value": "beads-sync"})
    main_a, main_b = head(a), head(b)
    index_a = (a / ".git" / "index").stat().st_ino
    create(a, "A on the sync branch")
    rep = sync(ws(a))
    assert rep["mode"] == "sync-branch" and rep["pushed"]
    create(b, "B on the sync branch")  # collides with A's test-1
    rep = sync(ws(b))
    assert rep["renumbered"] == {"test-1": "test-2"}
    sync(ws(a))
    assert issues(a) == issues(b)
    assert {x["title"] for x in issues(a).values()} == {"A on the sync branch", "B on the sync branch"}
    assert head(a) == main_a and head(b) == main_b
    assert (a / ".git" / "index").stat().st_ino == index_a
    assert git(remote, "rev-parse", "main").stdout.strip() == main_a
    assert head_jsonl(a, "beads-sync") == head_jsonl(b, "beads-sync") == export(a)
    assert head_jsonl(remote, "beads-sync") == export(a)


def test_sync_without_upstream_explains(git_repo: Path) -> None:
    init_workspace(git_repo, "test")
    p = run_bd("sync", cwd=git_repo)
    assert p.returncode != 0 and "has no upstream" in p.stderr
    p = run_bd("sync", "--no-pull", "--no-push", cwd=git_repo)
    assert p.returncode == 0, p.stderr
    assert "Sync complete" in p.stdout


def test_several_rounds_in_varying_order_converge(clones: tuple[Path, Path, Path]) -> None:
    """Both clones create, edit, label, comment on and delete issues between syncs, in three
    rounds with the sync order alternating: in the end both hold the same issues, with every
    reference pointing at the right one."""
    _, a, b = clones
    shared = create(a, "shared")
    sync(ws(a))
    sync(ws(b))
    made: dict[str, list[str]] = {"a": [], "b": []}
    for rnd in range(3):
        for name, clone in (("a", a), ("b", b)):
            first = create(clone, f"{name} round {rnd}")
            second = create(clone, f"{name} round {rnd} follow-up", description=f"after {first}",
                            dependencies=[f"blocks:{first}"])
            made[name] += [f"{name} round {rnd}", f"{name} round {rnd} follow-up"]
            call(clone, "label_add", {"id": first, "label": f"{name}{rnd}"})
            call(clone, "comment_add", {"id": second, "text": f"{name} says hi"})
            call(clone, "update", {"id": shared, "notes": f"{name} in round {rnd}"})
            time.sleep(0.002)
        victim = create(a, f"doomed {rnd}")
        sync(ws(a))
        sync(ws(b))
        call(b, "delete", {"id": victim, "force": True})
        order = (b, a) if rnd % 2 else (a, b)
        for clone in order:
            sync(ws(clone))
    sync(ws(a))
    ia, ib = issues(a), issues(b)
    assert ia == ib
    assert export(a) == export(b) == head_jsonl(a) == head_jsonl(b)
    titles = {x["title"]: i for i, x in ia.items()}
    assert sorted(titles) == sorted(made["a"] + made["b"] + ["shared"])
    for name in ("a", "b"):
        for rnd in range(3):
            first, second = titles[f"{name} round {rnd}"], titles[f"{name} round {rnd} follow-up"]
            assert ia[second]["description"] == f"after {first}"
            assert [d["depends_on_id"] for d in ia[second]["dependencies"]] == [first]
            assert ia[first]["labels"] == [f"{name}{rnd}"]
            assert [c["text"] for c in ia[second]["comments"]] == [f"{name} says hi"]
    assert ia[shared]["notes"] == "b in round 2"  # the newest edit
    assert len(ia) == len(set(ia)) == 13
    gone = issues(a, deleted=True)
    assert sorted(x["title"] for x in gone.values()) == ["doomed 0", "doomed 1", "doomed 2"] and gone == issues(b, deleted=True)
