"""Commands of newer beads that its clients call: epic, repair-deps, migrate, prime, where,
template, audit, restore. Each is a thin edge over one core operation."""
from __future__ import annotations

import json
import sys
from typing import Annotated, Any

from ...errors import UsageError
from .. import render as r
from ..decl import Arg, Opt, command
from ..runtime import Globals, emit


@command("epic status", examples=["bd epic status", "bd epic status --eligible-only --json"])
def epic_status(g: Globals,
                eligible_only: Annotated[bool, Opt("--eligible-only", help="Only epics whose children are all "
                                                                            "closed.")] = False) -> int:
    """Show each open epic's progress: children (parent-child) closed out of all."""
    data = g.call("epic_status", {"eligible_only": eligible_only or None})
    if g.json:
        emit(data)
        return 0
    if not data:
        r.out("No open epics" + (" with all children closed" if eligible_only else ""))
        return 0
    for e in data:
        epic, total, closed = e["epic"], e["total_children"], e["closed_children"]
        pct = closed * 100 // total if total else 0
        mark = r.green("✓") if e["eligible_for_close"] else r.yellow("○")
        r.out(f"{mark} {r.cyan(epic['id'])} {epic['title']}")
        r.out(f"    {closed}/{total} children closed ({pct}%)"
              + ("  - eligible to close: bd epic close-eligible" if e["eligible_for_close"] else ""))
    return 0


@command("epic close-eligible", examples=["bd epic close-eligible --dry-run", "bd epic close-eligible --json"])
def epic_close_eligible(g: Globals, dry_run: Annotated[bool, Opt("--dry-run", help="Name them; close "
                                                                                    "nothing.")] = False) -> int:
    """Close every open epic whose children are all closed."""
    data = g.call("epic_close_eligible", {"dry_run": dry_run or None})
    if g.json:
        emit(data)
    elif not data["eligible"]:
        r.out("No epics are eligible to close")
    elif dry_run:
        r.out(f"Would close {len(data['eligible'])} epics: {', '.join(data['eligible'])}")
    else:
        r.out(f"{r.green('✓')} Closed {len(data['closed'])} epics: {', '.join(data['closed'])}")
    return 0


@command("repair-deps", examples=["bd repair-deps", "bd repair-deps --fix --json"])
def repair_deps(g: Globals, fix: Annotated[bool, Opt("--fix", help="Remove the orphaned dependencies.")] = False) -> int:
    """Find dependencies that point at issues which do not exist (and remove them with --fix)."""
    data = g.call("repair_deps", {"fix": fix or None})
    if g.json:
        emit(data)
        return 0
    if not data["orphans"]:
        r.out(f"{r.green('✓')} No orphaned dependencies found")
        return 0
    r.out(f"{r.yellow('!')} Found {data['orphans_found']} orphaned dependencies:")
    for n, o in enumerate(data["orphans"], 1):
        r.out(f"  {n}. {o['issue_id']} -> {o['depends_on_id']} ({o['type']}): {o['depends_on_id']} does not exist")
    if fix:
        r.out(f"{r.green('✓')} Removed {data['fixed']} orphaned dependencies")
    else:
        r.out("Run 'bd repair-deps --fix' to remove them")
    return 0


@command("migrate", examples=["bd migrate --inspect --json"])
def migrate(g: Globals, inspect: Annotated[bool, Opt("--inspect", help="Show the migration plan and the "
                                                                        "database state (changes nothing).")] = False,
            dry_run: Annotated[bool, Opt("--dry-run", help="Same as --inspect.")] = False) -> int:
    """Inspect schema migrations. bd applies pending migrations itself whenever it opens the
    database, so there is nothing to run by hand."""
    data = g.call("migrate_inspect")
    if g.json:
        emit(data)
        return 0
    st = data["current_state"]
    r.out(f"Schema version {st['schema_version']} (latest {st['latest_schema_version']}), "
          f"{st['issue_count']} issues")
    for m in data["registered_migrations"]:
        r.out(f"  {r.green('✓') if m['applied'] else r.yellow('○')} {m['name']}: {m['description']}")
    for w in data["warnings"]:
        r.out(f"{r.yellow('!')} {w}")
    if not (inspect or dry_run):
        r.out("Nothing to run: bd applies pending migrations when it opens the database.")
    return 0


