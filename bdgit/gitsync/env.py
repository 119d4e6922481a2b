"""The one policy for the environment of the git commands bd runs, and a light runner.

Light on purpose (os, subprocess): the hooks' Python side imports it, and must not pay for
pygit2. Every git command bd starts (hooks, ``bd sync``, the daemon's pushes, doctor, the
daemon process itself) gets its environment from ``git_env``.

A git hook, or a user's shell inside one, may have set per-repository variables
(``GIT_INDEX_FILE`` of a partial commit, ``GIT_DIR``, a quarantine object directory of a
push being received ...). They describe *that* git command, not ours: all of them are removed,
except that ``GIT_DIR`` / ``GIT_WORK_TREE`` (when set) name the repository the user means and
are kept as absolute paths, and ``GIT_INDEX_FILE`` is kept only when the caller asks (the
pre-commit hook stages into the index being committed).
"""
from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping

#: per-repository variables a git hook may have set; none may leak into our own git calls
REPO_ENV = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_PREFIX", "GIT_COMMON_DIR",
            "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_QUARANTINE_PATH",
            "GIT_IMPLICIT_WORK_TREE", "GIT_INTERNAL_SUPER_PREFIX", "GIT_SHALLOW_FILE",
            "GIT_GRAFT_FILE", "GIT_NO_REPLACE_OBJECTS", "GIT_REPLACE_REF_BASE", "GIT_NAMESPACE")


#: files in a worktree's git dir that mean "someone is in the middle of something"
IN_PROGRESS = (
    ("MERGE_HEAD", "a merge is in progress"),
    ("rebase-merge", "a rebase is in progress"),
    ("rebase-apply", "a rebase (or git am) is in progress"),
    ("CHERRY_PICK_HEAD", "a cherry-pick is in progress"),
    ("REVERT_HEAD", "a revert is in progress"),
    ("BISECT_LOG", "a bisect is in progress"),
)


def git_env(*, keep_index: bool = False, keep_repo: bool = True, skip_bd_hooks: bool = False,
            base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a git command (or a bd process) that bd starts.

    ``keep_repo``: keep ``GIT_DIR``/``GIT_WORK_TREE`` (as absolute paths) when set; the daemon
    and ``bd sync`` pass False because they address the repository by its work tree.
    ``skip_bd_hooks`` sets ``BD_SKIP_HOOKS=1``: bd's part of the hooks is skipped because the
    caller does that work itself (and may hold the workspace lock the hook would wait for)."""
    src = dict(os.environ if base is None else base)
    env = {k: v for k, v in src.items() if k not in REPO_ENV}
    kept = (("GIT_DIR", "GIT_WORK_TREE") if keep_repo else ()) + (("GIT_INDEX_FILE",) if keep_index else ())
    for k in kept:
        if src.get(k):
            env[k] = os.path.abspath(src[k])
    env.setdefault("GIT_TERMINAL_PROMPT", "0")  # never wait for a password nobody will type
    env["GIT_MERGE_AUTOEDIT"] = "no"
    if skip_bd_hooks:
        env["BD_SKIP_HOOKS"] = "1"
    return env


def git(args: list[str], cwd: str | os.PathLike[str], *, keep_index: bool = False, keep_repo: bool = True,
        skip_bd_hooks: bool = False, input: str | None = None, timeout: float | None = None,
        config: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``git [-c k=v ...] ARGS`` in ``cwd`` with ``git_env``; never raises for a failing git.

    Raises FileNotFoundError when git is not installed and subprocess.TimeoutExpired."""
    cmd = ["git"]
    for k, v in (config or {}).items():
        cmd += ["-c", f"{k}={v}"]
    cmd += args
    return subprocess.run(cmd, cwd=str(cwd), env=git_env(keep_index=keep_index, keep_repo=keep_repo,
                                                         skip_bd_hooks=skip_bd_hooks),
                          text=True, capture_output=True, input=input, timeout=timeout,
                          stdin=None if input is not None else subprocess.DEVNULL)


def _git_dir(worktree: str | os.PathLike[str]) -> str | None:
    """The git dir of the work tree at or above ``worktree`` (files only, no git process)."""
    here = os.path.abspath(worktree)
    while True:
        dot = os.path.join(here, ".git")
        if os.path.isdir(dot):
            return dot
        if os.path.isfile(dot):
            try:
                with open(dot, encoding="utf-8") as f:
                    line = f.readline().strip()
            except OSError:
                return None
            return os.path.join(here, line[7:].strip()) if line.startswith("gitdir:") else None
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent


def rebasing(worktree: str | os.PathLike[str]) -> bool:
    """Whether a rebase is in progress in the work tree at or above ``worktree`` (files only, no
    git process: direct mode and the daemon ask before touching the JSONL). During a rebase the
    JSONL is git's to change; bd writes it again once the rebase ends."""
    gd = _git_dir(worktree)
    return gd is not None and (os.path.exists(os.path.join(gd, "rebase-merge"))
                               or os.path.exists(os.path.join(gd, "rebase-apply")))


def index_locked(worktree: str | os.PathLike[str]) -> bool:
    """Whether a git command holds ``index.lock``: ``reset``, ``checkout``, ``stash``, ``merge``
    hold it while they write work-tree files, and a JSONL we rename into place meanwhile can
    make them fail ("unable to create file ... File exists")."""
    gd = _git_dir(worktree)
    return gd is not None and os.path.exists(os.path.join(gd, "index.lock"))
