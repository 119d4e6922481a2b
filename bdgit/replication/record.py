"""The versioned record: one issue as registers with versions, and its JSONL form.

Two shapes:

- ``Line``: what one JSONL line says, decoded (``decode``). A line may carry versions (the
  ``_v`` key) or not (beads, hand edits, older bdgit); it knows which registers it has explicit
  versions for. Nothing is lost: every key of the line is a register.
- ``State``: every register and collection element with an explicit version, the form merges
  work on (``merge.lift`` turns a Line into a State against a base; ``merge.join`` joins two).
  ``encode`` writes a State back as the canonical beads-shaped JSON object plus ``_v``.

Registers (see docs/JSONL.md): each scalar key of the line (title, priority, unknown keys, ...);
``status`` = {status, closed_at, close_reason}; ``deleted_at`` = the deletion (tombstone flag plus
deleted_at, deleted_by, delete_reason, original_type); labels and dependencies per element;
comments a grow-only set keyed by a content identity.
"""
from __future__ import annotations

import json
from typing import Any

from ..model import DEP_FIELDS, ISSUE_FIELDS, dep_to_json, issue_to_json, ts_micros
from .clock import ZERO, Version, decode as decode_version, encode as encode_version, from_updated

STATUS = "status"
DELETED = "deleted_at"
TOMBSTONE = "tombstone"
VKEY = "_v"
STATUS_KEYS = ("status", "closed_at", "close_reason")
DELETE_KEYS = ("deleted_at", "deleted_by", "delete_reason", "original_type")
#: line keys that are not scalar registers
STRUCTURAL = frozenset({"id", "updated_at", VKEY, "labels", "dependencies", "comments",
                        *STATUS_KEYS, *DELETE_KEYS})
#: known fields whose empty value and absence are the same thing (beads' omitempty)
_OMIT = {k: omit for k, omit in ISSUE_FIELDS if omit}
_DEFAULTS: dict[str, Any] = {"description": "", "priority": 2, "issue_type": "task"}
_COMMENT_ORDER = ("id", "issue_id", "author", "text", "created_at")


class _Absent:
    """The value of a register that has none (a key missing from the line)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ABSENT"

    def __reduce__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()


def canon(value: Any) -> str:
    """A total, deterministic order on register values (the tie-break of equal versions)."""
    if value is ABSENT:
        return ""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


class Line:
    """One decoded line. ``default`` is None for a line without versions (every register then
    has an implicit version); otherwise a register's version is ``vers.get(name, default)``."""

    __slots__ = ("id", "regs", "vers", "default", "labels", "lvers", "deps", "dvers", "comments",
                 "updated_at", "updated_us", "status_known")

    def __init__(self, issue_id: str) -> None:
        self.id = issue_id
        self.regs: dict[str, Any] = {}
        self.vers: dict[str, Version] = {}
        self.default: Version | None = None
        self.labels: set[str] = set()
        self.lvers: dict[str, Version] = {}
        self.deps: dict[str, dict[str, Any]] = {}
        self.dvers: dict[str, Version] = {}
        self.comments: dict[str, dict[str, Any]] = {}
        self.updated_at = ""
        self.updated_us = 0
        #: False for a tombstone line that does not say what status it had (beads writes none)
        self.status_known = True

    def __repr__(self) -> str:
        return f"Line({self.id!r}, versioned={self.default is not None})"


class State:
    """An issue with every register and element versioned. ``regs``: name -> (value, version);
    ``labels``: label -> (present, version); ``deps``: target -> (edge or None, version);
    ``comments``: identity -> comment object. Entries of value ABSENT/removed at ZERO are never
    stored (they mean "never written")."""

    __slots__ = ("id", "regs", "labels", "deps", "comments", "updated_at", "updated_us")

    def __init__(self, issue_id: str) -> None:
        self.id = issue_id
        self.regs: dict[str, tuple[Any, Version]] = {}
        self.labels: dict[str, tuple[bool, Version]] = {}
        self.deps: dict[str, tuple[dict[str, Any] | None, Version]] = {}
        self.comments: dict[str, dict[str, Any]] = {}
        self.updated_at = ""
        self.updated_us = 0

    def __repr__(self) -> str:
        return f"State({self.id!r}, tombstone={self.is_tombstone})"

    @property
    def is_tombstone(self) -> bool:
        v = self.regs.get(DELETED)
        return bool(v and v[0] is not ABSENT and v[0].get("deleted"))

    def value(self, name: str) -> Any:
        r = self.regs.get(name)
        return ABSENT if r is None else r[0]

    def versions(self) -> list[Version]:
        out = [v for _, v in self.regs.values()]
        out.extend(v for _, v in self.labels.values())
        out.extend(v for _, v in self.deps.values())
        return out

    def top(self) -> Version:
        """The highest version in the record (what a clock must observe)."""
        return max(self.versions(), default=ZERO)


