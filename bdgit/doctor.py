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
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import __version__
from .errors import BdError, GitError, ImportFormatError, UnsafePathError

OK, WARN, ERROR = "ok", "warn", "error"

#: machine-local files that must never be committed (representatives of init's .gitignore)
_LOCAL_FILES = ("{db}", "{db}-wal", "{db}-shm", "bd.sock", "bd.lock", "bd.state", "bd.hookstate",
                "daemon.json", "daemon.log", "daemon.lock")


@dataclass
class Check:
    name: str
    status: str
    message: str
    fix: str | None = None          # what to do (or what --fix does)
    fixable: bool = False           # --fix can do it safely
    fixed: bool = False
    details: dict[str, Any] = field(default_factory=dict)
    _repair: Callable[[], str] | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("_repair", None)
        if not d["details"]:
            d.pop("details")
        return d


def run(cwd: str | os.PathLike[str] | None = None, db: str | None = None, *, fix: bool = False) -> dict[str, Any]:
    """Run every check (and the safe fixes with ``fix``); returns ``{checks, ok, ...}``."""
    from .githooks import install as h
    from .workspace import find
    here = Path(cwd or os.getcwd())
    checks: list[Check] = []
    try:
        ws = find(db, here)
    except UnsafePathError as e:
        # the .beads/ found is refused (a link, another user's, world-writable): say so, and
        # make it private when it is only too open and ours
        c = _refused_dir(e)
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
    checks.append(_workspace(ws))
    checks.append(_files(ws, repo))
    checks.append(_daemon(ws))
    checks.append(_hooks(ws, repo))
    checks.append(_jsonl(ws))
    checks.append(_gitignore(ws, repo))
    checks.append(_merge(ws, repo))
    health = _daemon_health(ws)
    checks.append(_index_lock(ws, repo, health))
    checks.append(_autocommit(ws, repo, health))
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
            checks = [_recheck(c.name, ws, repo) if c.name in fixed else c for c in checks]
            for c in checks:
                if c.name in fixed:
                    c.fixed = True
                    c.details["fix_result"] = fixed[c.name].details.get("fix_result")
    return _result(checks, ws)


def _recheck(name: str, ws: Any, repo: Any) -> Check:
    return {"workspace": lambda: _workspace(ws), "files": lambda: _files(ws, repo), "daemon": lambda: _daemon(ws),
            "hooks": lambda: _hooks(ws, repo), "jsonl": lambda: _jsonl(ws),
            "gitignore": lambda: _gitignore(ws, repo), "merge": lambda: _merge(ws, repo),
            "index_lock": lambda: _index_lock(ws, repo, _daemon_health(ws)),
            "autocommit": lambda: _autocommit(ws, repo, _daemon_health(ws))}[name]()


def _result(checks: list[Check], ws: Any) -> dict[str, Any]:
    return {"workspace": str(ws.root) if ws is not None else None,
            "database": str(ws.db_path) if ws is not None else None,
            "bdgit_version": __version__, "ok": not any(c.status == ERROR for c in checks),
            "checks": [c.as_dict() for c in checks]}


# --- the checks ------------------------------------------------------------------------------

def _workspace(ws: Any) -> Check:
    from .store import Store
    try:
        store = Store(ws.db_path)
    except Exception as e:
        return Check("workspace", ERROR, f"cannot open {ws.db_path}: {e}",
                     "check the file's permissions; 'bd init' creates a database")
    try:
        n = store.conn.execute("SELECT count(*) AS n FROM issues").fetchone()["n"]
    finally:
        store.close()
    return Check("workspace", OK, f"{_short(ws.db_path, ws.root)}: {n} issue(s), prefix {_prefix(ws)}")


def _refused_dir(e: UnsafePathError) -> Check:
    """The check for a ``.beads/`` that discovery refused."""
    from .workspace import audit
    found = audit.unsafe_entries(Path(e.path)) if e.path else []
    fixable = bool(found) and found[0].fixable
    return Check("files", ERROR, e.message, e.hint if not fixable else "--fix makes it private (0700)",
                 fixable=fixable, _repair=(lambda: _make_private(Path(e.path))) if fixable else None)


def _make_private(path: Path) -> str:
    from .workspace import safefs
    return f"made {path} private (0700)" if safefs.make_private(path) else f"{path} was private already"


