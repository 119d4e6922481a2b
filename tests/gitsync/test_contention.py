"""``bd sync`` against remotes that refuse, hold their ref lock, move meanwhile or cannot be
reached: each failure class from git's own output, with real bare remotes and real hooks
(a pre-receive hook that refuses, a reference-transaction hook that sleeps holding the ref
lock, a lock file a crashed push left behind, an HTTP server that wants credentials).
Transient classes are retried and the sync succeeds; permanent ones fail at once with what
happened and what to do; a transient one that outlasts the retry limit has its own kind."""
from __future__ import annotations

import http.server
import json
import random
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bdgit.errors import GitContention, GitRefused
from bdgit.gitsync import remote as R
from bdgit.gitsync.sync import sync

from testing import git, run_bd, wait_for
from testing.clones import call, make_clones, ws


def create(clone: Path, title: str, **kw: Any) -> str:
    return call(clone, "create", {"title": title, **kw})["id"]


def hook(remote: Path, name: str, body: str) -> Path:
    path = remote / "hooks" / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def sync_json(clone: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    p = run_bd("--no-daemon", "sync", "--json", *args, cwd=clone)
    return p.returncode, json.loads(p.stdout), p.stderr


def remote_head(remote: Path) -> str:
    return git(remote, "rev-parse", "main").stdout.strip()


def remote_ids(remote: Path) -> set[str]:
    text = git(remote, "show", "main:.beads/issues.jsonl", check=False).stdout
    return {json.loads(ln)["id"] for ln in text.splitlines()}


# --- the classification, from real git output -------------------------------------------------

def _push(clone: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return git(clone, "push", "--porcelain", *extra, check=False)


def test_git_output_classified(tmp_path: Path) -> None:
    remote, (a, b) = make_clones(tmp_path, 2)
    (a / "x").write_text("a\n")
    git(a, "add", "x")
    git(a, "commit", "-q", "-m", "a")
    git(a, "push", "-q")
    (b / "y").write_text("b\n")
    git(b, "add", "y")
    git(b, "commit", "-q", "-m", "b")
    p = _push(b, "origin", "main:main")
    f = R.classify("push", p.returncode, p.stdout, p.stderr)
    assert f is not None and f.kind == R.MOVED and f.transient and "fetch first" in f.reason
    git(b, "pull", "-q", "--no-rebase", "--no-edit")
    hook(remote, "pre-receive", "echo 'policy: pushes need a ticket number' >&2\nexit 1\n")
    p = _push(b, "origin", "main:main")
    f = R.classify("push", p.returncode, p.stdout, p.stderr)
    assert f is not None and f.kind == R.HOOK and not f.transient and "pushes need a ticket number" in f.reason
    hook(remote, "pre-receive", "echo 'GitLab: You are not allowed to push code to protected branches' >&2\nexit 1\n")
    p = _push(b, "origin", "main:main")
    f = R.classify("push", p.returncode, p.stdout, p.stderr)
    assert f is not None and f.kind == R.PROTECTED
    (remote / "hooks" / "pre-receive").unlink()
    lock = remote / "refs" / "heads" / "main.lock"
    lock.write_text("")  # what a push that crashed holding the ref leaves behind
    p = _push(b, "origin", "main:main")
    f = R.classify("push", p.returncode, p.stdout, p.stderr)
    assert f is not None and f.kind == R.REF_LOCKED and f.transient
    assert "remove the file" not in f.reason  # git's advice to delete files is not passed on
    lock.unlink()
    p = _push(b, str(tmp_path / "nowhere.git"), "main:main")
    f = R.classify("push", p.returncode, p.stdout, p.stderr)
    assert f is not None and f.kind == R.NO_REMOTE and not f.transient
    p = git(b, "fetch", "origin", "refs/heads/nope:refs/remotes/origin/nope", check=False)
    f = R.classify("fetch", p.returncode, p.stdout, p.stderr)
    assert f is not None and f.kind == R.NO_BRANCH
    p = git(b, "fetch", "http://127.0.0.1:1/r.git", check=False)
    f = R.classify("fetch", p.returncode, p.stdout, p.stderr)
    assert f is not None and f.kind == R.NETWORK and f.transient
    p = _push(b, "origin", "main:main")
    assert p.returncode == 0 and R.classify("push", p.returncode, p.stdout, p.stderr) is None


def test_retry_policy_is_bounded_jittered_and_growing() -> None:
    policy = R.RetryPolicy(timeout=10, max_retries=6, base=0.1, cap=0.5, rng=random.Random(7))
    delays = [policy.delay(n) for n in range(8)]
    for n, d in enumerate(delays):
        top = min(0.5, 0.1 * 2 ** n)
        assert top / 2 <= d <= top
    assert len({round(d, 6) for d in delays}) == len(delays)  # jittered
    slept: list[float] = []
    retries = R.Retries(policy, sleep=slept.append)
    f = R.Failure("push", R.MOVED, "[rejected] (fetch first)", 1)
    for _ in range(6):
        retries.wait(f, "origin", "main", dict)
    with pytest.raises(GitContention) as e:
        retries.wait(f, "origin", "main", lambda: {"commits": ["x"]})
    assert e.value.exit_code == 75 and e.value.details["attempts"] == 7 and "retry limit" in e.value.message
    assert e.value.details["sync"] == {"commits": ["x"]}
    assert retries.summary()["by_kind"] == {R.MOVED: 6}
    assert [round(x, 3) for x in slept] == [r["waited"] for r in retries.log]
    conf = {"sync.retry_timeout": "3", "sync.retry_max": "4", "sync.backoff": "0.2", "sync.backoff_max": "bad"}
    p = R.RetryPolicy.from_config(conf)
    assert (p.timeout, p.max_retries, p.base, p.cap) == (3.0, 4, 0.2, R.BACKOFF_MAX)
    assert R.RetryPolicy.from_config(conf, timeout=0).timeout == 0.0


# --- permanent failures: at once, with what to do ----------------------------------------------

def test_a_hook_that_refuses_fails_at_once(tmp_path: Path) -> None:
    remote, (a,) = make_clones(tmp_path, 1)
    hook(remote, "pre-receive", "echo 'policy: no pushes without a ticket' >&2\nexit 1\n")
    create(a, "refused")
    before = remote_head(remote)
    t0 = time.monotonic()
    code, out, err = sync_json(a)
    assert code == 1 and time.monotonic() - t0 < 20
    assert out["kind"] == "git_refused" and out["details"]["reason"] == R.HOOK
    assert "policy: no pushes without a ticket" in out["error"]
    assert "fix that" in out["hint"] and "nothing is lost" in out["hint"]
    assert "force" not in out["hint"] and "reset" not in out["hint"]
    assert "Error:" in err and remote_head(remote) == before
    # committed locally: nothing lost, and the next sync pushes it once the hook is gone
    assert "refused" in git(a, "show", "HEAD:.beads/issues.jsonl").stdout
    (remote / "hooks" / "pre-receive").unlink()
    code, out, _ = sync_json(a)
    assert code == 0 and out["pushed"] and remote_head(remote) == git(a, "rev-parse", "HEAD").stdout.strip()


def test_a_protected_branch_says_what_to_do(tmp_path: Path) -> None:
    remote, (a,) = make_clones(tmp_path, 1)
    hook(remote, "update", 'echo "remote: error: GH006: Protected branch update failed for $1." >&2\nexit 1\n')
    create(a, "on a protected branch")
    with pytest.raises(GitRefused) as e:
        sync(ws(a))
    assert e.value.kind == "git_refused" and e.value.details["reason"] == R.PROTECTED
    assert "protected branch" in e.value.message and "sync.branch" in (e.value.hint or "")


def test_a_missing_remote_fails_at_once(tmp_path: Path) -> None:
    remote, (a,) = make_clones(tmp_path, 1)
    git(a, "remote", "set-url", "origin", str(tmp_path / "moved-away.git"))
    create(a, "nowhere to go")
    t0 = time.monotonic()
    with pytest.raises(GitRefused) as e:
        sync(ws(a))
    assert time.monotonic() - t0 < 10
    assert e.value.details["reason"] == R.NO_REMOTE and "git remote -v" in (e.value.hint or "")


@pytest.fixture
def auth_server() -> Iterator[str]:
    """A real HTTP git remote that wants credentials (answers every request with 401)."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
        do_POST = do_GET

        def log_message(self, *args: Any) -> None:
            pass
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/repo.git"
    finally:
        server.shutdown()


def test_credentials_refused_fail_at_once(tmp_path: Path, auth_server: str) -> None:
    remote, (a,) = make_clones(tmp_path, 1)
    git(a, "remote", "set-url", "origin", auth_server)
    create(a, "needs a login")
    code, out, _ = sync_json(a)
    assert code == 1 and out["kind"] == "git_auth" and out["details"]["reason"] == R.AUTH
    assert "credentials" in out["hint"] and out["details"]["remote"] == "origin"


# --- transient failures: retried ----------------------------------------------------------------

def test_a_held_ref_lock_is_waited_out(tmp_path: Path) -> None:
    """Another push holds the remote's ref lock (its reference-transaction hook sleeps in the
    'prepared' state, the locks taken): ours is refused with "failed to update ref", retried,
    and lands after it; both clones' issues are on the remote."""
    remote, (a, b) = make_clones(tmp_path, 2)
    marker = tmp_path / "hold-once"
    holding = tmp_path / "holding"
    hook(remote, "reference-transaction",
         f'cat >/dev/null\nif [ "$1" = prepared ] && [ -f {marker} ]; then\n'
         f'  rm -f {marker}; touch {holding}; sleep 1.5\nfi\nexit 0\n')
    create(a, "from A")
    git(a, "commit", "-q", "--allow-empty", "-m", "a's commit")
    marker.write_text("")
    other = subprocess.Popen(["git", "push", "-q", "origin", "main"], cwd=a, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(holding.exists, timeout=20)
        create(b, "from B", id="test-9")
        code, out, err = sync_json(b)
    finally:
        other.communicate(timeout=30)
    assert code == 0, err
    assert out["ok"] and out["pushed"] and out["retries"]["count"] >= 1
    assert R.REF_LOCKED in out["retries"]["by_kind"], out["retries"]
    assert all(r["waited"] > 0 for r in out["retries"]["reasons"])
    assert out["attempts"] == out["retries"]["count"] + 1
    assert remote_head(remote) == git(b, "rev-parse", "HEAD").stdout.strip()
    assert git(b, "merge-base", "--is-ancestor", git(a, "rev-parse", "HEAD").stdout.strip(), "HEAD",
               check=False).returncode == 0


def test_a_lock_that_stays_runs_out_of_retries_with_its_own_kind(tmp_path: Path) -> None:
    remote, (a,) = make_clones(tmp_path, 1)
    (remote / "refs" / "heads" / "main.lock").write_text("")
    create(a, "stuck")
    code, out, err = sync_json(a, "--retry-timeout", "1.5")
    assert code == 75, err
    assert out["kind"] == "git_contention" and out["details"]["reason"] == R.REF_LOCKED
    # it gave up because the next wait would have passed --retry-timeout, not at the retry limit
    assert out["details"]["attempts"] >= 2 and "(the time limit)" in out["error"], out
    assert out["details"]["sync"]["commits"], "the local commit is reported"
    assert "administrator" in out["hint"] and "nothing is lost" in out["hint"]
    assert "kept failing" in err


def test_no_retries_with_a_zero_time_limit(tmp_path: Path) -> None:
    remote, (a,) = make_clones(tmp_path, 1)
    (remote / "refs" / "heads" / "main.lock").write_text("")
    create(a, "stuck")
    with pytest.raises(GitContention) as e:
        sync(ws(a), retry_timeout=0)
    assert e.value.details["attempts"] == 1


def test_an_unreachable_remote_is_retried_then_reported(tmp_path: Path) -> None:
    remote, (a,) = make_clones(tmp_path, 1)
    git(a, "remote", "set-url", "origin", "http://127.0.0.1:1/repo.git")
    call(a, "config_set", {"key": "sync.retry_timeout", "value": "0.8"})
    with pytest.raises(GitContention) as e:
        sync(ws(a))
    assert e.value.details["reason"] == R.NETWORK and e.value.details["attempts"] >= 2
    assert "network" in (e.value.hint or "")


def test_the_remote_moving_meanwhile_is_merged_again(tmp_path: Path) -> None:
    """Between our fetch and our push another clone pushes (from our pre-push hook, so the
    moment is certain): the push is refused, the sync fetches, merges and pushes again."""
    remote, (a, b) = make_clones(tmp_path, 2)
    create(b, "from B", id="test-7")
    marker = tmp_path / "once"
    marker.write_text("")
    hook(a / ".git", "pre-push", f"[ -f {marker} ] || exit 0\nrm -f {marker}\n"
                                 f"cd {b} && unset GIT_DIR GIT_INDEX_FILE GIT_WORK_TREE && "
                                 f"{_bd()} --no-daemon sync >/dev/null 2>&1\nexit 0\n")
    create(a, "from A")
    rep = sync(ws(a))
    assert rep["pushed"] and rep["retries"]["count"] == 1
    assert set(rep["retries"]["by_kind"]) <= {R.MOVED, R.REF_LOCKED}
    assert remote_ids(remote) == {"test-1", "test-7"}
    assert rep["created"] == ["test-7"]


def _bd() -> str:
    import shlex
    import sys
    return f"{shlex.quote(sys.executable)} -m bdgit"


# --- renumbering: once, announced ---------------------------------------------------------------

def test_an_issue_is_renumbered_once_even_when_the_push_loses_a_race(tmp_path: Path) -> None:
    """A's test-1 collides with B's (pushed). A's first push loses a race against C, which
    pushed its own renumbered issue under the number A had chosen: A's issue does not go
    test-1 -> test-2 -> test-3, it gets test-3 in the attempt that lands, in one rename."""
    remote, (a, b, c) = make_clones(tmp_path, 3)
    mine = create(a, "A's issue")
    create(b, "B's issue")
    create(c, "C's issue")
    sync(ws(b))                      # test-1 is B's on the remote
    marker = tmp_path / "once"
    marker.write_text("")
    hook(a / ".git", "pre-push", f"[ -f {marker} ] || exit 0\nrm -f {marker}\n"
                                 f"cd {c} && unset GIT_DIR GIT_INDEX_FILE GIT_WORK_TREE && "
                                 f"{_bd()} --no-daemon sync >/dev/null 2>&1\nexit 0\n")
    rep = sync(ws(a))
    assert rep["retries"]["count"] == 1 and rep["pushed"]
    assert rep["renumbered"] == {mine: "test-3"}
    assert "migrate-hash-ids" in rep["hint"]
    titles = {json.loads(ln)["id"]: json.loads(ln)["title"]
              for ln in git(remote, "show", "main:.beads/issues.jsonl").stdout.splitlines()}
    assert titles == {"test-1": "B's issue", "test-2": "C's issue", "test-3": "A's issue"}
    p = run_bd("--no-daemon", "events", "test-3", "--json", cwd=a)
    renames = [e for e in json.loads(p.stdout) if e["event_type"] == "renamed"]
    assert len(renames) == 1
    assert (renames[0]["old_value"], renames[0]["new_value"]) == ("test-1", "test-3")
    # nothing left to commit; a new issue takes a number after the ones taken
    assert git(a, "status", "--porcelain").stdout == ""
    assert create(a, "next") == "test-4"


def test_the_issue_that_reached_the_remote_keeps_its_id_even_when_created_later(tmp_path: Path) -> None:
    remote, (a, b) = make_clones(tmp_path, 2)
    older = create(a, "made first, pushed second")
    time.sleep(0.01)
    create(b, "made second, pushed first")
    sync(ws(b))
    rep = sync(ws(a))
    assert rep["renumbered"] == {older: "test-2"}
    titles = {json.loads(ln)["id"]: json.loads(ln)["title"]
              for ln in git(remote, "show", "main:.beads/issues.jsonl").stdout.splitlines()}
    assert titles == {"test-1": "made second, pushed first", "test-2": "made first, pushed second"}
    assert sync(ws(b))["renumbered"] == {}


def test_the_renumbered_number_avoids_every_remote_tracking_ref(tmp_path: Path) -> None:
    """Another branch on the remote has an issue test-40: a renumbered issue takes none of the
    numbers any remote-tracking ref uses (they would collide again when that branch comes in)."""
    remote, (a, b, c) = make_clones(tmp_path, 3)
    git(c, "checkout", "-q", "-b", "feature")
    create(c, "on a feature branch", id="test-40")
    sync(ws(c), pull=False, push=False)
    git(c, "push", "-q", "origin", "feature")
    create(b, "B's one")
    sync(ws(b))
    mine = create(a, "A's one")
    rep = sync(ws(a))
    assert rep["renumbered"] == {mine: "test-41"}
    assert git(a, "rev-parse", "--verify", "-q", "refs/remotes/origin/feature", check=False).returncode == 0


def test_json_summary_shape(tmp_path: Path) -> None:
    remote, (a, b) = make_clones(tmp_path, 2)
    create(a, "one")
    x = create(a, "two")
    sync(ws(a))
    call(a, "delete", {"id": x, "force": True})
    create(a, "three")
    sync(ws(a))
    create(b, "B's")  # test-1 on B: collides
    code, out, _ = sync_json(b)
    assert code == 0
    for key, kind in (("ok", bool), ("pushed", bool), ("pulled", bool), ("commits", list), ("created", list),
                      ("updated", list), ("deleted", list), ("renumbered", dict), ("retries", dict),
                      ("attempts", int), ("seconds", float), ("exported", dict), ("mode", str)):
        assert isinstance(out[key], kind), key
    assert out["ok"] and out["pushed"] and out["pulled"]
    assert out["created"] == ["test-1", "test-3"] and out["deleted"] == ["test-2"]
    assert out["renumbered"] == {"test-1": "test-4"}
    assert out["exported"]["created"] == ["test-1"]
    assert set(out["retries"]) == {"count", "by_kind", "reasons"} and out["retries"]["count"] == 0
    assert len(out["commits"]) >= 2  # the export commit and the merge
    p = run_bd("--no-daemon", "sync", cwd=b)
    assert p.returncode == 0 and "Sync complete" in p.stdout


def test_a_branch_that_moved_during_the_push_follows_the_pushed_renumbering(tmp_path: Path) -> None:
    """While A's merge (renumbering its test-1 to test-2) is being pushed, a commit lands on A's
    branch (here from A's pre-push hook). The branch cannot take the pushed merge as it is; the
    next round merges it, and follows the renumbering the remote has instead of treating B's
    test-1 as the newcomer: B's issue keeps its ID, A's is renumbered once."""
    remote, (a, b) = make_clones(tmp_path, 2)
    mine = create(a, "A's issue")
    create(b, "B's issue")
    sync(ws(b))
    marker = tmp_path / "once"
    marker.write_text("")
    hook(a / ".git", "pre-push", f"[ -f {marker} ] || exit 0\nrm -f {marker}\n"
                                 "git commit -q --allow-empty -m 'meanwhile' >/dev/null 2>&1\nexit 0\n")
    rep = sync(ws(a))
    assert rep["renumbered"] == {mine: "test-2"}
    titles = {json.loads(ln)["id"]: json.loads(ln)["title"]
              for ln in git(remote, "show", "main:.beads/issues.jsonl").stdout.splitlines()}
    assert titles == {"test-1": "B's issue", "test-2": "A's issue"}
    assert git(a, "log", "--format=%s", "-8").stdout.count("meanwhile") == 1
    assert remote_head(remote) == git(a, "rev-parse", "HEAD").stdout.strip()
    p = run_bd("--no-daemon", "events", "test-2", "--json", cwd=a)
    assert [e["event_type"] for e in json.loads(p.stdout)].count("renamed") == 1
    sync(ws(b))
    assert call(b, "show", {"id": "test-1"})["title"] == "B's issue"


def test_the_merge_follows_a_renumbering_either_way_round() -> None:
    from bdgit.replication.filemerge import merge_texts

    def line(i: str, title: str, created: str) -> str:
        return json.dumps({"id": i, "title": title, "status": "open", "priority": 2, "issue_type": "task",
                           "created_at": created, "updated_at": created}, separators=(",", ":"), sort_keys=True)
    a1 = line("t-1", "A's", "2024-01-01T00:00:00.000001Z")
    a1_edit = line("t-1", "A's, edited", "2024-01-01T00:00:00.000001Z").replace(
        '"updated_at":"2024-01-01T00:00:00.000001Z"', '"updated_at":"2024-01-02T00:00:00Z"')
    b1 = line("t-1", "B's", "2024-01-01T00:00:05.000002Z")
    a2 = a1.replace('"id":"t-1"', '"id":"t-2"')
    base, ours, theirs = a1 + "\n", a1_edit + "\n", b1 + "\n" + a2 + "\n"
    one = merge_texts(base, ours, theirs)
    other = merge_texts(base, theirs, ours)
    assert one.text == other.text
    assert one.renumbered_ours == {"t-1": "t-2"} and other.renumbered_theirs == {"t-1": "t-2"}
    got = {json.loads(ln)["id"]: json.loads(ln)["title"] for ln in one.text.splitlines()}
    assert got == {"t-1": "B's", "t-2": "A's, edited"}


@pytest.mark.parametrize("held", [True, False], ids=["writes-held", "writes-not-held"])
def test_an_issue_created_during_the_daemons_merge_is_not_moved_aside(tmp_path: Path, held: bool) -> None:
    """The daemon's push merges the upstream while agents keep writing. An issue created
    between the merge's look at the database and its import would meet the upstream's issue of
    the same number in the import and be moved aside, to be renumbered again by the next merge.
    The daemon's Sync holds the writer (``hold``) across that step: the agent's create, made
    here by a writer that takes the same lock as the daemon's writer, waits, and its issue gets
    a free number at once. Without the hold (the control case) the import has to move it."""
    from contextlib import nullcontext

    from bdgit import ops
    from bdgit.gitsync.sync import Sync
    from bdgit.store import Store
    _, (a, b) = make_clones(tmp_path, 2)
    create(b, "B's")
    sync(ws(b))                                  # test-1 is B's on the remote
    writer = threading.Lock()                    # stands for the daemon's writer lock
    made: list[str] = []

    def agent() -> None:
        with writer:
            s = Store(ws(a).db_path)
            try:
                made.append(ops.run(s, "create", {"title": "made meanwhile"}, "agent")["id"])
            finally:
                s.close()

    def progress(step: str) -> None:
        if step.startswith("Fast-forwarding"):   # the merge looked at the database just now
            t = threading.Thread(target=agent)
            t.start()
            t.join(0.5 if held else None)        # held: it waits for the import

    Sync(ws(a), daemon=True, actor="bd-daemon", progress=progress,
         hold=(lambda: writer) if held else nullcontext).run()
    wait_for(lambda: made, timeout=10)
    s = Store(ws(a).db_path)
    try:
        renames = s.conn.execute("SELECT COUNT(*) AS n FROM events WHERE event_type='renamed'").fetchone()["n"]
        ids = {r["title"]: r["id"] for r in s.conn.execute("SELECT id, title FROM issues")}
    finally:
        s.close()
    assert ids["B's"] == "test-1"
    if held:
        assert renames == 0 and made == [ids["made meanwhile"]] == ["test-2"]
    else:
        assert renames == 1 and made == ["test-1"] and ids["made meanwhile"] == "test-2"
