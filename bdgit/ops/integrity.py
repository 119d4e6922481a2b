"""Data-integrity checks and repairs: orphaned dependencies, test pollution, duplicates and
git conflict markers in the JSONL (beads' ``repair-deps`` and ``doctor --check=...``)."""
from __future__ import annotations

import re
from typing import Any

from ..jsonl.markers import find_marker, is_marker
from ..model import now, parse_ts
from ..validate import Args
from .registry import Ctx, op

# --- orphaned dependencies -------------------------------------------------------------------


def find_orphans(ctx: Ctx) -> list[dict[str, Any]]:
    """Edges of live issues that point at an id no issue has (e.g. imported from a clone that
    had it, or written by a tool that skipped the checks), or at a deleted issue (an edge added
    in one clone while another deleted its target: it blocks nothing, and is shown as deleted)."""
    rows = ctx.store.conn.execute(
        "SELECT d.issue_id, d.depends_on_id, d.type, t.id IS NOT NULL AS deleted FROM dependencies d "
        "JOIN issues s ON s.id = d.issue_id AND s.status != 'tombstone' "
        "LEFT JOIN issues t ON t.id = d.depends_on_id WHERE t.id IS NULL OR t.status = 'tombstone' "
        "ORDER BY d.issue_id, d.depends_on_id").fetchall()
    return [{"issue_id": r["issue_id"], "depends_on_id": r["depends_on_id"], "type": r["type"],
             **({"target_deleted": True} if r["deleted"] else {})} for r in rows]


def remove_orphans(ctx: Ctx, orphans: list[dict[str, Any]]) -> int:
    s = ctx.store
    ts = now()
    for o in orphans:
        s.delete_dep(o["issue_id"], o["depends_on_id"])
        s.touch(o["issue_id"], ts)
        s.add_event(o["issue_id"], "dependency_removed", ctx.actor,
                    old={"depends_on_id": o["depends_on_id"], "type": o["type"]},
                    comment="orphaned: the target was deleted" if o.get("target_deleted")
                    else "orphaned: the target does not exist", ts=ts)
    return len(orphans)


@op("repair_deps", write=True)
def repair_deps(ctx: Ctx, a: Args) -> dict[str, Any]:
    """``{"orphans_found", "orphans": [{issue_id, depends_on_id, type}], "fixed"?}``; ``fix``
    removes them (``fixed`` is present only then)."""
    orphans = find_orphans(ctx)
    out: dict[str, Any] = {"orphans_found": len(orphans), "orphans": orphans}
    if a.flag("fix"):
        out["fixed"] = remove_orphans(ctx, orphans)
    return out


# --- test pollution --------------------------------------------------------------------------

_TEST_TITLE = re.compile(r"^(test|benchmark|sample|tmp|temp|debug|dummy)[-_\s]")
_SEQUENTIAL_ID = re.compile(r"^[a-z]+-\d+$")
_GENERIC = ("issue for testing", "test issue", "sample issue")


