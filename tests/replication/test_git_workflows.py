"""Replication through real git: two clones editing one issue, a clone whose clock is an hour
behind, and branch workflows (merge, cherry-pick, pull --rebase) in clones that never ran
``bd sync``, with bd's hooks installed."""
from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bdgit.gitsync.sync import sync
from bdgit.githooks import install as hooks

from testing import git, run_bd
from testing.clones import call, export_text, make_clones, objects, working_jsonl, ws


def show(clone: Path, i: str) -> dict[str, Any]:
    return call(clone, "show", {"id": i})


# --- two clones edit different fields of one issue ---------------------------------------------------

PAIRS = {
    "priority vs title": ((("update", {"id": "test-1", "priority": 0}),),
                          (("update", {"id": "test-1", "title": "renamed"}),)),
    "label x vs label y": ((("label_add", {"id": "test-1", "label": "x"}),),
                           (("label_add", {"id": "test-1", "label": "y"}),)),
    "comment vs close": ((("comment_add", {"id": "test-1", "text": "a comment"}),),
                         (("close", {"id": "test-1", "reason": "done"}),)),
    "assignee vs description": ((("update", {"id": "test-1", "assignee": "ann"}),),
                                (("update", {"id": "test-1", "description": "more words"}),)),
}


def survived(issue: dict[str, Any], pair: str) -> bool:
    return {
        "priority vs title": issue["priority"] == 0 and issue["title"] == "renamed",
        "label x vs label y": issue.get("labels") == ["x", "y"],
        "comment vs close": issue["status"] == "closed" and [c["text"] for c in issue.get("comments", [])]
        == ["a comment"],
        "assignee vs description": issue.get("assignee") == "ann" and issue["description"] == "more words",
    }[pair]


@pytest.mark.parametrize("sync_first", ["a", "b"])
@pytest.mark.parametrize("edit_first", ["a", "b"])
@pytest.mark.parametrize("pair", sorted(PAIRS))
def test_disjoint_edits_on_two_clones_both_survive(tmp_path: Path, pair: str, edit_first: str, sync_first: str) -> None:
    _, (a, b) = make_clones(tmp_path, 2)
    call(a, "create", {"title": "shared"})
    sync(ws(a))
    sync(ws(b))
    edits = dict(zip("ab", PAIRS[pair]))
    clone = {"a": a, "b": b}
    for who in (edit_first, "b" if edit_first == "a" else "a"):
        for op, args in edits[who]:
            call(clone[who], op, args)
    order = [clone[sync_first], clone["b" if sync_first == "a" else "a"]]
    for c in order + order:
        sync(ws(c))
    for c in (a, b):
        assert survived(show(c, "test-1"), pair), show(c, "test-1")
    assert export_text(a) == export_text(b)


# --- a clock an hour behind ----------------------------------------------------------------------------

@contextlib.contextmanager
def clock_behind(ms: int) -> Iterator[None]:
    """This process's wall clock, as bd reads it, ``ms`` behind (no real clock can be set back)."""
    import bdgit.model as model
    import bdgit.replication.clock as hlc
    real_dt, real_time = model.datetime, hlc.time

    class Behind(real_dt):  # type: ignore[misc, valid-type]
        @classmethod
        def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
            return real_dt.now(tz) - timedelta(milliseconds=ms)

    class Time:
        @staticmethod
        def time_ns() -> int:
            return real_time.time_ns() - ms * 1_000_000

    model.datetime, hlc.time = Behind, Time  # type: ignore[misc, assignment]
    try:
        yield
    finally:
        model.datetime, hlc.time = real_dt, real_time  # type: ignore[misc]


HOUR = 3_600_000


def test_a_clone_an_hour_behind_closes_after_an_edit_and_the_close_wins(tmp_path: Path) -> None:
    _, (a, b) = make_clones(tmp_path, 2)
    call(a, "create", {"title": "shared"})
    sync(ws(a))
    sync(ws(b))
    call(a, "update", {"id": "test-1", "status": "in_progress", "title": "edited on a"})  # the same register
    sync(ws(a))
    with clock_behind(HOUR):
        sync(ws(b))  # b sees a's edit
        assert show(b, "test-1")["status"] == "in_progress"
        call(b, "close", {"id": "test-1", "reason": "done on b"})
        sync(ws(b))
    sync(ws(a))
    for c in (a, b):
        issue = show(c, "test-1")
        assert (issue["status"], issue["title"]) == ("closed", "edited on a")
    updated = [json.loads(line)["updated_at"] for line in working_jsonl(a).splitlines()]
    assert updated == [show(a, "test-1")["updated_at"]]
    assert export_text(a) == export_text(b)


