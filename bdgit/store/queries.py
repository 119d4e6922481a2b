"""Graph and report queries: list/search, ready, blocked, stats, dependency tree, cycles.

One rule decides readiness everywhere (ready, blocked and stats share ``BLOCKED_CTE``):
- an issue is *directly blocked* when it is not closed and has a ``blocks`` edge to an issue
  that is not closed (an unknown status counts as not closed; so does a blocker that is not
  in the database: we cannot know it is done);
- a not-closed ``parent-child`` child of a blocked issue is blocked too, at any depth;
- *ready* = status ``open`` and not blocked.

A deleted issue (status ``tombstone``) is in none of them: not listed, counted, ready, blocked or
blocking; an edge to it (made concurrently with the delete, in another clone) blocks nothing.

The database keeps the blocked set (``issues.blocked``) and the counts ``stats`` reports up to
date on every write (``derived``), and indexes in ready's and list's orders, so that ready,
blocked and stats read what they answer; from scratch (``BLOCKED_CTE``) only when a writer left
the flags unsettled.
"""
from __future__ import annotations

import json
from collections import deque
from typing import Any

from ..model import ts_micros
from ..scc import cyclic_components
from . import derived
from .db import ISSUE_COLUMNS, Store
from .derived import BLOCKED_CTE

SORTS = {
    "priority": "priority ASC, created_us DESC, id ASC",
    "created": "created_us DESC, id ASC",
    "updated": "updated_us DESC, id ASC",
    "id": "id ASC",
    "title": "title COLLATE NOCASE ASC, id ASC",
    "status": "status ASC, priority ASC, id ASC",
}


def list_issues(store: Store, *, status: str | None = None, priority: int | None = None,
                issue_type: str | None = None, assignee: str | None = None,
                labels: list[str] | None = None, labels_any: list[str] | None = None,
                title: str | None = None, query: str | None = None, ids: list[str] | None = None,
                parent: str | None = None, limit: int = 0, sort: str = "priority", reverse: bool = False,
                ids_only: bool = False) -> list[Any]:
    """Filtered issue rows. ``status`` None or ``all`` means every status; ``labels`` must all
    match, ``labels_any`` at least one; ``title`` searches titles, ``query`` title,
    description and id (case-insensitive substring). ``ids_only``: their IDs (strings), in
    the same order, for an answer rendered in chunks (``ops.answer``)."""
    where: list[str] = ["status != 'tombstone'"]
    params: list[Any] = []
    if status and status != "all":
        where.append("status = ?")
        params.append(status)
    if priority is not None:
        where.append("priority = ?")
        params.append(priority)
    if issue_type:
        where.append("issue_type = ?")
        params.append(issue_type)
    if assignee is not None:
        if assignee == "":
            where.append("assignee IS NULL")
        else:
            where.append("assignee = ?")
            params.append(assignee)
    for lb in labels or []:
        where.append("EXISTS (SELECT 1 FROM labels l WHERE l.issue_id = issues.id AND l.label = ?)")
        params.append(lb)
    if labels_any:
        where.append(f"EXISTS (SELECT 1 FROM labels l WHERE l.issue_id = issues.id AND l.label IN "
                     f"({','.join('?' * len(labels_any))}))")
        params.extend(labels_any)
    if title:
        where.append("title LIKE ? ESCAPE '\\'")
        params.append(f"%{_like(title)}%")
    if query:
        where.append("(title LIKE ? ESCAPE '\\' OR description LIKE ? ESCAPE '\\' OR id LIKE ? ESCAPE '\\')")
        q = f"%{_like(query)}%"
        params.extend([q, q, q])
    if ids is not None:
        where.append(f"id IN ({','.join('?' * len(ids))})")
        params.extend(ids)
    if parent:
        under = sorted(descendants(store, parent))
        where.append(f"id IN ({','.join('?' * len(under))})" if under else "0")
        params.extend(under)
    order = SORTS.get(sort, SORTS["priority"])
    sql = f"SELECT {'id' if ids_only else ISSUE_COLUMNS} FROM issues"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY {order}"
    if limit and limit > 0 and not reverse:
        sql += f" LIMIT {int(limit)}"  # let SQLite stop early rather than fetch every row
    rows = _ids(store, sql, params) if ids_only else store.conn.execute(sql, params).fetchall()
    if reverse:
        rows.reverse()
    if limit and limit > 0:
        rows = rows[:limit]
    return rows


