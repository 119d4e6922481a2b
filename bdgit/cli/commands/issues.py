"""Issue commands: create, show, list, search, update, close, reopen, delete, ready, blocked, stats."""
from __future__ import annotations

import sys
from typing import Annotated

from ...errors import BdError, UsageError
from .. import render as r
from ..decl import Arg, Opt, command
from ..runtime import Globals, csv, emit, read_text

#: ``bd ready --claim`` found nothing to claim (stdout: ``[]`` under --json; not an error)
EXIT_NOTHING_TO_CLAIM = 3


@command("create", examples=[
    'bd create "Fix the login redirect" -p 1 -t bug -l auth,web',
    'bd create "Write the parser" -d "Tokens first" --deps blocks:proj-3 --json',
    'bd create --from-template bug "Crash on save" -p 0',
    "bd create -f plan.md   # one issue per '## Title' section"])
def create(
    g: Globals,
    title: Annotated[str | None, Arg(help="Issue title.")] = None,
    file: Annotated[str | None, Opt("-f", "--file", help="Create issues from a markdown file (## Title per issue; "
                                                        "### Priority, Type, Description, Labels, ... sections).")] = None,
    description: Annotated[str | None, Opt("-d", "--description", help="Description ('-' reads stdin).")] = None,
    design: Annotated[str | None, Opt("--design", help="Design notes.")] = None,
    acceptance: Annotated[str | None, Opt("--acceptance", "--acceptance-criteria", help="Acceptance criteria.")] = None,
    notes: Annotated[str | None, Opt("--notes", help="Notes.")] = None,
    priority: Annotated[str | None, Opt("-p", "--priority", help="0-4 or P0-P4 (0 highest; default 2).")] = None,
    issue_type: Annotated[str | None, Opt("-t", "--type", help="bug, feature, task, epic or chore (default task).")] = None,
    assignee: Annotated[str | None, Opt("-a", "--assignee", help="Assignee.")] = None,
    labels: Annotated[list[str] | None, Opt("-l", "--labels", "--label", help="Labels (comma-separated or repeated).")] = None,
    issue_id: Annotated[str | None, Opt("--id", help="Explicit ID, e.g. bd-42.")] = None,
    external_ref: Annotated[str | None, Opt("--external-ref", help="External reference, e.g. gh-12.")] = None,
    deps: Annotated[list[str] | None, Opt("--deps", help="Dependencies: type:id or id (blocks), comma-separated.")] = None,
    estimate: Annotated[int | None, Opt("-e", "--estimate", help="Estimated minutes.")] = None,
    force: Annotated[bool, Opt("--force", help="Allow an --id with another prefix.")] = False,
    title_opt: Annotated[str | None, Opt("--title", help="Issue title (instead of the argument).")] = None,
    from_template: Annotated[str | None, Opt("--from-template", help="Start from a template (bd template list); "
                                                                   "flags given override it.")] = None,
) -> int:
    """Create an issue.

    With -f FILE, one issue per '## Title' section of a markdown file; text under the title is
    the description, and '### Name' sub-sections set fields: Priority (0-4 or P0-P4), Type,
    Description, Design, Acceptance Criteria, Notes, Assignee, Labels and Dependencies
    (comma-separated), External Ref. All issues of a file are created or none.
    """
    if title_opt is not None:
        if title and title != title_opt:
            raise UsageError("give the title once: as the argument or with --title")
        title = title_opt
    if file:
        if title:
            raise UsageError("give either a title or --file, not both")
        from ...markdown import parse_markdown
        items = parse_markdown(read_text(file), file)
        res = g.call("batch", {"operations": [{"operation": "create", "args": it} for it in items]})
        created = [x["data"] for x in res["results"]]
        if g.json:
            emit(created)
        else:
            for issue in created:
                r.created(issue)
            r.out(f"\nCreated {len(created)} issues from {file}")
        return 0
    if not title or not title.strip():
        raise UsageError("a title is required: bd create \"Title\" [flags]")
    if description == "-":
        description = sys.stdin.read()
    args = {
        "title": title, "description": description, "design": design, "acceptance_criteria": acceptance,
        "notes": notes, "priority": priority, "issue_type": issue_type, "assignee": assignee,
        "labels": csv(labels) or None, "id": issue_id, "external_ref": external_ref,
        "dependencies": csv(deps) or None, "estimated_minutes": estimate, "force": force or None,
    }
    if from_template:
        t = g.call("template_show", {"name": from_template})
        args["issue_type"] = issue_type or t["type"]
        args["priority"] = priority if priority is not None else t["priority"]
        for key in ("description", "design", "acceptance_criteria"):
            args[key] = args[key] or t[key] or None
        args["labels"] = sorted(set(t["labels"]) | set(csv(labels))) or None
    issue = g.call("create", args)
    if g.json:
        emit(issue)
    else:
        r.created(issue)
    return 0


