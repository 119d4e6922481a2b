"""bd's git hooks in real repositories, run by real git: install/uninstall/status, chaining
(hand-written, pre-commit framework, husky), core.hooksPath, the pre-commit staging rules,
imports after merge/checkout/rebase, pre-push, and the same with a running daemon."""
from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from testing import REPO_ROOT, git, run_bd, wait_for

from bdgit.githooks import install as hooks, scripts
from bdgit.workspace import statefile
from bdgit.workspace.initialize import init_workspace

ROOT = REPO_ROOT


def install(repo: Path, **kw) -> dict:
    return hooks.install(hooks.find_repo(repo), **kw)


def titles(repo: Path) -> set[str]:
    """Issue titles straight from the database (no bd command: that would auto-import)."""
    db = next((repo / ".beads").glob("*.db"))
    conn = sqlite3.connect(db)
    try:
        return {r[0] for r in conn.execute("SELECT title FROM issues")}
    finally:
        conn.close()


def committed(repo: Path, rev: str = "HEAD") -> list[str]:
    return git(repo, "show", "--name-only", "--format=", rev).stdout.split()


def jsonl_at(repo: Path, rev: str = "HEAD") -> str:
    return git(repo, "show", f"{rev}:.beads/issues.jsonl").stdout


def commit(repo: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "commit", "-q", *args], cwd=repo, text=True, capture_output=True,
                          env={**os.environ, **(env or {})})


def write_hook(path: Path, text: str, mode: int = 0o755) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chmod(path, mode)


@pytest.fixture
def hooked(beads_repo: Path) -> Path:
    """``beads_repo`` with the .beads files committed and bd's hooks installed."""
    git(beads_repo, "add", ".beads")
    git(beads_repo, "commit", "-q", "-m", "beads")
    res = install(beads_repo)
    assert res["ok"] and set(res["installed"]) == set(hooks.HOOK_NAMES)
    return beads_repo


# --- install / status / uninstall --------------------------------------------------------------

def test_install_status_uninstall_through_the_cli(beads_repo: Path):
    out = run_bd("hooks", "install", check=True).stdout
    assert "installed in .git/hooks" in out
    hd = beads_repo / ".git" / "hooks"
    for name in hooks.HOOK_NAMES:
        p = hd / name
        assert hooks.is_ours(p) and os.access(p, os.X_OK)
        assert hooks.our_version(p) == scripts.__version__
    st = json.loads(run_bd("hooks", "status", "--json", check=True).stdout)
    assert st["installed"] and {h["state"] for h in st["hooks"]} == {"installed"}
    again = json.loads(run_bd("hooks", "install", "--json", check=True).stdout)
    assert set(again["unchanged"]) == set(hooks.HOOK_NAMES) and not again["installed"]
    out = run_bd("hooks", "uninstall", check=True).stdout
    assert "removed bd's hooks" in out
    assert not any((hd / n).exists() for n in hooks.HOOK_NAMES)
    st = json.loads(run_bd("hooks", "status", "--json", check=True).stdout)
    assert not st["installed"] and {h["state"] for h in st["hooks"]} == {"missing"}
    assert "No bd hooks" in run_bd("hooks", "uninstall", check=True).stdout


def test_outdated_hook_is_reported_and_updated(beads_repo: Path):
    install(beads_repo, python="/nonexistent/python")
    st = hooks.status(hooks.find_repo(beads_repo))
    assert {h["state"] for h in st["hooks"]} == {"outdated"}
    res = install(beads_repo)
    assert set(res["updated"]) == set(hooks.HOOK_NAMES)
    assert hooks.status(hooks.find_repo(beads_repo))["installed"]


def test_hooks_outside_a_git_repository_say_so(tmp_path: Path):
    d = tmp_path / "plain"
    d.mkdir()
    p = run_bd("hooks", "install", cwd=d)
    assert p.returncode != 0 and "not in a git work tree" in p.stderr


def test_shipped_scripts_are_up_to_date_and_valid_sh():
    assert scripts.shipped_up_to_date(ROOT / "hooks"), "run: python -m bdgit.githooks.scripts --write hooks"
    for name in hooks.HOOK_NAMES:
        text = (ROOT / "hooks" / name).read_text()
        assert "BD_PYTHON=''" in text and text.startswith("#!/bin/sh\n")
        subprocess.run(["sh", "-n", str(ROOT / "hooks" / name)], check=True)
        assert os.access(ROOT / "hooks" / name, os.X_OK)


def test_contributor_hooks_of_this_repository_are_valid():
    hook = ROOT / ".githooks" / "pre-commit"
    assert os.access(hook, os.X_OK)
    subprocess.run(["sh", "-n", str(hook)], check=True)
    assert "core.hooksPath .githooks" in (ROOT / "README.md").read_text()


def test_init_installs_hooks_by_default_but_not_quiet_or_no_hooks(git_repo: Path, tmp_path: Path):
    out = run_bd("init", "-p", "t", cwd=git_repo, check=True).stdout
    assert "Git hooks: installed" in out
    assert hooks.is_ours(git_repo / ".git" / "hooks" / "pre-commit")
    for i, (flags, expect) in enumerate(((["-q"], False), (["--no-hooks"], False), (["-q", "--hooks"], True))):
        r = tmp_path / f"r{i}"
        r.mkdir()
        git(r, "init", "-q")
        run_bd("init", "-p", "t", *flags, cwd=r, check=True)
        assert hooks.is_ours(r / ".git" / "hooks" / "pre-commit") is expect, flags
    r = tmp_path / "json"
    r.mkdir()
    git(r, "init", "-q")
    res = json.loads(run_bd("init", "-p", "t", "--json", cwd=r, check=True).stdout)
    assert "pre-commit" in res["hooks"]["installed"]


