"""Property tests of the merge rules: random edits on clones with skewed clocks, random syncs.

- the join is commutative, associative and idempotent, and merge3 is symmetric;
- with a common base below both sides, merge3 equals the join (the base only matters for lines
  without versions);
- clones that exchanged everything hold identical lines (convergence), whatever the order;
- no edit is lost: every register ends with the value of its greatest-versioned write, every
  comment ever written is there, the issue is deleted exactly when its last deletion-register
  write was a delete;
- lines from clients that keep no versions (beads, hand edits) still converge.
"""
from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from testing.replication import Clone, World, iso, line_of, m3, state_of

from bdgit.model import dumps_compact
from bdgit.replication.merge import join
from bdgit.replication.record import ABSENT, DELETED, STATUS, State, comment_key

ISSUE = "bd-1"
LABELS = ["a", "b", "c"]
TARGETS = ["bd-7", "bd-8"]
HOUR = 3_600_000

op_strategy = st.one_of(
    st.tuples(st.just("title"), st.sampled_from(["x", "y", "z", "w"])),
    st.tuples(st.just("priority"), st.integers(0, 4)),
    st.tuples(st.just("assignee"), st.sampled_from(["ann", "bob", None])),
    st.tuples(st.just("notes"), st.sampled_from(["n1", "n2"])),
    st.tuples(st.just("close"), st.sampled_from([None, "done", "dup"])),
    st.tuples(st.just("reopen"), st.none()),
    st.tuples(st.just("label"), st.tuples(st.sampled_from(LABELS), st.booleans())),
    st.tuples(st.just("dep"), st.tuples(st.sampled_from(TARGETS), st.sampled_from(["blocks", "related", None]))),
    st.tuples(st.just("comment"), st.sampled_from(["c1", "c2", "c3"])),
    st.tuples(st.just("delete"), st.sampled_from(["dup", "gone"])),
    st.tuples(st.just("restore"), st.none()),
    st.tuples(st.just("sync"), st.none()),
)

scenario = st.tuples(
    st.lists(st.integers(-2 * HOUR, 2 * HOUR), min_size=2, max_size=5),  # clock skews
    st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4), op_strategy), min_size=1, max_size=40),
)


class Log:
    """Every write made, to check that the merged result is what last-writer-wins says."""

    def __init__(self) -> None:
        self.regs: dict[str, list[tuple[Any, Any]]] = {}
        self.comments: set[str] = set()

    def add(self, key: str, version: Any, value: Any) -> None:
        self.regs.setdefault(key, []).append((version, value))

    def expected(self, key: str) -> Any:
        return max(self.regs[key], key=lambda x: x[0])[1]


def apply(c: Clone, op: tuple[str, Any], log: Log) -> None:
    kind, arg = op
    cur = c.issues[ISSUE]
    if cur.is_tombstone and kind != "restore":
        return  # bd refuses edits of a deleted issue
    if kind == "restore":
        if not cur.is_tombstone:
            return
        s = c.restore(ISSUE)
        log.add(DELETED, s.regs[DELETED][1], False)
    elif kind in ("title", "priority", "notes"):
        s = c.set(ISSUE, kind, arg)
        log.add(kind, s.regs[kind][1], arg)
    elif kind == "assignee":
        s = c.set(ISSUE, kind, ABSENT if arg is None else arg)
        log.add(kind, s.regs[kind][1], arg)
    elif kind == "close":
        s = c.close(ISSUE, arg)
        log.add(STATUS, s.regs[STATUS][1], "closed")
    elif kind == "reopen":
        s = c.reopen(ISSUE)
        log.add(STATUS, s.regs[STATUS][1], "open")
    elif kind == "label":
        s = c.label(ISSUE, arg[0], arg[1])
        log.add("label:" + arg[0], s.labels[arg[0]][1], arg[1])
    elif kind == "dep":
        s = c.dep(ISSUE, arg[0], arg[1])
        log.add("dep:" + arg[0], s.deps[arg[0]][1], arg[1])
    elif kind == "comment":
        s = c.comment(ISSUE, arg)
        log.comments.update(k for k, v in s.comments.items() if v["text"] == arg and v["author"] == c.node)
    elif kind == "delete":
        s = c.delete(ISSUE, arg)
        log.add(DELETED, s.regs[DELETED][1], True)