@command("show", examples=["bd show proj-1", "bd show proj-1 proj-2 --json"])
def show(g: Globals, ids: Annotated[list[str] | None, Arg(help="Issue IDs.")] = None) -> int:
    """Show issues in detail, with dependencies, dependents and comments."""
    if not ids:
        raise UsageError("give at least one issue ID: bd show ID [ID...]")
    data = g.call("show", {"ids": ids} if len(ids) > 1 else {"id": ids[0]})
    if g.json:
        emit(data)
        return 0
    for issue in data if isinstance(data, list) else [data]:
        r.issue_detail(issue)
    return 0


@command("list", examples=["bd list --status open -p 1", "bd list -l backend --label-any ui,web --json",
                           "bd list --parent proj-4 --sort updated -n 20"])
def list_(
    g: Globals,
    status: Annotated[str | None, Opt("-s", "--status", help="open, in_progress, blocked, closed or all.")] = None,
    priority: Annotated[str | None, Opt("-p", "--priority", help="Only this priority.")] = None,
    issue_type: Annotated[str | None, Opt("-t", "--type", help="Only this type.")] = None,
    assignee: Annotated[str | None, Opt("-a", "--assignee", help="Only this assignee.")] = None,
    labels: Annotated[list[str] | None, Opt("-l", "--label", "--labels", help="Must have ALL these labels.")] = None,
    labels_any: Annotated[list[str] | None, Opt("--label-any", help="Must have ANY of these labels.")] = None,
    title: Annotated[str | None, Opt("--title", help="Title contains this text.")] = None,
    search: Annotated[str | None, Opt("--search", "-q", help="Title, description or ID contains this text.")] = None,
    limit: Annotated[int, Opt("-n", "--limit", help="At most this many (0 = all).")] = 0,
    sort: Annotated[str | None, Opt("--sort", help="priority, created, updated, id, title or status.")] = None,
    reverse: Annotated[bool, Opt("--reverse", help="Reverse the order.")] = False,
    no_assignee: Annotated[bool, Opt("--no-assignee", help="Only unassigned issues.")] = False,
    parent: Annotated[str | None, Opt("--parent", help="Only descendants of this issue (parent-child).")] = None,
    tree: Annotated[bool, Opt("--tree", help="Show children under their parent (--tree=false: a flat list; "
                                              "JSON is always flat).")] = False,
    format_: Annotated[str | None, Opt("--format", help="dot (Graphviz), digraph (one 'id dep...' line per "
                                                        "issue) or a template such as '{{.ID}} {{.Title}}'.")] = None,
) -> int:
    """List issues."""
    issues = g.call("list", {
        "status": status, "priority": priority, "issue_type": issue_type, "assignee": assignee,
        "labels": csv(labels) or None, "labels_any": csv(labels_any) or None, "title": title,
        "query": search, "limit": limit or None, "sort": sort, "reverse": reverse or None,
        "no_assignee": no_assignee or None, "parent": parent,
    })
    if format_:
        from ..listformat import render_format
        sys.stdout.write(render_format(g, issues, format_))
    elif g.json:
        emit(issues)
    elif tree:
        r.issue_tree(issues)
    else:
        r.issue_list(issues)
    return 0


@command("search", examples=['bd search "timeout" -s open', 'bd search proj-12 --json'])
def search(g: Globals, query: Annotated[str, Arg(help="Text to find in title, description or ID.")],
           status: Annotated[str | None, Opt("-s", "--status", help="Only this status.")] = None,
           limit: Annotated[int, Opt("-n", "--limit", help="At most this many.")] = 0) -> int:
    """Search issues by text (same as list --search)."""
    return list_(g, status=status, search=query, limit=limit)


@command("update", examples=["bd update proj-2 --status in_progress --assignee me",
                             "bd update proj-2 --claim --json", "bd update proj-2 --claim --lease 30m",
                             'bd update proj-3 proj-4 -p 0'])
