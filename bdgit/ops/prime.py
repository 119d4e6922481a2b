"""The session-start guide for agents (``bd prime``): how to work with bd here, and where the
work stands right now. ``prime`` gathers the state; ``guide`` turns it into the text."""
from __future__ import annotations

from typing import Any

from ..store import queries as q
from ..validate import Args
from .registry import Ctx, op

_SHOW = 5


def _brief(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"id": r["id"], "title": r["title"], "priority": r["priority"], "issue_type": r["issue_type"],
             "assignee": r.get("assignee")} for r in rows]


@op("prime", write=False)
def prime(ctx: Ctx, a: Args) -> dict[str, Any]:
    """``{"prefix", "counts", "in_progress", "ready", "blocked", "epics"}``: a few of each,
    most urgent first; ``counts`` has the totals."""
    from .epics import epic_statuses
    s = ctx.store
    stats = q.stats(s)
    in_progress = q.list_issues(s, status="in_progress", limit=_SHOW, sort="priority")
    ready = q.ready_issues(s, limit=_SHOW)
    blocked = q.blocked_issues(s, limit=_SHOW)
    epics = [e for e in epic_statuses(ctx) if e["total_children"]][:_SHOW]
    return {
        "prefix": s.prefix,
        "counts": {k: stats[k] for k in ("total_issues", "open_issues", "in_progress_issues", "blocked_issues",
                                         "ready_issues", "closed_issues")},
        "in_progress": _brief(in_progress),
        "ready": _brief(ready),
        "blocked": [dict(_brief([r])[0], blocked_by=r.get("blocked_by", [])) for r in blocked],
        "epics": [{"id": e["epic"]["id"], "title": e["epic"]["title"], "closed_children": e["closed_children"],
                   "total_children": e["total_children"]} for e in epics],
    }


def _line(i: dict[str, Any]) -> str:
    who = f" @{i['assignee']}" if i.get("assignee") else ""
    return f"  {i['id']} [P{i['priority']} {i['issue_type']}] {i['title']}{who}"


def guide(state: dict[str, Any], *, brief: bool = False, stealth: bool = False) -> str:
    """The text ``bd prime`` prints. ``brief``: the short form for agents that already have bd's
    tools (MCP); ``stealth``: no git steps (the workspace is not shared through git)."""
    c = state["counts"]
    out = ["# Beads workflow context", "",
           f"Issues are tracked with bd (prefix {state['prefix']}): {c['open_issues']} open, "
           f"{c['in_progress_issues']} in progress, {c['blocked_issues']} blocked, {c['ready_issues']} ready, "
           f"{c['closed_issues']} closed.", ""]
    if state["in_progress"]:
        out += ["## In progress (finish these first)", *map(_line, state["in_progress"]), ""]
    if state["ready"]:
        more = c["ready_issues"] - len(state["ready"])
        out += ["## Ready to work on (nothing blocks them)", *map(_line, state["ready"])]
        out += [f"  ... and {more} more: bd ready"] if more > 0 else []
        out.append("")
    elif not state["in_progress"]:
        out += ["Nothing is ready: every open issue waits on another (bd blocked), or there is no work yet.", ""]
    if state["blocked"]:
        out += ["## Blocked", *[f"{_line(b)} <- waits on {', '.join(b['blocked_by'])}" for b in state["blocked"]], ""]
    if state["epics"]:
        out += ["## Epics", *[f"  {e['id']} {e['title']}: {e['closed_children']}/{e['total_children']} children closed"
                              for e in state["epics"]], ""]
    if brief:
        out += ["Use bd for all task tracking (no markdown to-do lists): claim with update --claim, file new work "
                "with a discovered-from link, close with a reason."]
        return "\n".join(out) + "\n"
    out += ["## Rules",
            "- Track all work in bd, not in markdown to-do lists or comments.",
            "- Before starting: bd ready, then bd update <id> --claim (assignee = you, status in_progress).",
            "- Found new work while on <id>? bd create \"Title\" -t bug|feature|task -p 0-4 "
            "--deps discovered-from:<id>",
            "- Done: bd close <id> --reason \"what was done\".",
            "", "## Commands",
            "  bd ready [--json]                 work with no open blockers",
            "  bd show <id> [--json]             details, dependencies, comments",
            "  bd create \"Title\" -t task -p 2 -d \"why\" [--deps blocks:<id>]",
            "  bd update <id> --status in_progress | --priority 1 | --notes \"...\"",
            "  bd dep add <issue> <depends-on> [--type blocks|related|parent-child|discovered-from]",
            "  bd close <id> --reason \"...\"      bd reopen <id>",
            "  bd list --status open [--json]    bd blocked    bd stats    bd epic status",
            "  bd comment <id> \"text\"            bd search \"text\""]
    if not stealth:
        out += ["", "## Before you end the session",
                "  bd sync        export, commit and push the issue changes (or let the daemon's auto-commit do it)",
                "  git status     .beads/issues.jsonl travels with your commits"]
    return "\n".join(out) + "\n"
