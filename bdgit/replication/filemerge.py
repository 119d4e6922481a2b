"""Three-way merge of whole JSONL files: what ``bd merge-driver`` writes for git.

Per issue ID the three lines (base, ours, theirs) go through ``merge.merge3``; a side that
lacks the line counts as the base (absence is not deletion). Fast paths with the same result:
both sides equal, or one side equal to the base, take the other side's line as it is.

Before that, sequential-ID collisions (one ID, two different issues: different ``created_at``)
are resolved by renumbering the issue that did not reach the remote (see ``collisions``), with
every mention on its side following it. Hash IDs are never renumbered.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ..errors import ImportFormatError
from ..intake import loads
from ..jsonl.markers import is_marker
from ..model import dumps_compact
from .ids import may_collide, plan_renumber, rewrite_mentions, same_creation
from .merge import merge3
from .record import VKEY, decode, encode

_TEXT = ("title", "description", "design", "acceptance_criteria", "notes")
#: (issue id, created_at micros) -> whether a remote-tracking ref's JSONL has that issue
Pushed = Callable[[str, int], bool]


class Side:
    """One file's lines by issue ID (a list when a broken file has an ID twice), and each
    line's number in the file."""

    __slots__ = ("name", "lines", "objs", "numbers")

    def __init__(self, name: str) -> None:
        self.name = name
        self.lines: dict[str, list[str]] = {}
        self.objs: dict[str, dict[str, Any]] = {}
        self.numbers: dict[str, int] = {}

    def obj(self, issue_id: str) -> dict[str, Any]:
        o = self.objs.get(issue_id)
        if o is None:
            o = self.objs[issue_id] = loads(self.lines[issue_id][0])
        return o

    def created_us(self, issue_id: str) -> int:
        from ..model import ts_micros
        o = self.obj(issue_id)
        try:
            return ts_micros(str(o.get("created_at") or o.get("updated_at")))
        except (ValueError, TypeError):
            return 0


def parse_side(text: str, name: str) -> Side:
    """Lines by ID. Raises ImportFormatError on conflict markers or a line that is not a JSON
    object with a string ``id`` (git then leaves the file conflicted, nothing is lost)."""
    side = Side(name)
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        if is_marker(line):
            raise ImportFormatError.at(n, f"{name} side has git conflict markers")
        if line.startswith('{"id":"') and (end := line.find('"', 7)) > 7 and "\\" not in line[7:end]:
            issue_id = line[7:end]  # our own lines: no need to parse the ones that match
        else:
            try:
                obj = loads(line)
            except ValueError as e:
                raise ImportFormatError.at(n, f"{name} side: invalid JSON: {e}") from None
            if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
                raise ImportFormatError.at(n, f"{name} side: a line without a string 'id'")
            issue_id = obj["id"]
            side.objs.setdefault(issue_id, obj)
        side.lines.setdefault(issue_id, []).append(line)
        side.numbers.setdefault(issue_id, n)
    return side


def check_new_lines(side: Side, base: Side) -> None:
    """The checks every import applies (IDs, fields, text), on the lines of ``side`` that its
    base does not have: what git merges in is what the next import reads, so it is refused here
    already (git then keeps the conflict). Lines the base has passed them before."""
    from ..jsonl.parse import parse as check
    for issue_id, lines in side.lines.items():
        old = base.lines.get(issue_id, ())
        for line in lines:
            if line in old:
                continue
            try:
                check(line)
            except ImportFormatError as e:
                msg = e.message.split(": ", 1)[1] if e.message.startswith("line ") else e.message
                raise ImportFormatError.at(side.numbers.get(issue_id), f"{side.name} side: {msg}", e.hint) from None


class MergeResult:
    def __init__(self) -> None:
        self.text = ""
        self.renumbered_ours: dict[str, str] = {}
        self.renumbered_theirs: dict[str, str] = {}
        self.from_ours = 0
        self.from_theirs = 0
        self.both_changed: list[str] = []
        #: issues one side's file lacked: kept (absence is not deletion)
        self.kept_absent: list[str] = []

    def __repr__(self) -> str:
        return (f"MergeResult(both_changed={self.both_changed!r}, renumbered_ours={self.renumbered_ours!r}, "
                f"renumbered_theirs={self.renumbered_theirs!r})")


