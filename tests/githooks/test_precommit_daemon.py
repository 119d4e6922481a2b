"""The pre-commit hook with a daemon that flushes rarely: every commit carries the issues
written before it, also when several commits follow one another."""
from __future__ import annotations

from pathlib import Path

from testing import git, run_bd

from bdgit.githooks import install as hooks


def test_each_commit_carries_the_writes_made_before_it(beads_repo: Path) -> None:
    hooks.install(hooks.find_repo(beads_repo))
    run_bd("daemon", "start", "--interval", "60", cwd=beads_repo, check=True)
    try:
        for n in range(1, 4):
            run_bd("create", f"written before commit {n}", cwd=beads_repo, check=True)
            (beads_repo / "f.txt").write_text(f"{n}\n")
            git(beads_repo, "add", "f.txt")
            git(beads_repo, "commit", "-q", "-m", f"user commit {n}")
            committed = git(beads_repo, "show", "HEAD:.beads/issues.jsonl").stdout
            assert f"written before commit {n}" in committed, n
    finally:
        run_bd("daemon", "stop", cwd=beads_repo)
