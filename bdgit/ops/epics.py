"""Epic progress: an open epic's children are the issues with a ``parent-child`` edge to it."""
from __future__ import annotations

from typing import Any

from ..model import issue_to_json
from ..validate import Args
from .registry import Ctx, op

_STATUS_SQL = """
SELECT i.*, COALESCE(c.total, 0) AS total_children, COALESCE(c.closed, 0) AS closed_children
FROM issues i
LEFT JOIN (
    SELECT d.depends_on_id AS epic_id, count(*) AS total,
           sum(CASE WHEN k.status = 'closed' THEN 1 ELSE 0 END) AS closed
    FROM dependencies d JOIN issues k ON k.id = d.issue_id AND k.status != 'tombstone'
    WHERE d.type = 'parent-child'
    GROUP BY d.depends_on_id
) c ON c.epic_id = i.id
WHERE i.issue_type = 'epic' AND i.status NOT IN ('closed', 'tombstone')
ORDER BY i.priority, i.created_us, i.id
"""


def epic_statuses(ctx: Ctx, eligible_only: bool = False) -> list[dict[str, Any]]:
    """Every open epic as ``{"epic", "total_children", "closed_children", "eligible_for_close"}``,
    by priority then age. Eligible = it has children and all of them are closed."""
    out = []
    for row in ctx.store.conn.execute(_STATUS_SQL).fetchall():
        total, closed = int(row.pop("total_children")), int(row.pop("closed_children"))
        eligible = total > 0 and closed == total
        if eligible_only and not eligible:
            continue
        out.append({"epic": issue_to_json(row), "total_children": total, "closed_children": closed,
                    "eligible_for_close": eligible})
    return out


@op("epic_status", write=False)
def epic_status(ctx: Ctx, a: Args) -> list[dict[str, Any]]:
    return epic_statuses(ctx, a.flag("eligible_only"))


@op("epic_close_eligible", write=True)
def epic_close_eligible(ctx: Ctx, a: Args) -> dict[str, Any]:
    """Close every open epic whose children are all closed; ``dry_run`` only names them."""
    from .issues import apply_changes
    eligible = epic_statuses(ctx, eligible_only=True)
    ids = [e["epic"]["id"] for e in eligible]
    if not a.flag("dry_run"):
        for i in ids:
            apply_changes(ctx, ctx.store.require_issue(i), {"status": "closed"},
                          comment="All children completed")
    return {"closed": [] if a.flag("dry_run") else ids, "eligible": ids, "dry_run": a.flag("dry_run")}