def find_pollution(ctx: Ctx) -> list[dict[str, Any]]:
    """Issues that look like test data left in a real database, scored as beads scores them
    (reported at 0.7 and above; 0.9 and above is high confidence). Closed issues count too."""
    rows = ctx.store.conn.execute(
        "SELECT id, title, description, created_at FROM issues WHERE status != 'tombstone' "
        "ORDER BY created_us, id").fetchall()
    per_minute: dict[int, int] = {}
    minute_of: dict[str, int] = {}
    for r in rows:
        try:
            m = int(parse_ts(r["created_at"]).timestamp() // 60)
        except ValueError:
            continue
        minute_of[r["id"]] = m
        per_minute[m] = per_minute.get(m, 0) + 1
    out = []
    for r in rows:
        title, desc = r["title"].lower(), r["description"] or ""
        score, reasons = 0.0, []
        if _TEST_TITLE.match(title):
            score += 0.7
            reasons.append("Title starts with test prefix")
        if _SEQUENTIAL_ID.match(r["id"]) and len(desc) < 20:
            score += 0.4
            reasons.append("Sequential ID with minimal description")
        if not desc.strip():
            score += 0.2
            reasons.append("No description")
        elif len(desc) < 20:
            score += 0.1
            reasons.append("Very short description")
        n = per_minute.get(minute_of.get(r["id"], -1), 0)
        if n >= 10:
            score += 0.3
            reasons.append(f"Created with {n - 1} other issues in same minute")
        if any(g in title for g in _GENERIC):
            score += 0.5
            reasons.append("Generic test title")
        if score >= 0.7:
            out.append({"id": r["id"], "title": r["title"], "score": round(score, 2), "reasons": reasons,
                        "created_at": r["created_at"]})
    return out


@op("pollution", write=True)
def pollution(ctx: Ctx, a: Args) -> dict[str, Any]:
    """Report likely test issues; ``clean`` deletes them (``deleted`` then says how many).
    Deleting goes through ``delete``, so mentions and edges are handled as usual and the JSONL
    history in git keeps them."""
    found = find_pollution(ctx)
    high = sum(1 for p in found if p["score"] >= 0.9)
    out: dict[str, Any] = {"polluted_count": len(found), "high_confidence": high,
                           "medium_confidence": len(found) - high, "issues": found}
    if a.flag("clean"):
        if found:
            from .issues import delete
            delete(ctx, Args("delete", {"ids": [p["id"] for p in found], "force": True}))
        out["deleted"] = len(found)
    return out


# --- validate: the data-integrity suite ------------------------------------------------------

def _check(name: str, status: str, message: str, detail: str = "", fix: str = "") -> dict[str, Any]:
    c: dict[str, Any] = {"name": name, "status": status, "message": message, "category": "Data Integrity"}
    if detail:
        c["detail"] = detail
    if fix:
        c["fix"] = fix
    return c


def _duplicates(ctx: Ctx) -> dict[str, Any]:
    groups = ctx.store.conn.execute(
        "SELECT group_concat(id, ', ') AS ids, count(*) AS n FROM issues WHERE status NOT IN ('closed', 'tombstone') "
        "GROUP BY title, description, design, acceptance_criteria, issue_type HAVING count(*) > 1").fetchall()
    if not groups:
        return _check("Duplicate Issues", "ok", "No duplicate issues")
    return _check("Duplicate Issues", "warning", f"{len(groups)} group(s) of open issues with identical content",
                  "; ".join(g["ids"] for g in groups[:10]), "close the extra copies ('bd close ID --reason duplicate')")


def _orphans(ctx: Ctx) -> dict[str, Any]:
    orphans = find_orphans(ctx)
    if not orphans:
        return _check("Orphaned Dependencies", "ok", "No orphaned dependencies")
    return _check("Orphaned Dependencies", "warning", f"{len(orphans)} dependencies point at missing issues",
                  ", ".join(f"{o['issue_id']} -> {o['depends_on_id']}" for o in orphans[:10]),
                  "bd doctor --check=validate --fix (or bd repair-deps --fix)")


def _pollution(ctx: Ctx) -> dict[str, Any]:
    found = find_pollution(ctx)
    if not found:
        return _check("Test Pollution", "ok", "No test issues found")
    return _check("Test Pollution", "warning", f"{len(found)} issues look like test data",
                  ", ".join(p["id"] for p in found[:10]), "review them with 'bd doctor --check=pollution'")


def _conflicts(ctx: Ctx) -> dict[str, Any]:
    path = ctx.store.beads_dir / "issues.jsonl"
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return _check("Git Conflicts", "ok", "No issues.jsonl yet")
    except OSError as e:
        return _check("Git Conflicts", "error", f"cannot read {path.name}: {e.strerror}")
    if find_marker(data) is None:
        return _check("Git Conflicts", "ok", "No git conflict markers in issues.jsonl")
    hits = [n for n, line in enumerate(data.decode("utf-8", "replace").split("\n"), 1) if is_marker(line)]
    return _check("Git Conflicts", "error", f"git conflict markers in issues.jsonl at line(s) "
                  f"{', '.join(map(str, hits[:10]))}", fix="resolve the merge, then 'bd import'")


def validate_checks(ctx: Ctx) -> list[dict[str, Any]]:
    return [_duplicates(ctx), _orphans(ctx), _pollution(ctx), _conflicts(ctx)]


@op("validate", write=True)
def validate(ctx: Ctx, a: Args) -> dict[str, Any]:
    """``{"path", "checks": [{name, status ok|warning|error, message, detail?, fix?}],
    "overall_ok"}``; ``fix`` repairs what can be repaired safely (orphaned dependencies) and
    reports the state after it, with ``fixed`` naming what was done."""
    fixed: list[str] = []
    if a.flag("fix"):
        orphans = find_orphans(ctx)
        if orphans:
            remove_orphans(ctx, orphans)
            fixed.append(f"removed {len(orphans)} orphaned dependencies")
    checks = validate_checks(ctx)
    out: dict[str, Any] = {"path": str(ctx.store.beads_dir), "checks": checks,
                           "overall_ok": all(c["status"] == "ok" for c in checks)}
    if a.flag("fix"):
        out["fixed"] = fixed
    return out

