"""Versions: a hybrid logical clock (wall ms, counter, node), and their compact text form.

A version is a plain tuple ``(wall_ms, counter, node)``; tuples compare lexicographically, so
the node id is the deterministic tie-break between two writes of the same wall ms and counter.
The clock of a clone ticks to ``max(now, highest version seen)`` (plus a counter within one
millisecond), so a write made after seeing a version is always greater than it, whatever the
wall clocks say. The state lives in the database (``bdgit.store``); this module is pure.

Text form (inside the JSONL line's ``_v`` key): ``<wall>.<node>`` or ``<wall>.<counter>.<node>``
with wall and counter in base 36, e.g. ``mj5w4k1z.k2f9q1ab``. Versions synthesised from a line's
``updated_at`` (lines without versions, hand edits) have the empty node, the lowest tie-break.
"""
from __future__ import annotations

import os
import time

Version = tuple[int, int, str]

#: below every real version: "never written"
ZERO: Version = (0, 0, "")
#: node ids are this many base-36 characters
NODE_LEN = 8

_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
_NODE_CHARS = frozenset(_DIGITS)
_PAIRS = [a + b for a in _DIGITS for b in _DIGITS]


def b36(n: int) -> str:
    """``n`` (>= 0) in base 36, lowercase."""
    if n < 0:
        raise ValueError("negative")
    if n < 36:
        return _DIGITS[n]
    out = []
    while n >= 1296:  # two digits a step (an import stamps every issue it brings)
        n, r = divmod(n, 1296)
        out.append(_PAIRS[r])
    out.append(_DIGITS[n] if n < 36 else _PAIRS[n])
    return "".join(reversed(out))


def encode(v: Version) -> str:
    wall, counter, node = v
    if counter:
        return f"{b36(wall)}.{b36(counter)}.{node}"
    return f"{b36(wall)}.{node}"


def decode(text: object) -> Version:
    """Parse the text form. Raises ValueError for anything else (the caller decides whether a
    line with a bad ``_v`` is refused or read as a line without versions)."""
    if not isinstance(text, str) or len(text) > 64:
        raise ValueError(f"not a version: {text!r}")
    parts = text.split(".")
    if len(parts) == 2:
        wall_s, counter_s, node = parts[0], "0", parts[1]
    elif len(parts) == 3:
        wall_s, counter_s, node = parts
    else:
        raise ValueError(f"not a version: {text!r}")
    if not wall_s or not counter_s or not _NODE_CHARS.issuperset(node):
        raise ValueError(f"not a version: {text!r}")
    try:
        return (int(wall_s, 36), int(counter_s, 36), node)
    except ValueError:
        raise ValueError(f"not a version: {text!r}") from None


def new_node_id() -> str:
    """A random node id for a new clone database."""
    raw = int.from_bytes(os.urandom(8), "big")
    return b36(raw % 36 ** NODE_LEN).rjust(NODE_LEN, "0")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def tick(state: tuple[int, int], now: int) -> tuple[int, int]:
    """The clock state after one write at wall time ``now`` (ms): strictly greater than ``state``."""
    wall, counter = state
    if now > wall:
        return (now, 0)
    return (wall, counter + 1)


def observe(state: tuple[int, int], seen: Version) -> tuple[int, int]:
    """The clock state after reading version ``seen``: the next tick is greater than it."""
    if (seen[0], seen[1]) > state:
        return (seen[0], seen[1])
    return state


def from_updated(updated_us: int) -> Version:
    """The version of a register that a line without versions says changed at ``updated_at``."""
    return (updated_us // 1000, 0, "")


def bump(base: Version, updated_us: int) -> Version:
    """A synthetic version strictly greater than ``base``, at the line's ``updated_at`` when that
    is later: for a register that differs from the base but carries no newer version."""
    ms = updated_us // 1000
    if ms > base[0]:
        return (ms, 0, "")
    return (base[0], base[1] + 1, "")
