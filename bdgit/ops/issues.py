"""Issue operations: create, update, close, reopen, delete, show, list, ready, blocked, stats."""
from __future__ import annotations

import re
from typing import Any

from ..errors import ConflictError, NotFoundError, UsageError, ValidationError
from ..model import DEFAULT_PRIORITY, DEFAULT_TYPE, issue_to_json, now, short_time, ts_micros
from ..store import queries as q
from ..store.db import TOMBSTONE
from ..validate import Args, check_dep_type, check_label, check_status, check_title, check_type
from . import leases
from .answer import Rows, issue_rows
from .registry import Ctx, op

_TEXT_FIELDS = ("description", "design", "acceptance_criteria", "notes")


def issue_json(ctx: Ctx, row: dict[str, Any], *, labels: bool = True, deps: bool = True) -> dict[str, Any]:
    s = ctx.store
    return issue_to_json(row, s.labels(row["id"]) if labels else None,
                         s.dep_records(row["id"]) if deps else None)


def rows_json(ctx: Ctx, rows: list[dict[str, Any]], extra_keys: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Issues for list-like output, with their labels and link counts (a few queries for all)."""
    from .counts import add_counts
    labels = ctx.store.labels_for([r["id"] for r in rows]) if rows else {}
    out = []
    for r in rows:
        j = issue_to_json(r, labels.get(r["id"]))
        for k in extra_keys:
            if k in r:
                j[k] = r[k]
        out.append(j)
    return add_counts(ctx.store, out)


def new_id(ctx: Ctx, prefix: str, title: str, description: str, created_us: int) -> str:
    """The next ID: sequential, or in hash-ID mode (the repository's ``.beads/config.yaml``) a
    content hash, lengthened on a collision with any issue this database has ever had."""
    from ..workspace.config import id_mode
    s = ctx.store
    if id_mode(s.beads_dir) != "hash":
        return s.next_id(prefix)
    from ..replication.ids import new_hash_id
    n = s.conn.execute("SELECT count(*) AS n FROM issues").fetchone()["n"]
    return new_hash_id(prefix, title, description, ctx.actor, created_us * 1000, n,
                       lambda i: s.get_issue(i) is not None)


def parse_dep_spec(spec: str) -> tuple[str, str]:
    """``type:id`` or ``id`` (type blocks) -> (type, id)."""
    spec = spec.strip()
    if ":" in spec:
        t, _, target = spec.partition(":")
        return check_dep_type(t.strip()), target.strip()
    return "blocks", spec


@op("create", write=True)
def create(ctx: Ctx, a: Args) -> dict[str, Any]:
    s = ctx.store
    title = check_title(a.req("title"))
    issue_type = check_type(a.text("issue_type") or a.text("type") or DEFAULT_TYPE)
    priority = a.priority("priority", DEFAULT_PRIORITY)
    status = check_status(a.text("status") or "open")
    ts = now()
    explicit = a.text("id")
    prefix = s.prefix
    if explicit:
        explicit = explicit.strip()
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_.-]*-[A-Za-z0-9.]+", explicit):
            raise ValidationError(f"invalid id {explicit!r}: expected <prefix>-<number>, e.g. {prefix}-42")
        if not explicit.startswith(prefix + "-") and not a.flag("force"):
            raise ValidationError(f"id {explicit!r} does not use this database's prefix {prefix!r}",
                                  "use the prefix, or pass force to create it anyway")
        issue_id = explicit
    else:
        issue_id = ""  # decided below, once the content is known (hash IDs hash it)
    est = a.integer("estimated_minutes")
    if est is not None and est < 0:
        raise ValidationError("estimated_minutes must be >= 0")
    labels = [check_label(x) for x in a.strlist("labels")]
    dep_specs = [parse_dep_spec(d) for d in a.strlist("dependencies") + a.strlist("deps")]
    created_us = ts_micros(ts)
    description = a.text("description") or ""
    row = {
        "id": issue_id, "title": title, "status": status, "priority": priority, "issue_type": issue_type,
        "assignee": a.text("assignee") or None, "estimated_minutes": est,
        "created_at": ts, "updated_at": ts, "closed_at": ts if status == "closed" else None,
        "created_us": created_us, "updated_us": None,
        "external_ref": a.text("external_ref") or None,
    }
    for f in _TEXT_FIELDS:
        row[f] = a.text(f) or ""
    if not row["acceptance_criteria"] and a.text("acceptance"):
        row["acceptance_criteria"] = a.text("acceptance") or ""
    if not issue_id:
        issue_id = row["id"] = new_id(ctx, prefix, title, description, created_us)
    row["updated_us"] = row["created_us"]  # parsed once: the hottest write path
    s.insert_issue(row, counted=not explicit)
    s.mark_dirty([issue_id], ts)
    s.add_event(issue_id, "created", ctx.actor, ts=ts)
    for lb in labels:
        s.add_label(issue_id, lb)
    if dep_specs:
        from .graph import add_dependency
        for dep_type, target in dep_specs:
            add_dependency(ctx, issue_id, target, dep_type, touch=False)
        return show_one(ctx, issue_id)
    # Nothing links to a new issue yet: shape it from the row we wrote (no re-read; this is
    # the hottest write path).
    out = issue_to_json(row, sorted(set(labels)) or None)
    out["dependencies"] = []  # the same shape as show and the other writes
    out["dependents"] = []
    return out


@op("update", write=True)
def update(ctx: Ctx, a: Args) -> dict[str, Any]:
    s = ctx.store
    issue_id = a.req("id")
    cur = s.require_issue(issue_id)
    changes: dict[str, Any] = {}
    if a.has("title"):
        changes["title"] = check_title(a.req("title"))
    if a.has("status"):
        changes["status"] = check_status(a.req("status"))
    if a.has("priority"):
        changes["priority"] = a.priority()
    if a.has("issue_type"):
        changes["issue_type"] = check_type(a.req("issue_type"))
    for f in _TEXT_FIELDS:
        if a.has(f):
            changes[f] = a.text(f) or ""
    if a.has("acceptance") and "acceptance_criteria" not in changes:
        changes["acceptance_criteria"] = a.text("acceptance") or ""
    if a.has("assignee"):
        changes["assignee"] = a.text("assignee") or None
    if a.has("external_ref"):
        changes["external_ref"] = a.text("external_ref") or None
    if a.has("estimated_minutes"):
        est = a.integer("estimated_minutes")
        if est is not None and est < 0:
            raise ValidationError("estimated_minutes must be >= 0")
        changes["estimated_minutes"] = est
    unknown = set(a.raw) - {"id", "title", "status", "priority", "issue_type", "assignee", "external_ref",
                            "estimated_minutes", "acceptance", "claim", "lease", *_TEXT_FIELDS}
    if unknown:
        raise UsageError(f"invalid field for update: {', '.join(sorted(unknown))}")
    claimed = a.flag("claim")
    if claimed:
        # claim = take the issue atomically (beads' rule: open, and unassigned or yours)
        changes.update(leases.claim_changes(ctx, cur, leases.lease_seconds(ctx, a)))
    elif a.has("lease"):
        raise UsageError("--lease goes with --claim (renew a lease with 'bd heartbeat')")
    asked = bool(changes) or claimed
    changes = {k: v for k, v in changes.items() if cur.get(k) != v}
    if changes:
        apply_changes(ctx, cur, changes, event="claimed" if claimed else None)
    else:
        ctx.notices.append(unchanged(issue_id, "it already has those values" if asked else "no fields were given"))
    return show_one(ctx, issue_id)


UNCHANGED = "nothing changed"


def unchanged(issue_id: str, why: str) -> str:
    """The notice for a request that changed nothing (clients show it instead of "Updated")."""
    return f"{issue_id}: {UNCHANGED}: {why}"


def apply_changes(ctx: Ctx, cur: dict[str, Any], changes: dict[str, Any], comment: str | None = None,
                  *, event: str | None = None) -> None:
    """Write ``changes`` to issue ``cur`` with the status/closed_at rules and one audit event
    (``event``, else one named for the change: updated, closed, reopened, status_changed).

    ``changes`` may hold ``lease`` (a lease, or None to end it); a change of status away from
    in_progress, or to another assignee, ends the issue's lease by itself."""
    s = ctx.store
    ts = now()
    held = leases.lease_of(cur)
    if held is not None and leases.LEASE_KEY not in changes and leases.ends_lease(held, changes):
        changes = {**changes, leases.LEASE_KEY: None}
    old = {k: held if k == leases.LEASE_KEY else cur.get(k) for k in changes}
    fields = {k: v for k, v in changes.items() if k != leases.LEASE_KEY}
    fields["updated_at"] = ts
    if "status" in changes:
        if changes["status"] == "closed":
            fields["closed_at"] = ts
        elif cur["status"] == "closed":
            fields["closed_at"] = None
    if event is None:
        event = "updated"
        if "status" in changes:
            if changes["status"] == "closed":
                event = "closed"
            elif cur["status"] == "closed":
                event = "reopened"
            elif len(changes) == 1:
                event = "status_changed"
    extra: dict[str, Any] | None = None
    # content_hash (written by newer beads) describes the old content; drop it rather than lie.
    # A reopen clears the close reason with closed_at (the two are one register).
    drop = ["content_hash"] + (["close_reason"] if event == "reopened" else [])
    if cur.get("extra") and any(f'"{k}"' in cur["extra"] for k in drop):
        import json
        extra = json.loads(cur["extra"])
        for k in drop:
            extra.pop(k, None)
    if leases.LEASE_KEY in changes:
        extra = leases.extra_with(cur, changes[leases.LEASE_KEY], base=extra)
    if extra is not None:
        fields["extra"] = extra
    s.set_fields(cur["id"], fields)
    s.mark_dirty([cur["id"]], ts)
    s.add_event(cur["id"], event, ctx.actor, old, changes, comment=comment, ts=ts)


@op("note", write=True)
def note(ctx: Ctx, a: Args) -> dict[str, Any]:
    """Append ``text`` as a new line of the issue's notes, in one transaction (two agents
    appending at once both keep their line)."""
    cur = ctx.store.require_issue(a.req("id"))
    text = a.req("text").strip()
    notes = (cur.get("notes") or "").rstrip()
    apply_changes(ctx, cur, {"notes": f"{notes}\n{text}" if notes else text})
    return show_one(ctx, cur["id"])


@op("close", write=True)
def close(ctx: Ctx, a: Args) -> dict[str, Any]:
    s = ctx.store
    cur = s.require_issue(a.req("id"))
    reason = a.text("reason") or "Closed"
    if cur["status"] != "closed":
        apply_changes(ctx, cur, {"status": "closed"}, comment=reason)
    else:
        ctx.notices.append(unchanged(cur["id"], f"it was already closed ({short_time(cur['closed_at'])})"
                                     if cur.get("closed_at") else "it was already closed"))
    return show_one(ctx, cur["id"])


@op("reopen", write=True)
def reopen(ctx: Ctx, a: Args) -> dict[str, Any]:
    s = ctx.store
    cur = s.require_issue(a.req("id"))
    reason = a.text("reason")
    if cur["status"] != "open":
        apply_changes(ctx, cur, {"status": "open"}, comment=reason)
    else:
        ctx.notices.append(unchanged(cur["id"], "it is already open" + (" (the reason was added as a comment)"
                                                                         if reason else "")))
    if reason:
        s.add_comment(cur["id"], ctx.actor, reason)
        s.touch(cur["id"])
    return show_one(ctx, cur["id"])


#: live issues that depend on an issue
_DEPENDENTS = ("SELECT d.issue_id FROM dependencies d JOIN issues i ON i.id = d.issue_id "
               "WHERE d.depends_on_id=? AND i.status != 'tombstone'")


def mention_re(issue_id: str) -> re.Pattern[str]:
    """An ID as a whole word, where hyphens and dots count as part of the word."""
    return re.compile(r"(?<![\w.-])" + re.escape(issue_id) + r"(?![\w-]|\.\w)")


@op("delete", write=True)
def delete(ctx: Ctx, a: Args) -> dict[str, Any]:
    """Delete issues (``id`` or ``ids``). Without ``force`` it is a preview and changes nothing.

    A deleted issue becomes a tombstone (beads' shape: status ``tombstone`` with who, when and
    why) that travels through git, so that every clone deletes it; its content stays for
    ``bd undelete``. Edges from live issues to it are removed and mentions in their text become
    ``[deleted:ID]`` (versioned edits of those issues).
    """
    s = ctx.store
    ids = a.strlist("ids") or [a.req("id")]
    for i in ids:
        s.require_issue(i)
    force = a.flag("force", False)
    gone = set(ids)
    out_edges = in_edges = 0
    touched: dict[str, dict[str, str]] = {}
    for i in ids:
        out_edges += s.conn.execute("SELECT count(*) AS n FROM dependencies WHERE issue_id=?", (i,)).fetchone()["n"]
        for r in s.conn.execute(_DEPENDENTS, (i,)).fetchall():
            if r["issue_id"] not in gone:
                in_edges += 1
        pat = mention_re(i)
        like = f"%{i}%"
        for r in s.conn.execute(
                "SELECT id, title, description, design, acceptance_criteria, notes FROM issues WHERE status != "
                "'tombstone' AND (title LIKE ? OR description LIKE ? OR design LIKE ? OR acceptance_criteria LIKE ? "
                "OR notes LIKE ?)",
                (like,) * 5).fetchall():
            if r["id"] in gone:
                continue
            fields = touched.setdefault(r["id"], {})
            for f in ("title",) + _TEXT_FIELDS:
                text = fields.get(f, r[f])
                new = pat.sub(f"[deleted:{i}]", text)
                if new != text:
                    fields[f] = new
    touched = {k: v for k, v in touched.items() if v}
    result = {"deleted": ids[0] if len(ids) == 1 else ids, "deleted_ids": ids,
              "dependencies_removed": out_edges + in_edges, "references_updated": len(touched)}
    if not force:
        result["preview"] = True
        result["issues_with_references"] = sorted(touched)
        return result
    ts = now()
    dependents = set()
    for i in ids:
        for r in s.conn.execute(_DEPENDENTS, (i,)).fetchall():
            if r["issue_id"] not in gone:
                dependents.add(r["issue_id"])
                s.delete_dep(r["issue_id"], i)
    for iid, fields in touched.items():
        cur = s.require_issue(iid)
        apply_changes(ctx, cur, fields)
    for iid in dependents - set(touched):
        s.touch(iid, ts)
        s.add_event(iid, "dependency_removed", ctx.actor, old=sorted(gone & set(ids)), ts=ts)
    reason = a.text("reason") or "delete"
    for i in ids:
        tombstone(ctx, s.require_issue(i), reason, ts)
    return result


def tombstone(ctx: Ctx, row: dict[str, Any], reason: str, ts: str) -> None:
    """Make live issue ``row`` a tombstone: the deletion register written, its status hidden in
    the versions (an undelete brings it back), ``closed_at`` cleared as beads' tombstones have it."""
    import json

    from ..replication import versions as V
    from ..store import versioning
    s = ctx.store
    iid = row["id"]
    extra = json.loads(row["extra"]) if row.get("extra") else {}
    extra.update(deleted_at=ts, deleted_by=ctx.actor, delete_reason=reason, original_type=row["issue_type"])
    v = versioning.load(s, iid, row)
    V.hide_status(v, row["status"], row.get("closed_at"))
    V.stamp(v, ["deleted_at"], versioning.version_for(s, v))
    s.set_fields(iid, {"status": TOMBSTONE, "closed_at": None, "extra": extra, "updated_at": ts}, stamp=False)
    versioning.save(s, iid, v)
    s.mark_dirty([iid], ts)
    s.add_event(iid, "deleted", ctx.actor, comment=reason, ts=ts)


@op("undelete", write=True)
def undelete(ctx: Ctx, a: Args) -> dict[str, Any]:
    """Bring back deleted issues (``id`` or ``ids``) with the status they had: an undelete made
    after seeing the delete wins over it in every clone (a concurrent edit never does). (beads'
    ``restore`` is another thing: an issue's text from git history, see ops.records.)"""
    import json

    from ..replication import versions as V
    from ..replication.record import guess_status
    from ..store import versioning
    s = ctx.store
    ids = a.strlist("ids") or [a.req("id")]
    rows = [s.require_issue(i, deleted=True) for i in ids]
    for row in rows:
        if row["status"] != TOMBSTONE:
            raise ConflictError(f"issue {row['id']} is not deleted", "nothing to undelete")
    ts = now()
    for row in rows:
        iid = row["id"]
        extra = json.loads(row["extra"]) if row.get("extra") else {}
        v = versioning.load(s, iid, row)
        hidden = V.unhide_status(v)
        if hidden is None:  # a tombstone from beads: it does not say what status it had
            g = guess_status(dict(extra, updated_at=row["updated_at"]))
            hidden = (g["status"], g.get("closed_at"))
        for k in ("deleted_at", "deleted_by", "delete_reason", "original_type"):
            extra.pop(k, None)
        V.stamp(v, ["deleted_at"], versioning.version_for(s, v))
        s.set_fields(iid, {"status": hidden[0], "closed_at": hidden[1], "extra": extra or None, "updated_at": ts},
                     stamp=False)
        versioning.save(s, iid, v)
        s.mark_dirty([iid], ts)
        s.add_event(iid, "undeleted", ctx.actor, comment=a.text("reason"), ts=ts)
    out = [show_one(ctx, r["id"]) for r in rows]
    return out[0] if len(out) == 1 else {"undeleted": out}


@op("show", write=False)
def show(ctx: Ctx, a: Args) -> dict[str, Any] | list[dict[str, Any]]:
    """One issue with labels, dependencies (as issues), dependents and comments.

    ``ids`` gives a list of them. An unknown ID is an error (never null)."""
    ids = a.strlist("ids")
    if ids:
        return [show_one(ctx, i) for i in ids]
    return show_one(ctx, a.req("id"))


def show_one(ctx: Ctx, issue_id: str) -> dict[str, Any]:
    s = ctx.store
    row = s.require_issue(issue_id)
    out = issue_to_json(row, s.labels(issue_id))
    deps, dependents = [], []
    for r in s.conn.execute("SELECT depends_on_id AS oid, type, created_at FROM dependencies WHERE issue_id=? "
                            "ORDER BY created_at, depends_on_id", (issue_id,)).fetchall():
        deps.append(_linked(ctx, r["oid"], r["type"], r["created_at"]))
    for r in s.conn.execute("SELECT d.issue_id AS oid, d.type FROM dependencies d JOIN issues i ON i.id = d.issue_id "
                            "WHERE d.depends_on_id=? AND i.status != 'tombstone' ORDER BY d.created_at, d.issue_id",
                            (issue_id,)).fetchall():
        dependents.append(_linked(ctx, r["oid"], r["type"]))
    out["dependencies"] = deps
    out["dependents"] = dependents
    comments = s.comments(issue_id)
    if comments:
        out["comments"] = comments
    if row["status"] == "open":
        gone = leases.abandoned(s, issue_id)
        if gone is not None:
            out["abandoned"] = gone
    return out


def _linked(ctx: Ctx, other: str, dep_type: str, linked_at: str | None = None) -> dict[str, Any]:
    row = ctx.store.get_issue(other)
    if row is None:
        # A placeholder for a target we do not have. Clients (beads-mcp) require created_at
        # and updated_at on every linked issue: use when the link was made.
        j: dict[str, Any] = {"id": other, "title": "", "description": "", "status": "unknown",
                             "priority": 4, "issue_type": "task", "created_at": linked_at,
                             "updated_at": linked_at, "missing": True}
    else:
        j = issue_to_json(row)
        if row["status"] == TOMBSTONE:
            j["deleted"] = True  # linked before (or while) it was deleted: shown, never blocking
    j["dependency_type"] = dep_type
    return j


#: statuses a filter may name: ours and the ones newer beads writes (its clients filter by them)
FILTER_STATUSES = ("open", "in_progress", "blocked", "closed", "deferred", "pinned", "hooked", "tombstone")


def check_filters(ctx: Ctx, a: Args) -> None:
    """Filter values must name something that can exist: a mistyped status, type or parent is
    an error listing the valid ones, never a silent empty answer. Values imported from newer
    beads (other statuses or types) are valid while some issue has them."""
    from ..model import ISSUE_TYPES
    c = ctx.store.conn
    status = a.text("status")
    if status and status != "all" and status not in FILTER_STATUSES:
        present = [r["status"] for r in c.execute("SELECT DISTINCT status FROM issues ORDER BY status")]
        if status not in present:
            valid = list(FILTER_STATUSES) + [x for x in present if x not in FILTER_STATUSES] + ["all"]
            raise ValidationError(f"invalid status {status!r}: expected one of {', '.join(valid)}")
    issue_type = a.text("issue_type") or a.text("type")
    if issue_type and issue_type not in ISSUE_TYPES:
        present = [r["issue_type"] for r in c.execute("SELECT DISTINCT issue_type FROM issues ORDER BY 1")]
        if issue_type not in present:
            valid = list(ISSUE_TYPES) + [x for x in present if x not in ISSUE_TYPES]
            raise ValidationError(f"invalid issue type {issue_type!r}: expected one of {', '.join(valid)}")
    parent = a.text("parent")
    if parent and ctx.store.get_issue(parent) is None:
        raise NotFoundError(f"parent issue {parent} not found", "check the ID with 'bd list' (IDs are case-sensitive)")


def list_rows(ctx: Ctx, a: Args) -> Rows:
    """The ``list`` operation's answer, to render in chunks (``answer``); in a read snapshot."""
    check_filters(ctx, a)
    status = a.text("status")
    labels = [check_label(x) for x in a.strlist("labels") + a.strlist("label")]
    assignee = "" if a.flag("no_assignee") or a.flag("unassigned") else a.text("assignee")
    ids = q.list_issues(
        ctx.store, status=status, priority=a.priority("priority"), issue_type=a.text("issue_type") or a.text("type"),
        assignee=assignee, labels=labels, labels_any=a.strlist("labels_any"), parent=a.text("parent"),
        title=a.text("title"), query=a.text("query"), ids=a.strlist("ids") or None,
        limit=a.integer("limit", 0) or 0, sort=_sort(a.text("sort")), reverse=a.flag("reverse"), ids_only=True)
    return issue_rows(ctx.store, ids)


@op("list", write=False, stream=list_rows)
def list_(ctx: Ctx, a: Args) -> list[dict[str, Any]]:
    with ctx.store.read_snapshot():
        return list_rows(ctx, a).to_list()


def _sort(v: str | None) -> str:
    v = v or "priority"
    if v not in q.SORTS:
        raise ValidationError(f"invalid sort {v!r}: expected one of {', '.join(q.SORTS)}")
    return v


def ready_rows(ctx: Ctx, a: Args) -> Rows:
    """The ``ready`` operation's list (the operation itself, which can also claim, is
    ``claim.ready``), to render in chunks; in a read snapshot. The caller has checked the
    filters (``check_filters``)."""
    assignee = "" if a.flag("unassigned") or a.flag("no_assignee") else a.text("assignee")
    sort = a.text("sort") or "priority"
    if sort not in ("priority", "hybrid", "oldest"):
        raise ValidationError(f"invalid sort policy {sort!r}: expected priority, hybrid or oldest")
    ids = q.ready_issues(ctx.store, priority=a.priority("priority"), assignee=assignee,
                         issue_type=a.text("issue_type") or a.text("type"),
                         labels=[check_label(x) for x in a.strlist("labels") + a.strlist("label")],
                         labels_any=a.strlist("labels_any"), parent=a.text("parent"),
                         oldest_first=sort == "oldest", limit=a.integer("limit", 0) or 0, ids_only=True)
    return issue_rows(ctx.store, ids)


def ready_list(ctx: Ctx, a: Args) -> list[dict[str, Any]]:
    """``ready_rows`` as a list."""
    with ctx.store.read_snapshot():
        return ready_rows(ctx, a).to_list()


def blocked_rows(ctx: Ctx, a: Args) -> Rows:
    """The ``blocked`` operation's answer, to render in chunks; in a read snapshot."""
    check_filters(ctx, a)
    ids, flags = q.blocked_order(ctx.store)
    parent = a.text("parent")
    if parent:
        under = q.descendants(ctx.store, parent)
        ids = [i for i in ids if i in under]
    blockers = q.Blockers(ctx.store, flags)

    def extra(chunk: list[str]) -> dict[str, dict[str, Any]]:
        return {i: {"blocked_by_count": len(by), "blocked_by": by} for i, by in blockers.of(chunk).items()}
    return issue_rows(ctx.store, ids, extra)


@op("blocked", write=False, stream=blocked_rows)
def blocked(ctx: Ctx, a: Args) -> list[dict[str, Any]]:
    with ctx.store.read_snapshot():
        return blocked_rows(ctx, a).to_list()


@op("stats", write=False)
def stats(ctx: Ctx, a: Args) -> dict[str, Any]:
    out = q.stats(ctx.store)
    # beads-mcp 0.9.x reads these keys flat, 1.x under "summary": give both.
    out["summary"] = {k: v for k, v in out.items() if k != "other_statuses"}
    return out


@op("count", write=False)
def count(ctx: Ctx, a: Args) -> dict[str, Any]:
    return {"count": len(list_rows(ctx, a))}  # the IDs only: nothing to render


def require_ids(ctx: Ctx, ids: list[str]) -> None:
    missing = [i for i in ids if ctx.store.get_issue(i) is None]
    if missing:
        raise NotFoundError(f"issue {', '.join(missing)} not found",
                            "check the ID with 'bd list' (IDs are case-sensitive)")


__all__ = ["issue_json", "rows_json", "apply_changes", "parse_dep_spec", "mention_re", "check_dep_type"]