def test_init_outside_git_does_not_try_hooks(tmp_path: Path):
    d = tmp_path / "nogit"
    d.mkdir()
    p = run_bd("init", "-p", "t", cwd=d, check=True)
    assert "Git hooks" not in p.stdout
    p = run_bd("init", "-p", "t", "--hooks", "--db", str(tmp_path / "nogit2" / ".beads" / "t.db"), cwd=d)
    assert p.returncode == 0


# --- chaining ---------------------------------------------------------------------------------

HAND_WRITTEN = """#!/bin/sh
# my own hook
echo "$0 $*" >> "$(git rev-parse --show-toplevel)/hand-ran.log"
[ -f "$(git rev-parse --show-toplevel)/BLOCK" ] && { echo "hand-written hook says no" >&2; exit 1; }
exit 0
"""


def test_chaining_a_hand_written_hook_and_restoring_it(hooked: Path):
    hd = hooked / ".git" / "hooks"
    hooks.uninstall(hooks.find_repo(hooked))
    write_hook(hd / "pre-commit", HAND_WRITTEN, 0o750)
    original = (hd / "pre-commit").read_bytes()
    res = install(hooked)
    assert res["chained"] == {"pre-commit": "script"}
    assert (hd / "pre-commit.bd-chained").read_bytes() == original
    st = hooks.status(hooks.find_repo(hooked))
    pc = next(h for h in st["hooks"] if h["hook"] == "pre-commit")
    assert pc["state"] == "installed" and pc["chained"] == "script"

    run_bd("--no-daemon", "--no-auto-flush", "create", "pending", check=True)
    (hooked / "a.txt").write_text("a\n")
    git(hooked, "add", "a.txt")
    p = commit(hooked, "-m", "with hand hook")
    assert p.returncode == 0, p.stderr
    log = (hooked / "hand-ran.log").read_text()
    assert log.startswith(".git/hooks/pre-commit ")  # it still sees its own name as $0
    assert set(committed(hooked)) == {"a.txt", ".beads/issues.jsonl"}
    assert "pending" in jsonl_at(hooked)

    # their failure still blocks the commit, and ours does not run
    (hooked / "BLOCK").write_text("")
    run_bd("--no-daemon", "--no-auto-flush", "create", "blocked one", check=True)
    (hooked / "b.txt").write_text("b\n")
    git(hooked, "add", "b.txt")
    p = commit(hooked, "-m", "blocked")
    assert p.returncode != 0 and "hand-written hook says no" in p.stderr
    assert "blocked one" not in git(hooked, "show", ":.beads/issues.jsonl").stdout

    res = hooks.uninstall(hooks.find_repo(hooked))
    assert res["restored"] == {"pre-commit": "script"}
    assert (hd / "pre-commit").read_bytes() == original
    assert stat.S_IMODE((hd / "pre-commit").stat().st_mode) == 0o750
    assert not (hd / "pre-commit.bd-chained").exists()


PRE_COMMIT_FRAMEWORK = """#!/usr/bin/env bash
# File generated by pre-commit: https://pre-commit.com
# ID: 138fd403232d2ddd5efb44317e38bf03

# start templated
INSTALL_PYTHON=/usr/bin/python3
ARGS=(hook-impl --config=.pre-commit-config.yaml --hook-type=pre-commit)
# end templated

HERE="$(cd "$(dirname "$0")" && pwd)"
ARGS+=(--hook-dir "$HERE" -- "$@")
echo "$0|$HERE|${ARGS[*]}" >> "$HERE/../../framework-ran.log"
exit "${FAKE_FRAMEWORK_EXIT:-0}"
"""


def test_chaining_the_pre_commit_framework(hooked: Path):
    hd = hooked / ".git" / "hooks"
    hooks.uninstall(hooks.find_repo(hooked))
    write_hook(hd / "pre-commit", PRE_COMMIT_FRAMEWORK)
    res = install(hooked)
    assert res["chained"] == {"pre-commit": "pre-commit"}
    run_bd("--no-daemon", "--no-auto-flush", "create", "framework", check=True)
    p = commit(hooked, "--allow-empty", "-m", "x")
    assert p.returncode == 0, p.stderr
    dollar0, here, args = (hooked / "framework-ran.log").read_text().strip().split("|")
    assert dollar0 == ".git/hooks/pre-commit" and Path(here) == hd.resolve()
    assert args.endswith("--hook-dir " + here + " --")
    assert "framework" in jsonl_at(hooked)
    p = commit(hooked, "--allow-empty", "-m", "y", env={"FAKE_FRAMEWORK_EXIT": "1"})
    assert p.returncode != 0
    out = run_bd("hooks", "status", cwd=hooked, check=True).stdout
    assert "runs your pre-commit framework hook first" in out


def test_pre_commit_install_over_ours_then_bd_install_again(hooked: Path):
    """`pre-commit install` moves our hook to pre-commit.legacy; we are still run, and a new
    'bd hooks install' tidies up without running anything twice."""
    hd = hooked / ".git" / "hooks"
    os.rename(hd / "pre-commit", hd / "pre-commit.legacy")
    write_hook(hd / "pre-commit", PRE_COMMIT_FRAMEWORK)
    st = hooks.status(hooks.find_repo(hooked))
    pc = next(h for h in st["hooks"] if h["hook"] == "pre-commit")
    assert pc["state"] == "installed" and "legacy" in pc["message"]
    res = install(hooked)
    assert not (hd / "pre-commit.legacy").exists()
    assert res["chained"] == {"pre-commit": "pre-commit"} and hooks.is_ours(hd / "pre-commit")


