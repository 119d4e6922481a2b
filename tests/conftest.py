"""Shared fixtures: real temporary git repositories and beads workspaces.

Every test runs in its own temporary directory with HOME pointed inside it and the beads
environment variables cleared, so nothing is written outside the temp dir (checked at the
end of the session against the source tree).
"""
from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from testing import REPO_ROOT, bd_runner, git

_ENV_VARS = ("BEADS_DB", "BEADS_DIR", "BD_ACTOR", "BEADS_ACTOR", "BD_TIMEOUT", "BEADS_AUTO_START_DAEMON",
             "GIT_DIR", "GIT_INDEX_FILE", "GIT_WORK_TREE", "NO_COLOR", "BD_NO_FAST_PATH")


@pytest.fixture(autouse=True)
def _isolate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run in tmp_path with a private HOME and a clean beads/git environment."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var in _ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test User")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "test@example.com")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Test User")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "test@example.com")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("BEADS_AUTO_START_DAEMON", "false")
    monkeypatch.chdir(tmp_path)
    yield


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    """A real git repository with one commit, on branch main."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.name", "Test User")
    git(repo, "config", "user.email", "test@example.com")
    git(repo, "config", "commit.gpgsign", "false")
    (repo / "README.md").write_text("hello\n")
    git(repo, "add", "README.md")
    git(repo, "commit", "-q", "-m", "initial")
    return repo


@pytest.fixture
def beads_repo(git_repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``git_repo`` after ``bd init --prefix test``; the current directory is the repo."""
    from bdgit.workspace.initialize import init_workspace
    init_workspace(git_repo, "test")
    monkeypatch.chdir(git_repo)
    return git_repo


@pytest.fixture
def store(beads_repo: Path):  # type: ignore[no-untyped-def]
    """``beads_repo``'s database, opened in process (closed after the test)."""
    from bdgit.store import Store
    s = Store(beads_repo / ".beads" / "test.db")
    yield s
    s.close()


@pytest.fixture
def bd(beads_repo: Path, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Run bd in-process in ``beads_repo``; returns (code, stdout, stderr)."""
    return bd_runner(capsys)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail loudly if a test left beads state in the source tree."""
    stray = [p for p in (REPO_ROOT / ".beads", REPO_ROOT / "tests" / ".beads") if p.exists()]
    if stray and not os.environ.get("BDGIT_ALLOW_STRAY"):
        session.exitstatus = 1
        sys.stderr.write(f"\ntests wrote outside their temp dirs: {stray}\n")


@pytest.fixture
def daemon(beads_repo: Path) -> Iterator[dict]:
    """A real daemon process serving ``beads_repo`` (fast flushes, stopped at teardown).

    Yields its status dict (``pid``, ``socket``, ...) plus ``ws`` (the Workspace)."""
    from bdgit.daemon import lifecycle as d
    from bdgit.workspace import find
    ws = find(cwd=beads_repo)
    st = d.start(ws, {"flush_interval": 0.1, "idle_timeout": 300})
    st["ws"] = ws
    try:
        yield st
    finally:
        try:
            d.stop(ws, wait=10)
        except Exception:
            import signal
            pid = st.get("pid")
            if pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


