"""``bd list --format``: Graphviz DOT, digraph lines, or a per-issue template.

Templates use beads' field names (Go template style), e.g. ``'{{.ID}} {{.Title}}'``; an
unknown field is an error that lists the known ones.
"""
from __future__ import annotations

import re
from typing import Any

from ..errors import UsageError

FIELDS = {"ID": "id", "Title": "title", "Status": "status", "Priority": "priority", "IssueType": "issue_type",
          "Type": "issue_type", "Assignee": "assignee", "Description": "description", "Labels": "labels",
          "CreatedAt": "created_at", "UpdatedAt": "updated_at", "ClosedAt": "closed_at", "Parent": "parent",
          "DependencyCount": "dependency_count", "DependentCount": "dependent_count",
          "CommentCount": "comment_count", "ExternalRef": "external_ref"}
_FIELD = re.compile(r"\{\{\s*\.(\w+)\s*\}\}")


def _edges(g: Any, issues: list[dict[str, Any]]) -> dict[str, list[tuple[str, str]]]:
    """Each listed issue's dependencies ``(target, type)`` (one request for all)."""
    if not issues:
        return {}
    shown = g.call("show", {"ids": [i["id"] for i in issues]})
    return {s["id"]: [(d["id"], d.get("dependency_type") or "blocks") for d in s.get("dependencies", [])]
            for s in shown}


def _q(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_format(g: Any, issues: list[dict[str, Any]], fmt: str) -> str:
    """The text of ``issues`` in format ``fmt``. Raises UsageError for an unknown field."""
    if fmt == "dot":
        edges = _edges(g, issues)
        lines = ["digraph issues {", "  rankdir=LR;", "  node [shape=box];"]
        for i in issues:
            lines.append(f"  {_q(i['id'])} [label={_q(i['id'] + ': ' + i['title'])}];")
        for i in issues:
            for target, kind in edges.get(i["id"], []):
                style = "" if kind == "blocks" else f" [style=dashed, label={_q(kind)}]"
                lines.append(f"  {_q(i['id'])} -> {_q(target)}{style};")
        return "\n".join(lines) + "\n}\n"
    if fmt == "digraph":
        edges = _edges(g, issues)
        return "".join(" ".join([i["id"], *[t for t, _ in edges.get(i["id"], [])]]) + "\n" for i in issues)
    unknown = sorted({m.group(1) for m in _FIELD.finditer(fmt)} - set(FIELDS))
    if unknown or "{{" not in fmt:
        raise UsageError(f"invalid --format {fmt!r}" + (f": unknown field {', '.join(unknown)}" if unknown else ""),
                         "use dot, digraph, or a template of fields such as '{{.ID}} {{.Title}}': "
                         + ", ".join(FIELDS))

    def one(i: dict[str, Any]) -> str:
        def field(m: re.Match[str]) -> str:
            v = i.get(FIELDS[m.group(1)])
            if isinstance(v, list):
                return ",".join(map(str, v))
            return "" if v is None else str(v)
        return _FIELD.sub(field, fmt).replace("\\n", "\n").replace("\\t", "\t")
    return "".join(one(i) + "\n" for i in issues)
