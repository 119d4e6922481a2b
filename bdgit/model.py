"""Issue model: the known values, timestamps, and the one place that shapes beads JSON.

Issues travel as plain dicts (the wire and JSONL format *is* a dict); this module knows the
key order beads uses, which keys are omitted when empty, and how to encode them the way
beads' Go encoder does, so that files written by either tool diff cleanly.
"""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

STATUSES = ("open", "in_progress", "blocked", "closed")
ISSUE_TYPES = ("bug", "feature", "task", "epic", "chore")
DEP_TYPES = ("blocks", "related", "parent-child", "discovered-from")
#: Dependency types that take part in readiness. Unknown (newer) types are informational.
BLOCKING_DEP_TYPES = ("blocks", "parent-child")

MAX_TITLE_BYTES = 500
DEFAULT_PRIORITY = 2
DEFAULT_TYPE = "task"

#: Scalar issue fields in beads' JSON order; (name, omit_when_empty).
#: ``omit`` = "empty" drops "" too, "null" drops only None (beads' pointer fields).
ISSUE_FIELDS: tuple[tuple[str, str | None], ...] = (
    ("id", None),
    ("title", None),
    ("description", None),
    ("design", "empty"),
    ("acceptance_criteria", "empty"),
    ("notes", "empty"),
    ("status", None),
    ("priority", None),
    ("issue_type", None),
    ("assignee", "empty"),
    ("estimated_minutes", "null"),
    ("created_at", None),
    ("updated_at", None),
    ("closed_at", "null"),
    ("external_ref", "null"),
)
_FIELD_KEYS = tuple(k for k, _ in ISSUE_FIELDS)
_OMIT_EMPTY = tuple(k for k, omit in ISSUE_FIELDS if omit == "empty")
_OMIT_NULL = tuple(k for k, omit in ISSUE_FIELDS if omit == "null")
#: ``_v`` holds the line's versions (bdgit.replication), kept in the ``versions`` column
KNOWN_ISSUE_KEYS = frozenset(k for k, _ in ISSUE_FIELDS) | {"labels", "dependencies", "comments", "_v"}
DEP_FIELDS = ("issue_id", "depends_on_id", "type", "created_at", "created_by")
COMMENT_FIELDS = ("author", "text", "created_at")

#: Fields `bd update` may change (beads' whitelist plus the ones the issue asks for).
UPDATABLE_FIELDS = (
    "status", "priority", "title", "assignee", "description", "design",
    "acceptance_criteria", "notes", "issue_type", "estimated_minutes", "external_ref",
)


def now() -> str:
    """The current time as RFC 3339 with microseconds and the local zone offset."""
    return datetime.now().astimezone().isoformat(timespec="microseconds")


def parse_ts(text: str) -> datetime:
    """Parse an RFC 3339 timestamp (any fraction length, ``Z`` or an offset).

    Raises ValueError when the text is not a timestamp with a zone.
    """
    if not isinstance(text, str) or len(text) < 19:
        raise ValueError(f"not a timestamp: {text!r}")
    s = text.strip()
    if s[-1] in "zZ":
        s = s[:-1] + "+00:00"
    # fromisoformat (3.11) accepts any fraction length but only with a 'T' or ' ' separator.
    dot = s.find(".", 19)
    if dot != -1:
        end = dot + 1
        while end < len(s) and s[end].isdigit():
            end += 1
        frac = s[dot + 1:end][:6].ljust(6, "0")
        s = s[:dot + 1] + frac + s[end:]
    dt = datetime.fromisoformat(s)
    if dt.tzinfo is None:
        raise ValueError(f"timestamp without a zone: {text!r}")
    return dt


def ts_micros(text: str) -> int:
    """Microseconds since the epoch for an RFC 3339 timestamp (for ordering across zones)."""
    # The usual form goes straight to fromisoformat (it takes every fraction length and "Z"
    # since Python 3.11, with the same result as parse_ts); parse_ts handles the rest.
    dt = None
    if isinstance(text, str) and len(text) >= 19:
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            dt = None
    if dt is None or dt.tzinfo is None:
        dt = parse_ts(text)
    return (dt - _EPOCH) // _MICRO


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


def short_time(text: str | None, *, seconds: bool = False, local: bool = False) -> str:
    """``YYYY-MM-DD HH:MM`` (``:SS`` with ``seconds``) for human output, in the timestamp's own
    zone; with ``local``, a UTC one in local time (leases are written in UTC)."""
    if not text:
        return ""
    try:
        dt = parse_ts(text)
    except ValueError:
        return text
    if local and dt.utcoffset() == timedelta(0):
        dt = dt.astimezone()
    return dt.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


# --- JSON encoding -------------------------------------------------------------------------

def dumps_compact(obj: Any) -> str:
    """One-line JSON as Go's encoding/json writes it (compact, UTF-8, HTML-escaped)."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    # chained replace is ~6x faster than str.translate here (export hot loop)
    if "<" in text:
        text = text.replace("<", "\\u003c")
    if ">" in text:
        text = text.replace(">", "\\u003e")
    if "&" in text:
        text = text.replace("&", "\\u0026")
    if "\u2028" in text:
        text = text.replace("\u2028", "\\u2028")
    if "\u2029" in text:
        text = text.replace("\u2029", "\\u2029")
    return text


def dumps_pretty(obj: Any) -> str:
    """Indented JSON for ``--json`` output (2 spaces, as beads prints)."""
    return json.dumps(obj, ensure_ascii=False, indent=2)


def issue_to_json(row: dict[str, Any], labels: list[str] | None = None,
                  deps: list[dict[str, Any]] | None = None,
                  comments: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Shape an issue row (scalar columns + ``extra`` JSON) as a beads issue object.

    Known fields come in beads' order with its omit-empty rules, then fields we do not
    model (kept verbatim from an import, sorted by key), then labels/dependencies/comments.
    """
    # every field in order, then the omitted ones taken out (a deletion keeps the order of
    # the rest): list answers shape tens of thousands of rows, a per-field loop costs twice this
    get = row.get
    out: dict[str, Any] = {key: get(key) for key in _FIELD_KEYS}
    for key in _OMIT_EMPTY:
        val = out[key]
        if val is None or val == "":
            del out[key]
    for key in _OMIT_NULL:
        if out[key] is None:
            del out[key]
    if out["description"] is None:
        out["description"] = ""
    extra = get("extra")
    if extra:
        ext = json.loads(extra) if isinstance(extra, str) else extra
        for key in sorted(ext):
            if key not in out:
                out[key] = ext[key]
    if labels:
        out["labels"] = labels
    if deps:
        out["dependencies"] = deps
    if comments:
        out["comments"] = comments
    return out


def dep_to_json(row: dict[str, Any]) -> dict[str, Any]:
    """A dependency record in beads' key order, plus fields we do not model."""
    out = {k: row.get(k) for k in DEP_FIELDS}
    if out["created_by"] is None:
        out["created_by"] = ""
    extra = row.get("extra")
    if extra:
        ext = json.loads(extra) if isinstance(extra, str) else extra
        for key in sorted(ext):
            out.setdefault(key, ext[key])
    return out
