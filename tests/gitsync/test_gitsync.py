"""bdgit.gitsync on real repositories: commit only the JSONL, keep the user's index, refuse in
the middle of git operations, back off from index.lock, sync branches, worktree guards;
the JSONL merge (bdgit.replication.filemerge); workspace discovery from a linked worktree."""
from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pygit2
import pytest

from bdgit.gitsync import indexfile
from bdgit.gitsync.commit import advance_branch, commit_jsonl
from bdgit.gitsync.repo import checked_out_elsewhere, open_repo
from bdgit.replication.filemerge import merge_texts as merge
from bdgit.workspace import find

from testing import git

LINE = '{"id":"t-%d","title":"%s","description":"","status":"open","priority":2,"issue_type":"task",' \
       '"created_at":"2025-01-01T00:00:0%d.000001Z","updated_at":"%s"}'


def line(n: int, title: str = "x", updated: str = "2025-01-01T00:00:09.000001Z") -> str:
    return LINE % (n, title, n % 10, updated)


def write_jsonl(repo: Path, *lines: str) -> Path:
    p = repo / ".beads" / "issues.jsonl"
    p.parent.mkdir(exist_ok=True)
    p.write_text("".join(ln + "\n" for ln in lines))
    return p


def changed_paths(repo: Path, rev: str = "HEAD") -> list[str]:
    return git(repo, "diff-tree", "--no-commit-id", "--name-only", "-r", rev).stdout.split()


def staged(repo: Path) -> list[str]:
    return git(repo, "diff", "--cached", "--name-only").stdout.split()


def test_commits_only_the_jsonl_and_keeps_the_users_index(git_repo: Path) -> None:
    (git_repo / "staged.txt").write_text("staged\n")
    git(git_repo, "add", "staged.txt")
    (git_repo / "README.md").write_text("unstaged edit\n")
    p = write_jsonl(git_repo, line(1))
    repo = open_repo(git_repo)
    before = git(git_repo, "rev-parse", "HEAD").stdout.strip()
    res = commit_jsonl(repo, p)
    assert res.committed and res.changes["created"] == ["t-1"]
    assert git(git_repo, "rev-parse", "HEAD^").stdout.strip() == before
    assert changed_paths(git_repo) == [".beads/issues.jsonl"]
    assert git(git_repo, "symbolic-ref", "HEAD").stdout.strip() == "refs/heads/main"
    assert staged(git_repo) == ["staged.txt"]
    assert git(git_repo, "diff", "--name-only").stdout.split() == ["README.md"]
    # the index entry is HEAD's blob, with stat data that makes git see the file as clean
    assert git(git_repo, "diff-files", "--name-only").stdout.split() == ["README.md"]
    assert git(git_repo, "ls-files", "-s", ".beads/issues.jsonl").stdout.split()[1] == \
        git(git_repo, "rev-parse", "HEAD:.beads/issues.jsonl").stdout.strip()
    # the user's next commit contains exactly what they staged
    git(git_repo, "commit", "-q", "-m", "user")
    assert changed_paths(git_repo) == ["staged.txt"]
    assert "1 issue changed" in git(git_repo, "log", "-1", "--format=%s", "HEAD^").stdout


def test_batches_and_up_to_date(git_repo: Path) -> None:
    repo = open_repo(git_repo)
    p = write_jsonl(git_repo, line(1), line(2))
    assert commit_jsonl(repo, p).committed
    assert commit_jsonl(repo, p).up_to_date
    write_jsonl(git_repo, line(1, "changed"), line(3))
    res = commit_jsonl(repo, p)
    assert res.changes["created"] == ["t-3"] and res.changes["updated"] == ["t-1"] \
        and res.changes["deleted"] == ["t-2"]
    assert git(git_repo, "log", "-1", "--format=%s").stdout.strip() == \
        "bd: 3 issues changed (1 created, 1 updated, 1 deleted)"


def test_an_empty_new_jsonl_is_not_committed(git_repo: Path) -> None:
    p = write_jsonl(git_repo)
    assert commit_jsonl(open_repo(git_repo), p).up_to_date
    assert git(git_repo, "rev-list", "--count", "HEAD").stdout.strip() == "1"


