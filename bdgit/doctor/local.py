"""The doctor's checks of the workspace itself: the database, the files of ``.beads/``, the
daemon, the JSONL."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import BdError, ImportFormatError, UnsafePathError
from .base import ERROR, OK, WARN, Check, short


def _workspace(ws: Any) -> Check:
    from ..store import Store
    try:
        store = Store(ws.db_path)
    except Exception as e:
        return Check("workspace", ERROR, f"cannot open {ws.db_path}: {e}",
                     "check the file's permissions; 'bd init' creates a database")
    try:
        n = store.conn.execute("SELECT count(*) AS n FROM issues").fetchone()["n"]
    finally:
        store.close()
    return Check("workspace", OK, f"{short(ws.db_path, ws.root)}: {n} issue(s), prefix {_prefix(ws)}")


def _refused_dir(e: UnsafePathError) -> Check:
    """The check for a ``.beads/`` that discovery refused."""
    from ..workspace import audit
    found = audit.unsafe_entries(Path(e.path)) if e.path else []
    fixable = bool(found) and found[0].fixable
    return Check("files", ERROR, e.message, e.hint if not fixable else "--fix makes it private (0700)",
                 fixable=fixable, _repair=(lambda: _make_private(Path(e.path))) if fixable else None)


def _make_private(path: Path) -> str:
    from ..workspace import safefs
    return f"made {path} private (0700)" if safefs.make_private(path) else f"{path} was private already"


def _files(ws: Any, repo: Any) -> Check:
    """What in ``.beads/`` bd refuses to use, and what git tracks there that is machine-local."""
    from ..workspace import audit
    found = audit.unsafe_entries(ws.beads_dir)
    tracked: list[str] = []
    if repo is not None:
        from ..gitsync.env import git
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
        listing = "; ".join(f"{short(Path(f.path), ws.root)} {f.problem}" for f in found)
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
    from ..workspace.config import read_config
    return read_config(ws, "issue_prefix") or "?"


def _daemon(ws: Any) -> Check:
    from ..daemon import lifecycle as d
    from ..workspace import statefile
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
    from ..daemon import lifecycle as d
    st = d.restart(ws)
    return f"restarted (pid {st.get('pid')})"


def _clean_daemon_files(ws: Any) -> str:
    from ..daemon import lifecycle as d
    from ..workspace import statefile
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


def _jsonl(ws: Any) -> Check:
    from .. import jsonl
    from ..githooks.run import has_conflict_markers
    from ..store import Store
    path = ws.jsonl_path
    rel = short(path, ws.root)
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
            from ..jsonl.files import broken_file_hint
            msg = e.message if e.message.startswith(str(path)) else f"{rel}: {e.message}"
            return Check("jsonl", ERROR, f"{msg}; every bd command refuses it until it is fixed",
                         e.hint or broken_file_hint(path, e.line), details={"line": e.line})
        return Check("jsonl", WARN, f"{rel} changed since the database last read it (a pull, merge or edit); "
                     "bd imports it before its next command",
                     "any bd command imports it (newer wins per issue); --fix imports it now",
                     fixable=True, _repair=lambda: _sync(ws))
    if dirty or not path.exists():
        from ..daemon.lifecycle import lock_held
        what = f"{dirty} issue change(s) are not in {rel} yet" if dirty else f"{rel} does not exist"
        when = ("the daemon writes them within its flush interval" if lock_held(ws) else
                "written with --no-auto-flush, or a bd process stopped before its flush")
        return Check("jsonl", WARN, f"{what} ({when})",
                     "the next bd write (or the pre-commit hook) writes them; --fix does it now", fixable=True,
                     _repair=lambda: _sync(ws))
    return Check("jsonl", OK, f"{rel} is in sync with the database")


def _sync(ws: Any) -> str:
    """Import a changed JSONL, then flush (through the daemon when one answers)."""
    from ..daemon import lifecycle as d
    if d.lock_held(ws):
        from ..rpc.client import Client
        from ..rpc.protocol import find_socket
        with Client(find_socket(ws.beads_dir), timeout=60.0, actor="doctor") as c:
            if ws.jsonl_path.exists():
                c.execute("import", {"workspace": True})
            c.execute("flush")
        return "the daemon imported and flushed"
    from .. import jsonl
    from ..backends.direct import DirectBackend
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


