"""The ID mode of a repository, and the migration of a workspace to hash IDs."""
from __future__ import annotations

import json
from typing import Any

from ..model import now
from ..replication.ids import may_collide, new_hash_id
from ..store import versioning
from ..store.db import TOMBSTONE
from ..store.rename import rename_ids
from ..validate import Args
from .registry import Ctx, op


@op("migrate_hash_ids", write=True)
def migrate_hash_ids(ctx: Ctx, a: Args) -> dict[str, Any]:
    """Give every live issue with a sequential ID a hash ID and switch the repository to hash IDs.

    Every reference follows (dependency edges, mentions in text). The old ID stays as a
    tombstone (``delete_reason: "renamed to <new>"``), so that a clone which still has the old
    ID drops it when it imports; ``.beads/config.yaml`` gets ``id-mode: hash`` so that every clone
    makes hash IDs from then on. The new IDs hash each issue's title, description and creation
    time only, so two clones that migrate the same issues get the same IDs. Run it once every
    clone has synced (an edit another clone makes to an old ID meanwhile stays with its tombstone).
    ``dry_run``: the plan only."""
    from ..workspace.config import set_repo_setting
    s = ctx.store
    rows = s.conn.execute("SELECT id, title, description, created_us FROM issues WHERE status != ? "
                          "ORDER BY created_us, id", (TOMBSTONE,)).fetchall()
    taken = {r["id"] for r in s.conn.execute("SELECT id FROM issues")}
    n = len(taken)
    mapping: dict[str, str] = {}
    for r in rows:
        if not may_collide(r["id"]):
            continue
        prefix = r["id"].rsplit("-", 1)[0]
        new = new_hash_id(prefix, r["title"], r["description"], "", r["created_us"] * 1000, n,
                          lambda i: i in taken)
        taken.add(new)
        mapping[r["id"]] = new
    result: dict[str, Any] = {"renamed": len(mapping), "mapping": mapping, "id_mode": "hash"}
    if a.flag("dry_run"):
        result["dry_run"] = True
        return result
    rename_leaving_tombstones(ctx, mapping)
    set_repo_setting(s.beads_dir, "id-mode", "hash")
    return result


def rename_leaving_tombstones(ctx: Ctx, mapping: dict[str, str]) -> None:
    """Rename issues (every reference follows) in a way other clones follow too: each old ID
    stays as a tombstone ``renamed to <new>``, so a clone that has the old issue drops it when
    it imports (a line that merely vanished would be kept: absence is not deletion)."""
    if not mapping:
        return
    from ..jsonl import export_lines
    s = ctx.store
    old_lines = export_lines(s, list(mapping))
    rename_ids(s, mapping, ctx.actor)
    ts = now()
    for old, new in mapping.items():
        _leave_tombstone(ctx, old_lines[old], new, ts)


def _leave_tombstone(ctx: Ctx, old_line: str, new: str, ts: str) -> None:
    """A tombstone under the old ID: the line every clone knows for it, deleted at a fresh
    version (so each clone's import drops the old ID, and nothing else in it changes)."""
    from ..model import ts_micros
    from ..replication.importer import write_state
    from ..replication.merge import lift
    from ..replication.record import DELETED, decode, stored_versions
    s = ctx.store
    st = lift(decode(json.loads(old_line)), None)
    ver = versioning.version_for(s, stored_versions(st))
    st.regs[DELETED] = ({"deleted": True, "deleted_at": ts, "deleted_by": ctx.actor,
                         "delete_reason": f"renamed to {new}", "original_type": st.value("issue_type")}, ver)
    if ts_micros(ts) > st.updated_us:
        st.updated_at, st.updated_us = ts, ts_micros(ts)
    write_state(s, st, insert=True)
    s.mark_dirty([st.id], ts)
    s.add_event(st.id, "renamed", ctx.actor, old=st.id, new=new, ts=ts)


@op("id_mode", write=False)
def id_mode_op(ctx: Ctx, a: Args) -> dict[str, Any]:
    """The repository's ID mode (``.beads/config.yaml``)."""
    from ..workspace.config import id_mode
    return {"id_mode": id_mode(ctx.store.beads_dir)}
