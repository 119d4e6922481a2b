"""Drive a beads MCP server package's client classes against a workspace; print one JSON report.

Run with the Python of the venv the package is installed in (not bdgit's):

    <venv>/bin/python drive_mcp.py beads-mcp|mcp-beads-cli|mcp-beads-daemon WORKSPACE BD_PATH

Every client method (each is one MCP tool) is called in a sequence that creates what the next
one needs. The report maps the method name to ``{"ok": true, "value": ...}`` (the pydantic model
dumped to JSON, i.e. after the client validated bd's answer) or ``{"ok": false, "error": ...}``.
"""
from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any


def dump(v: Any) -> Any:
    if hasattr(v, "model_dump"):
        return v.model_dump(mode="json")
    if isinstance(v, list):
        return [dump(x) for x in v]
    return v


async def call(report: dict[str, Any], name: str, coro: Any) -> Any:
    try:
        v = await coro
    except BaseException as e:  # the report says what failed; the next tools still run
        report[name] = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        return None
    report[name] = {"ok": True, "value": dump(v)}
    return v


async def beads_mcp(ws: str, bd: str) -> dict[str, Any]:
    from beads_mcp import models as m
    from beads_mcp.bd_client import BdCliClient
    c = BdCliClient(bd_path=bd, actor="mcp-agent", working_dir=ws)
    r: dict[str, Any] = {}
    a = await call(r, "create", c.create(m.CreateIssueParams(
        title="From beads-mcp", description="made by the MCP client", priority=1, issue_type="feature",
        labels=["mcp"], assignee="alice")))
    b = await call(r, "create_with_deps", c.create(m.CreateIssueParams(
        title="Depends on it", priority=2, issue_type="task", deps=[a.id] if a else [])))
    aid, bid = (a.id if a else "missing"), (b.id if b else "missing")
    await call(r, "show", c.show(m.ShowIssueParams(issue_id=aid)))
    await call(r, "list_issues", c.list_issues(m.ListIssuesParams(status="open", labels=["mcp"], limit=50)))
    await call(r, "list_issues_query", c.list_issues(m.ListIssuesParams(query="beads-mcp", unassigned=False)))
    await call(r, "ready", c.ready(m.ReadyWorkParams(limit=50, sort_policy="priority")))
    await call(r, "ready_unassigned", c.ready(m.ReadyWorkParams(limit=50, unassigned=True)))
    await call(r, "blocked", c.blocked(m.BlockedParams()))
    await call(r, "update", c.update(m.UpdateIssueParams(issue_id=bid, notes="some notes", priority=3)))
    await call(r, "claim", c.claim(m.ClaimIssueParams(issue_id=bid)))
    await call(r, "add_comment", c.add_comment(m.AddCommentParams(issue_id=aid, text="first comment")))
    await call(r, "list_comments", c.list_comments(m.ListCommentsParams(issue_id=aid)))
    await call(r, "add_note", c.add_note(m.AddNoteParams(issue_id=aid, text="a note")))
    x = await call(r, "create_third", c.create(m.CreateIssueParams(title="Third", priority=2)))
    await call(r, "add_dependency", c.add_dependency(m.AddDependencyParams(
        issue_id=x.id if x else "missing", depends_on_id=aid, dep_type="related")))
    await call(r, "close", c.close(m.CloseIssueParams(issue_id=aid, reason="done")))
    await call(r, "reopen", c.reopen(m.ReopenIssueParams(issue_ids=[aid], reason="not yet")))
    await call(r, "stats", c.stats())
    await call(r, "quickstart", c.quickstart())
    await call(r, "inspect_migration", c.inspect_migration())
    await call(r, "get_schema_info", c.get_schema_info())
    await call(r, "repair_deps", c.repair_deps())
    await call(r, "repair_deps_fix", c.repair_deps(fix=True))
    await call(r, "detect_pollution", c.detect_pollution())
    await call(r, "detect_pollution_clean", c.detect_pollution(clean=True))
    await call(r, "validate", c.validate())
    await call(r, "validate_fix", c.validate(fix_all=True))
    return r


