"""Dependency, label, comment and audit-trail operations."""
from __future__ import annotations

from typing import Any

from ..errors import ConflictError, CycleError, NotFoundError, ValidationError
from ..model import issue_to_json, now
from ..store import queries as q
from ..store.db import TOMBSTONE
from ..validate import Args, check_dep_type, check_label
from .registry import Ctx, op


def add_dependency(ctx: Ctx, issue_id: str, target: str, dep_type: str, *, touch: bool = True) -> None:
    """``issue_id`` depends on ``target``. Refuses unknown issues, self-edges, duplicates and
    cycles (naming the cycle). Bumps ``issue_id``'s updated_at so the change travels."""
    s = ctx.store
    check_dep_type(dep_type)
    s.require_issue(issue_id)
    target_row = s.get_issue(target)
    if target_row is None:
        raise NotFoundError(f"dependency target {target} not found",
                            "check the ID with 'bd list' (IDs are case-sensitive)")
    if target_row["status"] == TOMBSTONE:
        raise NotFoundError(f"dependency target {target} was deleted", f"'bd undelete {target}' brings it back")
    if issue_id == target:
        raise ValidationError("issue cannot depend on itself")
    existing = s.get_dep(issue_id, target)
    if existing:
        raise ConflictError(f"{issue_id} already depends on {target} ({existing['type']})",
                            "remove it first with 'bd dep remove' to change its type")
    path = q.find_path(s, target, issue_id)
    if path is not None:
        raise CycleError.of([issue_id] + path)
    ts = now()
    s.insert_dep(issue_id, target, dep_type, ctx.actor, ts)
    if touch:
        s.touch(issue_id, ts)
    else:
        s.mark_dirty([issue_id], ts)
    s.add_event(issue_id, "dependency_added", ctx.actor, new={"depends_on_id": target, "type": dep_type}, ts=ts)


def _pair(a: Args) -> tuple[str, str]:
    src = a.text("from_id") or a.text("issue_id") or a.text("id")
    dst = a.text("to_id") or a.text("depends_on_id")
    if not src or not dst:
        raise ValidationError(f"invalid {a.op} args: from_id and to_id are required")
    return src.strip(), dst.strip()


@op("dep_add", write=True)
def dep_add(ctx: Ctx, a: Args) -> dict[str, Any]:
    src, dst = _pair(a)
    dep_type = a.text("dep_type") or a.text("type") or "blocks"
    add_dependency(ctx, src, dst, dep_type)
    return {"depends_on_id": dst, "issue_id": src, "status": "added", "type": dep_type}


@op("dep_remove", write=True)
def dep_remove(ctx: Ctx, a: Args) -> dict[str, Any]:
    s = ctx.store
    src, dst = _pair(a)
    s.require_issue(src)
    dep = s.get_dep(src, dst)
    want = a.text("dep_type") or a.text("type")
    if dep is None or (want and dep["type"] != want):
        raise NotFoundError(f"{src} does not depend on {dst}" + (f" ({want})" if want else ""),
                            f"see 'bd dep tree {src}'")
    s.delete_dep(src, dst)
    ts = s.touch(src)
    s.add_event(src, "dependency_removed", ctx.actor, old={"depends_on_id": dst, "type": dep["type"]}, ts=ts)
    return {"depends_on_id": dst, "issue_id": src, "status": "removed"}


@op("dep_tree", write=False)
def dep_tree(ctx: Ctx, a: Args) -> list[dict[str, Any]]:
    root = a.req("id")
    ctx.store.require_issue(root)
    max_depth = a.integer("max_depth", 50) or 50
    nodes = q.dep_tree(ctx.store, root, max_depth=max_depth, reverse=a.flag("reverse"))
    out = []
    for n in nodes:
        if n.get("missing"):
            j = {"id": n["id"], "title": n["title"], "status": n["status"], "priority": n["priority"],
                 "missing": True}
        else:
            j = issue_to_json(n)
        j["depth"] = n["depth"]
        j["parent_id"] = n["parent_id"]
        j["truncated"] = n["truncated"]
        out.append(j)
    return out


@op("dep_cycles", write=False)
def dep_cycles(ctx: Ctx, a: Args) -> list[list[str]]:
    return q.find_cycles(ctx.store)


@op("label_add", write=True)
def label_add(ctx: Ctx, a: Args) -> dict[str, Any]:
    s = ctx.store
    issue_id, label = a.req("id"), check_label(a.req("label"))
    s.require_issue(issue_id)
    if s.add_label(issue_id, label):
        ts = s.touch(issue_id)
        s.add_event(issue_id, "label_added", ctx.actor, new=label, ts=ts)
        return {"issue_id": issue_id, "label": label, "status": "added"}
    return {"issue_id": issue_id, "label": label, "status": "exists"}


@op("label_remove", write=True)
def label_remove(ctx: Ctx, a: Args) -> dict[str, Any]:
    s = ctx.store
    issue_id, label = a.req("id"), check_label(a.req("label"))
    s.require_issue(issue_id)
    if s.remove_label(issue_id, label):
        ts = s.touch(issue_id)
        s.add_event(issue_id, "label_removed", ctx.actor, old=label, ts=ts)
        return {"issue_id": issue_id, "label": label, "status": "removed"}
    return {"issue_id": issue_id, "label": label, "status": "absent"}


@op("label_list", write=False)
def label_list(ctx: Ctx, a: Args) -> list[str]:
    issue_id = a.req("id")
    ctx.store.require_issue(issue_id)
    return ctx.store.labels(issue_id)


@op("label_list_all", write=False)
def label_list_all(ctx: Ctx, a: Args) -> list[dict[str, Any]]:
    return ctx.store.conn.execute(
        "SELECT l.label, count(*) AS count FROM labels l JOIN issues i ON i.id = l.issue_id "
        "WHERE i.status != 'tombstone' GROUP BY l.label ORDER BY l.label").fetchall()


@op("comment_add", write=True)
def comment_add(ctx: Ctx, a: Args) -> dict[str, Any]:
    s = ctx.store
    issue_id = a.req("id")
    text = a.text("text") or a.text("comment") or ""
    if not text.strip():
        raise ValidationError("comment text must not be empty")
    s.require_issue(issue_id)
    author = a.text("author") or ctx.actor
    c = s.add_comment(issue_id, author, text)
    s.touch(issue_id, c["created_at"])
    s.add_event(issue_id, "commented", ctx.actor, comment=text, ts=c["created_at"])
    return c


@op("comment_list", write=False)
def comment_list(ctx: Ctx, a: Args) -> list[dict[str, Any]]:
    issue_id = a.req("id")
    ctx.store.require_issue(issue_id)
    return ctx.store.comments(issue_id)


@op("events", write=False)
def events(ctx: Ctx, a: Args) -> list[dict[str, Any]]:
    issue_id = a.req("id")
    ctx.store.require_issue(issue_id)  # one not-found error (and hint) everywhere
    return ctx.store.events(issue_id, a.integer("limit", 0) or 0)
