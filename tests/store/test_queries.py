"""Queries on hand-built graphs: ready, blocked, stats, list, dependency tree and cycles.

Graphs are built either with the operations (``ops.run``) or by importing JSONL with explicit
timestamps and statuses (which is how unknown statuses and edges to absent issues arrive).
"""
from __future__ import annotations

import json
import random
from typing import Any

import pytest

from bdgit.errors import ConflictError, CycleError, NotFoundError, ValidationError
from bdgit.store import Store
from testing import run_op as run, new_issue as new

T0 = "2025-01-01T00:00:00Z"



def dep(store: Store, a: str, b: str, t: str = "blocks") -> None:
    run(store, "dep_add", from_id=a, to_id=b, dep_type=t)


def ts(minute: int) -> str:
    return f"2025-01-01T{minute // 60:02d}:{minute % 60:02d}:00Z"


def rec(issue_id: str, *, status: str = "open", priority: int = 2, minute: int = 0,
        deps: tuple[tuple[str, str], ...] = (), **extra: Any) -> dict[str, Any]:
    o: dict[str, Any] = {"id": issue_id, "title": f"issue {issue_id}", "description": "", "status": status,
                         "priority": priority, "issue_type": "task", "created_at": ts(minute),
                         "updated_at": ts(minute)}
    if status == "closed":
        o["closed_at"] = ts(minute)
    if deps:
        o["dependencies"] = [{"issue_id": issue_id, "depends_on_id": d, "type": t, "created_at": ts(minute),
                              "created_by": "x"} for d, t in deps]
    o.update(extra)
    return o


def load(store: Store, records: list[dict[str, Any]]) -> dict[str, Any]:
    text = "".join(json.dumps(r) + "\n" for r in records)
    return run(store, "import", text=text)


def ready_ids(store: Store, **args: Any) -> list[str]:
    return [i["id"] for i in run(store, "ready", **args)]


def blocked_map(store: Store) -> dict[str, list[str]]:
    return {i["id"]: i["blocked_by"] for i in run(store, "blocked")}


def assert_consistent(store: Store) -> None:
    """ready, blocked and stats tell one story."""
    ready = ready_ids(store)
    blocked = blocked_map(store)
    st = run(store, "stats")
    assert st["ready_issues"] == len(ready)
    assert st["blocked_issues"] == len(blocked)
    assert not set(ready) & set(blocked)
    for i in run(store, "blocked"):
        assert i["blocked_by_count"] == len(i["blocked_by"]) >= 1
        assert i["status"] != "closed"


# --- ready -----------------------------------------------------------------------------------

def test_ready_orders_by_priority_then_age(store: Store) -> None:
    load(store, [rec("test-1", priority=2, minute=5), rec("test-2", priority=1, minute=9),
                 rec("test-3", priority=2, minute=1), rec("test-4", priority=0, minute=30),
                 rec("test-5", priority=1, minute=2)])
    assert ready_ids(store) == ["test-4", "test-5", "test-2", "test-3", "test-1"]
    assert ready_ids(store, limit=2) == ["test-4", "test-5"]
    assert ready_ids(store, priority=2) == ["test-3", "test-1"]


def test_age_compares_instants_not_strings(store: Store) -> None:
    # 10:00+02:00 is 08:00Z: older than 09:00Z although the text sorts later
    load(store, [rec("test-1", created_at="2025-01-01T09:00:00Z", updated_at="2025-01-01T09:00:00Z"),
                 rec("test-2", created_at="2025-01-01T10:00:00+02:00", updated_at="2025-01-01T10:00:00+02:00")])
    assert ready_ids(store) == ["test-2", "test-1"]


@pytest.fixture
def local_zone():  # type: ignore[no-untyped-def]
    """Switch this process's local time zone (what ``now()`` writes) for a test."""
    import os
    import time
    saved = os.environ.get("TZ")

    def switch(tz: str) -> None:
        os.environ["TZ"] = tz
        time.tzset()
    try:
        yield switch
    finally:
        if saved is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = saved
        time.tzset()


def test_issues_created_in_different_zones_order_by_instant(store: Store, local_zone: Any) -> None:
    local_zone("Pacific/Kiritimati")  # UTC+14
    first = run(store, "create", title="first, far east")
    local_zone("Etc/GMT+12")  # UTC-12: the later instant has the earlier-sorting text
    second = run(store, "create", title="second, far west")
    assert first["created_at"].endswith("+14:00") and second["created_at"].endswith("-12:00")
    assert second["created_at"] < first["created_at"]
    assert ready_ids(store) == [first["id"], second["id"]]
    assert list_ids(store, sort="created") == [second["id"], first["id"]]  # newest first


