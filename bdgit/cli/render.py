"""Human-readable output. Colour only on a terminal, never with NO_COLOR; plain text in pipes.

Data is cleaned of terminal control characters before it is laid out (``safetext``), and every
line printed passes ``clean_output`` as well: a title from a pulled JSONL cannot clear the
screen, set the window title or rewrite lines. ``--json`` output does not come through here.

Lines keep beads' key strings (``Created issue:``, ``Status:``, ``Depends on``, ...) so that
people and scripts used to beads find them.
"""
from __future__ import annotations

import os
import sys
from typing import Any

from ..model import short_time
from .safetext import clean, clean_data, clean_output

_COLOR: bool | None = None


def color_on() -> bool:
    global _COLOR
    if _COLOR is None:
        _COLOR = (sys.stdout.isatty() and "NO_COLOR" not in os.environ
                  and os.environ.get("TERM") != "dumb")
    return _COLOR


def _c(code: str, text: str) -> str:
    return f"\033[{code}m{text}\033[0m" if color_on() else text


def green(t: str) -> str:
    return _c("32", t)


def red(t: str) -> str:
    return _c("31", t)


def yellow(t: str) -> str:
    return _c("33", t)


def cyan(t: str) -> str:
    return _c("36", t)


def bold(t: str) -> str:
    return _c("1", t)


def dim(t: str) -> str:
    return _c("2", t)


_PRIO_COLORS = {0: "1;31", 1: "31", 2: "33", 3: "36", 4: "2"}


def prio(p: Any) -> str:
    text = f"P{p}"
    return _c(_PRIO_COLORS.get(p, "0"), text) if isinstance(p, int) else text


def status(s: str) -> str:
    code = {"open": "32", "in_progress": "33", "blocked": "31", "closed": "2"}.get(s, "35")
    return _c(code, s)


def compact(obj: Any) -> str:
    """One line of JSON (a stream of events, one per line)."""
    import json
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def out(text: str = "") -> None:
    sys.stdout.write(clean_output(text) + "\n")


def err(text: str) -> None:
    sys.stderr.write(clean_output(text) + "\n")


def created(issue: dict[str, Any]) -> None:
    issue = clean_data(issue)
    out(f"{green('✓')} Created issue: {bold(issue['id'])}")
    out(f"  Title: {issue['title']}")
    out(f"  Priority: {prio(issue['priority'])}")
    out(f"  Status: {status(issue['status'])}")


def issue_detail(i: dict[str, Any]) -> None:
    i = clean_data(i)
    out()
    out(f"{bold(i['id'])}: {i['title']}")
    out(f"Status: {status(i['status'])}")
    out(f"Priority: {prio(i['priority'])}")
    out(f"Type: {i['issue_type']}")
    if i.get("assignee"):
        out(f"Assignee: {i['assignee']}")
    lease_line(i)
    if i.get("estimated_minutes") is not None:
        out(f"Estimated: {i['estimated_minutes']} minutes")
    if i.get("external_ref"):
        out(f"External Ref: {i['external_ref']}")
    out(f"Created: {short_time(i.get('created_at'))}")
    out(f"Updated: {short_time(i.get('updated_at'))}")
    if i.get("closed_at"):
        out(f"Closed: {short_time(i['closed_at'])}")
    for key, label in (("description", "Description"), ("design", "Design"), ("notes", "Notes"),
                       ("acceptance_criteria", "Acceptance Criteria")):
        if i.get(key):
            out()
            out(f"{label}:")
            out(i[key])
    if i.get("labels"):
        out()
        out(f"Labels: [{' '.join(i['labels'])}]")
    deps = i.get("dependencies") or []
    if deps:
        out()
        out(f"Depends on ({len(deps)}):")
        for d in deps:
            t = f" ({d['dependency_type']})" if d.get("dependency_type", "blocks") != "blocks" else ""
            out(f"  → {d['id']}: {d.get('title', '')} [{prio(d.get('priority'))}]{t} {dim(d.get('status', ''))}")
    dents = i.get("dependents") or []
    if dents:
        out()
        out(f"Blocks ({len(dents)}):")
        for d in dents:
            t = f" ({d['dependency_type']})" if d.get("dependency_type", "blocks") != "blocks" else ""
            out(f"  ← {d['id']}: {d.get('title', '')} [{prio(d.get('priority'))}]{t} {dim(d.get('status', ''))}")
    comments = i.get("comments") or []
    if comments:
        out()
        out(f"Comments ({len(comments)}):")
        for c in comments:
            out(f"  [{short_time(c['created_at'])}] {c.get('author') or '?'}: {c['text']}")
    out()


