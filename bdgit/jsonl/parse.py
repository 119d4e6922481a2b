"""Reading JSONL: strict, line-numbered checks of every record before anything is written."""
from __future__ import annotations

import json
import re
from typing import Any

from ..errors import ImportFormatError
from ..intake import dep_target_problem, id_problem, loads, strings_problem
from ..model import DEP_TYPES, ISSUE_TYPES, STATUSES, ts_micros
from .files import line_hash
from .markers import is_marker

# --- parsing -------------------------------------------------------------------------------

class Record:
    """One parsed line. (Plain classes, not dataclasses: see ops.Ctx.) A line that ``parse``
    was told it already knows (its base line) is checked and decoded only if asked."""

    __slots__ = ("line_no", "line", "_obj", "_created_us", "_updated_us", "_id")

    def __init__(self, line_no: int, line: str, obj: dict[str, Any] | None, created_us: int = 0,
                 updated_us: int = 0, issue_id: str | None = None) -> None:
        self.line_no = line_no
        self.line = line
        self._obj = obj
        self._created_us = created_us
        self._updated_us = updated_us
        self._id = issue_id if issue_id is not None else obj.get("id") if obj is not None else None

    def __repr__(self) -> str:
        return f"Record(line_no={self.line_no!r}, line={self.line!r})"

    def _load(self) -> dict[str, Any]:
        if self._obj is None:
            obj = loads(self.line)
            self._obj = obj
            _check(self, False, [])
        return self._obj

    @property
    def obj(self) -> dict[str, Any]:
        return self._load()

    @obj.setter
    def obj(self, value: dict[str, Any]) -> None:
        self._obj = value

    @property
    def created_us(self) -> int:
        self._load()
        return self._created_us

    @created_us.setter
    def created_us(self, value: int) -> None:
        self._created_us = value

    @property
    def updated_us(self) -> int:
        self._load()
        return self._updated_us

    @updated_us.setter
    def updated_us(self, value: int) -> None:
        self._updated_us = value

    @property
    def id(self) -> str:
        if self._id is None:
            self._id = self.obj["id"]
        return self._id

    @property
    def hash(self) -> str:
        return line_hash(self.line)



_STR_FIELDS = ("title", "description", "design", "acceptance_criteria", "notes", "status",
               "issue_type", "assignee", "external_ref", "closed_at")