def test_only_open_issues_are_ready(store: Store) -> None:
    load(store, [rec("test-1"), rec("test-2", status="in_progress"), rec("test-3", status="blocked"),
                 rec("test-4", status="closed")])
    assert ready_ids(store) == ["test-1"]
    assert_consistent(store)


def test_ready_filters_by_assignee_type_and_label(store: Store) -> None:
    a = new(store, "mine", assignee="me", labels=["ui"])
    b = new(store, "theirs", assignee="you", issue_type="bug")
    c = new(store, "nobody's", labels=["ui", "db"])
    assert ready_ids(store, assignee="me") == [a]
    assert ready_ids(store, unassigned=True) == [c]
    assert ready_ids(store, issue_type="bug") == [b]
    assert ready_ids(store, labels=["ui"]) == [a, c]
    assert ready_ids(store, labels=["ui", "db"]) == [c]


def test_open_blocker_blocks_and_closed_blocker_does_not(store: Store) -> None:
    a = new(store, "blocker")
    b = new(store, "waits")
    dep(store, b, a)
    assert ready_ids(store) == [a]
    assert blocked_map(store) == {b: [a]}
    assert_consistent(store)
    run(store, "close", id=a)
    assert ready_ids(store) == [b]
    assert blocked_map(store) == {}
    assert_consistent(store)
    run(store, "reopen", id=a)
    assert ready_ids(store) == [a]


@pytest.mark.parametrize("blocker_status", ["open", "in_progress", "blocked"])
def test_every_not_closed_status_of_a_blocker_blocks(store: Store, blocker_status: str) -> None:
    load(store, [rec("test-1", status=blocker_status), rec("test-2", deps=(("test-1", "blocks"),))])
    assert "test-2" not in ready_ids(store)
    assert blocked_map(store) == {"test-2": ["test-1"]}
    assert_consistent(store)


@pytest.mark.parametrize("dep_type", ["related", "discovered-from"])
def test_informational_edges_never_block(store: Store, dep_type: str) -> None:
    a = new(store, "a")
    b = new(store, "b")
    dep(store, b, a, dep_type)
    assert ready_ids(store) == [a, b]
    assert blocked_map(store) == {}


def test_parent_child_alone_blocks_nothing(store: Store) -> None:
    parent = new(store, "epic", issue_type="epic")
    child = new(store, "child")
    dep(store, child, parent, "parent-child")
    assert ready_ids(store) == [parent, child]
    assert_consistent(store)


def test_blocked_parent_blocks_every_descendant_at_depth_65(store: Store) -> None:
    blocker = new(store, "blocker", priority=0)
    root = new(store, "root epic", issue_type="epic")
    dep(store, root, blocker)
    chain = [root]
    for n in range(65):
        chain.append(new(store, f"level {n + 1}"))
        dep(store, chain[-1], chain[-2], "parent-child")
    side = new(store, "unrelated")
    assert ready_ids(store, limit=0) == [blocker, side]
    blocked = blocked_map(store)
    assert set(blocked) == set(chain)
    assert blocked[root] == [blocker]
    assert blocked[chain[-1]] == [chain[-2]]  # inherited: names the blocked parent
    st = run(store, "stats")
    assert st["blocked_issues"] == 66 and st["ready_issues"] == 2
    assert_consistent(store)
    run(store, "close", id=blocker)
    assert len(ready_ids(store, limit=0)) == 67
    assert blocked_map(store) == {}
    assert_consistent(store)


def test_a_blocker_in_the_middle_of_a_chain_blocks_only_below_it(store: Store) -> None:
    chain = [new(store, "level 0")]
    for n in range(1, 70):
        chain.append(new(store, f"level {n}"))
        dep(store, chain[-1], chain[-2], "parent-child")
    blocker = new(store, "blocker")
    dep(store, chain[60], blocker)
    ready = set(ready_ids(store, limit=0))
    assert set(chain[:60]) <= ready
    assert not set(chain[60:]) & ready
    assert set(blocked_map(store)) == set(chain[60:])
    assert_consistent(store)


def test_closed_child_is_not_reported_blocked(store: Store) -> None:
    load(store, [rec("test-1"), rec("test-2", deps=(("test-1", "blocks"),)),
                 rec("test-3", status="closed", deps=(("test-2", "parent-child"),)),
                 rec("test-4", deps=(("test-2", "parent-child"),))])
    assert set(blocked_map(store)) == {"test-2", "test-4"}
    assert ready_ids(store) == ["test-1"]
    assert_consistent(store)