@pytest.mark.parametrize("version", ["2", "3", "4"])
def test_index_versions_keep_the_entry_clean(git_repo: Path, version: str) -> None:
    git(git_repo, "update-index", f"--index-version={version}")
    (git_repo / "a" / "b").mkdir(parents=True)
    (git_repo / "a" / "b" / "deep.txt").write_text("d\n")
    git(git_repo, "add", "a")
    git(git_repo, "commit", "-q", "-m", "deep")
    if version == "3":
        (git_repo / "intent.txt").write_text("i\n")
        git(git_repo, "add", "-N", "intent.txt")  # an extended-flags entry before ours
    p = write_jsonl(git_repo, line(1))
    assert commit_jsonl(open_repo(git_repo), p).committed
    write_jsonl(git_repo, line(1), line(2))
    assert commit_jsonl(open_repo(git_repo), p).committed
    assert ".beads/issues.jsonl" not in git(git_repo, "diff-files", "--name-only").stdout
    assert git(git_repo, "status", "--porcelain", ".beads").stdout == ""
    git(git_repo, "fsck", "--no-progress")


def test_waits_when_the_user_staged_other_jsonl_content(git_repo: Path) -> None:
    repo = open_repo(git_repo)
    p = write_jsonl(git_repo, line(1))
    assert commit_jsonl(repo, p).committed
    write_jsonl(git_repo, line(1, "user's edit"))
    git(git_repo, "add", ".beads/issues.jsonl")
    write_jsonl(git_repo, line(1, "newer, from bd"))
    res = commit_jsonl(repo, p)
    assert not res.committed and "staged with other content" in (res.waiting or "")
    assert "user's edit" in git(git_repo, "show", ":.beads/issues.jsonl").stdout
    # bd sync (staged="replace") supersedes it, and says so
    res = commit_jsonl(repo, p, staged="replace")
    assert res.committed and res.replaced_staged
    assert git(git_repo, "status", "--porcelain").stdout == ""
    # staged content equal to ours is simply committed
    write_jsonl(git_repo, line(1, "third"))
    git(git_repo, "add", ".beads/issues.jsonl")
    assert commit_jsonl(repo, p).committed


def _conflicting_branches(repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "other")
    (repo / "f.txt").write_text("other\n")
    git(repo, "add", "f.txt")
    git(repo, "commit", "-q", "-m", "other")
    git(repo, "checkout", "-q", "main")
    (repo / "f.txt").write_text("main\n")
    git(repo, "add", "f.txt")
    git(repo, "commit", "-q", "-m", "main")


@pytest.mark.parametrize("op", ["merge", "rebase", "cherry-pick", "revert", "bisect"])
def test_refuses_during_git_operations(git_repo: Path, op: str) -> None:
    _conflicting_branches(git_repo)
    if op == "merge":
        git(git_repo, "merge", "other", check=False)
    elif op == "rebase":
        git(git_repo, "rebase", "other", check=False)
    elif op == "cherry-pick":
        git(git_repo, "cherry-pick", "other", check=False)
    elif op == "revert":
        git(git_repo, "revert", "--no-edit", "HEAD", check=False)
        (git_repo / "f.txt").write_text("x\n")
        git(git_repo, "revert", "--no-commit", "HEAD~1", check=False)
    else:
        git(git_repo, "bisect", "start")
    p = write_jsonl(git_repo, line(1))
    head = git(git_repo, "rev-parse", "HEAD").stdout
    res = commit_jsonl(open_repo(git_repo), p)
    assert not res.committed and "in progress" in (res.waiting or ""), res
    assert git(git_repo, "rev-parse", "HEAD").stdout == head


def test_refuses_on_detached_head_and_unborn_branch(git_repo: Path, tmp_path: Path) -> None:
    git(git_repo, "checkout", "-q", "--detach")
    p = write_jsonl(git_repo, line(1))
    res = commit_jsonl(open_repo(git_repo), p)
    assert not res.committed and "detached" in (res.waiting or "")
    fresh = tmp_path / "fresh"
    git(tmp_path, "init", "-q", "-b", "main", str(fresh))
    res = commit_jsonl(open_repo(fresh), write_jsonl(fresh, line(1)))
    assert not res.committed and "no commits yet" in (res.waiting or "")