def _files(ws: Any, repo: Any) -> Check:
    """What in ``.beads/`` bd refuses to use, and what git tracks there that is machine-local."""
    from .workspace import audit
    found = audit.unsafe_entries(ws.beads_dir)
    tracked: list[str] = []
    if repo is not None:
        from .gitsync.env import git
        rel = Path(os.path.relpath(ws.beads_dir, repo.top)).as_posix()
        out = git(["ls-files", "-z", "--", rel], repo.top).stdout
        names = [n[len(rel) + 1:] if n.startswith(rel + "/") else n for n in out.split("\0") if n]
        tracked = [f"{rel}/{n}" for n in audit.tracked_runtime_files(names, {ws.jsonl_path.name})]
    root_open = False
    try:
        root_open = bool(os.stat(ws.root).st_mode & 0o002)
    except OSError:
        pass
    details: dict[str, Any] = {}
    if found:
        details["unsafe"] = [{"path": f.path, "problem": f.problem} for f in found]
    if tracked:
        details["tracked"] = tracked
    if found:
        listing = "; ".join(f"{_short(Path(f.path), ws.root)} {f.problem}" for f in found)
        fix = next((f for f in found if f.fixable), None)
        return Check("files", ERROR, f"bd refuses files in .beads/: {listing}",
                     "--fix makes .beads/ private (0700)" if fix else
                     "move each one away (bd creates its own files as it needs them)",
                     fixable=fix is not None, details=details,
                     _repair=(lambda: _make_private(ws.beads_dir)) if fix else None)
    if tracked:
        return Check("files", WARN, f"git tracks machine-local files in .beads/: {', '.join(tracked)} (only the "
                     "JSONL, .gitignore, .gitattributes and the tracked config belong in git; a clone that "
                     "commits a database, lock, state or pointer file can plant things)",
                     "stop tracking them with 'git rm --cached <path>' (that keeps your files)", details=details)
    if root_open:
        return Check("files", WARN, f"{ws.root} is writable by every user: they could replace .beads/ as a whole",
                     f"make it private: chmod o-w {ws.root}")
    return Check("files", OK, ".beads/ is private to you; nothing in it is a link, a special file or another user's")


def _prefix(ws: Any) -> str:
    from .workspace.config import read_config
    return read_config(ws, "issue_prefix") or "?"


def _daemon(ws: Any) -> Check:
    from .daemon import lifecycle as d
    from .workspace import statefile
    st = d.status(ws)
    if st.get("running"):
        pid = st.get("pid")
        if not st.get("responding"):
            return Check("daemon", ERROR, f"a daemon (pid {pid}) holds the lock but does not answer on its socket",
                         "look at 'bd daemon logs'; 'bd daemon restart' replaces it (it flushes first)",
                         details={"pid": pid})
        theirs = st.get("bdgit_version")
        if theirs != __version__:
            return Check("daemon", WARN, f"the daemon (pid {pid}) runs bdgit {theirs}; this bd is bdgit {__version__}",
                         "restart it with this version ('bd daemon restart'; --fix does, it flushes first)",
                         fixable=True, _repair=lambda: _restart(ws), details={"pid": pid})
        return Check("daemon", OK, f"running (pid {pid}, bdgit {theirs}), answering", details={"pid": pid})
    stale = [p.name for p in (d.status_path(ws), ws.beads_dir / "bd.sock", ws.beads_dir / "bd.sock.path")
             if p.exists() or p.is_symlink()]
    state = statefile.read(ws.state_path)
    if state is not None and state.pid:
        stale.append(f"{ws.state_path.name} (pid {state.pid})")
    if stale:
        return Check("daemon", WARN, f"not running, but files of a dead daemon remain: {', '.join(stale)}",
                     "they are harmless hints (the next start replaces them); --fix removes them",
                     fixable=True, _repair=lambda: _clean_daemon_files(ws))
    return Check("daemon", OK, "not running (bd works in direct mode; 'bd daemon start' serves many agents)")


def _restart(ws: Any) -> str:
    from .daemon import lifecycle as d
    st = d.restart(ws)
    return f"restarted (pid {st.get('pid')})"


def _clean_daemon_files(ws: Any) -> str:
    from .daemon import lifecycle as d
    from .workspace import statefile
    if d.lock_held(ws):
        return "a daemon started meanwhile; left its files alone"
    d.cleanup_files(ws)
    st = statefile.read(ws.state_path)
    if st is not None and st.pid and not d.lock_held(ws):
        w = statefile.Writer(ws.state_path)
        try:
            w.update(pid=0)
        finally:
            w.close()
    return "removed the stale daemon files"


def _hooks(ws: Any, repo: Any) -> Check:
    from .githooks import install as h
    if repo is None:
        return Check("hooks", OK, "not a git repository: no git hooks to check")
    if repo.top != ws.root.resolve():
        return Check("hooks", WARN, f".beads/ is in {ws.root}, not at the top of the work tree ({repo.top}); "
                     "bd's git hooks act on the top's .beads/ only",
                     "keep .beads/ at the repository's top to use the hooks")
    st = h.status(repo)
    where = _short(repo.hooks_dir, repo.top)
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
    from .githooks import install as h
    res = h.install(repo)
    if res["errors"]:
        raise BdError("; ".join(f"{k}: {v}" for k, v in res["errors"].items()))
    return f"installed {', '.join(res['installed'] + res['updated']) or 'nothing new'}"