def test_unknown_status_is_not_ready_and_still_blocks(store: Store) -> None:
    res = load(store, [rec("test-1", status="hooked"), rec("test-2", deps=(("test-1", "blocks"),)),
                       rec("test-3", status="pinned", deps=(("test-1", "blocks"),))])
    assert any("hooked" in w for w in res["warnings"])
    assert ready_ids(store) == []
    assert set(blocked_map(store)) == {"test-2", "test-3"}
    st = run(store, "stats")
    assert st["total_issues"] == 3
    assert st["other_statuses"] == {"hooked": 1, "pinned": 1}
    assert_consistent(store)


def test_blocker_that_is_not_in_the_database(store: Store) -> None:
    """An edge to an absent issue is kept; we cannot know that issue is done, so it blocks."""
    load(store, [rec("test-1", deps=(("gone-9", "blocks"),)), rec("test-2", deps=(("gone-9", "related"),))])
    assert ready_ids(store) == ["test-2"]
    assert blocked_map(store) == {"test-1": ["gone-9"]}
    assert_consistent(store)


def test_unknown_dependency_type_is_informational(store: Store) -> None:
    load(store, [rec("test-1"), rec("test-2", deps=(("test-1", "tracks"),))])
    assert ready_ids(store) == ["test-1", "test-2"]
    assert_consistent(store)


def _expected(records: list[dict[str, Any]]) -> tuple[list[str], set[str]]:
    """An independent model of the readiness rule."""
    status = {r["id"]: r["status"] for r in records}
    edges = [(r["id"], d["depends_on_id"], d["type"]) for r in records for d in r.get("dependencies", [])]
    blocked = {i for i, b, t in edges if t == "blocks" and status[i] != "closed" and status.get(b) != "closed"}
    changed = True
    while changed:
        changed = False
        for i, p, t in edges:
            if t == "parent-child" and p in blocked and i not in blocked and status[i] != "closed":
                blocked.add(i)
                changed = True
    ready = [r for r in records if r["status"] == "open" and r["id"] not in blocked]
    ready.sort(key=lambda r: (r["priority"], r["created_at"], r["id"]))
    return [r["id"] for r in ready], blocked


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_ready_blocked_and_stats_agree_with_a_model_on_random_graphs(store: Store, seed: int) -> None:
    rnd = random.Random(seed)
    n = 80
    ids = [f"test-{k}" for k in range(1, n + 1)]
    statuses = ["open"] * 6 + ["in_progress", "blocked", "closed", "closed", "hooked"]
    records = []
    for k, i in enumerate(ids):
        deps: dict[str, str] = {}
        for _ in range(rnd.randint(0, 3)):
            target = rnd.choice(ids + ["gone-1"])
            if target != i:
                deps[target] = rnd.choice(["blocks", "blocks", "parent-child", "related"])
        records.append(rec(i, status=rnd.choice(statuses), priority=rnd.randint(0, 4), minute=rnd.randint(0, 999),
                           deps=tuple(deps.items())))
    load(store, records)
    want_ready, want_blocked = _expected(records)
    assert ready_ids(store, limit=0) == want_ready
    assert set(blocked_map(store)) == want_blocked
    st = run(store, "stats")
    assert st["ready_issues"] == len(want_ready)
    assert st["blocked_issues"] == len(want_blocked)
    assert st["total_issues"] == n
    assert st["open_issues"] == sum(r["status"] == "open" for r in records)
    assert st["closed_issues"] == sum(r["status"] == "closed" for r in records)
    assert st["in_progress_issues"] == sum(r["status"] == "in_progress" for r in records)
    assert_consistent(store)


def test_blocked_lists_direct_blockers_sorted_by_priority(store: Store) -> None:
    a = new(store, "a")
    b = new(store, "b")
    low = new(store, "low", priority=4)
    high = new(store, "high", priority=0)
    for x in (low, high):
        dep(store, x, a)
        dep(store, x, b)
    rows = run(store, "blocked")
    assert [r["id"] for r in rows] == [high, low]
    assert rows[0]["blocked_by"] == [a, b] and rows[0]["blocked_by_count"] == 2
    run(store, "close", id=a)
    assert run(store, "blocked")[0]["blocked_by"] == [b]


