"""Commands that move or describe the data: export, import, rename-prefix, migrate, info, config."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

from ...errors import UsageError
from .. import render as r
from ..decl import Arg, Opt, command
from ..runtime import Globals, emit, read_text


@command("export", examples=["bd export > issues-backup.jsonl", "bd export -s open -o open.jsonl",
                             "bd export --force   # rewrite a broken .beads/issues.jsonl from the database"])
def export(g: Globals, fmt: Annotated[str, Opt("-f", "--format", help="jsonl")] = "jsonl",
           output: Annotated[str | None, Opt("-o", "--output", help="File (default: stdout).")] = None,
           status: Annotated[str | None, Opt("-s", "--status", help="Only this status.")] = None,
           force: Annotated[bool, Opt("--force", help="Rewrite the workspace JSONL from the database even if it "
                                                      "changed or does not parse (the old file is kept beside "
                                                      "it).")] = False) -> int:
    """Export issues as JSONL."""
    if fmt != "jsonl":
        raise UsageError(f"unsupported format {fmt!r}: only jsonl")
    if force:
        return _export_force(g, output, status)
    if not output or output == "-":
        sys.stdout.write(g.call("export", {"status": status})["text"])
        return 0
    b = g.backend()
    target = Path(output).resolve()
    if target == Path(b.ws.jsonl_path).resolve() and not status:
        res = g.call("flush", {"full": True})
        if g.json:
            emit(res)
        else:
            r.err(f"Exported {res.get('issues', 0)} issues to {output}")
        return 0
    if not g.json:  # a bar on a terminal, for a file target only
        b.progress = r.Progress("Exporting", enabled=True)
    data = g.call("export", {"status": status})
    from ...workspace.files import atomic_write
    atomic_write(target, data["text"])
    if g.json:
        emit({"count": data["count"], "path": str(target)})
    else:
        r.err(f"Exported {data['count']} issues to {output}")
    return 0


def _export_force(g: Globals, output: str | None, status: str | None) -> int:
    """``bd export --force``: the way out of a broken workspace JSONL that keeps everything."""
    b = g.backend()
    jl = Path(b.ws.jsonl_path)
    if status or (output and output != "-" and Path(output).absolute() != jl.absolute()):
        raise UsageError("--force rewrites the workspace JSONL from the database: it takes no -o or -s",
                         f"to write a copy elsewhere, leave out --force; the workspace file is {jl}")
    res = g.call("flush", {"full": True, "force": True})
    if g.json:
        emit(res)
        return 0
    r.err(f"Rewrote {jl} from the database ({res.get('issues', 0)} issues)")
    if res.get("set_aside"):
        r.err(f"  the previous file is kept as {res['set_aside']} (compare, then delete it)")
    return 0


@command("import", examples=["bd import -i backup.jsonl --dry-run", "bd import -i other.jsonl --resolve-collisions",
                             "cat issues.jsonl | bd import"])
def import_(
    g: Globals,
    input_path: Annotated[str | None, Opt("-i", "--input", help="JSONL file (default: stdin).")] = None,
    skip_existing: Annotated[bool, Opt("-s", "--skip-existing", help="Only create, never update.")] = False,
    strict: Annotated[bool, Opt("--strict", help="Refuse values this version does not know.")] = False,
    resolve_collisions: Annotated[bool, Opt("--resolve-collisions",
                                            help="Give colliding incoming issues new IDs.")] = False,
    dry_run: Annotated[bool, Opt("--dry-run", help="Report what would change; change nothing.")] = False,
) -> int:
    """Import issues from JSONL: all or nothing, newer wins per issue."""
    src = input_path or "-"
    b = g.backend()
    if src != "-" and Path(src).resolve() == Path(b.ws.jsonl_path).resolve():
        args: dict[str, Any] = {"workspace": True}
    else:
        args = {"text": read_text(src)}
    args.update(skip_existing=skip_existing or None, strict=strict or None,
                resolve_collisions=resolve_collisions or None, dry_run=dry_run or None)
    if not g.json:  # a bar on a terminal (never in --json or pipes)
        b.progress = r.Progress("Importing", enabled=True)
    res = g.call("import", args)
    if g.json:
        emit(res)
        return 0
    if res["collisions"]:
        r.err("=== Collision Detection Report ===")
        from ..safetext import clean_data
        for c in clean_data(res["collisions"]):
            new = res["remapped"].get(c["id"])
            r.err(f"  {c['id']}: incoming {c['incoming_title']!r} vs existing {c['existing_title']!r}"
                  + (f" -> imported as {new}" if new else ""))
    from ...jsonl import kept_summary
    prefix = "Dry run: would import" if dry_run else "Import complete:"
    r.err(f"{prefix} {res['created']} created, {res['updated']} updated, {res['unchanged']} unchanged"
          + kept_summary(res["kept_newer"], res.get("kept_absent", 0))
          + (f", {len(res['remapped'])} remapped" if res["remapped"] else ""))
    return 0


@command("rename-prefix", examples=["bd rename-prefix app --dry-run", "bd rename-prefix app"])
def rename_prefix(g: Globals, new_prefix: Annotated[str, Arg(help="The new prefix.")],
                  dry_run: Annotated[bool, Opt("--dry-run", help="Show what would change.")] = False) -> int:
    """Rename every issue to a new ID prefix (references are rewritten)."""
    res = g.call("rename_prefix", {"new_prefix": new_prefix, "dry_run": dry_run or None})
    if g.json:
        emit(res)
    elif dry_run:
        r.out(f"Would rename {res['issues_count']} issues from {res['old_prefix']}- to {res['new_prefix']}-")
        for old, new in (res.get("sample") or {}).items():
            r.out(f"  {old} -> {new}")
    else:
        r.out(f"{r.green('✓')} Renamed {res['issues_count']} issues from {res['old_prefix']}- "
              f"to {res['new_prefix']}-")
    return 0


@command("migrate-hash-ids", examples=["bd migrate-hash-ids --dry-run", "bd migrate-hash-ids"])
def migrate_hash_ids(g: Globals,
                     dry_run: Annotated[bool, Opt("--dry-run", help="Show the new IDs; change nothing.")] = False) -> int:
    """Give every issue a hash ID (references follow) and make hash IDs the repository's mode."""
    res = g.call("migrate_hash_ids", {"dry_run": dry_run or None})
    if g.json:
        emit(res)
        return 0
    r.out(f"Would rename {res['renamed']} issue(s) to hash IDs" if dry_run
          else f"{r.green('✓')} Renamed {res['renamed']} issue(s) to hash IDs")
    for old, new in list(res["mapping"].items())[:20]:
        r.out(f"  {old} -> {new}")
    if len(res["mapping"]) > 20:
        r.out(f"  ... and {len(res['mapping']) - 20} more")
    if not dry_run:
        r.out("  .beads/config.yaml now says id-mode: hash; commit it with the JSONL so every clone agrees.")
        r.out("  The old IDs stay as tombstones (renamed to the new ones), so other clones drop them.")
    return 0