def observed(s: State, key: str) -> Any:
    if key == DELETED:
        return s.is_tombstone
    if key == STATUS:
        return s.regs[STATUS][0]["status"]
    if key.startswith("label:"):
        return s.labels[key[6:]][0]
    if key.startswith("dep:"):
        e = s.deps[key[4:]][0]
        return None if e is None else e["type"]
    v = s.value(key)
    return None if v is ABSENT else v


class Net:
    """Clones that sync pairwise through lines and three-way merges, like git: the base of a
    merge between two clones is the line they agreed on when they last synced."""

    def __init__(self, skews: list[int]) -> None:
        world = World()
        self.clones = [Clone(f"node{n:04d}", skew, world) for n, skew in enumerate(skews)]
        first = self.clones[0].create(ISSUE, "t")
        self.bases: dict[tuple[int, int], str] = {}
        self.history: dict[int, list[State]] = {}
        for k, c in enumerate(self.clones):
            c.receive(ISSUE, first)
            for j in range(k):
                self.bases[(j, k)] = line_of(first)

    def sync(self, i: int, j: int) -> None:
        if i == j:
            return
        a, b = self.clones[i], self.clones[j]
        key = (min(i, j), max(i, j))
        merged = m3(self.bases[key], line_of(a.issues[ISSUE]), line_of(b.issues[ISSUE]))
        st_ = state_of(merged)
        for c in (a, b):
            c.issues[ISSUE] = st_
            c.observe(st_)
        self.bases[key] = merged

    def everyone(self) -> None:
        n = len(self.clones)
        for _ in range(2):
            for i in range(n):
                for j in range(n):
                    self.sync(i, j)


def run(skews: list[int], ops: list[tuple[int, int, tuple[str, Any]]]) -> tuple[Net, Log, list[State]]:
    net = Net(skews)
    log = Log()
    n = len(net.clones)
    seen: list[State] = []
    net.history = {k: [c.issues[ISSUE]] for k, c in enumerate(net.clones)}
    for i, j, op in ops:
        i, j = i % n, j % n
        if op[0] == "sync":
            net.sync(i, j)
            net.history[j].append(net.clones[j].issues[ISSUE])
        else:
            apply(net.clones[i], op, log)
        seen.append(net.clones[i].issues[ISSUE])
        net.history[i].append(net.clones[i].issues[ISSUE])
    return net, log, seen


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(scenario)
def test_clones_converge_and_last_writer_wins_per_register(sc: Any) -> None:
    net, log, _ = run(*sc)
    net.everyone()
    lines = {line_of(c.issues[ISSUE]) for c in net.clones}
    assert len(lines) == 1
    final = net.clones[0].issues[ISSUE]
    for key in log.regs:
        assert observed(final, key) == log.expected(key), key
    assert log.comments <= set(final.comments)
    # and the line survives its own codec
    assert line_of(state_of(lines.pop())) == line_of(final)


@SETTINGS
@given(scenario)
def test_join_is_commutative_associative_idempotent_and_merge3_symmetric(sc: Any) -> None:
    net, _, seen = run(*sc)
    states = seen[-3:] + [c.issues[ISSUE] for c in net.clones][:3]
    a, b, c = (states + states)[:3]
    la, lb = line_of(a), line_of(b)
    assert line_of(join(a, b)) == line_of(join(b, a))
    assert line_of(join(join(a, b), c)) == line_of(join(a, join(b, c)))
    assert line_of(join(a, a)) == la
    first = line_of(net.clones[0].issues[ISSUE])
    for base in (None, la, first):
        assert m3(base, la, lb) == m3(base, lb, la)


