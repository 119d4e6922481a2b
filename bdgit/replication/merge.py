"""The merge rules, once: lift a line against its base, join two versioned states.

``merge3(base, x, y)`` is what every path calls (the git merge driver per issue, every import
with the database as one side). A missing side counts as the base: a line that is absent from a
file never deletes. The result does not depend on which side is which, and with versioned lines
``merge3(b, x, y) == join(x, y)`` for any base below both; see docs/JSONL.md for the rules with
examples.
"""
from __future__ import annotations

from typing import Any

from .clock import ZERO, Version, bump, from_updated
from .record import ABSENT, STATUS, Line, State, canon, merge_comment

_Reg = tuple[Any, Version]
#: the base's entry for a register it does not have: never written
_NEVER: _Reg = (ABSENT, ZERO)


def _lift_one(sv: Any, explicit: Version | None, base: _Reg | None, updated_us: int, newer: bool) -> _Reg:
    """One register of a line against the base's. ``explicit``: the line's own version for it,
    or None when the line has none (a line without versions); ``newer``: such a line is not
    older than the base (its ``updated_at`` is not earlier)."""
    if base is None:
        return (sv, explicit if explicit is not None else from_updated(updated_us))
    bv, bver = base
    if sv == bv and canon(sv) == canon(bv):
        if explicit is None:
            return base
        return (sv, explicit if explicit > bver else bver)
    if explicit is not None:
        if explicit > bver:
            return (sv, explicit)  # a real edit
        if explicit == bver:
            return (sv, bump(bver, updated_us))  # same version, other value: edited by hand
        return (sv, explicit)  # older than the base: a stale file; loses to the base
    if newer:
        return (sv, bump(bver, updated_us))  # changed at the line's updated_at
    return (sv, ZERO)  # a line older than the base (a file restored by git): loses


def lift(line: Line, base: State | None) -> State:
    """``line`` as a versioned state, judged against ``base`` (see the module docstring and
    docs/JSONL.md): registers equal to the base keep the base's version; a changed register
    without a newer version of its own counts as changed at the line's ``updated_at``; a line
    that is older than the base for a register keeps its older version (so it loses)."""
    out = State(line.id)
    d = line.default
    up = line.updated_us
    bregs = base.regs if base is not None else {}
    newer = base is None or up >= base.updated_us
    names = set(line.regs) | set(line.vers) | set(bregs)
    for name in names:
        sv = line.regs.get(name, ABSENT)
        b = bregs.get(name, _NEVER) if base is not None else None
        if name == STATUS and not line.status_known and b is not None and b is not _NEVER:
            r = b  # a tombstone line that does not say its status: the base's stands
        else:
            explicit = line.vers.get(name, d) if d is not None else None
            r = _lift_one(sv, explicit, b, up, newer)
        if r[1] == ZERO:
            continue  # nothing this line knows beyond the base (the base joins the result)
        out.regs[name] = r
    _lift_elems(out.labels, {lb: True for lb in line.labels}, line.lvers, d,
                base.labels if base is not None else None, up, newer, False)
    _lift_elems(out.deps, line.deps, line.dvers, d, base.deps if base is not None else None, up, newer, None)
    out.comments = dict(base.comments) if base is not None else {}
    for k, c in line.comments.items():
        prev = out.comments.get(k)
        out.comments[k] = c if prev is None else merge_comment(prev, c)
    out.updated_at, out.updated_us = line.updated_at, up
    if base is not None and (base.updated_us, base.updated_at) > (up, line.updated_at):
        out.updated_at, out.updated_us = base.updated_at, base.updated_us
    return out


def _lift_elems(into: dict[str, Any], present: dict[str, Any], vers: dict[str, Version], default: Version | None,
                base: dict[str, Any] | None, updated_us: int, newer: bool, gone: Any) -> None:
    """Elements (labels: value True, removed ``gone`` = False; dependencies: the edge, removed
    None). An element the line neither lists nor versions is *unmentioned*: in a versioned line
    it was removed by hand only when the base's element version is the line's default (the line
    was written from that base); otherwise the line never saw it."""
    bmap = base if base is not None else {}
    never = (gone, ZERO)
    for elem in set(present) | set(vers) | set(bmap):
        sv = present.get(elem, gone)
        b = bmap.get(elem, never) if base is not None else None
        if default is not None and elem not in vers and elem not in present:
            # unmentioned in a versioned line: removed by hand from a line written from this
            # base (its default is the element's version there); else the line never saw it
            if b is not None and b[0] != gone and b[1] == default:
                into[elem] = (gone, bump(b[1], updated_us))
            continue
        explicit = (vers.get(elem, default)) if default is not None else None
        r = _lift_one(sv, explicit, b, updated_us, newer)
        if r[1] == ZERO or (base is None and explicit is None and sv == gone):
            continue  # nothing this line knows beyond the base (the base joins the result)
        into[elem] = r


def _pick(a: _Reg, b: _Reg) -> _Reg:
    if a[1] != b[1]:
        return a if a[1] > b[1] else b
    if a[0] is b[0]:
        return a
    return a if canon(a[0]) >= canon(b[0]) else b


def _join_map(a: dict[str, _Reg], b: dict[str, _Reg]) -> dict[str, _Reg]:
    out = dict(a)
    for k, r in b.items():
        o = out.get(k)
        out[k] = r if o is None else _pick(o, r)
    return out


def join(a: State, b: State) -> State:
    """The join of two versioned states of one issue: per register and element the greater
    (version, value); comments united; the later ``updated_at``. Commutative, associative and
    idempotent."""
    out = State(a.id)
    out.regs = _join_map(a.regs, b.regs)
    out.labels = _join_map(a.labels, b.labels)
    out.deps = _join_map(a.deps, b.deps)
    out.comments = dict(a.comments)
    for k, c in b.comments.items():
        prev = out.comments.get(k)
        out.comments[k] = c if prev is None else merge_comment(prev, c)
    if (a.updated_us, a.updated_at) >= (b.updated_us, b.updated_at):
        out.updated_at, out.updated_us = a.updated_at, a.updated_us
    else:
        out.updated_at, out.updated_us = b.updated_at, b.updated_us
    return out


def merge3(base: Line | None, x: Line | None, y: Line | None) -> State:
    """Merge two lines of one issue against their common base (any of the three may be missing;
    a missing side is the base). Symmetric in ``x`` and ``y``."""
    b = lift(base, None) if base is not None else None
    sides = [lift(s, b) for s in (x, y) if s is not None]
    if b is not None:
        sides.append(b)  # what both sides left stale or unmentioned stays as the base had it
    if not sides:
        raise ValueError("merge3 needs at least one line")
    out = sides[0]
    for s in sides[1:]:
        out = join(out, s)
    return out
