"""Renaming issue IDs everywhere they appear: rows, edges, counters and text mentions."""
from __future__ import annotations

from ..model import now
from ..replication.ids import rewrite_mentions
from .db import Store

_TEXT = ("title", "description", "design", "acceptance_criteria", "notes")


def rename_ids(store: Store, mapping: dict[str, str], actor: str, *, adopt: bool = False) -> int:
    """Rename issues old -> new inside the current transaction; returns issues rewritten.

    Preconditions: every old ID exists, no new ID exists. Child rows follow through
    ON UPDATE CASCADE; ``depends_on_id`` (no foreign key) and text mentions in every issue
    are rewritten here. Renamed and rewritten issues are marked dirty; each renamed issue
    gets a ``renamed`` event. Runs in two steps through temporary IDs so that swaps work.
    ``adopt``: the JSONL already carries this renumbering (the merge driver made it), so the
    rewrites are taken as they are there: no new versions, ``updated_at`` unchanged, and the
    database's lines come out exactly as the file's.
    """
    if not mapping:
        return 0
    c = store.conn
    ts = now()
    temp = {old: f"__rename_tmp__{i}" for i, old in enumerate(mapping)}
    for old, tmp in temp.items():
        c.execute("UPDATE issues SET id=? WHERE id=?", (tmp, old))
        c.execute("UPDATE dependencies SET depends_on_id=? WHERE depends_on_id=?", (tmp, old))
    for old, tmp in temp.items():
        new = mapping[old]
        c.execute("UPDATE issues SET id=? WHERE id=?", (new, tmp))
        c.execute("UPDATE dependencies SET depends_on_id=? WHERE depends_on_id=?", (new, tmp))
        store.note_id(new)
        store.add_event(new, "renamed", actor, old=old, new=new, ts=ts)
    # the versions of edges to a renamed issue (removed ones too) move with the edge
    from ..replication import versions as V
    seen: set[str] = set()
    for old in mapping:
        for r in c.execute("SELECT id, versions FROM issues WHERE versions LIKE ?", (f'%"{old}"%',)).fetchall():
            if r["id"] in seen:
                continue
            seen.add(r["id"])
            v = V.loads(r["versions"])
            if V.rename_elem(v, "dependencies", mapping):
                c.execute("UPDATE issues SET versions=? WHERE id=?", (V.dumps(v), r["id"]))
    # text mentions, anywhere
    rewritten = set()
    likes = " OR ".join(f"{f} LIKE ?" for f in _TEXT)
    for old in mapping:
        for r in c.execute(f"SELECT id, {', '.join(_TEXT)} FROM issues WHERE {likes}",
                           (f"%{old}%",) * len(_TEXT)).fetchall():
            fields = {f: rewrite_mentions(r[f], mapping) for f in _TEXT}
            fields = {f: v for f, v in fields.items() if v != r[f]}
            if fields:
                store.set_fields(r["id"], fields, stamp=not adopt)
                rewritten.add(r["id"])
    changed = set(mapping.values()) | rewritten
    for iid in changed:
        if adopt:
            store.mark_dirty([iid], ts)
        else:
            store.touch(iid, ts)
    store.mark_dirty(list(mapping), ts)  # the old IDs' lines must leave the JSONL
    return len(changed)
