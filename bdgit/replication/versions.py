"""The version object of one issue as the database keeps it (the line's ``_v``, always whole).

The store records a write by stamping the registers and elements it changed with the
operation's version. Field names map to registers here (``closed_at`` is part of the status
register, ``deleted_by`` of the deletion register); everything else about versions is in
``record`` and ``merge``.
"""
from __future__ import annotations

import json
from typing import Any

from .clock import Version, decode as decode_version, encode as encode_version
from .record import DELETE_KEYS, DELETED, STATUS, STATUS_KEYS

#: what a database column holds when nothing is known yet (an issue from before versions)
EMPTY = ""


def register_of(field: str) -> str:
    """The register a line key belongs to."""
    if field in STATUS_KEYS:
        return STATUS
    if field in DELETE_KEYS:
        return DELETED
    return field


def initial(ver: Version) -> dict[str, Any]:
    """The versions of a new issue: everything at the creation version."""
    return {"@": encode_version(ver)}


def loads(text: str | None) -> dict[str, Any]:
    """The stored object; an empty or unreadable column gives {} (no versions known)."""
    if not text:
        return {}
    try:
        v = json.loads(text)
    except ValueError:
        return {}
    return v if isinstance(v, dict) else {}


def dumps(v: dict[str, Any]) -> str:
    return json.dumps(v, sort_keys=True, ensure_ascii=False, separators=(",", ":")) if v else EMPTY


def stamp(v: dict[str, Any], fields: Any, ver: Version) -> None:
    """Record that ``fields`` (line keys) were written at ``ver``. A tombstone's hidden status
    (a list) keeps its shape."""
    enc = encode_version(ver)
    for reg in {register_of(f) for f in fields}:
        cur = v.get(reg)
        if isinstance(cur, list):
            v[reg] = [enc, *cur[1:]]
        elif enc == v.get("@"):
            v.pop(reg, None)  # the default needs no entry (the same object the codec writes)
        else:
            v[reg] = enc


def stamp_elem(v: dict[str, Any], kind: str, elem: str, ver: Version) -> None:
    """Record that element ``elem`` of ``kind`` ("labels" or "dependencies") was added or
    removed at ``ver`` (the element's presence is the database's; its version is here)."""
    enc = encode_version(ver)
    m = dict(v.get(kind) or {})
    if enc == v.get("@"):
        m.pop(elem, None)  # added with the issue: the default says it (a removal never is)
    else:
        m[elem] = enc
    if m:
        v[kind] = dict(sorted(m.items()))
    else:
        v.pop(kind, None)


def rename_elem(v: dict[str, Any], kind: str, mapping: dict[str, str]) -> bool:
    """Rename elements (dependency targets of renamed issues); returns whether any moved."""
    m = v.get(kind)
    if not isinstance(m, dict) or not any(k in mapping for k in m):
        return False
    v[kind] = dict(sorted((mapping.get(k, k), ver) for k, ver in m.items()))
    return True


def hide_status(v: dict[str, Any], status: str, closed_at: str | None) -> None:
    """On delete: the status register's version and value travel hidden (the line shows
    ``status: "tombstone"``)."""
    cur = v.get(STATUS)
    ver = cur[0] if isinstance(cur, list) else cur if isinstance(cur, str) else v.get("@", "")
    v[STATUS] = [ver, status] + ([closed_at] if closed_at is not None else [])


def unhide_status(v: dict[str, Any]) -> tuple[str, str | None] | None:
    """On restore: the hidden (status, closed_at), with the register's version put back as a
    plain version. None when there is none."""
    cur = v.get(STATUS)
    if not isinstance(cur, list) or len(cur) < 2:
        return None
    v[STATUS] = cur[0]
    return cur[1], (cur[2] if len(cur) > 2 else None)


def top(v: dict[str, Any]) -> Version | None:
    """The highest version named in ``v`` (what the clock must observe)."""
    best: Version | None = None
    for key, val in v.items():
        vals = val.values() if isinstance(val, dict) else [val[0]] if isinstance(val, list) and val else [val]
        for x in vals:
            try:
                ver = decode_version(x)
            except ValueError:
                continue
            if best is None or ver > best:
                best = ver
    return best
