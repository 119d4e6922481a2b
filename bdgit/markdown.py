"""Issues from a markdown file (``bd create -f``): ``## Title`` starts an issue, ``### Section``
sets a field (Priority, Type, Description, Design, Acceptance Criteria, Assignee, Labels,
Dependencies); text right under the title is its description."""
from __future__ import annotations

from typing import Any

from .errors import ValidationError

_SECTIONS = {
    "priority": "priority", "type": "issue_type", "issue type": "issue_type",
    "description": "description", "design": "design", "acceptance criteria": "acceptance_criteria",
    "acceptance": "acceptance_criteria", "notes": "notes", "assignee": "assignee", "labels": "labels",
    "dependencies": "dependencies", "deps": "dependencies", "external ref": "external_ref",
}


def parse_markdown(text: str, source: str = "markdown") -> list[dict[str, Any]]:
    """Create-args for each issue in ``text``. Raises ValidationError naming the line."""
    issues: list[dict[str, Any]] = []
    cur: dict[str, Any] | None = None
    field = "description"
    buf: list[str] = []

    def flush_field() -> None:
        if cur is None:
            return
        value = "\n".join(buf).strip()
        buf.clear()
        if not value:
            return
        if field in ("labels", "dependencies"):
            items = [x.strip(" -*\t") for x in value.replace("\n", ",").split(",")]
            cur[field] = [x for x in items if x]
        elif field == "priority":
            cur[field] = value.split()[0]
        elif field in ("issue_type", "assignee", "external_ref"):
            cur[field] = value.split()[0] if field == "issue_type" else value.splitlines()[0].strip()
        else:
            cur[field] = value

    for n, line in enumerate(text.splitlines(), start=1):
        if line.startswith("## ") and not line.startswith("### "):
            flush_field()
            title = line[3:].strip()
            if not title:
                raise ValidationError(f"{source} line {n}: '##' needs a title")
            cur = {"title": title}
            issues.append(cur)
            field = "description"
        elif line.startswith("### "):
            if cur is None:
                raise ValidationError(f"{source} line {n}: section before any '## Title'")
            flush_field()
            name = line[4:].strip().lower()
            if name not in _SECTIONS:
                raise ValidationError(f"{source} line {n}: unknown section {line[4:].strip()!r} "
                                      f"(known: {', '.join(sorted(set(_SECTIONS)))})")
            field = _SECTIONS[name]
        elif cur is not None:
            buf.append(line)
    flush_field()
    if not issues:
        raise ValidationError(f"{source}: no issues found (each starts with a '## Title' line)")
    return issues