def _jsonl(ws: Any) -> Check:
    from . import jsonl
    from .githooks.run import has_conflict_markers
    from .store import Store
    path = ws.jsonl_path
    rel = _short(path, ws.root)
    if has_conflict_markers(path):
        return Check("jsonl", ERROR, f"{rel} holds git conflict markers: bd cannot import it",
                     "edit it: keep the lines of both sides (one issue per line; for the same id the one "
                     "with the later updated_at), delete the marker lines, then run any bd command")
    store = Store(ws.db_path)
    try:
        dirty = store.dirty_count()
        changed = jsonl.needs_import(store, path, update=False)
    except BdError as e:
        return Check("jsonl", ERROR, f"cannot compare {rel} with the database: {e}", e.hint)
    finally:
        store.close()
    if changed:
        try:
            jsonl.parse(jsonl.read_jsonl(path))
        except ImportFormatError as e:  # a hand-broken line: every bd command refuses it
            from .jsonl.files import broken_file_hint
            msg = e.message if e.message.startswith(str(path)) else f"{rel}: {e.message}"
            return Check("jsonl", ERROR, f"{msg}; every bd command refuses it until it is fixed",
                         e.hint or broken_file_hint(path, e.line), details={"line": e.line})
        return Check("jsonl", WARN, f"{rel} changed since the database last read it (a pull, merge or edit); "
                     "bd imports it before its next command",
                     "any bd command imports it (newer wins per issue); --fix imports it now",
                     fixable=True, _repair=lambda: _sync(ws))
    if dirty or not path.exists():
        from .daemon.lifecycle import lock_held
        what = f"{dirty} issue change(s) are not in {rel} yet" if dirty else f"{rel} does not exist"
        when = ("the daemon writes them within its flush interval" if lock_held(ws) else
                "written with --no-auto-flush, or a bd process stopped before its flush")
        return Check("jsonl", WARN, f"{what} ({when})",
                     "the next bd write (or the pre-commit hook) writes them; --fix does it now", fixable=True,
                     _repair=lambda: _sync(ws))
    return Check("jsonl", OK, f"{rel} is in sync with the database")


def _sync(ws: Any) -> str:
    """Import a changed JSONL, then flush (through the daemon when one answers)."""
    from .daemon import lifecycle as d
    if d.lock_held(ws):
        from .rpc.client import Client
        from .rpc.protocol import find_socket
        with Client(find_socket(ws.beads_dir), timeout=60.0, actor="doctor") as c:
            if ws.jsonl_path.exists():
                c.execute("import", {"workspace": True})
            c.execute("flush")
        return "the daemon imported and flushed"
    from . import jsonl
    from .backends.direct import DirectBackend
    b = DirectBackend(ws, "doctor")
    try:
        did = []
        if jsonl.needs_import(b.store, ws.jsonl_path):
            r = b.call("import", {"workspace": True})
            did.append(f"imported ({r['created']} created, {r['updated']} updated, {r['deleted']} deleted)")
        if b.store.dirty_count() or not ws.jsonl_path.exists():
            r = b.call("flush")
            did.append(f"flushed {r.get('changed', 0)} issue(s)")
        return "; ".join(did) or "already in sync"
    finally:
        b.close()


def _gitignore(ws: Any, repo: Any) -> Check:
    from .gitsync.env import git
    from .workspace.initialize import GITIGNORE
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
                     f"--fix adds the missing lines to {_short(gi, repo.top)}", fixable=True,
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
    from .gitsync.env import git
    if repo is None:
        return Check("merge", OK, "not a git repository")
    jrel = Path(os.path.relpath(ws.jsonl_path, repo.top)).as_posix()
    unmerged = git(["ls-files", "-u", "--", jrel], repo.top).stdout.strip()
    from .gitsync.env import IN_PROGRESS
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
    from .replication import driver
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
    from .daemon import lifecycle as d
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
    from .gitsync import busy
    if repo is None:
        return Check("index_lock", OK, "not a git repository")
    lock = repo.git_dir / "index.lock"
    rel = _short(lock, repo.top)
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
    from .githooks import install as h
    from .workspace.config import read_config
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
        from .gitsync.busy import proc_available
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


def _short(p: Path, root: Path) -> str:
    try:
        return os.path.relpath(p, root) if Path(root) in Path(p).resolve().parents or p == root else str(p)
    except ValueError:
        return str(p)