def lease_line(i: dict[str, Any]) -> None:
    """The lease on an issue, or that its last claimer abandoned it (the lease ran out)."""
    lease = i.get("lease")
    if isinstance(lease, dict) and i.get("status") == "in_progress":
        out(f"Lease: {lease.get('holder')} until {short_time(lease.get('expires_at'), seconds=True, local=True)} "
            "(renewed by their writes and 'bd heartbeat')")
    gone = i.get("abandoned")
    if isinstance(gone, dict):
        when = f" at {short_time(gone['lease_expired_at'], seconds=True, local=True)}" if gone.get("lease_expired_at") else ""
        out(f"Abandoned: {yellow(str(gone.get('by')))}'s lease expired{when}; back to ready")


def claimed(i: dict[str, Any]) -> None:
    out(f"{green('✓')} Claimed issue: {bold(i['id'])}: {i['title']}")
    lease = i.get("lease")
    if isinstance(lease, dict):
        out(f"  Lease until {short_time(lease.get('expires_at'), seconds=True, local=True)}: renew it with any write or "
            f"'bd heartbeat {i['id']}'")


def change(ev: dict[str, Any]) -> None:
    """One change-feed event (``bd watch``)."""
    if ev.get("type") == "gap":
        span = (f"events {ev['from_seq']}-{ev['to_seq']}" if ev.get("from_seq") is not None
                else "events from before this daemon")
        out(f"#{ev.get('seq')} {yellow('gap')}: {span} are not available ({ev.get('reason')}); "
            "re-read what you follow")
        return
    fields = ", ".join(ev.get("changes") or [])
    status_to = f" → {status(ev['status'])}" if ev.get("status") else ""
    out(f"#{ev.get('seq')} {short_time(ev.get('at'), seconds=True, local=True)} {bold(str(ev.get('issue_id')))} "
        f"{ev.get('type')} by {ev.get('actor')}" + (f" ({fields})" if fields else "") + status_to)


def issue_list(issues: list[dict[str, Any]]) -> None:
    issues = clean_data(issues)
    if not issues:
        out("No issues found.")
        return
    out()
    out(f"Found {len(issues)} issues:")
    out()
    w = max(len(i["id"]) for i in issues)
    for i in issues:
        labels = f" {dim('[' + ', '.join(i['labels']) + ']')}" if i.get("labels") else ""
        out(f"{bold(i['id'].ljust(w))} [{prio(i['priority'])}] [{i['issue_type']}] {status(i['status'])}{labels}")
        out(f"  {i['title']}")
        if i.get("assignee"):
            out(f"  Assignee: {i['assignee']}")
        out()


def issue_tree(issues: list[dict[str, Any]]) -> None:
    """The list with each issue under its parent (when the parent is listed too)."""
    if not issues:
        out("No issues found.")
        return
    listed = {i["id"] for i in issues}
    kids: dict[str | None, list[dict[str, Any]]] = {}
    for i in issues:
        p = i.get("parent")
        kids.setdefault(p if p in listed else None, []).append(i)

    def walk(parent: str | None, depth: int, seen: set[str]) -> None:
        for i in kids.get(parent, []):
            if i["id"] in seen:
                continue
            seen.add(i["id"])
            pad = "  " * depth + ("└─ " if depth else "")
            out(f"{pad}{bold(i['id'])} [{prio(i['priority'])}] [{i['issue_type']}] {status(i['status'])} {i['title']}")
            walk(i["id"], depth + 1, seen)
    walk(None, 0, set())


