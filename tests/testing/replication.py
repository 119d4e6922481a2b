"""Shared helpers for the replication tests: a clone that edits versioned records in memory the
way the operations do (one clock tick per edit), and line/record shortcuts."""
from __future__ import annotations

import json
from typing import Any

from bdgit.model import dumps_compact
from bdgit.replication import clock
from bdgit.replication.merge import join, lift, merge3
from bdgit.replication.record import ABSENT, DELETED, STATUS, State, comment_key, decode, encode
from datetime import UTC

BASE_MS = 1_760_000_000_000  # 2025-10-09


def iso(ms: int) -> str:
    """An RFC 3339 timestamp with microseconds in UTC for ``ms``."""
    from datetime import datetime
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="microseconds")


def line_of(state: State) -> str:
    return dumps_compact(encode(state))


def state_of(line: str | dict[str, Any]) -> State:
    obj = json.loads(line) if isinstance(line, str) else line
    return lift(decode(obj), None)


def m3(base: str | None, x: str | None, y: str | None) -> str:
    """merge3 on lines, back to a line."""
    def d(s: str | None) -> Any:
        return None if s is None else decode(json.loads(s))
    return line_of(merge3(d(base), d(x), d(y)))


class World:
    """The real time all clones share (each reads it through its own skew)."""

    def __init__(self) -> None:
        self.ms = BASE_MS


WORLD = World()


class Clone:
    """One clone: a node id, a wall clock with a skew, an HLC, and its copy of each issue.
    Clones share one real time (``world``); every edit advances it a little."""

    def __init__(self, node: str, skew_ms: int = 0, world: World | None = None) -> None:
        self.node = node
        self.skew_ms = skew_ms
        self.world = world or WORLD
        self.hlc = (0, 0)
        self.issues: dict[str, State] = {}

    def tick(self) -> clock.Version:
        self.world.ms += 7  # time passes between edits
        self.hlc = clock.tick(self.hlc, self.world.ms + self.skew_ms)
        return (self.hlc[0], self.hlc[1], self.node)

    def now_iso(self, ver: clock.Version) -> str:
        return iso(ver[0])

    def observe(self, st: State) -> None:
        self.hlc = clock.observe(self.hlc, st.top())

    # --- edits (what the operations do) ---------------------------------------------------------

    def _touch(self, st: State, ver: clock.Version) -> None:
        ts = self.now_iso(ver)
        from bdgit.model import ts_micros
        us = ts_micros(ts)
        if us > st.updated_us:  # updated_at never goes backwards
            st.updated_at, st.updated_us = ts, us

    def create(self, issue_id: str, title: str = "t", **fields: Any) -> State:
        ver = self.tick()
        st = State(issue_id)
        ts = self.now_iso(ver)
        from bdgit.model import ts_micros
        st.updated_at, st.updated_us = ts, ts_micros(ts)
        regs = {"title": title, "description": "", "priority": 2, "issue_type": "task", "created_at": ts}
        regs.update(fields)
        for k, v in regs.items():
            st.regs[k] = (v, ver)
        st.regs[STATUS] = ({"status": "open"}, ver)
        st.regs[DELETED] = ({}, ver)
        self.issues[issue_id] = st
        return st

    def _copy(self, issue_id: str) -> State:
        old = self.issues[issue_id]
        st = State(issue_id)
        st.regs, st.labels, st.deps = dict(old.regs), dict(old.labels), dict(old.deps)
        st.comments = dict(old.comments)
        st.updated_at, st.updated_us = old.updated_at, old.updated_us
        return st

    def _edit(self, issue_id: str, fn: Any) -> State:
        st = self._copy(issue_id)
        ver = self.tick()
        fn(st, ver)
        self._touch(st, ver)
        self.issues[issue_id] = st
        return st

    def set(self, issue_id: str, name: str, value: Any) -> State:
        return self._edit(issue_id, lambda st, v: st.regs.__setitem__(name, (value, v)))

    def clear(self, issue_id: str, name: str) -> State:
        return self.set(issue_id, name, ABSENT)

    def close(self, issue_id: str, reason: str | None = None) -> State:
        def fn(st: State, v: clock.Version) -> None:
            val = {"status": "closed", "closed_at": self.now_iso(v)}
            if reason is not None:
                val["close_reason"] = reason
            st.regs[STATUS] = (val, v)
        return self._edit(issue_id, fn)

    def reopen(self, issue_id: str) -> State:
        return self._edit(issue_id, lambda st, v: st.regs.__setitem__(STATUS, ({"status": "open"}, v)))

    def label(self, issue_id: str, label: str, present: bool = True) -> State:
        return self._edit(issue_id, lambda st, v: st.labels.__setitem__(label, (present, v)))

    def dep(self, issue_id: str, target: str, dep_type: str | None = "blocks") -> State:
        def fn(st: State, v: clock.Version) -> None:
            edge = None if dep_type is None else {"type": dep_type, "created_at": self.now_iso(v), "created_by": self.node}
            st.deps[target] = (edge, v)
        return self._edit(issue_id, fn)

    def comment(self, issue_id: str, text: str) -> State:
        def fn(st: State, v: clock.Version) -> None:
            c = {"author": self.node, "text": text, "created_at": self.now_iso(v)}
            st.comments[comment_key(c)] = c
        return self._edit(issue_id, fn)

    def delete(self, issue_id: str, reason: str = "deleted") -> State:
        def fn(st: State, v: clock.Version) -> None:
            st.regs[DELETED] = ({"deleted": True, "deleted_at": self.now_iso(v), "deleted_by": self.node,
                                 "delete_reason": reason, "original_type": st.value("issue_type")}, v)
        return self._edit(issue_id, fn)

    def restore(self, issue_id: str) -> State:
        return self._edit(issue_id, lambda st, v: st.regs.__setitem__(DELETED, ({}, v)))

    # --- exchange -----------------------------------------------------------------------------

    def receive(self, issue_id: str, theirs: State) -> None:
        """Take another clone's copy (a state-based sync: join)."""
        mine = self.issues.get(issue_id)
        self.issues[issue_id] = theirs if mine is None else join(mine, theirs)
        self.observe(self.issues[issue_id])


__all__ = ["BASE_MS", "Clone", "World", "iso", "join", "line_of", "lift", "m3", "merge3", "state_of", "comment_key"]
