"""Importing issues the database has never had: rows straight from their lines, in bulk.

For a line without versions (``_v``), not a tombstone, with no base line and no row in the
database (a fresh clone's ``bd init``, new issues in a pulled file), the merge is the line
itself: every register at the version its ``updated_at`` gives. ``row_of`` computes the row, the
labels, edges and comments that ``merge3`` + ``encode`` + ``write_state`` would write for it,
without building the versioned record; lines it does not cover (see ``row_of``) take the
general path. A test imports the same lines both ways and compares every table.

``Rows`` collects them and writes each table with one ``executemany``.
"""
from __future__ import annotations

import re
from typing import Any

from ..model import KNOWN_ISSUE_KEYS, now
from ..store import Store
from ..store.db import ISSUE_COLUMNS
from ..store.derived import closed_micros
from ..store.links import json_column
from .clock import b36
from .record import comment_key, comments_json, merge_comment

_STD_EDGE = frozenset({"issue_id", "depends_on_id", "type", "created_at", "created_by"})
_NUM = re.compile(r"^(.+)-(\d+)$")


def row_of(obj: dict[str, Any], created_us: int, updated_us: int) -> tuple[Any, ...] | None:
    """The issue row (``ISSUE_COLUMNS`` + ``closed_us``) of a checked line without versions, or
    None when the line needs the general path: it has ``_v``, it is a tombstone, or an edge has
    keys beyond the standard five (their rules are the codec's)."""
    if "_v" in obj:
        return None
    status = obj.get("status") or "open"
    if status == "tombstone":
        return None
    for d in obj.get("dependencies") or ():
        if not _STD_EDGE.issuperset(d):
            return None
    created = obj["created_at"]
    updated = obj["updated_at"]
    closed_at = obj.get("closed_at")
    if status == "closed" and not closed_at:
        closed_at = updated
    priority = obj.get("priority")
    extra = None if KNOWN_ISSUE_KEYS.issuperset(obj) else {k: v for k, v in obj.items() if k not in KNOWN_ISSUE_KEYS}
    return (
        obj["id"], obj["title"], obj.get("description") or "", obj.get("design") or "",
        obj.get("acceptance_criteria") or "", obj.get("notes") or "", status,
        2 if priority is None else priority, obj.get("issue_type") or "task", obj.get("assignee") or None,
        obj.get("estimated_minutes"), created, str(updated), closed_at, obj.get("external_ref"),
        created_us, updated_us, json_column(extra), '{"@":"' + b36(updated_us // 1000) + '."}',
        closed_micros(closed_at),
    )


class Rows:
    """New issues of one import, written table by table."""

    def __init__(self) -> None:
        self.issues: list[tuple[Any, ...]] = []
        self.labels: list[tuple[str, str]] = []
        self.deps: list[tuple[Any, ...]] = []
        self.comments: list[tuple[Any, ...]] = []
        self.top: dict[str, int] = {}

    def add(self, row: tuple[Any, ...], obj: dict[str, Any], count: bool) -> None:
        """One new issue: ``row`` from ``row_of(obj, ...)``; ``count``: its ID raises the
        sequential counter (see ``Store.note_id``)."""
        iid = row[0]
        self.issues.append(row)
        for lb in set(obj.get("labels") or ()):
            self.labels.append((iid, lb))
        created = row[11]
        edges: dict[str, tuple[Any, ...]] = {}
        for d in obj.get("dependencies") or ():
            edges[d["depends_on_id"]] = (iid, d["depends_on_id"], d.get("type") or "blocks",
                                         d.get("created_at") or created, d.get("created_by") or "", None)
        self.deps.extend(edges.values())
        cs = obj.get("comments")
        if cs:
            self._comments(iid, created, cs)
        if count:
            m = _NUM.match(iid)
            # as note_id: a suffix with a leading 0 or of 8+ digits is a hash ID, not a number
            if m and not m.group(2).startswith("0") and len(m.group(2)) <= 7:
                n = int(m.group(2))
                if n > self.top.get(m.group(1), 0):
                    self.top[m.group(1)] = n

    def _comments(self, iid: str, created: str, cs: list[dict[str, Any]]) -> None:
        by_key: dict[str, dict[str, Any]] = {}
        for c in cs:
            c = dict(c)
            c.setdefault("author", "")
            c.setdefault("text", "")
            if not c.get("created_at"):
                c["created_at"] = created
            k = comment_key(c)
            prev = by_key.get(k)
            by_key[k] = c if prev is None else merge_comment(prev, c)
        for c in comments_json(list(by_key.values())):
            extra = {key: v for key, v in c.items() if key not in ("author", "text", "created_at")}
            self.comments.append((iid, c.get("author") or "", c.get("text") or "", c.get("created_at") or now(),
                                  json_column(extra or None)))

    def write(self, store: Store, actor: str, ts: str) -> None:
        """Insert everything, with one ``created`` event per issue (through ``add_event`` when a
        change feed listens, so that it hears of each)."""
        c = store.conn
        c.executemany(f"INSERT INTO issues({ISSUE_COLUMNS}, closed_us) VALUES ({','.join('?' * 20)})", self.issues)
        c.executemany("INSERT OR IGNORE INTO labels(issue_id, label) VALUES(?,?)", self.labels)
        c.executemany("INSERT OR REPLACE INTO dependencies(issue_id, depends_on_id, type, created_at, created_by, "
                      "extra) VALUES (?,?,?,?,?,?)", self.deps)
        c.executemany("INSERT INTO comments(issue_id, author, text, created_at, extra) VALUES(?,?,?,?,?)",
                      self.comments)
        if store.on_commit is not None:
            for row in self.issues:
                store.add_event(row[0], "created", actor, comment="import", ts=ts)
        else:
            c.executemany("INSERT INTO events(issue_id, event_type, actor, comment, created_at) "
                          "VALUES (?, 'created', ?, 'import', ?)", [(row[0], actor, ts) for row in self.issues])
        for prefix, n in self.top.items():
            c.execute("INSERT INTO issue_counters(prefix, last_id) VALUES(?, ?) "
                      "ON CONFLICT(prefix) DO UPDATE SET last_id = max(last_id, excluded.last_id)", (prefix, n))