@command("prime", examples=["bd prime", "bd prime --mcp", "bd prime --json"])
def prime(g: Globals,
          full: Annotated[bool, Opt("--full", help="The full guide (the default).")] = False,
          mcp: Annotated[bool, Opt("--mcp", help="The short guide, for agents that have bd's MCP tools.")] = False,
          stealth: Annotated[bool, Opt("--stealth", help="Leave out the git steps.")] = False) -> int:
    """Print the agent workflow guide with the current work (for a session start).
    Outside a workspace it prints nothing and succeeds, so session hooks can always run it."""
    from ...errors import NoDatabaseError
    from ...ops.prime import guide
    try:
        state = g.call("prime")
    except NoDatabaseError:
        return 0
    if g.json:
        emit(state)
    else:
        sys.stdout.write(guide(state, brief=mcp and not full, stealth=stealth))
    return 0


@command("where", examples=["bd where", "bd where --json"])
def where(g: Globals) -> int:
    """Show which .beads directory and database bd uses here, and why."""
    import os

    from ...workspace import find
    ws = find(g.db)
    how = ("--db" if g.db else "BEADS_DB" if os.environ.get("BEADS_DB") else
           "BEADS_DIR" if os.environ.get("BEADS_DIR") else "nearest .beads/ above the current directory")
    prefix = ws.db_path.stem
    data: dict[str, Any] = {"path": str(ws.beads_dir), "database_path": str(ws.db_path), "prefix": prefix,
                            "found_by": how}
    try:
        data["prefix"] = g.call("config_get", {"key": "issue_prefix"})["value"] or prefix
    except Exception:  # a broken database must not hide where it is
        pass
    if g.json:
        emit(data)
    else:
        r.out(data["path"])
        r.out(f"  database: {data['database_path']}")
        r.out(f"  prefix:   {data['prefix']}")
        r.out(f"  found by: {how}")
    return 0


def _template_text(t: dict[str, Any]) -> None:
    r.out(f"Template: {t['name']}" + (" (built-in)" if t["builtin"] else ""))
    r.out(f"Type: {t['type']}")
    r.out(f"Priority: P{t['priority']}")
    r.out(f"Labels: {', '.join(t['labels']) or '-'}")
    for key, title in (("description", "Description"), ("design", "Design"),
                       ("acceptance_criteria", "Acceptance criteria")):
        if t[key]:
            r.out(f"\n{title}:\n{t[key]}")


@command("template list", examples=["bd template list", "bd template list --json"])
def template_list(g: Globals) -> int:
    """List issue templates: built-in (epic, bug, feature) and .beads/templates/*.yaml."""
    data = g.call("template_list")
    if g.json:
        emit(data)
        return 0
    for builtin, head in ((True, "Built-in templates:"), (False, "Custom templates (.beads/templates/):")):
        ts = [t for t in data if t["builtin"] == builtin]
        if ts:
            r.out(head)
            for t in ts:
                r.out(f"  {t['name']}\n    Type: {t['type']}, Priority: P{t['priority']}"
                      + (f"\n    Labels: {', '.join(t['labels'])}" if t["labels"] else ""))
    return 0


@command("template show", examples=["bd template show bug", "bd template show epic --json"])
def template_show(g: Globals, name: Annotated[str, Arg(help="Template name.")]) -> int:
    """Show a template's type, priority, labels and text."""
    t = g.call("template_show", {"name": name})
    if g.json:
        emit(t)
    else:
        _template_text(t)
    return 0


