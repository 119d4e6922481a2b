"""The doctor's checks of git: hooks, ignore rules, the merge state and driver, a long-held
index.lock, where auto-committed issue changes land."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from ..errors import BdError
from .base import ERROR, OK, WARN, Check, short

#: machine-local files that must never be committed (representatives of init's .gitignore)
_LOCAL_FILES = ("{db}", "{db}-wal", "{db}-shm", "bd.sock", "bd.lock", "bd.state", "bd.hookstate",
                "daemon.json", "daemon.log", "daemon.lock")


def _hooks(ws: Any, repo: Any) -> Check:
    from ..githooks import install as h
    if repo is None:
        return Check("hooks", OK, "not a git repository: no git hooks to check")
    if repo.top != ws.root.resolve():
        return Check("hooks", WARN, f".beads/ is in {ws.root}, not at the top of the work tree ({repo.top}); "
                     "bd's git hooks act on the top's .beads/ only",
                     "keep .beads/ at the repository's top to use the hooks")
    st = h.status(repo)
    where = short(repo.hooks_dir, repo.top)
    missing = [x["hook"] for x in st["hooks"] if x["state"] in ("missing", "foreign")]
    outdated = [x["hook"] for x in st["hooks"] if x["state"] == "outdated"]
    tracked = [x for x in st["hooks"] if x["state"] == "tracked"]
    chained = {x["hook"]: x["chained"] for x in st["hooks"] if x.get("chained")}
    details = {"hooks_dir": str(repo.hooks_dir), "hooks": st["hooks"]}
    if missing or outdated:
        parts = []
        if missing:
            parts.append(f"not installed: {', '.join(missing)}")
        if outdated:
            parts.append(f"out of date: {', '.join(outdated)}")
        foreign = [x["hook"] for x in st["hooks"] if x["state"] == "foreign"]
        extra = f" ({', '.join(foreign)} of another tool would be chained: run first, kept)" if foreign else ""
        return Check("hooks", WARN, f"in {where}: {'; '.join(parts)}{extra}. Without them the JSONL is not "
                     "staged on commit nor imported after a merge.",
                     "'bd hooks install' (--fix does it; existing hooks are chained, not replaced)",
                     fixable=True, _repair=lambda: _install_hooks(repo), details=details)
    if tracked:
        return Check("hooks", WARN, "; ".join(x["message"] for x in tracked),
                     "add the line shown to each shared hook", details=details)
    msg = f"installed in {where}"
    if chained:
        msg += "; chained: " + ", ".join(f"{k} runs the {v} hook first" for k, v in chained.items())
    return Check("hooks", OK, msg, details=details)


def _install_hooks(repo: Any) -> str:
    from ..githooks import install as h
    res = h.install(repo)
    if res["errors"]:
        raise BdError("; ".join(f"{k}: {v}" for k, v in res["errors"].items()))
    return f"installed {', '.join(res['installed'] + res['updated']) or 'nothing new'}"


def _gitignore(ws: Any, repo: Any) -> Check:
    from ..gitsync.env import git
    from ..workspace.initialize import GITIGNORE
    if repo is None:
        return Check("gitignore", OK, "not a git repository: nothing to ignore")
    names = [n.format(db=ws.db_path.name) for n in _LOCAL_FILES]
    rels = [Path(os.path.relpath(ws.beads_dir / n, repo.top)).as_posix() for n in names]
    p = git(["check-ignore", "--no-index", "--", *rels], repo.top)
    ignored = set(p.stdout.splitlines())
    missing = [r for r in rels if r not in ignored]
    jrel = Path(os.path.relpath(ws.jsonl_path, repo.top)).as_posix()
    if git(["check-ignore", "--no-index", "-q", "--", jrel], repo.top).returncode == 0:
        return Check("gitignore", ERROR, f"{jrel} is ignored by git: your issues would not travel with the "
                     "repository", "remove the .gitignore rule that matches it ('git check-ignore -v "
                     f"{jrel}' shows which)")
    tracked = git(["ls-files", "--", *rels], repo.top).stdout.split()
    if missing:
        gi = ws.beads_dir / ".gitignore"
        return Check("gitignore", WARN, f"not ignored: {', '.join(missing)} (machine-local files "
                     "that must not be committed)",
                     f"--fix adds the missing lines to {short(gi, repo.top)}", fixable=True,
                     _repair=lambda: _add_ignores(ws, GITIGNORE))
    if tracked:
        return Check("gitignore", WARN, f"ignored but already committed: {', '.join(tracked)}",
                     "stop tracking them with 'git rm --cached <path>' (that keeps your files)")
    return Check("gitignore", OK, "the database, socket, lock, state and daemon files are ignored")


def _add_ignores(ws: Any, template: str) -> str:
    gi = ws.beads_dir / ".gitignore"
    have = gi.read_text(encoding="utf-8").splitlines() if gi.exists() else []
    add = [ln for ln in template.splitlines() if ln.strip() and not ln.startswith("#") and ln not in have]
    if not add:
        return "nothing to add"
    text = ("\n".join(have) + "\n" if have else "") + "# added by bd doctor --fix\n" + "\n".join(add) + "\n"
    gi.write_text(text, encoding="utf-8")
    return f"added {', '.join(add)} to {gi.name}"


def _merge(ws: Any, repo: Any) -> Check:
    from ..gitsync.env import git
    if repo is None:
        return Check("merge", OK, "not a git repository")
    jrel = Path(os.path.relpath(ws.jsonl_path, repo.top)).as_posix()
    unmerged = git(["ls-files", "-u", "--", jrel], repo.top).stdout.strip()
    from ..gitsync.env import IN_PROGRESS
    ops = [what for name, what in IN_PROGRESS if (repo.git_dir / name).exists()]
    if unmerged:
        what = ops[0] if ops else "a merge is in progress"
        return Check("merge", ERROR, f"{jrel} has unresolved merge conflicts ({what})",
                     "keep the lines of both sides (for the same id, the one with the later "
                     f"updated_at), delete the markers, 'git add {jrel}', then finish with 'git commit' "
                     "(or 'git rebase --continue')")
    if ops:
        return Check("merge", WARN, f"{ops[0]}: the daemon does not commit until it ends",
                     "finish it (or abort it) with git as usual")
    from ..replication import driver
    if not driver.installed(repo.top, ws.jsonl_path):
        return Check("merge", WARN, f"git does not merge {jrel} with bd's merge driver: a merge of two "
                     "branches that both changed issues leaves conflict markers in it",
                     "'bd hooks install' (or 'bd doctor --fix') registers it", fixable=True,
                     _repair=lambda: ", ".join(driver.install(repo.top, ws.jsonl_path)) or "already registered")
    return Check("merge", OK, "no merge, rebase or cherry-pick in progress; the JSONL has bd's merge driver")


#: an index.lock older than this (seconds) is reported
LOCK_STALE_AFTER = 10.0


def _daemon_health(ws: Any) -> dict[str, Any] | None:
    """The running daemon's ``health`` (None when no daemon answers)."""
    from ..daemon import lifecycle as d
    if not d.lock_held(ws):
        return None
    return d._ping(ws)