def collisions(base: Side, ours: Side, theirs: Side, pushed: Pushed | None = None) -> dict[str, str]:
    """IDs naming two different issues on the two sides -> the side to renumber.

    The issue that reached the remote keeps its ID: the one in the base, else the one a
    remote-tracking ref has (``pushed``); when that does not decide, the one created later is
    renumbered (ties: the greater line). The same answer whichever side is "ours"."""
    out: dict[str, str] = {}
    for i in sorted(set(ours.lines) & set(theirs.lines)):
        if ours.lines[i] == theirs.lines[i] or not may_collide(i):
            continue
        o, t = ours.created_us(i), theirs.created_us(i)
        if same_creation(o, t):
            continue
        if i in base.lines:
            b = base.created_us(i)
            if same_creation(b, o) != same_creation(b, t):
                out[i] = "theirs" if same_creation(b, o) else "ours"
                continue
        if pushed is not None:
            po, pt = pushed(i, o), pushed(i, t)
            if po != pt:
                out[i] = "theirs" if po else "ours"
                continue
        ko = (o, ours.lines[i][0])
        kt = (t, theirs.lines[i][0])
        out[i] = "ours" if ko > kt else "theirs"
    return out


def followed(base: Side, ours: Side, theirs: Side) -> tuple[dict[str, str], dict[str, str]]:
    """Renumberings one side already carries for the other's issue: an ID both sides have for
    two different issues, where one side also has the other side's issue (same creation) under
    an ID the other side lacks. That side was merged with this issue once already and gave it
    its new ID (``bd sync`` pushed the merge before its clone moved on): the other side follows
    it instead of renumbering anew, so an issue is renumbered once. (ours map, theirs map).
    Symmetric: swapping the sides swaps the maps."""
    pairs = [i for i in sorted(set(ours.lines) & set(theirs.lines))
             if ours.lines[i] != theirs.lines[i] and may_collide(i)
             and not same_creation(ours.created_us(i), theirs.created_us(i))]
    if not pairs:
        return {}, {}

    def by_creation(side: Side, other: Side) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        for j in side.lines:
            if j not in other.lines and may_collide(j):
                out.setdefault(side.created_us(j), []).append(j)
        return out
    in_theirs, in_ours = by_creation(theirs, ours), by_creation(ours, theirs)

    def find(index: dict[int, list[str]], created: int) -> str | None:
        hits = [j for c, js in index.items() if same_creation(c, created) for j in js]
        return hits[0] if len(hits) == 1 else None
    ours_map: dict[str, str] = {}
    theirs_map: dict[str, str] = {}
    for i in pairs:
        j = find(in_theirs, ours.created_us(i))
        if j is not None and j not in ours_map.values():
            ours_map[i] = j
            continue
        j = find(in_ours, theirs.created_us(i))
        if j is not None and j not in theirs_map.values():
            theirs_map[i] = j
    return ours_map, theirs_map


def rename_obj(o: dict[str, Any], mapping: dict[str, str]) -> dict[str, Any]:
    """A line's object with IDs renamed: its own, dependency targets (and their versions),
    mentions in its text."""
    o = dict(o)
    o["id"] = mapping.get(o["id"], o["id"])
    for f in _TEXT:
        if isinstance(o.get(f), str):
            o[f] = rewrite_mentions(o[f], mapping)
    if isinstance(o.get("dependencies"), list):
        o["dependencies"] = [
            dict(d, issue_id=o["id"], depends_on_id=mapping.get(str(d.get("depends_on_id")), d.get("depends_on_id")))
            if isinstance(d, dict) else d for d in o["dependencies"]]
    v = o.get(VKEY)
    if isinstance(v, dict) and isinstance(v.get("dependencies"), dict):
        v = dict(v)
        v["dependencies"] = {mapping.get(k, k): ver for k, ver in sorted(v["dependencies"].items())}
        o[VKEY] = v
    return o