def ready(issues: list[dict[str, Any]]) -> None:
    issues = clean_data(issues)
    if not issues:
        out()
        out(f"{green('✨')} No ready work found (all issues have blocking dependencies)")
        out()
        return
    out()
    out(f"{cyan('📋')} Ready work ({len(issues)} issues with no blockers):")
    out()
    for n, i in enumerate(issues, start=1):
        out(f"{n}. [{prio(i['priority'])}] {bold(i['id'])}: {i['title']}")
        if i.get("estimated_minutes") is not None:
            out(f"   Estimate: {i['estimated_minutes']} min")
        if i.get("assignee"):
            out(f"   Assignee: {i['assignee']}")
    out()


def blocked(issues: list[dict[str, Any]]) -> None:
    issues = clean_data(issues)
    if not issues:
        out()
        out(f"{green('✨')} No blocked issues")
        out()
        return
    out()
    out(f"{red('🚫')} Blocked issues ({len(issues)}):")
    out()
    for i in issues:
        out(f"[{prio(i['priority'])}] {bold(i['id'])}: {i['title']}")
        out(f"  Blocked by {i['blocked_by_count']} open dependencies: [{' '.join(i['blocked_by'])}]")
        out()


def stats(s: dict[str, Any]) -> None:
    out()
    out(f"{cyan('📊')} Beads Statistics:")
    out()
    rows = [("Total Issues:", s["total_issues"]), ("Open:", s["open_issues"]),
            ("In Progress:", s["in_progress_issues"]), ("Closed:", s["closed_issues"]),
            ("Blocked:", s["blocked_issues"]), ("Ready:", s["ready_issues"])]
    for k, v in (s.get("other_statuses") or {}).items():
        rows.append((f"{k}:", v))
    for label, v in rows:
        out(f"{label:<20}{v}")
    if s.get("average_lead_time_hours"):
        out(f"{'Avg Lead Time:':<20}{s['average_lead_time_hours']:.1f} hours")
    out()


def tree(root: str, nodes: list[dict[str, Any]]) -> None:
    root, nodes = clean(root), clean_data(nodes)
    if len(nodes) <= 1:
        out()
        out(f"{root} has no dependencies")
        out()
        return
    out()
    out(f"{green('🌲')} Dependency tree for {bold(root)}:")
    out()
    children: dict[str | None, list[dict[str, Any]]] = {}
    for n in nodes:
        children.setdefault(n.get("parent_id"), []).append(n)

    def walk(n: dict[str, Any]) -> None:
        more = " …" if n.get("truncated") else ""
        out(f"{'  ' * n['depth']}→ {n['id']}: {n.get('title', '')} [{prio(n.get('priority'))}] "
            f"({status(n.get('status', ''))}){more}")
        for c in children.get(n["id"], []):
            if c is not n:
                walk(c)

    for r in children.get(None, []):
        walk(r)
    out()


def cycles(cs: list[list[str]]) -> None:
    cs = clean_data(cs)
    if not cs:
        out(f"{green('✓')} No dependency cycles detected")
        return
    out(f"{yellow('⚠')} Found {len(cs)} dependency cycles:")
    for n, c in enumerate(cs, start=1):
        out(f"  {n}. {' → '.join(c)}")


def events(evs: list[dict[str, Any]]) -> None:
    evs = clean_data(evs)
    if not evs:
        out("No events.")
        return
    for e in evs:
        detail = ""
        if e.get("old_value") is not None or e.get("new_value") is not None:
            detail = f" {e.get('old_value', '')} → {e.get('new_value', '')}"
        if e.get("comment"):
            detail += f" ({e['comment']})"
        out(f"{short_time(e['created_at'])}  {e['actor']:<12} {e['event_type']:<18}{detail}")


class Progress:
    """A one-line progress bar on stderr; silent unless stderr is a terminal."""

    def __init__(self, label: str, enabled: bool) -> None:
        self.label = label
        self.enabled = enabled and sys.stderr.isatty()
        self._last = -1

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total < 200:
            return
        pct = done * 100 // max(total, 1)
        if pct == self._last and done != total:
            return
        self._last = pct
        bar = "#" * (pct // 4)
        sys.stderr.write(f"\r{self.label} [{bar:<25}] {done}/{total}")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()
