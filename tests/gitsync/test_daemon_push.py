"""The daemon's auto-push follows ``bd sync``'s rules (it runs the same ``Sync``): a push that
meets a moved remote fetches, merges the issues and pushes again; a held ref lock is waited
out; a refusal is reported at once with its kind and what to do; it never merges your files;
with ``git.pull_interval`` it brings other clones' issues in without a commit of its own."""
from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bdgit.gitsync.sync import sync

from testing import git, wait_for
from testing.clones import call, make_clones, ws
from testing.daemon import Daemon


@pytest.fixture
def two(tmp_path: Path) -> Iterator[tuple[Path, Path, Path, list[Daemon]]]:
    remote, (a, b) = make_clones(tmp_path, 2)
    started: list[Daemon] = []
    yield remote, a, b, started
    for dm in started:
        dm.stop()


def start(started: list[Daemon], clone: Path, **opts: Any) -> Daemon:
    dm = Daemon(clone).start(flush_interval=0.05, auto_commit=True, auto_push=True, **opts)
    started.append(dm)
    return dm


def push_state(dm: Daemon) -> dict[str, Any]:
    return dict(dm.health()["git_state"]["push"] or {})


def remote_titles(remote: Path) -> dict[str, str]:
    text = git(remote, "show", "main:.beads/issues.jsonl", check=False).stdout
    return {o["id"]: o["title"] for o in map(json.loads, text.splitlines())}


def test_a_rejected_auto_push_merges_and_pushes_again(two: tuple[Path, Path, Path, list[Daemon]]) -> None:
    remote, a, b, started = two
    call(b, "create", {"title": "B's issue"})
    sync(ws(b))  # test-1 is B's on the remote; A's daemon does not know yet
    dm = start(started, a)
    mine = dm.create("A's issue")  # test-1 here too: collides
    assert mine == "test-1"
    assert wait_for(lambda: push_state(dm).get("ok"), timeout=30), push_state(dm)
    assert remote_titles(remote) == {"test-1": "B's issue", "test-2": "A's issue"}
    st = push_state(dm)
    assert st["ok"] and st["pushed"] and st["renumbered"] == {"test-1": "test-2"}
    with dm.client() as c:
        assert c.execute("show", {"id": "test-2"})["title"] == "A's issue"
        assert c.execute("show", {"id": "test-1"})["title"] == "B's issue"
    assert wait_for(lambda: git(a, "status", "--porcelain").stdout == "", timeout=20)
    assert git(a, "rev-parse", "HEAD").stdout == git(remote, "rev-parse", "main").stdout
    log = (a / ".beads" / "daemon.log").read_text()
    assert "renumbered (the IDs were taken for other issues): test-1 -> test-2" in log


def test_a_held_ref_lock_is_waited_out_by_the_daemon(two: tuple[Path, Path, Path, list[Daemon]]) -> None:
    remote, a, b, started = two
    lock = remote / "refs" / "heads" / "main.lock"
    lock.write_text("")
    dm = start(started, a)
    new = dm.create("waits for the lock")
    assert wait_for(lambda: "trying again" in (a / ".beads" / "daemon.log").read_text(), timeout=20)
    time.sleep(0.5)
    lock.unlink()
    assert wait_for(lambda: new in remote_titles(remote), timeout=30), push_state(dm)
    assert wait_for(lambda: push_state(dm).get("ok"), timeout=10)
    assert push_state(dm)["total_retries"] >= 1


def test_a_refusal_is_reported_with_its_kind_and_hint(two: tuple[Path, Path, Path, list[Daemon]]) -> None:
    remote, a, b, started = two
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'policy: frozen' >&2\nexit 1\n")
    hook.chmod(0o755)
    dm = start(started, a)
    dm.create("refused")
    assert wait_for(lambda: push_state(dm).get("ok") is False, timeout=30)
    st = push_state(dm)
    assert st["kind"] == "git_refused" and "policy: frozen" in st["error"] and "fix that" in st["hint"]
    assert st["total_retries"] == 0
    assert "auto-push failed" in (a / ".beads" / "daemon.log").read_text()


def test_the_daemon_does_not_merge_your_files(two: tuple[Path, Path, Path, list[Daemon]]) -> None:
    remote, a, b, started = two
    (b / "code.txt").write_text("b's code\n")
    git(b, "add", "code.txt")
    git(b, "commit", "-q", "-m", "code")
    git(b, "push", "-q")
    dm = start(started, a)
    dm.create("mine")
    assert wait_for(lambda: push_state(dm).get("ok") is False, timeout=30)
    st = push_state(dm)
    assert "changed files besides the issues" in st["error"] and "bd sync" in st["hint"]
    assert not (a / "code.txt").exists()
    sync(ws(a))  # bd sync does merge them
    assert (a / "code.txt").exists()


def test_the_daemon_pulls_other_clones_issues_by_itself(two: tuple[Path, Path, Path, list[Daemon]]) -> None:
    remote, a, b, started = two
    call(a, "config_set", {"key": "git.pull_interval", "value": "0.5"})
    dm = start(started, a)
    call(b, "create", {"title": "from B", "id": "test-5"})
    sync(ws(b))
    with dm.client() as c:
        assert wait_for(lambda: any(i["id"] == "test-5" for i in c.execute("list", {})), timeout=30)
    assert wait_for(lambda: git(a, "rev-parse", "HEAD").stdout == git(remote, "rev-parse", "main").stdout,
                    timeout=20)
    assert git(a, "status", "--porcelain").stdout == ""
    assert push_state(dm)["pulled"]
