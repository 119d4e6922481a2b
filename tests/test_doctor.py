"""``bd doctor``: each check in a real repository, what --fix repairs, and what it leaves."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from testing import git, run_bd, wait_for

from bdgit.githooks import install as hooks
from bdgit.workspace import statefile


def doctor(*flags: str, cwd: Path | None = None) -> tuple[int, dict]:
    p = run_bd("doctor", "--json", *flags, cwd=cwd)
    return p.returncode, json.loads(p.stdout)


def check(res: dict, name: str) -> dict:
    return next(c for c in res["checks"] if c["name"] == name)


@pytest.fixture
def healthy(beads_repo: Path) -> Path:
    git(beads_repo, "add", ".beads")
    git(beads_repo, "commit", "-q", "-m", "beads")
    hooks.install(hooks.find_repo(beads_repo))
    return beads_repo


DESTRUCTIVE = re.compile(r"reset --hard|rm -rf|checkout -- |clean -f|push --force|push -f|branch -D|\bkill\b")


def test_a_healthy_workspace_is_all_ok(healthy: Path):
    code, res = doctor()
    assert code == 0 and res["ok"]
    assert [c["name"] for c in res["checks"]] == ["workspace", "files", "daemon", "hooks", "jsonl", "gitignore", "merge",
                                                  "index_lock", "autocommit"]
    assert {c["status"] for c in res["checks"]} == {"ok"}
    out = run_bd("doctor", check=True).stdout
    assert out.startswith("bd doctor: ") and "✓ hooks" in out and "fix:" not in out


def test_no_workspace_is_an_error(tmp_path: Path):
    d = tmp_path / "empty"
    d.mkdir()
    code, res = doctor(cwd=d)
    assert code == 1 and not res["ok"]
    assert check(res, "workspace")["status"] == "error" and "bd init" in check(res, "workspace")["fix"]


def test_outside_git_the_git_checks_do_not_apply(tmp_path: Path):
    d = tmp_path / "nogit"
    d.mkdir()
    run_bd("init", "-p", "t", "-q", cwd=d, check=True)
    code, res = doctor(cwd=d)
    assert code == 0
    for name in ("hooks", "gitignore", "merge"):
        assert check(res, name)["status"] == "ok" and "not a git repository" in check(res, name)["message"]


def test_missing_hooks_are_explained_and_fixed(beads_repo: Path):
    hd = beads_repo / ".git" / "hooks"
    (hd / "pre-commit").write_text("#!/bin/sh\nexit 0\n")
    os.chmod(hd / "pre-commit", 0o755)
    code, res = doctor()
    c = check(res, "hooks")
    assert code == 0 and c["status"] == "warn" and c["fixable"]
    assert "not installed" in c["message"] and "chained" in c["message"]
    out = run_bd("doctor").stdout
    assert "Run 'bd doctor --fix' to repair: hooks" in out
    code, res = doctor("--fix")
    c = check(res, "hooks")
    assert c["status"] == "ok" and c["fixed"] and "pre-commit runs the script hook first" in c["message"]
    assert (hd / "pre-commit.bd-chained").read_text() == "#!/bin/sh\nexit 0\n"


def test_dirty_database_is_flushed_by_fix(healthy: Path):
    run_bd("--no-daemon", "--no-auto-flush", "create", "unexported", check=True)
    code, res = doctor()
    c = check(res, "jsonl")
    assert c["status"] == "warn" and "1 issue change(s)" in c["message"]
    code, res = doctor("--fix")
    assert check(res, "jsonl")["status"] == "ok" and check(res, "jsonl")["fixed"]
    assert "unexported" in (healthy / ".beads" / "issues.jsonl").read_text()
    assert not statefile.read(healthy / ".beads" / "bd.state").dirty


def test_changed_jsonl_is_imported_by_fix(healthy: Path):
    run_bd("--no-daemon", "create", "one", check=True)
    path = healthy / ".beads" / "issues.jsonl"
    line = json.loads(path.read_text().splitlines()[0])
    line["title"] = "edited by hand"
    line["updated_at"] = "2099-01-01T00:00:00Z"
    path.write_text(json.dumps(line, separators=(",", ":")) + "\n")
    code, res = doctor()
    assert check(res, "jsonl")["status"] == "warn" and "changed since" in check(res, "jsonl")["message"]
    code, res = doctor("--fix")
    assert check(res, "jsonl")["status"] == "ok"
    assert "imported" in check(res, "jsonl")["details"]["fix_result"]
    shown = json.loads(run_bd("--no-daemon", "show", "test-1", "--json", check=True).stdout)
    assert (shown[0] if isinstance(shown, list) else shown)["title"] == "edited by hand"


def test_conflict_markers_and_merge_state_are_errors_not_fixed(healthy: Path):
    run_bd("--no-daemon", "create", "shared", check=True)
    git(healthy, "commit", "-q", "-am", "shared", "--no-verify")
    git(healthy, "checkout", "-q", "-b", "other")
    run_bd("--no-daemon", "update", "test-1", "--title", "theirs", check=True)
    git(healthy, "commit", "-q", "-am", "theirs", "--no-verify")
    git(healthy, "checkout", "-q", "main")
    run_bd("--no-daemon", "update", "test-1", "--title", "ours", check=True)
    git(healthy, "commit", "-q", "-am", "ours", "--no-verify")
    git(healthy, "config", "--remove-section", "merge.beads")  # without bd's merge driver (beads' own setup)
    p = subprocess.run(["git", "merge", "-q", "other"], cwd=healthy, capture_output=True, text=True,
                       env={**os.environ, "BD_SKIP_HOOKS": "1"})
    assert p.returncode != 0  # a real conflict in the JSONL
    before = (healthy / ".beads" / "issues.jsonl").read_text()
    code, res = doctor("--fix")
    assert code == 1 and not res["ok"]
    assert check(res, "jsonl")["status"] == "error" and "conflict markers" in check(res, "jsonl")["message"]
    m = check(res, "merge")
    assert m["status"] == "error" and "unresolved merge conflicts" in m["message"] and "a merge" in m["message"]
    assert (healthy / ".beads" / "issues.jsonl").read_text() == before  # --fix left it alone
    out = run_bd("doctor").stdout + run_bd("doctor", "--fix").stdout
    assert "fix:" in out and not DESTRUCTIVE.search(out)


def test_merge_in_progress_without_jsonl_conflict_is_a_warning(healthy: Path):
    (healthy / "f.txt").write_text("base\n")
    git(healthy, "add", "f.txt")
    git(healthy, "commit", "-q", "-m", "f")
    git(healthy, "checkout", "-q", "-b", "other")
    (healthy / "f.txt").write_text("theirs\n")
    git(healthy, "commit", "-q", "-am", "theirs")
    git(healthy, "checkout", "-q", "main")
    (healthy / "f.txt").write_text("ours\n")
    git(healthy, "commit", "-q", "-am", "ours")
    assert subprocess.run(["git", "merge", "-q", "other"], cwd=healthy, capture_output=True).returncode != 0
    code, res = doctor()
    assert code == 0 and check(res, "merge")["status"] == "warn" and "a merge is in progress" in check(res, "merge")["message"]


def test_gitignore_gaps_are_filled_by_fix(healthy: Path):
    gi = healthy / ".beads" / ".gitignore"
    gi.write_text("*.db\n")
    code, res = doctor()
    c = check(res, "gitignore")
    assert c["status"] == "warn" and "bd.sock" in c["message"] and "bd.hookstate" in c["message"]
    code, res = doctor("--fix")
    assert check(res, "gitignore")["status"] == "ok"
    text = gi.read_text()
    assert text.startswith("*.db\n") and "bd.state" in text and text.count("*.db\n") == 1
    assert git(healthy, "status", "--porcelain", "--", ".beads").stdout.strip() == "M .beads/.gitignore"


def test_an_ignored_jsonl_is_an_error(healthy: Path):
    (healthy / ".gitignore").write_text(".beads/\n")
    code, res = doctor("--fix")
    c = check(res, "gitignore")
    assert code == 1 and c["status"] == "error" and "would not travel" in c["message"]
    assert (healthy / ".gitignore").read_text() == ".beads/\n"


def test_committed_database_is_reported(healthy: Path):
    db = next((healthy / ".beads").glob("*.db"))
    git(healthy, "add", "-f", str(db))
    git(healthy, "commit", "-q", "-m", "oops", "--no-verify")
    code, res = doctor()
    c = check(res, "gitignore")
    assert c["status"] == "warn" and db.name in c["message"] and "git rm --cached" in c["fix"]


def test_stale_daemon_files_are_removed_by_fix(healthy: Path):
    beads = healthy / ".beads"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (beads / "daemon.json").write_text(json.dumps({"pid": dead.pid}))
    w = statefile.Writer(beads / "bd.state")
    w.update(pid=dead.pid)
    w.close()
    code, res = doctor()
    c = check(res, "daemon")
    assert c["status"] == "warn" and "daemon.json" in c["message"] and f"pid {dead.pid}" in c["message"]
    code, res = doctor("--fix")
    assert check(res, "daemon")["status"] == "ok"
    assert not (beads / "daemon.json").exists() and statefile.read(beads / "bd.state").pid == 0


def test_running_daemon_is_checked_and_one_of_another_version_restarted(daemon, beads_repo: Path):
    code, res = doctor()
    c = check(res, "daemon")
    assert c["status"] == "ok" and str(daemon["pid"]) in c["message"]
    status_file = beads_repo / ".beads" / "daemon.json"
    st = json.loads(status_file.read_text())
    st["bdgit_version"] = "0.0.1"
    status_file.write_text(json.dumps(st))
    code, res = doctor()
    c = check(res, "daemon")
    assert c["status"] == "warn" and "bdgit 0.0.1" in c["message"] and c["fixable"]
    code, res = doctor("--fix")
    c = check(res, "daemon")
    assert c["status"] == "ok" and c["fixed"] and c["details"]["pid"] != daemon["pid"]


def test_fix_with_a_daemon_flushes_through_it(beads_repo: Path):
    from bdgit.daemon import lifecycle as d
    from bdgit.workspace import find
    ws = find(cwd=beads_repo)
    d.start(ws, {"flush_interval": 60, "idle_timeout": 300})
    try:
        run_bd("create", "held by the daemon", check=True)
        code, res = doctor("--fix")
        c = check(res, "jsonl")
        assert c["status"] == "ok" and c["fixed"] and "daemon" in c["details"]["fix_result"]
        assert "held by the daemon" in ws.jsonl_path.read_text()
    finally:
        d.stop(ws)


def test_a_missing_merge_driver_is_a_warning_that_fix_repairs(healthy: Path):
    git(healthy, "config", "--remove-section", "merge.beads")
    code, res = doctor()
    m = check(res, "merge")
    assert code == 0 and m["status"] == "warn" and "merge driver" in m["message"] and m["fixable"]
    code, res = doctor("--fix")
    assert check(res, "merge")["status"] == "ok" and check(res, "merge")["fixed"]
    assert "bdgit merge-driver" in git(healthy, "config", "merge.beads.driver").stdout


# --- git: index.lock, auto-commit --------------------------------------------------------------

def test_a_long_held_index_lock_is_reported_with_its_age_never_deleted(healthy: Path):
    from bdgit.daemon import lifecycle as d
    from bdgit.rpc.client import Client
    from bdgit.workspace import find
    lock = healthy / ".git" / "index.lock"
    lock.write_text("")  # left by a git that crashed
    old = lock.stat().st_mtime - 120
    os.utime(lock, (old, old))
    ws = find(cwd=healthy)
    d.start(ws, {"flush_interval": 0.05, "idle_timeout": 300, "auto_commit": True, "commit_interval": 0})
    try:
        with Client(ws.beads_dir, timeout=30) as c:
            c.execute("create", {"title": "waits for the lock"})
            assert wait_for(lambda: "index.lock" in (c.execute("health")["git_state"]["waiting"] or ""), timeout=20)
        code, res = doctor()
    finally:
        d.stop(ws)
    c = check(res, "index_lock")
    age = c["details"]["age_seconds"]  # the lock's mtime was set two minutes back
    assert c["status"] == "warn" and age >= 120
    assert "has existed for 12" in c["message"] and "probably stale" in c["message"]
    assert "no git process runs in this repository" in c["message"]
    assert "The daemon has been waiting" in c["message"]
    assert "rm " not in c["fix"] and not DESTRUCTIVE.search(c["message"] + c["fix"])
    assert "make sure no git command is still running" in c["fix"]
    code, res = doctor("--fix")
    assert lock.exists()  # --fix never removes it
    lock.unlink()
    assert check(doctor()[1], "index_lock")["status"] == "ok"


def test_an_index_lock_held_by_a_running_git_and_a_daemon_waiting_on_it(healthy: Path):
    from bdgit.daemon import lifecycle as d
    from bdgit.rpc.client import Client
    from bdgit.workspace import find
    ws = find(cwd=healthy)
    d.start(ws, {"flush_interval": 0.05, "idle_timeout": 300, "auto_commit": True, "commit_interval": 0})
    (healthy / "README.md").write_text("edited\n")
    # 'git commit -a' holds index.lock while its editor is open
    p = subprocess.Popen(["git", "commit", "-q", "-a"], cwd=healthy, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         env={**os.environ, "GIT_EDITOR": "sleep 30; echo msg >"})
    try:
        lock = healthy / ".git" / "index.lock"
        assert wait_for(lock.exists, timeout=10)
        with Client(ws.beads_dir, timeout=30) as c:
            c.execute("create", {"title": "waits for the user's commit"})
        old = lock.stat().st_mtime - 60
        os.utime(lock, (old, old))
        res = doctor()[1]
        c = check(res, "index_lock")
        assert c["status"] == "warn" and "git commit (pid" in c["message"] and "still runs" in c["message"]
        assert c["details"]["git_processes"] and "The daemon has been waiting" in c["message"]
    finally:
        p.kill()
        p.wait()
        d.stop(ws)


def test_auto_commit_without_hooks_explains_the_race_and_the_mode_that_has_none(beads_repo: Path):
    git(beads_repo, "add", ".beads")
    git(beads_repo, "commit", "-q", "-m", "beads")
    assert check(doctor()[1], "autocommit")["status"] == "ok"  # auto-commit off
    run_bd("config", "set", "daemon.auto_commit", "true", check=True)
    c = check(doctor()[1], "autocommit")
    assert c["status"] == "warn" and "cannot lock ref HEAD" in c["message"]
    assert "bd hooks install" in c["fix"] and "sync.branch" in c["fix"]
    hooks.install(hooks.find_repo(beads_repo))
    assert check(doctor()[1], "autocommit")["status"] == "ok"
    run_bd("config", "set", "sync.branch", "beads-sync", check=True)
    c = check(doctor()[1], "autocommit")
    assert c["status"] == "ok" and "never touches HEAD" in c["message"]
