"""Operations that move issues in and out of the database: export, flush, import, rename-prefix."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .. import jsonl
from ..errors import ValidationError
from ..validate import Args, check_prefix
from ..workspace import Workspace
from .registry import Ctx, op


def jsonl_path(ctx: Ctx) -> Path:
    """The workspace JSONL of the database the operation runs on."""
    return Workspace(ctx.store.path).jsonl_path


@op("export", write=False)
def export(ctx: Ctx, a: Args) -> dict[str, Any]:
    """The canonical JSONL text (optionally one status). Writing it anywhere is the caller's job."""
    lines = jsonl.export_lines(ctx.store, status=a.text("status"), progress=ctx.progress)
    return {"text": jsonl.render(lines), "count": len(lines)}


@op("flush", write=True)
def flush(ctx: Ctx, a: Args) -> dict[str, Any]:
    """Bring the workspace JSONL up to date (``full`` rewrites every line; ``force``, the way out
    of a broken or foreign file: set it aside and rewrite it from the database)."""
    return jsonl.flush(ctx.store, jsonl_path(ctx), full=a.flag("full"), force=a.flag("force"))


@op("import", write=True)
def import_(ctx: Ctx, a: Args) -> dict[str, Any]:
    """Import JSONL ``text``; or, with ``workspace``, the workspace JSONL itself (merged per field
    against what was last exported or imported; lines gone from the file are kept; collisions
    resolved as in auto-import)."""
    workspace = a.flag("workspace")
    path = jsonl_path(ctx)
    text: str | None
    if workspace:
        text = None if os.path.lexists(path) else ""  # the importer reads the file itself, once
        collisions = "auto"
    else:
        text = a.text("text", "") or ""
        collisions = "remap" if a.flag("resolve_collisions") else "fail"
    res = jsonl.import_text(
        ctx.store, text, actor=ctx.actor, dry_run=a.flag("dry_run"), collisions=collisions,
        skip_existing=a.flag("skip_existing"), strict=a.flag("strict"), workspace=workspace,
        path=path if workspace else None, progress=ctx.progress)
    ctx.notices.extend(res.warnings)
    return res.as_dict()


@op("rename_prefix", write=True)
def rename_prefix(ctx: Ctx, a: Args) -> dict[str, Any]:
    s = ctx.store
    new = check_prefix(a.req("new_prefix"))
    old = s.prefix
    if new == old:
        raise ValidationError(f"the prefix is already {old!r}")
    ids = [r["id"] for r in s.conn.execute("SELECT id FROM issues WHERE id LIKE ? ESCAPE '\\' AND status != "
                                           "'tombstone' ORDER BY id", (old.replace("_", "\\_") + "-%",))]
    mapping = {i: new + i[len(old):] for i in ids}
    clash = [n for n in mapping.values() if s.get_issue(n) is not None]
    if clash:
        raise ValidationError(f"cannot rename: {', '.join(clash[:5])} already exist")
    result = {"issues_count": len(ids), "new_prefix": new, "old_prefix": old}
    if a.flag("dry_run"):
        result["dry_run"] = True
        result["sample"] = dict(list(mapping.items())[:5])
        return result
    from .ids import rename_leaving_tombstones
    rename_leaving_tombstones(ctx, mapping)  # the old IDs stay as tombstones: other clones follow
    row = s.conn.execute("SELECT last_id FROM issue_counters WHERE prefix=?", (old,)).fetchone()
    if row:
        s.conn.execute("INSERT INTO issue_counters(prefix, last_id) VALUES(?,?) ON CONFLICT(prefix) "
                       "DO UPDATE SET last_id=max(last_id, excluded.last_id)", (new, row["last_id"]))
    s.set_config("issue_prefix", new)
    return result