def _ids(store: Store, sql: str, params: list[Any] | tuple[Any, ...] = ()) -> list[Any]:
    """The first column of every row, as plain values (no dict per row)."""
    cur = store.conn.cursor()
    cur.row_factory = None
    return [r[0] for r in cur.execute(sql, params)]


def _like(s: str) -> str:
    return s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def ready_issues(store: Store, *, priority: int | None = None, assignee: str | None = None,
                 issue_type: str | None = None, labels: list[str] | None = None,
                 labels_any: list[str] | None = None, parent: str | None = None,
                 oldest_first: bool = False, limit: int = 0,
                 claimable_by: str | None = None, ids_only: bool = False) -> list[Any]:
    """Open issues that nothing blocks, by priority then age (oldest first).

    ``assignee`` "" means unassigned; ``claimable_by`` keeps issues that are unassigned or
    that actor's; ``parent`` keeps the issue's parent-child descendants. ``ids_only``: their
    IDs, in the same order."""
    flags = derived.current(store.conn, store.in_tx)
    where = ["status = 'open'", "blocked = 0" if flags else "id NOT IN (SELECT id FROM blocked_all)"]
    params: list[Any] = []
    if priority is not None:
        where.append("priority = ?")
        params.append(priority)
    if assignee == "":
        where.append("assignee IS NULL")
    elif assignee:
        where.append("assignee = ?")
        params.append(assignee)
    if claimable_by is not None:
        where.append("(assignee IS NULL OR assignee = '' OR assignee = ?)")
        params.append(claimable_by)
    if labels_any:
        where.append(f"EXISTS (SELECT 1 FROM labels l WHERE l.issue_id = issues.id AND l.label IN "
                     f"({','.join('?' * len(labels_any))}))")
        params.extend(labels_any)
    if parent:
        under = sorted(descendants(store, parent))
        where.append(f"id IN ({','.join('?' * len(under))})" if under else "0")
        params.extend(under)
    if issue_type:
        where.append("issue_type = ?")
        params.append(issue_type)
    for lb in labels or []:
        where.append("EXISTS (SELECT 1 FROM labels l WHERE l.issue_id = issues.id AND l.label = ?)")
        params.append(lb)
    order = "created_us ASC, id ASC" if oldest_first else "priority ASC, created_us ASC, id ASC"
    sql = f"{'' if flags else BLOCKED_CTE} SELECT {'id' if ids_only else ISSUE_COLUMNS} FROM issues " \
          f"WHERE {' AND '.join(where)} ORDER BY {order}"

    if limit and limit > 0:
        sql += f" LIMIT {int(limit)}"
    if ids_only:
        return _ids(store, sql, params)
    return store.conn.execute(sql, params).fetchall()


def blocked_issues(store: Store, limit: int = 0) -> list[dict[str, Any]]:
    """Blocked, not-closed issues, each with ``blocked_by`` (direct open blockers, or the
    blocked ancestors it inherits from) and ``blocked_by_count``; by priority then age.
    ``limit`` > 0: the first that many."""
    ids, flags = blocked_order(store, limit)
    if not ids:
        return []
    rows = store.get_issues(ids)
    by = Blockers(store, flags).of(ids)
    out = []
    for i in ids:
        r = rows[i]
        r["blocked_by_count"] = len(by[i])
        r["blocked_by"] = by[i]
        out.append(r)
    return out


def blocked_order(store: Store, limit: int = 0) -> tuple[list[str], bool]:
    """The IDs ``blocked_issues`` answers, in its order, and whether the kept flags were
    current (``derived.current``: what ``Blockers`` needs to know)."""
    order = "ORDER BY priority ASC, created_us ASC, id ASC" + (f" LIMIT {int(limit)}" if limit > 0 else "")
    flags = derived.current(store.conn, store.in_tx)
    if flags:
        return _ids(store, f"SELECT id FROM issues WHERE blocked = 1 {order}"), True
    return _ids(store, f"{BLOCKED_CTE} SELECT id FROM issues WHERE id IN (SELECT id FROM blocked_all) {order}"), False