# --- decoding ----------------------------------------------------------------------------------

def comment_key(c: dict[str, Any]) -> str:
    """A comment's identity: its author, instant and text (beads' comment ids are per-database
    counters, the same number names different comments in two clones)."""
    import hashlib
    created = c.get("created_at")
    try:
        when = str(ts_micros(created)) if isinstance(created, str) else canon(created)
    except ValueError:
        when = str(created)
    raw = "\x1f".join((str(c.get("author") or ""), when, str(c.get("text") or "")))
    return hashlib.sha256(raw.encode()).hexdigest()[:20]


def guess_status(obj: dict[str, Any]) -> dict[str, Any]:
    """The status a tombstone line without hidden status most likely had: closed when it kept
    a close reason (beads clears closed_at on delete), else open."""
    if obj.get("close_reason") is not None:
        return {"status": "closed", "closed_at": obj.get("deleted_at") or obj.get("updated_at"),
                "close_reason": obj["close_reason"]}
    return {"status": "open"}


def _micros(v: Any) -> int:
    try:
        return ts_micros(v)
    except (ValueError, TypeError):
        return 0


def decode(obj: dict[str, Any], updated_us: int | None = None) -> Line:
    """Decode a line's JSON object. Raises ValueError when it has no string id or no timestamp.

    Normalisation (the same an import applies): default priority/type/status/description,
    ``created_at`` and ``updated_at`` filled from each other, ``closed_at`` of a closed issue from
    ``updated_at``, known omit-empty fields equal to absent when empty; dependency defaults
    (type ``blocks``, ``created_by`` "", ``created_at`` the issue's). A ``_v`` that is not a
    valid version object is ignored: the line is then read as a line without versions.
    ``updated_us``: the micros of ``updated_at`` when the caller parsed it already.
    """
    issue_id = obj.get("id")
    if not isinstance(issue_id, str):
        raise ValueError("a line without a string 'id'")
    rec = Line(issue_id)
    created = obj.get("created_at")
    updated = obj.get("updated_at")
    if created is None and updated is None:
        raise ValueError(f"{issue_id}: missing 'created_at' and 'updated_at'")
    if created is None:
        created = updated
    if updated is None:
        updated = created
    rec.updated_at = str(updated)
    rec.updated_us = _micros(updated) if updated_us is None else updated_us
    regs = rec.regs
    for key, value in obj.items():
        if key in STRUCTURAL:
            continue
        omit = _OMIT.get(key)
        if value is None and omit:
            continue
        if value == "" and omit == "empty":
            continue
        regs[key] = value
    regs["created_at"] = created
    for key, default in _DEFAULTS.items():
        if regs.get(key) is None:
            regs[key] = default
    # the status register, and the deletion register
    status = obj.get("status") or "open"
    deletion: dict[str, Any] = {k: obj[k] for k in DELETE_KEYS if k in obj}
    v = obj.get(VKEY)
    hidden = None
    if isinstance(v, dict):
        hidden = _decode_versions(rec, v)
    if status == TOMBSTONE:
        deletion["deleted"] = True
        if hidden is not None:
            st = {"status": hidden[0]}
            if hidden[1] is not None:
                st["closed_at"] = hidden[1]
        else:
            st = guess_status(obj)
            rec.status_known = False
        if obj.get("close_reason") is not None:
            st["close_reason"] = obj["close_reason"]
    else:
        st = {"status": status}
        closed_at = obj.get("closed_at")
        if status == "closed" and not closed_at:
            closed_at = updated
        if closed_at is not None:
            st["closed_at"] = closed_at
        if "close_reason" in obj:
            st["close_reason"] = obj["close_reason"]
    regs[STATUS] = st
    regs[DELETED] = deletion
    labels = obj.get("labels")
    if isinstance(labels, list):
        rec.labels = {x for x in labels if isinstance(x, str)}
    deps = obj.get("dependencies")
    if isinstance(deps, list):
        for d in deps:
            if not isinstance(d, dict) or not isinstance(d.get("depends_on_id"), str):
                continue
            edge = {k: val for k, val in d.items() if k not in ("issue_id", "depends_on_id")}
            edge["type"] = d.get("type") or "blocks"
            edge["created_at"] = d.get("created_at") or created
            edge["created_by"] = d.get("created_by") or ""
            rec.deps[d["depends_on_id"]] = edge
    comments = obj.get("comments")
    if isinstance(comments, list):
        for c in comments:
            if not isinstance(c, dict):
                continue
            c = dict(c)
            c.setdefault("author", "")
            c.setdefault("text", "")
            if not c.get("created_at"):
                c["created_at"] = created
            k = comment_key(c)
            prev = rec.comments.get(k)
            rec.comments[k] = c if prev is None else merge_comment(prev, c)
    return rec