def update(
    g: Globals,
    ids: Annotated[list[str] | None, Arg(help="Issue IDs.")] = None,
    status: Annotated[str | None, Opt("-s", "--status", help="New status.")] = None,
    priority: Annotated[str | None, Opt("-p", "--priority", help="New priority.")] = None,
    title: Annotated[str | None, Opt("--title", help="New title.")] = None,
    assignee: Annotated[str | None, Opt("-a", "--assignee", help="New assignee ('' to clear).")] = None,
    description: Annotated[str | None, Opt("-d", "--description", help="New description.")] = None,
    design: Annotated[str | None, Opt("--design", help="New design notes.")] = None,
    notes: Annotated[str | None, Opt("--notes", help="New notes.")] = None,
    acceptance: Annotated[str | None, Opt("--acceptance", "--acceptance-criteria", help="New acceptance criteria.")] = None,
    issue_type: Annotated[str | None, Opt("-t", "--type", help="New type.")] = None,
    external_ref: Annotated[str | None, Opt("--external-ref", help="New external reference.")] = None,
    estimate: Annotated[int | None, Opt("-e", "--estimate", help="Estimated minutes.")] = None,
    claim: Annotated[bool, Opt("--claim", help="Take it: assignee = you, status = in_progress.")] = False,
    lease: Annotated[str | None, Opt("--lease", help="With --claim: a lease (30m, 1h, 90s; off); it returns the "
                                                     "issue to ready unless renewed.")] = None,
) -> int:
    """Update fields of issues."""
    if not ids:
        raise UsageError("give at least one issue ID: bd update ID [flags]")
    fields = {"status": status, "priority": priority, "title": title, "assignee": assignee,
              "description": description, "design": design, "notes": notes,
              "acceptance_criteria": acceptance, "issue_type": issue_type, "external_ref": external_ref,
              "estimated_minutes": estimate, "claim": claim or None, "lease": lease}
    fields = {k: v for k, v in fields.items() if v is not None}
    if not fields:
        raise UsageError("nothing to update: give at least one field to change",
                         "e.g. bd update ID --status in_progress (bd update --help lists the fields)")
    results = []
    for issue_id in ids:
        results.append(g.call("update", {"id": issue_id, **fields}))
        if g.json:
            continue
        if g.unchanged:
            for note in g.unchanged:
                r.out(f"{r.dim('○')} {note}")
        else:
            r.out(f"{r.green('✓')} Updated issue: {issue_id}")
    if g.json:
        emit(results[0] if len(results) == 1 else results)
    return 0


def _each(g: Globals, op: str, ids: list[str], reason: str | None, verb: str, mark: str) -> int:
    """Run ``op`` on each ID; a failure is reported and the others still run (exit 1 then)."""
    if not ids:
        raise UsageError(f"give at least one issue ID: bd {op} ID [ID...]")
    done, failed = [], 0
    for issue_id in ids:
        try:
            done.append(g.call(op, {"id": issue_id, "reason": reason}))
        except BdError as e:
            failed += 1
            r.err(f"Error: cannot {op} {issue_id}: {e}")
            if e.hint:
                r.err(f"  {e.hint}")
            continue
        if g.json:
            continue
        if g.unchanged:
            for note in g.unchanged:
                r.out(f"{r.dim('○')} {note}")
        else:
            r.out(f"{mark} {verb} {issue_id}" + (f": {reason}" if reason else ""))
    if g.json:
        emit(done)
    return 1 if failed else 0


@command("close", examples=['bd close proj-2 --reason "fixed in 4f3a2c1"', "bd close proj-3 proj-4 --json"])
def close(g: Globals, ids: Annotated[list[str] | None, Arg(help="Issue IDs.")] = None,
          reason: Annotated[str | None, Opt("-r", "--reason", help="Why (default 'Closed').")] = None) -> int:
    """Close issues."""
    return _each(g, "close", ids or [], reason or "Closed", "Closed", r.green("✓"))


@command("reopen", examples=['bd reopen proj-2 --reason "still fails on Safari"'])
def reopen(g: Globals, ids: Annotated[list[str] | None, Arg(help="Issue IDs.")] = None,
           reason: Annotated[str | None, Opt("-r", "--reason", help="Why (added as a comment).")] = None) -> int:
    """Reopen issues."""
    return _each(g, "reopen", ids or [], reason, "Reopened", r.cyan("↻"))


