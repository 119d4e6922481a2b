"""What each ``bd`` command does, independent of how its arguments were parsed.

Both the typer app and the fast path call these functions with the parsed parameters.
Each returns an exit code; core errors propagate to ``main`` which reports them. This module
imports nothing heavy: the backend decides what to load.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from .. import BEADS_COMPAT_VERSION, __version__
from ..errors import BdError, UsageError
from . import render as r


class Globals:
    """The global flags of one bd invocation, and the backend they select (made lazily).

    A plain class, not a dataclass: importing dataclasses costs the hot path ~4 ms."""

    def __init__(self) -> None:
        self.db: str | None = None
        self.actor: str | None = None
        self.json = False
        self.no_daemon = False
        self.no_auto_flush = False
        self.no_auto_import = False
        self.timeout: float | None = None
        self._backend: Any = None

    def backend(self) -> Any:
        if self._backend is None:
            from ..backend import connect
            self._backend = connect(self)
        return self._backend

    def call(self, op: str, args: dict[str, Any] | None = None) -> Any:
        b = self.backend()
        try:
            return b.call(op, {k: v for k, v in (args or {}).items() if v is not None})
        finally:
            for note in b.notices:
                r.err(f"{r.yellow('!')} {note}")
            b.notices.clear()


def emit(g: Globals, data: Any) -> None:
    from ..model import dumps_pretty
    sys.stdout.write(dumps_pretty(data) + "\n")


def _csv(values: list[str] | None) -> list[str]:
    out: list[str] = []
    for v in values or []:
        out.extend(x.strip() for x in v.split(",") if x.strip())
    return out


def _read_text(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"file not found: {path}") from None
    except UnicodeDecodeError as e:
        raise UsageError(f"{path} is not UTF-8 text: {e}") from None


# --- issues --------------------------------------------------------------------------------

def create(g: Globals, title: str | None, file: str | None, description: str | None, design: str | None,
           acceptance: str | None, notes: str | None, priority: str | None, issue_type: str | None,
           assignee: str | None, labels: list[str] | None, issue_id: str | None, external_ref: str | None,
           deps: list[str] | None, estimate: int | None, force: bool = False) -> int:
    if file:
        if title:
            raise UsageError("give either a title or --file, not both")
        from ..markdown import parse_markdown
        items = parse_markdown(_read_text(file), file)
        res = g.call("batch", {"operations": [{"operation": "create", "args": it} for it in items]})
        created = [x["data"] for x in res["results"]]
        if g.json:
            emit(g, created)
        else:
            for issue in created:
                r.created(issue)
            r.out(f"\nCreated {len(created)} issues from {file}")
        return 0
    if not title or not title.strip():
        raise UsageError("a title is required: bd create \"Title\" [flags]")
    if description == "-":
        description = sys.stdin.read()
    issue = g.call("create", {
        "title": title, "description": description, "design": design, "acceptance_criteria": acceptance,
        "notes": notes, "priority": priority, "issue_type": issue_type, "assignee": assignee,
        "labels": _csv(labels) or None, "id": issue_id, "external_ref": external_ref,
        "dependencies": _csv(deps) or None, "estimated_minutes": estimate, "force": force or None,
    })
    if g.json:
        emit(g, issue)
    else:
        r.created(issue)
    return 0


def show(g: Globals, ids: list[str]) -> int:
    if not ids:
        raise UsageError("give at least one issue ID: bd show ID [ID...]")
    data = g.call("show", {"ids": ids} if len(ids) > 1 else {"id": ids[0]})
    if g.json:
        emit(g, data)
        return 0
    for issue in data if isinstance(data, list) else [data]:
        r.issue_detail(issue)
    return 0


def list_(g: Globals, status: str | None, priority: str | None, issue_type: str | None,
          assignee: str | None, labels: list[str] | None, labels_any: list[str] | None, title: str | None,
          search: str | None, limit: int, sort: str | None, reverse: bool, no_assignee: bool,
          parent: str | None) -> int:
    issues = g.call("list", {
        "status": status, "priority": priority, "issue_type": issue_type, "assignee": assignee,
        "labels": _csv(labels) or None, "labels_any": _csv(labels_any) or None, "title": title,
        "query": search, "limit": limit or None, "sort": sort, "reverse": reverse or None,
        "no_assignee": no_assignee or None, "parent": parent,
    })
    if g.json:
        emit(g, issues)
    else:
        r.issue_list(issues)
    return 0


def update(g: Globals, ids: list[str], status: str | None, priority: str | None, title: str | None,
           assignee: str | None, description: str | None, design: str | None, notes: str | None,
           acceptance: str | None, issue_type: str | None, external_ref: str | None, estimate: int | None,
           claim: bool) -> int:
    if not ids:
        raise UsageError("give at least one issue ID: bd update ID [flags]")
    fields = {"status": status, "priority": priority, "title": title, "assignee": assignee,
              "description": description, "design": design, "notes": notes,
              "acceptance_criteria": acceptance, "issue_type": issue_type, "external_ref": external_ref,
              "estimated_minutes": estimate, "claim": claim or None}
    fields = {k: v for k, v in fields.items() if v is not None}
    if not fields and not g.json:
        r.out("No updates specified")
        return 0
    results = []
    for issue_id in ids:
        results.append(g.call("update", {"id": issue_id, **fields}))
        if not g.json:
            r.out(f"{r.green('✓')} Updated issue: {issue_id}")
    if g.json:
        emit(g, results[0] if len(results) == 1 else results)
    return 0


def _each(g: Globals, op: str, ids: list[str], reason: str | None, verb: str, mark: str) -> int:
    if not ids:
        raise UsageError(f"give at least one issue ID: bd {op} ID [ID...]")
    done, failed = [], 0
    for issue_id in ids:
        try:
            done.append(g.call(op, {"id": issue_id, "reason": reason}))
        except BdError as e:
            failed += 1
            r.err(f"Error: cannot {op} {issue_id}: {e}")
            continue
        if not g.json:
            r.out(f"{mark} {verb} {issue_id}" + (f": {reason}" if reason else ""))
    if g.json:
        emit(g, done)
    return 1 if failed else 0


def close(g: Globals, ids: list[str], reason: str | None) -> int:
    return _each(g, "close", ids, reason or "Closed", "Closed", r.green("✓"))


def reopen(g: Globals, ids: list[str], reason: str | None) -> int:
    return _each(g, "reopen", ids, reason, "Reopened", r.cyan("↻"))


def delete(g: Globals, ids: list[str], force: bool) -> int:
    if not ids:
        raise UsageError("give at least one issue ID: bd delete ID [ID...]")
    res = g.call("delete", {"ids": ids, "force": force})
    if g.json:
        emit(g, res)
        return 0
    if not force:
        r.out(f"{r.yellow('⚠')} Delete preview (nothing was changed):")
        r.out(f"  Would delete: {', '.join(ids)}")
        r.out(f"  Would remove {res['dependencies_removed']} dependency link(s)")
        r.out(f"  Would update text references in {res['references_updated']} issue(s)"
              + (f": {', '.join(res['issues_with_references'])}" if res.get("issues_with_references") else ""))
        r.out("  Deletion cannot be undone; pass --force to delete.")
        return 0
    for i in ids:
        r.out(f"{r.green('✓')} Deleted {i}")
    r.out(f"  Removed {res['dependencies_removed']} dependency link(s)")
    r.out(f"  Updated text references in {res['references_updated']} issue(s)")
    return 0


def ready(g: Globals, limit: int, priority: str | None, assignee: str | None, issue_type: str | None,
          labels: list[str] | None, labels_any: list[str] | None, unassigned: bool, sort: str | None,
          parent: str | None) -> int:
    issues = g.call("ready", {"limit": limit, "priority": priority, "assignee": assignee,
                              "issue_type": issue_type, "labels": _csv(labels) or None,
                              "labels_any": _csv(labels_any) or None, "unassigned": unassigned or None,
                              "sort": sort, "parent": parent})
    if g.json:
        emit(g, issues)
    else:
        r.ready(issues)
    return 0


def blocked(g: Globals, parent: str | None) -> int:
    issues = g.call("blocked", {"parent": parent})
    if g.json:
        emit(g, issues)
    else:
        r.blocked(issues)
    return 0


def stats(g: Globals) -> int:
    s = g.call("stats")
    if g.json:
        emit(g, s)
    else:
        r.stats(s)
    return 0


# --- dependencies, labels, comments, events -------------------------------------------------

def dep_add(g: Globals, issue_id: str, depends_on: str, dep_type: str) -> int:
    res = g.call("dep_add", {"from_id": issue_id, "to_id": depends_on, "dep_type": dep_type})
    if g.json:
        emit(g, res)
    else:
        r.out(f"{r.green('✓')} Added dependency: {issue_id} depends on {depends_on} ({dep_type})")
    return 0


def dep_remove(g: Globals, issue_id: str, depends_on: str, dep_type: str | None) -> int:
    res = g.call("dep_remove", {"from_id": issue_id, "to_id": depends_on, "dep_type": dep_type})
    if g.json:
        emit(g, res)
    else:
        r.out(f"{r.green('✓')} Removed dependency: {issue_id} no longer depends on {depends_on}")
    return 0


def dep_tree(g: Globals, issue_id: str, max_depth: int, reverse: bool) -> int:
    nodes = g.call("dep_tree", {"id": issue_id, "max_depth": max_depth, "reverse": reverse or None})
    if g.json:
        emit(g, nodes)
    else:
        r.tree(issue_id, nodes)
    return 0


def dep_cycles(g: Globals) -> int:
    cs = g.call("dep_cycles")
    if g.json:
        emit(g, cs)
    else:
        r.cycles(cs)
    return 0


def label_add(g: Globals, args: list[str]) -> int:
    return _label(g, "label_add", args, "Added", "to")


def label_remove(g: Globals, args: list[str]) -> int:
    return _label(g, "label_remove", args, "Removed", "from")


def _label(g: Globals, op: str, args: list[str], verb: str, prep: str) -> int:
    if len(args) < 2:
        raise UsageError(f"usage: bd label {op.split('_')[1]} ID [ID...] LABEL")
    *ids, label = args
    results = [g.call(op, {"id": i, "label": label}) for i in ids]
    if g.json:
        emit(g, results[0] if len(results) == 1 else results)
    else:
        for res in results:
            r.out(f"{r.green('✓')} {verb} label '{label}' {prep} {res['issue_id']}")
    return 0


def label_list(g: Globals, issue_id: str) -> int:
    labels = g.call("label_list", {"id": issue_id})
    if g.json:
        emit(g, labels)
    elif labels:
        r.out(f"\n🏷  Labels for {issue_id}:")
        for lb in labels:
            r.out(f"  - {lb}")
        r.out()
    else:
        r.out(f"{issue_id} has no labels")
    return 0


def label_list_all(g: Globals) -> int:
    labels = g.call("label_list_all")
    if g.json:
        emit(g, labels)
    elif labels:
        w = max(len(x["label"]) for x in labels)
        r.out(f"\n🏷  All labels ({len(labels)}):")
        for x in labels:
            r.out(f"  {x['label'].ljust(w)}  {x['count']}")
        r.out()
    else:
        r.out("No labels.")
    return 0


def comment(g: Globals, args: list[str], file: str | None, author: str | None) -> int:
    """``comment add ID TEXT``, ``comment list ID``, or beads' short ``comment ID TEXT``."""
    if not args:
        raise UsageError("usage: bd comment add ID TEXT | bd comment list ID | bd comment ID TEXT")
    if args[0] == "list":
        if len(args) != 2:
            raise UsageError("usage: bd comment list ID")
        return comments(g, args[1:])
    if args[0] == "add":
        args = args[1:]
    if not args:
        raise UsageError("usage: bd comment add ID TEXT")
    issue_id, words = args[0], args[1:]
    text = _read_text(file) if file else " ".join(words)
    if not text.strip():
        raise UsageError("the comment is empty: give TEXT or --file")
    c = g.call("comment_add", {"id": issue_id, "text": text, "author": author})
    if g.json:
        emit(g, c)
    else:
        r.out(f"{r.green('✓')} Added comment to {issue_id}")
    return 0


