"""Three-way merge of two JSONL files, per issue, newer wins; sequential-ID collisions renumbered.

Used by ``bd merge-driver`` (git's merge driver for ``.beads/issues.jsonl``, so that a pull
never leaves conflict markers in it) and by ``bd sync`` on a sync branch.

Per issue id, with base B, ours O and theirs T (each a line or absent):

- O == T: that line. O == B: T (theirs changed it, or deleted it). T == B: O.
- Both changed: an edit beats a deletion; two edits: the later ``updated_at`` wins, ties go to
  the line with the greater hash (the same rule as import, so every clone picks the same one).

A *collision* is one id naming two different issues (different ``created_at``): two clones
each created the next sequential number. The side whose issue is not the one in the base
(never pushed) is renumbered: next free number after the highest of every side, in id order,
and mentions of it (text and dependency edges) in that side's other issues are rewritten.
When neither side's issue is in the base, ours (the local one) is renumbered.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import ImportFormatError
from .files import line_hash
from .importer import same_creation
from ..model import dumps_compact, ts_micros
from ..store.rename import rewrite_mentions

_TEXT = ("title", "description", "design", "acceptance_criteria", "notes")
_NUM = re.compile(r"^(.+)-(\d+)$")


@dataclass
class Rec:
    line: str
    obj: dict[str, Any]

    @property
    def created(self) -> int:
        return _micros(self.obj.get("created_at") or self.obj.get("updated_at"))

    @property
    def updated(self) -> int:
        return _micros(self.obj.get("updated_at") or self.obj.get("created_at"))


def _micros(v: Any) -> int:
    try:
        return ts_micros(v)
    except (ValueError, TypeError):
        return 0


@dataclass
class MergeResult:
    text: str
    renumbered_ours: dict[str, str] = field(default_factory=dict)
    renumbered_theirs: dict[str, str] = field(default_factory=dict)
    from_ours: int = 0
    from_theirs: int = 0
    both_changed: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


def parse(text: str, side: str = "") -> dict[str, Rec]:
    """Lines by id. Raises ImportFormatError on conflict markers or a line that is not JSON."""
    out: dict[str, Rec] = {}
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        if line.startswith(("<<<<<<<", ">>>>>>>", "|||||||")) or line == "=======":
            raise ImportFormatError.at(n, f"{side} side has git conflict markers")
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise ImportFormatError.at(n, f"{side} side: invalid JSON: {e.msg}") from None
        if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
            raise ImportFormatError.at(n, f"{side} side: a line without a string 'id'")
        prev = out.get(obj["id"])
        rec = Rec(line, obj)
        if prev is None or (rec.updated, line_hash(rec.line)) > (prev.updated, line_hash(prev.line)):
            out[obj["id"]] = rec
    return out


def collisions(base: dict[str, Rec], ours: dict[str, Rec], theirs: dict[str, Rec]) -> dict[str, str]:
    """Ids naming different issues on the two sides -> the side to renumber ("ours"/"theirs")."""
    out: dict[str, str] = {}
    for i in sorted(set(ours) & set(theirs)):
        o, t = ours[i], theirs[i]
        if same_creation(o.created, t.created):
            continue
        b = base.get(i)
        if b is not None and same_creation(b.created, o.created):
            out[i] = "theirs"
        else:
            out[i] = "ours"
    return out


def _num_key(i: str) -> tuple[str, int, str]:
    m = _NUM.match(i)
    return (m.group(1), int(m.group(2)), i) if m else (i, -1, i)


def plan_renumber(ids: list[str], taken: set[str]) -> dict[str, str]:
    """New ids for ``ids``: per prefix, the next numbers after the highest taken (in id order)."""
    top: dict[str, int] = {}
    for i in taken:
        m = _NUM.match(i)
        if m:
            top[m.group(1)] = max(top.get(m.group(1), 0), int(m.group(2)))
    out: dict[str, str] = {}
    for i in sorted(ids, key=_num_key):
        m = _NUM.match(i)
        prefix = m.group(1) if m else i
        n = top.get(prefix, 0) + 1
        while f"{prefix}-{n}" in taken:
            n += 1
        top[prefix] = n
        out[i] = f"{prefix}-{n}"
    return out


def rename_side(side: dict[str, Rec], mapping: dict[str, str]) -> dict[str, Rec]:
    """``side`` with ids renamed and every mention (text, dependency edges) rewritten."""
    if not mapping:
        return side
    out: dict[str, Rec] = {}
    pattern = re.compile("|".join(re.escape(k) for k in sorted(mapping, key=len, reverse=True)))
    for i, rec in side.items():
        new_id = mapping.get(i, i)
        if new_id == i and not pattern.search(rec.line):
            out[i] = rec
            continue
        o = dict(rec.obj)
        o["id"] = new_id
        for f in _TEXT:
            if isinstance(o.get(f), str):
                o[f] = rewrite_mentions(o[f], mapping)
        if isinstance(o.get("dependencies"), list):
            o["dependencies"] = [
                dict(d, issue_id=new_id, depends_on_id=mapping.get(d.get("depends_on_id"), d.get("depends_on_id")))
                if isinstance(d, dict) else d for d in o["dependencies"]]
        out[new_id] = Rec(dumps_compact(o), o)
    return out


def _winner(o: Rec, t: Rec) -> str:
    if o.updated != t.updated:
        return "ours" if o.updated > t.updated else "theirs"
    return "ours" if line_hash(o.line) >= line_hash(t.line) else "theirs"


def merge(base_text: str, ours_text: str, theirs_text: str) -> MergeResult:
    """Merge three JSONL texts; see the module docstring. Raises ImportFormatError."""
    base, ours, theirs = parse(base_text, "base"), parse(ours_text, "our"), parse(theirs_text, "their")
    coll = collisions(base, ours, theirs)
    taken = set(base) | set(ours) | set(theirs)
    res = MergeResult("")
    if coll:
        plan = plan_renumber(sorted(coll), taken)
        res.renumbered_ours = {i: plan[i] for i in coll if coll[i] == "ours"}
        res.renumbered_theirs = {i: plan[i] for i in coll if coll[i] == "theirs"}
        ours = rename_side(ours, res.renumbered_ours)
        theirs = rename_side(theirs, res.renumbered_theirs)
        # the renumbered side had another issue under that id, not a deletion of the base's
        for side, mapping in ((ours, res.renumbered_ours), (theirs, res.renumbered_theirs)):
            for i in mapping:
                if i in base and i not in side:
                    side[i] = base[i]
    lines: dict[str, str] = {}
    for i in set(ours) | set(theirs) | set(base):
        b, o, t = base.get(i), ours.get(i), theirs.get(i)
        bl, ol, tl = (b.line if b else None), (o.line if o else None), (t.line if t else None)
        if ol == tl:
            pick = ol
        elif ol == bl:
            pick, res.from_theirs = tl, res.from_theirs + 1
        elif tl == bl:
            pick, res.from_ours = ol, res.from_ours + 1
        elif o is None or t is None:  # changed on one side, deleted on the other: keep the change
            pick = ol if o is not None else tl
        else:
            res.both_changed.append(i)
            pick = ol if _winner(o, t) == "ours" else tl
        if pick is None:
            if b is not None:
                res.deleted.append(i)
            continue
        lines[i] = pick
    res.both_changed.sort()
    res.deleted.sort()
    res.text = "".join(lines[k] + "\n" for k in sorted(lines))
    return res