class Blockers:
    """``blocked_by`` of blocked issues, looked up for a chunk of them at a time: the direct
    open blockers, or (blocked through its parents) the parents that are blocked; sorted."""

    def __init__(self, store: Store, flags: bool) -> None:
        self.store = store
        self.flags = flags  # the kept flags are current; else computed once, on first need
        self._unflagged: set[str] | None = None

    def of(self, ids: list[str]) -> dict[str, list[str]]:
        direct: dict[str, list[str]] = {}
        parents: dict[str, list[tuple[str, int]]] = {}
        cur = self.store.conn.cursor()
        cur.row_factory = None
        for k in range(0, len(ids), 5000):  # the edges of these issues only, in bulk
            for iid, target, kind, t_status, t_flag in cur.execute(
                    "SELECT d.issue_id, d.depends_on_id, d.type, b.status, b.blocked FROM json_each(?) j "
                    "CROSS JOIN dependencies d ON d.issue_id = j.value AND d.type IN ('blocks', 'parent-child') "
                    "LEFT JOIN issues b ON b.id = d.depends_on_id", (json.dumps(ids[k:k + 5000]),)):
                if kind == "blocks":
                    if t_status is None or t_status not in derived.CLOSED:
                        direct.setdefault(iid, []).append(target)
                elif t_status is not None:
                    parents.setdefault(iid, []).append((target, t_flag))
        out: dict[str, list[str]] = {}
        for i in ids:
            by = direct.get(i)
            if not by:
                if self.flags:
                    by = [p for p, flag in parents.get(i, ()) if flag == 1]
                else:
                    if self._unflagged is None:
                        self._unflagged = blocked_ids(self.store)
                    by = [p for p, _ in parents.get(i, ()) if p in self._unflagged]
            out[i] = sorted(by)
        return out


def descendants(store: Store, parent: str) -> set[str]:
    """Every issue under ``parent`` through parent-child edges, at any depth."""
    rows = store.conn.execute(
        "WITH RECURSIVE d(id) AS (SELECT issue_id FROM dependencies WHERE depends_on_id=? AND type='parent-child' "
        "UNION SELECT x.issue_id FROM dependencies x JOIN d ON x.depends_on_id = d.id AND x.type='parent-child') "
        "SELECT id FROM d", (parent,))
    return {r["id"] for r in rows}


def blocked_ids(store: Store) -> set[str]:
    c = store.conn
    if derived.current(c, store.in_tx):
        return {r["id"] for r in c.execute("SELECT id FROM issues WHERE blocked = 1")}
    return {r["id"] for r in c.execute(f"{BLOCKED_CTE} SELECT id FROM blocked_all")}


def stats(store: Store) -> dict[str, Any]:
    """Counts that agree with ``ready_issues`` and ``blocked_issues`` by construction: read from
    the kept counts (``derived``), or counted from scratch when they are not current."""
    c = store.conn
    if derived.current(c, store.in_tx):
        counts: dict[str, int] = {}
        blocked = ready = lead_n = lead_us = 0
        for r in c.execute("SELECT status, blocked, n, lead_n, lead_us FROM issue_counts WHERE status != 'tombstone' "
                           "AND n > 0"):
            counts[r["status"]] = counts.get(r["status"], 0) + r["n"]
            if r["blocked"]:
                blocked += r["n"]
            elif r["status"] == "open":
                ready += r["n"]
            lead_n += r["lead_n"]
            lead_us += r["lead_us"]
        average = round(lead_us / 3.6e9 / lead_n, 2) if lead_n else 0
    else:
        counts = {r["status"]: r["n"] for r in c.execute(
            "SELECT status, count(*) AS n FROM issues WHERE status != 'tombstone' GROUP BY status")}
        ids = blocked_ids(store)
        blocked = len(ids)
        ready = sum(1 for r in c.execute("SELECT id FROM issues WHERE status='open'") if r["id"] not in ids)
        total_h, n = 0.0, 0
        for r in c.execute("SELECT created_us, closed_at FROM issues WHERE closed_at IS NOT NULL "
                           "AND status != 'tombstone'"):
            try:
                total_h += (ts_micros(r["closed_at"]) - r["created_us"]) / 3.6e9
                n += 1
            except ValueError:
                continue
        average = round(total_h / n, 2) if n else 0
    out: dict[str, Any] = {
        "total_issues": sum(counts.values()),
        "open_issues": counts.get("open", 0),
        "in_progress_issues": counts.get("in_progress", 0),
        "closed_issues": counts.get("closed", 0),
        "blocked_issues": blocked,
        "ready_issues": ready,
        "average_lead_time_hours": average,
    }
    other = {k: v for k, v in counts.items() if k not in ("open", "in_progress", "closed")}
    if other:
        out["other_statuses"] = dict(sorted(other.items()))
    return out