@command("info", examples=["bd info", "bd info --json", "bd info --schema --json"])
def info(g: Globals, schema: Annotated[bool, Opt("--schema", help="Add the schema: tables, version, prefix, "
                                                                  "sample IDs.")] = False) -> int:
    """Show the database, JSONL and mode in use."""
    data = g.call("info")
    data["mode"] = g.backend().mode
    data["daemon_connected"] = data["mode"] == "daemon"
    if schema:
        data["schema"] = g.call("schema_info")
    if g.json:
        emit(data)
    else:
        for k, v in data.items():
            r.out(f"{k + ':':<18}{v}")
    return 0


@command("config get", examples=["bd config get sync.branch"])
def config_get(g: Globals, key: Annotated[str, Arg(help="The key.")]) -> int:
    """Print a configuration value."""
    data = g.call("config_get", {"key": key})
    if g.json:
        emit(data)
    else:
        r.out(data["value"] if data["value"] is not None else "")
    return 0


@command("config set", examples=["bd config set sync.branch beads-sync", "bd config set daemon.auto_start true"])
def config_set(g: Globals, key: Annotated[str, Arg(help="The key.")],
               value: Annotated[str, Arg(help="The value.")]) -> int:
    """Set a configuration value."""
    data = g.call("config_set", {"key": key, "value": value})
    if g.json:
        emit(data)
    else:
        r.out(f"{r.green('✓')} Set {data['key']} = {data['value']}")
    return 0


@command("config list", examples=["bd config list --json"])
def config_list(g: Globals) -> int:
    """List configuration values."""
    data = g.call("config_list")
    if g.json:
        emit(data)
    else:
        for k, v in data.items():
            r.out(f"{k} = {v}")
    return 0
