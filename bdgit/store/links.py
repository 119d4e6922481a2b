"""What hangs off an issue, as stored: labels, comments and dependency edges. A part of
``Store`` (a mixin over the Store's connection); every write primitive expects to run inside
``Store.tx()``."""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable
from typing import Any

from ..model import dep_to_json, now


def json_column(v: Any) -> str | None:
    """A dict (or JSON text) for a JSON column; None for nothing."""
    if not v:
        return None
    return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, sort_keys=True)


class Links:
    """Labels, comments and dependencies of ``Store`` (its ``conn``)."""

    conn: sqlite3.Connection
    #: stamp_elem(issue_id, kind, elem): record that a label or dependency was added or removed
    #: (the Store versions it)
    stamp_elem: Callable[[str, str, str], None]

    # --- labels ---------------------------------------------------------------------------

    def labels(self, issue_id: str) -> list[str]:
        return [r["label"] for r in self.conn.execute(
            "SELECT label FROM labels WHERE issue_id=? ORDER BY label", (issue_id,))]

    def labels_for(self, ids: list[str] | None = None) -> dict[str, list[str]]:
        """Labels by issue id (keys in id order, labels sorted); all issues, or ``ids``."""
        out: dict[str, list[str]] = {}
        cur = self.conn.cursor()
        cur.row_factory = None  # plain tuples: this can be every label in the database
        if ids is not None and len(ids) <= 500:
            # a page of results (ready/list --limit): look up just these, not the whole table
            if not ids:
                return out
            rows = cur.execute(f"SELECT issue_id, label FROM labels WHERE issue_id IN "
                               f"({','.join('?' * len(ids))}) ORDER BY issue_id, label", list(ids))
            for issue_id, label in rows:
                out.setdefault(issue_id, []).append(label)
            return out
        for issue_id, label in cur.execute("SELECT issue_id, label FROM labels ORDER BY issue_id, label"):
            out.setdefault(issue_id, []).append(label)
        if ids is not None:
            wanted = set(ids)
            out = {k: v for k, v in out.items() if k in wanted}
        return out

    def add_label(self, issue_id: str, label: str, *, stamp: bool = True) -> bool:
        cur = self.conn.execute("INSERT OR IGNORE INTO labels(issue_id, label) VALUES(?,?)", (issue_id, label))
        if cur.rowcount > 0 and stamp:
            self.stamp_elem(issue_id, "labels", label)
        return cur.rowcount > 0

    def remove_label(self, issue_id: str, label: str) -> bool:
        cur = self.conn.execute("DELETE FROM labels WHERE issue_id=? AND label=?", (issue_id, label))
        if cur.rowcount > 0:
            self.stamp_elem(issue_id, "labels", label)
        return cur.rowcount > 0

    def set_labels(self, issue_id: str, labels: Iterable[str]) -> None:
        self.conn.execute("DELETE FROM labels WHERE issue_id=?", (issue_id,))
        self.conn.executemany("INSERT OR IGNORE INTO labels(issue_id, label) VALUES(?,?)",
                              [(issue_id, lb) for lb in labels])

    # --- comments -------------------------------------------------------------------------

    def comments(self, issue_id: str) -> list[dict[str, Any]]:
        """Comments oldest first; ``id`` is a string (beads clients validate it as one)."""
        rows = self.conn.execute(
            "SELECT id, issue_id, author, text, created_at FROM comments WHERE issue_id=? ORDER BY id",
            (issue_id,)).fetchall()
        for r in rows:
            r["id"] = str(r["id"])
        return rows

    def comments_for(self, ids: list[str] | None = None) -> dict[str, list[dict[str, Any]]]:
        """Comments as the JSONL carries them, by issue: author, text, created_at and the keys
        an import brought that we do not model (beads' own ``id``, ``issue_id``); never our
        database-local ids (they differ per clone). All issues, or ``ids``."""
        out: dict[str, list[dict[str, Any]]] = {}
        sql = "SELECT issue_id, author, text, created_at, extra FROM comments"
        params: list[str] = []
        if ids is not None:
            if not ids:
                return out
            sql += f" WHERE issue_id IN ({','.join('?' * len(ids))})"
            params = list(ids)
        for r in self.conn.execute(sql + " ORDER BY issue_id, id", params):
            iid = r.pop("issue_id")
            extra = r.pop("extra")
            if extra:
                for k, v in json.loads(extra).items():
                    r.setdefault(k, v)
            out.setdefault(iid, []).append(r)
        return out

    def add_comment(self, issue_id: str, author: str, text: str, ts: str | None = None,
                    extra: dict[str, Any] | None = None) -> dict[str, Any]:
        ts = ts or now()
        cur = self.conn.execute("INSERT INTO comments(issue_id, author, text, created_at, extra) VALUES(?,?,?,?,?)",
                                (issue_id, author, text, ts, json_column(extra)))
        return {"id": str(cur.lastrowid), "issue_id": issue_id, "author": author, "text": text, "created_at": ts}

    # --- dependencies ---------------------------------------------------------------------

    def dep_records(self, issue_id: str) -> list[dict[str, Any]]:
        """Outgoing edges of ``issue_id`` as beads Dependency objects, oldest first."""
        rows = self.conn.execute(
            "SELECT issue_id, depends_on_id, type, created_at, created_by, extra FROM dependencies "
            "WHERE issue_id=? ORDER BY created_at, depends_on_id", (issue_id,)).fetchall()
        return [dep_to_json(r) for r in rows]

    def all_dep_records(self) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for r in self.conn.execute(
                "SELECT issue_id, depends_on_id, type, created_at, created_by, extra FROM dependencies "
                "ORDER BY issue_id, created_at, depends_on_id"):
            out.setdefault(r["issue_id"], []).append(dep_to_json(r))
        return out

    def get_dep(self, issue_id: str, depends_on_id: str) -> dict[str, Any] | None:
        return self.conn.execute("SELECT * FROM dependencies WHERE issue_id=? AND depends_on_id=?",
                                 (issue_id, depends_on_id)).fetchone()

    def insert_dep(self, issue_id: str, depends_on_id: str, dep_type: str, created_by: str,
                   created_at: str | None = None, extra: Any = None, *, stamp: bool = True) -> None:
        self.conn.execute(
            "INSERT INTO dependencies(issue_id, depends_on_id, type, created_at, created_by, extra) "
            "VALUES (?,?,?,?,?,?)",
            (issue_id, depends_on_id, dep_type, created_at or now(), created_by, json_column(extra)))
        if stamp:
            self.stamp_elem(issue_id, "dependencies", depends_on_id)

    def delete_dep(self, issue_id: str, depends_on_id: str) -> bool:
        cur = self.conn.execute("DELETE FROM dependencies WHERE issue_id=? AND depends_on_id=?",
                                (issue_id, depends_on_id))
        if cur.rowcount > 0:
            self.stamp_elem(issue_id, "dependencies", depends_on_id)
        return cur.rowcount > 0

    def set_deps(self, issue_id: str, deps: list[dict[str, Any]]) -> None:
        """Make ``issue_id``'s outgoing edges exactly ``deps`` (import)."""
        self.conn.execute("DELETE FROM dependencies WHERE issue_id=?", (issue_id,))
        if not deps:
            return
        self.conn.executemany(
            "INSERT OR REPLACE INTO dependencies(issue_id, depends_on_id, type, created_at, created_by, extra) "
            "VALUES (?,?,?,?,?,?)",
            [(issue_id, d["depends_on_id"], d.get("type") or "blocks", d.get("created_at") or now(),
              d.get("created_by") or "",
              json_column({k: v for k, v in d.items() if k not in ("issue_id", "depends_on_id", "type",
                                                              "created_at", "created_by")}))
             for d in deps])