def _waiting(health: dict[str, Any] | None) -> tuple[str, float] | None:
    """(what the daemon's git agent waits for, for how many seconds), or None."""
    gs = (health or {}).get("git_state") or {}
    if not gs.get("waiting"):
        return None
    return str(gs["waiting"]), float(gs.get("waiting_seconds") or 0.0)


def _index_lock(ws: Any, repo: Any, health: dict[str, Any] | None) -> Check:
    from ..gitsync import busy
    if repo is None:
        return Check("index_lock", OK, "not a git repository")
    lock = repo.git_dir / "index.lock"
    rel = short(lock, repo.top)
    try:
        age = max(time.time() - lock.stat().st_mtime, 0.0)
    except OSError:
        return Check("index_lock", OK, f"{rel} is not held")
    details: dict[str, Any] = {"path": str(lock), "age_seconds": round(age, 1)}
    procs = None
    if busy.proc_available():
        procs = busy.Watcher(repo.top, repo.git_dir, repo.common_dir, every=True).processes()
        details["git_processes"] = [{"pid": p.pid, "command": " ".join(p.argv)} for p in procs]
    if age < LOCK_STALE_AFTER:
        return Check("index_lock", OK, f"{rel} is held ({age:.1f}s): a git command is running", details=details)
    wait = _waiting(health)
    daemon = ""
    if wait and ("index.lock" in wait[0] or wait[0].startswith("your git is busy")):
        daemon = f" The daemon has been waiting {wait[1]:.0f}s for it to commit issue changes."
        details["daemon_waiting_seconds"] = wait[1]
    if procs:
        who = ", ".join(f"git {p.command} (pid {p.pid})" for p in procs[:3])
        return Check("index_lock", WARN,
                     f"{rel} has existed for {age:.0f}s; {who} still runs in this repository and probably holds "
                     f"it (an editor waiting for a commit message, a long rebase). Until it is gone, git commands "
                     f"that change the index fail.{daemon}",
                     "finish or quit that git command; the lock goes with it", details=details)
    alone = ("no git process runs in this repository, so it is probably stale: left by a git that crashed "
             "or was killed" if procs is not None else
             "it may be stale (left by a git that crashed or was killed), or held by a git still running "
             "(an editor waiting for a commit message)")
    return Check("index_lock", WARN,
                 f"{rel} has existed for {age:.0f}s; {alone}. Until it is gone, git commands that change the "
                 f"index fail.{daemon}",
                 "make sure no git command is still running here (another terminal, an IDE, an editor open on "
                 "a commit message); only then is the file safe to remove, as git's own message says. bd never "
                 "removes it", details=details)


