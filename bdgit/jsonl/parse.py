"""Reading JSONL: strict, line-numbered checks of every record before anything is written."""
from __future__ import annotations

import json
import re
from typing import Any

from ..errors import ImportFormatError
from ..intake import ID_RE, MAX_ID_LEN, dep_target_problem, id_problem, loads, strings_problem
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
    # text decoded from UTF-8 holds no lone surrogate: only a JSON escape can make one (checked
    # per line below); text handed over as a str is checked once, whole
    clean = text.isascii() or _encodable(text)
    records: list[Record] = []
    warnings: list[str] = []
    good: set[str] = set()
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
        _check(rec, strict, warnings, clean and _SURROGATE_ESCAPE.search(line) is None, good)
        records.append(rec)
    return records, warnings


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check(rec: Record, strict: bool, warnings: list[str], clean: bool = False,
           good: set[str] | None = None) -> None:
    """Check one parsed line (raises ImportFormatError); ``clean``: no string in it can hold a
    lone surrogate (the caller knows), so that walk is skipped. ``good``: dependency targets
    already found valid in this file (a target named by many lines is checked once)."""
    o, n = rec.obj, rec.line_no
    get = o.get
    for key in ("id", "title"):
        if key not in o:
            raise ImportFormatError.at(n, f"missing required field '{key}'")
        if not isinstance(o[key], str) or not o[key].strip():
            raise ImportFormatError.at(n, f"field '{key}' must be a non-empty string")
    # the same checks as every other way in (create, the daemon, the merge driver)
    iid = o["id"]
    if not _id_ok(iid):
        raise ImportFormatError.at(n, f"id {iid!r} {id_problem(iid)}")
    why = None if clean else strings_problem(o)
    if why:
        raise ImportFormatError.at(n, why)
    for key in _STR_FIELDS:
        v = get(key)
        if v is not None and v.__class__ is not str and not isinstance(v, str):
            raise ImportFormatError.at(n, f"field '{key}' must be a string, got {type(v).__name__}")
    priority = get("priority")
    for key, v in (("priority", priority), ("estimated_minutes", get("estimated_minutes"))):
        if v is not None and v.__class__ is not int and (isinstance(v, bool) or not isinstance(v, int)):
            raise ImportFormatError.at(n, f"field '{key}' must be an integer, got {json.dumps(v)}")
    if priority is not None and not 0 <= priority <= 4:
        unknown_value(f"priority {priority} is outside 0-4", n, strict, warnings)
    o.setdefault("priority", 2)
    status = o.setdefault("status", "open")
    kind = o.setdefault("issue_type", "task")
    if status not in _STATUSES:
        unknown_value(f"unknown status '{status}' (kept; treated as not ready)", n, strict, warnings)
    if kind not in _ISSUE_TYPES:
        unknown_value(f"unknown issue type '{kind}' (kept)", n, strict, warnings)
    created, updated, closed = get("created_at"), get("updated_at"), get("closed_at")
    if created is not None:
        rec.created_us = _micros(created, "created_at", n)
    if updated is not None:
        rec.updated_us = _micros(updated, "updated_at", n)
    if closed is not None:
        _micros(closed, "closed_at", n)
    if created is None:
        if updated is None:
            raise ImportFormatError.at(n, "missing 'created_at' and 'updated_at'")
        o["created_at"], rec.created_us = updated, rec.updated_us
    if updated is None:
        o["updated_at"], rec.updated_us = o["created_at"], rec.created_us
    labels = get("labels")
    if labels is not None and (not isinstance(labels, list) or not all(isinstance(x, str) for x in labels)):
        raise ImportFormatError.at(n, "field 'labels' must be a list of strings")
    deps = get("dependencies")
    if deps is not None:
        if not isinstance(deps, list):
            raise ImportFormatError.at(n, "field 'dependencies' must be a list")
        for d in deps:
            target = d.get("depends_on_id") if isinstance(d, dict) else None
            if not isinstance(target, str):
                raise ImportFormatError.at(n, "each dependency needs a string 'depends_on_id'")
            if (good is None or target not in good) and not _id_ok(target):
                why = dep_target_problem(target)
                if why:
                    raise ImportFormatError.at(n, f"dependency {target!r} {why}")
            if good is not None:
                good.add(target)
            if d.get("issue_id", iid) != iid:
                raise ImportFormatError.at(
                    n, f"dependency issue_id {d.get('issue_id')!r} does not match the line's id {iid!r}")
            t = d.get("type", "blocks")
            if t.__class__ is not str and not isinstance(t, str):
                raise ImportFormatError.at(n, "dependency 'type' must be a string")
            if t not in _DEP_TYPES:
                unknown_value(f"unknown dependency type '{t}' (kept; informational)", n, strict, warnings)
            at = d.get("created_at")
            if at is not None:
                try:
                    ts_micros(at)
                except (ValueError, TypeError):
                    raise ImportFormatError.at(n, "dependency 'created_at' is not an RFC 3339 timestamp") from None
    comments = get("comments")
    if comments is not None:
        if not isinstance(comments, list) or not all(
                isinstance(c, dict) and isinstance(c.get("text"), str) for c in comments):
            raise ImportFormatError.at(n, "field 'comments' must be a list of objects with 'text'")


_STATUSES, _ISSUE_TYPES, _DEP_TYPES = frozenset(STATUSES), frozenset(ISSUE_TYPES), frozenset(DEP_TYPES)


def _id_ok(value: Any) -> bool:
    """``id_problem(value) is None``, without building a message (the common case)."""
    return (isinstance(value, str) and len(value) <= MAX_ID_LEN and ".." not in value
            and ID_RE.pattern.fullmatch(value) is not None)


def _micros(v: Any, key: str, n: int) -> int:
    """``ts_micros`` of field ``key`` of line ``n``; ImportFormatError when it is none."""
    try:
        return ts_micros(v)
    except ValueError:
        raise ImportFormatError.at(n, f"field '{key}' is not an RFC 3339 timestamp: {v!r}") from None


def unknown_value(msg: str, n: int, strict: bool, warnings: list[str]) -> None:
    if strict:
        raise ImportFormatError.at(n, msg + "; --strict refuses values this version does not know")
    warnings.append(f"line {n}: {msg}")

