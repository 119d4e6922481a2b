"""``bd doctor``: check a workspace, explain what is wrong, and repair what is safe to repair.

Checks, in order: the workspace (a database), the files of ``.beads/`` (nothing bd would refuse:
links, FIFOs, other users' files, hard links, a world-writable directory; nothing machine-local
tracked by git), the daemon (alive, answering, our version; no stale files), the git hooks
(installed, current, chained), the JSONL (parses, in sync with the database, no conflict
markers), ``.gitignore`` (machine-local files ignored, the JSONL not), the merge state, a
long-held ``index.lock`` (its age, whether a git process still runs, a daemon waiting on it),
and auto-commit (where issue changes land; a daemon committing on the user's branch without the
hooks that tell it when the user's git runs).
Each check is ``ok``, ``warn`` or ``error`` with an explanation and, when there is one, the
fix. ``--fix`` applies only safe fixes: install or update our hooks (chaining, never
overwriting), append missing ``.gitignore`` lines, make a world-writable ``.beads/`` of yours
private (0700), import a newer JSONL, flush a dirty database, restart a daemon of another bdgit
version (it flushes first), remove daemon files no daemon holds. It never deletes data and
never prints a destructive command; a fix that fails leaves the check an error.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import BdError, GitError, UnsafePathError
from . import git as g
from . import local as lo
from .base import ERROR, OK, WARN, Check

__all__ = ["ERROR", "OK", "WARN", "Check", "run"]


class Context:
    """What the checks look at: the workspace, its git repository (None outside one) and the
    daemon's health (asked once, when a check needs it)."""

    def __init__(self, ws: Any, repo: Any) -> None:
        self.ws = ws
        self.repo = repo
        self._health: Any = False

    @property
    def health(self) -> dict[str, Any] | None:
        if self._health is False:
            self._health = g._daemon_health(self.ws)
        return self._health  # type: ignore[no-any-return]


#: every check, in the order they run and are reported (each declared once)
CHECKS: dict[str, Callable[[Context], Check]] = {
    "workspace": lambda cx: lo._workspace(cx.ws),
    "files": lambda cx: lo._files(cx.ws, cx.repo),
    "daemon": lambda cx: lo._daemon(cx.ws),
    "hooks": lambda cx: g._hooks(cx.ws, cx.repo),
    "jsonl": lambda cx: lo._jsonl(cx.ws),
    "gitignore": lambda cx: g._gitignore(cx.ws, cx.repo),
    "merge": lambda cx: g._merge(cx.ws, cx.repo),
    "index_lock": lambda cx: g._index_lock(cx.ws, cx.repo, cx.health),
    "autocommit": lambda cx: g._autocommit(cx.ws, cx.repo, cx.health),
}


def run(cwd: str | os.PathLike[str] | None = None, db: str | None = None, *, fix: bool = False) -> dict[str, Any]:
    """Run every check (and the safe fixes with ``fix``); returns ``{checks, ok, ...}``."""
    from ..githooks import install as h
    from ..workspace import find
    here = Path(cwd or os.getcwd())
    checks: list[Check] = []
    try:
        ws = find(db, here)
    except UnsafePathError as e:
        # the .beads/ found is refused (a link, another user's, world-writable): say so, and
        # make it private when it is only too open and ours
        c = lo._refused_dir(e)
        if fix and c._repair is not None:
            try:
                c.details["fix_result"] = c._repair()
                c.fixed = True
            except (BdError, OSError) as err:
                c.details["fix_error"] = str(err)
        if not c.fixed:
            return _result([c], None)
        try:
            ws = find(db, here)
        except BdError as err2:
            return _result([c, Check("workspace", ERROR, str(err2), err2.hint)], None)
        c.status = OK
        c.message = f"{e.path} was open to every user; it is private now"
        checks.append(c)
    except BdError as e:
        checks.append(Check("workspace", ERROR, str(e), e.hint))
        return _result(checks, None)
    try:
        repo: h.Repo | None = h.find_repo(ws.root)
    except GitError:
        repo = None
    cx = Context(ws, repo)
    checks.extend(check(cx) for check in CHECKS.values())
    if fix:
        for c in checks:
            if c.fixable and c._repair is not None and c.status != OK:
                try:
                    c.details["fix_result"] = c._repair()
                    c.fixed = True
                except (BdError, OSError) as e:
                    c.details["fix_error"] = str(e)
                    c.status = ERROR  # it was meant to be fixed and is not: never report success
        if any(c.fixed for c in checks):  # look again, so the report says how things are now
            fixed = {c.name: c for c in checks if c.fixed}
            again = Context(ws, repo)
            checks = [CHECKS[c.name](again) if c.name in fixed else c for c in checks]
            for c in checks:
                if c.name in fixed:
                    c.fixed = True
                    c.details["fix_result"] = fixed[c.name].details.get("fix_result")
    return _result(checks, ws)


def _result(checks: list[Check], ws: Any) -> dict[str, Any]:
    return {"workspace": str(ws.root) if ws is not None else None,
            "database": str(ws.db_path) if ws is not None else None,
            "bdgit_version": __version__, "ok": not any(c.status == ERROR for c in checks),
            "checks": [c.as_dict() for c in checks]}