#: a JSON escape of a lone surrogate can only come from one of these
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def parse(text: str, *, strict: bool = False,
          known: dict[str, str] | None = None) -> tuple[list[Record], list[str]]:
    """Parse and check JSONL text. Raises ImportFormatError naming the first bad line.

    Values we do not know (statuses, types, dependency types) give warnings, or errors when
    ``strict``. Blank lines are skipped. ``known``: lines by id that were checked before (an
    import's base lines): a line equal to its known one is decoded only when its record is used.
    """
    records: list[Record] = []
    warnings: list[str] = []
    # text decoded from UTF-8 holds no lone surrogate: only a JSON escape can make one (checked
    # per line below); text handed over as a str is checked once, whole
    clean = text.isascii() or _encodable(text)
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        if known is not None and line.startswith('{"id":"'):
            end = line.find('"', 7)
            iid = line[7:end] if end != -1 else None
            if iid is not None and known.get(iid) == line:
                records.append(Record(n, line, None, issue_id=iid))
                continue
        if is_marker(line):
            raise ImportFormatError.at(n, "git conflict marker: the file is in the middle of a merge",
                                       "resolve the merge of .beads/issues.jsonl first (keep both sides' lines)")
        try:
            obj = loads(line)
        except json.JSONDecodeError as e:
            raise ImportFormatError.at(n, f"invalid JSON: {e.msg} (column {e.colno})") from None
        except ValueError as e:  # nested too deeply to parse
            raise ImportFormatError.at(n, f"invalid JSON: {e}") from None
        if not isinstance(obj, dict):
            raise ImportFormatError.at(n, f"expected a JSON object, got {type(obj).__name__}")
        rec = Record(n, line, obj)
        _check(rec, strict, warnings, clean and _SURROGATE_ESCAPE.search(line) is None)
        records.append(rec)
    return records, warnings


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check(rec: Record, strict: bool, warnings: list[str], clean: bool = False) -> None:
    """Check one parsed line (raises ImportFormatError); ``clean``: no string in it can hold a
    lone surrogate (the caller knows), so that walk is skipped."""
    o, n = rec.obj, rec.line_no
    for key in ("id", "title"):
        if key not in o:
            raise ImportFormatError.at(n, f"missing required field '{key}'")
        if not isinstance(o[key], str) or not o[key].strip():
            raise ImportFormatError.at(n, f"field '{key}' must be a non-empty string")
    # the same checks as every other way in (create, the daemon, the merge driver)
    why = id_problem(o["id"])
    if why:
        raise ImportFormatError.at(n, f"id {o['id']!r} {why}")
    why = None if clean else strings_problem(o)
    if why:
        raise ImportFormatError.at(n, why)
    for key in _STR_FIELDS:
        if o.get(key) is not None and not isinstance(o[key], str):
            raise ImportFormatError.at(n, f"field '{key}' must be a string, got {type(o[key]).__name__}")
    for key in ("priority", "estimated_minutes"):
        v = o.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
            raise ImportFormatError.at(n, f"field '{key}' must be an integer, got {json.dumps(v)}")
    if o.get("priority") is not None and not 0 <= o["priority"] <= 4:
        unknown_value(f"priority {o['priority']} is outside 0-4", n, strict, warnings)
    o.setdefault("status", "open")
    o.setdefault("priority", 2)
    o.setdefault("issue_type", "task")
    if o["status"] not in STATUSES:
        unknown_value(f"unknown status '{o['status']}' (kept; treated as not ready)", n, strict, warnings)
    if o["issue_type"] not in ISSUE_TYPES:
        unknown_value(f"unknown issue type '{o['issue_type']}' (kept)", n, strict, warnings)
    for key in ("created_at", "updated_at", "closed_at"):
        v = o.get(key)
        if v is None:
            continue
        try:
            us = ts_micros(v)
        except ValueError:
            raise ImportFormatError.at(n, f"field '{key}' is not an RFC 3339 timestamp: {v!r}") from None
        if key == "created_at":
            rec.created_us = us
        elif key == "updated_at":
            rec.updated_us = us
    if o.get("created_at") is None:
        if o.get("updated_at") is None:
            raise ImportFormatError.at(n, "missing 'created_at' and 'updated_at'")
        o["created_at"], rec.created_us = o["updated_at"], rec.updated_us
    if o.get("updated_at") is None:
        o["updated_at"], rec.updated_us = o["created_at"], rec.created_us
    labels = o.get("labels")
    if labels is not None and (not isinstance(labels, list) or not all(isinstance(x, str) for x in labels)):
        raise ImportFormatError.at(n, "field 'labels' must be a list of strings")
    deps = o.get("dependencies")
    if deps is not None:
        if not isinstance(deps, list):
            raise ImportFormatError.at(n, "field 'dependencies' must be a list")
        for d in deps:
            if not isinstance(d, dict) or not isinstance(d.get("depends_on_id"), str):
                raise ImportFormatError.at(n, "each dependency needs a string 'depends_on_id'")
            why = dep_target_problem(d["depends_on_id"])
            if why:
                raise ImportFormatError.at(n, f"dependency {d['depends_on_id']!r} {why}")
            if d.get("issue_id", o["id"]) != o["id"]:
                raise ImportFormatError.at(
                    n, f"dependency issue_id {d.get('issue_id')!r} does not match the line's id {o['id']!r}")
            t = d.get("type", "blocks")
            if not isinstance(t, str):
                raise ImportFormatError.at(n, "dependency 'type' must be a string")
            if t not in DEP_TYPES:
                unknown_value(f"unknown dependency type '{t}' (kept; informational)", n, strict, warnings)
            for k in ("created_at",):
                if d.get(k) is not None:
                    try:
                        ts_micros(d[k])
                    except (ValueError, TypeError):
                        raise ImportFormatError.at(n, f"dependency '{k}' is not an RFC 3339 timestamp") from None
    comments = o.get("comments")
    if comments is not None:
        if not isinstance(comments, list) or not all(
                isinstance(c, dict) and isinstance(c.get("text"), str) for c in comments):
            raise ImportFormatError.at(n, "field 'comments' must be a list of objects with 'text'")


def unknown_value(msg: str, n: int, strict: bool, warnings: list[str]) -> None:
    if strict:
        raise ImportFormatError.at(n, msg + "; --strict refuses values this version does not know")
    warnings.append(f"line {n}: {msg}")