def test_husky_style_hooks_path_keeps_working(beads_repo: Path):
    """husky v9: core.hooksPath=.husky/_ whose scripts find the user's hook from "$0"."""
    husky = beads_repo / ".husky"
    write_hook(husky / "_" / "h", '#!/usr/bin/env sh\nn=$(basename "$0")\ns=$(dirname "$(dirname "$0")")/$n\n'
               '[ ! -f "$s" ] && exit 0\nsh -e "$s" "$@"\n')
    write_hook(husky / "_" / "pre-commit", '#!/usr/bin/env sh\n. "$(dirname "$0")/h"\n')
    (husky / "_" / ".gitignore").write_text("*\n")
    write_hook(husky / "pre-commit", 'echo husky-ran >> husky.log\n', 0o644)
    git(beads_repo, "config", "core.hooksPath", ".husky/_")
    git(beads_repo, "add", ".beads", ".husky/pre-commit")
    git(beads_repo, "commit", "-q", "-m", "husky")
    assert (beads_repo / "husky.log").read_text() == "husky-ran\n"
    res = install(beads_repo)
    assert res["hooks_dir"] == str((husky / "_").resolve())
    assert res["chained"] == {"pre-commit": "husky"} and any("husky" in w for w in res["warnings"])
    assert not (beads_repo / ".git" / "hooks" / "pre-commit").exists()
    run_bd("--no-daemon", "--no-auto-flush", "create", "husky issue", check=True)
    p = commit(beads_repo, "--allow-empty", "-m", "after bd")
    assert p.returncode == 0, p.stderr
    assert (beads_repo / "husky.log").read_text() == "husky-ran\nhusky-ran\n"
    assert "husky issue" in jsonl_at(beads_repo)


def test_core_hooks_path_outside_the_repo(beads_repo: Path, tmp_path: Path):
    shared = tmp_path / "shared-hooks"
    git(beads_repo, "config", "core.hooksPath", str(shared))
    res = install(beads_repo)
    assert res["hooks_dir"] == str(shared.resolve()) and any("every repository" in w for w in res["warnings"])
    assert hooks.is_ours(shared / "pre-commit")
    assert not (beads_repo / ".git" / "hooks" / "pre-commit").exists()
    # another repository using the same hooks and no .beads/: a silent no-op
    other = tmp_path / "other"
    other.mkdir()
    git(other, "init", "-q")
    git(other, "config", "core.hooksPath", str(shared))
    (other / "f").write_text("f\n")
    git(other, "add", "f")
    p = commit(other, "-m", "plain")
    assert p.returncode == 0 and p.stdout == "" and p.stderr == ""
    assert not (other / ".beads").exists()


def test_tracked_hooks_are_left_alone_with_an_explanation(beads_repo: Path):
    write_hook(beads_repo / ".githooks" / "pre-commit", "#!/bin/sh\nexit 0\n")
    git(beads_repo, "add", ".githooks/pre-commit")
    git(beads_repo, "commit", "-q", "-m", "team hooks")
    git(beads_repo, "config", "core.hooksPath", ".githooks")
    before = (beads_repo / ".githooks" / "pre-commit").read_bytes()
    res = install(beads_repo)
    assert "pre-commit" in res["skipped"] and "bd hooks run pre-commit" in res["skipped"]["pre-commit"]
    assert (beads_repo / ".githooks" / "pre-commit").read_bytes() == before
    assert hooks.is_ours(beads_repo / ".githooks" / "post-merge")
    st = hooks.status(hooks.find_repo(beads_repo))
    assert next(h for h in st["hooks"] if h["hook"] == "pre-commit")["state"] == "tracked"
    # the team adds the line: then it counts as installed
    with open(beads_repo / ".githooks" / "pre-commit", "a") as f:
        f.write('command -v bd >/dev/null 2>&1 && bd hooks run pre-commit "$@"\n')
    st = hooks.status(hooks.find_repo(beads_repo))
    assert next(h for h in st["hooks"] if h["hook"] == "pre-commit")["state"] == "shared"


def test_two_different_chained_copies_are_never_overwritten(hooked: Path):
    hd = hooked / ".git" / "hooks"
    hooks.uninstall(hooks.find_repo(hooked))
    write_hook(hd / "pre-commit", "#!/bin/sh\necho one\n")
    install(hooked)
    write_hook(hd / "pre-commit", "#!/bin/sh\necho two\n")  # another tool replaced ours
    res = install(hooked)
    assert "pre-commit" in res["errors"] and not res["ok"]
    assert (hd / "pre-commit").read_text().endswith("echo two\n")
    assert (hd / "pre-commit.bd-chained").read_text().endswith("echo one\n")


def test_non_executable_old_hook_stays_ignored(hooked: Path):
    hd = hooked / ".git" / "hooks"
    hooks.uninstall(hooks.find_repo(hooked))
    write_hook(hd / "pre-commit", "#!/bin/sh\necho ran > ran.txt\nexit 1\n", 0o644)
    install(hooked)
    p = commit(hooked, "--allow-empty", "-m", "x")
    assert p.returncode == 0 and not (hooked / "ran.txt").exists()
    hooks.uninstall(hooks.find_repo(hooked))
    assert stat.S_IMODE((hd / "pre-commit").stat().st_mode) == 0o644


# --- pre-commit ---------------------------------------------------------------------------------

