"""Command bodies for files, configuration, the daemon and set-up: export, import,
rename-prefix, info, config, daemon, version, init, quickstart. (Issue commands are in
commands.py, which re-exports these for the fast path.)"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from .. import BEADS_COMPAT_VERSION, __version__
from ..errors import UsageError
from . import render as r
from .commands import Globals, _read_text, emit

# --- files ---------------------------------------------------------------------------------

def export(g: Globals, fmt: str, output: str | None, status: str | None) -> int:
    if fmt != "jsonl":
        raise UsageError(f"unsupported format {fmt!r}: only jsonl")
    if output and output != "-":
        b = g.backend()
        target = Path(output).resolve()
        if target == Path(b.ws.jsonl_path).resolve() and not status:
            res = g.call("flush", {"full": True})
            if not g.json:
                r.err(f"Exported {res.get('issues', 0)} issues to {output}")
            else:
                emit(g, res)
            return 0
        if not g.json and hasattr(b, "progress"):  # a bar on a terminal, for a file target only
            b.progress = r.Progress("Exporting", enabled=True)
        data = g.call("export", {"status": status})
        from ..jsonl import atomic_write
        atomic_write(target, data["text"])
        if g.json:
            emit(g, {"count": data["count"], "path": str(target)})
        else:
            r.err(f"Exported {data['count']} issues to {output}")
        return 0
    data = g.call("export", {"status": status})
    sys.stdout.write(data["text"])
    return 0


def import_(g: Globals, input_path: str | None, skip_existing: bool, strict: bool,
            resolve_collisions: bool, dry_run: bool) -> int:
    src = input_path or "-"
    b = g.backend()
    if src != "-" and Path(src).resolve() == Path(b.ws.jsonl_path).resolve():
        args: dict[str, Any] = {"workspace": True}
    else:
        args = {"text": _read_text(src)}
    args.update(skip_existing=skip_existing or None, strict=strict or None,
                resolve_collisions=resolve_collisions or None, dry_run=dry_run or None)
    if not g.json and hasattr(b, "progress"):  # a bar on a terminal (never in --json or pipes)
        b.progress = r.Progress("Importing", enabled=True)
    res = g.call("import", args)
    if g.json:
        emit(g, res)
        return 0
    if res["collisions"]:
        r.err("=== Collision Detection Report ===")
        for c in res["collisions"]:
            new = res["remapped"].get(c["id"])
            r.err(f"  {c['id']}: incoming {c['incoming_title']!r} vs existing {c['existing_title']!r}"
                  + (f" -> imported as {new}" if new else ""))
    prefix = "Dry run: would import" if dry_run else "Import complete:"
    r.err(f"{prefix} {res['created']} created, {res['updated']} updated, {res['unchanged']} unchanged"
          + (f", {res['kept_newer']} kept (newer here)" if res["kept_newer"] else "")
          + (f", {res['deleted']} deleted" if res["deleted"] else "")
          + (f", {len(res['remapped'])} remapped" if res["remapped"] else ""))
    return 0


def rename_prefix(g: Globals, new_prefix: str, dry_run: bool) -> int:
    res = g.call("rename_prefix", {"new_prefix": new_prefix, "dry_run": dry_run or None})
    if g.json:
        emit(g, res)
    elif dry_run:
        r.out(f"Would rename {res['issues_count']} issues from {res['old_prefix']}- to {res['new_prefix']}-")
        for old, new in (res.get("sample") or {}).items():
            r.out(f"  {old} -> {new}")
    else:
        r.out(f"{r.green('✓')} Renamed {res['issues_count']} issues from {res['old_prefix']}- "
              f"to {res['new_prefix']}-")
    return 0


def info(g: Globals) -> int:
    data = g.call("info")
    data["mode"] = g.backend().mode
    if g.json:
        emit(g, data)
    else:
        for k, v in data.items():
            r.out(f"{k + ':':<18}{v}")
    return 0


def config_get(g: Globals, key: str) -> int:
    return config(g, "get", key, None)


def config_set(g: Globals, key: str, value: str) -> int:
    return config(g, "set", key, value)


def config_list(g: Globals) -> int:
    return config(g, "list", None, None)


def config(g: Globals, action: str, key: str | None, value: str | None) -> int:
    if action == "list":
        data = g.call("config_list")
    elif action == "get":
        if not key:
            raise UsageError("usage: bd config get KEY")
        data = g.call("config_get", {"key": key})
    elif action == "set":
        if not key or value is None:
            raise UsageError("usage: bd config set KEY VALUE")
        data = g.call("config_set", {"key": key, "value": value})
    else:
        raise UsageError(f"unknown config action {action!r}: use get, set or list")
    if g.json:
        emit(g, data)
    elif action == "list":
        for k, v in data.items():
            r.out(f"{k} = {v}")
    elif action == "get":
        r.out(data["value"] if data["value"] is not None else "")
    else:
        r.out(f"{r.green('✓')} Set {data['key']} = {data['value']}")
    return 0


# --- daemon ----------------------------------------------------------------------------------

def daemon(g: Globals, action: str | None, foreground: bool, interval: float | None,
           idle_timeout: float | None, auto_commit: bool, auto_push: bool, stop: bool, status: bool,
           lines: int) -> int:
    """``bd daemon [start|stop|status|restart|logs]``; bare ``bd daemon`` starts (as beads)."""
    from ..daemon import lifecycle as d
    from ..workspace import find
    ws = find(g.db)
    act = action or ("stop" if stop else "status" if status else "start")
    if act not in ("start", "stop", "status", "restart", "logs", "run"):
        raise UsageError(f"unknown daemon action {act!r}: use start, stop, status, restart or logs")
    opts: dict[str, Any] = {}
    if interval is not None:
        if interval < 0:
            raise UsageError("--interval must be >= 0 seconds")
        opts["flush_interval"] = interval
    if idle_timeout is not None:
        opts["idle_timeout"] = idle_timeout
    if auto_commit:
        opts["auto_commit"] = True
    if auto_push:
        opts["auto_push"] = True
    if act in ("start", "run") and (foreground or act == "run"):
        from ..daemon.process import run_foreground
        return run_foreground(ws, opts)
    if act == "start":
        st = d.start(ws, opts)
        if g.json:
            emit(g, st)
        elif st.get("already_running"):
            r.out(f"Daemon already running (PID {st.get('pid')}) for {ws.root}")
        else:
            r.out(f"{r.green('✓')} Daemon started (PID {st.get('pid')}); log: {st.get('log')}")
        return 0
    if act == "stop":
        st = d.stop(ws)
        if g.json:
            emit(g, st)
        elif st.get("stopped"):
            r.out(f"{r.green('✓')} Daemon stopped (PID {st.get('pid')})")
        else:
            r.out("No daemon is running")
        return 0
    if act == "restart":
        st = d.restart(ws, opts)
        if g.json:
            emit(g, st)
        else:
            r.out(f"{r.green('✓')} Daemon restarted (PID {st.get('pid')})")
        return 0
    if act == "logs":
        text = d.logs(ws, lines)
        if text:
            r.out(text)
        return 0
    st = d.status(ws)
    if g.json:
        emit(g, st)
    elif st["running"]:
        h = st.get("health") or {}
        r.out(f"{r.green('✓')} Daemon is running (PID {st.get('pid')})")
        r.out(f"  Version: bd {st.get('version')} (bdgit {st.get('bdgit_version')})")
        r.out(f"  Socket: {st.get('socket')}")
        r.out(f"  Started: {st.get('started_at')}")
        if h:
            r.out(f"  Uptime: {h.get('uptime_seconds', 0):.0f}s, {h.get('requests', 0)} requests, "
                  f"{h.get('dirty_issues', 0)} issue(s) waiting for export")
            for k in ("git", "git_waiting"):
                if h.get(k):
                    r.out(f"  Git: {h[k]}")
        elif not st.get("responding"):
            r.out(f"  {r.yellow('!')} it does not answer on its socket")
    else:
        r.out("Daemon is not running")
    return 0


# --- no database needed ---------------------------------------------------------------------

def version(g: Globals) -> int:
    if g.json:
        emit(g, {"version": BEADS_COMPAT_VERSION, "build": "bdgit", "bdgit_version": __version__})
    else:
        # beads-mcp and other clients take the first X.Y.Z: it must be the beads version.
        r.out(f"bd version {BEADS_COMPAT_VERSION} (bdgit {__version__})")
    return 0


def init(g: Globals, prefix: str | None, quiet: bool, hooks: bool = False, no_hooks: bool = False) -> int:
    from ..workspace.initialize import init_workspace
    from .hooks_cmd import init_hooks, print_init_hooks
    res = init_workspace(Path.cwd(), prefix, actor=g.actor, db=g.db)
    hk = init_hooks(res, True if hooks else False if no_hooks else None, quiet)
    if hk is not None:
        res["hooks"] = hk
    if g.json:
        emit(g, res)
    elif not quiet:
        r.out()
        r.out(f"{r.green('✓')} bd initialized successfully!")
        r.out()
        r.out(f"  Database: {res['database']}")
        r.out(f"  Issue prefix: {res['prefix']}")
        r.out(f"  Issues will be named: {res['prefix']}-1, {res['prefix']}-2, ...")
        if res.get("imported"):
            r.out(f"  Imported {res['imported']} issues from {res['jsonl']}")
        print_init_hooks(hk, Path(res["database"]).parent.parent)
        r.out()
    return 0


QUICKSTART = """
bd - a git-backed issue tracker for agents and humans

  bd init                      set up .beads/ in this project
  bd create "Fix login" -p 1   new issue (priority 0-4, 0 highest)
  bd create "Write tests" --deps blocks:bd-1
  bd ready                     what can be worked on now (nothing open blocks it)
  bd update bd-2 --status in_progress
  bd dep add bd-3 bd-2         bd-3 depends on bd-2 (type blocks)
  bd dep tree bd-3             what bd-3 waits for
  bd blocked                   what waits, and on what
  bd close bd-2 --reason "done"
  bd list --status open --json machine-readable output for agents

Dependency types: blocks (hard), parent-child (a blocked parent blocks its children),
related, discovered-from. Issues live in .beads/ (SQLite) and .beads/issues.jsonl, the file
git carries between clones; a daemon (bd daemon start) serialises many agents at once.
"""


def quickstart(g: Globals) -> int:
    r.out(QUICKSTART.rstrip())
    return 0


# bd hooks / bd doctor live in their own module; named here for the fast path (genspec).