# --- branch workflows, with hooks, in clones that never ran bd sync ----------------------------------------

def hooked_clones(tmp_path: Path, n: int = 2, hash_ids: bool = False) -> list[Path]:
    _, clones = make_clones(tmp_path, n, hash_ids=hash_ids)
    for c in clones:
        hooks.install(hooks.find_repo(c))
    return clones


def bd(clone: Path, *args: str) -> str:
    p = run_bd("--no-daemon", *args, cwd=clone)
    assert p.returncode == 0, p.stderr
    return p.stdout


def commit(clone: Path, msg: str) -> None:
    p = subprocess.run(["git", "commit", "-q", "--allow-empty", "-m", msg], cwd=clone, text=True, capture_output=True)
    assert p.returncode == 0, p.stderr


def jsonl_objs(clone: Path, rev: str | None = None) -> dict[str, dict[str, Any]]:
    text = working_jsonl(clone) if rev is None else git(clone, "show", f"{rev}:.beads/issues.jsonl").stdout
    assert "<<<<<<<" not in text and ">>>>>>>" not in text
    return objects(text)


def titles(objs: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {i: o["title"] for i, o in objs.items() if o["status"] != "tombstone"}


def test_pull_rebase_with_both_sides_creating_issues(tmp_path: Path) -> None:
    a, b = hooked_clones(tmp_path)
    bd(a, "create", "from a")
    commit(a, "a: issue")
    git(a, "push", "-q")
    bd(b, "create", "from b")
    bd(b, "create", "after b's", "--deps", "blocks:test-1", "-d", "follows test-1")
    commit(b, "b: issues")
    p = subprocess.run(["git", "pull", "-q", "--rebase"], cwd=b, text=True, capture_output=True)
    assert p.returncode == 0, p.stderr
    got = titles(jsonl_objs(b))
    # a's pushed test-1 keeps its ID; b's unpushed test-1 moved to the next free number
    assert got == {"test-1": "from a", "test-2": "after b's", "test-3": "from b"}
    assert jsonl_objs(b)["test-2"]["dependencies"][0]["depends_on_id"] == "test-3"  # the reference followed
    assert jsonl_objs(b)["test-2"]["description"] == "follows test-3"
    # b's database followed its renumbered issues (post-rewrite imported the file)
    assert {i["id"]: i["title"] for i in json.loads(bd(b, "list", "--json"))} == got
    git(b, "push", "-q")
    p = subprocess.run(["git", "pull", "-q"], cwd=a, text=True, capture_output=True)
    assert p.returncode == 0, p.stderr
    assert {i["id"]: i["title"] for i in json.loads(bd(a, "list", "--json"))} == got


def test_merge_of_two_feature_branches(tmp_path: Path) -> None:
    a, b = hooked_clones(tmp_path)
    bd(a, "create", "shared")
    commit(a, "shared")
    git(a, "push", "-q")
    git(b, "pull", "-q")
    for clone, branch, title in ((a, "f1", "from f1"), (b, "f2", "from f2")):
        git(clone, "checkout", "-q", "-b", branch)
        bd(clone, "create", title, "--deps", "related:test-1")
        bd(clone, "update", "test-1", "--notes" if branch == "f1" else "--priority",
           "noted on f1" if branch == "f1" else "0")
        commit(clone, branch)
        git(clone, "push", "-q", "-u", "origin", branch)
    git(a, "fetch", "-q")
    git(a, "checkout", "-q", "main")
    for branch in ("origin/f1", "origin/f2"):
        p = subprocess.run(["git", "merge", "--no-edit", "-q", branch], cwd=a, text=True, capture_output=True)
        assert p.returncode == 0, p.stderr
    objs = jsonl_objs(a)
    assert sorted(titles(objs).values()) == ["from f1", "from f2", "shared"]  # every issue once
    assert objs["test-1"]["notes"] == "noted on f1" and objs["test-1"]["priority"] == 0  # both edits
    for o in objs.values():
        if o["title"].startswith("from"):
            assert [d["depends_on_id"] for d in o["dependencies"]] == ["test-1"]
    assert {i["title"] for i in json.loads(bd(a, "list", "--json"))} == {"from f1", "from f2", "shared"}


def test_cherry_pick_then_merge(tmp_path: Path) -> None:
    a, b = hooked_clones(tmp_path)
    bd(a, "create", "shared")
    commit(a, "shared")
    git(a, "push", "-q")
    git(b, "pull", "-q")
    git(a, "checkout", "-q", "-b", "topic")
    bd(a, "create", "fix on topic")
    bd(a, "label", "add", "test-1", "picked")
    commit(a, "topic fix")
    pick = git(a, "rev-parse", "HEAD").stdout.strip()
    bd(a, "update", "test-1", "--title", "shared, renamed on topic")
    commit(a, "topic rename")
    git(a, "push", "-q", "-u", "origin", "topic")
    bd(b, "update", "test-1", "--priority", "1")
    commit(b, "main prio")
    git(b, "fetch", "-q")
    for cmd in (["cherry-pick", pick], ["merge", "--no-edit", "-q", "origin/topic"]):
        p = subprocess.run(["git", *cmd], cwd=b, text=True, capture_output=True)
        assert p.returncode == 0, p.stderr
        jsonl_objs(b)  # no conflict markers at any step
    objs = jsonl_objs(b)
    assert titles(objs) == {"test-1": "shared, renamed on topic", "test-2": "fix on topic"}
    assert objs["test-1"]["labels"] == ["picked"] and objs["test-1"]["priority"] == 1
    assert {i["id"]: i["title"] for i in json.loads(bd(b, "list", "--json"))} == titles(objs)


def test_pull_rebase_in_hash_mode_renumbers_nothing(tmp_path: Path) -> None:
    a, b = hooked_clones(tmp_path, hash_ids=True)
    ia = json.loads(bd(a, "create", "from a", "--json"))["id"]
    commit(a, "a")
    git(a, "push", "-q")
    ib = json.loads(bd(b, "create", "from b", "--json"))["id"]
    commit(b, "b")
    assert ia != ib and not ia.split("-")[1].isdigit()
    p = subprocess.run(["git", "pull", "-q", "--rebase"], cwd=b, text=True, capture_output=True)
    assert p.returncode == 0, p.stderr
    assert titles(jsonl_objs(b)) == {ia: "from a", ib: "from b"}


def test_a_write_during_a_stopped_rebase_leaves_the_jsonl_to_git(tmp_path: Path) -> None:
    (a,) = hooked_clones(tmp_path, 1)
    bd(a, "create", "before")
    commit(a, "before")
    git(a, "checkout", "-q", "-b", "topic")
    (a / "f.txt").write_text("topic\n")
    git(a, "add", "f.txt")
    commit(a, "topic")
    git(a, "checkout", "-q", "main")
    (a / "f.txt").write_text("main\n")
    git(a, "add", "f.txt")
    commit(a, "main")
    git(a, "checkout", "-q", "topic")
    p = subprocess.run(["git", "rebase", "main"], cwd=a, text=True, capture_output=True)
    assert p.returncode != 0  # stopped on f.txt
    before = working_jsonl(a)
    p = run_bd("--no-daemon", "create", "made during the rebase", cwd=a)
    assert p.returncode == 0 and "once the rebase in progress ends" in p.stderr
    assert working_jsonl(a) == before  # git's file, untouched
    (a / "f.txt").write_text("both\n")
    git(a, "add", "f.txt")
    p = subprocess.run(["git", "-c", "core.editor=true", "rebase", "--continue"], cwd=a, text=True,
                       capture_output=True)
    assert p.returncode == 0, p.stderr
    bd(a, "create", "after the rebase")
    assert sorted(titles(jsonl_objs(a)).values()) == ["after the rebase", "before", "made during the rebase"]