@command("delete", examples=["bd delete proj-7            # a preview: nothing changes", "bd delete proj-7 --force"])
def delete(g: Globals, ids: Annotated[list[str] | None, Arg(help="Issue IDs.")] = None,
           force: Annotated[bool, Opt("-f", "--force", help="Really delete (default: preview only).")] = False,
           reason: Annotated[str | None, Opt("--reason", help="Why (kept with the tombstone).")] = None) -> int:
    """Delete issues (a preview unless --force); references become [deleted:ID]."""
    if not ids:
        raise UsageError("give at least one issue ID: bd delete ID [ID...]")
    res = g.call("delete", {"ids": ids, "force": force, "reason": reason})
    if g.json:
        emit(res)
        return 0
    if not force:
        r.out(f"{r.yellow('⚠')} Delete preview (nothing was changed):")
        r.out(f"  Would delete: {', '.join(ids)}")
        r.out(f"  Would remove {res['dependencies_removed']} dependency link(s)")
        r.out(f"  Would update text references in {res['references_updated']} issue(s)"
              + (f": {', '.join(res['issues_with_references'])}" if res.get("issues_with_references") else ""))
        r.out("  Pass --force to delete ('bd restore ID' brings a deleted issue back).")
        return 0
    for i in ids:
        r.out(f"{r.green('✓')} Deleted {i}")
    r.out(f"  Removed {res['dependencies_removed']} dependency link(s)")
    r.out(f"  Updated text references in {res['references_updated']} issue(s)")
    return 0


@command("undelete", examples=["bd undelete proj-7"])
def undelete(g: Globals, ids: Annotated[list[str] | None, Arg(help="Issue IDs.")] = None,
             reason: Annotated[str | None, Opt("--reason", help="Why (kept in the audit trail).")] = None) -> int:
    """Bring back deleted issues, with the status they had (every clone follows)."""
    if not ids:
        raise UsageError("give at least one issue ID: bd undelete ID [ID...]")
    res = g.call("undelete", {"ids": ids, "reason": reason})
    if g.json:
        emit(res)
        return 0
    for i in ids:
        r.out(f"{r.green('✓')} Undeleted {i}")
    return 0


@command("ready", examples=["bd ready", "bd ready -n 3 --unassigned --json", "bd ready -l backend -t bug",
                            "bd ready --claim --json   # take the best one (exit 3: nothing to claim)",
                            "bd ready --claim --lease 30m -l backend"])
def ready(
    g: Globals,
    limit: Annotated[int, Opt("-n", "--limit", help="At most this many (0 = all).")] = 10,
    priority: Annotated[str | None, Opt("-p", "--priority", help="Only this priority.")] = None,
    assignee: Annotated[str | None, Opt("-a", "--assignee", help="Only this assignee.")] = None,
    issue_type: Annotated[str | None, Opt("-t", "--type", help="Only this type.")] = None,
    labels: Annotated[list[str] | None, Opt("-l", "--label", help="Must have ALL these labels.")] = None,
    labels_any: Annotated[list[str] | None, Opt("--label-any", help="Must have ANY of these labels.")] = None,
    unassigned: Annotated[bool, Opt("--unassigned", help="Only unassigned issues.")] = False,
    sort: Annotated[str | None, Opt("--sort", help="priority (default), hybrid or oldest.")] = None,
    parent: Annotated[str | None, Opt("--parent", help="Only descendants of this issue.")] = None,
    claim: Annotated[bool, Opt("--claim", help="Atomically claim the first ready issue matching the filters "
                                               "(exit 3 when there is none).")] = False,
    lease: Annotated[str | None, Opt("--lease", help="With --claim: a lease (30m, 1h, 90s; off; default: config "
                                                     "lease.default).")] = None,
) -> int:
    """Show work that is ready: open, and nothing open blocks it."""
    if lease is not None and not claim:
        raise UsageError("--lease goes with --claim")
    issues = g.call("ready", {"limit": None if claim else limit, "priority": priority, "assignee": assignee,
                              "issue_type": issue_type, "labels": csv(labels) or None,
                              "labels_any": csv(labels_any) or None, "unassigned": unassigned or None,
                              "sort": sort, "parent": parent, "claim": claim or None, "lease": lease})
    if claim:
        if g.json:
            emit(issues)
        elif issues:
            r.claimed(issues[0])
        else:
            r.out(f"\n{r.yellow('○')} No ready work to claim\n")
        return 0 if issues else EXIT_NOTHING_TO_CLAIM
    if g.json:
        emit(issues)
    else:
        r.ready(issues)
    return 0


@command("blocked", examples=["bd blocked", "bd blocked --parent proj-4 --json"])
def blocked(g: Globals, parent: Annotated[str | None, Opt("--parent", help="Only descendants of this issue.")] = None) -> int:
    """Show blocked issues and what blocks them."""
    issues = g.call("blocked", {"parent": parent})
    if g.json:
        emit(issues)
    else:
        r.blocked(issues)
    return 0


@command("stats", examples=["bd stats", "bd stats --json"])
def stats(g: Globals) -> int:
    """Show counts by status, blocked and ready."""
    s = g.call("stats")
    if g.json:
        emit(s)
    else:
        r.stats(s)
    return 0