def _decode_versions(rec: Line, v: dict[str, Any]) -> tuple[str, str | None] | None:
    """Fill ``rec``'s versions from a ``_v`` object; returns the hidden status of a tombstone
    (status, closed_at) when ``_v`` carries one. An invalid ``_v`` leaves ``rec`` unversioned."""
    try:
        default = decode_version(v.get("@"))
        vers: dict[str, Version] = {}
        lvers: dict[str, Version] = {}
        dvers: dict[str, Version] = {}
        hidden: tuple[str, str | None] | None = None
        for key, val in v.items():
            if key == "@":
                continue
            if key == "labels" or key == "dependencies":
                if not isinstance(val, dict):
                    raise ValueError(key)
                into = lvers if key == "labels" else dvers
                for elem, ver in val.items():
                    into[elem] = decode_version(ver)
            elif key == STATUS and isinstance(val, list):
                if not 2 <= len(val) <= 3 or not isinstance(val[1], str):
                    raise ValueError(key)
                vers[key] = decode_version(val[0])
                closed = val[2] if len(val) == 3 else None
                if closed is not None and not isinstance(closed, str):
                    raise ValueError(key)
                hidden = (val[1], closed)
            else:
                vers[key] = decode_version(val)
    except ValueError:
        return None
    rec.default, rec.vers, rec.lvers, rec.dvers = default, vers, lvers, dvers
    return hidden