def _autocommit(ws: Any, repo: Any, health: dict[str, Any] | None) -> Check:
    from ..githooks import install as h
    from ..workspace.config import read_config
    gs = (health or {}).get("git_state")
    if gs is not None:
        on, branch = bool(gs.get("auto_commit")), gs.get("sync_branch")
        interval = gs.get("interval")
    else:
        on = (read_config(ws, "daemon.auto_commit") or "").lower() in ("1", "true", "yes", "on")
        branch = (read_config(ws, "sync.branch") or "").strip() or None
        interval = None
    if repo is None or not on:
        return Check("autocommit", OK, "auto-commit off: issue changes go into your own commits (the pre-commit "
                     "hook stages the JSONL)" if repo is not None else "not a git repository")
    if branch:
        return Check("autocommit", OK, f"auto-commit to the sync branch {branch}: bd never touches HEAD, the "
                     "index or your branch")
    every = f"at most one commit per {interval:g}s" if interval is not None else "coalesced"
    wait = _waiting(health)
    if wait and wait[1] >= LOCK_STALE_AFTER and "index.lock" not in wait[0]:
        return Check("autocommit", WARN, f"the daemon has been waiting {wait[1]:.0f}s to commit issue changes: "
                     f"{wait[0]}", "nothing is lost meanwhile (the JSONL is current); the commit follows when "
                     "that ends", details={"waiting": wait[0], "waiting_seconds": wait[1]})
    installed = h.status(repo)["installed"] if repo.top == ws.root.resolve() else False
    if not installed:
        from ..gitsync.busy import proc_available
        seen = ("On this system the daemon also watches for git processes in this repository, which closes "
                "most of that window; the hooks close it for commands it cannot see (other users, containers)."
                if proc_available() else
                "Nothing else tells the daemon here (no /proc to watch git processes in).")
        return Check("autocommit", WARN,
                     "the daemon commits issue changes on your branch, but bd's git hooks are not installed, so git "
                     "cannot tell it when your git commit, merge or rebase runs: a daemon commit that lands "
                     "between your git commit reading HEAD and updating it makes that commit fail ('cannot lock "
                     f"ref HEAD'). {seen}",
                     "install the hooks ('bd hooks install'; --fix on the hooks check does it), or keep issues on "
                     "a sync branch, where bd never touches HEAD or the index: bd config set sync.branch beads-sync")
    return Check("autocommit", OK, f"auto-commit on your branch ({every}); the hooks tell the daemon when your "
                 "git runs, and it waits for it; your commits carry only what you staged")


