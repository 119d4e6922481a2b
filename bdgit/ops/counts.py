"""Link counts shown in issue lists: ``dependency_count`` (edges this issue has, any type),
``dependent_count`` (edges pointing at it) and ``comment_count``, as beads' list JSON carries them.

Three grouped queries per list, whatever its length: a page of results looks up just its own
ids, a long list scans each table once (cheaper than a huge ``IN``).
"""
from __future__ import annotations

from typing import Any

from ..store import Store

_PAGE = 500


def _grouped(store: Store, sql_all: str, sql_some: str, ids: list[str]) -> dict[str, int]:
    cur = store.conn.cursor()
    cur.row_factory = None  # plain tuples: a long list touches every edge
    if len(ids) <= _PAGE:
        rows = cur.execute(sql_some.format(marks=",".join("?" * len(ids))), ids)
    else:
        rows = cur.execute(sql_all)
    return {k: n for k, n in rows}


def link_counts(store: Store, ids: list[str]) -> dict[str, tuple[int, int, int]]:
    """``{id: (dependency_count, dependent_count, comment_count)}`` for ``ids``."""
    if not ids:
        return {}
    deps = _grouped(store, "SELECT issue_id, count(*) FROM dependencies GROUP BY issue_id",
                    "SELECT issue_id, count(*) FROM dependencies WHERE issue_id IN ({marks}) GROUP BY issue_id", ids)
    rdeps = _grouped(store, "SELECT depends_on_id, count(*) FROM dependencies GROUP BY depends_on_id",
                     "SELECT depends_on_id, count(*) FROM dependencies WHERE depends_on_id IN ({marks}) "
                     "GROUP BY depends_on_id", ids)
    comments = _grouped(store, "SELECT issue_id, count(*) FROM comments GROUP BY issue_id",
                        "SELECT issue_id, count(*) FROM comments WHERE issue_id IN ({marks}) GROUP BY issue_id", ids)
    return {i: (deps.get(i, 0), rdeps.get(i, 0), comments.get(i, 0)) for i in ids}


def parents(store: Store, ids: list[str]) -> dict[str, str]:
    """``{id: parent id}`` through ``parent-child`` edges (beads lists carry it as ``parent``)."""
    if not ids:
        return {}
    cur = store.conn.cursor()
    cur.row_factory = None
    if len(ids) <= _PAGE:
        rows = cur.execute("SELECT issue_id, min(depends_on_id) FROM dependencies WHERE type='parent-child' AND "
                           f"issue_id IN ({','.join('?' * len(ids))}) GROUP BY issue_id", ids)
    else:
        rows = cur.execute("SELECT issue_id, min(depends_on_id) FROM dependencies WHERE type='parent-child' "
                           "GROUP BY issue_id")
    return {k: v for k, v in rows}


def add_counts(store: Store, issues: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Set the three counts, and ``parent`` where there is one, on each issue JSON object (in
    place; returned for chaining)."""
    ids = [j["id"] for j in issues]
    counts = link_counts(store, ids)
    up = parents(store, ids)
    for j in issues:
        j["dependency_count"], j["dependent_count"], j["comment_count"] = counts.get(j["id"], (0, 0, 0))
        if j["id"] in up:
            j["parent"] = up[j["id"]]
    return issues