@SETTINGS
@given(scenario)
def test_merge3_with_a_common_base_is_the_join(sc: Any) -> None:
    net, _, _ = run(*sc)
    a, b = net.clones[0], net.clones[1]
    base = net.bases[(0, 1)]
    la, lb = line_of(a.issues[ISSUE]), line_of(b.issues[ISSUE])
    assert m3(base, la, lb) == line_of(join(a.issues[ISSUE], b.issues[ISSUE]))
    # a stale file (an older line of this clone's, as git reset/stash/checkout restores it)
    # never changes a newer state, with or without its versions
    for old in net.history[0]:
        lo = line_of(old)
        assert m3(la, lo, la) == la
        if old.updated_us < a.issues[ISSUE].updated_us:
            assert m3(la, _strip(lo), la) == la


def _strip(line: str, **changes: Any) -> str:
    o = json.loads(line)
    o.pop("_v", None)
    o.update(changes)
    return dumps_compact(o)


@SETTINGS
@given(scenario, st.lists(st.tuples(st.integers(0, 4), st.sampled_from(["title", "notes", "priority"]),
                                    st.sampled_from(["p", "q", 3]), st.booleans()), max_size=6))
def test_lines_without_versions_and_hand_edits_still_converge(sc: Any, foreign: list[Any]) -> None:
    net, _, _ = run(*sc)
    n = len(net.clones)
    for who, field, value, keep_versions in foreign:
        c = net.clones[who % n]
        cur = line_of(c.issues[ISSUE])
        if field == "priority" and not isinstance(value, int):
            continue
        if keep_versions:  # a hand edit in an editor: the versions stay as they were
            o = json.loads(cur)
            o[field] = value
            edited = dumps_compact(o)
        else:  # a beads client rewrote the line: no versions, its own (not earlier) updated_at
            net.clones[0].world.ms += 1000
            when = max(net.clones[0].world.ms, c.issues[ISSUE].updated_us // 1000)
            edited = _strip(cur, **{field: value, "updated_at": iso(when)})
        merged = m3(cur, edited, cur)  # the clone imports the edited file
        assert json.loads(merged)[field] == value  # the foreign edit is taken
        st_ = state_of(merged)
        c.issues[ISSUE] = st_
        c.observe(st_)
    net.everyone()
    assert len({line_of(c.issues[ISSUE]) for c in net.clones}) == 1


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from(["title", "notes", "priority"]), st.integers(0, 4),
                          st.integers(0, 3)), min_size=1, max_size=8))
def test_beads_files_without_versions_merge_symmetrically(edits: list[Any]) -> None:
    """Two beads clones (no versions at all) editing from one base: symmetric, and each field
    takes the value of the side that changed it last (by updated_at)."""
    base = {"id": ISSUE, "title": "t", "description": "", "status": "open", "priority": 2, "issue_type": "task",
            "created_at": "2025-01-01T00:00:00Z", "updated_at": "2025-01-01T00:00:00Z"}
    sides = [dict(base), dict(base)]
    for field, value, hours in edits:
        side = sides[hours % 2]
        side[field] = value if field == "priority" else f"v{value}"
        side["updated_at"] = f"2025-01-0{2 + hours}T00:00:00Z"
    b, x, y = (dumps_compact(o) for o in (base, *sides))
    assert m3(b, x, y) == m3(b, y, x)
    merged = json.loads(m3(b, x, y))
    for field in ("title", "notes", "priority"):
        changed = [s for s in sides if s.get(field) != base.get(field)]
        if len(changed) == 1:
            assert merged[field] == changed[0][field]


def test_comment_identity_ignores_the_zone_of_the_timestamp() -> None:
    a = {"author": "x", "text": "t", "created_at": "2025-01-01T00:00:00Z"}
    b = {"author": "x", "text": "t", "created_at": "2025-01-01T01:00:00+01:00"}
    assert comment_key(a) == comment_key(b)