async def mcp_beads_cli(ws: str, bd: str) -> dict[str, Any]:
    from mcp_beads import models as m
    from mcp_beads.client import BeadsCliClient
    c = BeadsCliClient(beads_path=bd, actor="fork-agent", working_dir=ws)
    r: dict[str, Any] = {}
    a = await call(r, "create", c.create(m.CreateIssueParams(title="From mcp-beads", priority=1, issue_type="bug",
                                                             labels=["fork"])))
    aid = a.id if a else "missing"
    await call(r, "create_with_deps", c.create(m.CreateIssueParams(title="After it", deps=[aid])))
    await call(r, "show", c.show(m.ShowIssueParams(issue_id=aid)))
    await call(r, "list_issues", c.list_issues(m.ListIssuesParams(status="open")))
    await call(r, "ready", c.ready(m.ReadyWorkParams(limit=20)))
    await call(r, "blocked", c.blocked())
    await call(r, "update", c.update(m.UpdateIssueParams(issue_id=aid, status="in_progress", notes="n")))
    x = await call(r, "create_third", c.create(m.CreateIssueParams(title="Related to it")))
    await call(r, "add_dependency", c.add_dependency(m.AddDependencyParams(
        issue_id=x.id if x else "missing", depends_on_id=aid, dep_type="related")))
    await call(r, "close", c.close(m.CloseIssueParams(issue_id=aid, reason="fixed")))
    await call(r, "reopen", c.reopen(m.ReopenIssueParams(issue_ids=[aid])))
    await call(r, "stats", c.stats())
    await call(r, "quickstart", c.quickstart())
    return r


async def mcp_beads_daemon(ws: str, bd: str) -> dict[str, Any]:
    from mcp_beads import models as m
    from mcp_beads.daemon import BeadsDaemonClient
    c = BeadsDaemonClient(working_dir=ws, actor="fork-daemon", timeout=20)
    r: dict[str, Any] = {}
    await call(r, "ping", c.ping())
    await call(r, "health", c.health())
    await call(r, "is_daemon_running", c.is_daemon_running())
    a = await call(r, "create", c.create(m.CreateIssueParams(title="Via the socket", priority=1, issue_type="task",
                                                             description="d", labels=["sock"])))
    aid = a.id if a else "missing"
    b = await call(r, "create_with_deps", c.create(m.CreateIssueParams(title="Socket child", deps=[aid])))
    await call(r, "show", c.show(m.ShowIssueParams(issue_id=aid)))
    await call(r, "update", c.update(m.UpdateIssueParams(issue_id=aid, status="in_progress", assignee="bob")))
    await call(r, "list_issues", c.list_issues(m.ListIssuesParams(status="in_progress")))
    await call(r, "ready", c.ready(m.ReadyWorkParams(limit=20)))
    await call(r, "stats", c.stats())
    x = await call(r, "create_third", c.create(m.CreateIssueParams(title="Related by socket")))
    await call(r, "add_dependency", c.add_dependency(m.AddDependencyParams(
        issue_id=x.id if x else "missing", depends_on_id=aid, dep_type="related")))
    await call(r, "show_child", c.show(m.ShowIssueParams(issue_id=b.id if b else "missing")))
    await call(r, "close", c.close(m.CloseIssueParams(issue_id=aid, reason="done")))
    return r


def main() -> None:
    which, ws, bd = sys.argv[1], sys.argv[2], sys.argv[3]
    # Both packages read their configuration from the environment even when given arguments;
    # the fork looks for a binary named "beads" unless told (its users point it at bd).
    os.environ["BEADS_PATH"] = bd
    fn = {"beads-mcp": beads_mcp, "mcp-beads-cli": mcp_beads_cli, "mcp-beads-daemon": mcp_beads_daemon}[which]
    print(json.dumps(asyncio.run(fn(ws, bd))))


if __name__ == "__main__":
    main()