def test_commit_with_a_pending_write_stages_exactly_the_jsonl(hooked: Path):
    run_bd("--no-daemon", "--no-auto-flush", "create", "pending issue", check=True)
    assert statefile.read(hooked / ".beads" / "bd.state").dirty
    (hooked / "untracked.txt").write_text("not mine to add\n")
    (hooked / "README.md").write_text("modified but not staged\n")
    (hooked / "staged.txt").write_text("s\n")
    git(hooked, "add", "staged.txt")
    p = commit(hooked, "-m", "work")
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""
    assert set(committed(hooked)) == {"staged.txt", ".beads/issues.jsonl"}
    assert "pending issue" in jsonl_at(hooked)
    status = git(hooked, "status", "--porcelain").stdout
    assert "?? untracked.txt" in status and " M README.md" in status and ".beads" not in status
    assert not statefile.read(hooked / ".beads" / "bd.state").dirty
    assert (hooked / ".beads" / "bd.hookstate").read_bytes() == (hooked / ".beads" / "bd.state").read_bytes()


def test_commit_all_stages_into_git_s_own_index_lock(hooked: Path):
    run_bd("--no-daemon", "--no-auto-flush", "create", "with -a", check=True)
    (hooked / "README.md").write_text("changed\n")
    p = commit(hooked, "-a", "-m", "all")
    assert p.returncode == 0, p.stderr
    assert set(committed(hooked)) == {"README.md", ".beads/issues.jsonl"}
    assert git(hooked, "status", "--porcelain").stdout == ""


def test_partial_commit_leaves_the_jsonl_for_the_next_commit(hooked: Path):
    run_bd("--no-daemon", "create", "later", check=True)  # flushed, not staged
    (hooked / "README.md").write_text("only this\n")
    p = commit(hooked, "-m", "partial", "--", "README.md")
    assert p.returncode == 0, p.stderr
    assert committed(hooked) == ["README.md"]
    assert "partial commit" in p.stderr
    # the real index is consistent: the JSONL shows as a plain unstaged change
    assert git(hooked, "status", "--porcelain").stdout == " M .beads/issues.jsonl\n"
    p = commit(hooked, "--allow-empty", "-m", "next")
    assert p.returncode == 0 and committed(hooked) == [".beads/issues.jsonl"]