def comments(g: Globals, args: list[str], file: str | None = None, author: str | None = None) -> int:
    """``comments ID`` lists; ``comments add ID TEXT`` adds (later beads' spelling)."""
    if args and args[0] == "add":
        return comment(g, args, file, author)
    if len(args) != 1:
        raise UsageError("usage: bd comments ID")
    cs = g.call("comment_list", {"id": args[0]})
    if g.json:
        emit(g, cs)
    elif not cs:
        r.out(f"{args[0]} has no comments")
    else:
        from ..model import short_time
        r.out(f"\nComments on {args[0]} ({len(cs)}):")
        for c in cs:
            r.out(f"  [{short_time(c['created_at'])}] {c.get('author') or '?'}: {c['text']}")
        r.out()
    return 0


def note(g: Globals, issue_id: str, words: list[str] | None) -> int:
    text = " ".join(words or []).strip()
    if not text:
        raise UsageError("usage: bd note ID TEXT")
    cur = g.call("show", {"id": issue_id})
    notes = (cur.get("notes") or "").rstrip()
    issue = g.call("update", {"id": issue_id, "notes": f"{notes}\n{text}" if notes else text})
    if g.json:
        emit(g, issue)
    else:
        r.out(f"{r.green('✓')} Added note to {issue_id}")
    return 0


def events(g: Globals, issue_id: str, limit: int) -> int:
    evs = g.call("events", {"id": issue_id, "limit": limit or None})
    if g.json:
        emit(g, evs)
    else:
        r.events(evs)
    return 0


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


def search(g: Globals, query: str, status: str | None, limit: int) -> int:
    return list_(g, status, None, None, None, None, None, None, query, limit, None, False, False, None)


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
    from .. import daemon as d
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
        return d.run_foreground(ws, opts)
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
    from ..init import init_workspace
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
from .hooks_cmd import doctor, hooks_install, hooks_run, hooks_status, hooks_uninstall  # noqa: E402,F401