def test_stats_counts_and_lead_time(store: Store) -> None:
    load(store, [rec("test-1"), rec("test-2", status="in_progress"),
                 rec("test-3", status="closed", created_at="2025-01-01T00:00:00Z",
                     closed_at="2025-01-01T10:00:00Z", updated_at="2025-01-01T10:00:00Z"),
                 rec("test-4", status="closed", created_at="2025-01-01T00:00:00+02:00",
                     closed_at="2025-01-01T04:00:00Z", updated_at="2025-01-01T04:00:00Z")])
    st = run(store, "stats")
    assert {k: st[k] for k in ("total_issues", "open_issues", "in_progress_issues", "closed_issues",
                               "blocked_issues", "ready_issues")} == {
        "total_issues": 4, "open_issues": 1, "in_progress_issues": 1, "closed_issues": 2,
        "blocked_issues": 0, "ready_issues": 1}
    assert st["average_lead_time_hours"] == pytest.approx(8.0)  # (10 + 6) / 2


def test_stats_on_an_empty_database(store: Store) -> None:
    st = run(store, "stats")
    assert st["total_issues"] == st["ready_issues"] == st["blocked_issues"] == 0
    assert st["average_lead_time_hours"] == 0


# --- list ------------------------------------------------------------------------------------

@pytest.fixture
def listing(store: Store) -> Store:
    new(store, "Fix login bug", priority=1, issue_type="bug", assignee="alice", labels=["ui", "auth"])
    new(store, "Write docs", priority=3, issue_type="chore", description="mention the LOGIN page")
    new(store, "Refactor auth", priority=2, issue_type="task", assignee="bob", labels=["auth"])
    new(store, "Old thing", priority=1)
    run(store, "close", id="test-4")
    run(store, "update", id="test-3", status="in_progress")
    return store


def list_ids(store: Store, **args: Any) -> list[str]:
    return [i["id"] for i in run(store, "list", **args)]


def test_list_filters(listing: Store) -> None:
    s = listing
    assert sorted(list_ids(s)) == ["test-1", "test-2", "test-3", "test-4"]
    assert sorted(list_ids(s, status="all")) == ["test-1", "test-2", "test-3", "test-4"]
    assert list_ids(s, status="closed") == ["test-4"]
    assert list_ids(s, status="in_progress") == ["test-3"]
    assert sorted(list_ids(s, priority=1)) == ["test-1", "test-4"]
    assert list_ids(s, priority="P3") == ["test-2"]
    assert list_ids(s, issue_type="bug") == ["test-1"]
    assert list_ids(s, assignee="bob") == ["test-3"]
    assert sorted(list_ids(s, labels=["auth"])) == ["test-1", "test-3"]
    assert list_ids(s, labels=["auth", "ui"]) == ["test-1"]
    assert list_ids(s, labels=["nope"]) == []
    assert list_ids(s, title="login") == ["test-1"]
    assert sorted(list_ids(s, query="login")) == ["test-1", "test-2"]  # title or description
    assert list_ids(s, query="test-3") == ["test-3"]
    assert list_ids(s, query="100%") == []  # LIKE wildcards are literal


def test_list_sort_and_limit(listing: Store) -> None:
    s = listing
    by_priority = list_ids(s)
    assert [i for i in by_priority if i in ("test-1", "test-4")] == ["test-4", "test-1"]  # newest first in a tie
    assert by_priority[-1] == "test-2"
    assert list_ids(s, sort="id") == ["test-1", "test-2", "test-3", "test-4"]
    assert list_ids(s, sort="id", reverse=True) == ["test-4", "test-3", "test-2", "test-1"]
    assert list_ids(s, sort="title") == ["test-1", "test-4", "test-3", "test-2"]
    assert list_ids(s, sort="id", limit=2) == ["test-1", "test-2"]
    with pytest.raises(ValidationError):
        run(s, "list", sort="colour")


def test_list_on_nothing_is_an_empty_list(store: Store) -> None:
    assert run(store, "list") == []
    assert run(store, "ready") == []
    assert run(store, "blocked") == []


# --- dependency tree ---------------------------------------------------------------------------

def test_dep_tree_has_no_substring_bug(store: Store) -> None:
    ids = [new(store, f"issue {n}") for n in range(1, 11)]
    assert ids[-1] == "test-10"
    dep(store, "test-2", "test-10")
    dep(store, "test-10", "test-1")
    tree = run(store, "dep_tree", id="test-2")
    assert [(n["id"], n["depth"]) for n in tree] == [("test-2", 0), ("test-10", 1), ("test-1", 2)]
    assert tree[2]["parent_id"] == "test-10"