def merge_comment(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Two copies of one comment: the union of their keys; where both have a key, the value
    that sorts first (a join: the same result in any order)."""
    if a == b:
        return a
    out = dict(a)
    for k, val in b.items():
        if k not in out or canon(val) < canon(out[k]):
            out[k] = val
    return out


# --- encoding ----------------------------------------------------------------------------------

def _comment_json(c: dict[str, Any]) -> dict[str, Any]:
    out = {k: c[k] for k in _COMMENT_ORDER if k in c}
    for k in sorted(c):
        if k not in out:
            out[k] = c[k]
    return out


def comment_order(c: dict[str, Any]) -> tuple[int, str]:
    return (_micros(c.get("created_at")), comment_key(c))


def comments_json(comments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Comments in the line's order (instant, identity) and key order (beads' first)."""
    return [_comment_json(c) for c in sorted(comments, key=comment_order)]


def dep_order(d: dict[str, Any]) -> tuple[str, str]:
    return (d.get("created_at") or "", d["depends_on_id"])


def encode(state: State, *, versions: bool = True) -> dict[str, Any]:
    """The canonical JSON object for ``state``: beads' key order and omit rules, unknown keys
    sorted, labels sorted, dependencies by (created_at, target), comments by (instant,
    identity), then ``_v`` (left out when the line without it decodes to the same versions,
    and when ``versions`` is false)."""
    regs = state.regs
    row: dict[str, Any] = {"id": state.id, "updated_at": state.updated_at}
    extra: dict[str, Any] = {}
    for name, (value, _) in regs.items():
        if value is ABSENT or name == STATUS or name == DELETED:
            continue
        if name in _OMIT or name in _DEFAULTS or name in ("title", "created_at"):
            row[name] = value
        else:
            extra[name] = value
    st = state.value(STATUS)
    if st is ABSENT:
        st = {"status": "open"}
    deletion = state.value(DELETED)
    if deletion is ABSENT:
        deletion = {}
    tomb = bool(deletion.get("deleted"))
    if tomb:
        row["status"] = TOMBSTONE
    else:
        row["status"] = st.get("status", "open")
        row["closed_at"] = st.get("closed_at")
    if "close_reason" in st:
        extra["close_reason"] = st["close_reason"]
    for k in DELETE_KEYS:
        if k in deletion:
            extra[k] = deletion[k]
    row["extra"] = extra
    labels = sorted(lb for lb, (present, _) in state.labels.items() if present)
    deps = []
    for target, (edge, _) in state.deps.items():
        if edge is None:
            continue
        d: dict[str, Any] = {"issue_id": state.id, "depends_on_id": target}
        d.update(edge)
        d["extra"] = {k: val for k, val in edge.items() if k not in DEP_FIELDS}
        deps.append(dep_to_json(d))
    deps.sort(key=dep_order)
    out = issue_to_json(row, labels, deps, comments_json(list(state.comments.values())))
    if versions:
        v = encode_versions(state, tomb, st)
        if v is not None:
            out[VKEY] = v
    return out


def with_versions(obj: dict[str, Any], v: dict[str, Any] | None, updated_us: int | None = None) -> dict[str, Any]:
    """Line object ``obj`` (as the database renders it) with its stored ``_v`` attached, unless
    the line says the same without it: the same rule ``encode`` applies."""
    if v and not implied_versions(obj, v, updated_us):
        obj[VKEY] = v
    return obj


def full_versions(state: State, tomb: bool, st: dict[str, Any]) -> dict[str, Any] | None:
    """The complete ``_v`` object of ``state`` (what the database stores), or None for a state
    without any register. ``@`` is the smallest version (the creation's): a register or element
    the line does not name has it, so an unnamed register never beats a concurrent write."""
    allv = state.versions()
    if not allv:
        return None
    default = min(allv)
    d = encode_version(default)
    out: dict[str, Any] = {"@": d}
    for name in sorted(state.regs):
        value, ver = state.regs[name]
        if name == STATUS and tomb:
            hidden = [encode_version(ver), st.get("status", "open")]
            if st.get("closed_at") is not None:
                hidden.append(st["closed_at"])
            out[name] = hidden
        elif ver != default:
            out[name] = encode_version(ver)
    for key, elems in (("labels", state.labels), ("dependencies", state.deps)):
        m = {e: encode_version(ver) for e, (val, ver) in sorted(elems.items())
             if ver != default or val is None or val is False}
        if m:
            out[key] = m
    return {k: out[k] for k in sorted(out)}


def stored_versions(state: State) -> dict[str, Any]:
    """The whole ``_v`` object of ``state`` (never left out): what the database keeps."""
    st = state.value(STATUS)
    return full_versions(state, state.is_tombstone, st if isinstance(st, dict) else {"status": "open"}) or {}


def encode_versions(state: State, tomb: bool, st: dict[str, Any]) -> dict[str, Any] | None:
    """The ``_v`` to write on the line, or None when a line without it says the same."""
    v = full_versions(state, tomb, st)
    if v is None:
        return None
    obj = {"updated_at": state.updated_at, "status": TOMBSTONE if tomb else st.get("status")}
    if "close_reason" in st:
        obj["close_reason"] = st["close_reason"]
    deletion = state.value(DELETED)
    if tomb and isinstance(deletion, dict) and "deleted_at" in deletion:
        obj["deleted_at"] = deletion["deleted_at"]
    return None if implied_versions(obj, v, state.updated_us) else v


def implied_versions(obj: dict[str, Any], v: dict[str, Any], updated_us: int | None = None) -> bool:
    """Whether ``_v`` object ``v`` says nothing that line ``obj`` (without ``_v``) does not: every
    version is the one its ``updated_at`` gives, nothing removed or cleared, and a tombstone's
    hidden status is the one a line without versions is read with. Such a line is written
    without ``_v`` (an issue imported from beads and not edited since keeps its line).
    ``updated_us``: the micros of the line's ``updated_at`` when known."""
    legacy = encode_version(from_updated(_micros(obj.get("updated_at")) if updated_us is None else updated_us))
    if v.get("@") != legacy:
        return False
    keys = set(v)
    if keys == {"@"}:
        return obj.get("status") != TOMBSTONE
    if keys != {"@", STATUS} or obj.get("status") != TOMBSTONE:
        return False
    hidden = v[STATUS]
    g = guess_status(obj)
    want = [legacy, g["status"]] + ([g["closed_at"]] if g.get("closed_at") is not None else [])
    return bool(hidden == want)