def rename_side(side: Side, mapping: dict[str, str]) -> Side:
    """``side`` with issues renamed and every mention of them rewritten."""
    if not mapping:
        return side
    import re
    pattern = re.compile("|".join(re.escape(k) for k in sorted(mapping, key=len, reverse=True)))
    out = Side(side.name)
    for i, lines in side.lines.items():
        new_id = mapping.get(i, i)
        if new_id == i and not any(pattern.search(x) for x in lines):
            out.lines[i] = lines
            if i in side.objs:
                out.objs[i] = side.objs[i]
            continue
        renamed = []
        for x in lines:
            o = rename_obj(json.loads(x), mapping)
            renamed.append(dumps_compact(o))
            out.objs.setdefault(new_id, o)
        out.lines.setdefault(new_id, []).extend(renamed)
    return out


def _one(lines: list[str] | None) -> str | None:
    return lines[0] if lines else None


def _merge_line(base: str | None, ours: str | None, theirs: str | None) -> str:
    from .record import Line
    dec: dict[str | None, Line | None] = {None: None}
    for x in (base, ours, theirs):
        if x is not None and x not in dec:
            dec[x] = decode(json.loads(x))
    return dumps_compact(encode(merge3(dec[base], dec[ours], dec[theirs])))


def _collapse(side: Side, base: str | None) -> None:
    """A side with one ID on several lines (a broken earlier merge): one merged line."""
    for i, lines in side.lines.items():
        if len(lines) > 1:
            merged = lines[0]
            for x in lines[1:]:
                merged = _merge_line(base, merged, x)
            side.lines[i] = [merged]
            side.objs.pop(i, None)


def merge_texts(base_text: str, ours_text: str, theirs_text: str, *, pushed: Pushed | None = None,
                renumber: bool = True, taken: Callable[[], set[str]] | None = None) -> MergeResult:
    """Merge three JSONL texts (see the module docstring). ``renumber`` is false in hash-ID
    mode; ``taken`` gives more IDs a renumbered issue must not get (asked only when one is
    renumbered: the database's, every remote-tracking ref's). Raises ImportFormatError for a
    side that is not JSONL."""
    base, ours, theirs = parse_side(base_text, "base"), parse_side(ours_text, "our"), parse_side(theirs_text, "their")
    check_new_lines(ours, base)
    check_new_lines(theirs, base)
    res = MergeResult()
    if renumber:
        follow_ours, follow_theirs = followed(base, ours, theirs)
        if follow_ours or follow_theirs:
            res.renumbered_ours.update(follow_ours)
            res.renumbered_theirs.update(follow_theirs)
            # the base line of a followed issue is its line under the new ID
            base = rename_side(base, {i: j for m, side in ((follow_ours, ours), (follow_theirs, theirs))
                                      for i, j in m.items() if i in base.lines
                                      and same_creation(base.created_us(i), side.created_us(i))})
            ours = rename_side(ours, follow_ours)
            theirs = rename_side(theirs, follow_theirs)
        coll = collisions(base, ours, theirs, pushed)
        if coll:
            used = set(base.lines) | set(ours.lines) | set(theirs.lines) | (taken() if taken is not None else set())
            plan = plan_renumber(sorted(coll), used)
            new_ours = {i: plan[i] for i in coll if coll[i] == "ours"}
            new_theirs = {i: plan[i] for i in coll if coll[i] == "theirs"}
            res.renumbered_ours.update(new_ours)
            res.renumbered_theirs.update(new_theirs)
            ours = rename_side(ours, new_ours)
            theirs = rename_side(theirs, new_theirs)
    for side in (base, ours, theirs):
        _collapse(side, None)
    out: dict[str, str] = {}
    for i in set(base.lines) | set(ours.lines) | set(theirs.lines):
        b = _one(base.lines.get(i))
        o = _one(ours.lines.get(i))
        t = _one(theirs.lines.get(i))
        if b is not None and (o is None or t is None):
            res.kept_absent.append(i)
        o = b if o is None else o
        t = b if t is None else t
        if o == t:
            pick = o
        elif o == b:
            pick, res.from_theirs = t, res.from_theirs + 1
        elif t == b:
            pick, res.from_ours = o, res.from_ours + 1
        else:
            res.both_changed.append(i)
            pick = _merge_line(b, o, t)
        assert pick is not None
        out[i] = pick
    res.both_changed.sort()
    res.kept_absent.sort()
    res.text = "".join(out[k] + "\n" for k in sorted(out))
    return res