@command("template create", examples=["bd template create performance"])
def template_create(g: Globals, name: Annotated[str, Arg(help="Template name (the file name).")]) -> int:
    """Write .beads/templates/NAME.yaml with a skeleton to edit."""
    data = g.call("template_create", {"name": name})
    if g.json:
        emit(data)
    else:
        r.out(f"{r.green('✓')} Created template: {data['path']}")
        r.out("Edit the file to customize it; use it with: bd create --from-template " + name + ' "Title"')
    return 0


@command("audit record", examples=[
    'bd audit record --kind tool_call --tool-name pytest --exit-code 1 --issue-id proj-4',
    'bd audit record --kind llm_call --model m --prompt "..." --response "..."',
    "echo '{\"kind\": \"note\"}' | bd audit record --stdin"])
def audit_record(g: Globals,
                 kind: Annotated[str | None, Opt("--kind", help="Entry kind: llm_call, tool_call, ...")] = None,
                 model: Annotated[str | None, Opt("--model", help="Model name (llm_call).")] = None,
                 prompt: Annotated[str | None, Opt("--prompt", help="Prompt text (llm_call).")] = None,
                 response: Annotated[str | None, Opt("--response", help="Response text (llm_call).")] = None,
                 issue_id: Annotated[str | None, Opt("--issue-id", help="The issue it concerns.")] = None,
                 tool_name: Annotated[str | None, Opt("--tool-name", help="Tool name (tool_call).")] = None,
                 exit_code: Annotated[int, Opt("--exit-code", help="Exit code (tool_call).")] = -1,
                 error: Annotated[str | None, Opt("--error", help="Error text.")] = None,
                 stdin: Annotated[bool, Opt("--stdin", help="Read the entry as a JSON object from stdin.")] = False,
                 ) -> int:
    """Append an agent interaction to .beads/interactions.jsonl (append-only)."""
    args: dict[str, Any] = {"kind": kind, "model": model, "prompt": prompt, "response": response,
                            "issue_id": issue_id, "tool_name": tool_name, "exit_code": exit_code, "error": error}
    if stdin:
        try:
            given = json.loads(sys.stdin.read())
        except ValueError as e:
            raise UsageError(f"--stdin needs one JSON object: {e}") from None
        if not isinstance(given, dict):
            raise UsageError("--stdin needs one JSON object")
        args.update({k: v for k, v in given.items() if v is not None})
    if not args.get("kind"):
        raise UsageError("--kind is required (llm_call, tool_call, ...)")
    entry = g.call("audit_record", args)
    if g.json:
        emit(entry)
    else:
        r.out(entry["id"])
    return 0


@command("audit label", examples=['bd audit label int-1a2b3c4d --label good --reason "worked first time"'])
def audit_label(g: Globals, entry_id: Annotated[str, Arg(help="The entry's id (int-...).")],
                label: Annotated[str | None, Opt("--label", help="good, bad, ...")] = None,
                reason: Annotated[str | None, Opt("--reason", help="Why.")] = None) -> int:
    """Label an audit entry (appends a label entry that names it)."""
    if not label:
        raise UsageError("--label is required, e.g. --label good")
    entry = g.call("audit_label", {"id": entry_id, "label": label, "reason": reason})
    if g.json:
        emit(entry)
    else:
        r.out(entry["id"])
    return 0


@command("restore", examples=["bd restore proj-12", "bd restore proj-12 --json"])
def restore(g: Globals, issue_id: Annotated[str, Arg(help="Issue ID.")]) -> int:
    """Show an issue as last committed to git (.beads/issues.jsonl history); changes nothing."""
    data = g.call("restore", {"id": issue_id})
    if g.json:
        emit(data)
        return 0
    src = data.pop("restored_from")
    r.out(f"{data['id']} as of commit {src['commit'][:12]} ({src['summary']})")
    r.issue_detail({**data, "dependencies": [], "dependents": []})
    return 0