def test_backs_off_from_a_held_index_lock(git_repo: Path) -> None:
    repo = open_repo(git_repo)
    p = write_jsonl(git_repo, line(1))
    lock = git_repo / ".git" / "index.lock"
    lock.write_text("")
    res = commit_jsonl(repo, p)
    assert res.busy and not res.committed and "index.lock" in (res.waiting or "")
    assert git(git_repo, "rev-list", "--count", "HEAD").stdout.strip() == "1"  # nothing moved
    assert lock.exists()  # and the user's lock was left alone

    def release() -> None:
        time.sleep(0.05)
        lock.unlink()
    t = threading.Thread(target=release)
    t.start()
    res = commit_jsonl(repo, p, lock_wait=5.0)  # takes it the moment it is released
    t.join()
    assert res.committed and not lock.exists()


def test_rebuilds_when_the_user_commits_in_between(git_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = open_repo(git_repo)
    p = write_jsonl(git_repo, line(1))
    from bdgit.gitsync import refs
    real = refs.RefLock.acquire
    calls = []

    def user_commits_first(self: refs.RefLock, *args: object) -> None:
        if not calls:
            (git_repo / "u.txt").write_text("u\n")
            git(git_repo, "add", "u.txt")
            git(git_repo, "commit", "-q", "-m", "user got there first")
        calls.append(1)
        real(self, *args)
    monkeypatch.setattr(refs.RefLock, "acquire", user_commits_first)
    res = commit_jsonl(repo, p)
    assert res.committed and len(calls) == 2
    assert git(git_repo, "log", "--format=%s", "-2").stdout.splitlines() == [
        "bd: 1 issue changed (1 created)", "user got there first"]
    assert changed_paths(git_repo) == [".beads/issues.jsonl"]
    assert changed_paths(git_repo, "HEAD^") == ["u.txt"]


def test_sync_branch_never_touches_head_or_index(git_repo: Path) -> None:
    (git_repo / "staged.txt").write_text("s\n")
    git(git_repo, "add", "staged.txt")
    repo = open_repo(git_repo)
    head = git(git_repo, "rev-parse", "HEAD").stdout
    index = git_repo / ".git" / "index"
    st = index.stat()
    p = write_jsonl(git_repo, line(1))
    res = commit_jsonl(repo, p, branch="beads-sync")
    assert res.committed and res.branch == "refs/heads/beads-sync"
    write_jsonl(git_repo, line(1), line(2))
    assert commit_jsonl(repo, p, branch="beads-sync").committed
    assert git(git_repo, "rev-parse", "HEAD").stdout == head
    assert (index.stat().st_ino, index.stat().st_mtime_ns) == (st.st_ino, st.st_mtime_ns)
    assert git(git_repo, "rev-list", "--count", "beads-sync").stdout.strip() == "3"
    assert git(git_repo, "ls-tree", "-r", "--name-only", "beads-sync").stdout.split() == [
        ".beads/issues.jsonl", "README.md"]
    assert git(git_repo, "show", "beads-sync:.beads/issues.jsonl").stdout == p.read_text()
    assert staged(git_repo) == ["staged.txt"]


def test_worktree_guards(git_repo: Path, tmp_path: Path) -> None:
    repo = open_repo(git_repo)
    p = write_jsonl(git_repo, line(1))
    wt = tmp_path / "wt"
    git(git_repo, "worktree", "add", "-q", "-b", "beads-sync", str(wt))
    assert checked_out_elsewhere(repo, "refs/heads/beads-sync") == str(wt)
    res = commit_jsonl(repo, p, branch="beads-sync")
    assert not res.committed and "checked out in the worktree" in (res.waiting or "")
    # the checked-out branch of this worktree is also refused as a sync branch
    res = commit_jsonl(repo, p, branch="main")
    assert not res.committed and "checked out" in (res.waiting or "")
    # index mode from the linked worktree commits to *its* branch, with *its* index
    wrepo = open_repo(wt)
    wp = write_jsonl(wt, line(7))
    res = commit_jsonl(wrepo, wp)
    assert res.committed and res.branch == "refs/heads/beads-sync"
    assert git(wt, "status", "--porcelain").stdout == ""
    assert git(git_repo, "rev-list", "--count", "main").stdout.strip() == "1"
    # a branch forced into two worktrees is not committed to by either
    wt2 = tmp_path / "wt2"
    git(git_repo, "worktree", "add", "-q", "-f", str(wt2), "main")
    res = commit_jsonl(repo, p)
    assert not res.committed and "also checked out" in (res.waiting or "")


def test_advance_branch_fast_forwards_with_only_the_jsonl_entry(git_repo: Path) -> None:
    repo = open_repo(git_repo)
    p = write_jsonl(git_repo, line(1))
    assert commit_jsonl(repo, p).committed
    first = repo.head.target
    write_jsonl(git_repo, line(1), line(2))
    assert commit_jsonl(repo, p).committed
    second = repo.head.target
    # back to the first commit (as a clone that has not pulled yet), with something staged
    git(git_repo, "reset", "-q", "--hard", str(first))
    (git_repo / "s.txt").write_text("s\n")
    git(git_repo, "add", "s.txt")
    write_jsonl(git_repo, line(1), line(2))
    res = advance_branch(repo, p, second)
    assert res.committed
    assert git(git_repo, "rev-parse", "HEAD").stdout.strip() == str(second)
    assert staged(git_repo) == ["s.txt"]
    assert git(git_repo, "status", "--porcelain", ".beads").stdout == ""


def test_workspace_found_from_a_linked_worktree(beads_repo: Path, tmp_path: Path) -> None:
    git(beads_repo, "add", ".beads")
    git(beads_repo, "commit", "-q", "-m", "bd")
    wt = tmp_path / "feature"
    git(beads_repo, "worktree", "add", "-q", "-b", "feature", str(wt))
    assert (wt / ".beads" / "issues.jsonl").exists() and not list((wt / ".beads").glob("*.db"))
    (wt / "src" / "deep").mkdir(parents=True)
    ws = find(cwd=wt / "src" / "deep")
    assert ws.db_path == find(cwd=beads_repo).db_path
    assert ws.root == beads_repo
    # a submodule-style .git file (no commondir) is not a worktree
    other = tmp_path / "sub"
    other.mkdir()
    (other / ".git").write_text("gitdir: ../nowhere\n")
    with pytest.raises(Exception, match="no beads database"):
        find(cwd=other)


# --- the JSONL merge --------------------------------------------------------------------------

def _obj(text: str) -> dict[str, dict]:
    return {json.loads(ln)["id"]: json.loads(ln) for ln in text.splitlines()}


def test_merge_newer_wins_and_one_sided_changes() -> None:
    base = "\n".join([line(1, "a"), line(2, "b"), line(3, "c")]) + "\n"
    ours = "\n".join([line(1, "a-ours", "2025-01-02T00:00:00Z"), line(2, "b"),
                      line(3, "c-ours", "2025-01-05T00:00:00Z")]) + "\n"
    theirs = "\n".join([line(1, "a-theirs", "2025-01-03T00:00:00Z"), line(2, "b-theirs", "2025-01-02T00:00:00Z"),
                        line(3, "c-theirs", "2025-01-04T00:00:00Z"), line(4, "new")]) + "\n"
    res = merge(base, ours, theirs)
    got = {i: o["title"] for i, o in _obj(res.text).items()}
    assert got == {"t-1": "a-theirs", "t-2": "b-theirs", "t-3": "c-ours", "t-4": "new"}
    assert res.both_changed == ["t-1", "t-3"]
    assert merge(base, ours, theirs).text == res.text  # deterministic
    assert [json.loads(x)["id"] for x in res.text.splitlines()] == ["t-1", "t-2", "t-3", "t-4"]


def test_merge_a_missing_line_is_not_a_deletion() -> None:
    base = line(1, "a") + "\n" + line(2, "b") + "\n"
    ours = line(2, "b") + "\n"                                        # t-1's line is gone
    theirs = line(1, "a") + "\n" + line(2, "b-edit", "2025-02-01T00:00:00Z") + "\n"
    res = merge(base, ours, theirs)
    assert set(_obj(res.text)) == {"t-1", "t-2"} and res.kept_absent == ["t-1"]
    assert _obj(res.text)["t-2"]["title"] == "b-edit"
    theirs2 = line(1, "a-edit", "2025-02-01T00:00:00Z") + "\n" + line(2, "b") + "\n"
    assert _obj(merge(base, ours, theirs2).text)["t-1"]["title"] == "a-edit"


def test_merge_renumbers_the_colliding_local_issue_and_its_references() -> None:
    base = line(1, "shared") + "\n"
    theirs = base + line(2, "theirs two") + "\n"
    ours_two = json.loads(LINE % (2, "ours two", 8, "2025-01-01T00:00:09.000001Z"))
    ours_three = json.loads(line(3, "ours three"))
    ours_three["description"] = "follows t-2"
    ours_three["dependencies"] = [{"issue_id": "t-3", "depends_on_id": "t-2", "type": "blocks",
                                   "created_at": "2025-01-01T00:00:09Z", "created_by": "me"}]
    ours = base + json.dumps(ours_two) + "\n" + json.dumps(ours_three) + "\n"
    res = merge(base, ours, theirs)
    assert res.renumbered_ours == {"t-2": "t-4"}
    got = _obj(res.text)
    assert got["t-2"]["title"] == "theirs two" and got["t-4"]["title"] == "ours two"
    assert got["t-3"]["description"] == "follows t-4"
    assert got["t-3"]["dependencies"][0]["depends_on_id"] == "t-4"
    # the side renumbered is the one whose issue is not in the base (never pushed)
    res2 = merge(theirs, theirs, ours)
    assert res2.renumbered_theirs == {"t-2": "t-4"} and not res2.renumbered_ours
    assert _obj(res2.text) == got


def test_merge_refuses_conflict_markers() -> None:
    from bdgit.errors import ImportFormatError
    with pytest.raises(ImportFormatError, match="conflict markers"):
        merge("", "<<<<<<< HEAD\n", "")


def test_merge_driver_cli(tmp_path: Path) -> None:
    from testing import run_bd
    o, a, b = tmp_path / "o", tmp_path / "a", tmp_path / "b"
    o.write_text(line(1, "a") + "\n")
    a.write_text(line(1, "a") + "\n" + line(2, "mine") + "\n")
    b.write_text(line(1, "a-edit", "2025-03-01T00:00:00Z") + "\n")
    p = run_bd("merge-driver", str(o), str(a), str(b), ".beads/issues.jsonl")
    assert p.returncode == 0, p.stderr
    assert {i: x["title"] for i, x in _obj(a.read_text()).items()} == {"t-1": "a-edit", "t-2": "mine"}
    b.write_text("<<<<<<< x\n")
    assert run_bd("merge-driver", str(o), str(a), str(b)).returncode == 1


def test_index_lock_is_released_on_errors(git_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = open_repo(git_repo)
    p = write_jsonl(git_repo, line(1))

    def boom(self: object, data: bytes) -> None:
        raise OSError("disk full")
    monkeypatch.setattr(indexfile.Lock, "write", boom)
    with pytest.raises(OSError):
        commit_jsonl(repo, p)
    assert not (git_repo / ".git" / "index.lock").exists()
    assert git(git_repo, "rev-list", "--count", "HEAD").stdout.strip() == "1"
    assert os.path.exists(git_repo / ".git" / "index")
    assert isinstance(repo, pygit2.Repository)


def test_packed_refs_reflog_and_a_held_ref_lock(git_repo: Path) -> None:
    git(git_repo, "pack-refs", "--all")
    assert not (git_repo / ".git" / "refs" / "heads" / "main").exists()  # only in packed-refs now
    repo = open_repo(git_repo)
    p = write_jsonl(git_repo, line(1))
    res = commit_jsonl(repo, p)
    assert res.committed
    assert git(git_repo, "rev-parse", "main").stdout.strip() == res.commit
    assert git(git_repo, "reflog", "-1", "--format=%gs", "main").stdout.strip() == "bd: commit .beads/issues.jsonl"
    assert git(git_repo, "reflog", "-1", "--format=%H", "HEAD").stdout.strip() == res.commit
    git(git_repo, "fsck", "--no-progress")
    # git moving the branch right now (its ref lock exists): we back off, git is not disturbed
    lock = git_repo / ".git" / "refs" / "heads" / "main.lock"
    lock.write_text("")
    write_jsonl(git_repo, line(1), line(2))
    res = commit_jsonl(repo, p)
    assert res.busy and not res.committed and lock.exists()
    assert not (git_repo / ".git" / "index.lock").exists()
    lock.unlink()
    assert commit_jsonl(repo, p).committed


def test_the_first_commit_of_the_jsonl_carries_the_gitignore(git_repo: Path) -> None:
    (git_repo / ".beads").mkdir()
    (git_repo / ".beads" / ".gitignore").write_text("*.db\n")
    repo = open_repo(git_repo)
    p = write_jsonl(git_repo, line(1))
    res = commit_jsonl(repo, p)
    assert res.committed and res.companions == [".beads/.gitignore"]
    assert set(changed_paths(git_repo)) == {".beads/issues.jsonl", ".beads/.gitignore"}
    assert "with .beads/.gitignore" in git(git_repo, "log", "-1", "--format=%b").stdout
    assert git(git_repo, "status", "--porcelain").stdout == ""  # both index entries clean
    write_jsonl(git_repo, line(1), line(2))
    res = commit_jsonl(repo, p)
    assert res.committed and res.companions == [] and changed_paths(git_repo) == [".beads/issues.jsonl"]


def test_a_jsonl_that_does_not_parse_is_never_committed(git_repo: Path, tmp_path: Path) -> None:
    from bdgit.errors import UnsafePathError
    repo = open_repo(git_repo)
    p = write_jsonl(git_repo, line(1))
    assert commit_jsonl(repo, p).committed
    head = git(git_repo, "rev-parse", "HEAD").stdout
    for bad, what in (('{"id": "t-2", broken', "invalid JSON"), ("<<<<<<< HEAD", "conflict marker")):
        write_jsonl(git_repo, line(1), bad)
        res = commit_jsonl(repo, p)
        assert not res.committed and "line 2" in (res.waiting or "") and what in (res.waiting or "")
        assert "not committing it" in (res.waiting or "")
        res = commit_jsonl(repo, p, branch="beads-sync")  # nor on a sync branch
        assert not res.committed and what in (res.waiting or "")
    assert git(git_repo, "rev-parse", "HEAD").stdout == head
    secret = git_repo / ".beads" / "other.jsonl"
    secret.write_text(line(7) + "\n")
    p.unlink()
    p.symlink_to(secret)  # a clone can plant a link: bd never commits what it points to
    with pytest.raises(UnsafePathError):
        commit_jsonl(repo, p)


def test_commit_messages_name_the_issues_in_order_in_a_few_lines(git_repo: Path) -> None:
    repo = open_repo(git_repo)
    p = write_jsonl(git_repo, *(line(n, f"title {n}") for n in (1, 2, 10)))
    assert commit_jsonl(repo, p).committed
    closed = line(2, "title 2").replace('"status":"open"', '"status":"closed"')
    write_jsonl(git_repo, line(1, "renamed"), closed, line(10, "title 10"),
                *(line(n, f"new {n}") for n in range(3, 10)), *(line(n, f"new {n}") for n in range(11, 40)))
    res = commit_jsonl(repo, p)
    msg = git(git_repo, "log", "-1", "--format=%B").stdout.strip().splitlines()
    assert msg[0] == "bd: 38 issues changed (36 created, 1 updated, 1 closed)"
    assert msg[2:7] == ["t-1 updated: renamed", "t-2 closed: title 2", "t-3 created: new 3", "t-4 created: new 4",
                        "t-5 created: new 5"]
    assert msg[7].startswith("and 33 more: t-6, t-7, t-8, t-9, t-11,") and msg[7].endswith("…")
    assert len(msg) == 8 and res.changes["created"][:3] == ["t-3", "t-4", "t-5"]