def dep_tree(store: Store, root: str, max_depth: int = 50, reverse: bool = False) -> list[dict[str, Any]]:
    """Breadth-first walk from ``root`` over edges of every type; each issue once, at its
    shallowest depth; ordered by depth, priority, id. ``reverse`` walks dependents instead.
    Edges to issues not in the database appear as nodes with ``missing: true``."""
    if store.get_issue(root) is None:
        return []
    depth_of = {root: 0}
    parent_of: dict[str, str | None] = {root: None}
    frontier = [root]
    depth = 0
    col, other = ("depends_on_id", "issue_id") if reverse else ("issue_id", "depends_on_id")
    while frontier and depth < max_depth:
        depth += 1
        nxt: list[str] = []
        for i in range(0, len(frontier), 500):
            chunk = frontier[i:i + 500]
            q = (f"SELECT {col} AS src, {other} AS dst FROM dependencies WHERE {col} IN "
                 f"({','.join('?' * len(chunk))}) ORDER BY {other}")
            for r in store.conn.execute(q, chunk):
                if r["dst"] not in depth_of:
                    depth_of[r["dst"]] = depth
                    parent_of[r["dst"]] = r["src"]
                    nxt.append(r["dst"])
        frontier = nxt
    rows = store.get_issues(depth_of)
    nodes: list[dict[str, Any]] = []
    for iid, d in depth_of.items():
        row = rows.get(iid)
        if row is None:
            row = {"id": iid, "title": "(not in this database)", "status": "unknown", "priority": 4,
                   "missing": True}
        else:
            row = dict(row)
        row["depth"] = d
        row["parent_id"] = parent_of[iid]
        row["truncated"] = d == max_depth
        nodes.append(row)
    nodes.sort(key=lambda n: (n["depth"], n.get("priority", 4), n["id"]))
    return nodes


#: edges of live issues (a deleted issue's own edges are kept for a restore, but count for nothing)
_LIVE_EDGES = ("SELECT d.issue_id, d.depends_on_id FROM dependencies d JOIN issues i ON i.id = d.issue_id "
               "WHERE i.status != 'tombstone'")


def find_path(store: Store, start: str, goal: str, max_depth: int = 10_000) -> list[str] | None:
    """A path start -> ... -> goal over outgoing edges of any type, or None."""
    prev: dict[str, str | None] = {start: None}
    q = deque([start])
    while q:
        cur = q.popleft()
        if cur == goal:
            path = [cur]
            while prev[path[-1]] is not None:
                path.append(prev[path[-1]])  # type: ignore[arg-type]
            return list(reversed(path))
        for r in store.conn.execute(_LIVE_EDGES + " AND d.issue_id=?", (cur,)):
            nxt = r["depends_on_id"]
            if nxt not in prev:
                prev[nxt] = cur
                q.append(nxt)
        if len(prev) > max_depth * 100:
            break
    return None


def find_cycles(store: Store) -> list[list[str]]:
    """Every strongly connected component with a cycle, each as one cycle path (ids), sorted."""
    adj: dict[str, list[str]] = {}
    for r in store.conn.execute(_LIVE_EDGES + " ORDER BY d.issue_id, d.depends_on_id"):
        adj.setdefault(r["issue_id"], []).append(r["depends_on_id"])
    sccs = cyclic_components(adj)
    cycles = []
    for comp in sccs:
        members = set(comp)
        first = min(comp)
        # walk inside the component from its smallest id back to itself
        prev: dict[str, str | None] = {first: None}
        q = deque([first])
        found: list[str] | None = None
        while q and found is None:
            cur = q.popleft()
            for nxt in adj.get(cur, ()):
                if nxt == first:
                    path = [cur]
                    while prev[path[-1]] is not None:
                        path.append(prev[path[-1]])  # type: ignore[arg-type]
                    found = list(reversed(path)) + [first]
                    break
                if nxt in members and nxt not in prev:
                    prev[nxt] = cur
                    q.append(nxt)
        if found:
            cycles.append(found)
    cycles.sort()
    return cycles