def test_dep_tree_each_node_once_at_its_shallowest_depth(store: Store) -> None:
    root, a, b, c = (new(store, x, priority=p) for x, p in (("root", 2), ("a", 3), ("b", 1), ("c", 2)))
    dep(store, root, a)
    dep(store, root, b, "related")
    dep(store, a, c)
    dep(store, b, c, "parent-child")
    dep(store, root, c)  # c is also directly under root
    tree = run(store, "dep_tree", id=root)
    assert [(n["id"], n["depth"]) for n in tree] == [(root, 0), (b, 1), (c, 1), (a, 1)]  # depth, priority, id
    assert all(not n["truncated"] for n in tree)


def test_dep_tree_max_depth_truncates(store: Store) -> None:
    chain = [new(store, "0")]
    for n in range(1, 6):
        chain.append(new(store, str(n)))
        dep(store, chain[-2], chain[-1])
    tree = run(store, "dep_tree", id=chain[0], max_depth=3)
    assert [n["id"] for n in tree] == chain[:4]
    assert [n["truncated"] for n in tree] == [False, False, False, True]
    assert len(run(store, "dep_tree", id=chain[0])) == 6


def test_dep_tree_reverse_walks_dependents(store: Store) -> None:
    a, b, c = new(store, "a"), new(store, "b"), new(store, "c")
    dep(store, b, a)
    dep(store, c, b)
    assert [n["id"] for n in run(store, "dep_tree", id=a, reverse=True)] == [a, b, c]
    assert [n["id"] for n in run(store, "dep_tree", id=a)] == [a]


def test_dep_tree_shows_absent_targets(store: Store) -> None:
    load(store, [rec("test-1", deps=(("gone-3", "blocks"),))])
    tree = run(store, "dep_tree", id="test-1")
    assert [(n["id"], n.get("missing", False)) for n in tree] == [("test-1", False), ("gone-3", True)]


def test_dep_tree_of_unknown_issue(store: Store) -> None:
    with pytest.raises(NotFoundError):
        run(store, "dep_tree", id="test-404")


# --- cycles ------------------------------------------------------------------------------------

def test_two_node_cycle_is_refused_and_named(store: Store) -> None:
    a, b = new(store, "a"), new(store, "b")
    dep(store, a, b)
    with pytest.raises(CycleError) as e:
        dep(store, b, a)
    assert e.value.cycle == [b, a, b]
    assert f"{b} → {a} → {b}" in e.value.message
    assert [d["depends_on_id"] for d in store.dep_records(b)] == []


def test_long_cycle_through_any_edge_type_is_refused(store: Store) -> None:
    ids = [new(store, str(n)) for n in range(5)]
    dep(store, ids[0], ids[1])
    dep(store, ids[1], ids[2], "parent-child")
    dep(store, ids[2], ids[3], "related")
    dep(store, ids[3], ids[4], "discovered-from")
    with pytest.raises(CycleError) as e:
        dep(store, ids[4], ids[0])
    assert e.value.cycle == [ids[4], *ids]
    assert run(store, "dep_cycles") == []


def test_self_and_duplicate_and_dangling_edges_are_refused(store: Store) -> None:
    a, b = new(store, "a"), new(store, "b")
    with pytest.raises(ValidationError):
        dep(store, a, a)
    dep(store, a, b)
    with pytest.raises(ConflictError):
        dep(store, a, b, "related")  # one edge per ordered pair, whatever the type
    with pytest.raises(NotFoundError):
        dep(store, a, "test-99")
    with pytest.raises(NotFoundError):
        dep(store, "test-99", a)
    with pytest.raises(ValidationError):
        dep(store, b, a, "depends-on")
    assert len(store.dep_records(a)) == 1 and store.dep_records(b) == []


def test_dep_cycles_finds_imported_cycles(store: Store) -> None:
    load(store, [rec("test-1", deps=(("test-2", "blocks"),)), rec("test-2", deps=(("test-3", "related"),)),
                 rec("test-3", deps=(("test-1", "blocks"),)), rec("test-4", deps=(("test-5", "blocks"),)),
                 rec("test-5", deps=(("test-4", "parent-child"),)), rec("test-6", deps=(("test-1", "blocks"),))])
    cycles = run(store, "dep_cycles")
    assert cycles == [["test-1", "test-2", "test-3", "test-1"], ["test-4", "test-5", "test-4"]]
    assert_consistent(store)  # queries terminate on cyclic graphs


def test_dep_remove(store: Store) -> None:
    a, b = new(store, "a"), new(store, "b")
    dep(store, b, a)
    assert run(store, "dep_remove", from_id=b, to_id=a) == {"depends_on_id": a, "issue_id": b, "status": "removed"}
    assert ready_ids(store) == [a, b]
    with pytest.raises(NotFoundError):
        run(store, "dep_remove", from_id=b, to_id=a)
