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
            from ..backends import connect
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


def search(g: Globals, query: str, status: str | None, limit: int) -> int:
    return list_(g, status, None, None, None, None, None, None, query, limit, None, False, False, None)



# The fast path calls every command body as ``commands.<name>``: the bodies that live in
# other modules are re-exported here.
from .admin_cmd import (config, config_get, config_list, config_set, daemon, export, import_, info,  # noqa: E402,F401
                        init, quickstart, rename_prefix, version)
from .hooks_cmd import doctor, hooks_install, hooks_run, hooks_status, hooks_uninstall  # noqa: E402,F401