def test_no_op_pre_commit_does_not_start_python(hooked: Path, tmp_path: Path):
    log = tmp_path / "python-starts.log"
    fake = tmp_path / "python"
    write_hook(fake, f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{sys.executable}" "$@"\n')
    install(hooked, python=str(fake))
    run_bd("--no-daemon", "create", "one", check=True)
    assert commit(hooked, "--allow-empty", "-m", "1").returncode == 0
    assert log.read_text().count("pre-commit") == 1
    for i in range(3):
        assert commit(hooked, "--allow-empty", "-m", f"noop {i}").returncode == 0
    assert log.read_text().count("pre-commit") == 1  # cmp said: nothing changed
    run_bd("--no-daemon", "create", "two", check=True)  # a write changes bd.state
    assert commit(hooked, "--allow-empty", "-m", "2").returncode == 0
    assert log.read_text().count("pre-commit") == 2
    assert "two" in jsonl_at(hooked)


def test_hooks_in_a_repository_without_beads_are_silent_no_ops(git_repo: Path, tmp_path: Path):
    install(git_repo)
    before = sorted(p.name for p in git_repo.iterdir())
    (git_repo / "f.txt").write_text("f\n")
    git(git_repo, "add", "f.txt")
    p = commit(git_repo, "-m", "plain")
    assert p.returncode == 0 and p.stderr == "" and p.stdout == ""
    git(git_repo, "checkout", "-q", "-b", "other")
    git(git_repo, "checkout", "-q", "main")
    assert sorted(p.name for p in git_repo.iterdir()) == before + ["f.txt"]
    # run by hand with git's per-commit variables pointing somewhere odd: still nothing
    for name, args in (("pre-commit", []), ("post-checkout", ["a", "b", "1"]), ("post-merge", ["0"]),
                       ("post-rewrite", ["rebase"]), ("pre-push", ["origin", "url"])):
        r = subprocess.run([str(git_repo / ".git" / "hooks" / name), *args], cwd=git_repo, text=True,
                           capture_output=True, input="",
                           env={**os.environ, "GIT_INDEX_FILE": str(tmp_path / "nowhere" / "index"),
                                "GIT_DIR": str(tmp_path / "nowhere")})
        assert (r.returncode, r.stdout, r.stderr) == (0, "", ""), name
    assert not (git_repo / ".beads").exists()


def test_dot_beads_without_a_database_is_a_no_op(git_repo: Path):
    (git_repo / ".beads").mkdir()
    (git_repo / ".beads" / "issues.jsonl").write_text("")
    install(git_repo)
    p = commit(git_repo, "--allow-empty", "-m", "x")
    assert p.returncode == 0 and p.stderr == ""
    assert sorted(os.listdir(git_repo / ".beads")) == ["issues.jsonl"]


def test_a_linked_worktree_without_its_own_database_is_left_alone(hooked: Path, tmp_path: Path):
    wt = tmp_path / "wt"
    git(hooked, "worktree", "add", "-q", str(wt), "-b", "wt-branch")
    assert (wt / ".beads" / "issues.jsonl").exists() and not list((wt / ".beads").glob("*.db"))
    (wt / "w.txt").write_text("w\n")
    git(wt, "add", "w.txt")
    p = commit(wt, "-m", "in worktree")
    assert p.returncode == 0 and p.stderr == ""
    assert committed(wt) == ["w.txt"]


def test_pre_commit_refuses_a_jsonl_with_conflict_markers(hooked: Path):
    path = hooked / ".beads" / "issues.jsonl"
    path.write_text("<<<<<<< HEAD\n=======\n>>>>>>> other\n")
    git(hooked, "add", ".beads/issues.jsonl")
    p = commit(hooked, "-m", "broken")
    assert p.returncode != 0 and "conflict marker" in p.stderr and "line 1" in p.stderr
    p = commit(hooked, "-m", "broken", env={"BD_SKIP_HOOKS": "1"})
    assert p.returncode == 0


def test_skip_variable_skips_only_bd_s_part(hooked: Path):
    run_bd("--no-daemon", "--no-auto-flush", "create", "skipped", check=True)
    p = commit(hooked, "--allow-empty", "-m", "skip", env={"BD_SKIP_HOOKS": "1"})
    assert p.returncode == 0 and committed(hooked) == []
    assert statefile.read(hooked / ".beads" / "bd.state").dirty


# --- post-merge / post-checkout / post-rewrite ---------------------------------------------------

@pytest.fixture
def two_clones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A bare origin; clone ``a`` with a workspace (committed, hooks on); clone ``b`` of it
    with its own database (``bd init`` imports the JSONL) and hooks."""
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    a = tmp_path / "a"
    git(tmp_path, "clone", "-q", str(origin), str(a))
    (a / "README.md").write_text("a\n")
    init_workspace(a, "test")
    install(a)
    monkeypatch.chdir(a)
    run_bd("--no-daemon", "create", "from a", cwd=a, check=True)
    git(a, "add", "README.md", ".beads")
    assert commit(a, "-m", "start").returncode == 0
    git(a, "push", "-q", "origin", "main")
    b = tmp_path / "b"
    git(tmp_path, "clone", "-q", str(origin), str(b))
    run_bd("init", "-q", "--hooks", cwd=b, check=True)
    assert titles(b) == {"from a"}
    return origin, a, b


def test_pull_merging_a_changed_jsonl_imports_it(two_clones):
    origin, a, b = two_clones
    run_bd("--no-daemon", "create", "second from a", cwd=a, check=True)
    assert commit(a, "--allow-empty", "-m", "more").returncode == 0
    git(a, "push", "-q", "origin", "main")
    # b has a local change of its own, so the pull is a real merge
    (b / "local.txt").write_text("l\n")
    git(b, "add", "local.txt")
    assert commit(b, "-m", "local").returncode == 0
    p = subprocess.run(["git", "pull", "-q", "--no-rebase", "--no-edit", "origin", "main"], cwd=b,
                       text=True, capture_output=True)
    assert p.returncode == 0, p.stderr
    assert titles(b) == {"from a", "second from a"}  # imported by post-merge, no bd command ran
    assert "imported issues.jsonl after merge: 1 created" in p.stderr


def test_merge_of_two_sides_edits_imports_the_merged_file(two_clones):
    origin, a, b = two_clones
    for t in ("second", "third"):
        run_bd("--no-daemon", "create", t, cwd=a, check=True)
    assert commit(a, "--allow-empty", "-m", "three issues").returncode == 0
    git(a, "push", "-q", "origin", "main")
    assert subprocess.run(["git", "pull", "-q", "origin", "main"], cwd=b).returncode == 0
    assert titles(b) == {"from a", "second", "third"}
    # a edits the first line, b the third: git merges the file line by line
    run_bd("--no-daemon", "update", "test-1", "--priority", "0", cwd=a, check=True)
    assert commit(a, "--allow-empty", "-m", "a edits").returncode == 0
    git(a, "push", "-q", "origin", "main")
    run_bd("--no-daemon", "update", "test-3", "--title", "third, edited in b", cwd=b, check=True)
    assert commit(b, "--allow-empty", "-m", "b edits").returncode == 0
    p = subprocess.run(["git", "pull", "-q", "--no-rebase", "--no-edit", "origin", "main"], cwd=b,
                       text=True, capture_output=True)
    assert p.returncode == 0, p.stderr
    db = next((b / ".beads").glob("*.db"))
    conn = sqlite3.connect(db)
    prio = conn.execute("SELECT priority FROM issues WHERE title='from a'").fetchone()[0]
    conn.close()
    assert prio == 0 and titles(b) == {"from a", "second", "third, edited in b"}
    assert git(b, "status", "--porcelain").stdout == ""


def test_pull_rebase_imports_the_jsonl(two_clones):
    origin, a, b = two_clones
    run_bd("--no-daemon", "create", "rebased onto", cwd=a, check=True)
    assert commit(a, "--allow-empty", "-m", "a").returncode == 0
    git(a, "push", "-q", "origin", "main")
    (b / "mine.txt").write_text("m\n")
    git(b, "add", "mine.txt")
    assert commit(b, "-m", "local work").returncode == 0
    p = subprocess.run(["git", "pull", "-q", "--rebase", "origin", "main"], cwd=b, text=True, capture_output=True)
    assert p.returncode == 0, p.stderr
    assert "rebased onto" in titles(b)
    assert git(b, "status", "--porcelain").stdout == ""


def test_branch_checkout_imports_and_file_checkout_does_not(hooked: Path):
    run_bd("--no-daemon", "create", "on every branch", check=True)
    assert commit(hooked, "--allow-empty", "-m", "base").returncode == 0
    git(hooked, "checkout", "-q", "-b", "feature")
    run_bd("--no-daemon", "create", "feature work", check=True)
    assert commit(hooked, "--allow-empty", "-m", "feature").returncode == 0
    p = subprocess.run(["git", "checkout", "-q", "main"], cwd=hooked, text=True, capture_output=True)
    assert p.returncode == 0, p.stderr
    # main's JSONL lacks it: kept all the same (a missing line never deletes), and said once
    assert "lacks 1 issue(s)" in p.stderr and "feature work" in titles(hooked)
    assert git(hooked, "status", "--porcelain").stdout == ""  # the hook did not rewrite the file
    p = subprocess.run(["git", "checkout", "-q", "feature"], cwd=hooked, text=True, capture_output=True)
    assert p.returncode == 0, p.stderr
    assert "feature work" in titles(hooked) and "lacks" not in p.stderr
    git(hooked, "checkout", "-q", "main")
    # a file checkout ($3 = 0) is not a branch switch: the hook leaves it to bd's auto-import
    git(hooked, "checkout", "feature", "--", ".beads/issues.jsonl")
    assert "feature work" in titles(hooked)


def test_checkout_that_does_not_touch_beads_starts_no_python(hooked: Path, tmp_path: Path):
    log = tmp_path / "starts.log"
    fake = tmp_path / "python"
    write_hook(fake, f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{sys.executable}" "$@"\n')
    install(hooked, python=str(fake))
    git(hooked, "checkout", "-q", "-b", "other")
    (hooked / "x.txt").write_text("x\n")
    git(hooked, "add", "x.txt")
    assert commit(hooked, "-m", "x", env={"BD_SKIP_HOOKS": "1"}).returncode == 0
    git(hooked, "checkout", "-q", "main")
    git(hooked, "checkout", "-q", "other")
    assert not log.exists()


def test_rebase_that_changes_the_jsonl_imports_it(hooked: Path):
    run_bd("--no-daemon", "create", "on every branch", check=True)
    assert commit(hooked, "--allow-empty", "-m", "base").returncode == 0
    git(hooked, "checkout", "-q", "-b", "topic")
    (hooked / "t.txt").write_text("t\n")
    git(hooked, "add", "t.txt")
    assert commit(hooked, "-m", "topic").returncode == 0
    git(hooked, "checkout", "-q", "main")
    run_bd("--no-daemon", "create", "on main", check=True)
    assert commit(hooked, "--allow-empty", "-m", "main moves").returncode == 0
    git(hooked, "checkout", "-q", "topic")
    assert "on main" in titles(hooked)  # the topic branch's older JSONL lacks it: kept
    p = subprocess.run(["git", "rebase", "-q", "main"], cwd=hooked, text=True, capture_output=True)
    assert p.returncode == 0, p.stderr
    assert "on main" in titles(hooked)
    assert "on main" in (hooked / ".beads" / "issues.jsonl").read_text()


def test_chained_post_checkout_keeps_its_exit_status(hooked: Path):
    hd = hooked / ".git" / "hooks"
    hooks.uninstall(hooks.find_repo(hooked))
    write_hook(hd / "post-checkout", "#!/bin/sh\necho \"$@\" > post-checkout.args\nexit 7\n")
    before_bd = subprocess.run(["git", "checkout", "-q", "-b", "x"], cwd=hooked).returncode
    assert before_bd != 0  # the hook's failure is git checkout's failure
    install(hooked)
    p = subprocess.run(["git", "checkout", "-q", "-b", "y"], cwd=hooked, text=True, capture_output=True)
    assert p.returncode == before_bd
    assert (hooked / "post-checkout.args").read_text().split()[2] == "1"
    hooks.uninstall(hooks.find_repo(hooked))
    write_hook(hd / "post-checkout", "#!/bin/sh\nexit 0\n")
    install(hooked)
    assert subprocess.run(["git", "checkout", "-q", "-b", "z"], cwd=hooked).returncode == 0


# --- pre-push -------------------------------------------------------------------------------------

def test_pre_push_refuses_until_the_issues_are_committed(two_clones):
    origin, a, b = two_clones
    run_bd("--no-daemon", "create", "not committed", cwd=a, check=True)
    (a / "code.txt").write_text("c\n")
    git(a, "add", "code.txt")
    assert commit(a, "-m", "code only", env={"BD_SKIP_HOOKS": "1"}).returncode == 0
    p = subprocess.run(["git", "push", "-q", "origin", "main"], cwd=a, text=True, capture_output=True)
    assert p.returncode != 0
    assert "does not have" in p.stderr and "git add .beads/issues.jsonl && git commit" in p.stderr
    assert "1 issue(s) changed" in p.stderr
    # pushing another branch is not this hook's business
    git(a, "branch", "side", "HEAD~1")
    p = subprocess.run(["git", "push", "-q", "origin", "side"], cwd=a, text=True, capture_output=True)
    assert p.returncode == 0, p.stderr
    assert commit(a, "--allow-empty", "-m", "issues").returncode == 0
    p = subprocess.run(["git", "push", "-q", "origin", "main"], cwd=a, text=True, capture_output=True)
    assert p.returncode == 0, p.stderr


def test_pre_push_flushes_pending_writes_before_deciding(two_clones):
    origin, a, b = two_clones
    run_bd("--no-daemon", "--no-auto-flush", "create", "pending", cwd=a, check=True)
    assert "pending" not in (a / ".beads" / "issues.jsonl").read_text()
    p = subprocess.run(["git", "push", "-q", "origin", "main"], cwd=a, text=True, capture_output=True)
    assert p.returncode != 0 and "does not have" in p.stderr
    assert "pending" in (a / ".beads" / "issues.jsonl").read_text()


def test_chained_pre_push_gets_stdin_too(two_clones):
    origin, a, b = two_clones
    hd = a / ".git" / "hooks"
    hooks.uninstall(hooks.find_repo(a))
    write_hook(hd / "pre-push", "#!/bin/sh\ncat > pushed.txt\necho \"$1 $2\" > push-args.txt\n")
    install(a)
    (a / "n.txt").write_text("n\n")
    git(a, "add", "n.txt")
    assert commit(a, "-m", "n").returncode == 0
    p = subprocess.run(["git", "push", "-q", "origin", "main"], cwd=a, text=True, capture_output=True)
    assert p.returncode == 0, p.stderr
    head = git(a, "rev-parse", "HEAD").stdout.strip()
    assert (a / "pushed.txt").read_text().split()[:2] == ["refs/heads/main", head]
    assert (a / "push-args.txt").read_text().split()[0] == "origin"


# --- with a running daemon --------------------------------------------------------------------

@pytest.fixture
def slow_daemon(hooked: Path):
    """A daemon that flushes only after a minute: pending writes stay pending."""
    from bdgit.daemon import lifecycle as d
    from bdgit.workspace import find
    ws = find(cwd=hooked)
    st = d.start(ws, {"flush_interval": 60, "idle_timeout": 300})
    st["ws"] = ws
    try:
        yield st
    finally:
        d.stop(ws, wait=10)


def test_pre_commit_flushes_through_the_daemon(slow_daemon, hooked: Path):
    ws = slow_daemon["ws"]
    run_bd("create", "daemon issue", check=True)
    st = statefile.read(ws.state_path)
    assert st.dirty and st.pid == slow_daemon["pid"]
    assert "daemon issue" not in ws.jsonl_path.read_text()
    t0 = time.monotonic()
    p = commit(hooked, "--allow-empty", "-m", "with daemon")
    assert p.returncode == 0, p.stderr
    assert time.monotonic() - t0 < 5
    assert committed(hooked) == [".beads/issues.jsonl"]
    assert "daemon issue" in jsonl_at(hooked)
    log = (ws.beads_dir / "daemon.log").read_text()
    assert "daemon started" in log  # still the same daemon; nobody took its place
    assert statefile.read(ws.state_path).pid == slow_daemon["pid"]


def test_post_merge_imports_through_the_daemon(two_clones):
    from bdgit.daemon import lifecycle as d
    from bdgit.workspace import find
    origin, a, b = two_clones
    ws = find(cwd=b)
    d.start(ws, {"flush_interval": 0.1, "idle_timeout": 300})
    try:
        run_bd("--no-daemon", "create", "for b's daemon", cwd=a, check=True)
        assert commit(a, "--allow-empty", "-m", "more").returncode == 0
        git(a, "push", "-q", "origin", "main")
        p = subprocess.run(["git", "pull", "-q", "--no-rebase", "origin", "main"], cwd=b, text=True,
                           capture_output=True)
        assert p.returncode == 0, p.stderr
        assert "for b's daemon" in titles(b)
        out = json.loads(run_bd("list", "--json", cwd=b, check=True).stdout)
        assert "for b's daemon" in {i["title"] for i in out}
    finally:
        d.stop(ws)


def test_no_op_commit_with_a_daemon_running(daemon, beads_repo: Path):
    git(beads_repo, "add", ".beads")
    git(beads_repo, "commit", "-q", "-m", "beads")
    install(beads_repo)
    run_bd("create", "x", check=True)
    ws = daemon["ws"]
    assert wait_for(lambda: not statefile.read(ws.state_path).dirty, timeout=10)
    assert commit(beads_repo, "--allow-empty", "-m", "1").returncode == 0
    assert "x" in jsonl_at(beads_repo)
    assert wait_for(lambda: not statefile.read(ws.state_path).dirty, timeout=10)
    assert commit(beads_repo, "--allow-empty", "-m", "2").returncode == 0
    stamp = (ws.beads_dir / "bd.hookstate").read_bytes()
    assert stamp == ws.state_path.read_bytes()
    assert commit(beads_repo, "--allow-empty", "-m", "3").returncode == 0
    assert (ws.beads_dir / "bd.hookstate").read_bytes() == stamp


# --- bd hooks run ---------------------------------------------------------------------------------

def test_bd_hooks_run_by_hand(hooked: Path):
    run_bd("--no-daemon", "--no-auto-flush", "create", "by hand", check=True)
    p = run_bd("hooks", "run", "pre-commit", check=True)
    assert p.returncode == 0
    assert "by hand" in git(hooked, "show", ":.beads/issues.jsonl").stdout
    p = run_bd("hooks", "run", "no-such-hook")
    assert p.returncode == 2 and "unknown hook" in p.stderr
    sub = hooked / "sub"
    sub.mkdir()
    assert run_bd("hooks", "run", "post-merge", "0", cwd=sub).returncode == 0


def test_pre_push_goes_ahead_with_an_auto_committing_daemon(two_clones):
    """With the daemon committing issue changes on the checked-out branch, pre-push never
    refuses: it says that the changes since the daemon's last commit go with the next push."""
    from bdgit.daemon import lifecycle as d
    from bdgit.workspace import find
    origin, a, b = two_clones
    ws = find(cwd=a)
    d.start(ws, {"flush_interval": 0.1, "idle_timeout": 300, "auto_commit": True, "commit_interval": 60})
    try:
        assert wait_for(lambda: (ws.beads_dir / "daemon.autocommit").exists(), timeout=10)
        run_bd("create", "first", cwd=a, check=True)
        assert wait_for(lambda: "first" in jsonl_at(a), timeout=20)  # the first commit comes at once
        (a / "code.txt").write_text("c\n")
        git(a, "add", "code.txt")
        p = commit(a, "-m", "code")
        assert p.returncode == 0, p.stderr
        assert committed(a) == ["code.txt"]  # the user's commit carries only what they staged
        run_bd("create", "pending", cwd=a, check=True)  # the next commit is a minute away
        p = subprocess.run(["git", "push", "-q", "origin", "main"], cwd=a, text=True, capture_output=True)
        assert p.returncode == 0, p.stderr
        assert "next push carries them" in p.stderr
        assert git(origin, "rev-parse", "main").stdout == git(a, "rev-parse", "HEAD").stdout
    finally:
        d.stop(ws)
    assert "pending" in jsonl_at(a)  # the clean stop committed it


def test_pre_commit_never_stages_the_jsonl_in_sync_branch_mode(beads_repo):
    """Teams that protect main keep issues on a sync branch: the user's commits stay clean."""
    import subprocess as sp
    from testing import git, run_bd
    run_bd("hooks", "install", check=True)
    run_bd("config", "set", "sync.branch", "beads-sync", check=True)
    git(beads_repo, "add", "-A")
    git(beads_repo, "commit", "-q", "-m", "setup")
    run_bd("create", "kept off main", check=True)
    (beads_repo / "code.txt").write_text("work\n")
    git(beads_repo, "add", "code.txt")
    git(beads_repo, "commit", "-q", "-m", "user work")
    files = sp.run(["git", "show", "--name-only", "--format=", "HEAD"], cwd=beads_repo, capture_output=True,
                   text=True, check=True).stdout.split()
    assert files == ["code.txt"]


# --- the daemon's busy protocol, the first commit, a JSONL that does not parse -------------------

DESTRUCTIVE = ("reset --hard", "rm -rf", "rm .", "checkout -- ", "clean -f", "push --force", "bd export --force")


def test_hooks_mark_git_busy_from_its_first_hook_to_its_last(hooked: Path, tmp_path: Path):
    """While git commits (also with --no-verify, which skips pre-commit), its mark is in the git
    dir; post-commit removes it."""
    seen = tmp_path / "seen.txt"
    editor = tmp_path / "editor.sh"
    write_hook(editor, f'#!/bin/sh\nls "{hooked}/.git" | grep bd-busy >> "{seen}"\necho msg > "$1"\n')
    for args in ((), ("--no-verify",)):
        seen.write_text("")
        p = subprocess.run(["git", "commit", "-q", "--allow-empty", *args], cwd=hooked, text=True,
                           capture_output=True, env={**os.environ, "GIT_EDITOR": str(editor)})
        assert p.returncode == 0, p.stderr
        assert seen.read_text().startswith("bd-busy."), args
        assert not list((hooked / ".git").glob("bd-busy.*")), args


def test_first_commit_carries_the_gitignore_and_attributes_with_the_jsonl(tmp_path: Path):
    repo = tmp_path / "fresh"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    init_workspace(repo, "test")
    install(repo)
    (repo / "README.md").write_text("hi\n")
    git(repo, "add", "README.md")
    p = commit(repo, "-m", "first")
    assert p.returncode == 0, p.stderr
    assert set(committed(repo)) == {"README.md", ".beads/.gitignore", ".beads/.gitattributes", ".beads/issues.jsonl"}
    assert git(repo, "status", "--porcelain").stdout == ""
    run_bd("--no-daemon", "create", "second", cwd=repo, check=True)
    assert commit(repo, "--allow-empty", "-m", "second").returncode == 0
    assert committed(repo) == [".beads/issues.jsonl"]  # the .gitignore only the first time


@pytest.mark.parametrize("how", ["staged by hand", "to be staged by the hook"])
def test_pre_commit_refuses_a_jsonl_that_does_not_parse(hooked: Path, how: str):
    path = hooked / ".beads" / "issues.jsonl"
    run_bd("--no-daemon", "create", "good", check=True)
    if how != "staged by hand":
        run_bd("--no-daemon", "--no-auto-flush", "create", "pending", check=True)  # the hook has work to do
    path.write_text(path.read_text() + '{"id": "test-9", "title": broken}\n')
    if how == "staged by hand":
        git(hooked, "add", ".beads/issues.jsonl")
    head = git(hooked, "rev-parse", "HEAD").stdout
    p = commit(hooked, "--allow-empty", "-m", "with a broken JSONL")
    assert p.returncode != 0
    assert ".beads/issues.jsonl line 2" in p.stderr and "invalid JSON" in p.stderr
    assert "Fix line 2" in p.stderr and "commit again" in p.stderr
    assert not any(d in p.stderr for d in DESTRUCTIVE), p.stderr
    assert git(hooked, "rev-parse", "HEAD").stdout == head


def test_with_an_auto_committing_daemon_commits_stay_the_users(hooked: Path, tmp_path: Path):
    """The daemon commits issue changes: the pre-commit hook stages nothing and starts no
    Python (unless the user staged the JSONL: then it checks it, and refuses a broken one)."""
    from bdgit.daemon import lifecycle as d
    from bdgit.workspace import find
    log = tmp_path / "python-starts.log"
    fake = tmp_path / "python"
    write_hook(fake, f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{sys.executable}" "$@"\n')
    install(hooked, python=str(fake))
    ws = find(cwd=hooked)
    d.start(ws, {"flush_interval": 0.05, "idle_timeout": 300, "auto_commit": True, "commit_interval": 60})
    try:
        assert wait_for(lambda: (ws.beads_dir / "daemon.autocommit").exists(), timeout=10)
        run_bd("create", "agent's issue", check=True)
        assert wait_for(lambda: "agent's issue" in jsonl_at(hooked), timeout=20)  # the first commit: at once
        run_bd("create", "the next one waits a minute", check=True)
        for i in range(3):
            (hooked / "mine.txt").write_text(f"{i}\n")
            git(hooked, "add", "mine.txt")
            p = commit(hooked, "-m", f"mine {i}")
            assert p.returncode == 0 and p.stderr == "", p.stderr
            assert committed(hooked) == ["mine.txt"]
        assert not log.exists() or "pre-commit" not in log.read_text()
        assert git(hooked, "status", "--porcelain", "--", ".beads").stdout == ""  # the JSONL waits for its commit
        path = hooked / ".beads" / "issues.jsonl"
        path.write_text(path.read_text() + "<<<<<<< HEAD\n")
        git(hooked, "add", ".beads/issues.jsonl")
        p = commit(hooked, "-m", "staged a conflict")
        assert p.returncode != 0 and "line 2" in p.stderr and "conflict marker" in p.stderr
    finally:
        d.stop(ws)
